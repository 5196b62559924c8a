//go:build linux && (amd64 || arm64)

package semaphore

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shmkit/shmkit/internal/mem"
	"github.com/shmkit/shmkit/internal/shmtest"
	"github.com/shmkit/shmkit/internal/testproc"
	"github.com/shmkit/shmkit/shm"
)

func mustRWMutex(t testing.TB, opts ...shm.Option) *RWMutex {
	t.Helper()
	rw, err := NewRWMutex(opts...)
	return must(t, rw, err)
}

func mustOpenRW(t testing.TB, seg *shm.Segment) *RWMutex {
	t.Helper()
	rw, err := OpenRWMutex(mpContext(t), seg, "rw")
	return must(t, rw, err)
}

// rwReaders is how many reads the process holding slot s counts.
func rwReaders(rw *RWMutex) (n uint32) {
	for s := range rwSlots {
		_, c := rw.slot(s)
		n += atomic.LoadUint32(c)
	}
	return n
}

// TestRWMutexExclusion: readers share the lock, a writer has it alone,
// and the Try calls say so with ErrWouldBlock.
func TestRWMutexExclusion(t *testing.T) {
	rw := mustRWMutex(t, shm.In(testSeg(t), "rw"))
	for range 3 {
		if err := rw.RLock(); err != nil {
			t.Fatal(err)
		}
	}
	if err := rw.TryRLock(); err != nil {
		t.Fatalf("TryRLock beside readers: %v", err)
	}
	if err := rw.TryLock(); !errors.Is(err, ErrWouldBlock) {
		t.Fatalf("TryLock beside readers: %v, want ErrWouldBlock", err)
	}
	// The failed TryLock let go of the writer's word: readers still enter.
	if err := rw.TryRLock(); err != nil {
		t.Fatalf("TryRLock after a failed TryLock: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if err := rw.LockContext(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("LockContext beside readers: %v, want DeadlineExceeded", err)
	}
	if err := rw.TryRLock(); err != nil {
		t.Fatalf("TryRLock after a cancelled LockContext: %v", err)
	}
	for range 6 {
		rw.RUnlock()
	}
	if err := rw.TryLock(); err != nil {
		t.Fatalf("TryLock of a free lock: %v", err)
	}
	if err := rw.TryRLock(); !errors.Is(err, ErrWouldBlock) {
		t.Fatalf("TryRLock beside a writer: %v, want ErrWouldBlock", err)
	}
	if err := rw.TryLock(); !errors.Is(err, ErrWouldBlock) {
		t.Fatalf("TryLock beside a writer: %v, want ErrWouldBlock", err)
	}
	ctx2, cancel2 := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel2()
	if err := rw.RLockContext(ctx2); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("RLockContext beside a writer: %v, want DeadlineExceeded", err)
	}
	rw.Unlock()
	if err := rw.RLock(); err != nil {
		t.Fatal(err)
	}
	rw.RUnlock()
	if n := rwReaders(rw); n != 0 {
		t.Fatalf("%d reads counted after all left", n)
	}
}

// TestRWMutexMisuse: unlocks of what is not held panic, as sync.RWMutex's
// do, and leave the lock working; a closed handle fails with ErrClosed and
// a freed lock with shm.ErrStale.
func TestRWMutexMisuse(t *testing.T) {
	seg := testSeg(t)
	rw := mustRWMutex(t, shm.In(seg, "rw"))
	if msg := mpPanics(rw.RUnlock); msg == "" {
		t.Fatal("RUnlock of an unlocked RWMutex did not panic")
	}
	if msg := mpPanics(rw.Unlock); msg == "" {
		t.Fatal("Unlock of an unlocked RWMutex did not panic")
	}
	if err := rw.RLock(); err != nil {
		t.Fatal(err)
	}
	rw.RUnlock()
	if msg := mpPanics(rw.RUnlock); msg == "" {
		t.Fatal("a second RUnlock did not panic")
	}
	if err := rw.Lock(); err != nil {
		t.Fatalf("Lock after the misuse: %v", err)
	}
	rw.Unlock()

	other := mustOpenRW(t, seg)
	if err := other.Close(); err != nil {
		t.Fatal(err)
	}
	for what, f := range map[string]func() error{"RLock": other.RLock, "TryRLock": other.TryRLock, "Lock": other.Lock, "TryLock": other.TryLock} {
		if err := f(); !errors.Is(err, ErrClosed) {
			t.Errorf("%s through a closed handle: %v, want ErrClosed", what, err)
		}
	}
	if err := rw.RLock(); err != nil {
		t.Fatalf("RLock through the open handle: %v", err)
	}
	rw.RUnlock()

	// A waiter on a freed lock wakes with ErrStale.
	if err := rw.RLock(); err != nil {
		t.Fatal(err)
	}
	w := mustOpenRW(t, seg)
	got := mpLockAsync(w.Lock)
	mpNotYet(t, got, "Lock beside a reader")
	if err := rw.Free(); err != nil {
		t.Fatal(err)
	}
	if err := mpRecv(t, got, "Lock of a freed RWMutex"); !errors.Is(err, shm.ErrStale) {
		t.Fatalf("Lock waiting when the RWMutex was freed: %v, want ErrStale", err)
	}
	rw.RUnlock() // does nothing
	if err := w.Free(); !errors.Is(err, shm.ErrStale) {
		t.Fatalf("second Free: %v, want ErrStale", err)
	}
}

// TestRWMutexParallelReaders ports Go's TestParallelReaders
// (sync/rwmutex_test.go): readers in several goroutines hold the lock at
// the same time, and here in two processes as well.
func TestRWMutexParallelReaders(t *testing.T) {
	seg := testSeg(t)
	rw := mustRWMutex(t, shm.In(seg, "rw"))
	p := shmtest.Start(t, mpChildTimeout, rwChild, seg.Name(), "rw", "read")
	p.WaitPoint("held")
	const n = 4
	var in, out sync.WaitGroup
	in.Add(n)
	out.Add(n)
	release := make(chan struct{})
	for range n {
		go func() {
			defer out.Done()
			if err := rw.RLock(); err != nil {
				t.Error(err)
			}
			in.Done()
			<-release
			rw.RUnlock()
		}()
	}
	in.Wait() // every reader is in, the child's too
	if got := rwReaders(rw); got != n+1 {
		t.Fatalf("%d reads counted, want %d", got, n+1)
	}
	close(release)
	out.Wait()
	p.Succeed()
	if got := rwReaders(rw); got != 0 {
		t.Fatalf("%d reads counted after all left", got)
	}
}

// rwChild opens the RWMutex named by its argument ("seg name mode ...") and:
//   - read: stops at "ready", RLocks it, stops at "held", RUnlocks it.
//   - write: the same with Lock and Unlock.
//   - hammer N: runs rwHammer N times, from 2 goroutines, with the words block.
//   - readers MS: keeps a read lock held by one of 3 goroutines, each holding
//     for MS ms and overlapping the others, until the words' flag is set.
//   - reclaim: Locks it, and stops at "reclaiming" inside the taking back
//     of a dead reader's slot, to be killed there.
//   - loop: stops at "ready", then reads and writes in a loop for ever (to
//     be killed anywhere).
var rwChild = segChild("sem-rw", func(c *testproc.Child, seg *shm.Segment, f []string) error {
	if len(f) < 2 {
		return fmt.Errorf("argument %q: want name and mode", f)
	}
	ctx, cancel := mpChildContext(0)
	defer cancel()
	rw, err := OpenRWMutex(ctx, seg, f[0])
	if err != nil {
		return err
	}
	switch f[1] {
	case "read":
		c.Point("ready")
		if err := rw.RLock(); !taken(err) {
			return err
		}
		c.Point("held")
		rw.RUnlock()
	case "write":
		c.Point("ready")
		if err := rw.Lock(); !taken(err) {
			return err
		}
		c.Point("held")
		rw.Unlock()
	case "hammer":
		n, err := shmtest.Int(f, 2)
		if err != nil {
			return err
		}
		w, err := mpFindWords(seg)
		if err != nil {
			return err
		}
		c.Point("ready")
		return rwHammer(rw, w, 2, n)
	case "readers":
		ms, err := shmtest.Int(f, 2)
		if err != nil {
			return err
		}
		w, err := mpFindWords(seg)
		if err != nil {
			return err
		}
		return rwOverlappingReaders(rw, w, time.Duration(ms)*time.Millisecond, func() { c.Point("reading") })
	case "reclaim":
		// Killed inside reclaim, taking back a dead reader's slot.
		testHookReclaim = func() { c.Point("reclaiming") }
		if err := rw.Lock(); !taken(err) {
			return err
		}
		return errors.New("not killed inside reclaim")
	case "loop":
		c.Point("ready")
		for i := 0; ; i++ {
			if i%4 == 0 {
				if err := rw.Lock(); !taken(err) {
					return err
				}
				rw.Unlock()
				continue
			}
			if err := rw.RLock(); !taken(err) {
				return err
			}
			rw.RUnlock()
		}
	default:
		return fmt.Errorf("unknown mode %q", f[1])
	}
	return nil
})

// rwHammer ports Go's HammerRWMutex (sync/rwmutex_test.go): goroutines
// that each, n times, either read (adding 1 to the activity word, which
// must stay below 10000 while they read) or write (adding 10000, which
// must be all there is) under rw. The activity word is the words block's
// counter, shared with other processes doing the same.
func rwHammer(rw *RWMutex, w []byte, goroutines, n int) error {
	activity := mem.Ptr[int32](w, mpWCounter)
	errs := make(chan error, goroutines)
	for g := range goroutines {
		go func() {
			for i := range n {
				if (i+g)%10 == 0 {
					if err := rw.Lock(); err != nil {
						errs <- err
						return
					}
					if a := atomic.AddInt32(activity, 10000); a != 10000 {
						rw.Unlock()
						errs <- fmt.Errorf("writer in with activity %d", a-10000)
						return
					}
					for range 10 {
						runtime.Gosched()
					}
					atomic.AddInt32(activity, -10000)
					rw.Unlock()
					continue
				}
				if err := rw.RLock(); err != nil {
					errs <- err
					return
				}
				if a := atomic.AddInt32(activity, 1); a >= 10000 {
					rw.RUnlock()
					errs <- fmt.Errorf("reader in with activity %d", a-1)
					return
				}
				for range 10 {
					runtime.Gosched()
				}
				atomic.AddInt32(activity, -1)
				rw.RUnlock()
			}
			errs <- nil
		}()
	}
	var first error
	for range goroutines {
		if err := <-errs; err != nil && first == nil {
			first = err
		}
	}
	return first
}

// TestRWMutexHammer ports Go's TestRWMutex: readers and writers in two
// processes, two goroutines each and two here, never overlap wrongly.
func TestRWMutexHammer(t *testing.T) {
	seg := testSeg(t)
	rw := mustRWMutex(t, shm.In(seg, "rw"))
	w := mpWords(t, seg)
	const n = 10000
	p := shmtest.Start(t, mpChildTimeout, rwChild, seg.Name(), "rw", "hammer", strconv.Itoa(n))
	p.WaitPoint("ready")
	p.Continue()
	if err := rwHammer(rw, w, 2, n); err != nil {
		t.Fatal(err)
	}
	p.Succeed()
	if a := atomic.LoadInt32(mem.Ptr[int32](w, mpWCounter)); a != 0 {
		t.Fatalf("activity %d after all left", a)
	}
}

// rwOverlappingReaders keeps rw read-locked without a gap, from 3
// goroutines that each hold it for d and take it again, staggered, until
// the words' flag is set. It calls started once the first holds it.
func rwOverlappingReaders(rw *RWMutex, w []byte, d time.Duration, started func()) error {
	flag := mem.Uint32(w, mpWFlag)
	var once sync.Once
	errs := make(chan error, 3)
	for g := range 3 {
		go func() {
			time.Sleep(time.Duration(g) * d / 3)
			for atomic.LoadUint32(flag) == 0 {
				if err := rw.RLock(); err != nil {
					errs <- err
					return
				}
				once.Do(started)
				time.Sleep(d)
				rw.RUnlock()
			}
			errs <- nil
		}()
	}
	var first error
	for range 3 {
		if err := <-errs; err != nil && first == nil {
			first = err
		}
	}
	return first
}

// TestRWMutexWriterNotStarved: readers in two processes keep the lock
// read-locked without a gap, each read overlapping the next, for as long
// as the test lasts. A writer still gets in, again and again: once it
// waits, new readers wait behind it. (A lock that let readers in while a
// writer waits would keep this writer out for ever.)
func TestRWMutexWriterNotStarved(t *testing.T) {
	seg := testSeg(t)
	rw := mustRWMutex(t, shm.In(seg, "rw"))
	w := mpWords(t, seg)
	p := shmtest.Start(t, mpChildTimeout, rwChild, seg.Name(), "rw", "readers", "5")
	p.WaitPoint("reading")
	p.Continue()
	here := make(chan error, 1)
	go func() { here <- rwOverlappingReaders(rw, w, 5*time.Millisecond, func() {}) }()
	ctx := mpContext(t)
	for i := range 20 {
		if err := rw.LockContext(ctx); err != nil {
			t.Fatalf("writer %d: %v (readers kept it out)", i, err)
		}
		if n := rwReaders(rw); n != 0 {
			t.Fatalf("writer %d in with %d reads counted", i, n)
		}
		rw.Unlock()
		time.Sleep(time.Millisecond)
	}
	atomic.StoreUint32(mem.Uint32(w, mpWFlag), 1)
	if err := <-here; err != nil {
		t.Fatal(err)
	}
	p.Succeed()
}

// TestRWMutexReadersWakeTogether: readers waiting for a writer, in two
// processes, all enter when it unlocks.
func TestRWMutexReadersWakeTogether(t *testing.T) {
	seg := testSeg(t)
	rw := mustRWMutex(t, shm.In(seg, "rw"))
	if err := rw.Lock(); err != nil {
		t.Fatal(err)
	}
	p := shmtest.Start(t, mpChildTimeout, rwChild, seg.Name(), "rw", "read")
	other := mustOpenRW(t, seg)
	var got []<-chan error
	for range 3 {
		got = append(got, mpLockAsync(other.RLock))
	}
	mpEventually(t, "readers sleep", func() bool { return atomic.LoadUint32(rw.rsleep) >= 2 })
	for _, g := range got {
		mpNotYet(t, g, "RLock beside a writer")
	}
	rw.Unlock()
	p.WaitPoint("held")
	for _, g := range got {
		if err := mpRecv(t, g, "RLock after the writer left"); err != nil {
			t.Fatal(err)
		}
	}
	if n := rwReaders(rw); n != 4 {
		t.Fatalf("%d reads counted, want 4", n)
	}
	for range 3 {
		other.RUnlock()
	}
	p.Succeed()
}

// TestRWMutexSlotsFull: with every reader slot held by a live process, a
// process without one waits in RLock (TryRLock: ErrWouldBlock); when a
// holder dies, its slot is taken back and the reader gets in.
func TestRWMutexSlotsFull(t *testing.T) {
	seg := testSeg(t)
	rw := mustRWMutex(t, shm.In(seg, "rw"))
	p := shmtest.Start(t, mpChildTimeout, rwChild, seg.Name(), "rw", "read")
	p.WaitPoint("held")
	// Every slot names the child, which holds one read in the one it took.
	var word uint64
	for s := range rwSlots {
		if o, _ := rw.slot(s); atomic.LoadUint64(o) != 0 {
			word = atomic.LoadUint64(o)
		}
	}
	if pidOf(word) != p.Pid() {
		t.Fatalf("no slot names the child %d", p.Pid())
	}
	for s := range rwSlots {
		o, _ := rw.slot(s)
		atomic.StoreUint64(o, word)
	}
	atomic.StoreUint64(rw.claimed, ^uint64(0))

	if err := rw.TryRLock(); !errors.Is(err, ErrWouldBlock) {
		t.Fatalf("TryRLock with every slot taken: %v, want ErrWouldBlock", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Millisecond)
	defer cancel()
	if err := rw.RLockContext(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("RLockContext with every slot taken: %v, want DeadlineExceeded", err)
	}
	got := mpLockAsync(rw.RLock)
	mpNotYet(t, got, "RLock with every slot taken")
	p.Kill()
	killMustDie(t, p)
	if err := mpRecv(t, got, "RLock after a slot's holder died"); !errors.Is(err, ErrOwnerDead) {
		t.Fatalf("RLock after the child holding a read died: %v, want ErrOwnerDead", err)
	}
	rw.RUnlock()
	// The writer takes back the rest.
	if err := rw.Lock(); err != nil {
		t.Fatalf("Lock after the reader died: %v", err)
	}
	rw.Unlock()
	if c := atomic.LoadUint64(rw.claimed); c != 1<<slotOf(t, rw) {
		t.Fatalf("claimed slots %#x, want only this process's", c)
	}
}

// slotOf is the slot this process holds in rw.
func slotOf(t testing.TB, rw *RWMutex) int {
	t.Helper()
	c := rw.count.Load()
	for s := range rwSlots {
		if _, n := rw.slot(s); n == c {
			return s
		}
	}
	t.Fatal("this process has no slot")
	return 0
}

// TestKillRWMutexHolder: a reader, or a writer, SIGKILLed while holding
// the lock, killRounds times each: the next process to take it, waiting
// when it died or arriving after, gets it with an *OwnerDeadError naming
// the dead process ("rwmutex reader" or "rwmutex"), once.
func TestKillRWMutexHolder(t *testing.T) {
	for _, mode := range []string{"read", "write"} {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			seg := testSeg(t)
			rw := mustRWMutex(t, shm.In(seg, "rw"))
			rng := killRand(t)
			ctxs := newKillContexts(t)
			var lat killLatencies
			series := newKillSeries(killRounds, func() *testproc.Proc {
				return shmtest.Start(t, mpChildTimeout, rwChild, seg.Name(), "rw", mode)
			})
			want := map[string]string{"read": "rwmutex reader", "write": "rwmutex"}[mode]
			for round := range killRounds {
				ctx := ctxs.next()
				p := series.child()
				p.WaitPoint("held")
				// The next taker: a writer, or (for a dead writer) a reader
				// every other round.
				read := mode == "write" && round%2 == 1
				take, untake := rw.LockContext, rw.Unlock
				if read {
					take, untake = rw.RLockContext, rw.RUnlock
				}
				var err error
				var noticed time.Duration
				if rng.IntN(2) == 0 {
					got := make(chan error, 1)
					go func() { got <- take(ctx) }()
					mpNotYet(t, got, "taking a lock a live process holds")
					killed := time.Now()
					p.Kill()
					err = mpRecv(t, got, "taking the lock of a killed holder")
					noticed = time.Since(killed)
					killMustDie(t, p)
				} else {
					p.Kill()
					killMustDie(t, p)
					start := time.Now()
					err = take(ctx)
					noticed = time.Since(start)
				}
				var ode *OwnerDeadError
				if !errors.As(err, &ode) || ode.Pid != p.Pid() || ode.Lock != want {
					t.Fatalf("round %d: taking the lock of the killed child %d: %v, want an *OwnerDeadError naming it as %q", round, p.Pid(), err, want)
				}
				lat.add(t, noticed)
				untake()
				// Told once: the next taker finds a clean lock.
				if err := rw.TryLock(); err != nil {
					t.Fatalf("round %d: TryLock after the death was reported: %v", round, err)
				}
				rw.Unlock()
				if err := rw.TryRLock(); err != nil {
					t.Fatalf("round %d: TryRLock after the death was reported: %v", round, err)
				}
				rw.RUnlock()
			}
			lat.log(t, "ErrOwnerDead")
			if c := atomic.LoadUint64(rw.claimed); c != 1<<slotOf(t, rw) {
				t.Fatalf("claimed slots %#x after %d deaths, want only this process's", c, killRounds)
			}
		})
	}
}

// TestKillRWMutexReclaimer: a writer killed while it takes back the slot
// of a reader that died holding a read lock (the slot marked as being
// taken back, the read still counted) leaves neither stuck: the next
// writer takes the dead writer's lock (ErrOwnerDead, "rwmutex"), finishes
// taking the slot back, and the next taker after it is told of the dead
// reader; then the lock is clean.
func TestKillRWMutexReclaimer(t *testing.T) {
	seg := testSeg(t)
	rw := mustRWMutex(t, shm.In(seg, "rw"))
	reader := shmtest.Start(t, mpChildTimeout, rwChild, seg.Name(), "rw", "read")
	reader.WaitPoint("held")
	reader.Kill()
	killMustDie(t, reader)
	w := shmtest.Start(t, mpChildTimeout, rwChild, seg.Name(), "rw", "reclaim")
	w.WaitPoint("reclaiming")
	marked := 0
	for s := range rwSlots {
		if o, c := rw.slot(s); atomic.LoadUint64(o)&reclaiming != 0 && atomic.LoadUint32(c) == 1 {
			marked++
		}
	}
	if marked != 1 {
		t.Fatalf("%d slots marked as being taken back with the dead read counted, want 1", marked)
	}
	w.Kill()
	killMustDie(t, w)

	ctx := mpContext(t)
	var ode *OwnerDeadError
	if err := rw.LockContext(ctx); !errors.As(err, &ode) || ode.Pid != w.Pid() || ode.Lock != "rwmutex" {
		t.Fatalf("Lock after the reclaiming writer %d died: %v, want its ErrOwnerDead", w.Pid(), err)
	}
	if n := rwReaders(rw); n != 0 {
		t.Fatalf("%d reads still counted under the writer", n)
	}
	rw.Unlock()
	if err := rw.TryRLock(); !errors.As(err, &ode) || ode.Lock != "rwmutex reader" {
		t.Fatalf("the next taker: %v, want the dead reader's ErrOwnerDead", err)
	}
	rw.RUnlock()
	if err := rw.TryLock(); err != nil {
		t.Fatalf("TryLock of a clean lock: %v", err)
	}
	rw.Unlock()
	if c := atomic.LoadUint64(rw.claimed); c != 1<<slotOf(t, rw) {
		t.Fatalf("claimed slots %#x, want only this process's", c)
	}
}

// TestKillRWMutexAnywhere: a process reading and writing in a loop is
// SIGKILLed at a random moment, inside RLock, RUnlock, Lock or Unlock or
// between them: the lock always works afterwards, with no read left
// counted and no writer left in.
func TestKillRWMutexAnywhere(t *testing.T) {
	t.Parallel()
	seg := testSeg(t)
	rw := mustRWMutex(t, shm.In(seg, "rw"))
	rng := killRand(t)
	ctxs := newKillContexts(t)
	const rounds = 50
	series := newKillSeries(rounds, func() *testproc.Proc {
		return shmtest.Start(t, mpChildTimeout, rwChild, seg.Name(), "rw", "loop")
	})
	for round := range rounds {
		ctx := ctxs.next()
		p := series.child()
		// Let it run for up to 5 ms, then kill it.
		p.WaitPoint("ready")
		p.Continue()
		time.Sleep(time.Duration(rng.IntN(5_000)) * time.Microsecond)
		p.Kill()
		killMustDie(t, p)
		if err := rw.LockContext(ctx); !taken(err) {
			t.Fatalf("round %d: Lock after the killed child: %v", round, err)
		}
		if n := rwReaders(rw); n != 0 {
			t.Fatalf("round %d: %d reads counted under the writer", round, n)
		}
		rw.Unlock()
		if err := rw.RLockContext(ctx); !taken(err) {
			t.Fatalf("round %d: RLock after the killed child: %v", round, err)
		}
		rw.RUnlock()
		if err := rw.TryLock(); err != nil {
			t.Fatalf("round %d: TryLock of a lock nobody holds: %v", round, err)
		}
		rw.Unlock()
	}
	if o := rw.Owner(); o != 0 {
		t.Fatalf("writer %d after all", o)
	}
}

// TestRWMutexLockers: the sync.Locker views take a dead writer's lock as
// RLock and Lock do, and say so in LastOwnerDead.
func TestRWMutexLockers(t *testing.T) {
	seg := testSeg(t)
	rw := mustRWMutex(t, shm.In(seg, "rw"))
	for _, view := range []string{"read", "write"} {
		p := shmtest.Start(t, mpChildTimeout, rwChild, seg.Name(), "rw", "write")
		p.WaitPoint("held")
		p.Kill()
		killMustDie(t, p)
		k := rw.Locker()
		if view == "read" {
			k = rw.RLocker()
		}
		k.Lock()
		var ode *OwnerDeadError
		if err := k.LastOwnerDead(); !errors.As(err, &ode) || ode.Pid != p.Pid() {
			t.Fatalf("%s view after the writer %d died: LastOwnerDead %v", view, p.Pid(), err)
		}
		if view == "read" && rw.TryLock() == nil {
			t.Fatal("the read view's Lock holds no read lock")
		}
		k.Unlock()
		k.Lock()
		if err := k.LastOwnerDead(); err != nil {
			t.Fatalf("%s view, second Lock: LastOwnerDead %v", view, err)
		}
		k.Unlock()
	}
	rw.Close()
	if msg := mpPanics(rw.RLocker().Lock); msg == "" {
		t.Fatal("the read view's Lock through a closed handle did not panic")
	}
}

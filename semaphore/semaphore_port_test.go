//go:build linux && (amd64 || arm64)

package semaphore

// The cases of golang.org/x/sync/semaphore's tests and of CPython's
// Lib/test/lock_tests.py (BaseSemaphoreTests, SemaphoreTests,
// BoundedSemaphoreTests) and _test_multiprocessing.py (_TestSemaphore),
// written for Semaphore, across processes where the case is about more
// than one waiter. The names say where each comes from: TestXsync... and
// TestPy....

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shmkit/shmkit/internal/mem"
	"github.com/shmkit/shmkit/internal/shmtest"
	"github.com/shmkit/shmkit/internal/testproc"
	"github.com/shmkit/shmkit/shm"
)

// The words block (see multiproc_test.go) as these tests use it: the
// processes that acquired, in order, from portWOrder on.
const (
	portWOrder  = 20 // u32 each: the ids of the acquirers, in the order they acquired
	portMaxIDs  = (64 - portWOrder) / 4
	portWStop   = mpWFlag    // u32: hammering children stop when set
	portWTries  = mpWCounter // u64: TryAcquires that succeeded
	portWInside = mpWMarker  // u32: units held by hammering processes
)

// portOrder is the ids of the processes that acquired, in order.
func portOrder(w []byte) []uint32 {
	var ids []uint32
	for i := range min(int(mpLoad(w, mpWWoken)), portMaxIDs) {
		ids = append(ids, mpLoad(w, uintptr(portWOrder+4*i)))
	}
	return ids
}

// portAcquired records that process id acquired.
func portAcquired(w []byte, id uint32) {
	i := atomic.AddUint32(mem.Uint32(w, mpWWoken), 1) - 1
	if i < portMaxIDs {
		atomic.StoreUint32(mem.Uint32(w, uintptr(portWOrder+4*i)), id)
	}
}

// portChildAcquire acquires ("seg name n timeoutMs id stopAt hold"): n
// units of the semaphore name, within timeoutMs (0: mpTimeout; -1: until
// the stop word of the words block is set), stopping
// at the testHookSem point stopAt ("-": none) on its way. It prints
// "RESULT err" and records itself in the words block when it acquired;
// then, with hold 0 it releases them at once, with hold 1 it stops at
// "holding" and releases them when let go, with hold 2 it exits holding
// them.
var portChildAcquire = semChild("sem-port-acquire", func(c *testproc.Child, seg *shm.Segment, f []string, s *Semaphore) error {
	if len(f) != 6 {
		return fmt.Errorf("args %q", f)
	}
	args, err := childInts(f, 1, 2, 3, 5)
	if err != nil {
		return err
	}
	n, ms, id, hold := args[0], args[1], args[2], args[3]
	w, err := mpFindWords(seg)
	if err != nil {
		return err
	}
	if f[4] != "-" {
		testHookSem = func(p string) {
			if p == f[4] {
				c.Point(p)
			}
		}
	}
	ctx, cancel := mpChildContext(max(ms, 0))
	watched := make(chan struct{})
	// The watcher reads the segment: it ends before the segment closes.
	defer func() { cancel(); <-watched }()
	if ms < 0 { // cancelled when the stop word is set
		go func() {
			defer close(watched)
			for mpLoad(w, portWStop) == 0 && ctx.Err() == nil {
				time.Sleep(time.Millisecond)
			}
			cancel()
		}()
	} else {
		close(watched)
	}
	err = s.Acquire(ctx, n)
	testHookSem = nil
	if err == nil {
		portAcquired(w, uint32(id))
	}
	fmt.Printf("RESULT %s\n", mpErrClass(err))
	if err != nil || hold == 2 {
		return nil
	}
	if hold == 1 {
		c.Point("holding")
	}
	return s.Release(n)
})

// portStart starts portChildAcquire.
func portStart(t testing.TB, seg *shm.Segment, name string, n, ms, id int, stopAt string, hold int) *testproc.Proc {
	return shmtest.Start(t, mpChildTimeout, portChildAcquire, seg.Name(), name, strconv.Itoa(n),
		strconv.Itoa(ms), strconv.Itoa(id), stopAt, strconv.Itoa(hold))
}

// acquired reports whether a TryAcquire that returned err took its units.
// An error other than ErrWouldBlock panics, failing the test.
func acquired(err error) bool {
	if err != nil && !errors.Is(err, ErrWouldBlock) {
		panic(fmt.Sprintf("TryAcquire: %v", err))
	}
	return err == nil
}

// portChildTry ("seg name n") prints "RESULT ok" for one TryAcquire(n),
// and releases what it took.
var portChildTry = semChild("sem-port-try", func(c *testproc.Child, seg *shm.Segment, f []string, s *Semaphore) error {
	n, err := shmtest.Int(f, 1)
	if err != nil {
		return err
	}
	ok := acquired(s.TryAcquire(n))
	fmt.Printf("RESULT %v\n", ok)
	if ok {
		return s.Release(n)
	}
	return nil
})

// portChildHammer ("seg name try|acquire") takes one unit and gives it
// back, over and over, with TryAcquire or Acquire, holding it for a
// moment, until the stop word is set. It counts its takes, and checks with
// the inside word that the units held never pass the bound.
var portChildHammer = semChild("sem-port-hammer", func(c *testproc.Child, seg *shm.Segment, f []string, s *Semaphore) error {
	w, err := mpFindWords(seg)
	if err != nil {
		return err
	}
	ctx, cancel := mpChildContext(0)
	defer cancel()
	for mpLoad(w, portWStop) == 0 {
		if f[1] == "try" {
			if !acquired(s.TryAcquire(1)) {
				runtime.Gosched()
				continue
			}
		} else if err := s.Acquire(ctx, 1); err != nil {
			return err
		}
		atomic.AddUint64(mem.Uint64(w, portWTries), 1)
		atomic.AddUint32(mem.Uint32(w, portWInside), 1)
		time.Sleep(time.Millisecond)
		atomic.AddUint32(mem.Uint32(w, portWInside), ^uint32(0))
		if err := s.Release(1); err != nil {
			return err
		}
	}
	return nil
})

func portNew(t testing.TB, n int, bounded bool, opts ...shm.Option) *Semaphore {
	t.Helper()
	f := New
	if bounded {
		f = NewBounded
	}
	s, err := f(n, opts...)
	if err != nil {
		t.Fatalf("New(%d) (bounded %v): %v", n, bounded, err)
	}
	t.Cleanup(func() { s.Free() })
	return s
}

// portQueued waits until k Acquires are queued on s.
func portQueued(t testing.TB, s *Semaphore, k int) {
	t.Helper()
	mpEventually(t, fmt.Sprintf("%d waiters queued on %v", k, s), func() bool { return s.Waiting() == k })
}

// ---- golang.org/x/sync/semaphore ----

// TestXsyncWeighted (TestWeighted): goroutines of this process and two
// children acquire weights 0 to 4 of a semaphore of 4 and release them,
// checking that the units held never pass 4.
func TestXsyncWeighted(t *testing.T) {
	seg := testSeg(t)
	const size = 4
	s := portNew(t, size, true, shm.In(seg, "sem"))
	w := mpWords(t, seg)
	inside := mem.Uint32(w, portWInside)
	var ps []*testproc.Proc
	for range 2 {
		ps = append(ps, shmtest.Start(t, mpChildTimeout, portChildHammer, seg.Name(), "sem", "acquire"))
	}
	ctx := mpContext(t)
	var wg sync.WaitGroup
	errs := make(chan error, size+1)
	for i := 0; i <= size; i++ {
		wg.Go(func() {
			for range 300 {
				if err := s.Acquire(ctx, i); err != nil {
					errs <- err
					return
				}
				if v := atomic.AddUint32(inside, uint32(i)); v > size {
					errs <- fmt.Errorf("%d units held by this process's goroutines, semaphore of %d", v, size)
				}
				time.Sleep(time.Duration(rand.IntN(int(time.Millisecond/10))) * 10)
				atomic.AddUint32(inside, ^uint32(i-1))
				if err := s.Release(i); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	atomic.StoreUint32(mem.Uint32(w, portWStop), 1)
	for _, p := range ps {
		p.Succeed()
	}
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if s.Value() != size || s.Waiting() != 0 {
		t.Fatalf("%v at the end, want %d units and nobody waiting", s, size)
	}
	if mpLoad(w, portWTries) == 0 {
		t.Error("the children never acquired")
	}
}

// TestXsyncReleaseUnacquired (TestWeightedPanic): x/sync panics when more
// is released than was acquired. Here a Bounded semaphore returns
// ErrOverRelease and changes nothing (Python's BoundedSemaphore raises
// ValueError), and an unbounded one grows, as Python's Semaphore does.
func TestXsyncReleaseUnacquired(t *testing.T) {
	b := portNew(t, 1, true)
	if err := b.Release(1); !errors.Is(err, ErrOverRelease) || b.Value() != 1 {
		t.Fatalf("Release(1) of a full NewBounded(1): %v, value %d", err, b.Value())
	}
	s := portNew(t, 1, false)
	if err := s.Release(1); err != nil || s.Value() != 2 {
		t.Fatalf("Release(1) of New(1): %v, value %d", err, s.Value())
	}
}

// TestXsyncTryAcquire (TestWeightedTryAcquire).
func TestXsyncTryAcquire(t *testing.T) {
	ctx := mpContext(t)
	s := portNew(t, 2, false)
	var tries []bool
	s.Acquire(ctx, 1)
	tries = append(tries, acquired(s.TryAcquire(1)), acquired(s.TryAcquire(1)))
	s.Release(2)
	tries = append(tries, acquired(s.TryAcquire(1)))
	s.Acquire(ctx, 1)
	tries = append(tries, acquired(s.TryAcquire(1)))
	if fmt.Sprint(tries) != "[true false true false]" {
		t.Fatalf("tries %v, want [true false true false]", tries)
	}
}

// TestXsyncAcquire (TestWeightedAcquire): the same with Acquires that time
// out.
func TestXsyncAcquire(t *testing.T) {
	s := portNew(t, 2, false)
	try := func(n int) bool {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
		defer cancel()
		return s.Acquire(ctx, n) == nil
	}
	var tries []bool
	s.Acquire(context.Background(), 1)
	tries = append(tries, try(1), try(1))
	s.Release(2)
	tries = append(tries, try(1))
	s.Acquire(context.Background(), 1)
	tries = append(tries, try(1))
	if fmt.Sprint(tries) != "[true false true false]" {
		t.Fatalf("tries %v, want [true false true false]", tries)
	}
	if s.Value() != 0 || s.Waiting() != 0 {
		t.Fatalf("%v, want no units and nobody waiting", s)
	}
}

// TestXsyncDoesntBlockIfTooBig (TestWeightedDoesntBlockIfTooBig): an
// Acquire no Release can satisfy does not hold up the others. Here that
// is an Acquire past a Bounded semaphore's bound, which fails at once with
// ErrInvalid (x/sync's waits for its ctx); on an unbounded semaphore a
// larger Acquire is not hopeless, and waits its turn in the queue.
func TestXsyncDoesntBlockIfTooBig(t *testing.T) {
	const n = 2
	s := portNew(t, n, true)
	if err := s.Acquire(mpContext(t), n+1); !errors.Is(err, ErrInvalid) {
		t.Fatalf("Acquire(%d) of NewBounded(%d): %v, want ErrInvalid", n+1, n, err)
	}
	ctx := mpContext(t)
	var wg sync.WaitGroup
	errs := make(chan error, 3*n)
	for range 3 * n {
		wg.Go(func() {
			if err := s.Acquire(ctx, 1); err != nil {
				errs <- err
				return
			}
			time.Sleep(time.Millisecond)
			s.Release(1)
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

// TestXsyncLargeAcquireDoesntStarve (TestLargeAcquireDoesntStarve):
// goroutines that keep releasing and re-acquiring one unit each do not
// starve an Acquire of all of them.
func TestXsyncLargeAcquireDoesntStarve(t *testing.T) {
	const n = 4
	s := portNew(t, n, false)
	ctx := mpContext(t)
	var running atomic.Bool
	running.Store(true)
	var wg sync.WaitGroup
	for range n {
		if err := s.Acquire(ctx, 1); err != nil {
			t.Fatal(err)
		}
		wg.Go(func() {
			defer s.Release(1)
			for running.Load() {
				time.Sleep(time.Millisecond)
				s.Release(1)
				if err := s.Acquire(ctx, 1); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	large, cancel := context.WithTimeout(ctx, 10*time.Second) // a hang guard: it takes a few ms
	defer cancel()
	err := s.Acquire(large, n)
	running.Store(false)
	if err == nil {
		s.Release(n)
	}
	wg.Wait()
	if err != nil {
		t.Fatalf("Acquire(%d) among goroutines re-acquiring 1 each: %v", n, err)
	}
}

// TestMultiprocLargeAcquireDoesntStarve: the same across processes, with
// children that take their unit with TryAcquire as soon as they gave it
// back: once the large Acquire waits, their TryAcquires fail (but for
// those already under way, one per child), and it is served.
func TestMultiprocLargeAcquireDoesntStarve(t *testing.T) {
	seg := testSeg(t)
	const n = 3
	s := portNew(t, n, false, shm.In(seg, "sem"))
	w := mpWords(t, seg)
	tries := func() uint64 { return atomic.LoadUint64(mem.Uint64(w, portWTries)) }
	var ps []*testproc.Proc
	for range n {
		ps = append(ps, shmtest.Start(t, mpChildTimeout, portChildHammer, seg.Name(), "sem", "try"))
	}
	defer func() {
		atomic.StoreUint32(mem.Uint32(w, portWStop), 1)
		for _, p := range ps {
			p.Succeed()
		}
	}()
	mpEventually(t, "the children hammer", func() bool { return tries() > 100 })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second) // a hang guard: it takes a few ms
	defer cancel()
	start := time.Now()
	done := make(chan error, 1)
	go func() { done <- s.Acquire(ctx, n) }()
	var err error
	queued := false
	for !queued {
		select {
		case err = <-done:
		case <-time.After(100 * time.Microsecond):
			queued = s.Waiting() == 1
			continue
		}
		break
	}
	if queued {
		before := tries()
		err = <-done
		if d := tries() - before; d > n {
			t.Errorf("%d TryAcquires succeeded while Acquire(%d) waited", d, n)
		}
	}
	if err != nil {
		t.Fatalf("Acquire(%d) among processes TryAcquiring 1 each: %v after %v", n, err, time.Since(start))
	}
	t.Logf("Acquire(%d) served after %v (seen waiting: %v)", n, time.Since(start), queued)
	s.Release(n)
}

// TestXsyncAllocCancelDoesntStarve (TestAllocCancelDoesntStarve): a large
// Acquire that gives up at the head of the queue lets the small one behind
// it through. The three are in three processes: a child holds 1 unit of
// 10, a second child waits for 10 for 300 ms, this process waits for 1
// behind it.
func TestXsyncAllocCancelDoesntStarve(t *testing.T) {
	seg := testSeg(t)
	s := portNew(t, 10, false, shm.In(seg, "sem"))
	w := mpWords(t, seg)
	holder := portStart(t, seg, "sem", 1, 0, 1, "-", 1)
	holder.WaitPoint("holding")
	big := portStart(t, seg, "sem", 10, 300, 2, "-", 0)
	portQueued(t, s, 1)
	if acquired(s.TryAcquire(1)) {
		t.Fatal("TryAcquire(1) succeeded with an Acquire(10) waiting")
	}
	ctx := mpContext(t)
	if err := s.Acquire(ctx, 1); err != nil {
		t.Fatalf("Acquire(1) behind a cancelled Acquire(10): %v", err)
	}
	if res := mpResult(t, big); res != "deadline" {
		t.Fatalf("Acquire(10) with 1 held elsewhere for 300ms: %s", res)
	}
	s.Release(1)
	holder.Succeed()
	if s.Value() != 10 || s.Waiting() != 0 || len(portOrder(w)) != 1 {
		t.Fatalf("%v at the end, acquirers %v", s, portOrder(w))
	}
}

// TestXsyncAcquireCanceled (TestWeightedAcquireCanceled): an Acquire whose
// ctx ends before the units it waits for come fails, and gives back
// nothing it did not have; an Acquire with a ctx already ended fails even
// with units to spare, and takes none.
func TestXsyncAcquireCanceled(t *testing.T) {
	s := portNew(t, 2, false)
	ctx, cancel := context.WithCancel(context.Background())
	if err := s.Acquire(context.Background(), 1); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		// Until the Acquire(2) below waits; 5s is a hang guard.
		end := time.Now().Add(5 * time.Second)
		for acquired(s.TryAcquire(1)) {
			s.Release(1)
			runtime.Gosched()
			if time.Now().After(end) {
				t.Error("TryAcquire(1) kept succeeding for 5s with an Acquire(2) waiting")
				break
			}
		}
		cancel()
		s.Release(1)
	}()
	if err := s.Acquire(ctx, 2); err != context.Canceled {
		t.Errorf("Acquire(2) cancelled before the units came: %v, want context.Canceled", err)
	}
	<-done
	if !acquired(s.TryAcquire(2)) {
		t.Fatalf("TryAcquire(2) after the cancelled Acquire failed: %v", s)
	}
	s.Release(2)
	if err := s.Acquire(ctx, 1); err != context.Canceled || s.Value() != 2 {
		t.Fatalf("Acquire(1) with a cancelled ctx and 2 units there: %v, value %d", err, s.Value())
	}
	if err := s.Acquire(ctx, 0); err != context.Canceled {
		t.Fatalf("Acquire(0) with a cancelled ctx: %v", err)
	}
}

// TestXsyncZero: New(0) and NewBounded(0) are valid, Acquire(0) and
// TryAcquire(0) succeed with nobody waiting, and NewBounded(0) refuses any
// Release and any Acquire of more than 0.
func TestXsyncZero(t *testing.T) {
	s := portNew(t, 0, false)
	b := portNew(t, 0, true)
	ctx := mpContext(t)
	for _, x := range []*Semaphore{s, b} {
		if x.Value() != 0 || !acquired(x.TryAcquire(0)) || x.Acquire(ctx, 0) != nil {
			t.Fatalf("%v: TryAcquire(0), Acquire(0) wrong", x)
		}
	}
	if err := s.TryAcquire(1); !errors.Is(err, ErrWouldBlock) {
		t.Fatalf("TryAcquire(1) of New(0): %v, want ErrWouldBlock", err)
	}
	if err := b.TryAcquire(1); !errors.Is(err, ErrInvalid) {
		t.Fatalf("TryAcquire(1) of NewBounded(0): %v, want ErrInvalid", err)
	}
	if !b.Bounded() || b.Bound() != 0 || s.Bounded() {
		t.Fatalf("Bounded: %v %v", b, s)
	}
	if err := b.Release(1); !errors.Is(err, ErrOverRelease) {
		t.Fatalf("Release(1) of NewBounded(0): %v", err)
	}
	if err := b.Acquire(ctx, 1); !errors.Is(err, ErrInvalid) {
		t.Fatalf("Acquire(1) of NewBounded(0): %v", err)
	}
	if err := s.Release(3); err != nil || s.Value() != 3 {
		t.Fatalf("Release(3) of New(0): %v, value %d", err, s.Value())
	}
	// Reopened by name, a bounded semaphore of 0 stays bounded.
	seg := testSeg(t)
	portNew(t, 0, true, shm.In(seg, "b0"))
	o, err := Open(context.Background(), seg, "b0")
	if err != nil || !o.Bounded() || o.Release(1) == nil {
		t.Fatalf("reopened NewBounded(0): %v, %v", o, err)
	}
}

// TestMultiprocSemaphoreFIFO: waiters in four processes are served in the
// order they came, whatever they ask for; while the first waits for more
// than there is, a later one asking for less waits too, and TryAcquire
// fails in this process and in another.
func TestMultiprocSemaphoreFIFO(t *testing.T) {
	seg := testSeg(t)
	s := portNew(t, 0, false, shm.In(seg, "sem"))
	w := mpWords(t, seg)
	wants := []int{3, 1, 2, 1}
	var ps []*testproc.Proc
	for i, n := range wants {
		ps = append(ps, portStart(t, seg, "sem", n, 0, i+1, "-", 2))
		portQueued(t, s, i+1)
	}
	if err := s.Release(2); err != nil {
		t.Fatal(err)
	}
	mpNeverWithin(t, mpQuiet, "a later waiter took units while the first waits for 3", func() bool { return mpLoad(w, mpWWoken) != 0 })
	if acquired(s.TryAcquire(1)) {
		t.Fatal("TryAcquire(1) succeeded while Acquire(3) waits")
	}
	if res := mpResult(t, shmtest.Start(t, mpChildTimeout, portChildTry, seg.Name(), "sem", "1")); res != "false" {
		t.Fatalf("TryAcquire(1) in another process while Acquire(3) waits: %s", res)
	}
	// One waiter served at a time, so that the order recorded is the
	// order served.
	for i, n := range []int{1, 1, 2, 1} {
		if err := s.Release(n); err != nil {
			t.Fatal(err)
		}
		mpEventually(t, fmt.Sprintf("%d served", i+1), func() bool { return mpLoad(w, mpWWoken) == uint32(i+1) })
		if i == 1 {
			mpNeverWithin(t, mpQuiet, "the third waiter took units not there", func() bool { return mpLoad(w, mpWWoken) != 2 })
		}
	}
	for _, p := range ps {
		if res := mpResult(t, p); res != "nil" {
			t.Fatalf("a waiter got %s", res)
		}
	}
	if got := fmt.Sprint(portOrder(w)); got != "[1 2 3 4]" {
		t.Fatalf("served in the order %s, want [1 2 3 4]", got)
	}
	if s.Value() != 0 || s.Waiting() != 0 {
		t.Fatalf("%v at the end", s)
	}
}

// TestSemaphoreGoroutinesFIFO: goroutines of one process are served in the
// order they came too.
func TestSemaphoreGoroutinesFIFO(t *testing.T) {
	s := portNew(t, 0, false)
	ctx := mpContext(t)
	var mu sync.Mutex
	var order []int
	var wg sync.WaitGroup
	for i := range 6 {
		wg.Go(func() {
			if err := s.Acquire(ctx, 1+i%2); err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			order = append(order, i)
			mu.Unlock()
		})
		// The first waits in the queue, the others at the process's gate.
		mpEventually(t, "the goroutine waits", func() bool { return s.Waiting() == 1 && gateWaiters() == i })
	}
	if acquired(s.TryAcquire(0)) {
		t.Fatal("TryAcquire(0) succeeded with waiters")
	}
	// Units for one waiter at a time, so that the order served is the
	// order seen (with all 9 at once, a goroutine served may record
	// itself after the next one does).
	for k := range 6 {
		s.Release(1 + k%2)
		mpEventually(t, "a waiter is served", func() bool {
			mu.Lock()
			defer mu.Unlock()
			return len(order) == k+1
		})
	}
	wg.Wait()
	if fmt.Sprint(order) != "[0 1 2 3 4 5]" || s.Value() != 0 {
		t.Fatalf("served in the order %v, value %d", order, s.Value())
	}
}

// gateWaiters is how many goroutines of this process are blocked at a
// gate.
func gateWaiters() int {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	n := 0
	for _, g := range strings.Split(string(buf), "\n\n") {
		if strings.Contains(g, " [select") && strings.Contains(g, "semaphore.gate.enter") {
			n++
		}
	}
	return n
}

// ---- CPython lock_tests.py: BaseSemaphoreTests and subclasses ----

// TestPyConstructor (test_constructor, test_default_value's value): a
// negative value is ErrInvalid; there is no default value in Go.
func TestPyConstructor(t *testing.T) {
	for _, n := range []int{-1, -maxCount, maxCount + 1} {
		if _, err := New(n); !errors.Is(err, ErrInvalid) {
			t.Errorf("New(%d): %v", n, err)
		}
		if _, err := NewBounded(n); !errors.Is(err, ErrInvalid) {
			t.Errorf("NewBounded(%d): %v", n, err)
		}
	}
}

// TestPyAcquire (test_acquire, test_acquire_destroy, test_try_acquire,
// test_release_n, test_with's nesting) on both kinds.
func TestPyAcquire(t *testing.T) {
	ctx := mpContext(t)
	for _, bounded := range []bool{false, true} {
		s := portNew(t, 2, bounded)
		for range 2 {
			if err := s.Acquire(ctx, 1); err != nil {
				t.Fatalf("bounded %v: Acquire(1) of 2: %v", bounded, err)
			}
		}
		if acquired(s.TryAcquire(1)) {
			t.Fatalf("bounded %v: two Acquires of 2, then TryAcquire: %v", bounded, s)
		}
		if s.Release(1) != nil || !acquired(s.TryAcquire(1)) || s.Release(2) != nil || s.Value() != 2 {
			t.Fatalf("bounded %v: Release(1), TryAcquire(1), Release(2): %v", bounded, s)
		}
		// test_repr
		if str := s.String(); !strings.Contains(str, "value 2") || strings.Contains(str, "unbounded") == bounded {
			t.Fatalf("String: %s", str)
		}
		// test_with: nested, with a TryAcquire inside.
		if s.Acquire(ctx, 1) != nil || !acquired(s.TryAcquire(1)) || s.Release(1) != nil || s.Acquire(ctx, 1) != nil || acquired(s.TryAcquire(1)) {
			t.Fatalf("bounded %v: nested: %v", bounded, s)
		}
		s.Release(2)
		// test_acquire_destroy: a handle closed (and the object freed)
		// with units taken.
		s.Acquire(ctx, 1)
		s.Close()
		if err := s.Acquire(ctx, 1); !errors.Is(err, os.ErrClosed) {
			t.Fatalf("Acquire through a closed handle: %v", err)
		}
	}
}

// TestPyTryAcquireContended (test_try_acquire_contended): 5 processes try
// twice each on a semaphore of 4 with one taken: 3 succeed in all.
func TestPyTryAcquireContended(t *testing.T) {
	seg := testSeg(t)
	s := portNew(t, 4, false, shm.In(seg, "sem"))
	mpWords(t, seg)
	if !acquired(s.TryAcquire(1)) {
		t.Fatal("TryAcquire")
	}
	var ps []*testproc.Proc
	for range 5 {
		ps = append(ps, shmtest.Start(t, mpChildTimeout, portChildTryKeep, seg.Name(), "sem"))
	}
	trues := 0
	for _, p := range ps {
		for _, r := range mpResults(p.Succeed().Output) {
			for _, f := range r {
				if f == "true" {
					trues++
				}
			}
		}
	}
	if trues != 3 || s.Value() != 0 {
		t.Fatalf("%d TryAcquires succeeded, want 3; %v", trues, s)
	}
}

// portChildTryKeep ("seg name") TryAcquires 1 twice, prints both results
// and keeps what it took.
var portChildTryKeep = semChild("sem-port-try-keep", func(c *testproc.Child, seg *shm.Segment, f []string, s *Semaphore) error {
	fmt.Printf("RESULT %v %v\n", acquired(s.TryAcquire(1)), acquired(s.TryAcquire(1)))
	return nil
})

// TestPyAcquireContended (test_acquire_contended): 10 processes acquire
// twice each from a semaphore of 7 with one taken: 6 get in at once, then
// exactly as many more as each Release gives.
func TestPyAcquireContended(t *testing.T) {
	seg := testSeg(t)
	s := portNew(t, 7, false, shm.In(seg, "sem"))
	w := mpWords(t, seg)
	s.Acquire(mpContext(t), 1)
	var ps []*testproc.Proc
	for i := range 10 {
		ps = append(ps, shmtest.Start(t, mpChildTimeout, portChildTwice, seg.Name(), "sem", strconv.Itoa(i)))
	}
	got := func() uint32 { return mpLoad(w, mpWWoken) }
	mpEventually(t, "6 acquisitions", func() bool { return got() >= 6 })
	mpNeverWithin(t, mpQuiet, "more than 6 acquisitions of 6 units", func() bool { return got() > 6 })
	s.Release(7)
	mpEventually(t, "13 acquisitions", func() bool { return got() >= 13 })
	mpNeverWithin(t, mpQuiet, "more than 13 acquisitions", func() bool { return got() > 13 })
	s.Release(6)
	mpEventually(t, "19 acquisitions", func() bool { return got() >= 19 })
	if acquired(s.TryAcquire(1)) {
		t.Fatal("TryAcquire with a process still waiting")
	}
	s.Release(1)
	for _, p := range ps {
		p.Succeed()
	}
	if got() != 20 || s.Value() != 0 {
		t.Fatalf("%d acquisitions, %v", got(), s)
	}
}

// portChildTwice ("seg name id") acquires 1 twice, counting each in the
// words block, and keeps them.
var portChildTwice = semChild("sem-port-twice", func(c *testproc.Child, seg *shm.Segment, f []string, s *Semaphore) error {
	w, err := mpFindWords(seg)
	if err != nil {
		return err
	}
	ctx, cancel := mpChildContext(0)
	defer cancel()
	for range 2 {
		if err := s.Acquire(ctx, 1); err != nil {
			return err
		}
		portAcquired(w, 0)
	}
	return nil
})

// TestPyAcquireTimeout (test_acquire_timeout, _TestSemaphore.test_timeout):
// timed-out Acquires fail after their timeout and take nothing, in this
// process and in a child, while units are short.
func TestPyAcquireTimeout(t *testing.T) {
	seg := testSeg(t)
	s := portNew(t, 2, false, shm.In(seg, "sem"))
	mpWords(t, seg)
	try := func(d time.Duration) error {
		ctx, cancel := context.WithTimeout(context.Background(), d)
		defer cancel()
		return s.Acquire(ctx, 1)
	}
	for range 2 {
		if err := try(5 * time.Millisecond); err != nil {
			t.Fatalf("Acquire with units there: %v", err)
		}
	}
	start := time.Now()
	if err := try(100 * time.Millisecond); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Acquire of an empty semaphore: %v", err)
	}
	if d := time.Since(start); d < 100*time.Millisecond {
		t.Fatalf("timed out after %v, before its 100ms", d)
	}
	if res := mpResult(t, portStart(t, seg, "sem", 1, 100, 1, "-", 0)); res != "deadline" {
		t.Fatalf("a child's Acquire of an empty semaphore: %s", res)
	}
	s.Release(1)
	if try(5*time.Millisecond) != nil || s.Value() != 0 || s.Waiting() != 0 {
		t.Fatalf("after the timeouts: %v", s)
	}
}

// TestPyDefaultValue (test_default_value, _TestSemaphore.test_semaphore):
// a waiter in another process stays blocked until a Release, and Value
// follows every call.
func TestPyDefaultValue(t *testing.T) {
	seg := testSeg(t)
	s := portNew(t, 1, false, shm.In(seg, "sem"))
	w := mpWords(t, seg)
	if s.Acquire(mpContext(t), 1) != nil || s.Value() != 0 {
		t.Fatal(s)
	}
	p := portStart(t, seg, "sem", 1, 0, 1, "-", 0)
	portQueued(t, s, 1)
	mpNeverWithin(t, mpQuiet, "the child acquired an empty semaphore", func() bool { return mpLoad(w, mpWWoken) != 0 })
	s.Release(1)
	if res := mpResult(t, p); res != "nil" {
		t.Fatalf("child: %s", res)
	}
	if s.Value() != 1 {
		t.Fatal(s)
	}
}

// TestPyReleaseUnacquired (SemaphoreTests and BoundedSemaphoreTests
// test_release_unacquired, _TestSemaphore.test_bounded_semaphore): an
// unbounded semaphore grows past its initial value; a bounded one refuses,
// in another process too.
func TestPyReleaseUnacquired(t *testing.T) {
	ctx := mpContext(t)
	s := portNew(t, 1, false)
	if s.Release(1) != nil || s.Acquire(ctx, 1) != nil || s.Acquire(ctx, 1) != nil || s.Release(1) != nil || s.Value() != 1 {
		t.Fatal(s)
	}
	seg := testSeg(t)
	b := portNew(t, 1, true, shm.In(seg, "b"))
	if err := b.Release(1); !errors.Is(err, ErrOverRelease) {
		t.Fatal(err)
	}
	if b.Acquire(ctx, 1) != nil || b.Release(1) != nil {
		t.Fatal(b)
	}
	if err := b.Release(1); !errors.Is(err, ErrOverRelease) || b.Value() != 1 {
		t.Fatal(err, b)
	}
	b.Acquire(ctx, 1)
	mpWords(t, seg)
	p := portStart(t, seg, "b", 0, 0, 1, "-", 0) // Acquire(0) then Release(0)
	if res := mpResult(t, p); res != "nil" {
		t.Fatal(res)
	}
	if err := b.Release(2); !errors.Is(err, ErrOverRelease) || b.Value() != 0 {
		t.Fatal(err, b)
	}
}

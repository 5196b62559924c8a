//go:build linux && (amd64 || arm64)

package semaphore

// Multi-process tests: every type used by real child processes started
// through testproc, after what CPython's Lib/test/lock_tests.py checks for
// its locks, semaphores, events, conditions and barriers. The kill tests
// (a process dying while it holds or waits) are in kill_test.go.
//
// Children get their arguments as space-separated fields, the first the
// name of the test's segment, and print "RESULT ..." lines for the parent
// to check. Every wait is bounded by a context of mpTimeout and every child
// by a testproc timeout: a bug fails a test, it never hangs it. Checks that
// something does not happen (a waiter stays asleep) wait a short while and
// can only miss a bug on a slow machine, never report a false one.

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"runtime"
	"slices"
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

const (
	// mpTimeout bounds every wait: far beyond any real one.
	mpTimeout = 30 * time.Second
	// mpChildTimeout is every child's testproc timeout.
	mpChildTimeout = 90 * time.Second
	// mpQuiet is how long a check that nothing happens waits.
	mpQuiet = 100 * time.Millisecond
)

// mpContext is a context that ends after mpTimeout, or with the test.
func mpContext(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), mpTimeout)
	t.Cleanup(cancel)
	return ctx
}

// mpChildContext is a context for one wait of a child: timeout ms, or
// mpTimeout when ms is 0.
func mpChildContext(ms int) (context.Context, context.CancelFunc) {
	d := time.Duration(ms) * time.Millisecond
	if ms == 0 {
		d = mpTimeout
	}
	return context.WithTimeout(context.Background(), d)
}

// The words block: 64 bytes of shared bookkeeping of a test, as a named
// bytes object, beside the objects under test.
const (
	mpWCounter = 0  // u64: a plain (non-atomic) counter guarded by a lock
	mpWMarker  = 8  // u32: who is inside the critical section, 0 when nobody
	mpWWoken   = 12 // u32: how many waiters returned
	mpWFlag    = 16 // u32: a condition's predicate
)

var mpWordsSpec = shm.Spec{Kind: shm.KindBytes, Size: 64}

// mpWords places the words block called "words" in seg.
func mpWords(t testing.TB, seg *shm.Segment) []byte { return placeWords(t, seg, "words") }

// mpFindWords finds the words block a test placed in seg.
func mpFindWords(seg *shm.Segment) ([]byte, error) { return findWords(seg, "words") }

// placeWords places a block of 64 shared bytes called name in seg.
func placeWords(t testing.TB, seg *shm.Segment, name string) []byte {
	t.Helper()
	o, err := shm.Place(mpWordsSpec, nil, shm.In(seg, name))
	if err != nil {
		t.Fatal(err)
	}
	return o.Bytes()
}

// findWords finds the block of 64 shared bytes called name in seg.
func findWords(seg *shm.Segment, name string) ([]byte, error) {
	o, err := seg.Find(context.Background(), name, mpWordsSpec)
	if err != nil {
		return nil, err
	}
	return o.Bytes(), nil
}

func mpLoad(w []byte, off uintptr) uint32 { return atomic.LoadUint32(mem.Uint32(w, off)) }

// mpEventually polls cond until it holds, failing the test if it does not
// within mpTimeout.
func mpEventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(mpTimeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after %v, still not: %s", mpTimeout, what)
		}
		time.Sleep(200 * time.Microsecond)
	}
}

// taken reports whether a TryLock that returned err took the lock.
func taken(err error) bool { return err == nil || errors.Is(err, ErrOwnerDead) }

// mpErrClass names an error in a RESULT line.
func mpErrClass(err error) string {
	var parts []string
	for _, c := range []struct {
		err  error
		name string
	}{
		{ErrBrokenBarrier, "broken"}, {ErrOwnerDead, "ownerdead"}, {ErrNotOwner, "notowner"},
		{ErrOverRelease, "overrelease"}, {ErrInvalid, "invalid"}, {shm.ErrKind, "kind"},
		{shm.ErrNotExist, "notexist"}, {context.DeadlineExceeded, "deadline"}, {context.Canceled, "canceled"},
		{os.ErrClosed, "closed"}, {ErrWouldBlock, "wouldblock"}, {shm.ErrStale, "stale"},
	} {
		if errors.Is(err, c.err) {
			parts = append(parts, c.name)
		}
	}
	switch {
	case err == nil:
		return "nil"
	case parts == nil:
		return "other:" + strings.ReplaceAll(err.Error(), " ", "_")
	}
	return strings.Join(parts, "+")
}

// mpResults are the fields of the RESULT lines in a child's output.
func mpResults(out string) [][]string {
	var res [][]string
	for _, line := range strings.Split(out, "\n") {
		if rest, ok := strings.CutPrefix(line, "RESULT "); ok {
			res = append(res, strings.Fields(rest))
		}
	}
	return res
}

// mpResult is the only RESULT line of a child that succeeded, joined.
func mpResult(t testing.TB, p *testproc.Proc) string {
	t.Helper()
	out := p.Succeed().Output
	res := mpResults(out)
	if len(res) != 1 {
		t.Fatalf("child printed %d RESULT lines, want 1:\n%s", len(res), out)
	}
	return strings.Join(res[0], " ")
}

// mpNeverWithin fails the test if cond becomes true within d.
func mpNeverWithin(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	for end := time.Now().Add(d); time.Now().Before(end); time.Sleep(time.Millisecond) {
		if cond() {
			t.Fatal(what)
		}
	}
}

// ---- Mutex ----

// mpIncrement increments the plain counter of the words block under mu,
// at least iters times and for at least d, taking the lock by Lock,
// LockContext and TryLock in turn, and checks that nobody else is inside
// while it is. It returns how many times it incremented.
func mpIncrement(ctx context.Context, mu *Mutex, w []byte, iters int, d time.Duration, id uint32) (int, error) {
	counter, marker := mem.Uint64(w, mpWCounter), mem.Uint32(w, mpWMarker)
	end := time.Now().Add(d)
	i := 0
	for ; i < iters || time.Now().Before(end); i++ {
		var err error
		switch i % 3 {
		case 0:
			err = mu.Lock()
		case 1:
			err = mu.LockContext(ctx)
		case 2:
			for {
				terr := mu.TryLock()
				if !errors.Is(terr, ErrWouldBlock) {
					err = terr
					break
				}
				runtime.Gosched()
			}
		}
		if err != nil {
			return i, fmt.Errorf("locking (iteration %d): %w", i, err)
		}
		if m := atomic.SwapUint32(marker, id); m != 0 {
			return i, fmt.Errorf("iteration %d: %d took the lock while %d held it", i, id, m)
		}
		v := *counter // plain read and write: lost updates show a broken lock
		if i%8 == 0 {
			runtime.Gosched()
		}
		*counter = v + 1
		if m := atomic.SwapUint32(marker, 0); m != id {
			return i, fmt.Errorf("iteration %d: %d found marker %d inside its critical section", i, id, m)
		}
		mu.Unlock()
	}
	return i, nil
}

// mpIncrementTime is how long each process of TestMultiprocMutexExclusion
// increments, so that they overlap whatever their start-up times.
const mpIncrementTime = 200 * time.Millisecond

var mpChildIncrement = segChild("sem-mp-increment", func(c *testproc.Child, seg *shm.Segment, f []string) error {
	iters, err := shmtest.Int(f, 0)
	if err != nil {
		return err
	}
	mu, err := OpenMutex(context.Background(), seg, "mu")
	if err != nil {
		return err
	}
	defer mu.Close()
	w, err := mpFindWords(seg)
	if err != nil {
		return err
	}
	ctx, cancel := mpChildContext(0)
	defer cancel()
	c.Point("go")
	n, err := mpIncrement(ctx, mu, w, iters, mpIncrementTime, uint32(os.Getpid()))
	fmt.Printf("RESULT %d\n", n)
	return err
})

// TestMultiprocMutexExclusion: three processes and the test increment a
// plain counter under one Mutex; no update is lost.
func TestMultiprocMutexExclusion(t *testing.T) {
	const iters = 1000
	seg := testSeg(t)
	mu := mustMutex(t, shm.In(seg, "mu"))
	w := mpWords(t, seg)
	var ps []*testproc.Proc
	for range 3 {
		ps = append(ps, shmtest.Start(t, mpChildTimeout, mpChildIncrement, seg.Name(), strconv.Itoa(iters)))
	}
	mpGoAll(ps)
	total, err := mpIncrement(mpContext(t), mu, w, iters, mpIncrementTime, uint32(os.Getpid()))
	if err != nil {
		t.Error(err)
	}
	counts := []int{total}
	for _, p := range ps {
		n, err := strconv.Atoi(mpResult(t, p))
		if err != nil {
			t.Fatal(err)
		}
		counts = append(counts, n)
		total += n
	}
	if n := atomic.LoadUint64(mem.Uint64(w, mpWCounter)); n != uint64(total) {
		t.Fatalf("counter %d, want %d (the sum of %v)", n, total, counts)
	}
	t.Logf("increments per process: %v", counts)
	if o := mu.Owner(); o != 0 {
		t.Fatalf("Owner %d after every process unlocked", o)
	}
}

// mpChildHold takes the lock named by its argument ("seg mutex|rlock name
// depth") depth times, stops at "locked", and unlocks it one level at a
// time, stopping at "depth N" after each level but the last.
var mpChildHold = segChild("sem-mp-hold", func(c *testproc.Child, seg *shm.Segment, f []string) error {
	depth, err := shmtest.Int(f, 2)
	if err != nil {
		return err
	}
	var lock func() error
	var unlock func()
	var check func(int) error
	switch f[0] {
	case "mutex":
		mu, err := OpenMutex(context.Background(), seg, f[1])
		if err != nil {
			return err
		}
		defer mu.Close()
		lock, unlock = mu.Lock, mu.Unlock
		check = func(int) error { return nil }
	case "rlock":
		r, err := OpenRLock(context.Background(), seg, f[1])
		if err != nil {
			return err
		}
		defer r.Close()
		lock, unlock = r.Lock, r.Unlock
		check = func(d int) error {
			// Once it is free (d == 0) another process may take it at once.
			if d > 0 && (r.Depth() != d || r.Owner() != os.Getpid()) || d == 0 && r.Owner() == os.Getpid() {
				return fmt.Errorf("depth %d owner %d, want depth %d", r.Depth(), r.Owner(), d)
			}
			return nil
		}
	default:
		return fmt.Errorf("unknown lock %q", f[0])
	}
	for d := 1; d <= depth; d++ {
		if err := lock(); err != nil {
			return fmt.Errorf("lock %d: %w", d, err)
		}
		if err := check(d); err != nil {
			return err
		}
	}
	c.Point("locked")
	for d := depth - 1; d >= 0; d-- {
		unlock()
		if err := check(d); err != nil {
			return err
		}
		if d > 0 {
			c.Point("depth " + strconv.Itoa(d))
		}
	}
	return nil
})

// mpLockAsync locks in a goroutine and sends the result.
func mpLockAsync(lock func() error) <-chan error {
	ch := make(chan error, 1)
	go func() { ch <- lock() }()
	return ch
}

// mpContended reports whether a lock word has its waiters bit set: a
// waiter has gone to sleep on it or is about to.
func mpContended(l *lockWord) bool { return atomic.LoadUint64(l.state)&contended != 0 }

// mpNotYet fails the test if ch delivers within mpQuiet.
func mpNotYet(t testing.TB, ch <-chan error, what string) {
	t.Helper()
	select {
	case err := <-ch:
		t.Fatalf("%s returned (%v) too early", what, err)
	case <-time.After(mpQuiet):
	}
}

// mpRecv receives from ch, failing the test after mpTimeout.
func mpRecv(t testing.TB, ch <-chan error, what string) error {
	t.Helper()
	select {
	case err := <-ch:
		return err
	case <-time.After(mpTimeout):
		t.Fatalf("%s still waiting after %v", what, mpTimeout)
		return nil
	}
}

// TestMultiprocMutexHeldElsewhere: a Mutex another process holds is not
// taken by TryLock or a LockContext that times out, and a waiter gets it
// when the holder unlocks.
func TestMultiprocMutexHeldElsewhere(t *testing.T) {
	seg := testSeg(t)
	mu := mustMutex(t, shm.In(seg, "mu"))
	p := shmtest.Start(t, mpChildTimeout, mpChildHold, seg.Name(), "mutex", "mu", "1")
	p.WaitPoint("locked")
	if o := mu.Owner(); o != p.Pid() {
		t.Fatalf("Owner %d, want the child %d", o, p.Pid())
	}
	if err := mu.TryLock(); !errors.Is(err, ErrWouldBlock) {
		t.Fatalf("TryLock of a Mutex another process holds: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	err := mu.LockContext(ctx)
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) || mu.Owner() != p.Pid() {
		t.Fatalf("LockContext timing out: %v, owner %d", err, mu.Owner())
	}
	got := mpLockAsync(mu.Lock)
	mpEventually(t, "the waiter sleeps on the lock", func() bool { return mpContended(&mu.l) })
	mpNotYet(t, got, "Lock of a held Mutex")
	p.Continue()
	if err := mpRecv(t, got, "Lock"); err != nil {
		t.Fatal(err)
	}
	p.Succeed()
	if o := mu.Owner(); o != os.Getpid() {
		t.Fatalf("Owner %d, want this process %d", o, os.Getpid())
	}
	mu.Unlock()
	if o := mu.Owner(); o != 0 {
		t.Fatalf("Owner %d after Unlock", o)
	}
}

// mpChildUnlock unlocks a lock ("seg mutex|rlock name") it does not hold;
// it must panic.
var mpChildUnlock = segChild("sem-mp-unlock", func(c *testproc.Child, seg *shm.Segment, f []string) error {
	if f[0] == "mutex" {
		mu, err := OpenMutex(context.Background(), seg, f[1])
		if err != nil {
			return err
		}
		mu.Unlock()
	} else {
		r, err := OpenRLock(context.Background(), seg, f[1])
		if err != nil {
			return err
		}
		r.Unlock()
	}
	return errors.New("Unlock of a lock held by another process returned")
})

// mpPanics runs f and returns what it panicked with, "" if it did not.
func mpPanics(f func()) (msg string) {
	defer func() {
		if r := recover(); r != nil {
			msg = fmt.Sprint(r)
			if msg == "" {
				msg = "(empty panic)"
			}
		}
	}()
	f()
	return ""
}

// TestMultiprocLockMisuse: unlocking a free lock, or one another process
// holds, panics and leaves the lock as it was; a closed handle fails.
func TestMultiprocLockMisuse(t *testing.T) {
	seg := testSeg(t)
	mu := mustMutex(t, shm.In(seg, "mu"))
	r := mustRLock(t, shm.In(seg, "r"))
	if msg := mpPanics(mu.Unlock); !strings.Contains(msg, "unlock of unlocked") {
		t.Fatalf("Unlock of an unlocked Mutex: panic %q", msg)
	}
	if msg := mpPanics(r.Unlock); !strings.Contains(msg, "unlock of unlocked") {
		t.Fatalf("Unlock of an unlocked RLock: panic %q", msg)
	}
	// Held by a child: our Unlock panics and the child still holds it.
	for _, kind := range []string{"mutex", "rlock"} {
		name, owner, unlock := "mu", mu.Owner, mu.Unlock
		if kind == "rlock" {
			name, owner, unlock = "r", r.Owner, r.Unlock
		}
		p := shmtest.Start(t, mpChildTimeout, mpChildHold, seg.Name(), kind, name, "1")
		p.WaitPoint("locked")
		want := fmt.Sprintf("held by process %d", p.Pid())
		if msg := mpPanics(unlock); !strings.Contains(msg, want) {
			t.Fatalf("%s: Unlock of a lock another process holds: panic %q, want %q", kind, msg, want)
		}
		if o := owner(); o != p.Pid() {
			t.Fatalf("%s: owner %d after the failed Unlock, want %d", kind, o, p.Pid())
		}
		p.Succeed()
		if o := owner(); o != 0 {
			t.Fatalf("%s: owner %d after the child unlocked", kind, o)
		}
	}
	// Held here: a child's Unlock panics (exit code 2) and we still hold it.
	if err := mu.Lock(); err != nil {
		t.Fatal(err)
	}
	if err := r.Lock(); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"mutex mu", "rlock r"} {
		res := shmtest.Start(t, mpChildTimeout, mpChildUnlock, seg.Name(), name).Wait()
		want := fmt.Sprintf("held by process %d", os.Getpid())
		if res.ExitCode != 2 || !strings.Contains(res.Output, want) {
			t.Fatalf("%s: child's Unlock of our lock: exit code %d, output:\n%s", name, res.ExitCode, res.Output)
		}
	}
	if mu.Owner() != os.Getpid() || r.Owner() != os.Getpid() || r.Depth() != 1 {
		t.Fatalf("after the children's Unlock: %v %v", mu, r)
	}
	mu.Unlock()
	r.Unlock()
	// A closed handle fails, and the lock stays usable through others.
	mu2, err := OpenMutex(context.Background(), seg, "mu")
	if err != nil {
		t.Fatal(err)
	}
	mu2.Close()
	if err := mu2.Lock(); !errors.Is(err, os.ErrClosed) {
		t.Fatalf("Lock through a closed handle: %v", err)
	}
	if err := mu2.TryLock(); !errors.Is(err, os.ErrClosed) {
		t.Fatalf("TryLock through a closed handle: %v", err)
	}
	if err := mu.TryLock(); err != nil {
		t.Fatalf("TryLock after a closed handle: %v", err)
	}
	mu.Unlock()
}

// ---- RLock ----

// TestMultiprocRLockReentry: a process enters an RLock several times; other
// processes wait until it left every level; re-entry is per process, so
// every goroutine of the holder passes.
func TestMultiprocRLockReentry(t *testing.T) {
	seg := testSeg(t)
	r := mustRLock(t, shm.In(seg, "r"))
	p := shmtest.Start(t, mpChildTimeout, mpChildHold, seg.Name(), "rlock", "r", "3")
	p.WaitPoint("locked")
	if r.Owner() != p.Pid() || r.Depth() != 3 {
		t.Fatalf("child entered 3 times: owner %d depth %d, want %d 3", r.Owner(), r.Depth(), p.Pid())
	}
	if err := r.TryLock(); !errors.Is(err, ErrWouldBlock) {
		t.Fatalf("TryLock of an RLock another process holds: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	err := r.LockContext(ctx)
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) || r.Depth() != 3 {
		t.Fatalf("LockContext timing out: %v, depth %d", err, r.Depth())
	}
	got := mpLockAsync(r.Lock)
	mpEventually(t, "the waiter sleeps on the lock", func() bool { return mpContended(&r.l) })
	for d := 2; d >= 1; d-- {
		p.WaitPoint("depth " + strconv.Itoa(d))
		if r.Owner() != p.Pid() || r.Depth() != d {
			t.Fatalf("child left one level: owner %d depth %d, want %d %d", r.Owner(), r.Depth(), p.Pid(), d)
		}
		mpNotYet(t, got, fmt.Sprintf("Lock of an RLock held at depth %d", d))
	}
	p.Continue()
	if err := mpRecv(t, got, "Lock"); err != nil {
		t.Fatal(err)
	}
	p.Succeed()
	if r.Owner() != os.Getpid() || r.Depth() != 1 {
		t.Fatalf("after taking it: %v", r)
	}
	// Another goroutine of this process enters too.
	if err := mpRecv(t, mpLockAsync(r.Lock), "re-entering Lock from another goroutine"); err != nil {
		t.Fatal(err)
	}
	if err := r.TryLock(); err != nil || r.Depth() != 3 {
		t.Fatalf("re-entering TryLock: %v, depth %d", err, r.Depth())
	}
	// A child cannot take it, at any depth, until the last Unlock.
	for d := 3; d >= 1; d-- {
		res := mpResult(t, shmtest.Start(t, mpChildTimeout, mpChildTry, seg.Name(), "rlock", "r"))
		if res != "false wouldblock" {
			t.Fatalf("child's TryLock of an RLock we hold at depth %d: %s", d, res)
		}
		r.Unlock()
	}
	if r.Owner() != 0 || r.Depth() != 0 {
		t.Fatalf("after the last Unlock: %v", r)
	}
	if res := mpResult(t, shmtest.Start(t, mpChildTimeout, mpChildTry, seg.Name(), "rlock", "r")); res != "true nil" {
		t.Fatalf("child's TryLock of a free RLock: %s", res)
	}
	if r.Owner() != 0 {
		t.Fatalf("after the child's TryLock and Unlock: %v", r)
	}
}

// mpChildTry TryLocks a lock ("seg mutex|rlock name"), prints "RESULT
// taken err" and unlocks it if it got it.
var mpChildTry = segChild("sem-mp-try", func(c *testproc.Child, seg *shm.Segment, f []string) error {
	var try func() error
	var unlock func()
	if f[0] == "mutex" {
		mu, err := OpenMutex(context.Background(), seg, f[1])
		if err != nil {
			return err
		}
		try, unlock = mu.TryLock, mu.Unlock
	} else {
		r, err := OpenRLock(context.Background(), seg, f[1])
		if err != nil {
			return err
		}
		try, unlock = r.TryLock, r.Unlock
	}
	err := try()
	fmt.Printf("RESULT %v %s\n", taken(err), mpErrClass(err))
	if taken(err) {
		unlock()
	}
	return nil
})

// ---- Semaphore ----

// mpChildAcquire acquires n units of the semaphore its argument names
// ("seg name n"), counts itself in mpWWoken, waits for the event "done" and
// releases them.
var mpChildAcquire = semChild("sem-mp-acquire", func(c *testproc.Child, seg *shm.Segment, f []string, s *Semaphore) error {
	n, err := shmtest.Int(f, 1)
	if err != nil {
		return err
	}
	defer s.Close()
	done, err := OpenEvent(context.Background(), seg, "done")
	if err != nil {
		return err
	}
	defer done.Close()
	w, err := mpFindWords(seg)
	if err != nil {
		return err
	}
	ctx, cancel := mpChildContext(0)
	defer cancel()
	if err := s.Acquire(ctx, n); err != nil {
		return fmt.Errorf("Acquire(%d): %w", n, err)
	}
	atomic.AddUint32(mem.Uint32(w, mpWWoken), 1)
	if err := done.Wait(ctx); err != nil {
		return err
	}
	return s.Release(n)
})

// TestMultiprocSemaphoreCounts: a semaphore of 2 lets exactly 2 of 5
// processes in; each Release lets in exactly as many more as it gives
// units; an Acquire of several units waits until they are all there.
func TestMultiprocSemaphoreCounts(t *testing.T) {
	seg := testSeg(t)
	s, err := New(2, shm.In(seg, "sem"))
	if err != nil {
		t.Fatal(err)
	}
	big, err := New(1, shm.In(seg, "big"))
	if err != nil {
		t.Fatal(err)
	}
	done := mustEvent(t, shm.In(seg, "done"))
	w := mpWords(t, seg)
	in := func() uint32 { return mpLoad(w, mpWWoken) }
	var ps []*testproc.Proc
	for range 5 {
		ps = append(ps, shmtest.Start(t, mpChildTimeout, mpChildAcquire, seg.Name(), "sem", "1"))
	}
	mpEventually(t, "2 processes acquired", func() bool { return in() >= 2 })
	mpNeverWithin(t, mpQuiet, "a third process acquired a semaphore of 2", func() bool { return in() > 2 })
	if v := s.Value(); v != 0 {
		t.Fatalf("Value %d with both units taken", v)
	}
	if err := s.TryAcquire(1); !errors.Is(err, ErrWouldBlock) {
		t.Fatalf("TryAcquire of an empty semaphore: %v", err)
	}
	if err := s.Release(1); err != nil {
		t.Fatal(err)
	}
	mpEventually(t, "a third process acquired", func() bool { return in() >= 3 })
	mpNeverWithin(t, mpQuiet, "a fourth process acquired after one Release(1)", func() bool { return in() > 3 })
	if err := s.Release(2); err != nil {
		t.Fatal(err)
	}
	mpEventually(t, "all 5 acquired", func() bool { return in() == 5 })
	if v := s.Value(); v != 0 {
		t.Fatalf("Value %d, want 0", v)
	}
	// Acquire(3) of a semaphore holding 1 waits for two more units.
	p := shmtest.Start(t, mpChildTimeout, mpChildAcquire, seg.Name(), "big", "3")
	time.Sleep(mpQuiet) // let it start waiting (only a missed bug if it did not)
	if err := big.Release(1); err != nil {
		t.Fatal(err)
	}
	mpNeverWithin(t, mpQuiet, "Acquire(3) returned with 2 units there", func() bool { return in() > 5 })
	if v := big.Value(); v != 2 {
		t.Fatalf("big Value %d, want 2", v)
	}
	if err := big.Release(1); err != nil {
		t.Fatal(err)
	}
	mpEventually(t, "Acquire(3) returned", func() bool { return in() == 6 })
	if v := big.Value(); v != 0 {
		t.Fatalf("big Value %d after Acquire(3), want 0", v)
	}
	if err := done.Set(); err != nil {
		t.Fatal(err)
	}
	for _, p := range append(ps, p) {
		p.Succeed()
	}
	if s.Value() != 5 || big.Value() != 3 {
		t.Fatalf("after every child released: Values %d and %d, want 5 and 3", s.Value(), big.Value())
	}
}

// mpChildSemMisuse checks, on the semaphores "plain" (holding 1) and
// "bounded" (bound 2, full), that cancelled Acquires take nothing and
// over-releases release nothing.
var mpChildSemMisuse = segChild("sem-mp-sem-misuse", func(c *testproc.Child, seg *shm.Segment, _ []string) error {
	s, err := Open(context.Background(), seg, "plain")
	if err != nil {
		return err
	}
	defer s.Close()
	b, err := Open(context.Background(), seg, "bounded")
	if err != nil {
		return err
	}
	defer b.Close()
	if s.Value() != 1 || s.Bound() != 0 || b.Value() != 2 || b.Bound() != 2 {
		return fmt.Errorf("opened %v and %v", s, b)
	}
	// A timed-out Acquire takes nothing, not even the unit that is there.
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	err = s.Acquire(ctx, 2)
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) || s.Value() != 1 {
		return fmt.Errorf("Acquire(2) timing out: %v, Value %d", err, s.Value())
	}
	// Nor does a cancelled one.
	ctx, cancel = context.WithCancel(context.Background())
	time.AfterFunc(30*time.Millisecond, cancel)
	err = s.Acquire(ctx, 2)
	if !errors.Is(err, context.Canceled) || s.Value() != 1 {
		return fmt.Errorf("Acquire(2) cancelled: %v, Value %d", err, s.Value())
	}
	// Bounded: over-release is refused and changes nothing.
	if err := b.Release(1); !errors.Is(err, ErrOverRelease) || b.Value() != 2 {
		return fmt.Errorf("Release(1) of a full bounded semaphore: %v, Value %d", err, b.Value())
	}
	if err := b.TryAcquire(1); err != nil {
		return fmt.Errorf("TryAcquire(1) of a bounded semaphore of 2: %w", err)
	}
	if err := b.Release(2); !errors.Is(err, ErrOverRelease) || b.Value() != 1 {
		return fmt.Errorf("Release(2) of a bounded semaphore at 1 of 2: %v, Value %d", err, b.Value())
	}
	if err := b.Release(1); err != nil || b.Value() != 2 {
		return fmt.Errorf("Release(1) back to the bound: %v, Value %d", err, b.Value())
	}
	if err := b.Acquire(context.Background(), 3); !errors.Is(err, ErrInvalid) || b.Value() != 2 {
		return fmt.Errorf("Acquire(3) of a bounded semaphore of 2: %v, Value %d", err, b.Value())
	}
	if err := s.Release(-1); !errors.Is(err, ErrInvalid) || s.Value() != 1 {
		return fmt.Errorf("Release(-1): %v, Value %d", err, s.Value())
	}
	c.Point("checked")
	return nil
})

// TestMultiprocSemaphoreMisuse: cancelled Acquires leave the count alone,
// a Bounded semaphore refuses to be released past its bound, across
// processes.
func TestMultiprocSemaphoreMisuse(t *testing.T) {
	seg := testSeg(t)
	s, err := New(1, shm.In(seg, "plain"))
	if err != nil {
		t.Fatal(err)
	}
	b, err := NewBounded(2, shm.In(seg, "bounded"))
	if err != nil {
		t.Fatal(err)
	}
	p := shmtest.Start(t, mpChildTimeout, mpChildSemMisuse, seg.Name())
	p.WaitPoint("checked")
	if s.Value() != 1 || b.Value() != 2 {
		t.Fatalf("Values %d and %d after the child's failed calls, want 1 and 2", s.Value(), b.Value())
	}
	p.Succeed()
	if err := b.Release(1); !errors.Is(err, ErrOverRelease) || b.Value() != 2 {
		t.Fatalf("Release(1) of a full bounded semaphore: %v, Value %d", err, b.Value())
	}
	// A cancelled Acquire here while a child waits too: the child still
	// gets the units.
	done := mustEvent(t, shm.In(seg, "done"))
	w := mpWords(t, seg)
	if err := s.TryAcquire(1); err != nil {
		t.Fatalf("TryAcquire(1): %v", err)
	}
	child := shmtest.Start(t, mpChildTimeout, mpChildAcquire, seg.Name(), "plain", "1")
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	err = s.Acquire(ctx, 1)
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) || s.Value() != 0 {
		t.Fatalf("Acquire timing out: %v, Value %d", err, s.Value())
	}
	if err := s.Release(1); err != nil {
		t.Fatal(err)
	}
	mpEventually(t, "the child acquired", func() bool { return mpLoad(w, mpWWoken) == 1 })
	done.Set()
	child.Succeed()
	if v := s.Value(); v != 1 {
		t.Fatalf("Value %d, want 1", v)
	}
}

// ---- Event ----

// mpChildEventWait waits rounds times ("seg timeoutMs rounds") on the
// event "ev", stopping at "wait" before each, and prints "RESULT err
// isset" after each.
var mpChildEventWait = segChild("sem-mp-event-wait", func(c *testproc.Child, seg *shm.Segment, f []string) error {
	args, err := childInts(f, 0, 1)
	if err != nil {
		return err
	}
	ms, rounds := args[0], args[1]
	e, err := OpenEvent(context.Background(), seg, "ev")
	if err != nil {
		return err
	}
	defer e.Close()
	for range rounds {
		c.Point("wait")
		ctx, cancel := mpChildContext(ms)
		err := e.Wait(ctx)
		cancel()
		fmt.Printf("RESULT %s %v\n", mpErrClass(err), e.IsSet())
	}
	return nil
})

// TestMultiprocEvent: Wait times out while the event is clear, Set wakes
// waiters in every process, Clear makes Waits time out again, and a waiter
// that was waiting when Set ran returns even if Clear follows at once.
func TestMultiprocEvent(t *testing.T) {
	seg := testSeg(t)
	e := mustEvent(t, shm.In(seg, "ev"))
	// A timeout while clear.
	if res := mpResult(t, shmtest.Start(t, mpChildTimeout, mpChildEventWait, seg.Name(), "50", "1")); res != "deadline false" {
		t.Fatalf("Wait on a clear event with a 50ms deadline: %s", res)
	}
	// Set wakes waiters in three processes at once.
	var ps []*testproc.Proc
	for range 3 {
		p := shmtest.Start(t, mpChildTimeout, mpChildEventWait, seg.Name(), "0", "1")
		p.WaitPoint("wait")
		ps = append(ps, p)
	}
	for _, p := range ps {
		p.Continue()
	}
	time.Sleep(20 * time.Millisecond) // most likely asleep by now; either way they must return
	if e.IsSet() {
		t.Fatal("IsSet before Set")
	}
	if err := e.Set(); err != nil {
		t.Fatal(err)
	}
	for _, p := range ps {
		if res := mpResult(t, p); res != "nil true" {
			t.Fatalf("waiter woken by Set: %s", res)
		}
	}
	// Set stays set: a later Wait returns at once, even one with a short
	// deadline; Set again changes nothing.
	if err := e.Set(); err != nil || !e.IsSet() {
		t.Fatalf("second Set: %v, IsSet %v", err, e.IsSet())
	}
	if res := mpResult(t, shmtest.Start(t, mpChildTimeout, mpChildEventWait, seg.Name(), "50", "1")); res != "nil true" {
		t.Fatalf("Wait on a set event: %s", res)
	}
	// Clear: Waits time out again.
	if err := e.Clear(); err != nil || e.IsSet() {
		t.Fatalf("Clear: %v, IsSet %v", err, e.IsSet())
	}
	if res := mpResult(t, shmtest.Start(t, mpChildTimeout, mpChildEventWait, seg.Name(), "50", "1")); res != "deadline false" {
		t.Fatalf("Wait on a cleared event: %s", res)
	}
	// Set and Clear at once, while a process waits: it returns nil. The
	// sleepers bit tells that it is inside Wait, past reading the event.
	// (A Wait that timed out above left the bit set: a Set clears it.)
	if err := e.Set(); err != nil {
		t.Fatal(err)
	}
	if err := e.Clear(); err != nil {
		t.Fatal(err)
	}
	if atomic.LoadUint32(e.word)&evSleepers != 0 {
		t.Fatal("sleepers bit still set after Set")
	}
	const pulses = 5
	p := shmtest.Start(t, mpChildTimeout, mpChildEventWait, seg.Name(), "0", strconv.Itoa(pulses))
	for range pulses {
		p.WaitPoint("wait")
		p.Continue()
		mpEventually(t, "the child sleeps on the event", func() bool { return atomic.LoadUint32(e.word)&evSleepers != 0 })
		if err := e.Set(); err != nil {
			t.Fatal(err)
		}
		if err := e.Clear(); err != nil {
			t.Fatal(err)
		}
	}
	res := mpResults(p.Succeed().Output)
	if len(res) != pulses {
		t.Fatalf("%d results, want %d", len(res), pulses)
	}
	for _, r := range res {
		if r[0] != "nil" {
			t.Fatalf("waiter of a Set followed at once by Clear: %v", r)
		}
	}
}

// ---- Cond ----

// mpChildCond uses the Cond "cv" and its mutex ("seg mode timeoutMs"):
//
//	wait:     lock, Wait, count itself in mpWWoken, print "RESULT err held"
//	waitfor:  lock, WaitFor(mpWFlag != 0), print "RESULT err held calls"
//	signal:   lock, Signal
//	notowner: Wait without the mutex, print "RESULT err"
var mpChildCond = segChild("sem-mp-cond", func(c *testproc.Child, seg *shm.Segment, f []string) error {
	ms, err := shmtest.Int(f, 1)
	if err != nil {
		return err
	}
	cv, err := OpenCond(context.Background(), seg, "cv")
	if err != nil {
		return err
	}
	defer cv.Close()
	mu := cv.Mutex()
	defer mu.Close()
	w, err := mpFindWords(seg)
	if err != nil {
		return err
	}
	ctx, cancel := mpChildContext(ms)
	defer cancel()
	switch f[0] {
	case "wait", "waitfor":
		if err := mu.Lock(); err != nil {
			return err
		}
		calls := 0
		if f[0] == "wait" {
			err = cv.Wait(ctx)
		} else {
			err = cv.WaitFor(ctx, func() bool { calls++; return mpLoad(w, mpWFlag) != 0 })
		}
		held := mu.Owner() == os.Getpid()
		atomic.AddUint32(mem.Uint32(w, mpWWoken), 1)
		if f[0] == "wait" {
			fmt.Printf("RESULT %s %v\n", mpErrClass(err), held)
		} else {
			fmt.Printf("RESULT %s %v %d\n", mpErrClass(err), held, calls)
		}
		if held {
			mu.Unlock()
		}
	case "signal":
		if err := mu.Lock(); err != nil {
			return err
		}
		defer mu.Unlock()
		return cv.Signal()
	case "notowner":
		fmt.Printf("RESULT %s\n", mpErrClass(cv.Wait(ctx)))
	default:
		return fmt.Errorf("unknown mode %q", f[0])
	}
	return nil
})

// mpCond makes the Mutex "mu", the Cond "cv" on it and the words block.
func mpCond(t testing.TB, seg *shm.Segment) (*Cond, []byte) {
	t.Helper()
	mu := mustMutex(t, shm.In(seg, "mu"))
	cv := mustCond(t, mu, shm.In(seg, "cv"))
	return cv, mpWords(t, seg)
}

// TestMultiprocCondNotify: with three processes waiting, Signal wakes
// exactly one, Notify(n) exactly n, Notify(0) none, Broadcast the rest;
// a notification with nobody waiting is not kept for a later waiter.
func TestMultiprocCondNotify(t *testing.T) {
	seg := testSeg(t)
	cv, w := mpCond(t, seg)
	woken := func() uint32 { return mpLoad(w, mpWWoken) }
	startWaiters := func(n int) []*testproc.Proc {
		var ps []*testproc.Proc
		for range n {
			ps = append(ps, shmtest.Start(t, mpChildTimeout, mpChildCond, seg.Name(), "wait", "0"))
		}
		mpEventually(t, fmt.Sprintf("%d processes wait", n), func() bool { return cv.Waiting() == n })
		return ps
	}
	ps := startWaiters(3)
	if err := condLocked(t, cv, cv.Signal); err != nil {
		t.Fatal(err)
	}
	mpEventually(t, "Signal woke a waiter", func() bool { return woken() >= 1 })
	mpNeverWithin(t, mpQuiet, "Signal woke more than one waiter", func() bool { return woken() > 1 })
	if n := cv.Waiting(); n != 2 {
		t.Fatalf("Waiting %d after one Signal, want 2", n)
	}
	if err := condLocked(t, cv, func() error { return cv.Notify(0) }); err != nil {
		t.Fatal(err)
	}
	if err := condLocked(t, cv, func() error { return cv.Notify(-1) }); !errors.Is(err, ErrInvalid) {
		t.Fatalf("Notify(-1): %v", err)
	}
	if err := condLocked(t, cv, func() error { return cv.Notify(1) }); err != nil {
		t.Fatal(err)
	}
	mpEventually(t, "Notify(1) woke a waiter", func() bool { return woken() >= 2 })
	mpNeverWithin(t, mpQuiet, "Notify(1) or Notify(0) woke more than one waiter", func() bool { return woken() > 2 })
	if err := condLocked(t, cv, cv.Broadcast); err != nil {
		t.Fatal(err)
	}
	mpEventually(t, "Broadcast woke the last waiter", func() bool { return woken() == 3 })
	for _, p := range ps {
		if res := mpResult(t, p); res != "nil true" {
			t.Fatalf("woken waiter: %s", res)
		}
	}
	// Notify(5) with three waiting wakes all three.
	ps = startWaiters(3)
	if err := condLocked(t, cv, func() error { return cv.Notify(5) }); err != nil {
		t.Fatal(err)
	}
	mpEventually(t, "Notify(5) woke all three", func() bool { return woken() == 6 })
	for _, p := range ps {
		if res := mpResult(t, p); res != "nil true" {
			t.Fatalf("woken waiter: %s", res)
		}
	}
	// Nobody waits: Signal and Broadcast are kept for nobody.
	if err := condLocked(t, cv, cv.Signal); err != nil {
		t.Fatal(err)
	}
	if err := condLocked(t, cv, cv.Broadcast); err != nil {
		t.Fatal(err)
	}
	ps = startWaiters(2)
	mpNeverWithin(t, mpQuiet, "a waiter returned without a notification", func() bool { return woken() > 6 })
	if err := condLocked(t, cv, cv.Broadcast); err != nil {
		t.Fatal(err)
	}
	for _, p := range ps {
		if res := mpResult(t, p); res != "nil true" {
			t.Fatalf("woken waiter: %s", res)
		}
	}
	if n := cv.Waiting(); n != 0 || woken() != 8 {
		t.Fatalf("Waiting %d, woken %d at the end, want 0 and 8", n, woken())
	}
}

// TestMultiprocCondWait: Wait needs the mutex held by this process; a Wait
// whose deadline passes re-takes the mutex before it returns, even when
// another process holds it; WaitFor waits until its predicate holds; a
// Signal from another process wakes a waiter here.
func TestMultiprocCondWait(t *testing.T) {
	seg := testSeg(t)
	cv, w := mpCond(t, seg)
	mu := cv.Mutex()
	ctx := mpContext(t)
	// Without the mutex, here and in a child (while we hold it).
	if err := cv.Wait(ctx); !errors.Is(err, ErrNotOwner) {
		t.Fatalf("Wait without the mutex: %v", err)
	}
	if err := mu.Lock(); err != nil {
		t.Fatal(err)
	}
	if res := mpResult(t, shmtest.Start(t, mpChildTimeout, mpChildCond, seg.Name(), "notowner", "0")); res != "notowner" {
		t.Fatalf("child's Wait on a mutex we hold: %s", res)
	}
	mu.Unlock()
	p := shmtest.Start(t, mpChildTimeout, mpChildHold, seg.Name(), "mutex", "mu", "1")
	p.WaitPoint("locked")
	if err := cv.Wait(ctx); !errors.Is(err, ErrNotOwner) || cv.Waiting() != 0 {
		t.Fatalf("Wait on a mutex a child holds: %v, Waiting %d", err, cv.Waiting())
	}
	p.Succeed()

	// A timed-out Wait re-takes the mutex, waiting for us to unlock it. We
	// must lock it before the child's deadline passes; if we were too slow
	// (the child had the mutex first), try again with a longer deadline.
	for ms := 150; ; ms *= 4 {
		woken := mpLoad(w, mpWWoken)
		p = shmtest.Start(t, mpChildTimeout, mpChildCond, seg.Name(), "wait", strconv.Itoa(ms))
		mpEventually(t, "the child waits", func() bool { return cv.Waiting() == 1 })
		if err := mu.Lock(); err != nil {
			t.Fatal(err)
		}
		late := mpLoad(w, mpWWoken) != woken
		if !late {
			// It gives up waiting under the mutex: it still counts till then.
			mpEventually(t, "the child's deadline passed and it sleeps on the mutex", func() bool { return mpContended(&mu.l) })
			if mpLoad(w, mpWWoken) != woken {
				t.Fatal("the timed-out Wait returned without the mutex")
			}
		}
		mu.Unlock()
		if res := mpResult(t, p); res != "deadline true" {
			t.Fatalf("timed-out Wait: %s, want deadline and the mutex held", res)
		}
		if n := cv.Waiting(); n != 0 {
			t.Fatalf("Waiting %d after the timed-out Wait returned", n)
		}
		if o := mu.Owner(); o != 0 {
			t.Fatalf("Owner %d after the child unlocked", o)
		}
		if !late {
			break
		}
		if ms > 10_000 {
			t.Fatalf("could not lock the mutex within %dms of the child's Wait", ms)
		}
		t.Logf("the child's deadline of %dms passed before we locked the mutex; again", ms)
	}

	// WaitFor: a Broadcast while the predicate is false sends it back to
	// waiting; one after it became true lets it return. No spurious
	// wake-ups: the predicate is called exactly three times.
	p = shmtest.Start(t, mpChildTimeout, mpChildCond, seg.Name(), "waitfor", "0")
	mpEventually(t, "the child waits", func() bool { return cv.Waiting() == 1 })
	if err := condLocked(t, cv, cv.Broadcast); err != nil {
		t.Fatal(err)
	}
	mpEventually(t, "the child waits again", func() bool { return cv.Waiting() == 1 })
	if err := mu.Lock(); err != nil {
		t.Fatal(err)
	}
	atomic.StoreUint32(mem.Uint32(w, mpWFlag), 1)
	if err := cv.Signal(); err != nil {
		t.Fatal(err)
	}
	mu.Unlock()
	if res := mpResult(t, p); res != "nil true 3" {
		t.Fatalf("WaitFor: %s, want nil, the mutex held and 3 calls of the predicate", res)
	}

	// A Signal from a child wakes a waiter here.
	if err := mu.Lock(); err != nil {
		t.Fatal(err)
	}
	got := make(chan error, 1)
	go func() { got <- cv.Wait(ctx) }()
	mpEventually(t, "this process waits", func() bool { return cv.Waiting() == 1 })
	shmtest.Start(t, mpChildTimeout, mpChildCond, seg.Name(), "signal", "0").Succeed()
	if err := mpRecv(t, got, "Wait"); err != nil {
		t.Fatal(err)
	}
	if o := mu.Owner(); o != os.Getpid() {
		t.Fatalf("Owner %d after Wait returned, want this process", o)
	}
	mu.Unlock()
}

// ---- Barrier ----

// mpChildBarrier waits rounds times ("seg rounds timeoutMs") at the
// barrier "bar", after stopping at "go", and prints "RESULT round index
// err" for each; it stops at the first error.
var mpChildBarrier = segChild("sem-mp-barrier", func(c *testproc.Child, seg *shm.Segment, f []string) error {
	args, err := childInts(f, 0, 1)
	if err != nil {
		return err
	}
	rounds, ms := args[0], args[1]
	x, err := OpenBarrier(context.Background(), seg, "bar")
	if err != nil {
		return err
	}
	defer x.Close()
	c.Point("go")
	for r := range rounds {
		ctx, cancel := mpChildContext(ms)
		i, err := x.Wait(ctx)
		cancel()
		fmt.Printf("RESULT %d %d %s\n", r, i, mpErrClass(err))
		if err != nil {
			break
		}
	}
	return nil
})

// mpGoAll lets the children ps go together, once each has reached "go".
func mpGoAll(ps []*testproc.Proc) {
	for _, p := range ps {
		p.WaitPoint("go")
	}
	for _, p := range ps {
		p.Continue()
	}
}

// mpBarrierChildren starts n barrier children and lets them go.
func mpBarrierChildren(t testing.TB, seg *shm.Segment, n, rounds, ms int) []*testproc.Proc {
	t.Helper()
	var ps []*testproc.Proc
	for range n {
		ps = append(ps, shmtest.Start(t, mpChildTimeout, mpChildBarrier, seg.Name(), strconv.Itoa(rounds), strconv.Itoa(ms)))
	}
	mpGoAll(ps)
	return ps
}

// mpBarrierRound has the children (each waiting once more) and this
// process wait together at x, and checks the indices are 0..parties-1.
func mpBarrierRound(t testing.TB, x *Barrier, ps []*testproc.Proc) {
	t.Helper()
	i, err := x.Wait(mpContext(t))
	if err != nil {
		t.Fatalf("Wait: %v", err)
	}
	idx := []int{i}
	for _, p := range ps {
		res := mpResult(t, p)
		var r, j int
		var class string
		if _, err := fmt.Sscanf(res, "%d %d %s", &r, &j, &class); err != nil || class != "nil" {
			t.Fatalf("child's Wait: %q", res)
		}
		idx = append(idx, j)
	}
	mpCheckIndices(t, 0, idx, x.Parties())
}

// mpCheckIndices fails unless idx is a permutation of 0..parties-1.
func mpCheckIndices(t testing.TB, round int, idx []int, parties int) {
	t.Helper()
	s := slices.Sorted(slices.Values(idx))
	for k, v := range s {
		if v != k || len(s) != parties {
			t.Fatalf("round %d: arrival indices %v, want 0..%d once each", round, idx, parties-1)
		}
	}
}

// TestMultiprocBarrierRounds: three processes and the test pass a barrier
// of 4 twenty times; each round hands out the indices 0..3 once each.
func TestMultiprocBarrierRounds(t *testing.T) {
	const rounds, parties = 20, 4
	seg := testSeg(t)
	x := mustBarrier(t, parties, shm.In(seg, "bar"))
	if x.Parties() != parties || x.Waiting() != 0 || x.Broken() {
		t.Fatalf("new barrier: %v", x)
	}
	ps := mpBarrierChildren(t, seg, parties-1, rounds, 0)
	idx := make([][]int, rounds)
	ctx := mpContext(t)
	for r := range rounds {
		i, err := x.Wait(ctx)
		if err != nil {
			t.Fatalf("round %d: %v", r, err)
		}
		idx[r] = append(idx[r], i)
	}
	for _, p := range ps {
		res := mpResults(p.Succeed().Output)
		if len(res) != rounds {
			t.Fatalf("child printed %d results, want %d", len(res), rounds)
		}
		for r, f := range res {
			j, _ := strconv.Atoi(f[1])
			if f[0] != strconv.Itoa(r) || f[2] != "nil" {
				t.Fatalf("child's round %d: %v", r, f)
			}
			idx[r] = append(idx[r], j)
		}
	}
	for r := range rounds {
		mpCheckIndices(t, r, idx[r], parties)
	}
	if x.Waiting() != 0 || x.Broken() {
		t.Fatalf("after the rounds: %v", x)
	}
}

// TestMultiprocBarrierBreak: Abort, Reset and a waiter's deadline break a
// barrier for waiters in other processes; a broken barrier fails every Wait
// at once until Reset, after which it works again.
func TestMultiprocBarrierBreak(t *testing.T) {
	seg, x := barrier3(t)
	ctx := mpContext(t)
	checkBroken := func(ps []*testproc.Proc, want string) {
		t.Helper()
		for _, p := range ps {
			if res := mpResult(t, p); !strings.HasSuffix(res, " "+want) {
				t.Fatalf("child's Wait: %q, want %s", res, want)
			}
		}
	}
	works := func() {
		t.Helper()
		if x.Broken() || x.Waiting() != 0 {
			t.Fatalf("barrier to use: %v", x)
		}
		mpBarrierRound(t, x, mpBarrierChildren(t, seg, 2, 1, 0))
	}
	works()

	// Abort with one process waiting.
	ps := mpBarrierChildren(t, seg, 1, 1, 0)
	mpEventually(t, "the child waits", func() bool { return x.Waiting() == 1 })
	if err := x.Abort(); err != nil {
		t.Fatal(err)
	}
	checkBroken(ps, "broken")
	if !x.Broken() || x.Waiting() != 0 {
		t.Fatalf("after Abort: %v", x)
	}
	if _, err := x.Wait(ctx); !errors.Is(err, ErrBrokenBarrier) {
		t.Fatalf("Wait at an aborted barrier: %v", err)
	}
	checkBroken(mpBarrierChildren(t, seg, 1, 1, 0), "broken")
	if err := x.Reset(); err != nil {
		t.Fatal(err)
	}
	works()

	// Reset with two processes waiting: they get ErrBrokenBarrier, the
	// barrier is not broken afterwards.
	ps = mpBarrierChildren(t, seg, 2, 1, 0)
	mpEventually(t, "both children wait", func() bool { return x.Waiting() == 2 })
	if err := x.Reset(); err != nil {
		t.Fatal(err)
	}
	checkBroken(ps, "broken")
	works()

	// A waiter's deadline breaks it for the others.
	ps = mpBarrierChildren(t, seg, 1, 1, 0)
	mpEventually(t, "the first child waits", func() bool { return x.Waiting() == 1 })
	checkBroken(mpBarrierChildren(t, seg, 1, 1, 100), "broken+deadline")
	checkBroken(ps, "broken")
	if !x.Broken() {
		t.Fatal("a timed-out Wait did not break the barrier")
	}
	if err := x.Reset(); err != nil {
		t.Fatal(err)
	}
	works()

	// Our own deadline, with a child waiting.
	ps = mpBarrierChildren(t, seg, 1, 1, 0)
	mpEventually(t, "the child waits", func() bool { return x.Waiting() == 1 })
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	_, err := x.Wait(short)
	cancel()
	if !errors.Is(err, ErrBrokenBarrier) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Wait timing out: %v, want ErrBrokenBarrier and DeadlineExceeded", err)
	}
	checkBroken(ps, "broken")
	if err := x.Reset(); err != nil {
		t.Fatal(err)
	}
	works()
}

// TestMultiprocBarrierSlowParty: a party that took its arrival index but
// has not yet recorded itself in its slot (a few instructions in Wait) is
// given unwrittenGrace before the others take it for dead. Here this
// process plays that party, by taking index 0 the way Wait does, while a
// child waits at index 1; after 100ms it records itself and the third
// party arrives: the round must be released, in the first round of a new
// barrier as in later ones.
func TestMultiprocBarrierSlowParty(t *testing.T) {
	for _, warm := range []bool{true, false} {
		t.Run(fmt.Sprintf("after_a_round=%v", warm), func(t *testing.T) {
			seg, x := barrier3(t)
			if warm {
				mpBarrierRound(t, x, mpBarrierChildren(t, seg, 2, 1, 0))
			}
			self, err := me()
			if err != nil {
				t.Fatal(err)
			}
			st := atomic.AddUint64(x.state, 1) // index 0 taken, slot not yet written
			p := shmtest.Start(t, mpChildTimeout, mpChildBarrier, seg.Name(), "1", "0")
			p.WaitPoint("go")
			p.Continue()
			mpEventually(t, "the child waits", func() bool { return x.Waiting() == 2 || x.Broken() })
			time.Sleep(100 * time.Millisecond) // several of its rechecks, well within unwrittenGrace
			x.record(0, self, round(st))
			i, err := x.Wait(mpContext(t)) // the third party
			res := mpResult(t, p)
			if err != nil || i != 2 || res != "0 1 nil" {
				t.Fatalf("BUG: a live party slow to record itself was taken for dead in round %d: "+
					"child's Wait %q (want \"0 1 nil\"), third party's Wait %d %v", round(st), res, i, err)
			}
		})
	}
}

// ---- Kinds and handles ----

// mpChildOpenKinds opens every object of TestMultiprocOpenKinds with every
// Open function: the right kind must open, every wrong one fail with
// shm.ErrKind, a missing name with shm.ErrNotExist.
var mpChildOpenKinds = segChild("sem-mp-open-kinds", func(c *testproc.Child, seg *shm.Segment, _ []string) error {
	type closer interface{ Close() error }
	opens := map[string]func(context.Context, string) (closer, error){
		"mutex":   func(ctx context.Context, n string) (closer, error) { return OpenMutex(ctx, seg, n) },
		"rlock":   func(ctx context.Context, n string) (closer, error) { return OpenRLock(ctx, seg, n) },
		"sem":     func(ctx context.Context, n string) (closer, error) { return Open(ctx, seg, n) },
		"event":   func(ctx context.Context, n string) (closer, error) { return OpenEvent(ctx, seg, n) },
		"cond":    func(ctx context.Context, n string) (closer, error) { return OpenCond(ctx, seg, n) },
		"barrier": func(ctx context.Context, n string) (closer, error) { return OpenBarrier(ctx, seg, n) },
	}
	ctx := context.Background()
	var errs []error
	for kind, open := range opens {
		for name := range opens {
			x, err := open(ctx, name)
			switch {
			case name == kind && err != nil:
				errs = append(errs, fmt.Errorf("opening %s %q: %w", kind, name, err))
			case name != kind && !errors.Is(err, shm.ErrKind):
				errs = append(errs, fmt.Errorf("opening the %s as a %s: %v, want shm.ErrKind", name, kind, err))
			}
			if err == nil {
				x.Close()
			}
		}
		// A name never made is waited for until the deadline.
		short, cancel := context.WithTimeout(ctx, 30*time.Millisecond)
		_, err := open(short, "missing")
		cancel()
		if !errors.Is(err, shm.ErrNotExist) || !errors.Is(err, context.DeadlineExceeded) {
			errs = append(errs, fmt.Errorf("opening a missing %s: %v, want shm.ErrNotExist and DeadlineExceeded", kind, err))
		}
		if _, err := open(ctx, "words"); !errors.Is(err, shm.ErrKind) {
			errs = append(errs, fmt.Errorf("opening a bytes object as a %s: %v, want shm.ErrKind", kind, err))
		}
	}
	return errors.Join(errs...)
})

// TestMultiprocOpenKinds: another process opens each object by name as its
// own kind only.
func TestMultiprocOpenKinds(t *testing.T) {
	seg := testSeg(t)
	mu := mustMutex(t, shm.In(seg, "mutex"))
	for _, err := range []error{
		func() error { _, err := NewRLock(shm.In(seg, "rlock")); return err }(),
		func() error { _, err := New(1, shm.In(seg, "sem")); return err }(),
		func() error { _, err := NewEvent(shm.In(seg, "event")); return err }(),
		func() error { _, err := NewCond(mu, shm.In(seg, "cond")); return err }(),
		func() error { _, err := NewBarrier(2, shm.In(seg, "barrier")); return err }(),
	} {
		if err != nil {
			t.Fatal(err)
		}
	}
	mpWords(t, seg)
	shmtest.Start(t, mpChildTimeout, mpChildOpenKinds, seg.Name()).Succeed()
}

// mpHandles are the hex-encoded handles TestMultiprocHandles passes.
type mpHandles struct {
	mu, r, sem, ev, cv, bar string
}

func (h mpHandles) String() string {
	return strings.Join([]string{h.mu, h.r, h.sem, h.ev, h.cv, h.bar}, " ")
}

func mpHex(t testing.TB, m interface{ MarshalBinary() ([]byte, error) }) string {
	t.Helper()
	b, err := m.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// mpChildHandles attaches to the objects whose handles it is given ("seg
// parentpid mu r sem ev cv bar", seg "-" when the segment is passed as
// file 0) with UnmarshalBinary on zero values and uses them with the
// parent: see TestMultiprocHandles.
var mpChildHandles = testproc.Register("sem-mp-handles", func(c *testproc.Child) error {
	f := strings.Fields(c.Arg())
	if len(f) != 8 {
		return fmt.Errorf("argument %q", c.Arg())
	}
	var seg *shm.Segment
	if c.NumFiles() > 0 {
		s, err := shm.FromFile(c.File(0))
		if err != nil {
			return err
		}
		seg = s
	}
	parent, err := strconv.Atoi(f[1])
	if err != nil {
		return err
	}
	dec := func(i int, into interface{ UnmarshalBinary([]byte) error }) error {
		b, err := hex.DecodeString(f[i])
		if err != nil {
			return err
		}
		return into.UnmarshalBinary(b)
	}
	var (
		mu  Mutex
		r   RLock
		s   Semaphore
		ev  Event
		cv  Cond
		bar Barrier
	)
	for i, x := range []interface{ UnmarshalBinary([]byte) error }{&mu, &r, &s, &ev, &cv, &bar} {
		if err := dec(2+i, x); err != nil {
			return fmt.Errorf("attaching %T: %w", x, err)
		}
	}
	if seg == nil {
		seg = mu.o.Segment() // Resolve opened it by name: close it at the end
	}
	defer seg.Close()
	// Attaching through the wrong type fails with ErrKind.
	var wrong Event
	if err := dec(2, &wrong); !errors.Is(err, shm.ErrKind) {
		return fmt.Errorf("a Mutex's handle into an Event: %v, want shm.ErrKind", err)
	}
	if mu.Owner() != parent || r.Owner() != parent || r.Depth() != 2 {
		return fmt.Errorf("locks the parent holds: %v %v", &mu, &r)
	}
	if err := mu.TryLock(); !errors.Is(err, ErrWouldBlock) {
		return fmt.Errorf("TryLock of the parent's mutex: %v", err)
	}
	if s.Value() != 3 || s.TryAcquire(1) != nil {
		return fmt.Errorf("semaphore: %v", &s)
	}
	if ev.IsSet() {
		return errors.New("event set already")
	}
	if cv.Waiting() != 1 || cv.Mutex().Handle() != mu.Handle() {
		return fmt.Errorf("cond: %v on %v, want one waiter and the mutex %v", &cv, cv.Mutex().Handle(), mu.Handle())
	}
	if err := cv.Signal(); !errors.Is(err, ErrNotOwner) {
		return fmt.Errorf("Signal with the parent holding the mutex: %v, want ErrNotOwner", err)
	}
	if err := ev.Set(); err != nil {
		return err
	}
	ctx, cancel := mpChildContext(0)
	defer cancel()
	i, err := bar.Wait(ctx)
	if err != nil {
		return fmt.Errorf("barrier: %w", err)
	}
	fmt.Printf("RESULT %d\n", i)
	for _, x := range []interface{ Close() error }{&mu, &r, &s, &ev, &cv, cv.Mutex(), &bar} {
		x.Close()
	}
	return nil
})

// TestMultiprocHandles: objects travel to another process as handles
// (MarshalBinary), and the child's zero values attach to the same shared
// objects with UnmarshalBinary: in a named segment (opened by name), an
// anonymous one and the default heap (both passed as files).
func TestMultiprocHandles(t *testing.T) {
	anon, err := shm.Anonymous(1 << 20)
	if err != nil {
		t.Fatal(err)
	}
	defer anon.Close()
	for _, tc := range []struct {
		name string
		seg  *shm.Segment // nil: the default heap
	}{{"named", testSeg(t)}, {"anonymous", anon}, {"default-heap", nil}} {
		t.Run(tc.name, func(t *testing.T) {
			var opts []shm.Option
			if tc.seg != nil {
				opts = append(opts, shm.In(tc.seg, ""))
			}
			mu := mustMutex(t, opts...)
			r := mustRLock(t, opts...)
			s, err := New(3, opts...)
			if err != nil {
				t.Fatal(err)
			}
			ev := mustEvent(t, opts...)
			cv, err := NewCond(mu) // in mu's segment
			if err != nil {
				t.Fatal(err)
			}
			bar := mustBarrier(t, 2, opts...)
			seg := mu.o.Segment()
			for _, x := range []*shm.Object{r.o, s.o, ev.o, cv.o, bar.o} {
				if x.Segment().ID() != seg.ID() {
					t.Fatalf("objects in different segments")
				}
			}
			if mu.Name() != "" {
				t.Fatalf("unnamed mutex has name %q", mu.Name())
			}
			var files []*os.File
			segArg := seg.Name()
			if segArg == "" {
				segArg = "-"
				files = append(files, seg.File())
			}
			h := mpHandles{mpHex(t, mu), mpHex(t, r), mpHex(t, s), mpHex(t, ev), mpHex(t, cv), mpHex(t, bar)}
			ctx := mpContext(t)
			if err := mu.Lock(); err != nil {
				t.Fatal(err)
			}
			for range 2 {
				if err := r.Lock(); err != nil {
					t.Fatal(err)
				}
			}
			// A goroutine waits on the Cond, for our Signal (the child's
			// is refused: we hold the mutex). Wait needs the mutex, which
			// we hold for the child to see: lock it again once it waits.
			waited := make(chan error, 1)
			var wg sync.WaitGroup
			wg.Go(func() {
				waited <- cv.Wait(ctx) // we hold mu: Wait releases it...
			})
			mpEventually(t, "the goroutine waits", func() bool { return cv.Waiting() == 1 })
			// ...so lock it again for the child to find it held.
			if err := mu.Lock(); err != nil {
				t.Fatal(err)
			}
			p := testproc.Start(t, mpChildHandles, testproc.Arg(fmt.Sprintf("%s %d %s", segArg, os.Getpid(), h)),
				testproc.Files(files...), testproc.Timeout(mpChildTimeout))
			i, err := bar.Wait(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if res := mpResult(t, p); res != strconv.Itoa(1-i) {
				t.Fatalf("barrier indices: child %s, this process %d", res, i)
			}
			if s.Value() != 2 || !ev.IsSet() {
				t.Fatalf("after the child: %v %v", s, ev)
			}
			if err := cv.Signal(); err != nil {
				t.Fatal(err)
			}
			mu.Unlock() // let the woken waiter re-take it
			if err := mpRecv(t, waited, "Cond.Wait"); err != nil {
				t.Fatal(err)
			}
			wg.Wait()
			mu.Unlock()
			r.Unlock()
			r.Unlock()
			if mu.Owner() != 0 || r.Owner() != 0 {
				t.Fatalf("after unlocking: %v %v", mu, r)
			}
		})
	}
}

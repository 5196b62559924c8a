//go:build linux && (amd64 || arm64)

package semaphore

// Cond's behaviour, after Go's sync/cond_test.go, CPython's
// Lib/test/lock_tests.py (ConditionTests) and the _TestCondition class of
// Lib/test/_test_multiprocessing.py, written as shmkit's own tests:
// waiters are goroutines where the original uses threads, processes (and
// goroutines beside them) where it uses processes. Then the cases those
// suites do not reach: wake-ups taken by later arrivals, waiters that give
// up or die in the queue, and queues longer than the ring.

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime"
	"slices"
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

// condLocked calls f (a notification) with cv's lock held.
func condLocked(t testing.TB, cv *Cond, f func() error) error {
	t.Helper()
	if err := cv.L().Lock(); err != nil {
		t.Fatal(err)
	}
	defer cv.L().Unlock()
	return f()
}

// condSignalWakes signals cv with its mutex held, and fails t unless the
// waiter on ch (what) then returns nil.
func condSignalWakes(t testing.TB, cv *Cond, ch <-chan error, what string) {
	t.Helper()
	if err := condLocked(t, cv, cv.Signal); err != nil {
		t.Fatal(err)
	}
	if err := mpRecv(t, ch, what); err != nil {
		t.Fatal(err)
	}
}

// newTestCond makes a Mutex and a Cond on it with a ring of slots slots
// (0: the default), unnamed in the default heap.
func newTestCond(t testing.TB, slots uint32) *Cond {
	t.Helper()
	mu := mustMutex(t)
	if slots == 0 {
		slots = condSlots
	}
	cv, err := newCond(mu, slots, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cv.Free(); mu.Free() })
	return cv
}

// condWaiter starts a goroutine that locks cv's mutex, runs before (if
// any) and Waits with ctx, and sends Wait's error once it has unlocked
// again. It returns when the goroutine waits.
func condWaiter(t testing.TB, ctx context.Context, cv *Cond, before func()) <-chan error {
	t.Helper()
	n := cv.Waiting()
	ch := make(chan error, 1)
	ctx = condGoroutine(t, ctx)
	go func() {
		defer condExited(ctx)
		if err := cv.L().LockContext(ctx); err != nil {
			ch <- err
			return
		}
		if before != nil {
			before()
		}
		err := cv.Wait(ctx)
		if cv.L().Owner() != os.Getpid() {
			err = errors.Join(err, errors.New("Wait returned without the lock"))
		} else {
			cv.L().Unlock()
		}
		ch <- err
	}()
	mpEventually(t, "a goroutine waits", func() bool { return cv.Waiting() == n+1 })
	return ch
}

// condGoroutine derives the context of a waiter goroutine from ctx: the
// test's end cancels it, and waits a while for the goroutine to call
// condExited, so that the segment is not unmapped under it when a test
// fails early.
func condGoroutine(t testing.TB, ctx context.Context) context.Context {
	ctx, cancel := context.WithCancel(ctx)
	exited := make(chan struct{})
	t.Cleanup(func() {
		cancel()
		select {
		case <-exited:
		case <-time.After(5 * time.Second):
		}
	})
	return context.WithValue(ctx, exitedKey{}, exited)
}

type exitedKey struct{}

func condExited(ctx context.Context) { close(ctx.Value(exitedKey{}).(chan struct{})) }

// mustNotReturn fails the test if a value arrives on ch within mpQuiet.
func mustNotReturn(t testing.TB, ch <-chan error, what string) {
	t.Helper()
	select {
	case err := <-ch:
		t.Fatalf("%s (it returned %v)", what, err)
	case <-time.After(mpQuiet):
	}
}

// ---- Go's sync/cond_test.go ----

// TestCondGoSignal: each Signal wakes exactly one of the waiters.
func TestCondGoSignal(t *testing.T) {
	cv := newTestCond(t, 0)
	ctx := mpContext(t)
	const n = 4
	var waits []<-chan error
	for range n {
		waits = append(waits, condWaiter(t, ctx, cv, nil))
	}
	for left := n; left > 0; left-- {
		if err := condLocked(t, cv, cv.Signal); err != nil {
			t.Fatal(err)
		}
		i, err := recvAny(t, waits, "a waiter woken by Signal")
		if err != nil {
			t.Fatal(err)
		}
		waits = slices.Delete(waits, i, i+1)
		for _, w := range waits {
			mustNotReturn(t, w, "one Signal woke two waiters")
		}
	}
	if err := condLocked(t, cv, cv.Signal); err != nil { // nobody waits
		t.Fatal(err)
	}
}

// recvAny waits for the first of chans to deliver, returning which.
func recvAny(t testing.TB, chans []<-chan error, what string) (int, error) {
	t.Helper()
	deadline := time.After(mpTimeout)
	for {
		for i, ch := range chans {
			select {
			case err := <-ch:
				return i, err
			default:
			}
		}
		select {
		case <-deadline:
			t.Fatalf("after %v, still not: %s", mpTimeout, what)
		case <-time.After(time.Millisecond):
		}
	}
}

// TestCondGoSignalGenerations: each Signal wakes the waiter that has
// waited longest, even when a newer waiter arrives before the woken one
// has run: the newer one never takes the older one's wake-up.
func TestCondGoSignalGenerations(t *testing.T) {
	cv := newTestCond(t, 0)
	mu := cv.Mutex()
	ctx := mpContext(t)
	const n = 100
	awake := make(chan int, n)
	running := make(chan struct{}, n)
	// Every goroutine has unlocked before the test ends and frees mu: one
	// still to unlock would unlock the next user of the freed block.
	var wg sync.WaitGroup
	defer wg.Wait()
	for i := range n {
		wg.Go(func() {
			if err := mu.Lock(); err != nil {
				t.Error(err)
				return
			}
			running <- struct{}{}
			if err := cv.Wait(ctx); err != nil {
				t.Error(err)
			}
			awake <- i
			mu.Unlock()
		})
		if i > 0 {
			select {
			case a := <-awake:
				if a != i-1 {
					t.Fatalf("wrong goroutine woke up: want %d, got %d", i-1, a)
				}
			case <-time.After(mpTimeout):
				t.Fatalf("goroutine %d not woken", i-1)
			}
		}
		<-running
		if err := condLocked(t, cv, cv.Signal); err != nil { // i waits: it held mu
			t.Fatal(err)
		}
	}
	select {
	case a := <-awake:
		if a != n-1 {
			t.Fatalf("wrong goroutine woke up: want %d, got %d", n-1, a)
		}
	case <-time.After(mpTimeout):
		t.Fatalf("goroutine %d not woken", n-1)
	}
}

// TestCondGoBroadcast: n goroutines wait, are woken by a Broadcast and
// wait again, n times: each Broadcast wakes every one of them exactly
// once, the ones that wait again before the others have woken included.
func TestCondGoBroadcast(t *testing.T) {
	for _, slots := range []uint32{0, 8} {
		t.Run(fmt.Sprintf("slots=%d", slots), func(t *testing.T) {
			cv := newTestCond(t, slots)
			mu := cv.Mutex()
			ctx := mpContext(t)
			ctx, cancel := context.WithCancel(ctx)
			defer cancel() // a failed test's goroutines stop quietly
			const n = 50
			running := make(chan int, n)
			awake := make(chan int, n)
			exit := false
			var wg sync.WaitGroup
			for g := range n {
				wg.Go(func() {
					if err := mu.Lock(); err != nil {
						t.Error(err)
						return
					}
					for !exit {
						running <- g
						if err := cv.Wait(ctx); err != nil {
							if ctx.Err() == nil {
								t.Error(err)
							}
							break
						}
						awake <- g
					}
					mu.Unlock()
				})
			}
			for round := range n {
				for range n {
					select {
					case <-running:
					case <-time.After(mpTimeout):
						t.Fatalf("round %d: not all goroutines run", round)
					}
				}
				mpEventually(t, "all wait", func() bool { return cv.Waiting() == n })
				if round == n-1 {
					mu.Lock()
					exit = true
					mu.Unlock()
				}
				select {
				case <-awake:
					t.Fatal("goroutine not asleep")
				default:
				}
				if err := condLocked(t, cv, cv.Broadcast); err != nil {
					t.Fatal(err)
				}
				seen := make([]bool, n)
				for range n {
					select {
					case g := <-awake:
						if seen[g] {
							t.Fatalf("round %d: goroutine %d woke up twice", round, g)
						}
						seen[g] = true
					case <-time.After(mpTimeout):
						t.Fatalf("round %d: not all woken", round)
					}
				}
			}
			wg.Wait()
			select {
			case <-running:
				t.Fatal("goroutine did not exit")
			default:
			}
		})
	}
}

// TestCondGoRace: the mutex is released inside Wait and held again when
// it returns (the race detector checks the plain variable x).
func TestCondGoRace(t *testing.T) {
	cv := newTestCond(t, 0)
	mu := cv.Mutex()
	ctx := mpContext(t)
	x := 0
	done := make(chan bool, 3)
	lock := func() {
		if err := mu.Lock(); err != nil {
			t.Error(err)
		}
	}
	go func() {
		lock()
		x = 1
		if err := cv.Wait(ctx); err != nil {
			t.Error(err)
		}
		if x != 2 {
			t.Errorf("x = %d, want 2", x)
		}
		x = 3
		if err := cv.Signal(); err != nil {
			t.Error(err)
		}
		mu.Unlock()
		done <- true
	}()
	go func() {
		lock()
		for {
			if x == 1 {
				x = 2
				if err := cv.Signal(); err != nil {
					t.Error(err)
				}
				break
			}
			mu.Unlock()
			runtime.Gosched()
			lock()
		}
		mu.Unlock()
		done <- true
	}()
	go func() {
		lock()
		for {
			if x == 2 {
				if err := cv.Wait(ctx); err != nil {
					t.Error(err)
				}
				if x != 3 {
					t.Errorf("x = %d, want 3", x)
				}
				break
			}
			if x == 3 {
				break
			}
			mu.Unlock()
			runtime.Gosched()
			lock()
		}
		mu.Unlock()
		done <- true
	}()
	for range 3 {
		select {
		case <-done:
		case <-time.After(mpTimeout):
			t.Fatal("a goroutine is stuck")
		}
	}
}

// TestCondGoSignalStealing: a Broadcast racing with a new waiter wakes the
// waiter that was there before it, whatever the new one does.
func TestCondGoSignalStealing(t *testing.T) {
	cv := newTestCond(t, 0)
	mu := cv.Mutex()
	ctx := mpContext(t)
	for iter := range 200 {
		first := condWaiter(t, ctx, cv, nil)
		done := false
		go func() {
			if err := condLocked(t, cv, cv.Broadcast); err != nil {
				t.Error(err)
			}
		}()
		second := make(chan error, 1)
		go func() {
			var err error
			if err = mu.Lock(); err == nil {
				for !done && err == nil {
					err = cv.Wait(ctx)
				}
				mu.Unlock()
			}
			second <- err
		}()
		select {
		case err := <-first:
			if err != nil {
				t.Fatal(err)
			}
		case <-time.After(mpTimeout):
			t.Fatalf("iteration %d: the first waiter was not woken", iter)
		}
		mu.Lock()
		done = true
		if err := cv.Broadcast(); err != nil {
			t.Fatal(err)
		}
		mu.Unlock()
		if err := mpRecv(t, second, "the second waiter"); err != nil {
			t.Fatal(err)
		}
	}
}

// ---- CPython's lock_tests.py ConditionTests ----

// TestCondPyAcquire: the Cond's lock is its mutex.
func TestCondPyAcquire(t *testing.T) {
	cv := newTestCond(t, 0)
	mu := cv.Mutex()
	if err := mu.Lock(); err != nil {
		t.Fatal(err)
	}
	if err := cv.Mutex().TryLock(); !errors.Is(err, ErrWouldBlock) {
		t.Fatalf("TryLock of the held mutex: %v", err)
	}
	mu.Unlock()
	if err := cv.Mutex().TryLock(); err != nil {
		t.Fatalf("TryLock of the free mutex: %v", err)
	}
	mu.Unlock()
}

// TestCondPyUnacquired: Wait, Signal, Broadcast and Notify need the mutex,
// held by this process: not at all held, or held by another process, they
// fail with ErrNotOwner and change nothing; on a Mutex and on an RLock.
func TestCondPyUnacquired(t *testing.T) {
	cpEach(t, func(t *testing.T, k condKind) {
		seg := testSeg(t)
		cv, _ := cpCondOn(t, seg, 0, k)
		ctx := mpContext(t)
		calls := map[string]func() error{
			"Wait":      func() error { return cv.Wait(ctx) },
			"Signal":    cv.Signal,
			"Broadcast": cv.Broadcast,
			"Notify":    func() error { return cv.Notify(1) },
		}
		check := func(how string) {
			t.Helper()
			for name, f := range calls {
				if err := f(); !errors.Is(err, ErrNotOwner) {
					t.Errorf("%s %s: %v, want ErrNotOwner", name, how, err)
				}
			}
		}
		check("without the mutex")
		// A waiter is not woken by a refused Signal.
		w := condWaiter(t, ctx, cv, nil)
		check("without the mutex, a goroutine waiting")
		mustNotReturn(t, w, "a refused notification woke a waiter")
		if n := cv.Waiting(); n != 1 {
			t.Fatalf("Waiting %d, want 1", n)
		}
		p := shmtest.Start(t, mpChildTimeout, cpChild, seg.Name(), "hold", "0", "0")
		p.WaitPoint("locked")
		check("with the mutex held by another process")
		p.Continue()
		p.Succeed()
		mustNotReturn(t, w, "a refused notification woke a waiter")
		// And in a child, while we hold it.
		if err := cv.L().Lock(); err != nil {
			t.Fatal(err)
		}
		res := mpResult(t, shmtest.Start(t, mpChildTimeout, cpChild, seg.Name(), "unacquired", "0", "0"))
		if res != "notowner notowner notowner notowner" {
			t.Fatalf("the child's Wait, Signal, Broadcast, Notify while we hold the mutex: %s", res)
		}
		if err := cv.Signal(); err != nil {
			t.Fatal(err)
		}
		cv.L().Unlock()
		if err := mpRecv(t, w, "the waiter"); err != nil {
			t.Fatal(err)
		}
	})
}

// TestCondPyNotify (_check_notify, twice on one Cond): five waiters wait
// twice each; Notify(3) wakes three of them, Notify(5) the two still in
// their first wait and the three in their second, Broadcast the last two:
// no wake-up goes astray, none is spurious.
func TestCondPyNotify(t *testing.T) {
	cv := newTestCond(t, 0)
	mu := cv.Mutex()
	ctx := mpContext(t)
	for pass := range 2 {
		const n = 5
		var (
			phase             int
			results1, result2 []int // the phase each wait returned in
			rmu               sync.Mutex
			wg                sync.WaitGroup
		)
		count := func() (int, int) { rmu.Lock(); defer rmu.Unlock(); return len(results1), len(result2) }
		for range n {
			wg.Go(func() {
				for i := range 2 {
					if err := mu.Lock(); err != nil {
						t.Error(err)
						return
					}
					if err := cv.Wait(ctx); err != nil {
						t.Error(err)
					}
					p := phase
					mu.Unlock()
					rmu.Lock()
					if i == 0 {
						results1 = append(results1, p)
					} else {
						result2 = append(result2, p)
					}
					rmu.Unlock()
				}
			})
		}
		mpEventually(t, "all wait", func() bool { return cv.Waiting() == n })
		notify := func(f func() error, ph int) {
			t.Helper()
			if err := mu.Lock(); err != nil {
				t.Fatal(err)
			}
			if err := f(); err != nil {
				t.Fatal(err)
			}
			phase = ph
			mu.Unlock()
		}
		notify(func() error { return cv.Notify(3) }, 1)
		mpEventually(t, "three woken", func() bool { a, _ := count(); return a == 3 })
		mpEventually(t, "all wait again", func() bool { return cv.Waiting() == n })
		notify(func() error { return cv.Notify(5) }, 2)
		mpEventually(t, "eight woken", func() bool { a, b := count(); return a+b == 8 })
		mpEventually(t, "the last two wait", func() bool { return cv.Waiting() == 2 })
		mustNotReturnF(t, "a spurious wake-up", func() bool { a, b := count(); return a+b != 8 })
		notify(cv.Broadcast, 3)
		wg.Wait()
		rmu.Lock()
		if !slices.Equal(results1, []int{1, 1, 1, 2, 2}) || !slices.Equal(result2, []int{2, 2, 2, 3, 3}) {
			t.Fatalf("pass %d: phases of the first waits %v, of the second %v", pass, results1, result2)
		}
		rmu.Unlock()
	}
}

// mustNotReturnF fails the test if cond becomes true within mpQuiet.
func mustNotReturnF(t testing.TB, what string, cond func() bool) {
	t.Helper()
	mpNeverWithin(t, mpQuiet, what, cond)
}

// TestCondPyTimeout: five waiters whose deadlines pass return
// DeadlineExceeded holding the mutex, no sooner than the deadline, and are
// passed over: a Signal after them wakes the next waiter.
func TestCondPyTimeout(t *testing.T) {
	cv := newTestCond(t, 0)
	mu := cv.Mutex()
	const n = 5
	const d = 100 * time.Millisecond
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(context.Background(), d)
			defer cancel()
			if err := mu.Lock(); err != nil {
				t.Error(err)
				return
			}
			start := time.Now()
			err := cv.Wait(ctx)
			if el := time.Since(start); el < d/2 {
				t.Errorf("Wait returned after %v, before its deadline of %v", el, d)
			}
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("Wait: %v, want DeadlineExceeded", err)
			}
			if mu.Owner() != os.Getpid() {
				t.Error("Wait returned without the mutex")
			}
			mu.Unlock()
		})
	}
	wg.Wait()
	if k := cv.Waiting(); k != 0 {
		t.Fatalf("Waiting %d after the timeouts", k)
	}
	ctx := mpContext(t)
	w := condWaiter(t, ctx, cv, nil)
	condSignalWakes(t, cv, w, "the waiter after the timeouts")
}

// TestCondPyWaitFor: WaitFor returns once its predicate holds, after four
// notifications each making one step towards it.
func TestCondPyWaitFor(t *testing.T) {
	cv := newTestCond(t, 0)
	mu := cv.Mutex()
	ctx := mpContext(t)
	state := 0
	done := make(chan error, 1)
	go func() {
		if err := mu.Lock(); err != nil {
			done <- err
			return
		}
		defer mu.Unlock()
		err := cv.WaitFor(ctx, func() bool { return state == 4 })
		if err == nil && state != 4 {
			err = fmt.Errorf("WaitFor returned with state %d", state)
		}
		done <- err
	}()
	for range 4 {
		time.Sleep(10 * time.Millisecond)
		if err := condLocked(t, cv, func() error { state++; return cv.Signal() }); err != nil {
			t.Fatal(err)
		}
	}
	if err := mpRecv(t, done, "WaitFor"); err != nil {
		t.Fatal(err)
	}
}

// TestCondPyWaitForTimeout: WaitFor whose predicate never holds returns
// DeadlineExceeded, no sooner than the deadline; one whose predicate came
// to hold while it waited for the mutex after its ctx ended returns nil, as
// Python's wait_for looks at the predicate once more after its timeout.
func TestCondPyWaitForTimeout(t *testing.T) {
	cv := newTestCond(t, 0)
	mu := cv.Mutex()
	state := 0
	const d = 100 * time.Millisecond
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	done := make(chan error, 1)
	go func() {
		if err := mu.Lock(); err != nil {
			done <- err
			return
		}
		defer mu.Unlock()
		start := time.Now()
		err := cv.WaitFor(ctx, func() bool { return state == 4 })
		if el := time.Since(start); el < d/2 {
			err = errors.Join(err, fmt.Errorf("WaitFor returned after %v, before its deadline of %v", el, d))
		}
		done <- err
	}()
	for range 3 {
		time.Sleep(10 * time.Millisecond)
		if err := condLocked(t, cv, func() error { state++; return cv.Signal() }); err != nil {
			t.Fatal(err)
		}
	}
	if err := mpRecv(t, done, "WaitFor"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("WaitFor: %v, want DeadlineExceeded", err)
	}

	// The predicate holds by the time it has the mutex again.
	ctx2, cancel2 := context.WithCancel(context.Background())
	defer cancel2()
	go func() {
		if err := mu.Lock(); err != nil {
			done <- err
			return
		}
		defer mu.Unlock()
		done <- cv.WaitFor(ctx2, func() bool { return state == 4 })
	}()
	mpEventually(t, "WaitFor waits", func() bool { return cv.Waiting() == 1 })
	if err := mu.Lock(); err != nil {
		t.Fatal(err)
	}
	cancel2()
	mpEventually(t, "WaitFor wants the mutex back", func() bool { return mpContended(&mu.l) })
	state = 4 // no notification
	mu.Unlock()
	if err := mpRecv(t, done, "WaitFor"); err != nil {
		t.Fatalf("WaitFor with the predicate true after its deadline: %v, want nil", err)
	}
}

// ---- Across processes: _test_multiprocessing.py's _TestCondition ----

// The words of the Cond tests: a block "cwords" beside the Cond "cv" and
// its mutex "mu".
const (
	cpWState = 0   // u32: the predicate's state, changed under the mutex
	cpWWoken = 4   // u32: how many waits returned
	cpWLogN  = 8   // u32: entries in the log
	cpWDepth = 12  // u32: how many times waiters enter the lock before Wait (0: once)
	cpWCount = 64  // u32 per waiter id (< 64): how many of its waits returned
	cpWLog   = 512 // u32 per entry: the ids of the waiters, in the order their waits returned
)

var cpWordsSpec = shm.Spec{Kind: shm.KindBytes, Size: 4096}

// cpCond makes the Mutex "mu", the Cond "cv" on it with a ring of slots
// slots (0: the default) and the words block "cwords" in seg.
func cpCond(t testing.TB, seg *shm.Segment, slots uint32) (*Cond, []byte) {
	return cpCondOn(t, seg, slots, condKinds[0])
}

// condKind is a lock the _TestCondition ports run a Cond over, and the
// depth its waiters enter it to before each Wait.
type condKind struct {
	name  string
	depth int
}

// condKinds: Python's Condition(Lock()), and its default Condition(),
// on an RLock, entered twice so that Wait must release and restore a
// depth above one.
var condKinds = []condKind{{"mutex", 1}, {"rlock", 2}}

// cpEach runs f as a subtest over each of condKinds.
func cpEach(t *testing.T, f func(t *testing.T, k condKind)) {
	for _, k := range condKinds {
		t.Run(k.name, func(t *testing.T) { f(t, k) })
	}
}

// cpCondOn is cpCond with the lock "mu" of kind k, whose depth it records
// in the words for the children.
func cpCondOn(t testing.TB, seg *shm.Segment, slots uint32, k condKind) (*Cond, []byte) {
	t.Helper()
	var l CondLock
	if k.depth > 1 {
		l = mustRLock(t, shm.In(seg, "mu"))
	} else {
		l = mustMutex(t, shm.In(seg, "mu"))
	}
	if slots == 0 {
		slots = condSlots
	}
	cv, err := newCond(l, slots, []shm.Option{shm.In(seg, "cv")})
	if err != nil {
		t.Fatal(err)
	}
	o, err := shm.Place(cpWordsSpec, nil, shm.In(seg, "cwords"))
	if err != nil {
		t.Fatal(err)
	}
	atomic.StoreUint32(mem.Uint32(o.Bytes(), cpWDepth), uint32(k.depth))
	return cv, o.Bytes()
}

// cpEnter locks l depth times (at least once).
func cpEnter(ctx context.Context, l CondLock, depth int) error {
	for i := range max(depth, 1) {
		if err := l.LockContext(ctx); err != nil {
			for range i {
				l.Unlock()
			}
			return err
		}
	}
	return nil
}

// cpLeave unlocks l depth times (at least once).
func cpLeave(l CondLock, depth int) {
	for range max(depth, 1) {
		l.Unlock()
	}
}

// cpHolds reports whether this process holds l, entered depth times (an
// RLock's depth is the process's: with exact false, other goroutines here
// may have entered it too).
func cpHolds(l CondLock, depth int, exact bool) error {
	if o := l.Owner(); o != os.Getpid() {
		return fmt.Errorf("lock held by %d, not by this process", o)
	}
	r, ok := l.(*RLock)
	if !ok {
		return nil
	}
	if d := r.Depth(); d < depth || exact && d != depth {
		return fmt.Errorf("rlock at depth %d, want %d", d, depth)
	}
	return nil
}

// cpWoke records, with the mutex held, that waiter id's wait returned.
func cpWoke(w []byte, id int) {
	atomic.AddUint32(mem.Uint32(w, cpWCount+4*uintptr(id)), 1)
	i := atomic.AddUint32(mem.Uint32(w, cpWLogN), 1) - 1
	atomic.StoreUint32(mem.Uint32(w, cpWLog+4*uintptr(i)), uint32(id))
	atomic.AddUint32(mem.Uint32(w, cpWWoken), 1)
}

func cpCount(w []byte, id int) uint32 { return mpLoad(w, cpWCount+4*uintptr(id)) }

// cpLog is the order log: the ids of the waiters whose waits returned.
func cpLog(w []byte) []int {
	var ids []int
	for i := range mpLoad(w, cpWLogN) {
		ids = append(ids, int(mpLoad(w, cpWLog+4*uintptr(i))))
	}
	return ids
}

// cpChild uses the Cond "cv" ("seg mode id ms [rounds]"; ms 0: mpTimeout),
// entering its lock as many times as the words say before it waits, and
// checking that a Wait gives it back so entered:
//
//	hold:           lock, stop at "locked", unlock
//	unacquired:     Wait, Signal, Broadcast, Notify(1) without the mutex: RESULT their errors
//	signal:         lock, Signal, unlock
//	wait:           lock, Wait, record the wake-up: RESULT err held
//	timeout:        lock, Wait with a deadline of ms: RESULT err whether it took ms at least
//	loop:           lock, Wait rounds times recording each wake-up: RESULT err waits
//	notifywait:     lock, state = 0, Signal, WaitFor(state == 4): RESULT err state
//	waitfortimeout: lock, WaitFor(state == 4) with a deadline: RESULT err
var cpChild = segChild("sem-cond-port", func(c *testproc.Child, seg *shm.Segment, f []string) error {
	args, err := childInts(f, 1, 2)
	if err != nil {
		return err
	}
	id, ms := args[0], args[1]
	cv, err := OpenCond(context.Background(), seg, "cv")
	if err != nil {
		return err
	}
	mu := cv.L()
	o, err := seg.Find(context.Background(), "cwords", cpWordsSpec)
	if err != nil {
		return err
	}
	w := o.Bytes()
	state := mem.Uint32(w, cpWState)
	depth := int(mpLoad(w, cpWDepth))
	if _, ok := mu.(*RLock); ok != (depth > 1) {
		return fmt.Errorf("the Cond opened on %v, its waiters to enter it %d times", mu, depth)
	}
	ctx, cancel := mpChildContext(ms)
	defer cancel()
	switch f[0] {
	case "hold":
		if err := mu.Lock(); err != nil {
			return err
		}
		c.Point("locked")
		mu.Unlock()
		return nil
	case "unacquired":
		fmt.Printf("RESULT %s %s %s %s\n", mpErrClass(cv.Wait(ctx)), mpErrClass(cv.Signal()),
			mpErrClass(cv.Broadcast()), mpErrClass(cv.Notify(1)))
		return nil
	}
	if err := cpEnter(context.Background(), mu, depth); err != nil {
		return err
	}
	// Every Wait must have restored the depth the lock was entered to.
	defer cpLeave(mu, depth)
	switch f[0] {
	case "signal":
		return cv.Signal()
	case "wait":
		err := cv.Wait(ctx)
		herr := cpHolds(mu, depth, true)
		cpWoke(w, id)
		fmt.Printf("RESULT %s %v\n", mpErrClass(err), herr == nil)
		if herr != nil {
			return fmt.Errorf("Wait returned (%v): %w", err, herr)
		}
	case "timeout":
		start := time.Now()
		ctx, cancel := context.WithTimeout(context.Background(), time.Duration(ms)*time.Millisecond)
		defer cancel()
		err := cv.Wait(ctx)
		el := time.Since(start)
		if herr := cpHolds(mu, depth, true); herr != nil {
			return fmt.Errorf("Wait returned (%v): %w", err, herr)
		}
		fmt.Printf("RESULT %s %v\n", mpErrClass(err), el >= time.Duration(ms)*time.Millisecond)
	case "loop":
		rounds, err := shmtest.Int(f, 3)
		if err != nil {
			return err
		}
		i := 0
		for ; i < rounds; i++ {
			if err = cv.Wait(ctx); err != nil {
				break
			}
			cpWoke(w, id)
		}
		fmt.Printf("RESULT %s %d\n", mpErrClass(err), i)
	case "notifywait":
		atomic.StoreUint32(state, 0)
		if err := cv.Signal(); err != nil {
			return err
		}
		err := cv.WaitFor(ctx, func() bool { return atomic.LoadUint32(state) == 4 })
		if herr := cpHolds(mu, depth, true); herr != nil {
			return fmt.Errorf("WaitFor returned (%v): %w", err, herr)
		}
		fmt.Printf("RESULT %s %d\n", mpErrClass(err), atomic.LoadUint32(state))
	case "waitfortimeout":
		err := cv.WaitFor(ctx, func() bool { return atomic.LoadUint32(state) == 4 })
		if herr := cpHolds(mu, depth, true); herr != nil {
			return fmt.Errorf("WaitFor returned (%v): %w", err, herr)
		}
		fmt.Printf("RESULT %s\n", mpErrClass(err))
	default:
		return fmt.Errorf("unknown mode %q", f[0])
	}
	return nil
})

// cpStart starts a cpChild.
func cpStart(t testing.TB, seg *shm.Segment, args ...string) *testproc.Proc {
	t.Helper()
	return shmtest.Start(t, mpChildTimeout, cpChild, append([]string{seg.Name()}, args...)...)
}

// cpWaiters starts, one after the other, procs child waiters ("wait" with
// deadline ms, ids from 0) and goroutines waiters here (ids from procs,
// recording their wake-ups in the words too), alternating, each waiting
// before the next starts.
func cpWaiters(t testing.TB, cv *Cond, w []byte, seg *shm.Segment, procs, goroutines, ms int) ([]*testproc.Proc, []<-chan error) {
	t.Helper()
	var ps []*testproc.Proc
	var gs []<-chan error
	for i := 0; i < procs || i < goroutines; i++ {
		if i < procs {
			n := cv.Waiting()
			ps = append(ps, cpStart(t, seg, "wait", strconv.Itoa(i), strconv.Itoa(ms)))
			mpEventually(t, "a child waits", func() bool { return cv.Waiting() == n+1 })
		}
		if i < goroutines {
			id := procs + i
			ctx := mpContext(t)
			if ms > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(context.Background(), time.Duration(ms)*time.Millisecond)
				t.Cleanup(cancel)
			}
			n := cv.Waiting()
			ch := make(chan error, 1)
			mu := cv.L()
			depth := int(mpLoad(w, cpWDepth))
			ctx = condGoroutine(t, ctx)
			go func() {
				defer condExited(ctx)
				if err := cpEnter(ctx, mu, depth); err != nil {
					ch <- err
					return
				}
				err := cv.Wait(ctx)
				cpWoke(w, id)
				if herr := cpHolds(mu, depth, false); herr != nil {
					ch <- fmt.Errorf("Wait returned (%v): %w", err, herr)
					return
				}
				cpLeave(mu, depth)
				ch <- err
			}()
			mpEventually(t, "a goroutine waits", func() bool { return cv.Waiting() == n+1 })
			gs = append(gs, ch)
		}
	}
	return ps, gs
}

// cpCheck checks that the child waiters and goroutine waiters returned
// with want ("nil", "deadline").
func cpCheck(t testing.TB, ps []*testproc.Proc, gs []<-chan error, want string) {
	t.Helper()
	for _, p := range ps {
		if res := mpResult(t, p); res != want+" true" {
			t.Fatalf("child waiter: %s, want %s and the mutex held", res, want)
		}
	}
	for _, g := range gs {
		if res := mpErrClass(mpRecv(t, g, "a goroutine waiter")); res != want {
			t.Fatalf("goroutine waiter: %s, want %s", res, want)
		}
	}
}

// cpWake calls notify (what) with the mutex held, and fails t unless the
// waits returned then number want in all, no more.
func cpWake(t testing.TB, cv *Cond, w []byte, notify func() error, what string, want uint32) {
	t.Helper()
	if err := condLocked(t, cv, notify); err != nil {
		t.Fatal(err)
	}
	woken := func() uint32 { return mpLoad(w, cpWWoken) }
	mpEventually(t, fmt.Sprintf("%s woke %d in all", what, want), func() bool { return woken() >= want })
	mustNotReturnF(t, what+" woke too many", func() bool { return woken() != want })
}

// TestCondMPNotify (test_notify): a child and a goroutine wait; a Signal
// wakes one of them, the next the other.
func TestCondMPNotify(t *testing.T) {
	cpEach(t, func(t *testing.T, k condKind) {
		seg := testSeg(t)
		cv, w := cpCondOn(t, seg, 0, k)
		ps, gs := cpWaiters(t, cv, w, seg, 1, 1, 0)
		mustNotReturnF(t, "a waiter returned unnotified", func() bool { return mpLoad(w, cpWWoken) != 0 })
		for i := range uint32(2) {
			cpWake(t, cv, w, cv.Signal, "Signal", i+1)
		}
		cpCheck(t, ps, gs, "nil")
		if k := cv.Waiting(); k != 0 {
			t.Fatalf("Waiting %d at the end", k)
		}
	})
}

// TestCondMPNotifyAll (test_notify_all): three children and three
// goroutines whose deadlines pass return DeadlineExceeded and leave nobody
// counted; three and three more are woken by one Broadcast.
func TestCondMPNotifyAll(t *testing.T) {
	cpEach(t, func(t *testing.T, k condKind) {
		seg := testSeg(t)
		cv, w := cpCondOn(t, seg, 0, k)
		ps, gs := cpWaiters(t, cv, w, seg, 3, 3, 300)
		cpCheck(t, ps, gs, "deadline")
		if k := cv.Waiting(); k != 0 {
			t.Fatalf("Waiting %d after the deadlines", k)
		}
		ps, gs = cpWaiters(t, cv, w, seg, 3, 3, 0)
		mustNotReturnF(t, "a waiter returned unnotified", func() bool { return mpLoad(w, cpWWoken) != 6 })
		if err := condLocked(t, cv, cv.Broadcast); err != nil {
			t.Fatal(err)
		}
		cpCheck(t, ps, gs, "nil")
		if n, k := mpLoad(w, cpWWoken), cv.Waiting(); n != 12 || k != 0 {
			t.Fatalf("%d waits returned, Waiting %d at the end; want 12 and 0", n, k)
		}
	})
}

// TestCondMPNotifyN (test_notify_n): of three children and three
// goroutines, Notify(2) wakes two, Notify(4) the other four, Notify(3)
// nobody; in the order they came.
func TestCondMPNotifyN(t *testing.T) {
	cpEach(t, func(t *testing.T, k condKind) {
		seg := testSeg(t)
		cv, w := cpCondOn(t, seg, 0, k)
		ps, gs := cpWaiters(t, cv, w, seg, 3, 3, 0)
		for _, step := range []struct{ n, want uint32 }{{2, 2}, {4, 6}, {3, 6}} {
			notify := func() error { return cv.Notify(int(step.n)) }
			cpWake(t, cv, w, notify, fmt.Sprintf("Notify(%d)", step.n), step.want)
		}
		cpCheck(t, ps, gs, "nil")
		// Arrival order: child 0, goroutine 3, child 1, goroutine 4, ...:
		// Notify(2) wakes the first two to come (in either order: they race
		// for the mutex).
		log := cpLog(w)
		if first := slices.Sorted(slices.Values(log[:2])); !slices.Equal(first, []int{0, 3}) {
			t.Fatalf("Notify(2) woke %v, want the first two waiters [0 3]", log[:2])
		}
		if k := cv.Waiting(); k != 0 {
			t.Fatalf("Waiting %d at the end", k)
		}
	})
}

// TestCondMPTimeout (test_timeout): a child's Wait, and one here, whose
// deadline passes return DeadlineExceeded no sooner, holding the lock as
// entered, and leave nobody counted: a Signal after them wakes the next
// waiter.
func TestCondMPTimeout(t *testing.T) {
	cpEach(t, func(t *testing.T, k condKind) {
		seg := testSeg(t)
		cv, w := cpCondOn(t, seg, 0, k)
		const ms = 100
		p := cpStart(t, seg, "timeout", "0", strconv.Itoa(ms))
		mu := cv.L()
		if err := cpEnter(context.Background(), mu, k.depth); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		ctx, cancel := context.WithTimeout(context.Background(), ms*time.Millisecond)
		defer cancel()
		err := cv.Wait(ctx)
		if el := time.Since(start); el < ms*time.Millisecond {
			t.Errorf("Wait returned after %v, before its deadline of %d ms", el, ms)
		}
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Wait: %v, want DeadlineExceeded", err)
		}
		if herr := cpHolds(mu, k.depth, true); herr != nil {
			t.Fatal(herr)
		}
		cpLeave(mu, k.depth)
		if res := mpResult(t, p); res != "deadline true" {
			t.Fatalf("the child's Wait: %s, want deadline, after its deadline", res)
		}
		if n := cv.Waiting(); n != 0 {
			t.Fatalf("Waiting %d after the deadlines", n)
		}
		ps, gs := cpWaiters(t, cv, w, seg, 1, 0, 0)
		cpWake(t, cv, w, cv.Signal, "Signal", 1)
		cpCheck(t, ps, gs, "nil")
	})
}

// TestCondMPWaitFor (test_waitfor): a child notifies, then waits itself
// (WaitFor): the notification goes to this process, which waited before
// it, not to the child; then four notifications step the child's
// predicate to true.
func TestCondMPWaitFor(t *testing.T) {
	cpEach(t, func(t *testing.T, k condKind) {
		seg := testSeg(t)
		cv, w := cpCondOn(t, seg, 0, k)
		mu := cv.L()
		state := mem.Uint32(w, cpWState)
		atomic.StoreUint32(state, ^uint32(0))
		ctx := condGoroutine(t, mpContext(t))
		got := make(chan error, 1)
		if err := cpEnter(ctx, mu, k.depth); err != nil {
			t.Fatal(err)
		}
		go func() {
			defer condExited(ctx)
			err := cv.WaitFor(ctx, func() bool { return atomic.LoadUint32(state) == 0 })
			if err == nil && atomic.LoadUint32(state) != 0 {
				err = fmt.Errorf("WaitFor returned with state %d", atomic.LoadUint32(state))
			}
			if herr := cpHolds(mu, k.depth, true); herr != nil {
				got <- fmt.Errorf("WaitFor returned (%v): %w", err, herr)
				return
			}
			cpLeave(mu, k.depth)
			got <- err
		}()
		mpEventually(t, "this process waits", func() bool { return cv.Waiting() == 1 })
		p := cpStart(t, seg, "notifywait", "0", "0")
		if err := mpRecv(t, got, "WaitFor(state == 0), woken by the child"); err != nil {
			t.Fatal(err)
		}
		for range 4 {
			mpEventually(t, "the child waits", func() bool { return cv.Waiting() == 1 })
			if err := condLocked(t, cv, func() error { atomic.AddUint32(state, 1); return cv.Signal() }); err != nil {
				t.Fatal(err)
			}
		}
		if res := mpResult(t, p); res != "nil 4" {
			t.Fatalf("the child's WaitFor: %s, want nil with state 4", res)
		}
	})
}

// TestCondMPWaitForTimeout (test_waitfor_timeout): a child's WaitFor whose
// predicate never holds returns DeadlineExceeded after three
// notifications.
func TestCondMPWaitForTimeout(t *testing.T) {
	cpEach(t, func(t *testing.T, k condKind) {
		seg := testSeg(t)
		cv, w := cpCondOn(t, seg, 0, k)
		state := mem.Uint32(w, cpWState)
		p := cpStart(t, seg, "waitfortimeout", "0", "500")
		mpEventually(t, "the child waits", func() bool { return cv.Waiting() == 1 })
		for range 3 {
			if err := condLocked(t, cv, func() error { atomic.AddUint32(state, 1); return cv.Signal() }); err != nil {
				t.Fatal(err)
			}
			time.Sleep(10 * time.Millisecond)
		}
		if res := mpResult(t, p); res != "deadline" {
			t.Fatalf("the child's WaitFor: %s, want deadline", res)
		}
	})
}

// TestCondMPWaitResult (test_wait_result): Wait with a context already
// ended, and with one that ends, returns its error; one that a child's
// Signal wakes returns nil.
func TestCondMPWaitResult(t *testing.T) {
	cpEach(t, func(t *testing.T, k condKind) {
		seg := testSeg(t)
		cv, _ := cpCondOn(t, seg, 0, k)
		mu := cv.L()
		if err := cpEnter(context.Background(), mu, k.depth); err != nil {
			t.Fatal(err)
		}
		defer cpLeave(mu, k.depth)
		held := func(what string) {
			t.Helper()
			if err := cpHolds(mu, k.depth, true); err != nil {
				t.Fatalf("%s: %v", what, err)
			}
		}
		ended, cancel := context.WithCancel(context.Background())
		cancel()
		if err := cv.Wait(ended); !errors.Is(err, context.Canceled) {
			t.Fatalf("Wait with an ended context: %v", err)
		}
		held("Wait with an ended context")
		short, cancel2 := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel2()
		if err := cv.Wait(short); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Wait(100ms): %v", err)
		}
		held("Wait(100ms)")
		p := cpStart(t, seg, "signal", "0", "0")
		if err := cv.Wait(mpContext(t)); err != nil {
			t.Fatalf("Wait for the child's Signal: %v", err)
		}
		p.Succeed()
		held("Wait for the child's Signal")
		if n := cv.Waiting(); n != 0 {
			t.Fatalf("Waiting %d", n)
		}
	})
}

// ---- Lost wake-ups ----

// TestCondNotifyThenWaitSelf: a goroutine waits; another notifies and
// then waits itself: the notification wakes the first, never the
// notifier's own later Wait.
func TestCondNotifyThenWaitSelf(t *testing.T) {
	for _, n := range []int{1, -1} { // Signal, Broadcast
		cv := newTestCond(t, 0)
		ctx := mpContext(t)
		first := condWaiter(t, ctx, cv, nil)
		notifier := make(chan error, 1)
		nctx := condGoroutine(t, ctx)
		go func() {
			defer condExited(nctx)
			if err := cv.Mutex().Lock(); err != nil {
				notifier <- err
				return
			}
			err := cv.notifyN(n, "test")
			if err == nil {
				err = cv.Wait(nctx)
			}
			cv.Mutex().Unlock()
			notifier <- err
		}()
		if err := mpRecv(t, first, "the waiter that was asleep"); err != nil {
			t.Fatal(err)
		}
		mpEventually(t, "the notifier waits", func() bool { return cv.Waiting() == 1 })
		mustNotReturn(t, notifier, "the notifier took its own notification")
		condSignalWakes(t, cv, notifier, "the notifier")
	}
}

// TestCondMPBroadcastEachOnce: children and goroutines wait in a loop;
// each Broadcast wakes every one of them exactly once, also those that
// wait again before the others have woken, and also with more waiters
// than the ring holds.
func TestCondMPBroadcastEachOnce(t *testing.T) {
	for _, slots := range []uint32{0, 2} {
		t.Run(fmt.Sprintf("slots=%d", slots), func(t *testing.T) {
			seg := testSeg(t)
			cv, w := cpCond(t, seg, slots)
			const procs, goroutines, rounds = 3, 2, 6
			var ps []*testproc.Proc
			for i := range procs {
				ps = append(ps, cpStart(t, seg, "loop", strconv.Itoa(i), "0", strconv.Itoa(rounds)))
			}
			ctx := mpContext(t)
			mu := cv.Mutex()
			var gs []<-chan error
			for i := range goroutines {
				ch := make(chan error, 1)
				gs = append(gs, ch)
				ctx := condGoroutine(t, ctx)
				go func() {
					defer condExited(ctx)
					if err := mu.Lock(); err != nil {
						ch <- err
						return
					}
					var err error
					for range rounds {
						if err = cv.Wait(ctx); err != nil {
							break
						}
						cpWoke(w, procs+i)
					}
					mu.Unlock()
					ch <- err
				}()
			}
			const n = procs + goroutines
			for r := range uint32(rounds) {
				mpEventually(t, fmt.Sprintf("round %d: all wait", r), func() bool { return cv.Waiting() == n })
				for id := range n {
					if c := cpCount(w, id); c != r {
						t.Fatalf("round %d: waiter %d woken %d times, want %d; woken in the order %v", r, id, c, r, cpLog(w))
					}
				}
				if err := condLocked(t, cv, cv.Broadcast); err != nil {
					t.Fatal(err)
				}
				mpEventually(t, fmt.Sprintf("round %d: all woken", r), func() bool { return mpLoad(w, cpWWoken) >= (r+1)*n })
			}
			for _, p := range ps {
				if res := mpResult(t, p); res != "nil "+strconv.Itoa(rounds) {
					t.Fatalf("child: %s", res)
				}
			}
			for _, g := range gs {
				if err := mpRecv(t, g, "a goroutine"); err != nil {
					t.Fatal(err)
				}
			}
			for id := range n {
				if c := cpCount(w, id); c != rounds {
					t.Fatalf("waiter %d woken %d times, want %d", id, c, rounds)
				}
			}
		})
	}
}

// TestCondMPSignalOrder: children and goroutines that waited one after
// the other are woken by Signal in that order.
func TestCondMPSignalOrder(t *testing.T) {
	seg := testSeg(t)
	cv, w := cpCond(t, seg, 0)
	ps, gs := cpWaiters(t, cv, w, seg, 3, 3, 0)
	for i := range uint32(6) {
		if err := condLocked(t, cv, cv.Signal); err != nil {
			t.Fatal(err)
		}
		mpEventually(t, "a Signal woke a waiter", func() bool { return mpLoad(w, cpWWoken) == i+1 })
	}
	cpCheck(t, ps, gs, "nil")
	if log := cpLog(w); !slices.Equal(log, []int{0, 3, 1, 4, 2, 5}) {
		t.Fatalf("woken in the order %v, want the order of arrival [0 3 1 4 2 5]", log)
	}
}

// TestCondGaveUpPassedOver: waiters whose context ends first, last or
// between others take no notification with them: the next Signals wake
// the others, one each.
func TestCondGaveUpPassedOver(t *testing.T) {
	for _, which := range []int{0, 1, 2} {
		cv := newTestCond(t, 0)
		ctx := mpContext(t)
		var ws []<-chan error
		var cancel context.CancelFunc
		for i := range 3 {
			c := ctx
			if i == which {
				c, cancel = context.WithCancel(ctx)
			}
			ws = append(ws, condWaiter(t, c, cv, nil))
		}
		cancel()
		if err := mpRecv(t, ws[which], "the waiter that gave up"); !errors.Is(err, context.Canceled) {
			t.Fatalf("position %d: the waiter that gave up: %v", which, err)
		}
		ws = slices.Delete(ws, which, which+1)
		if k := cv.Waiting(); k != 2 {
			t.Fatalf("position %d: Waiting %d, want 2", which, k)
		}
		for i, w := range ws {
			condSignalWakes(t, cv, w, fmt.Sprintf("position %d: waiter %d", which, i))
			for _, o := range ws[i+1:] {
				mustNotReturn(t, o, "one Signal woke two")
			}
		}
		if k := cv.Waiting(); k != 0 {
			t.Fatalf("position %d: Waiting %d at the end", which, k)
		}
	}
}

// TestCondNotifiedThenCtxEnds: a waiter notified, whose context ends
// before it has the mutex back, returns nil: it took the notification,
// and the waiter behind it is not woken.
func TestCondNotifiedThenCtxEnds(t *testing.T) {
	cv := newTestCond(t, 0)
	mu := cv.Mutex()
	ctx, cancel := context.WithCancel(mpContext(t))
	first := condWaiter(t, ctx, cv, nil)
	second := condWaiter(t, mpContext(t), cv, nil)
	if err := mu.Lock(); err != nil {
		t.Fatal(err)
	}
	if err := cv.Signal(); err != nil {
		t.Fatal(err)
	}
	mpEventually(t, "the first waiter wants the mutex back", func() bool { return mpContended(&mu.l) })
	cancel()
	mu.Unlock()
	if err := mpRecv(t, first, "the notified waiter"); err != nil {
		t.Fatalf("the notified waiter whose context ended: %v, want nil", err)
	}
	mustNotReturn(t, second, "the waiter behind was woken too")
	condSignalWakes(t, cv, second, "the second waiter")
}

// TestCondKilledWaiterPassedOver: two children wait, each before a
// goroutine of this process, and are killed asleep: the Signals after
// their deaths pass over them and wake the goroutines, one each.
func TestCondKilledWaiterPassedOver(t *testing.T) {
	seg := testSeg(t)
	cv, w := cpCond(t, seg, 0)
	mu := cv.Mutex()
	ps, gs := cpWaiters(t, cv, w, seg, 2, 2, 0)
	mpEventually(t, "the mutex is free", func() bool { return mu.Owner() == 0 })
	for _, p := range ps {
		p.Kill()
		if !p.Wait().Killed() {
			t.Fatal("child not killed")
		}
	}
	if k := cv.Waiting(); k != 4 {
		t.Fatalf("Waiting %d, want 4 (the dead count until passed over)", k)
	}
	for i, g := range gs {
		condSignalWakes(t, cv, g, fmt.Sprintf("goroutine %d, behind a dead child", i))
		for _, o := range gs[i+1:] {
			mustNotReturn(t, o, "one Signal woke two")
		}
	}
	if k := cv.Waiting(); k != 0 {
		t.Fatalf("Waiting %d at the end", k)
	}
}

// TestCondRingOverflow: with more waiters than the ring holds, Signals
// wake every one of them, each once, the oldest first; one Broadcast wakes
// them all; a waiter beyond the ring that gives up leaves.
func TestCondRingOverflow(t *testing.T) {
	cv := newTestCond(t, 2)
	ctx := mpContext(t)
	const n = 6
	var ws []<-chan error
	for range n {
		ws = append(ws, condWaiter(t, ctx, cv, nil))
	}
	if v := atomic.LoadUint32(cv.over); v != n-2 {
		t.Fatalf("%d waiters beyond a ring of 2, want %d", v, n-2)
	}
	// Signal until all are woken: each woken once (each channel delivers
	// once), none lost, the first two first.
	returned := 0
	for signals := 0; returned < n; signals++ {
		if signals == n {
			t.Fatalf("%d Signals woke %d of %d waiters", signals, returned, n)
		}
		if err := condLocked(t, cv, cv.Signal); err != nil {
			t.Fatal(err)
		}
		i, err := recvAny(t, ws, "a waiter woken by Signal")
		if err != nil {
			t.Fatal(err)
		}
		if returned < 2 && i != 0 {
			t.Fatalf("Signal %d woke waiter %d before the oldest", signals, i+returned)
		}
		ws = slices.Delete(ws, i, i+1)
		returned++
		for len(ws) > 0 { // the extra ones a Signal beyond the ring may wake
			j, _ := recvAnyWithin(ws, mpQuiet)
			if j < 0 {
				break
			}
			ws = slices.Delete(ws, j, j+1)
			returned++
		}
	}
	if k := cv.Waiting(); k != 0 {
		t.Fatalf("Waiting %d at the end", k)
	}

	ws = nil
	for range n {
		ws = append(ws, condWaiter(t, ctx, cv, nil))
	}
	if err := condLocked(t, cv, cv.Broadcast); err != nil {
		t.Fatal(err)
	}
	for _, w := range ws {
		if err := mpRecv(t, w, "a waiter woken by Broadcast"); err != nil {
			t.Fatal(err)
		}
	}

	a := condWaiter(t, ctx, cv, nil)
	b := condWaiter(t, ctx, cv, nil)
	cctx, cancel := context.WithCancel(ctx)
	c := condWaiter(t, cctx, cv, nil)
	cancel()
	if err := mpRecv(t, c, "the waiter beyond the ring that gave up"); !errors.Is(err, context.Canceled) {
		t.Fatalf("the waiter beyond the ring that gave up: %v", err)
	}
	if k := cv.Waiting(); k != 2 {
		t.Fatalf("Waiting %d, want 2", k)
	}
	for _, w := range []<-chan error{a, b} {
		condSignalWakes(t, cv, w, "a waiter in the ring")
	}
}

// recvAnyWithin is recvAny that gives up after d, returning -1.
func recvAnyWithin(chans []<-chan error, d time.Duration) (int, error) {
	end := time.Now().Add(d)
	for time.Now().Before(end) {
		for i, ch := range chans {
			select {
			case err := <-ch:
				return i, err
			default:
			}
		}
		time.Sleep(time.Millisecond)
	}
	return -1, nil
}

// TestCondLockKind: a Cond's block records which kind of lock it is on,
// so that OpenCond and UnmarshalBinary attach that lock; a kind word
// naming the other kind fails to attach (shm.ErrKind), and one naming no
// lock is ErrCorrupt.
func TestCondLockKind(t *testing.T) {
	cpEach(t, func(t *testing.T, k condKind) {
		seg := testSeg(t)
		cv, _ := cpCondOn(t, seg, 0, k)
		isRLock := func(l CondLock) bool { _, ok := l.(*RLock); return ok }
		opened, err := OpenCond(context.Background(), seg, "cv")
		if err != nil {
			t.Fatal(err)
		}
		h, err := cv.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		var passed Cond
		if err := passed.UnmarshalBinary(h); err != nil {
			t.Fatal(err)
		}
		for what, c := range map[string]*Cond{"made": cv, "opened": opened, "unmarshalled": &passed} {
			if got := isRLock(c.L()); got != (k.depth > 1) || (c.Mutex() == nil) != got {
				t.Errorf("%s: on %v, Mutex %v", what, c.L(), c.Mutex())
			}
			if c.L().String() != cv.L().String() {
				t.Errorf("%s: on %v, want %v", what, c.L(), cv.L())
			}
		}
		word := mem.Uint32(cv.o.Bytes(), offLockKind)
		other := map[bool]shm.Kind{true: shm.KindMutex, false: shm.KindRLock}[k.depth > 1]
		for v, want := range map[uint32]error{uint32(other): shm.ErrKind, 0: ErrCorrupt, 99: ErrCorrupt} {
			old := atomic.SwapUint32(word, v)
			if _, err := OpenCond(context.Background(), seg, "cv"); !errors.Is(err, want) {
				t.Errorf("lock kind %d: OpenCond: %v, want %v", v, err, want)
			}
			if err := new(Cond).UnmarshalBinary(h); !errors.Is(err, want) {
				t.Errorf("lock kind %d: UnmarshalBinary: %v, want %v", v, err, want)
			}
			atomic.StoreUint32(word, old)
		}
	})
}

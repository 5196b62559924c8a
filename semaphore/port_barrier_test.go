//go:build linux && (amd64 || arm64)

package semaphore

// Ported cases for Barrier: CPython's Lib/test/lock_tests.py BarrierTests
// (threads) and Lib/test/_test_multiprocessing.py _TestBarrier
// (processes), as shmkit's own tests (see port_lock_test.go for the
// conventions). The two suites share their cases, so each case is one
// party function that every party runs, as in Python's run_threads: the
// test and four goroutines (BarrierTests), or the test and four other
// processes (_TestBarrier), at barriers of five. The lists Python's
// parties append to are shared counters.
//
// Differs: Barrier has no default timeout and no repr of Python's form.
// Its action is set per process (SetAction), not given to the
// constructor: every party sets the same one, and that of the last to
// arrive runs (TestPortBarrier/action); a default timeout is a context
// with a deadline (TestPortBarrierDefaultTimeout); String shows the
// waiting count and whether the barrier is broken (TestPortPyBarrierRepr).

import (
	"context"
	"errors"
	"fmt"
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

// portParties is the N of Python's barrier tests.
const portParties = 5

// Counters of the barrier cases (port words).
const (
	portR1       = 4 // Python's results1 (or results[0])
	portR2       = 5 // results2 (or results[1])
	portR3       = 6 // results3
	portMask     = 7 // bit i: some party got arrival index i
	portDeadline = 8 // parties whose own deadline ended their Wait
)

// portBarrierEnv is what a party uses: the barriers "bar" and "bar2" of
// portParties parties, the port words, and for the thousand case the
// Mutex "mu" and the bytes "log".
type portBarrierEnv struct {
	x, x2 *Barrier
	w     []byte
	mu    *Mutex
	log   []byte
}

// The log of the thousand case: a u32 count, then u32 entries.
const (
	portPasses  = 1000
	portLogSize = 8 + 4*portParties*portPasses
)

var portLogSpec = shm.Spec{Kind: shm.KindBytes, Size: portLogSize}

// portBarrierSetUp makes the objects of portBarrierEnv in seg.
func portBarrierSetUp(t testing.TB, seg *shm.Segment) *portBarrierEnv {
	t.Helper()
	x := mustBarrier(t, portParties, shm.In(seg, "bar"))
	x2 := mustBarrier(t, portParties, shm.In(seg, "bar2"))
	mu := mustMutex(t, shm.In(seg, "mu"))
	o, err := shm.Place(portLogSpec, nil, shm.In(seg, "log"))
	if err != nil {
		t.Fatal(err)
	}
	return &portBarrierEnv{x: x, x2: x2, w: portWords(t, seg), mu: mu, log: o.Bytes()}
}

// portBarrierOpen opens them in a child.
func portBarrierOpen(seg *shm.Segment) (*portBarrierEnv, error) {
	var env portBarrierEnv
	var err error
	if env.x, err = OpenBarrier(context.Background(), seg, "bar"); err != nil {
		return nil, err
	}
	if env.x2, err = OpenBarrier(context.Background(), seg, "bar2"); err != nil {
		return nil, err
	}
	if env.mu, err = OpenMutex(context.Background(), seg, "mu"); err != nil {
		return nil, err
	}
	if env.w, err = portFindWords(seg); err != nil {
		return nil, err
	}
	o, err := seg.Find(context.Background(), "log", portLogSpec)
	if err != nil {
		return nil, err
	}
	env.log = o.Bytes()
	return &env, nil
}

// portWaitFor polls cond until it holds, or ctx ends.
func portWaitFor(ctx context.Context, what string, cond func() bool) error {
	for !cond() {
		if ctx.Err() != nil {
			return fmt.Errorf("still not %s: %w", what, ctx.Err())
		}
		time.Sleep(time.Millisecond)
	}
	return nil
}

// portParty is one party's part in case name (see TestPortBarrier).
func portParty(ctx context.Context, name string, env *portBarrierEnv) error {
	x, w := env.x, env.w
	wait := func(x *Barrier) (int, error) { return x.Wait(ctx) }
	// tally counts a Wait that passes in R1, one that finds x broken in R2.
	tally := func() error {
		_, err := wait(x)
		switch {
		case err == nil:
			portAdd(w, portR1)
		case errors.Is(err, ErrBrokenBarrier):
			portAdd(w, portR2)
		default:
			return err
		}
		return nil
	}
	// again is the Wait after a Reset, counted in R3.
	again := func() error {
		if _, err := wait(x); err != nil {
			return fmt.Errorf("Wait after Reset: %w", err)
		}
		portAdd(w, portR3)
		return nil
	}
	n := portParties
	switch name {
	case "barrier", "barrier_10":
		passes := 1
		if name == "barrier_10" {
			passes = 10
		}
		m := x.Parties()
		if m != n {
			return fmt.Errorf("Parties %d, want %d", m, n)
		}
		for i := range passes {
			portAdd(w, portR1)
			if got := portGet(w, portR2); got != uint32(i*m) {
				return fmt.Errorf("pass %d: %d second arrivals before the first Wait, want %d", i, got, i*m)
			}
			if _, err := wait(x); err != nil {
				return err
			}
			portAdd(w, portR2)
			if got := portGet(w, portR1); got != uint32((i+1)*m) {
				return fmt.Errorf("pass %d: %d first arrivals after the first Wait, want %d", i, got, (i+1)*m)
			}
			if _, err := wait(x); err != nil {
				return err
			}
		}
		if x.Waiting() != 0 || x.Broken() {
			return fmt.Errorf("after the passes: %v", x)
		}
	case "wait_return":
		i, err := wait(x)
		if err != nil {
			return err
		}
		atomic.OrUint32(portCounter(w, portMask), 1<<i)
	case "action":
		x.SetAction(func() error { portAdd(w, portR1); return nil })
		if _, err := wait(x); err != nil {
			return err
		}
		if got := portGet(w, portR1); got != 1 {
			return fmt.Errorf("action ran %d times when the parties left", got)
		}
	case "action_exception":
		// Python's action raises; here it returns an error, which the
		// party that ran it gets (R1), the others ErrBrokenBarrier (R2).
		x.SetAction(func() error { return errors.New("action_exception") })
		_, err := wait(x)
		switch {
		case err != nil && strings.Contains(err.Error(), "action_exception"):
			portAdd(w, portR1)
		case errors.Is(err, ErrBrokenBarrier):
			portAdd(w, portR2)
		default:
			return fmt.Errorf("Wait with a failing action: %v", err)
		}
	case "abort":
		i, err := wait(x)
		if err != nil {
			return err
		}
		if i == n/2 {
			return x.Abort()
		}
		if err := tally(); err != nil {
			return err
		}
	case "reset":
		i, err := wait(x)
		if err != nil {
			return err
		}
		if i == n/2 {
			if err := portWaitFor(ctx, "all others waiting", func() bool { return x.Waiting() >= n-1 }); err != nil {
				return err
			}
			if err := x.Reset(); err != nil {
				return err
			}
		} else if err := tally(); err != nil {
			return err
		}
		if err := again(); err != nil {
			return err
		}
	case "abort_and_reset":
		i, err := wait(x)
		if err != nil {
			return err
		}
		if i == n/2 {
			if err := x.Abort(); err != nil {
				return err
			}
		} else if err := tally(); err != nil {
			return err
		}
		// Everyone has left x when the one with the middle index of x2
		// resets it, and nobody enters it again before.
		j, err := wait(env.x2)
		if err != nil {
			return err
		}
		if j == n/2 {
			if err := x.Reset(); err != nil {
				return err
			}
		}
		if _, err := wait(env.x2); err != nil {
			return err
		}
		if err := again(); err != nil {
			return err
		}
	case "timeout":
		// The late party comes once the others' deadlines broke the
		// barrier, not after a fixed sleep: the same case, with no race.
		i, err := wait(x)
		if err != nil {
			return err
		}
		if i == n/2 {
			if err := portWaitFor(ctx, "broken", x.Broken); err != nil {
				return err
			}
		}
		short, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
		_, err = x.Wait(short)
		cancel()
		if !errors.Is(err, ErrBrokenBarrier) {
			return fmt.Errorf("Wait with the late party missing: %v, want ErrBrokenBarrier", err)
		}
		portAdd(w, portR1)
		if errors.Is(err, context.DeadlineExceeded) {
			portAdd(w, portDeadline)
		}
	case "thousand":
		for i := range portPasses {
			if _, err := wait(x); err != nil {
				return fmt.Errorf("pass %d: %w", i, err)
			}
			if err := env.mu.LockContext(ctx); err != nil {
				return err
			}
			k := atomic.LoadUint32(mem.Uint32(env.log, 0))
			*mem.Uint32(env.log, uintptr(8+4*k)) = uint32(i)
			atomic.StoreUint32(mem.Uint32(env.log, 0), k+1)
			env.mu.Unlock()
		}
	default:
		return fmt.Errorf("unknown case %q", name)
	}
	return nil
}

// portChildBarrier is a party in another process ("seg case").
var portChildBarrier = segChild("sem-port-barrier", func(c *testproc.Child, seg *shm.Segment, f []string) error {
	if len(f) != 1 {
		return fmt.Errorf("argument %q", c.Arg())
	}
	env, err := portBarrierOpen(seg)
	if err != nil {
		return err
	}
	ctx, cancel := mpChildContext(0)
	defer cancel()
	return portParty(ctx, f[0], env)
})

// portRunParties runs case name with parties of the test: in this
// process and others goroutines or processes (run_threads). When this
// process is not a party (the thousand case), all are others.
func portRunParties(t *testing.T, seg *shm.Segment, env *portBarrierEnv, name string, procs, here bool) {
	others := portParties - 1
	if !here {
		others = portParties
	}
	ctx := mpContext(t)
	var ps []*testproc.Proc
	var wg sync.WaitGroup
	errs := make(chan error, others)
	for range others {
		if procs {
			ps = append(ps, shmtest.Start(t, mpChildTimeout, portChildBarrier, seg.Name(), name))
			continue
		}
		wg.Go(func() {
			errs <- portParty(ctx, name, env)
		})
	}
	if here {
		if err := portParty(ctx, name, env); err != nil {
			t.Errorf("this process's party: %v", err)
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("a goroutine's party: %v", err)
		}
	}
	for _, p := range ps {
		p.Succeed()
	}
	if t.Failed() {
		t.FailNow()
	}
}

// TestPortBarrier ports the cases BarrierTests and _TestBarrier share:
// test_barrier, test_barrier_10, test_wait_return, test_action,
// test_action_exception (BarrierTests only, here with processes too),
// test_abort, test_reset, test_abort_and_reset and test_timeout, each with
// goroutines and with processes. test_timeout's late party sleeps until
// the others' deadlines have broken the barrier (Python sleeps a fixed
// second against their half second).
func TestPortBarrier(t *testing.T) {
	for _, mode := range []string{"goroutines", "processes"} {
		for _, name := range []string{"barrier", "barrier_10", "wait_return", "action", "action_exception", "abort", "reset", "abort_and_reset", "timeout"} {
			t.Run(mode+"/"+name, func(t *testing.T) {
				seg := testSeg(t)
				env := portBarrierSetUp(t, seg)
				portRunParties(t, seg, env, name, mode == "processes", true)
				x, w := env.x, env.w
				get := func(i int) uint32 { return portGet(w, i) }
				switch name {
				case "wait_return":
					if m := get(portMask); m != 1<<portParties-1 {
						t.Fatalf("arrival indices handed out: %05b, want each of 0..%d once", m, portParties-1)
					}
				case "action_exception":
					if get(portR1) != 1 || get(portR2) != portParties-1 || !x.Broken() {
						t.Fatalf("got the action's error %d, broken %d (want 1 and %d); %v", get(portR1), get(portR2), portParties-1, x)
					}
				case "abort":
					if get(portR1) != 0 || get(portR2) != portParties-1 || !x.Broken() {
						t.Fatalf("passed %d, broken %d (want 0 and %d); %v", get(portR1), get(portR2), portParties-1, x)
					}
				case "reset", "abort_and_reset":
					if get(portR1) != 0 || get(portR2) != portParties-1 || get(portR3) != portParties {
						t.Fatalf("passed %d, broken %d, passed after reset %d; want 0, %d, %d",
							get(portR1), get(portR2), get(portR3), portParties-1, portParties)
					}
					if x.Broken() || x.Waiting() != 0 {
						t.Fatalf("after the round after Reset: %v", x)
					}
				case "timeout":
					if get(portR1) != portParties || get(portDeadline) < 1 {
						t.Fatalf("%d parties broken (want %d), %d by their deadline (want at least 1)",
							get(portR1), portParties, get(portDeadline))
					}
					if !x.Broken() {
						t.Fatalf("after the timeout: %v", x)
					}
				}
			})
		}
	}
}

// TestPortMPBarrierThousand ports _TestBarrier.test_thousand: five other
// processes pass a barrier of five a thousand times, each logging the
// pass it left under a Mutex; the log shows every pass five times before
// the next, so nobody ever ran a round ahead.
func TestPortMPBarrierThousand(t *testing.T) {
	seg := testSeg(t)
	env := portBarrierSetUp(t, seg)
	start := time.Now()
	portRunParties(t, seg, env, "thousand", true, false)
	t.Logf("%d passes of %d processes in %v", portPasses, portParties, time.Since(start))
	if k := atomic.LoadUint32(mem.Uint32(env.log, 0)); k != portParties*portPasses {
		t.Fatalf("%d entries logged, want %d", k, portParties*portPasses)
	}
	for k := range portParties * portPasses {
		if got := *mem.Uint32(env.log, uintptr(8+4*k)); int(got) != k/portParties {
			t.Fatalf("entry %d is pass %d, want %d", k, got, k/portParties)
		}
	}
}

// portChildBarrierAlone waits alone ("seg ms") at the barrier "bar2" of
// two parties with a deadline, printing "RESULT err elapsedNs".
var portChildBarrierAlone = segChild("sem-port-barrier-alone", func(c *testproc.Child, seg *shm.Segment, f []string) error {
	ms, err := shmtest.Int(f, 0)
	if err != nil {
		return err
	}
	x, err := OpenBarrier(context.Background(), seg, "two")
	if err != nil {
		return err
	}
	defer x.Close()
	ctx, cancel := mpChildContext(ms)
	defer cancel()
	start := time.Now()
	_, err = x.Wait(ctx)
	fmt.Printf("RESULT %s %d\n", mpErrClass(err), time.Since(start).Nanoseconds())
	return nil
})

// TestPortBarrierDefaultTimeout ports test_default_timeout (in
// BarrierTests' form: one party alone at a barrier of two, here in another
// process) with the deadline a context gives every Wait in place of
// Python's default timeout: the Wait breaks the barrier and fails after
// at least the deadline. Differs: Barrier has no default timeout of its
// own (_TestBarrier's form of the case is test_timeout's).
func TestPortBarrierDefaultTimeout(t *testing.T) {
	const timeout = 100 * time.Millisecond
	seg := testSeg(t)
	x := mustBarrier(t, 2, shm.In(seg, "two"))
	res := mpResult(t, shmtest.Start(t, mpChildTimeout, portChildBarrierAlone, seg.Name(), strconv.Itoa(int(timeout/time.Millisecond))))
	var class string
	var ns int64
	if _, err := fmt.Sscanf(res, "%s %d", &class, &ns); err != nil || class != "broken+deadline" || time.Duration(ns) < timeout {
		t.Fatalf("Wait alone with a %v deadline: %q, want broken+deadline after at least the deadline", timeout, res)
	}
	if !x.Broken() {
		t.Fatalf("after the party timed out: %v", x)
	}
}

// TestPortPyBarrierSingle ports test_single_thread: a barrier of one
// releases its only party at once, every time.
func TestPortPyBarrierSingle(t *testing.T) {
	x := mustBarrier(t, 1)
	for range 2 {
		if i, err := x.Wait(mpContext(t)); i != 0 || err != nil {
			t.Fatalf("Wait at a barrier of one: %d %v", i, err)
		}
	}
}

// TestPortPyBarrierConstructor ports BarrierTests.test_constructor: a
// barrier of no parties, or fewer, is refused.
func TestPortPyBarrierConstructor(t *testing.T) {
	for _, n := range []int{0, -1, MaxParties + 1} {
		if _, err := NewBarrier(n); !errors.Is(err, ErrInvalid) {
			t.Errorf("NewBarrier(%d): %v, want ErrInvalid", n, err)
		}
	}
}

// TestPortPyBarrierRepr ports BarrierTests.test_repr: String shows the
// waiters out of the parties, back to 0 after a round, and that an aborted
// barrier is broken. Differs: the form is shmkit's, and a broken barrier
// shows 0 waiting where Python shows only "broken".
func TestPortPyBarrierRepr(t *testing.T) {
	x := mustBarrier(t, 3)
	check := func(want string) {
		t.Helper()
		if s := x.String(); !strings.Contains(s, want) {
			t.Fatalf("String %q, want %q in it", s, want)
		}
	}
	check("0/3 waiting, broken false")
	ctx := mpContext(t)
	done := make(chan error, 2)
	for range 2 {
		go func() { _, err := x.Wait(ctx); done <- err }()
	}
	mpEventually(t, "two parties wait", func() bool { return x.Waiting() == 2 })
	check("2/3 waiting, broken false")
	if _, err := x.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if err := mpRecv(t, done, "Wait"); err != nil {
			t.Fatal(err)
		}
	}
	check("0/3 waiting, broken false")
	if err := x.Abort(); err != nil {
		t.Fatal(err)
	}
	check("broken true")
}

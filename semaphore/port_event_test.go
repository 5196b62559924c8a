//go:build linux && (amd64 || arm64)

package semaphore

// Ported cases for Event: CPython's Lib/test/lock_tests.py EventTests
// (threads) and Lib/test/_test_multiprocessing.py _TestEvent (processes),
// as shmkit's own tests (see port_lock_test.go for the conventions). Not
// applicable: test_reset_internal_locks and test_at_fork_reinit (an Event
// is one shared word, with no internal lock to renew, and Go does not
// fork).

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

	"github.com/shmkit/shmkit/internal/park"
	"github.com/shmkit/shmkit/internal/shmtest"
	"github.com/shmkit/shmkit/internal/testproc"
	"github.com/shmkit/shmkit/shm"
)

// portChildEvent uses the event its argument names ("seg name mode [n]"):
//
//	set:   sleep n ms, Set
//	wait2: count itself started, Wait twice; "RESULT err err"
//	show:  "RESULT isSet" and "STRING String()"
var portChildEvent = segChild("sem-port-event", func(c *testproc.Child, seg *shm.Segment, f []string) error {
	if len(f) < 3 {
		return fmt.Errorf("argument %q", c.Arg())
	}
	n, err := shmtest.Int(f, 2)
	if err != nil {
		return err
	}
	e, err := OpenEvent(context.Background(), seg, f[0])
	if err != nil {
		return err
	}
	defer e.Close()
	ctx, cancel := mpChildContext(0)
	defer cancel()
	switch f[1] {
	case "set":
		time.Sleep(time.Duration(n) * time.Millisecond)
		return e.Set()
	case "wait2":
		w, err := portFindWords(seg)
		if err != nil {
			return err
		}
		portAdd(w, portStarted)
		err1 := e.Wait(ctx)
		err2 := e.Wait(ctx)
		fmt.Printf("RESULT %s %s\n", mpErrClass(err1), mpErrClass(err2))
	case "show":
		fmt.Printf("RESULT %v\nSTRING %s\n", e.IsSet(), e.String())
	default:
		return fmt.Errorf("unknown mode %q", f[1])
	}
	return nil
})

func portStartEvent(t testing.TB, seg *shm.Segment, mode string, n int) *testproc.Proc {
	t.Helper()
	return shmtest.Start(t, mpChildTimeout, portChildEvent, seg.Name(), "ev", mode, strconv.Itoa(n))
}

// portEventShown is what a child sees of the event: "isSet" and its String.
func portEventShown(t testing.TB, seg *shm.Segment) (string, string) {
	t.Helper()
	out := portStartEvent(t, seg, "show", 0).Succeed().Output
	res := mpResults(out)
	_, str, _ := strings.Cut(out, "STRING ")
	str, _, _ = strings.Cut(str, "\n")
	if len(res) != 1 {
		t.Fatalf("child's output:\n%s", out)
	}
	return strings.Join(res[0], " "), str
}

// TestPortPyEventIsSet ports EventTests.test_is_set and test_repr and
// _TestEvent.test_repr: IsSet and String follow Set and Clear, each
// idempotent, here and in another process. Differs: String's form is
// shmkit's ("set true"), not Python's "<Event at ...: set>".
func TestPortPyEventIsSet(t *testing.T) {
	seg := testSeg(t)
	e := mustEvent(t, shm.In(seg, "ev"))
	check := func(want bool) {
		t.Helper()
		isSet, str := portEventShown(t, seg)
		w := fmt.Sprintf("set %v", want)
		if e.IsSet() != want || !strings.Contains(e.String(), w) || isSet != strconv.FormatBool(want) || !strings.Contains(str, w) {
			t.Fatalf("IsSet %v, String %q here; IsSet %s, String %q in another process; want %v",
				e.IsSet(), e.String(), isSet, str, want)
		}
	}
	check(false)
	for _, step := range []struct {
		set  bool
		want bool
	}{{true, true}, {true, true}, {false, false}, {false, false}} {
		var err error
		if step.set {
			err = e.Set()
		} else {
			err = e.Clear()
		}
		if err != nil {
			t.Fatal(err)
		}
		check(step.want)
	}
}

// TestPortPyEventNotify ports EventTests.test_notify (_check_notify): five
// goroutines and two other processes each Wait twice; none returns
// before Set, and after it every Wait returns nil. A second time after
// Set and Clear.
func TestPortPyEventNotify(t *testing.T) {
	const goroutines, procs = 5, 2
	seg := testSeg(t)
	e := mustEvent(t, shm.In(seg, "ev"))
	w := portWords(t, seg)
	ctx := mpContext(t)
	for pass := range 2 {
		if pass == 1 {
			if err := e.Set(); err != nil {
				t.Fatal(err)
			}
			if err := e.Clear(); err != nil {
				t.Fatal(err)
			}
			atomic.StoreUint32(portCounter(w, portStarted), 0)
		}
		var ps []*testproc.Proc
		for range procs {
			ps = append(ps, portStartEvent(t, seg, "wait2", 0))
		}
		results := make(chan [2]error, goroutines)
		for range goroutines {
			go func() { results <- [2]error{e.Wait(ctx), e.Wait(ctx)} }()
		}
		mpEventually(t, "the children wait", func() bool { return portGet(w, portStarted) == procs })
		select {
		case r := <-results:
			t.Fatalf("pass %d: Wait returned before Set: %v", pass, r)
		case <-time.After(mpQuiet):
		}
		if err := e.Set(); err != nil {
			t.Fatal(err)
		}
		for range goroutines {
			select {
			case r := <-results:
				if r[0] != nil || r[1] != nil {
					t.Fatalf("pass %d: Waits woken by Set: %v", pass, r)
				}
			case <-time.After(mpTimeout):
				t.Fatalf("pass %d: a goroutine still waits after Set", pass)
			}
		}
		for _, p := range ps {
			if res := mpResult(t, p); res != "nil nil" {
				t.Fatalf("pass %d: a child's Waits woken by Set: %s", pass, res)
			}
		}
	}
}

// TestPortPyEventTimeout ports EventTests.test_timeout: on a clear event,
// five goroutines' Waits with a deadline already past and with one of
// 150ms return the deadline error, the second after at least 150ms; on a
// set event both return nil. Python's wait(0.0) is a Wait with a context
// already done.
func TestPortPyEventTimeout(t *testing.T) {
	const n, timeout = 5, 150 * time.Millisecond
	e := mustEvent(t)
	run := func(want error) {
		t.Helper()
		type result struct {
			now, timed error
			took       time.Duration
		}
		results := make(chan result, n)
		for range n {
			go func() {
				var r result
				past, cancel := context.WithDeadline(context.Background(), time.Now().Add(-time.Millisecond))
				r.now = e.Wait(past)
				cancel()
				start := time.Now()
				ctx, cancel := context.WithTimeout(context.Background(), timeout)
				r.timed = e.Wait(ctx)
				r.took = time.Since(start)
				cancel()
				results <- r
			}()
		}
		for range n {
			r := <-results
			if !errors.Is(r.now, want) || r.now != nil && want == nil || !errors.Is(r.timed, want) || r.timed != nil && want == nil {
				t.Fatalf("Waits: %v and %v, want %v", r.now, r.timed, want)
			}
			if want != nil && r.took < timeout {
				t.Fatalf("Wait with a %v deadline returned after %v", timeout, r.took)
			}
		}
	}
	run(context.DeadlineExceeded)
	if err := e.Set(); err != nil {
		t.Fatal(err)
	}
	run(nil)
}

// TestPortPyEventSetAndClear ports EventTests.test_set_and_clear
// (gh-57711): five goroutines wait; Set followed at once by Clear wakes
// every one of them with nil, although the event is clear when they wake.
// They are known to be waiting (past reading the event) when they sit on
// park's dispatchers; each leaves its dispatcher now and then (every
// sleep is bounded), so that is polled for.
func TestPortPyEventSetAndClear(t *testing.T) {
	const n = 5
	e := mustEvent(t)
	base := park.Snapshot().Waiters
	ctx := mpContext(t)
	results := make(chan error, n)
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			results <- e.Wait(ctx)
		})
	}
	mpEventually(t, "every goroutine sleeps in Wait", func() bool { return park.Snapshot().Waiters >= base+n })
	if err := e.Set(); err != nil {
		t.Fatal(err)
	}
	if err := e.Clear(); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	for range n {
		if err := <-results; err != nil {
			t.Fatalf("Wait when Set and Clear ran: %v", err)
		}
	}
	if e.IsSet() {
		t.Fatal("set after Clear")
	}
}

// TestPortMPEvent ports _TestEvent.test_event: a clear event's Waits time
// out (at once, and after at least 100ms), a set one's return nil, and a
// Wait after Clear returns when another process sets the event 100ms
// later.
func TestPortMPEvent(t *testing.T) {
	const timeout = 100 * time.Millisecond
	seg := testSeg(t)
	e := mustEvent(t, shm.In(seg, "ev"))
	wait := func(d time.Duration) (time.Duration, error) {
		ctx, cancel := context.WithTimeout(context.Background(), d)
		defer cancel()
		start := time.Now()
		err := e.Wait(ctx)
		return time.Since(start), err
	}
	if e.IsSet() {
		t.Fatal("new event set")
	}
	if _, err := wait(0); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Wait(0) on a clear event: %v", err)
	}
	if took, err := wait(timeout); !errors.Is(err, context.DeadlineExceeded) || took < timeout {
		t.Fatalf("Wait(%v) on a clear event: %v after %v", timeout, err, took)
	}
	if err := e.Set(); err != nil {
		t.Fatal(err)
	}
	if !e.IsSet() {
		t.Fatal("not set after Set")
	}
	if _, err := wait(mpTimeout); err != nil {
		t.Fatalf("Wait on a set event: %v", err)
	}
	if _, err := wait(timeout); err != nil {
		t.Fatalf("Wait(%v) on a set event: %v", timeout, err)
	}
	if err := e.Clear(); err != nil {
		t.Fatal(err)
	}
	p := portStartEvent(t, seg, "set", int(timeout/time.Millisecond))
	if _, err := wait(mpTimeout); err != nil {
		t.Fatalf("Wait for another process's Set: %v", err)
	}
	p.Succeed()
}

//go:build linux && (amd64 || arm64)

package process

// Tests of spare children (Spares): a function run by a spare ends, reports
// and dies as one started anew; a spare that died while it waited is not
// handed out; spares that would not see what a new child sees are not
// used; spares die with their parent, however it dies.

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/shmkit/shmkit/array"
	"github.com/shmkit/shmkit/internal/shmtest"
	"github.com/shmkit/shmkit/internal/testproc"
	"github.com/shmkit/shmkit/ringbuffer"
	"github.com/shmkit/shmkit/semaphore"
	"github.com/shmkit/shmkit/shm"
	"github.com/shmkit/shmkit/value"
)

// withSpares turns n spares on for the test, and off when it ends.
func withSpares(t *testing.T, n int) {
	t.Helper()
	if err := Spares(n); err != nil {
		t.Fatalf("Spares(%d): %v", n, err)
	}
	t.Cleanup(func() {
		if err := Spares(0); err != nil {
			t.Errorf("Spares(0): %v", err)
		}
	})
}

// readySpares waits until n spares are ready, and returns their pids.
func readySpares(n int) ([]int, error) {
	limit := time.Now().Add(hangGuard)
	for {
		spares.Lock()
		var pids []int
		for _, s := range spares.idle {
			if s.ready.Load() {
				pids = append(pids, s.cmd.Process.Pid)
			}
		}
		failed := spares.failed
		spares.Unlock()
		switch {
		case len(pids) >= n:
			return pids, nil
		case failed:
			return nil, errors.New("the spares failed")
		case time.Now().After(limit):
			return nil, fmt.Errorf("%d spares ready after %v, want %d", len(pids), hangGuard, n)
		}
		time.Sleep(time.Millisecond)
	}
}

func mustReadySpares(t *testing.T, n int) []int {
	t.Helper()
	pids, err := readySpares(n)
	if err != nil {
		t.Fatal(err)
	}
	return pids
}

// startBySpare starts p, which must be run by one of the spares pids.
func startBySpare(t *testing.T, p *Process, pids []int) {
	t.Helper()
	start(t, p)
	if !slices.Contains(pids, p.Pid()) {
		t.Fatalf("%s: pid %d, not one of the spares %v", p, p.Pid(), pids)
	}
}

// TestSparesExitCodes: a function run by a spare ends with the same exit
// code, *ExitError (message, panic and stack) and String as one started
// anew, and Kill and Terminate end it by their signals.
func TestSparesExitCodes(t *testing.T) {
	// Shared objects first: a spare older than the heap's growth is not used.
	cls := []ctl{newCtl(t), newCtl(t)}
	withSpares(t, 2)
	cases := []struct {
		how     string
		code    int
		status  string
		message string
		panic   bool
	}{
		{"nil", 0, "stopped", "", false},
		{"error", 1, "stopped[1]", "boom-error", false},
		{"panic", 1, "stopped[1]", "boom-panic", true},
		{"exit3", 3, "stopped[3]", "", false},
	}
	for _, c := range cases {
		pids := mustReadySpares(t, 1)
		if got := ActiveChildren(); len(got) != 0 {
			t.Errorf("ActiveChildren() = %v with only spares running", got)
		}
		p := New(tgtExit, exitArg{How: c.how, Quiet: true}, Name("spare "+c.how))
		startBySpare(t, p, pids)
		if code := join(t, p); code != c.code {
			t.Errorf("%s: exit code %d, want %d", p, code, c.code)
		}
		wantString(t, p, "Process(spare "+c.how+", "+c.status+")")
		var ee *ExitError
		if err := p.Join(guard(t)); c.code != 0 && (!errors.As(err, &ee) || ee.Message != c.message || ee.Panic != c.panic ||
			(c.panic && !strings.Contains(ee.Stack, "panic"))) {
			t.Errorf("%s: Join = %#v, want message %q, panic %v", p, err, c.message, c.panic)
		}
	}
	for i, c := range []struct {
		name string
		stop func(*Process) error
		code int
	}{{"kill", (*Process).Kill, -9}, {"terminate", (*Process).Terminate, -15}} {
		cl := cls[i]
		pids := mustReadySpares(t, 1)
		p := New(tgtWait, cl, Name("spare "+c.name))
		startBySpare(t, p, pids)
		waitEvent(t, p, cl.Running, "the child to run")
		if got := ActiveChildren(); !slices.Equal(got, []*Process{p}) {
			t.Errorf("ActiveChildren() = %v, want [%s]", got, p)
		}
		if err := c.stop(p); err != nil {
			t.Fatal(err)
		}
		if code := join(t, p); code != c.code {
			t.Errorf("%s: exit code %d, want %d", p, code, c.code)
		}
		if c.name == "terminate" && !cl.Cancelled.IsSet() {
			t.Errorf("%s: the child did not see its context cancelled", p)
		}
	}
}

// TestSparesStillStarting: with no spare ready, Start hands the function
// to one still starting, without waiting for it, once a spare was ready
// in this process; the child ends and reports as any other, and one
// killed before it took its order is reported killed.
func TestSparesStillStarting(t *testing.T) {
	withSpares(t, 1)
	mustReadySpares(t, 1) // a spare was ready once: the program calls Main
	var reported, killed bool
	for i := 0; i < 200 && !(reported && killed); i++ {
		kill := reported // one that reports first, then one killed
		p := New(tgtExit, exitArg{How: "error", Quiet: true}, Name("starting "+strconv.Itoa(i)))
		start(t, p) // the spare taken by the last Start is still starting
		if p.said == nil {
			join(t, p)
			continue
		}
		if kill {
			p.Kill()
		}
		code := join(t, p)
		var ee *ExitError
		err := p.Join(guard(t))
		switch {
		case kill && code == -9:
			killed = true
		case kill:
			// It took its order and ended before the signal came.
		case code != 1 || !errors.As(err, &ee) || ee.Message != "boom-error":
			t.Fatalf("%s, handed to a spare still starting: exit code %d, Join = %#v; want 1 and boom-error", p, code, err)
		default:
			reported = true
		}
	}
	if !reported || !killed {
		t.Skipf("no Start found a spare still starting often enough (reported %v, killed %v)", reported, killed)
	}
}

// TestSparesCurrent: a child run by a spare knows its name, its parent and
// its pid as one started anew does, and has none of the package's
// variables left in its environment.
func TestSparesCurrent(t *testing.T) {
	q, err := ringbuffer.NewQueue[childReport](4)
	if err != nil {
		t.Fatal(err)
	}
	withSpares(t, 1)
	pids := mustReadySpares(t, 1)
	p := New(tgtCurrent, currentArg{Q: q}, Name("spare current"))
	startBySpare(t, p, pids)
	r, err := q.Get(guard(t))
	if err != nil {
		t.Fatal(err)
	}
	if code := join(t, p); code != 0 {
		t.Fatalf("%s: exit code %d", p, code)
	}
	me := Current()
	if r.Info.Name != "spare current" || r.Info.Pid != p.Pid() || r.Info.PPid != me.Pid {
		t.Errorf("Current() in the child = %+v, want name %q, pid %d, parent %d", r.Info, "spare current", p.Pid(), me.Pid)
	}
	if !r.HasParent || r.Parent != me {
		t.Errorf("Parent() in the child = %+v, %v; want %+v", r.Parent, r.HasParent, me)
	}
	if len(r.Env) > 0 {
		t.Errorf("the child's environment still has %q", r.Env)
	}
}

// TestSpareKilledWhileWaiting: a spare that dies while it waits is not
// handed a function, whether its death was seen yet or not: the function
// runs in another child, and a new spare takes the dead one's place.
func TestSpareKilledWhileWaiting(t *testing.T) {
	withSpares(t, 1)
	for i := range 5 {
		pids := mustReadySpares(t, 1)
		if err := syscall.Kill(pids[0], syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		if i%2 == 1 {
			// Let the death be seen before Start, the other times not.
			for {
				spares.Lock()
				gone := !slices.ContainsFunc(spares.idle, func(s *spare) bool { return s.cmd.Process.Pid == pids[0] })
				spares.Unlock()
				if gone {
					break
				}
				time.Sleep(time.Millisecond)
			}
		}
		p := New(tgtExit, exitArg{How: "nil"}, Name("after a dead spare "+strconv.Itoa(i)))
		start(t, p)
		if p.Pid() == pids[0] {
			t.Errorf("%s: handed to the spare killed while waiting (pid %d)", p, pids[0])
		}
		if code := join(t, p); code != 0 {
			t.Errorf("%s: exit code %d, want 0", p, code)
		}
	}
	if _, err := readySpares(1); err != nil {
		t.Errorf("no new spare after the dead ones: %v", err)
	}
}

// TestSparesStale: a spare started before the environment changed, or
// before the default heap grew, is not used: the child sees the
// environment and the heap of the moment it was started, as one started
// anew does.
func TestSparesStale(t *testing.T) {
	withSpares(t, 1)
	pids := mustReadySpares(t, 1)
	t.Setenv("SHMKIT_TEST_SPARE", "changed")
	q, err := ringbuffer.NewQueue[envReport](4)
	if err != nil {
		t.Fatal(err)
	}
	p := New(tgtEnv, envArg{Q: q, Key: "SHMKIT_TEST_SPARE"}, Name("env"))
	start(t, p)
	r, err := q.Get(guard(t))
	if err != nil {
		t.Fatal(err)
	}
	join(t, p)
	if r.Value != "changed" {
		t.Errorf("the child sees %s=%q, want %q", "SHMKIT_TEST_SPARE", r.Value, "changed")
	}
	if slices.Contains(pids, p.Pid()) {
		t.Errorf("%s: run by a spare started before the environment changed", p)
	}

	pids = mustReadySpares(t, 1)
	segs := len(shm.DefaultHeap().Segments())
	for i := 0; len(shm.DefaultHeap().Segments()) == segs; i++ {
		if i == 64 {
			t.Fatalf("the default heap did not grow (%d segments)", segs)
		}
		big, err := array.New[byte](8 << 20) // until the heap grows
		if err != nil {
			t.Fatal(err)
		}
		defer big.Close()
	}
	p = New(tgtEnv, envArg{Q: q, Key: "SHMKIT_TEST_SPARE"}, Name("heap"))
	start(t, p)
	if r, err = q.Get(guard(t)); err != nil {
		t.Fatal(err)
	}
	join(t, p)
	if want := len(shm.DefaultHeap().Segments()); r.Segments != want {
		t.Errorf("the child's default heap has %d segments, the parent's %d", r.Segments, want)
	}
	if slices.Contains(pids, p.Pid()) {
		t.Errorf("%s: run by a spare started before the heap grew", p)
	}
}

type envReport struct {
	Value    string
	Segments int // of the default heap
}

type envArg struct {
	Q   *ringbuffer.Queue[envReport]
	Key string
}

// tgtEnv reports a variable of its environment and its heap's size.
var tgtEnv = Register("test.env", func(ctx context.Context, a envArg) error {
	return a.Q.Put(ctx, envReport{Value: os.Getenv(a.Key), Segments: len(shm.DefaultHeap().Segments())})
})

// TestSparesOff: Spares(0) returns once the spares are gone; a negative
// count is refused.
func TestSparesOff(t *testing.T) {
	if err := Spares(-1); !errors.Is(err, ErrInvalid) {
		t.Errorf("Spares(-1) = %v, want ErrInvalid", err)
	}
	withSpares(t, 2)
	pids := mustReadySpares(t, 2)
	if err := Spares(0); err != nil {
		t.Fatal(err)
	}
	for _, pid := range pids {
		if st, err := readStat(pid); err == nil {
			t.Errorf("spare %d still there after Spares(0): state %c", pid, st.state)
		}
	}
	p := New(tgtExit, exitArg{How: "nil"}, Name("no spares"))
	start(t, p)
	if slices.Contains(pids, p.Pid()) {
		t.Errorf("%s: run by a spare after Spares(0)", p)
	}
	join(t, p)
}

// sparesKept is how many spares childSpareParent keeps.
const sparesKept = 2

// childSpareParent keeps spares, starts a daemon and a plain child through
// two of them, records the pids of the spares then waiting and of the
// children, and waits, at a point, to be killed. Its argument names the
// segment holding the Value "pids", the Event "ready" each child sets, and
// "release", which the children wait for.
var childSpareParent = testproc.Register("process.spareParent", func(c *testproc.Child) error {
	seg, pids, _, err := shmtest.OpenObject(c, "pids", value.Open[[sparesKept + 2]int64])
	if err != nil {
		return err
	}
	defer seg.Close()
	ready, err := semaphore.OpenEvent(context.Background(), seg, "ready")
	if err != nil {
		return err
	}
	release, err := semaphore.OpenEvent(context.Background(), seg, "release")
	if err != nil {
		return err
	}
	if err := Spares(sparesKept); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), hangGuard)
	defer cancel()
	var got [sparesKept + 2]int64
	for i, a := range []ctl{{Running: ready, Release: release, IgnoreCtx: true}, {Running: ready, Release: release, IgnoreCtx: true}} {
		sp, err := readySpares(sparesKept)
		if err != nil {
			return err
		}
		ready.Clear()
		p := New(tgtWait, a, Daemon(i == 0))
		if err := p.Start(); err != nil {
			return err
		}
		if !slices.Contains(sp, p.Pid()) {
			return fmt.Errorf("%s not run by a spare", p)
		}
		if err := ready.Wait(ctx); err != nil {
			return fmt.Errorf("waiting for %s: %v", p, err)
		}
		got[sparesKept+i] = int64(p.Pid())
	}
	sp, err := readySpares(sparesKept)
	if err != nil {
		return err
	}
	for i := range sparesKept {
		got[i] = int64(sp[i])
	}
	if err := pids.Store(got); err != nil {
		return err
	}
	c.Point("spares ready") // killed here
	return errors.New("not killed at the point")
})

// TestSparesDieWithParent: when their parent is SIGKILLed, its waiting
// spares die, and so does a daemon a spare runs; a plain child a spare
// runs lives on, as one started anew does.
func TestSparesDieWithParent(t *testing.T) {
	seg := shmtest.Seg(t)
	pidv, err := value.New[[sparesKept + 2]int64]([sparesKept + 2]int64{}, shm.In(seg, "pids"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := semaphore.NewEvent(shm.In(seg, "ready")); err != nil {
		t.Fatal(err)
	}
	release, err := semaphore.NewEvent(shm.In(seg, "release"))
	if err != nil {
		t.Fatal(err)
	}
	parent := testproc.Start(t, childSpareParent, testproc.Arg(seg.Name()), testproc.Timeout(hangGuard))
	parent.WaitPoint("spares ready")
	pids := pidv.Load()
	before := make([]procStat, len(pids))
	for i, pid := range pids {
		st, err := readStat(int(pid))
		if err != nil || st.ppid != parent.Pid() || st.state == 'Z' {
			t.Fatalf("pid %d (%d of %v): %+v, %v; want a live child of %d", pid, i, pids, st, err, parent.Pid())
		}
		before[i] = st
		t.Cleanup(func() {
			if st, err := readStat(int(pid)); err == nil && st.startTime == before[i].startTime && st.state != 'Z' {
				syscall.Kill(int(pid), syscall.SIGKILL)
			}
		})
	}

	killed := time.Now()
	parent.Kill()
	for i, pid := range pids[:sparesKept+1] {
		what := "spare"
		if i == sparesKept {
			what = "daemon run by a spare"
		}
		if how, st := awaitGone(int(pid), before[i], killed, 10*time.Second); how != "" {
			t.Logf("the %s died %v after its parent was killed (%s)", what, time.Since(killed), how)
		} else {
			t.Errorf("the %s (pid %d) still runs %v after its parent was killed: state %c, parent %d",
				what, pid, time.Since(killed), st.state, st.ppid)
		}
	}
	plain := int(pids[sparesKept+1])
	if st, err := readStat(plain); err != nil || st.startTime != before[sparesKept+1].startTime || st.state == 'Z' {
		t.Errorf("the plain child run by a spare (pid %d) died with its parent: %+v, %v", plain, st, err)
	}
	release.Set()
	if how, _ := awaitGone(plain, before[sparesKept+1], time.Now(), hangGuard); how == "" {
		t.Errorf("the plain child (pid %d) did not end once released", plain)
	}
	if res := parent.Wait(); !res.Killed() {
		t.Errorf("the spares' parent was not killed: %+v", res)
	}
}

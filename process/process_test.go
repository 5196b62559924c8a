//go:build linux && (amd64 || arm64)

package process

// Tests with real child processes, started through the package itself. A
// child reports what it saw through shared objects passed in its argument
// (its stdout and stderr are the test binary's); where a test needs the
// output of a process or a process that is not a Process (a parent to
// SIGKILL), an intermediate testproc child runs the scenario and testproc
// captures its output. Every wait is bounded by a generous hang guard; no
// test checks how long anything took.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
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

// hangGuard bounds every wait for a child: far longer than anything takes,
// so that a bug fails the test instead of hanging it, and a slow machine
// does not.
const hangGuard = time.Minute

// childLife bounds how long a child waiting for its parent's word may live,
// so that a child left behind by a failed test ends on its own.
const childLife = 2 * time.Minute

func guard(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), hangGuard)
	t.Cleanup(cancel)
	return ctx
}

// start starts p and makes sure it is gone (killed if need be, and
// reaped) when the test ends, so that no test leaves a child for JoinAll or
// the leak check.
func start(t *testing.T, p *Process) {
	t.Helper()
	if err := p.Start(); err != nil {
		t.Fatalf("%s: Start: %v", p, err)
	}
	t.Cleanup(func() {
		if _, ok := wedged.Load(p); ok {
			return
		}
		p.Kill()
		ctx, cancel := context.WithTimeout(context.Background(), hangGuard)
		defer cancel()
		if err := p.Join(ctx); err != nil && !exited(err) {
			t.Errorf("%s: still running after Kill: %v", p, err)
		}
	})
}

// wedged holds the Processes whose methods hung, which the cleanup of
// start must not touch.
var wedged sync.Map

// returns runs f and returns its error, failing the test if it has not
// returned within a generous bound (a deadlock) rather than hanging it.
func returns(t *testing.T, what string, f func() error) (bool, error) {
	t.Helper()
	errc := make(chan error, 1)
	go func() { errc <- f() }()
	select {
	case err := <-errc:
		return true, err
	case <-time.After(10 * time.Second):
		t.Errorf("%s: still blocked after 10 s", what)
		return false, nil
	}
}

// exited reports whether err is Join's answer for a child that exited
// (an *ExitError), rather than a Join that gave up.
func exited(err error) bool {
	var ee *ExitError
	return errors.As(err, &ee)
}

// join waits for p to exit and returns its exit code, checking that Join's
// answer agrees with it: nil for 0, an *ExitError with the code otherwise.
func join(t *testing.T, p *Process) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), hangGuard)
	defer cancel()
	err := p.Join(ctx)
	if err != nil && !exited(err) {
		t.Fatalf("%s: Join: %v", p, err)
	}
	code, ok := p.ExitCode()
	if !ok {
		t.Fatalf("%s: ExitCode not known after Join", p)
	}
	var ee *ExitError
	switch {
	case code == 0 && err != nil:
		t.Errorf("%s: exit code 0, Join = %v", p, err)
	case code != 0 && !errors.As(err, &ee):
		t.Errorf("%s: exit code %d, Join = %v, want an *ExitError", p, code, err)
	case code != 0 && (ee.Code != code || ee.ExitCode() != code || ee.Name != p.Name() || ee.Pid != p.Pid()):
		t.Errorf("%s: exit code %d, pid %d; Join = %#v", p, code, p.Pid(), ee)
	}
	if p.IsAlive() {
		t.Errorf("%s: IsAlive after Join", p)
	}
	return code
}

func wantString(t *testing.T, p *Process, want string) {
	t.Helper()
	if got := p.String(); got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
}

// newEvent is an Event in the default heap.
func newEvent(t *testing.T) *semaphore.Event {
	t.Helper()
	ev, err := semaphore.NewEvent()
	if err != nil {
		t.Fatal(err)
	}
	return ev
}

// waitEvent waits for p's child to set ev, failing the test if the child
// exits first.
func waitEvent(t *testing.T, p *Process, ev *semaphore.Event, what string) {
	t.Helper()
	ctx, cancel := context.WithCancel(guard(t))
	defer cancel()
	go func() {
		if err := p.Join(ctx); err == nil || exited(err) {
			cancel()
		}
	}()
	if err := ev.Wait(ctx); err != nil && !ev.IsSet() {
		if code, ok := p.ExitCode(); ok {
			t.Fatalf("waiting for %s: %s exited first, code %d", what, p, code)
		}
		t.Fatalf("waiting for %s: %v", what, err)
	}
}

// exitArg says how tgtExit ends; Quiet sends the child's stderr (where the
// package reports an error or a panic) to /dev/null, to keep it out of
// the test's output.
type exitArg struct {
	How   string
	Quiet bool
}

// tgtExit ends as its argument says.
var tgtExit = Register("test.exit", func(ctx context.Context, a exitArg) error {
	if a.Quiet {
		null, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
		if err != nil {
			return err
		}
		if err := syscall.Dup3(int(null.Fd()), 2, 0); err != nil {
			return err
		}
		null.Close()
	}
	switch a.How {
	case "nil":
		return nil
	case "error":
		return errors.New("boom-error")
	case "panic":
		panic("boom-panic")
	case "exit3":
		os.Exit(3)
	}
	return fmt.Errorf("unknown way to exit %q", a.How)
})

// ctl drives tgtWait: the child sets Running once its function runs, then
// waits for Release. Unless IgnoreCtx, it also watches its context and
// sets Cancelled when the context ends first.
type ctl struct {
	Running   *semaphore.Event
	Release   *semaphore.Event
	Cancelled *semaphore.Event
	IgnoreCtx bool
}

func newCtl(t *testing.T) ctl {
	return ctl{Running: newEvent(t), Release: newEvent(t), Cancelled: newEvent(t)}
}

var tgtWait = Register("test.wait", func(ctx context.Context, c ctl) error {
	if err := c.Running.Set(); err != nil {
		return err
	}
	life, cancel := context.WithTimeout(context.Background(), childLife)
	defer cancel()
	if c.IgnoreCtx {
		return c.Release.Wait(life)
	}
	wait, cancel2 := context.WithCancel(life)
	defer cancel2()
	go func() {
		select {
		case <-ctx.Done():
			cancel2()
		case <-wait.Done():
		}
	}()
	err := c.Release.Wait(wait)
	if ctx.Err() != nil {
		return c.Cancelled.Set()
	}
	return err
})

// childReport is what tgtCurrent sends back.
type childReport struct {
	Info      Info
	Parent    Info // Parent()
	HasParent bool
	Env       []string // the child's SHMKIT_PROCESS_* variables
}

type currentArg struct {
	Q *ringbuffer.Queue[childReport]
}

var tgtCurrent = Register("test.current", reportCurrent)

// tgtNested starts a child of its own, "grandchild", which reports first,
// then reports itself.
var tgtNested = Register("test.nested", func(ctx context.Context, a currentArg) error {
	g := New(tgtCurrent, a, Name("grandchild"))
	if err := g.Start(); err != nil {
		return err
	}
	if err := g.Join(ctx); err != nil {
		return err
	}
	return reportCurrent(ctx, a)
})

func reportCurrent(ctx context.Context, a currentArg) error {
	r := childReport{Info: Current()}
	r.Parent, r.HasParent = Parent()
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "SHMKIT_PROCESS_") {
			r.Env = append(r.Env, kv)
		}
	}
	return a.Q.Put(ctx, r)
}

// TestNames: default names count the Processes made, the Name and Daemon
// options, and Current and CPUCount in the parent.
func TestNames(t *testing.T) {
	num := func(p *Process) int {
		t.Helper()
		s, ok := strings.CutPrefix(p.Name(), "Process-")
		n, err := strconv.Atoi(s)
		if !ok || err != nil || n < 1 {
			t.Fatalf("default name %q, want Process-N", p.Name())
		}
		return n
	}
	p1 := New(tgtExit, exitArg{How: "nil"})
	p2 := New(tgtExit, exitArg{How: "nil"})
	named := New(tgtExit, exitArg{How: "nil"}, Name("worker 1"))
	p4 := New(tgtExit, exitArg{How: "nil"}, Daemon(true))
	n1 := num(p1)
	if n2 := num(p2); n2 != n1+1 {
		t.Errorf("second default name %q after %q", p2.Name(), p1.Name())
	}
	// Python counts every Process made, named or not.
	if n4 := num(p4); n4 != n1+3 {
		t.Errorf("default name %q after %q and two more", p4.Name(), p1.Name())
	}
	if got := named.Name(); got != "worker 1" {
		t.Errorf("Name option: Name() = %q", got)
	}
	wantString(t, named, "Process(worker 1, initial)")
	wantString(t, p1, "Process("+p1.Name()+", initial)")
	if p1.Daemon() || named.Daemon() {
		t.Error("Daemon() true without the option")
	}
	if !p4.Daemon() {
		t.Error("Daemon(true): Daemon() false")
	}
	if New(tgtExit, exitArg{How: "nil"}, Daemon(true), Daemon(false)).Daemon() {
		t.Error("Daemon(false) after Daemon(true): Daemon() true")
	}
	if got := tgtExit.Name(); got != "test.exit" {
		t.Errorf("Target.Name() = %q", got)
	}

	me := Current()
	if me.Name != "MainProcess" || me.Pid != os.Getpid() || me.PPid != os.Getppid() {
		t.Errorf("Current() in the test = %+v, want {MainProcess %d %d}", me, os.Getpid(), os.Getppid())
	}
	if n := CPUCount(); n < 1 {
		t.Errorf("CPUCount() = %d", n)
	}
}

// TestRegister: an empty name, a nil function or a name taken panics.
func TestRegister(t *testing.T) {
	fn := func(context.Context, int) error { return nil }
	shmtest.Panics(t, "Register with an empty name", func() { Register("", fn) })
	shmtest.Panics(t, "Register with a nil function", func() { Register[int]("test.nilfunc", nil) })
	shmtest.Panics(t, "Register of a taken name", func() { Register("test.exit", fn) })
}

// TestCurrentInChild: a child's Current names it, with its own pid and the
// parent's, and the package's variables are gone from its environment.
func TestCurrentInChild(t *testing.T) {
	q, err := ringbuffer.NewQueue[childReport](8)
	if err != nil {
		t.Fatal(err)
	}
	named := New(tgtCurrent, currentArg{q}, Name("current child"))
	unnamed := New(tgtCurrent, currentArg{q})
	start(t, named)
	if code := join(t, named); code != 0 {
		t.Fatalf("%s: exit code %d", named, code)
	}
	start(t, unnamed)
	if code := join(t, unnamed); code != 0 {
		t.Fatalf("%s: exit code %d", unnamed, code)
	}
	for _, p := range []*Process{named, unnamed} {
		r, err := q.TryGet()
		if err != nil {
			t.Fatalf("%s sent nothing: %v", p, err)
		}
		want := Info{Name: p.Name(), Pid: p.Pid(), PPid: os.Getpid()}
		if r.Info != want {
			t.Errorf("Current() in %s = %+v, want %+v", p, r.Info, want)
		}
		if len(r.Env) > 0 {
			t.Errorf("%s: environment still has %q", p, r.Env)
		}
	}
}

// TestExitCodes: how the function ends decides the exit code and String.
func TestExitCodes(t *testing.T) {
	cases := []struct {
		how    string
		code   int
		status string
	}{
		{"nil", 0, "stopped"},
		{"error", 1, "stopped[1]"},
		{"panic", 1, "stopped[1]"},
		{"exit3", 3, "stopped[3]"},
	}
	ps := make([]*Process, len(cases))
	for i, c := range cases {
		ps[i] = New(tgtExit, exitArg{How: c.how, Quiet: true}, Name("exit "+c.how))
		start(t, ps[i])
	}
	for i, c := range cases {
		p := ps[i]
		if code := join(t, p); code != c.code {
			t.Errorf("%s: exit code %d, want %d", p, code, c.code)
		}
		wantString(t, p, "Process(exit "+c.how+", "+c.status+")")
		if p.Pid() <= 0 {
			t.Errorf("%s: Pid() = %d after it ran", p, p.Pid())
		}
		// Signalling a child that exited is no error, and changes nothing.
		if err := p.Kill(); err != nil {
			t.Errorf("%s: Kill after exit: %v", p, err)
		}
		if err := p.Terminate(); err != nil {
			t.Errorf("%s: Terminate after exit: %v", p, err)
		}
		if code, _ := p.ExitCode(); code != c.code {
			t.Errorf("%s: exit code %d after Kill, want %d", p, code, c.code)
		}
	}
}

// TestKillTerminate: Kill and Terminate end a running child by its signal;
// Terminate cancels the child's context first, and a child that ignores it
// dies of SIGTERM anyway.
func TestKillTerminate(t *testing.T) {
	cases := []struct {
		name      string
		ignoreCtx bool
		stop      func(*Process) error
		code      int
		status    string
		cancelled bool // the child saw its context end
	}{
		{"kill", false, (*Process).Kill, -9, "stopped[SIGKILL]", false},
		{"terminate", false, (*Process).Terminate, -15, "stopped[SIGTERM]", true},
		{"terminate ignored", true, (*Process).Terminate, -15, "stopped[SIGTERM]", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cl := newCtl(t)
			cl.IgnoreCtx = c.ignoreCtx
			p := New(tgtWait, cl, Name(c.name))
			start(t, p)
			waitEvent(t, p, cl.Running, "the child to run")
			begin := time.Now()
			if err := c.stop(p); err != nil {
				t.Fatalf("%s: %v", c.name, err)
			}
			code := join(t, p)
			t.Logf("%s: ended %v after the signal", p, time.Since(begin))
			if code != c.code {
				t.Errorf("%s: exit code %d, want %d", p, code, c.code)
			}
			wantString(t, p, "Process("+c.name+", "+c.status+")")
			if got := cl.Cancelled.IsSet(); got != c.cancelled {
				t.Errorf("%s: the child saw its context cancelled: %v, want %v", p, got, c.cancelled)
			}
		})
	}
}

// TestLifecycle: String, IsAlive, Pid and ExitCode in each state; a Join
// whose context ends first leaves the child running; a second Start fails.
func TestLifecycle(t *testing.T) {
	cl := newCtl(t)
	p := New(tgtWait, cl, Name("life"))
	wantString(t, p, "Process(life, initial)")
	if p.IsAlive() {
		t.Error("IsAlive before Start")
	}
	if code, ok := p.ExitCode(); ok {
		t.Errorf("ExitCode before Start = %d, true", code)
	}
	if pid := p.Pid(); pid != 0 {
		t.Errorf("Pid before Start = %d", pid)
	}
	if err := p.Join(guard(t)); err == nil {
		t.Error("Join before Start: no error")
	}
	for _, stop := range []struct {
		name string
		f    func() error
	}{{"Kill", p.Kill}, {"Terminate", p.Terminate}} {
		ok, err := returns(t, stop.name+" before Start", stop.f)
		if !ok {
			t.FailNow() // p is locked for good
		}
		if !errors.Is(err, ErrNotStarted) {
			t.Errorf("%s before Start = %v, want ErrNotStarted", stop.name, err)
		}
	}

	start(t, p)
	wantString(t, p, "Process(life, started)")
	pid := p.Pid()
	if pid <= 0 {
		t.Fatalf("Pid after Start = %d", pid)
	}
	waitEvent(t, p, cl.Running, "the child to run")
	if !p.IsAlive() {
		t.Error("IsAlive false while the child runs")
	}
	if code, ok := p.ExitCode(); ok {
		t.Errorf("ExitCode while running = %d, true", code)
	}

	short, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if err := p.Join(short); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Join with a short context on a running child = %v, want %v", err, context.DeadlineExceeded)
	}
	done, cancel2 := context.WithCancel(context.Background())
	cancel2()
	if err := p.Join(done); !errors.Is(err, context.Canceled) {
		t.Errorf("Join with a cancelled context on a running child = %v, want %v", err, context.Canceled)
	}
	if !p.IsAlive() {
		t.Error("IsAlive false after a Join that timed out")
	}
	if code, ok := p.ExitCode(); ok {
		t.Errorf("ExitCode after a Join that timed out = %d, true", code)
	}
	wantString(t, p, "Process(life, started)")

	ok, err := returns(t, "second Start", p.Start)
	if !ok {
		// p is locked for good: end its child by hand, leave p alone.
		wedged.Store(p, true)
		syscall.Kill(pid, syscall.SIGKILL)
		t.FailNow()
	}
	if err == nil {
		t.Error("second Start: no error")
	} else if !errors.Is(err, ErrStarted) {
		t.Errorf("second Start = %v, want ErrStarted", err)
	}
	if got := p.Pid(); got != pid {
		t.Errorf("Pid changed from %d to %d by a second Start", pid, got)
	}

	// The child kept running through all that: let it finish on its own.
	if err := cl.Release.Set(); err != nil {
		t.Fatal(err)
	}
	if code := join(t, p); code != 0 {
		t.Errorf("%s: exit code %d after it was let go", p, code)
	}
	wantString(t, p, "Process(life, stopped)")
	if cl.Cancelled.IsSet() {
		t.Error("the child saw its context cancelled")
	}
	if got := p.Pid(); got != pid {
		t.Errorf("Pid after exit = %d, want %d", got, pid)
	}
	if err := p.Join(guard(t)); err != nil {
		t.Errorf("second Join: %v", err)
	}

	dcl := newCtl(t)
	d := New(tgtWait, dcl, Name("d"), Daemon(true))
	wantString(t, d, "Process(d, initial daemon)")
	start(t, d)
	wantString(t, d, "Process(d, started daemon)")
	waitEvent(t, d, dcl.Running, "the daemon to run")
	d.Kill()
	if code := join(t, d); code != -9 {
		t.Errorf("%s: exit code %d, want -9", d, code)
	}
}

// funcArg is a struct gob cannot encode: its only field is a func.
type funcArg struct{ F func() }

var tgtFunc = Register("test.funcarg", func(ctx context.Context, a funcArg) error { return nil })
var tgtChan = Register("test.chanarg", func(ctx context.Context, c chan int) error { return nil })

// TestStartErrors: Start fails, and starts nothing, for a zero or unknown
// Target and for an argument gob cannot encode.
func TestStartErrors(t *testing.T) {
	cases := []struct {
		name string
		p    *Process
		want error // nil: any error
	}{
		{"zero target", New(Target[string]{}, "nil"), ErrNotRegistered},
		{"unknown target", New(Target[string]{name: "test.unknown"}, "nil"), ErrNotRegistered},
		{"func field", New(tgtFunc, funcArg{F: func() {}}), nil},
		{"chan argument", New(tgtChan, make(chan int)), nil},
	}
	for _, c := range cases {
		err := c.p.Start()
		switch {
		case err == nil:
			t.Errorf("%s: Start succeeded", c.name)
			c.p.Kill()
			c.p.Join(guard(t))
			continue
		case c.want != nil && !errors.Is(err, c.want):
			t.Errorf("%s: Start = %v, want %v", c.name, err, c.want)
		default:
			t.Logf("%s: %v", c.name, err)
		}
		if pid := c.p.Pid(); pid != 0 {
			t.Errorf("%s: a child ran: pid %d", c.name, pid)
		}
		if c.p.IsAlive() {
			t.Errorf("%s: IsAlive after a failed Start", c.name)
		}
		if !strings.HasSuffix(c.p.String(), ", initial)") {
			t.Errorf("%s: String() = %q after a failed Start", c.name, c.p.String())
		}
		if err := c.p.Join(guard(t)); err == nil {
			t.Errorf("%s: Join after a failed Start: no error", c.name)
		}
	}
}

var tgtPointer = Register("test.pointer", func(ctx context.Context, v *value.Value[int64]) error {
	if v == nil {
		return errors.New("nil argument")
	}
	return v.Store(7)
})

var tgtNilPointer = Register("test.nilpointer", func(ctx context.Context, v *value.Value[int64]) error {
	if v != nil {
		return fmt.Errorf("got %v for a nil argument", v)
	}
	return nil
})

// startNoPanic is p.Start, with a panic turned into an error.
func startNoPanic(p *Process) (panicked bool, err error) {
	defer func() {
		if r := recover(); r != nil {
			panicked, err = true, fmt.Errorf("Start panicked: %v", r)
		}
	}()
	return false, p.Start()
}

// TestPointerArgument: the argument itself may be a shared object, a
// pointer whose type implements encoding.BinaryMarshaler; a nil pointer
// argument makes Start fail or reaches the child as nil, never a panic.
func TestPointerArgument(t *testing.T) {
	t.Run("shared object", func(t *testing.T) {
		v, err := value.New[int64](0)
		if err != nil {
			t.Fatal(err)
		}
		p := New(tgtPointer, v, Name("pointer"))
		if _, err := startNoPanic(p); err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		t.Cleanup(func() { p.Kill(); p.Join(guard(t)) })
		if code := join(t, p); code != 0 {
			t.Errorf("%s: exit code %d", p, code)
		}
		if got := v.Load(); got != 7 {
			t.Errorf("the child stored %d, want 7", got)
		}
	})
	t.Run("nil", func(t *testing.T) {
		p := New(tgtNilPointer, nil, Name("nil pointer"))
		panicked, err := startNoPanic(p)
		switch {
		case panicked:
			t.Fatalf("%s: %v", p, err)
		case err != nil:
			t.Logf("%s: Start: %v", p, err)
			return
		}
		t.Cleanup(func() { p.Kill(); p.Join(guard(t)) })
		if code := join(t, p); code != 0 {
			t.Errorf("%s: exit code %d: the child did not get nil", p, code)
		}
	})
}

// shared is one of each kind of shared object.
type shared struct {
	Num   *value.Value[int64]
	Arr   *array.Array[int32]
	Mu    *semaphore.Mutex
	Tried *semaphore.Event
	Q     *ringbuffer.Queue[string]
}

// sharedArg carries a set made in the default heap and a set in a named
// segment.
type sharedArg struct{ Heap, Seg shared }

var tgtShared = Register("test.shared", func(ctx context.Context, a sharedArg) error {
	for i, s := range []shared{a.Heap, a.Seg} {
		if err := s.Num.Store(int64(42 + i)); err != nil {
			return err
		}
		err := s.Arr.Update(func(v []int32) {
			for k := range v {
				v[k] = -v[k]
			}
		})
		if err != nil {
			return err
		}
		// The parent holds the mutex now.
		err = s.Mu.TryLock()
		got := err == nil
		switch {
		case got:
			s.Mu.Unlock()
		case !errors.Is(err, semaphore.ErrWouldBlock):
			return err
		}
		if err := s.Q.Put(ctx, fmt.Sprintf("TryLock %v", got)); err != nil {
			return err
		}
		if err := s.Tried.Set(); err != nil {
			return err
		}
		// The parent lets it go once Tried is set.
		if err := s.Mu.LockContext(ctx); err != nil {
			return err
		}
		err = s.Q.Put(ctx, "locked")
		s.Mu.Unlock()
		if err != nil {
			return err
		}
	}
	return nil
})

// TestSharedObjects: shared objects travel in the argument, from the
// default heap (whose descriptors the child inherits) and from a named
// segment, and what the child does to them the parent sees.
func TestSharedObjects(t *testing.T) {
	seg := shmtest.Seg(t)
	mk := func(place func(name string) []shm.Option) shared {
		t.Helper()
		var s shared
		var err error
		if s.Num, err = value.New[int64](0, place("num")...); err != nil {
			t.Fatal(err)
		}
		if s.Arr, err = array.From([]int32{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}, place("arr")...); err != nil {
			t.Fatal(err)
		}
		if s.Mu, err = semaphore.NewMutex(place("mu")...); err != nil {
			t.Fatal(err)
		}
		if s.Tried, err = semaphore.NewEvent(place("tried")...); err != nil {
			t.Fatal(err)
		}
		if s.Q, err = ringbuffer.NewQueue[string](16, place("q")...); err != nil {
			t.Fatal(err)
		}
		return s
	}
	arg := sharedArg{
		Heap: mk(func(string) []shm.Option { return nil }),
		Seg:  mk(func(name string) []shm.Option { return []shm.Option{shm.In(seg, name)} }),
	}
	for _, s := range []shared{arg.Heap, arg.Seg} {
		if err := s.Mu.Lock(); err != nil {
			t.Fatal(err)
		}
	}
	p := New(tgtShared, arg, Name("shared"))
	start(t, p)
	for _, s := range []shared{arg.Heap, arg.Seg} {
		waitEvent(t, p, s.Tried, "the child's TryLock")
		s.Mu.Unlock()
	}
	if code := join(t, p); code != 0 {
		t.Fatalf("%s: exit code %d", p, code)
	}
	for i, s := range []shared{arg.Heap, arg.Seg} {
		where := [...]string{"default heap", "named segment"}[i]
		if got := s.Num.Load(); got != int64(42+i) {
			t.Errorf("%s: Value = %d, want %d", where, got, 42+i)
		}
		got, err := s.Arr.Copy()
		if err != nil {
			t.Fatal(err)
		}
		if want := []int32{0, -1, -2, -3, -4, -5, -6, -7, -8, -9}; !slices.Equal(got, want) {
			t.Errorf("%s: Array = %v, want %v", where, got, want)
		}
		var msgs []string
		for {
			m, err := s.Q.TryGet()
			if err != nil {
				break
			}
			msgs = append(msgs, m)
		}
		if want := []string{"TryLock false", "locked"}; !slices.Equal(msgs, want) {
			t.Errorf("%s: the child sent %q, want %q", where, msgs, want)
		}
		if !s.Tried.IsSet() {
			t.Errorf("%s: Event not set", where)
		}
		if err := s.Mu.TryLock(); err != nil {
			t.Errorf("%s: the child left the mutex locked: TryLock = %v", where, err)
		} else {
			s.Mu.Unlock()
		}
	}
}

// TestJoinAll: JoinAll waits for the non-daemon children, not the daemons.
func TestJoinAll(t *testing.T) {
	release := newEvent(t)
	var workers []*Process
	var cls []ctl
	for i := range 2 {
		cl := newCtl(t)
		cl.Release = release
		p := New(tgtWait, cl, Name(fmt.Sprintf("joinall %d", i)))
		start(t, p)
		workers = append(workers, p)
		cls = append(cls, cl)
	}
	dcl := newCtl(t)
	d := New(tgtWait, dcl, Name("joinall daemon"), Daemon(true))
	start(t, d)
	for i, p := range append(workers, d) {
		waitEvent(t, p, append(cls, dcl)[i].Running, "the children to run")
	}

	short, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if err := JoinAll(short); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("JoinAll while the children wait = %v, want %v", err, context.DeadlineExceeded)
	}
	for _, p := range workers {
		if !p.IsAlive() {
			t.Errorf("%s: not alive after a JoinAll that timed out", p)
		}
	}
	if err := release.Set(); err != nil {
		t.Fatal(err)
	}
	if err := JoinAll(guard(t)); err != nil {
		t.Fatalf("JoinAll: %v", err)
	}
	for _, p := range workers {
		if code, ok := p.ExitCode(); !ok || code != 0 {
			t.Errorf("%s: after JoinAll ExitCode = %d, %v", p, code, ok)
		}
	}
	if !d.IsAlive() {
		t.Errorf("%s: the daemon is not alive after JoinAll", d)
	}
	d.Kill()
	join(t, d)
	if err := JoinAll(guard(t)); err != nil {
		t.Errorf("JoinAll with no children: %v", err)
	}
}

// tgtDaemon records its pid, says it runs and then sleeps, ignoring its
// context: only its death ends it early.
type daemonArg struct {
	Pid   *value.Value[int64]
	Ready *semaphore.Event
}

var tgtDaemon = Register("test.daemon", func(ctx context.Context, a daemonArg) error {
	if err := a.Pid.Store(int64(os.Getpid())); err != nil {
		return err
	}
	if err := a.Ready.Set(); err != nil {
		return err
	}
	time.Sleep(childLife)
	return nil
})

// childDaemonParent starts a daemon child and waits, at a point, to be
// killed. Its argument names the segment holding the daemon's Value "pid"
// and Event "ready".
var childDaemonParent = testproc.Register("process.daemonParent", func(c *testproc.Child) error {
	seg, pid, _, err := shmtest.OpenObject(c, "pid", value.Open[int64])
	if err != nil {
		return err
	}
	defer seg.Close()
	ready, err := semaphore.OpenEvent(context.Background(), seg, "ready")
	if err != nil {
		return err
	}
	d := New(tgtDaemon, daemonArg{Pid: pid, Ready: ready}, Name("daemon"), Daemon(true))
	if err := d.Start(); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), hangGuard)
	defer cancel()
	if err := ready.Wait(ctx); err != nil {
		return fmt.Errorf("waiting for the daemon: %v", err)
	}
	c.Point("daemon running") // killed here
	return errors.New("not killed at the point")
})

// procStat is what /proc/PID/stat says of a process.
type procStat struct {
	state     byte
	ppid      int
	startTime uint64 // clock ticks after boot: tells a reused pid apart
}

// awaitGone waits for the process pid, of which before is what /proc said
// while it lived, to be gone (reaped, its pid reused, or a zombie) and
// says how; or, when limit has passed since killed first, returns "" and
// what /proc says of it last.
func awaitGone(pid int, before procStat, killed time.Time, limit time.Duration) (how string, last procStat) {
	for {
		st, err := readStat(pid)
		switch {
		case err != nil:
			return "reaped", st
		case st.startTime != before.startTime:
			return "reaped, pid reused", st
		case st.state == 'Z':
			return "a zombie of " + strconv.Itoa(st.ppid), st
		}
		if time.Since(killed) > limit {
			return "", st
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func readStat(pid int) (procStat, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return procStat{}, err
	}
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 {
		return procStat{}, fmt.Errorf("odd /proc/%d/stat: %q", pid, b)
	}
	f := strings.Fields(string(b[i+1:])) // from field 3, the state
	if len(f) < 20 {
		return procStat{}, fmt.Errorf("odd /proc/%d/stat: %q", pid, b)
	}
	ppid, err1 := strconv.Atoi(f[1])
	st, err2 := strconv.ParseUint(f[19], 10, 64)
	if err1 != nil || err2 != nil {
		return procStat{}, fmt.Errorf("odd /proc/%d/stat: %q", pid, b)
	}
	return procStat{state: f[0][0], ppid: ppid, startTime: st}, nil
}

// TestDaemonDiesWithParent: a daemon child dies when its parent is
// SIGKILLed. It should be gone within a second; the test allows
// ten, to pass on a loaded machine, and logs the time taken.
func TestDaemonDiesWithParent(t *testing.T) {
	seg := shmtest.Seg(t)
	pidv, err := value.New[int64](0, shm.In(seg, "pid"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := semaphore.NewEvent(shm.In(seg, "ready")); err != nil {
		t.Fatal(err)
	}
	parent := testproc.Start(t, childDaemonParent, testproc.Arg(seg.Name()), testproc.Timeout(hangGuard))
	parent.WaitPoint("daemon running")
	pid := int(pidv.Load())
	before, err := readStat(pid)
	if err != nil {
		t.Fatalf("the daemon (pid %d) is not there while its parent lives: %v", pid, err)
	}
	if before.ppid != parent.Pid() || before.state == 'Z' {
		t.Fatalf("pid %d: state %c, parent %d; want a live child of %d", pid, before.state, before.ppid, parent.Pid())
	}
	// If the daemon outlives the test, end it (and not a process that
	// took its pid since).
	t.Cleanup(func() {
		if st, err := readStat(pid); err == nil && st.startTime == before.startTime && st.state != 'Z' {
			syscall.Kill(pid, syscall.SIGKILL)
		}
	})

	killed := time.Now()
	parent.Kill()
	if how, st := awaitGone(pid, before, killed, 10*time.Second); how != "" {
		t.Logf("the daemon died %v after its parent was killed (%s)", time.Since(killed), how)
	} else {
		t.Errorf("the daemon (pid %d) still runs %v after its parent was killed: state %c, parent %d",
			pid, time.Since(killed), st.state, st.ppid)
	}
	if res := parent.Wait(); !res.Killed() {
		t.Errorf("the daemon's parent was not killed: %+v", res)
	}
}

// TestDaemonOutlivesStartingThread: the parent-death signal of a daemon
// fires when the thread that started it ends, and Go ends the thread of a
// goroutine that exits locked to it; the daemon must not die of that while
// its parent lives.
func TestDaemonOutlivesStartingThread(t *testing.T) {
	cl := newCtl(t)
	d := New(tgtWait, cl, Name("thread daemon"), Daemon(true))
	// Start from a goroutine locked to a thread other than the main one
	// (Go parks the main thread instead of ending it). While this goroutine
	// holds its own thread, the other cannot run on it.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var tid int
	for range 100 {
		tidc := make(chan int, 1)
		errc := make(chan error, 1)
		go func() {
			runtime.LockOSThread()
			if syscall.Gettid() == os.Getpid() {
				runtime.UnlockOSThread()
				tidc <- 0
				return
			}
			tidc <- syscall.Gettid()
			errc <- d.Start()
			// Still locked: the thread ends with the goroutine.
		}()
		if tid = <-tidc; tid != 0 {
			if err := <-errc; err != nil {
				t.Fatalf("%s: Start: %v", d, err)
			}
			break
		}
	}
	if tid == 0 {
		t.Skip("every goroutine ran on the main thread")
	}
	t.Cleanup(func() { d.Kill(); d.Join(guard(t)) })
	waitEvent(t, d, cl.Running, "the daemon to run")
	task := fmt.Sprintf("/proc/self/task/%d", tid)
	for begin := time.Now(); ; time.Sleep(5 * time.Millisecond) {
		if _, err := os.Stat(task); err != nil {
			break
		}
		if time.Since(begin) > 10*time.Second {
			t.Skipf("the thread that started the daemon did not end (%s)", task)
		}
	}
	// The thread is gone, so its death signal, if any, is sent: give it
	// time to land.
	short, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	if err := d.Join(short); !errors.Is(err, context.DeadlineExceeded) {
		code, _ := d.ExitCode()
		t.Fatalf("%s died (exit code %d) when the thread that started it ended", d, code)
	}
	d.Kill()
	if code := join(t, d); code != -9 {
		t.Errorf("%s: exit code %d, want -9", d, code)
	}
}

// childLogging runs children with logging to stderr at DEBUG, which
// testproc captures (children inherit stderr).
var childLogging = testproc.Register("process.logging", func(c *testproc.Child) error {
	ctx, cancel := context.WithTimeout(context.Background(), hangGuard)
	defer cancel()
	run := func(p *Process, want int) error {
		if err := p.Start(); err != nil {
			return err
		}
		if err := p.Join(ctx); err != nil && !exited(err) {
			return err
		}
		if code, _ := p.ExitCode(); code != want {
			return fmt.Errorf("%s: exit code %d, want %d", p, code, want)
		}
		return nil
	}
	// Before LogToStderr nothing is logged, in this process or the child.
	Logger().Info("logged before LogToStderr")
	if err := run(New(tgtExit, exitArg{How: "nil"}, Name("quiet")), 0); err != nil {
		return err
	}
	l := LogToStderr(slog.LevelDebug)
	l.Info("hello from the parent")
	// quiet was Process-1.
	if err := run(New(tgtExit, exitArg{How: "nil"}), 0); err != nil {
		return err
	}
	if err := run(New(tgtExit, exitArg{How: "error"}, Name("worker 1")), 1); err != nil {
		return err
	}
	if err := run(New(tgtExit, exitArg{How: "panic"}, Name("worker 2")), 1); err != nil {
		return err
	}
	return JoinAll(ctx)
})

// TestLogging: LogToStderr logs the life-cycle lines of the parent and of
// the children started after it, "[LEVEL/name] message"; an error and a
// panic are reported on stderr.
func TestLogging(t *testing.T) {
	res := testproc.Start(t, childLogging, testproc.Timeout(hangGuard)).Succeed()
	lines := strings.Split(res.Output, "\n")
	find := func(line string) int {
		t.Helper()
		i := slices.Index(lines, line)
		if i < 0 {
			t.Errorf("no line %q", line)
		}
		return i
	}
	for _, name := range []string{"Process-2", "worker 1", "worker 2"} {
		code := map[string]int{"Process-2": 0, "worker 1": 1, "worker 2": 1}[name]
		run := find("[INFO/" + name + "] child process calling run")
		down := find("[INFO/" + name + "] process shutting down")
		exit := find(fmt.Sprintf("[INFO/%s] process exiting with exitcode %d", name, code))
		if run >= 0 && (run > down || down > exit) {
			t.Errorf("%s: lines out of order: %d %d %d", name, run, down, exit)
		}
	}
	find("[INFO/MainProcess] hello from the parent")
	find("[INFO/MainProcess] process shutting down")
	find("process worker 1: boom-error")
	if !strings.Contains(res.Output, "process worker 2: panic: boom-panic") {
		t.Error("no line about worker 2's panic")
	}
	if !strings.Contains(res.Output, "goroutine ") {
		t.Error("no stack for worker 2's panic")
	}
	if !slices.ContainsFunc(lines, func(l string) bool { return strings.HasPrefix(l, "[DEBUG/MainProcess] ") }) {
		t.Error("no DEBUG line from the parent")
	}
	for _, s := range []string{"logged before LogToStderr", "/quiet]", "/Process-1]"} {
		if strings.Contains(res.Output, s) {
			t.Errorf("logged before LogToStderr: %q", s)
		}
	}
	if t.Failed() {
		t.Logf("output:\n%s", res.Output)
	}
}

// tgtPipe plays the child's end of a pipe: it sends "ready", then echoes
// every message until an empty one, and closes; with Hang, it waits after
// "ready" until it is killed.
var tgtPipe = Register("test.pipe", func(ctx context.Context, a pipeArg) error {
	if err := a.End.Send(ctx, "ready"); err != nil {
		return err
	}
	if a.Hang {
		<-ctx.Done()
		return nil
	}
	for {
		v, err := a.End.Recv(ctx)
		if err != nil {
			return err
		}
		if v == "" {
			return a.End.Close()
		}
		if err := a.End.Send(ctx, "echo "+v); err != nil {
			return err
		}
	}
})

type pipeArg struct {
	End  *ringbuffer.Conn[string]
	Hang bool
}

// TestPipeEndToChild: Python's habit. The parent makes a Pipe, passes one
// end to a child through New and closes its own copy of that end right
// after Start, maybe before the child has decoded its own; the child's
// end works, and the parent sees the end of the stream when the child
// closes it, or when the child is killed.
func TestPipeEndToChild(t *testing.T) {
	for _, kill := range []bool{false, true} {
		ctx := guard(t)
		parent, child, err := ringbuffer.Pipe[string](4)
		if err != nil {
			t.Fatal(err)
		}
		p := New(tgtPipe, pipeArg{End: child, Hang: kill})
		start(t, p)
		if err := child.Close(); err != nil {
			t.Fatal(err)
		}
		if v, err := parent.Recv(ctx); v != "ready" || err != nil {
			t.Fatalf("kill %v: Recv: %q, %v", kill, v, err)
		}
		if kill {
			if err := p.Kill(); err != nil {
				t.Fatal(err)
			}
		} else {
			for _, m := range []string{"a", "b", ""} {
				if err := parent.Send(ctx, m); err != nil {
					t.Fatal(err)
				}
				if m == "" {
					break
				}
				if v, err := parent.Recv(ctx); v != "echo "+m || err != nil {
					t.Fatalf("Recv: %q, %v; want echo %s", v, err, m)
				}
			}
		}
		if _, err := parent.Recv(ctx); err != io.EOF {
			t.Fatalf("kill %v: Recv once the child let go of its end: %v, want io.EOF", kill, err)
		}
		if err := parent.Send(ctx, "more"); !errors.Is(err, io.ErrClosedPipe) {
			t.Fatalf("kill %v: Send to the child's end: %v, want io.ErrClosedPipe", kill, err)
		}
		join(t, p)
		if err := parent.Free(); err != nil {
			t.Fatal(err)
		}
	}
}

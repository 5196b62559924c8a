//go:build linux && (amd64 || arm64)

package process

// Ports of CPython's Lib/test/_test_multiprocessing.py cases for processes
// (_TestProcess). Each test names the cases it ports, what is not
// applicable and what differs. Children are real processes; every wait is
// bounded by the hang guard.

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/shmkit/shmkit/ringbuffer"
	"github.com/shmkit/shmkit/semaphore"
)

// portArgs is test_process's args and kwargs, as one argument.
type portArgs struct {
	Q       *ringbuffer.Queue[string]
	Release *semaphore.Event
	Args    []int
	Kwargs  map[string]float64
}

// tgtPortReport is _TestProcess._test: it puts its arguments, its name and
// its pid on the queue, then waits for Release, so that the parent sees it
// alive for as long as it needs.
var tgtPortReport = Register("port.report", func(ctx context.Context, a portArgs) error {
	me := Current()
	for _, s := range []string{fmt.Sprint(a.Args), fmt.Sprint(a.Kwargs), me.Name, fmt.Sprint(me.Pid)} {
		if err := a.Q.Put(ctx, s); err != nil {
			return err
		}
	}
	life, cancel := context.WithTimeout(ctx, childLife)
	defer cancel()
	return a.Release.Wait(life)
})

// TestPortProcess ports _TestProcess.test_process: a daemon named
// SomeProcess, not alive and not among ActiveChildren before Start, with
// no exit code; alive and listed once started; it gets its arguments and
// knows its name and pid; after Join its exit code is 0, it is neither
// alive nor listed, and a second Join says the same. Not applicable:
// authkey (children are trusted: they are this program). Differs: args
// and kwargs are one argument, a struct.
func TestPortProcess(t *testing.T) {
	q, err := ringbuffer.NewQueue[string](8)
	if err != nil {
		t.Fatal(err)
	}
	defer q.Free()
	a := portArgs{Q: q, Release: newEvent(t), Args: []int{1, 2}, Kwargs: map[string]float64{"hello": 23, "bye": 2.54}}
	p := New(tgtPortReport, a, Name("SomeProcess"), Daemon(true))
	if p.IsAlive() || !p.Daemon() || slices.Contains(ActiveChildren(), p) {
		t.Fatalf("before Start: alive %v, daemon %v, ActiveChildren %v", p.IsAlive(), p.Daemon(), ActiveChildren())
	}
	if code, ok := p.ExitCode(); ok {
		t.Fatalf("exit code %d before Start", code)
	}
	start(t, p)
	if code, ok := p.ExitCode(); ok {
		t.Fatalf("exit code %d of a child that waits", code)
	}
	if !p.IsAlive() || !slices.Contains(ActiveChildren(), p) {
		t.Fatalf("started: alive %v, ActiveChildren %v", p.IsAlive(), ActiveChildren())
	}
	ctx := guard(t)
	for _, want := range []string{"[1 2]", "map[bye:2.54 hello:23]", "SomeProcess", fmt.Sprint(p.Pid())} {
		if got, err := q.Get(ctx); got != want || err != nil {
			t.Fatalf("from the child: %q, %v; want %q", got, err, want)
		}
	}
	if err := a.Release.Set(); err != nil {
		t.Fatal(err)
	}
	if code := join(t, p); code != 0 {
		t.Fatalf("exit code %d, want 0", code)
	}
	if p.IsAlive() || slices.Contains(ActiveChildren(), p) {
		t.Fatalf("after Join: alive %v, ActiveChildren %v", p.IsAlive(), ActiveChildren())
	}
	if err := p.Join(ctx); err != nil {
		t.Errorf("a second Join: %v", err)
	}
}

// TestPortKillProcess ports _TestProcess.test_terminate and test_kill
// (_kill_process): a daemon that sleeps is alive, listed, with no exit
// code; Join with a timeout of 0 (a context already past its deadline)
// and with -1 (one cancelled) returns at once, leaving it alive; after
// Terminate or Kill, Join returns and the exit code is -SIGTERM or
// -SIGKILL, which Join's *ExitError carries too. Differs: Python's join
// returns None when it gives up; Join returns the context's error.
func TestPortKillProcess(t *testing.T) {
	for _, c := range []struct {
		name string
		meth func(*Process) error
		sig  syscall.Signal
	}{
		{"terminate", (*Process).Terminate, syscall.SIGTERM},
		{"kill", (*Process).Kill, syscall.SIGKILL},
	} {
		t.Run(c.name, func(t *testing.T) {
			cl := newCtl(t)
			p := New(tgtWait, cl, Daemon(true))
			start(t, p)
			waitEvent(t, p, cl.Running, "the child to run")
			if !p.IsAlive() || !slices.Contains(ActiveChildren(), p) {
				t.Fatalf("started: alive %v, ActiveChildren %v", p.IsAlive(), ActiveChildren())
			}
			if code, ok := p.ExitCode(); ok {
				t.Fatalf("exit code %d of a sleeping child", code)
			}
			zero, cancel := context.WithTimeout(context.Background(), 0)
			defer cancel()
			minus, cancel2 := context.WithCancel(context.Background())
			cancel2()
			for _, timeout := range []context.Context{zero, minus} {
				if ok, err := returns(t, "Join with a timeout of 0", func() error { return p.Join(timeout) }); !ok || err != timeout.Err() {
					t.Fatalf("Join with a context that has ended: %v, want %v", err, timeout.Err())
				}
				if !p.IsAlive() {
					t.Fatal("not alive after a Join that gave up")
				}
			}
			if err := c.meth(p); err != nil {
				t.Fatal(err)
			}
			ok, err := returns(t, "Join after "+c.name, func() error { return p.Join(guard(t)) })
			if !ok {
				t.FailNow()
			}
			var ee *ExitError
			if !errors.As(err, &ee) || ee.Code != -int(c.sig) {
				t.Fatalf("Join after %s: %v, want an *ExitError of code %d", c.name, err, -int(c.sig))
			}
			if code, _ := p.ExitCode(); code != -int(c.sig) || !strings.Contains(p.String(), "stopped["+signalName(c.sig)+"]") {
				t.Fatalf("after %s: exit code %d, %s", c.name, code, p)
			}
		})
	}
}

// portExit is how tgtPortExit ends: os.Exit(Code) unless Code is -1, then
// returning Err's text as an error ("" for nil).
type portExit struct {
	Code int
	Err  string
}

// tgtPortExit is _TestSubclassingProcess._test_sys_exit and sys.exit as a
// target. Its stderr, where the package prints a returned error, goes to
// /dev/null: the message must reach the parent through Join alone.
var tgtPortExit = Register("port.exit", func(ctx context.Context, a portExit) error {
	null, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	if err := syscall.Dup3(int(null.Fd()), 2, 0); err != nil {
		return err
	}
	null.Close()
	if a.Code >= 0 {
		os.Exit(a.Code)
	}
	if a.Err != "" {
		return errors.New(a.Err)
	}
	return nil
})

// TestPortSysExit ports _TestSubclassingProcess.test_sys_exit: a child
// that exits with a reason that is not a number (sys.exit([1, 2, 3]),
// sys.exit('ignore this')) has exit code 1 and the reason reaches the
// parent; sys.exit(True), (False), (8), (None) and () give 1, 0, 8, 0 and
// 0. Differs: Python's child writes the reason on its stderr, which the
// test reads from a file; here the function returns it as an error and
// Join's *ExitError carries it as Message. sys.exit(True) is os.Exit(1),
// sys.exit(None) and () return nil.
func TestPortSysExit(t *testing.T) {
	for _, c := range []struct {
		how  string
		arg  portExit
		code int
		msg  string
	}{
		{"[1, 2, 3]", portExit{-1, "[1, 2, 3]"}, 1, "[1, 2, 3]"},
		{"'ignore this'", portExit{-1, "ignore this"}, 1, "ignore this"},
		{"True", portExit{1, ""}, 1, ""},
		{"False", portExit{0, ""}, 0, ""},
		{"8", portExit{8, ""}, 8, ""},
		{"None", portExit{-1, ""}, 0, ""},
	} {
		p := New(tgtPortExit, c.arg, Daemon(true))
		start(t, p)
		err := p.Join(guard(t))
		if code, _ := p.ExitCode(); code != c.code {
			t.Errorf("sys.exit(%s): exit code %d, want %d", c.how, code, c.code)
		}
		var ee *ExitError
		switch {
		case c.code == 0 && err != nil:
			t.Errorf("sys.exit(%s): Join = %v, want nil", c.how, err)
		case c.code != 0 && (!errors.As(err, &ee) || ee.Code != c.code || ee.Message != c.msg || ee.Panic):
			t.Errorf("sys.exit(%s): Join = %#v, want an *ExitError of code %d, message %q", c.how, err, c.code, c.msg)
		}
	}
}

// TestPortActiveChildren ports _TestProcess.test_active_children:
// ActiveChildren is a list; a Process made is not in it, a daemon started
// is, and after Join it is not. Differs: Python's child sleeps a moment;
// this one waits for its release, so that it is surely running when the
// test looks.
func TestPortActiveChildren(t *testing.T) {
	if got := ActiveChildren(); got == nil || len(got) != 0 {
		t.Fatalf("ActiveChildren() with no children: %#v, want an empty list", got)
	}
	cl := newCtl(t)
	p := New(tgtWait, cl, Daemon(true))
	if slices.Contains(ActiveChildren(), p) {
		t.Fatal("a Process not started is active")
	}
	start(t, p)
	if !slices.Contains(ActiveChildren(), p) {
		t.Fatalf("ActiveChildren() = %v without the daemon started", ActiveChildren())
	}
	if err := cl.Release.Set(); err != nil {
		t.Fatal(err)
	}
	join(t, p)
	if slices.Contains(ActiveChildren(), p) {
		t.Fatalf("ActiveChildren() = %v with the daemon joined", ActiveChildren())
	}
}

// tgtPortSendParent is _TestProcess._test_send_parent_process: it sends
// Parent() through the writing end of a one-way pipe.
var tgtPortSendParent = Register("port.sendparent", func(ctx context.Context, w *ringbuffer.Sender[Info]) error {
	info, ok := Parent()
	if !ok {
		return errors.New("no parent")
	}
	return w.Send(ctx, info)
})

// TestPortParentProcessAttributes ports
// _TestProcess.test_parent_process_attributes: Parent() is none in the
// main process; a child started through Pipe(duplex=False), here a
// OneWayPipe, sends its Parent(), whose pid and name are this process's.
// Not applicable: test_parent_process, where the grandchild polls and
// joins its parent: Parent() is a description, not a process to wait on
// (a child has no handle of its parent's), and may be stale.
func TestPortParentProcessAttributes(t *testing.T) {
	if info, ok := Parent(); ok {
		t.Fatalf("Parent() in the main process: %+v", info)
	}
	r, w, err := ringbuffer.OneWayPipe[Info](2)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Free()
	p := New(tgtPortSendParent, w)
	start(t, p)
	if code := join(t, p); code != 0 {
		t.Fatalf("exit code %d", code)
	}
	got, err := r.Recv(guard(t))
	if err != nil {
		t.Fatal(err)
	}
	if got.Pid != Current().Pid || got.Pid != os.Getpid() || got.Name != Current().Name {
		t.Fatalf("the child's Parent() = %+v, want %+v (pid %d)", got, Current(), os.Getpid())
	}
}

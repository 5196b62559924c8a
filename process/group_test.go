//go:build linux && (amd64 || arm64)

package process

import (
	"context"
	"errors"
	"strings"
	"testing"
)

// groupWaiters starts in g a tgtWait child for each name, waits until each
// runs, and makes sure each is gone when the test ends.
func groupWaiters(t *testing.T, g *Group, names ...string) ([]*Process, []ctl) {
	t.Helper()
	var ps []*Process
	var cls []ctl
	for _, name := range names {
		cl := newCtl(t)
		p := New(tgtWait, cl, Name(name))
		if err := g.Start(p); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { p.Kill() })
		waitEvent(t, p, cl.Running, "the child to run")
		ps, cls = append(ps, p), append(cls, cl)
	}
	return ps, cls
}

// groupWait is g.Wait, failing the test if it does not return.
func groupWait(t *testing.T, g *Group) error {
	t.Helper()
	ok, err := returns(t, "Wait", g.Wait)
	if !ok {
		t.FailNow()
	}
	return err
}

// wantTerminated checks that the group terminated ps: each saw its context
// cancelled, and died of SIGTERM.
func wantTerminated(t *testing.T, ps []*Process, cls []ctl) {
	t.Helper()
	for i, p := range ps {
		if code, ok := p.ExitCode(); !ok || code != -15 || !cls[i].Cancelled.IsSet() {
			t.Errorf("%s: ExitCode %d, %v; saw its context cancelled: %v; want terminated", p, code, ok, cls[i].Cancelled.IsSet())
		}
	}
}

// TestGroup: Wait returns nil when every child exits cleanly; the first
// failure otherwise (an error, SIGKILL, a Start that fails, the context's
// end), once the others, terminated, are gone too.
func TestGroup(t *testing.T) {
	t.Run("clean", func(t *testing.T) {
		g := NewGroup(guard(t))
		for range 3 {
			if err := g.Start(New(tgtExit, exitArg{How: "nil"})); err != nil {
				t.Fatal(err)
			}
		}
		if err := groupWait(t, g); err != nil {
			t.Fatalf("Wait = %v", err)
		}
		for _, p := range g.Processes() {
			if code, ok := p.ExitCode(); !ok || code != 0 {
				t.Errorf("%s: ExitCode = %d, %v", p, code, ok)
			}
		}
		err := g.Start(New(tgtExit, exitArg{How: "nil"}))
		if err == nil || !strings.HasPrefix(err.Error(), "process: ") {
			t.Errorf("Start after Wait = %v, want an error", err)
		}
	})
	t.Run("first failure", func(t *testing.T) {
		g := NewGroup(guard(t))
		ps, cls := groupWaiters(t, g, "waiter 0", "waiter 1")
		if err := g.Start(New(tgtExit, exitArg{How: "error", Quiet: true}, Name("failing"))); err != nil {
			t.Fatal(err)
		}
		err := groupWait(t, g)
		var ee *ExitError
		if !errors.As(err, &ee) || ee.Name != "failing" || ee.Message != "boom-error" {
			t.Fatalf("Wait = %v, want the failing child's ExitError", err)
		}
		wantTerminated(t, ps, cls)
		if err := g.Start(New(tgtExit, exitArg{How: "nil"})); !errors.As(err, &ee) {
			t.Errorf("Start in a failed group = %v, want the failure", err)
		}
	})
	t.Run("killed", func(t *testing.T) {
		g := NewGroup(guard(t))
		ps, cls := groupWaiters(t, g, "member 0", "member 1")
		if err := ps[0].Kill(); err != nil {
			t.Fatal(err)
		}
		var ee *ExitError
		if err := groupWait(t, g); !errors.As(err, &ee) || ee.Name != "member 0" || ee.Code != -9 {
			t.Fatalf("Wait = %v, want member 0's ExitError, killed", err)
		}
		wantTerminated(t, ps[1:], cls[1:])
	})
	t.Run("context", func(t *testing.T) {
		ctx, cancel := context.WithCancel(guard(t))
		g := NewGroup(ctx)
		ps, cls := groupWaiters(t, g, "cancelled")
		cancel()
		if err := groupWait(t, g); !errors.Is(err, context.Canceled) {
			t.Errorf("Wait = %v, want %v", err, context.Canceled)
		}
		wantTerminated(t, ps, cls)
	})
	t.Run("start fails", func(t *testing.T) {
		g := NewGroup(guard(t))
		ps, cls := groupWaiters(t, g, "left running")
		startErr := g.Start(New(Target[int]{name: "test.not registered"}, 0))
		if !errors.Is(startErr, ErrNotRegistered) {
			t.Fatalf("Start of an unregistered target = %v", startErr)
		}
		if err := groupWait(t, g); err != startErr {
			t.Errorf("Wait = %v, want %v", err, startErr)
		}
		wantTerminated(t, ps, cls)
	})
}

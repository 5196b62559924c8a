//go:build linux && (amd64 || arm64)

package process

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

// TestJoinExitError: Join answers as exec.Cmd.Wait does, nil for a clean
// exit and an *ExitError otherwise, with the function's error text or the
// panic's value from the child itself: the children's stderr goes to
// /dev/null (Quiet), so none of it can come from there.
func TestJoinExitError(t *testing.T) {
	cases := []struct {
		how   string
		code  int
		msg   string
		panic bool
		text  string
	}{
		{"nil", 0, "", false, ""},
		{"error", 1, "boom-error", false, "process: exit error: boom-error"},
		{"panic", 1, "boom-panic", true, "process: exit panic panicked: boom-panic"},
		{"exit3", 3, "", false, "process: exit exit3: exit status 3"},
		{"kill", -9, "", false, "process: exit kill: killed by SIGKILL"},
	}
	ps := make([]*Process, len(cases))
	for i, c := range cases {
		if c.how == "kill" {
			cl := newCtl(t)
			ps[i] = New(tgtWait, cl, Name("exit kill"))
			start(t, ps[i])
			waitEvent(t, ps[i], cl.Running, "the child to run")
			if err := ps[i].Kill(); err != nil {
				t.Fatal(err)
			}
			continue
		}
		ps[i] = New(tgtExit, exitArg{How: c.how, Quiet: true}, Name("exit "+c.how))
		start(t, ps[i])
	}
	for i, c := range cases {
		p := ps[i]
		err := p.Join(guard(t))
		if c.code == 0 {
			if err != nil {
				t.Errorf("%s: Join = %v, want nil", p, err)
			}
			continue
		}
		var ee *ExitError
		if !errors.As(fmt.Errorf("wrapped: %w", err), &ee) {
			t.Errorf("%s: Join = %v (%T), want an *ExitError", p, err, err)
			continue
		}
		if ee.Code != c.code || ee.ExitCode() != c.code || ee.Message != c.msg || ee.Panic != c.panic ||
			ee.Name != p.Name() || ee.Pid != p.Pid() {
			t.Errorf("%s: Join = %+v, want code %d, message %q, panic %v", p, ee, c.code, c.msg, c.panic)
		}
		if code, _ := p.ExitCode(); code != ee.Code {
			t.Errorf("%s: ExitCode %d, ExitError.Code %d", p, code, ee.Code)
		}
		if got := ee.Error(); got != c.text {
			t.Errorf("%s: Error() = %q, want %q", p, got, c.text)
		}
		if c.panic != strings.Contains(ee.Stack, "goroutine") {
			t.Errorf("%s: Stack = %q", p, ee.Stack)
		}
		if again := p.Join(guard(t)); again != err {
			t.Errorf("%s: a second Join = %v, the first %v", p, again, err)
		}
	}
}

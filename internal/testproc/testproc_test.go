package testproc

import (
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestMain(m *testing.M) { Main(m) }

var (
	childNil = Register("nil", func(c *Child) error {
		fmt.Println("hello from nil")
		return nil
	})
	childError = Register("error", func(c *Child) error {
		return errors.New("boom")
	})
	childPanic = Register("panic", func(c *Child) error {
		panic("kaboom")
	})
	// childFiles writes its index to each file it was given.
	childFiles = Register("files", func(c *Child) error {
		for i := range c.NumFiles() {
			if _, err := fmt.Fprintf(c.File(i), "file %d\n", i); err != nil {
				return err
			}
		}
		return nil
	})
	// childEcho prints its Arg, an Env variable, and whether any helper
	// variable leaked into its environment.
	childEcho = Register("echo", func(c *Child) error {
		leaked := false
		for _, kv := range os.Environ() {
			leaked = leaked || strings.HasPrefix(kv, envPrefix)
		}
		fmt.Printf("arg=%q env=%q leaked=%v files=%d\n", c.Arg(), os.Getenv("TESTPROC_ECHO"), leaked, c.NumFiles())
		return nil
	})
	// childPointWrite would write to its file after the point.
	childPointWrite = Register("point-write", func(c *Child) error {
		c.Point("before-write")
		_, err := io.WriteString(c.File(0), "after the point\n")
		return err
	})
	// childPoints passes three points, writing after each.
	childPoints = Register("points", func(c *Child) error {
		for _, p := range []string{"a", "b", "c"} {
			c.Point(p)
			if _, err := io.WriteString(c.File(0), p); err != nil {
				return err
			}
		}
		return nil
	})
	// childRace waits at "ready", then writes its Arg.
	childRace = Register("race", func(c *Child) error {
		c.Point("ready")
		_, err := io.WriteString(c.File(0), c.Arg()+"\n")
		return err
	})
	childHang = Register("hang", func(c *Child) error {
		fmt.Println("hanging")
		time.Sleep(time.Hour)
		return nil
	})
)

func TestExitCodes(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		code int
		out  string
	}{
		{childNil, 0, "hello from nil"},
		{childError, 1, "boom"},
		{childPanic, 2, "kaboom"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			res := Start(t, tc.name).Wait()
			if res.ExitCode != tc.code || res.Signal != 0 || res.Killed() {
				t.Errorf("exit code %d signal %v, want %d and none", res.ExitCode, res.Signal, tc.code)
			}
			if !strings.Contains(res.Output, tc.out) {
				t.Errorf("output %q does not contain %q", res.Output, tc.out)
			}
		})
	}
}

func TestSucceed(t *testing.T) {
	t.Parallel()
	p := Start(t, childNil)
	if p.Pid() <= 0 {
		t.Fatalf("Pid() = %d", p.Pid())
	}
	res := p.Succeed()
	if again := p.Wait(); again != res {
		t.Errorf("second Wait = %+v, first %+v", again, res)
	}
	p.Kill() // after reaping: must not signal anything
	p.Continue()

	f := runFake(t, func(tb testing.TB) { Start(tb, childError).Succeed() })
	f.wantFatal(t, "exit code 1", "boom")
}

func TestFiles(t *testing.T) {
	t.Parallel()
	var readers, writers []*os.File
	for range 2 {
		r, w := pipe(t)
		readers = append(readers, r)
		writers = append(writers, w)
	}
	p := Start(t, childFiles, Files(writers[0]), Files(writers[1]))
	for _, w := range writers {
		w.Close() // the child holds the only write ends now
	}
	p.Succeed()
	for i, r := range readers {
		got, err := io.ReadAll(r)
		if err != nil {
			t.Fatal(err)
		}
		if want := fmt.Sprintf("file %d\n", i); string(got) != want {
			t.Errorf("file %d: read %q, want %q", i, got, want)
		}
	}
}

func TestArgEnv(t *testing.T) {
	t.Parallel()
	res := Start(t, childEcho, Arg("a b\tc"), Env("TESTPROC_ECHO=yes")).Succeed()
	if want := `arg="a b\tc" env="yes" leaked=false files=0`; !strings.Contains(res.Output, want) {
		t.Errorf("output %q does not contain %q", res.Output, want)
	}
	res = Start(t, childEcho).Succeed()
	if want := `arg="" env=""`; !strings.Contains(res.Output, want) {
		t.Errorf("output %q does not contain %q", res.Output, want)
	}
}

func TestKillAtPoint(t *testing.T) {
	t.Parallel()
	r, w := pipe(t)
	p := Start(t, childPointWrite, Files(w))
	w.Close()
	p.WaitPoint("before-write")
	p.Kill()
	res := p.Wait()
	if !res.Killed() || res.ExitCode != -1 {
		t.Fatalf("result %+v, want killed by SIGKILL", res)
	}
	got, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 0 {
		t.Errorf("child wrote %q after the point it was killed at", got)
	}
	p.Kill() // again, after reaping
}

func TestPointsInOrder(t *testing.T) {
	t.Parallel()
	r, w := pipe(t)

	// WaitPoint skips "a", stops at "b", then Wait lets "b" and "c" go.
	p := Start(t, childPoints, Files(w))
	p.WaitPoint("b")
	if got := readNow(t, r, 1); got != "a" {
		t.Errorf("at point b the child had written %q, want %q", got, "a")
	}
	p.Continue()
	p.Continue() // not paused: nothing to do
	p.WaitPoint("c")
	if got := readNow(t, r, 1); got != "b" {
		t.Errorf("at point c the child had written %q since, want %q", got, "b")
	}
	p.Succeed()
	if got := readNow(t, r, 1); got != "c" {
		t.Errorf("after exit the child had written %q since, want %q", got, "c")
	}

	// A WaitPoint after another lets the first point go.
	p = Start(t, childPoints, Files(w))
	p.WaitPoint("a")
	p.WaitPoint("b")
	p.Succeed()
	if got := readNow(t, r, 3); got != "abc" {
		t.Errorf("child wrote %q, want %q", got, "abc")
	}

	// Wait alone lets every point go.
	p = Start(t, childPoints, Files(w))
	p.Succeed()
	if got := readNow(t, r, 3); got != "abc" {
		t.Errorf("child wrote %q, want %q", got, "abc")
	}
}

func TestReleaseTogether(t *testing.T) {
	t.Parallel()
	r, w := pipe(t)
	a := Start(t, childRace, Files(w), Arg("a"))
	b := Start(t, childRace, Files(w), Arg("b"))
	w.Close()
	a.WaitPoint("ready")
	b.WaitPoint("ready")
	// Both paused: nothing written yet.
	r.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	if n, err := r.Read(make([]byte, 1)); n != 0 || !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("read %d bytes (%v) while both children were paused", n, err)
	}
	r.SetReadDeadline(time.Time{})
	a.Continue()
	b.Continue()
	a.Succeed()
	b.Succeed()
	got, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	if s := string(got); s != "a\nb\n" && s != "b\na\n" {
		t.Errorf("children wrote %q, want a and b", s)
	}
}

func TestTimeout(t *testing.T) {
	t.Parallel()
	t.Run("Wait", func(t *testing.T) {
		t.Parallel()
		start := time.Now()
		f := runFake(t, func(tb testing.TB) {
			Start(tb, childHang, Timeout(time.Second)).Wait()
		})
		// The child's output may be empty if it was slow to start.
		f.wantFatal(t, "did not exit within its timeout of 1s", "--- child output ---")
		if d := time.Since(start); d > 30*time.Second {
			t.Errorf("Wait took %v with a timeout of 1s", d)
		}
	})
	t.Run("WaitPoint", func(t *testing.T) {
		t.Parallel()
		f := runFake(t, func(tb testing.TB) {
			Start(tb, childHang, Timeout(time.Second)).WaitPoint("never")
		})
		f.wantFatal(t, `did not reach point "never" within its timeout`, "--- child output ---")
	})
}

func TestWaitPointChildExits(t *testing.T) {
	t.Parallel()
	f := runFake(t, func(tb testing.TB) {
		Start(tb, childNil).WaitPoint("never")
	})
	f.wantFatal(t, `exit code 0 before reaching point "never"`, "hello from nil")

	f = runFake(t, func(tb testing.TB) {
		Start(tb, childPanic).WaitPoint("never")
	})
	f.wantFatal(t, `exit code 2 before reaching point "never"`, "kaboom")
}

func TestStartUnknown(t *testing.T) {
	t.Parallel()
	f := runFake(t, func(tb testing.TB) { Start(tb, "no such function") })
	f.wantFatal(t, `no function registered as "no such function"`)
}

func TestRegisterDuplicate(t *testing.T) {
	defer func() {
		if r := recover(); r == nil || !strings.Contains(fmt.Sprint(r), "registered twice") {
			t.Errorf("recovered %v, want a panic about a duplicate", r)
		}
	}()
	Register(childNil, func(*Child) error { return nil })
}

func TestCleanupKills(t *testing.T) {
	t.Parallel()
	var p *Proc
	t.Run("inner", func(t *testing.T) {
		p = Start(t, childHang)
	})
	// The inner test's cleanup killed and reaped the child.
	select {
	case <-p.done:
	default:
		t.Fatal("child still running after its test ended")
	}
	if !p.result.Killed() {
		t.Errorf("result %+v, want killed", p.result)
	}
}

// fakeTB records the first Fatalf and ends its goroutine like testing.T does.
// Everything else goes to the real test, so cleanups still run.
type fakeTB struct {
	testing.TB
	mu    sync.Mutex
	fatal string
}

func (f *fakeTB) Helper() {}

func (f *fakeTB) Fatalf(format string, args ...any) {
	f.mu.Lock()
	f.fatal = fmt.Sprintf(format, args...)
	f.mu.Unlock()
	runtime.Goexit()
}

func (f *fakeTB) Fatal(args ...any) { f.Fatalf("%s", fmt.Sprint(args...)) }

// runFake runs fn in its own goroutine with a fakeTB and waits for it.
func runFake(t *testing.T, fn func(tb testing.TB)) *fakeTB {
	t.Helper()
	f := &fakeTB{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		fn(f)
	}()
	select {
	case <-done:
	case <-time.After(time.Minute):
		t.Fatal("the helper hung")
	}
	return f
}

func (f *fakeTB) wantFatal(t *testing.T, want ...string) {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fatal == "" {
		t.Fatalf("no Fatalf, want one containing %q", want)
	}
	for _, w := range want {
		if !strings.Contains(f.fatal, w) {
			t.Errorf("Fatalf message %q does not contain %q", f.fatal, w)
		}
	}
}

func pipe(t *testing.T) (r, w *os.File) {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		r.Close()
		w.Close()
	})
	return r, w
}

// readNow reads exactly n bytes that must already be there, or soon.
func readNow(t *testing.T, r *os.File, n int) string {
	t.Helper()
	r.SetReadDeadline(time.Now().Add(10 * time.Second))
	defer r.SetReadDeadline(time.Time{})
	buf := make([]byte, n)
	if _, err := io.ReadFull(r, buf); err != nil {
		t.Fatalf("reading %d bytes: %v", n, err)
	}
	return string(buf)
}

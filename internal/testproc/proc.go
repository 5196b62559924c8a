package testproc

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// DefaultTimeout is how long a child may live unless Timeout says otherwise.
const DefaultTimeout = 2 * time.Minute

// reapGrace bounds the waits that follow a SIGKILL: a killed child is reaped
// at once unless the kernel is stuck, and a test must not hang even then.
const reapGrace = 10 * time.Second

// An Option configures Start.
type Option func(*config)

type config struct {
	files   []*os.File
	arg     string
	hasArg  bool
	timeout time.Duration
	env     []string
	attr    *syscall.SysProcAttr
}

// Files passes f to the child as extra files, in order: the child sees them
// as descriptors 3, 4, ... and gets them with Child.File. Several Files
// options append.
func Files(f ...*os.File) Option {
	return func(c *config) { c.files = append(c.files, f...) }
}

// Arg passes s to the child, which reads it with Child.Arg.
func Arg(s string) Option {
	return func(c *config) { c.arg, c.hasArg = s, true }
}

// Timeout sets how long the child may live in all (default DefaultTimeout).
// Past it the child is killed and the test fails with the child's output.
// It is a hang detector, not a speed check: keep it generous. A d of zero
// or less means DefaultTimeout.
func Timeout(d time.Duration) Option {
	return func(c *config) {
		if d <= 0 {
			d = DefaultTimeout
		}
		c.timeout = d
	}
}

// Env adds "KEY=value" pairs to the child's environment.
func Env(kv ...string) Option {
	return func(c *config) { c.env = append(c.env, kv...) }
}

// Result is how a child ended.
type Result struct {
	ExitCode int            // -1 if killed by a signal
	Signal   syscall.Signal // the signal that ended it, or 0
	Output   string         // stdout and stderr together
}

// Killed reports whether the child was ended by SIGKILL.
func (r Result) Killed() bool { return r.Signal == syscall.SIGKILL }

func (r Result) status() string {
	if r.Signal != 0 {
		return "killed by " + r.Signal.String()
	}
	return "exit code " + strconv.Itoa(r.ExitCode)
}

// Proc is a running (or finished) child, seen from the test.
type Proc struct {
	t       testing.TB
	name    string
	cmd     *exec.Cmd
	timeout time.Duration
	out     lockedBuffer
	timer   *time.Timer

	goW  *os.File // parent's end of the go pipe
	repR *os.File // parent's end of the report pipe

	points     chan string   // reported points not yet consumed; never more than one
	readerDone chan struct{} // closed when the report pipe reached EOF
	done       chan struct{} // closed when the child is reaped and result set
	expired    chan struct{} // closed when the timeout killed the child
	closeOnce  sync.Once

	mu       sync.Mutex // guards the fields below, and signalling against reaping
	exited   bool
	timedOut bool
	greeted  bool // the child reached Main
	paused   bool // WaitPoint returned and the point was not let go yet
	freed    bool // Wait let every point go
	result   Result
}

// Start runs the Func registered as name in a child copy of the test binary.
// It fails the test if name is not registered or the child cannot start.
// A child still running when the test ends is killed and reaped.
func Start(t testing.TB, name string, opts ...Option) *Proc {
	t.Helper()
	if _, ok := lookup(name); !ok {
		t.Fatalf("testproc: no function registered as %q (registered: %q)", name, registeredNames())
	}
	cfg := config{timeout: DefaultTimeout}
	for _, o := range opts {
		o(&cfg)
	}
	exe, err := os.Executable()
	if err != nil {
		exe = os.Args[0]
	}
	goR, goW, err := os.Pipe()
	if err != nil {
		t.Fatalf("testproc: starting %q: %v", name, err)
	}
	repR, repW, err := os.Pipe()
	if err != nil {
		goR.Close()
		goW.Close()
		t.Fatalf("testproc: starting %q: %v", name, err)
	}
	p := &Proc{
		t:          t,
		name:       name,
		timeout:    cfg.timeout,
		goW:        goW,
		repR:       repR,
		points:     make(chan string, 1),
		readerDone: make(chan struct{}),
		done:       make(chan struct{}),
		expired:    make(chan struct{}),
	}
	n := len(cfg.files)
	deadline := time.Now().Add(cfg.timeout)
	p.cmd = exec.Command(exe, "-test.run=^$")
	// The helper's variables go last so that Env cannot override them.
	p.cmd.Env = append(childEnv(os.Environ()), raceEnv(os.Getenv("GORACE")))
	p.cmd.Env = append(p.cmd.Env, cfg.env...)
	p.cmd.Env = append(p.cmd.Env,
		envFunc+"="+name,
		envCtl+"="+strconv.Itoa(3+n)+","+strconv.Itoa(4+n),
		envFiles+"="+strconv.Itoa(n),
		envDeadline+"="+strconv.FormatInt(deadline.UnixNano(), 10),
	)
	if cfg.hasArg {
		p.cmd.Env = append(p.cmd.Env, envArg+"="+cfg.arg)
	}
	p.cmd.SysProcAttr = cfg.attr
	p.cmd.Stdout = &p.out
	p.cmd.Stderr = &p.out // the same writer: exec gives both one pipe
	p.cmd.ExtraFiles = append(append([]*os.File(nil), cfg.files...), goR, repW)
	// A grandchild holding the output pipe must not keep Wait from returning.
	p.cmd.WaitDelay = reapGrace
	err = p.cmd.Start()
	goR.Close()
	repW.Close()
	if err != nil {
		goW.Close()
		repR.Close()
		t.Fatalf("testproc: starting %q: %v", name, err)
	}
	p.timer = time.AfterFunc(cfg.timeout, p.expire)
	go p.read()
	go p.reap()
	t.Cleanup(p.cleanup)
	return p
}

// raceEnv keeps a child built with -race from sleeping a second in every
// exit with status 0 (the race runtime's atexit_sleep_ms), which would make
// a test that runs many children slow. Other GORACE options are kept.
func raceEnv(gorace string) string {
	if !strings.Contains(gorace, "atexit_sleep_ms") {
		gorace = strings.TrimSpace(gorace + " atexit_sleep_ms=0")
	}
	return "GORACE=" + gorace
}

// Pid returns the child's process id.
func (p *Proc) Pid() int { return p.cmd.Process.Pid }

// WaitPoint consumes the child's reported points in order until name. Earlier,
// different points are let go; a point the child is paused at from an earlier
// WaitPoint is let go first. When WaitPoint returns, the child is blocked
// inside Point(name) and has executed nothing after it. It fails the test if
// the child exits first or its timeout passes.
func (p *Proc) WaitPoint(name string) {
	p.t.Helper()
	p.Continue()
	p.mu.Lock()
	freed := p.freed
	p.mu.Unlock()
	if freed {
		p.fatalf("WaitPoint(%q) after Wait", name)
	}
	for {
		select {
		case got := <-p.points:
			if got == name {
				p.mu.Lock()
				p.paused = true
				p.mu.Unlock()
				return
			}
			p.send(byteGo)
		case <-p.done:
			p.mu.Lock()
			timedOut, res := p.timedOut, p.result
			p.mu.Unlock()
			if !timedOut {
				p.fatalf("%s before reaching point %q", res.status(), name)
			}
			p.fatalf("did not reach point %q within its timeout of %v; killed it", name, p.timeout)
		case <-p.expired:
			p.awaitReaped()
			p.fatalf("did not reach point %q within its timeout of %v; killed it", name, p.timeout)
		}
	}
}

// Continue lets a child paused at a point go on. It does nothing if the child
// is not paused.
func (p *Proc) Continue() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.paused {
		p.paused = false
		p.sendLocked(byteGo)
	}
}

// Kill sends SIGKILL to the child now. It is safe to call at any time, from
// any goroutine, also after the child exited: a reaped pid is never signalled.
func (p *Proc) Kill() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.exited {
		// os.Process refuses to signal a process it has reaped (with a pidfd
		// where the kernel has them); exited only saves the system call.
		_ = p.cmd.Process.Kill()
	}
}

// Wait lets the point the child is paused at go, and every later point too,
// and waits for the child to exit. If the timeout passes first, it kills the
// child and fails the test with the child's output. Waiting again returns
// the same Result.
func (p *Proc) Wait() Result {
	p.t.Helper()
	p.mu.Lock()
	if !p.freed {
		p.freed, p.paused = true, false
		p.sendLocked(byteAll)
	}
	p.mu.Unlock()
	select {
	case <-p.done:
	case <-p.expired:
		p.awaitReaped()
	}
	// A child that exits on its own closes the report pipe; read to the end
	// so that greeted is known.
	select {
	case <-p.readerDone:
	case <-time.After(reapGrace):
	}
	p.closeControl()
	p.mu.Lock()
	timedOut, greeted, res := p.timedOut, p.greeted, p.result
	p.mu.Unlock()
	if timedOut {
		p.fatalf("did not exit within its timeout of %v; killed it", p.timeout)
	}
	if !greeted && res.Signal == 0 {
		p.fatalf("%s without running %q: does the package's TestMain call testproc.Main?", res.status(), p.name)
	}
	return res
}

// Succeed waits like Wait and fails the test unless the child exited 0.
func (p *Proc) Succeed() Result {
	p.t.Helper()
	res := p.Wait()
	if res.ExitCode != 0 {
		p.fatalf("%s", res.status())
	}
	return res
}

// fatalf fails the test with the child's output so far.
func (p *Proc) fatalf(format string, args ...any) {
	p.t.Helper()
	out := p.out.String()
	if out == "" {
		out = "(none)\n"
	} else if !strings.HasSuffix(out, "\n") {
		out += "\n"
	}
	p.t.Fatalf("testproc: child %q (pid %d): %s\n--- child output ---\n%s--- end of child output ---",
		p.name, p.Pid(), fmt.Sprintf(format, args...), out)
}

func (p *Proc) send(b byte) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.sendLocked(b)
}

// sendLocked writes one control byte. It cannot block: the child has at most
// one point pending, so at most two bytes are ever unread. A write to a child
// that has exited fails with EPIPE, which means nothing here.
func (p *Proc) sendLocked(b byte) {
	if !p.exited {
		_, _ = p.goW.Write([]byte{b})
	}
}

// read turns the child's report lines into state and points.
func (p *Proc) read() {
	defer close(p.readerDone)
	sc := bufio.NewScanner(p.repR)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == msgHello:
			p.mu.Lock()
			p.greeted = true
			p.mu.Unlock()
		case strings.HasPrefix(line, msgPoint):
			p.mu.Lock()
			freed := p.freed
			p.mu.Unlock()
			if freed {
				// The child will read the byteAll already sent.
				continue
			}
			select {
			case p.points <- strings.TrimPrefix(line, msgPoint):
			default:
				// Impossible while Point serialises reports: a child waits
				// for a byte after each one.
			}
		}
	}
}

// reap waits for the child and records how it ended.
func (p *Proc) reap() {
	_ = p.cmd.Wait() // the state says all; an ErrWaitDelay only cut the output short
	p.timer.Stop()
	res := Result{ExitCode: -1, Output: p.out.String()}
	if st := p.cmd.ProcessState; st != nil {
		res.ExitCode = st.ExitCode()
		if ws, ok := st.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			res.Signal = ws.Signal()
		}
	}
	p.mu.Lock()
	p.exited = true
	p.result = res
	p.mu.Unlock()
	close(p.done)
}

// expire runs when the timeout passes.
func (p *Proc) expire() {
	p.mu.Lock()
	if !p.exited {
		p.timedOut = true
		_ = p.cmd.Process.Kill()
	}
	p.mu.Unlock()
	close(p.expired)
}

// awaitReaped waits, bounded, for a killed child to be reaped.
func (p *Proc) awaitReaped() {
	select {
	case <-p.done:
	case <-time.After(reapGrace):
	}
}

func (p *Proc) closeControl() {
	p.closeOnce.Do(func() {
		p.goW.Close()
		p.repR.Close()
	})
}

func (p *Proc) cleanup() {
	p.Kill()
	p.awaitReaped()
	p.timer.Stop()
	p.closeControl()
}

// lockedBuffer collects the child's output; failure messages read it while
// the child may still be writing.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

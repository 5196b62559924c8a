package process

import (
	"bytes"
	"context"
	"encoding"
	"encoding/gob"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"

	"github.com/shmkit/shmkit/shm"
)

var (
	// ErrNotSupported: shmkit has no implementation for this system.
	ErrNotSupported = shm.ErrNotSupported
	// ErrInvalid: an argument out of range, such as a negative pool size.
	// The same value as shm.ErrInvalid.
	ErrInvalid = shm.ErrInvalid
	// ErrNotRegistered: a Target that Register did not make.
	ErrNotRegistered = errors.New("process: function not registered")
	// ErrStarted: Start called twice.
	ErrStarted = errors.New("process: already started")
	// ErrNotStarted: Terminate, Kill or Join before Start.
	ErrNotStarted = errors.New("process: not started")
	// ErrNoMain: Start in a child whose program did not call Main first:
	// the child is running the parent's main instead of its function, and
	// starting children from there would start them without end.
	ErrNoMain = errors.New("process: Main was not called first in main (or TestMain)")
)

// Target names a function registered to run in a child process with an
// argument of type A.
type Target[A any] struct {
	name   string
	prefix string // of default process names: "Process", or a Runner's type name
}

// Name is the name the function was registered under.
func (t Target[A]) Name() string { return t.name }

// wire is how an argument travels: inside a struct, so that gob carries
// a nil pointer (as an absent field) and the zero value.
type wire[A any] struct{ Arg A }

// entry is a registered function as the child runs it: decode the
// argument, then call.
type entry struct {
	argType reflect.Type
	run     func(ctx context.Context, arg []byte) error
	chunk   runChunk // for a Func: runs a task's items (see RegisterFunc)
}

var registry struct {
	sync.Mutex
	m map[string]entry
}

// Register registers fn under name, so that a child process can run it.
// Call it in a package-level variable (package initialisation), so that a
// parent and the child it re-executes know the same names. An empty or
// duplicate name panics, before any child can run.
func Register[A any](name string, fn func(ctx context.Context, arg A) error) Target[A] {
	if fn == nil {
		panic("process: Register with a nil function")
	}
	add(name, entry{argType: reflect.TypeFor[A](), run: decoding(name, fn)})
	return Target[A]{name: name}
}

// decoding is fn behind the decoding of its argument.
func decoding[A any](name string, fn func(ctx context.Context, arg A) error) func(context.Context, []byte) error {
	return func(ctx context.Context, b []byte) error {
		var w wire[A]
		if err := gob.NewDecoder(bytes.NewReader(b)).Decode(&w); err != nil {
			return fmt.Errorf("process: decoding the argument of %q (%s): %w", name, reflect.TypeFor[A](), err)
		}
		return fn(ctx, w.Arg)
	}
}

// add registers e under name; Register and RegisterFunc share the names.
func add(name string, e entry) {
	if name == "" {
		panic("process: Register with an empty name")
	}
	registry.Lock()
	defer registry.Unlock()
	if _, dup := registry.m[name]; dup {
		panic(fmt.Sprintf("process: %q registered twice", name))
	}
	if registry.m == nil {
		registry.m = map[string]entry{}
	}
	registry.m[name] = e
}

// Runner is a type whose values run as a process themselves: Python's
// Process subclass that overrides run.
type Runner interface {
	// Run is the child's work, as a registered function is: ctx is
	// cancelled when the child is terminated, and an error it returns
	// makes the child exit with code 1 (Join's *ExitError).
	Run(ctx context.Context) error
}

// RegisterRunner registers the Runner type R under name: New(t, r) then
// starts a child that runs r.Run. Processes of it are named after the
// type by default ("Worker-1" for a Worker or *Worker), numbered with the
// other processes, as Python names them.
func RegisterRunner[R Runner](name string) Target[R] {
	t := Register(name, func(ctx context.Context, r R) error { return r.Run(ctx) })
	rt := reflect.TypeFor[R]()
	for rt.Kind() == reflect.Pointer {
		rt = rt.Elem()
	}
	if n := rt.Name(); n != "" {
		if i := strings.IndexByte(n, '['); i > 0 {
			n = n[:i] // a generic type's name without its arguments
		}
		t.prefix = n
	}
	return t
}

func lookup(name string) (entry, bool) {
	registry.Lock()
	defer registry.Unlock()
	e, ok := registry.m[name]
	return e, ok
}

// Option configures a Process.
type Option func(*config)

type config struct {
	name   string
	daemon bool
}

// Name names the process (default "Process-N", N counting the processes
// made by New in this process, from 1).
func Name(name string) Option { return func(c *config) { c.name = name } }

// Daemon makes the process a daemon: it dies when its parent dies, even
// by SIGKILL, and JoinAll does not wait for it.
func Daemon(on bool) Option { return func(c *config) { c.daemon = on } }

var (
	counter   atomic.Int64
	startOnce sync.Once
)

// Process is a child process running a registered function, as Python's
// multiprocessing.Process.
type Process struct {
	target string
	encode func() ([]byte, error)
	config

	mu        sync.Mutex
	cmd       *exec.Cmd
	parentEnd *os.File      // held open while the child runs: a daemon watches it
	exitEnd   *os.File      // the child's exitReport arrives here
	exited    chan struct{} // of a spare: closed once reaped (cmd.Wait is the spare's)
	said      chan struct{} // of a spare not ready when handed its order: closed once it said so or died
	started   bool
	done      chan struct{} // closed once the child was reaped
	state     *os.ProcessState
	exitErr   error // Join's answer once done: nil or an *ExitError
}

// New makes a Process that will run t with arg once started.
func New[A any](t Target[A], arg A, opts ...Option) *Process {
	p := &Process{target: t.name, done: make(chan struct{})}
	p.encode = func() ([]byte, error) { return encodeArg(arg) }
	prefix := t.prefix
	if prefix == "" {
		prefix = "Process"
	}
	p.name = fmt.Sprintf("%s-%d", prefix, counter.Add(1))
	for _, o := range opts {
		o(&p.config)
	}
	return p
}

// encodeArg encodes an argument as a child decodes it.
func encodeArg[A any](arg A) ([]byte, error) {
	if err := encodable(reflect.TypeFor[A](), map[reflect.Type]bool{}); err != nil {
		return nil, fmt.Errorf("process: the argument (%s) cannot travel to a child: %w", reflect.TypeFor[A](), err)
	}
	var buf bytes.Buffer
	if err := gob.NewEncoder(&buf).Encode(wire[A]{arg}); err != nil {
		return nil, fmt.Errorf("process: encoding the argument (%s): %w", reflect.TypeFor[A](), err)
	}
	return buf.Bytes(), nil
}

var (
	binaryMarshaler = reflect.TypeFor[encoding.BinaryMarshaler]()
	gobEncoder      = reflect.TypeFor[gob.GobEncoder]()
)

// encodable rejects the types gob would drop without a word: funcs,
// channels and unsafe pointers, in the exported fields of a struct as
// anywhere else. A type that encodes itself is taken as it is.
func encodable(t reflect.Type, seen map[reflect.Type]bool) error {
	if seen[t] {
		return nil
	}
	seen[t] = true
	if t.Implements(binaryMarshaler) || t.Implements(gobEncoder) ||
		reflect.PointerTo(t).Implements(binaryMarshaler) || reflect.PointerTo(t).Implements(gobEncoder) {
		return nil
	}
	switch t.Kind() {
	case reflect.Func, reflect.Chan, reflect.UnsafePointer:
		return fmt.Errorf("%s values do not cross processes", t)
	case reflect.Pointer, reflect.Slice, reflect.Array:
		return encodable(t.Elem(), seen)
	case reflect.Map:
		if err := encodable(t.Key(), seen); err != nil {
			return err
		}
		return encodable(t.Elem(), seen)
	case reflect.Struct:
		for i := range t.NumField() {
			f := t.Field(i)
			if !f.IsExported() {
				continue
			}
			if err := encodable(f.Type, seen); err != nil {
				return fmt.Errorf("field %s: %w", f.Name, err)
			}
		}
	}
	return nil
}

// Name is the process's name.
func (p *Process) Name() string { return p.name }

// Daemon reports whether the process is a daemon.
func (p *Process) Daemon() bool { return p.daemon }

// Pid is the child's process id, 0 before Start.
func (p *Process) Pid() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil || p.cmd.Process == nil {
		return 0
	}
	return p.cmd.Process.Pid
}

// Start starts the child. An unregistered function, an argument the
// encoder cannot handle, or a second Start fail here, before any child
// runs.
func (p *Process) Start() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.started {
		return fmt.Errorf("%w: %s", ErrStarted, p.name)
	}
	if os.Getenv(envFunc) != "" || os.Getenv(envSpare) != "" {
		return ErrNoMain
	}
	if _, ok := lookup(p.target); !ok || p.target == "" {
		return fmt.Errorf("%w: %q", ErrNotRegistered, p.target)
	}
	arg, err := p.encode()
	if err != nil {
		return err
	}
	if err := launch(p, arg); err != nil {
		return fmt.Errorf("process: starting %s: %w", p.name, err)
	}
	p.started = true
	logger().Debug("started " + p.name)
	children.add(p)
	go p.reap()
	return nil
}

func (p *Process) reap() {
	waited := make(chan struct{})
	reported := make(chan exitReport, 1)
	go func() {
		if p.said != nil {
			// Its word that it took the order comes first, or nothing.
			<-p.said
			var took [1]byte
			p.exitEnd.Read(took[:])
		}
		r, _ := readReport(p.exitEnd, waited)
		reported <- r
	}()
	if p.exited != nil {
		<-p.exited
	} else {
		p.cmd.Wait() // the state says how it ended; an error adds nothing
	}
	close(waited)
	r := <-reported
	p.mu.Lock()
	p.state = p.cmd.ProcessState
	p.parentEnd.Close()
	if code := exitCode(p.state); code != 0 {
		p.exitErr = &ExitError{Name: p.name, Pid: p.cmd.Process.Pid, Code: code,
			Message: r.Message, Panic: r.Panic, Stack: r.Stack}
	}
	p.mu.Unlock()
	children.remove(p) // before done: a joined child is no active child
	close(p.done)
}

// Join waits until the child has exited, or ctx ends (the child then keeps
// running and Join returns ctx.Err()). Like exec.Cmd.Wait it returns nil
// for a clean exit (status 0) and an *ExitError otherwise, carrying the
// exit code and, when the function returned an error or panicked, its text
// or the panic's value and stack, which the child sends back before it
// exits. Every Join of the same child returns the same answer.
func (p *Process) Join(ctx context.Context) error {
	p.mu.Lock()
	started := p.started
	p.mu.Unlock()
	if !started {
		return fmt.Errorf("%w: %s", ErrNotStarted, p)
	}
	select {
	case <-p.done:
		p.mu.Lock()
		defer p.mu.Unlock()
		return p.exitErr
	case <-ctx.Done():
		return ctx.Err()
	}
}

// IsAlive reports whether the child was started and has not exited.
func (p *Process) IsAlive() bool {
	p.mu.Lock()
	started := p.started
	p.mu.Unlock()
	if !started {
		return false
	}
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

// ExitCode is the child's exit status once it stopped: 0 when its function
// returned nil, 1 when it returned an error or panicked, the status it
// passed to os.Exit, or -N when signal N ended it. ok is false while the
// child has not stopped (Python's None).
func (p *Process) ExitCode() (code int, ok bool) {
	select {
	case <-p.done:
	default:
		return 0, false
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return exitCode(p.state), true
}

func exitCode(st *os.ProcessState) int {
	if ws, ok := st.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return -int(ws.Signal())
	}
	return st.ExitCode()
}

// Terminate sends SIGTERM: the child's context is cancelled, and once its
// function returns (or after a grace of a second) the child dies of
// SIGTERM (ExitCode -15). A child that already exited is not signalled.
func (p *Process) Terminate() error { return p.signal(syscall.SIGTERM) }

// Kill sends SIGKILL (ExitCode -9). A child that already exited is not
// signalled.
func (p *Process) Kill() error { return p.signal(syscall.SIGKILL) }

// signal signals the child unless it was reaped: the pid is never
// signalled once another process could have it (os.Process signals
// through a pidfd where the system has them).
func (p *Process) signal(sig syscall.Signal) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.started {
		return fmt.Errorf("%w: %s", ErrNotStarted, p.name)
	}
	if p.state != nil {
		return nil
	}
	err := p.cmd.Process.Signal(sig)
	if errors.Is(err, os.ErrProcessDone) {
		return nil
	}
	return err
}

// String describes the process as Python does: "Process(worker 1,
// started)", "Process(worker 1, stopped[SIGTERM])".
func (p *Process) String() string {
	p.mu.Lock()
	started, st := p.started, p.state
	p.mu.Unlock()
	status := "initial"
	switch {
	case st != nil:
		status = "stopped"
		if c := exitCode(st); c < 0 {
			status += "[" + signalName(syscall.Signal(-c)) + "]"
		} else if c > 0 {
			status += fmt.Sprintf("[%d]", c)
		}
	case started:
		status = "started"
	}
	if p.daemon && st == nil {
		status += " daemon"
	}
	return fmt.Sprintf("Process(%s, %s)", p.name, status)
}

var signalNames = map[syscall.Signal]string{
	syscall.SIGHUP: "SIGHUP", syscall.SIGINT: "SIGINT", syscall.SIGQUIT: "SIGQUIT", syscall.SIGILL: "SIGILL",
	syscall.SIGABRT: "SIGABRT", syscall.SIGBUS: "SIGBUS", syscall.SIGFPE: "SIGFPE", syscall.SIGKILL: "SIGKILL",
	syscall.SIGSEGV: "SIGSEGV", syscall.SIGPIPE: "SIGPIPE", syscall.SIGALRM: "SIGALRM", syscall.SIGTERM: "SIGTERM",
}

func signalName(s syscall.Signal) string {
	if n, ok := signalNames[s]; ok {
		return n
	}
	return fmt.Sprintf("signal %d", int(s))
}

// children are the children started and not yet reaped, in the order
// they were started.
var children = &childSet{}

type childSet struct {
	sync.Mutex
	ps []*Process
}

func (c *childSet) add(p *Process) {
	c.Lock()
	c.ps = append(c.ps, p)
	c.Unlock()
}

func (c *childSet) remove(p *Process) {
	c.Lock()
	if i := slices.Index(c.ps, p); i >= 0 {
		c.ps = slices.Delete(c.ps, i, i+1)
	}
	c.Unlock()
}

func (c *childSet) list(daemons bool) []*Process {
	c.Lock()
	defer c.Unlock()
	ps := make([]*Process, 0, len(c.ps))
	for _, p := range c.ps {
		if daemons || !p.daemon {
			ps = append(ps, p)
		}
	}
	return ps
}

// JoinAll waits for every non-daemon child this process started, or until
// ctx ends: what a main function defers so that it does not leave its
// children behind (Python joins them at exit). It returns ctx.Err() or
// nil: how each child ended is its own Join's answer (a Group gives the
// first failure of several).
func JoinAll(ctx context.Context) error {
	logger().Info("process shutting down")
	for _, p := range children.list(false) {
		if err := p.Join(ctx); err != nil && ctx.Err() != nil {
			return ctx.Err() // not an *ExitError that came at the same time
		}
	}
	return nil
}

// ActiveChildren lists the children this process started, daemons too,
// that have not exited, in the order they were started: Python's
// active_children(). A child is reaped as soon as it exits, without a
// Join (Python's active_children joins the finished ones as it goes), so a
// child that exited an instant ago may still be listed; once Join has
// returned nil or an *ExitError for it, it is not.
func ActiveChildren() []*Process { return children.list(true) }

// Info describes a process: Current's answer.
type Info struct {
	Name string // "MainProcess" in a process not started by this package
	Pid  int    // the process's id, as os.Getpid
	PPid int    // its parent's id, as os.Getppid
}

// Current describes the calling process.
func Current() Info {
	return Info{Name: currentName(), Pid: os.Getpid(), PPid: os.Getppid()}
}

// Parent describes the process that started this one with Process.Start,
// as Current described itself then: Python's parent_process(). ok is false
// in a process not started by this package (the main process, where
// Python's answer is None). The parent may have exited since.
func Parent() (info Info, ok bool) {
	current.Lock()
	defer current.Unlock()
	return current.parent, current.child
}

// parentEnv is what a child's Parent returns, as it travels: "pid ppid name".
func parentEnv(i Info) string { return fmt.Sprintf("%d %d %s", i.Pid, i.PPid, i.Name) }

func parseParent(s string) (Info, bool) {
	var i Info
	f := strings.SplitN(s, " ", 3)
	if len(f) != 3 {
		return i, false
	}
	var err1, err2 error
	i.Pid, err1 = strconv.Atoi(f[0])
	i.PPid, err2 = strconv.Atoi(f[1])
	i.Name = f[2]
	return i, err1 == nil && err2 == nil
}

// CPUCount is the number of CPUs this process may run on.
func CPUCount() int { return cpuCount() }

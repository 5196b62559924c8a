//go:build unix

package process

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"strconv"
	"syscall"
	"time"

	"github.com/shmkit/shmkit/internal/sys"
	"github.com/shmkit/shmkit/shm"
)

func runChild(fn string) int {
	name, daemon := os.Getenv(envName), os.Getenv(envDaemon) == "1"
	nseg, _ := strconv.Atoi(os.Getenv(envSegments))
	level := os.Getenv(envLog)
	parentInfo, parentOK := parseParent(os.Getenv(envParent))
	for _, k := range []string{envFunc, envName, envDaemon, envSegments, envLog, envParent} {
		os.Unsetenv(k)
	}
	become(name, parentInfo, parentOK, level)
	exit := os.NewFile(fdExit, "exit")
	for fd := fdArg; fd < fdSegments+nseg; fd++ {
		syscall.CloseOnExec(fd) // not passed on to this child's children
	}
	parent := os.NewFile(fdParent, "parent")
	if daemon {
		go watchParent(parent)
	} else {
		parent.Close()
	}
	if err := mapHeap(nseg); err != nil {
		return fail(exit, name, "mapping the parent's heap: %v", err)
	}
	argFile := os.NewFile(fdArg, "argument")
	arg, err := io.ReadAll(argFile)
	argFile.Close()
	if err != nil {
		return fail(exit, name, "reading the argument: %v", err)
	}
	return run(exit, name, fn, arg, notifyTerm())
}

// notifyTerm catches SIGTERM, for run.
func notifyTerm() chan os.Signal {
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM)
	return sigs
}

// become makes this process the child named name, of the parent described.
func become(name string, parent Info, parentOK bool, level string) {
	current.Lock()
	current.name = name
	current.parent, current.child = parent, parentOK
	current.Unlock()
	if l, err := strconv.Atoi(level); err == nil && level != "" {
		LogToStderr(logLevel(l))
	}
}

// mapHeap adds the nseg segments of the parent's default heap, inherited
// from fdSegments on, to this process's default heap.
func mapHeap(nseg int) error {
	for i := range nseg {
		seg, err := shm.FromFile(os.NewFile(uintptr(fdSegments+i), "segment"))
		if err != nil {
			return err
		}
		shm.DefaultHeap().Add(seg)
	}
	return nil
}

// fail reports, before the function could run, why it could not: on
// stderr and to the parent. It returns the exit status.
func fail(exit *os.File, name, format string, args ...any) int {
	msg := fmt.Sprintf(format, args...)
	fmt.Fprintf(os.Stderr, "process %s: %s\n", name, msg)
	sendReport(exit, exitReport{Message: msg})
	return 1
}

// run runs the function registered as fn on arg, and returns the exit
// status; a failure is reported to the parent through exit. SIGTERM,
// caught on sigs, cancels the function's context.
func run(exit *os.File, name, fn string, arg []byte, sigs chan os.Signal) int {
	e, ok := lookup(fn)
	if !ok {
		return fail(exit, name, "function %q is not registered in this program", fn)
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	terminated := make(chan struct{})
	go func() {
		<-sigs
		logger().Info("terminated: cancelling the context")
		close(terminated)
		cancel()
		time.Sleep(grace)
		dieOf(syscall.SIGTERM)
	}()

	logger().Info("child process calling run")
	code := 0
	err := callEntry(ctx, e, arg)
	if pe, ok := err.(*panicError); ok {
		fmt.Fprintf(os.Stderr, "process %s: %v\n%s\n", name, err, pe.stack)
	} else if err != nil {
		fmt.Fprintf(os.Stderr, "process %s: %v\n", name, err)
	}
	select {
	case <-terminated:
		dieOf(syscall.SIGTERM)
	default:
	}
	if err != nil {
		code = 1
		sendReport(exit, reportOf(err))
	}
	logger().Info("process shutting down")
	logger().Info(fmt.Sprintf("process exiting with exitcode %d", code))
	return code
}

// callEntry runs the function, turning a panic into a *panicError with its
// stack.
func callEntry(ctx context.Context, e entry, arg []byte) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = &panicError{value: fmt.Sprint(r), stack: string(debug.Stack())}
		}
	}()
	return e.run(ctx, arg)
}

// watchParent ends a daemon child when its parent is gone: the parent's
// end of the pipe closes when it dies, however it dies. (The kernel's
// parent-death signal, set at Start, usually comes first.)
func watchParent(f *os.File) {
	var b [1]byte
	f.Read(b[:])
	dieOf(syscall.SIGKILL)
}

// dieOf ends this process by sig, so that its parent sees it killed by
// that signal.
func dieOf(sig syscall.Signal) {
	signal.Reset(sig)
	syscall.Kill(os.Getpid(), sig)
	time.Sleep(time.Second)
	os.Exit(128 + int(sig))
}

// runSpare is a spare child (see Spares): it maps the parent's heap, says
// it is ready, waits for its order on the argument descriptor, and runs it
// as a child started for it would. It exits without a word when the
// parent closes the descriptor with no order: the parent ended the spare,
// or died.
func runSpare() int {
	nseg, _ := strconv.Atoi(os.Getenv(envSegments))
	for _, k := range []string{envSpare, envSegments} {
		os.Unsetenv(k)
	}
	for fd := fdArg; fd < fdSegments+nseg; fd++ {
		syscall.CloseOnExec(fd)
	}
	exit := os.NewFile(fdExit, "exit")
	if err := mapHeap(nseg); err != nil {
		return fail(exit, "spare", "mapping the parent's heap: %v", err)
	}
	// SIGTERM is caught now, not when the function starts: the thread
	// that catches it is then running already. Until an order comes it
	// ends the spare.
	sigs := notifyTerm()
	ordered, idle := make(chan struct{}), make(chan struct{})
	go func() {
		select {
		case <-sigs:
			dieOf(syscall.SIGTERM)
		case <-ordered:
			close(idle)
		}
	}()
	if _, err := exit.Write([]byte{spareReady}); err != nil {
		return 1
	}
	orders := os.NewFile(fdArg, "order")
	b, err := io.ReadAll(orders)
	orders.Close()
	close(ordered)
	<-idle
	if len(b) == 0 {
		return 0
	}
	if _, err := exit.Write([]byte{spareTook}); err != nil {
		return 1
	}
	if err != nil {
		return fail(exit, "spare", "reading the order: %v", err)
	}
	o, err := parseOrder(b)
	if err != nil {
		return fail(exit, "spare", "%v", err)
	}
	parentInfo, parentOK := parseParent(o.parent)
	become(o.name, parentInfo, parentOK, o.level)
	parent := os.NewFile(fdParent, "parent")
	if o.daemon {
		// As a daemon started anew: the kernel's signal (any thread may
		// set it for the whole process), unless the parent is already
		// gone, and the pipe.
		sys.SetParentDeathSignal(syscall.SIGKILL)
		if parentOK && os.Getppid() != parentInfo.Pid {
			dieOf(syscall.SIGKILL)
		}
		go watchParent(parent)
	} else {
		parent.Close()
	}
	return run(exit, o.name, o.fn, o.arg, sigs)
}

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
	current.Lock()
	current.name = name
	current.parent, current.child = parentInfo, parentOK
	current.Unlock()
	if l, err := strconv.Atoi(level); err == nil && level != "" {
		LogToStderr(logLevel(l))
	}
	exit := os.NewFile(fdExit, "exit")
	fail := func(format string, args ...any) int {
		msg := fmt.Sprintf(format, args...)
		fmt.Fprintf(os.Stderr, "process %s: %s\n", name, msg)
		sendReport(exit, exitReport{Message: msg})
		return 1
	}
	for fd := fdArg; fd < fdSegments+nseg; fd++ {
		syscall.CloseOnExec(fd) // not passed on to this child's children
	}
	parent := os.NewFile(fdParent, "parent")
	if daemon {
		go watchParent(parent)
	} else {
		parent.Close()
	}
	for i := range nseg {
		seg, err := shm.FromFile(os.NewFile(uintptr(fdSegments+i), "segment"))
		if err != nil {
			return fail("mapping the parent's heap: %v", err)
		}
		shm.DefaultHeap().Add(seg)
	}
	argFile := os.NewFile(fdArg, "argument")
	arg, err := io.ReadAll(argFile)
	argFile.Close()
	if err != nil {
		return fail("reading the argument: %v", err)
	}
	e, ok := lookup(fn)
	if !ok {
		return fail("function %q is not registered in this program", fn)
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	terminated := make(chan struct{})
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM)
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
	err = callEntry(ctx, e, arg)
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

package testproc

import (
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

// The control protocol. The child writes one line per event on the report
// pipe; the parent writes one byte on the go pipe per point it lets go.
const (
	msgHello = "h"  // the child reached Main and is about to run its Func
	msgPoint = "p " // followed by the point's name

	byteGo  = 'g' // go on from this point
	byteAll = 'a' // go on from this point and do not stop at later ones
)

// watchdogGrace is how long after the parent's own deadline a child gives up
// on its own. The parent kills it at the deadline; the watchdog only matters
// when the parent died first and nobody else will.
const watchdogGrace = 30 * time.Second

// Child is what a Func gets in the child process.
type Child struct {
	name  string
	arg   string
	files []*os.File

	mu   sync.Mutex // serialises Point, so at most one point is ever pending
	goR  *os.File   // reads go bytes from the parent
	rep  *os.File   // writes report lines to the parent
	free bool       // the parent let every later point go
}

// Point reports to the parent that the child reached the named point, then
// blocks until the parent lets it go on (Proc.Continue, a WaitPoint for a
// later point, or Wait) or kills it. Point names must not contain a newline.
// If the parent is gone, Point exits the child.
func (c *Child) Point(name string) {
	if strings.ContainsRune(name, '\n') {
		panic(fmt.Sprintf("testproc: point name %q contains a newline", name))
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.free {
		return
	}
	if _, err := io.WriteString(c.rep, msgPoint+name+"\n"); err != nil {
		helperExit("reporting point %q: %v", name, err)
	}
	var b [1]byte
	if n, err := c.goR.Read(b[:]); n == 0 {
		helperExit("waiting at point %q: parent went away (%v)", name, err)
	}
	switch b[0] {
	case byteGo:
	case byteAll:
		c.free = true
	default:
		helperExit("waiting at point %q: bad control byte %q", name, b[0])
	}
}

// File returns the i-th file passed with Files. They are descriptors 3, 4,
// ... in the child, in order. It panics if i is out of range.
func (c *Child) File(i int) *os.File {
	if i < 0 || i >= len(c.files) {
		panic(fmt.Sprintf("testproc: File(%d) out of range: the child has %d files", i, len(c.files)))
	}
	return c.files[i]
}

// NumFiles returns how many files were passed with Files.
func (c *Child) NumFiles() int { return len(c.files) }

// Arg returns the argument passed with Arg, or "" if none.
func (c *Child) Arg() string { return c.arg }

// helperExit ends a child whose helper, rather than its Func, failed.
func helperExit(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "testproc: child: "+format+"\n", args...)
	os.Exit(exitHelper)
}

// runChild runs the Func named by the environment and exits.
func runChild(name string) {
	fn, ok := lookup(name)
	if !ok {
		helperExit("no function registered as %q (registered: %q)", name, registeredNames())
	}
	c, deadline, err := childFromEnv(name)
	if err != nil {
		helperExit("%v", err)
	}
	if err := mountOwnProc(); err != nil {
		helperExit("%v", err)
	}
	// Clear the helper's variables so that processes this child starts are
	// not taken for testproc children themselves.
	for _, kv := range os.Environ() {
		if k, _, _ := strings.Cut(kv, "="); strings.HasPrefix(k, envPrefix) {
			os.Unsetenv(k)
		}
	}
	if !deadline.IsZero() {
		time.AfterFunc(time.Until(deadline)+watchdogGrace, func() {
			helperExit("%q outlived its timeout; the parent must be gone", name)
		})
	}
	if _, err := io.WriteString(c.rep, msgHello+"\n"); err != nil {
		helperExit("greeting the parent: %v", err)
	}
	if err := fn(c); err != nil {
		fmt.Fprintf(os.Stderr, "testproc: child %q: %v\n", name, err)
		os.Exit(1)
	}
	os.Exit(0)
}

func childFromEnv(name string) (*Child, time.Time, error) {
	var deadline time.Time
	n, err := strconv.Atoi(os.Getenv(envFiles))
	if err != nil || n < 0 {
		return nil, deadline, fmt.Errorf("bad %s=%q", envFiles, os.Getenv(envFiles))
	}
	goFD, repFD, ok := strings.Cut(os.Getenv(envCtl), ",")
	gofd, err1 := strconv.Atoi(goFD)
	repfd, err2 := strconv.Atoi(repFD)
	if !ok || err1 != nil || err2 != nil {
		return nil, deadline, fmt.Errorf("bad %s=%q", envCtl, os.Getenv(envCtl))
	}
	if ns, err := strconv.ParseInt(os.Getenv(envDeadline), 10, 64); err == nil {
		deadline = time.Unix(0, ns)
	}
	// Inherited descriptors are not close-on-exec; the control pipes must
	// not reach the child's own children, or their ends would stay open after
	// the child dies and the parent would not see it go.
	closeOnExec(gofd)
	closeOnExec(repfd)
	c := &Child{
		name: name,
		arg:  os.Getenv(envArg),
		goR:  os.NewFile(uintptr(gofd), "testproc-go"),
		rep:  os.NewFile(uintptr(repfd), "testproc-report"),
	}
	for i := range n {
		c.files = append(c.files, os.NewFile(uintptr(3+i), "testproc-file-"+strconv.Itoa(i)))
	}
	return c, deadline, nil
}

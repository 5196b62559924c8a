package testproc

import (
	"fmt"
	"os"
	"sort"
	"strings"
	"sync"
	"testing"
)

// The environment of a child. envPrefix marks every variable of the helper,
// so that a child can drop them all before running user code and its own
// children (shmkit's process package re-executes binaries too) do not mistake
// themselves for testproc children.
const (
	envPrefix   = "SHMKIT_TESTPROC_"
	envFunc     = envPrefix + "FUNC"     // name of the registered Func to run
	envCtl      = envPrefix + "CTL"      // "GO,REPORT": fds of the control pipes
	envFiles    = envPrefix + "FILES"    // how many user files precede them
	envArg      = envPrefix + "ARG"      // the Arg option, if given
	envDeadline = envPrefix + "DEADLINE" // parent's kill time, Unix nanoseconds
)

// Exit codes of a child besides 0 (nil error), 1 (error) and 2 (panic).
const (
	exitHelper = 3 // the helper itself failed: bad environment, unknown name, parent gone
)

// Func runs in a child copy of the test binary. A nil return exits 0; an
// error is printed to stderr and exits 1; a panic exits 2 as usual.
type Func func(c *Child) error

var (
	regMu    sync.Mutex
	registry = map[string]Func{}
)

// Register names fn so that a test can run it in a child. Call it from a
// package-level var in a _test.go file, so that the parent and every child
// register the same names before Main runs:
//
//	var childCreate = testproc.Register("create", func(c *testproc.Child) error { ... })
//
// It returns the name. An empty name, a nil fn or a duplicate name panics.
func Register(name string, fn Func) string {
	if name == "" || fn == nil {
		panic("testproc: Register needs a name and a function")
	}
	regMu.Lock()
	defer regMu.Unlock()
	if _, dup := registry[name]; dup {
		panic(fmt.Sprintf("testproc: %q registered twice", name))
	}
	registry[name] = fn
	return name
}

func lookup(name string) (Func, bool) {
	regMu.Lock()
	defer regMu.Unlock()
	fn, ok := registry[name]
	return fn, ok
}

func registeredNames() []string {
	regMu.Lock()
	defer regMu.Unlock()
	names := make([]string, 0, len(registry))
	for n := range registry {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Main replaces m.Run in TestMain:
//
//	func TestMain(m *testing.M) { testproc.Main(m) }
//
// In a child it runs the requested Func and exits with its status, never
// running tests. In the parent it records the entries of /dev/shm and the
// open file descriptors, runs the tests, and then fails the run (non-zero
// exit, a line on stderr naming each) when a test left a new entry in
// /dev/shm under a name of this binary's (see ShmName), which it removes,
// or leaked a file descriptor. Descriptors of the
// Go runtime's own poller do not count. The cleanups run after the tests
// and before the check: closing what a package keeps for the life of the
// process (the default heap). It calls os.Exit.
func Main(m *testing.M, cleanups ...func()) {
	if name, ok := os.LookupEnv(envFunc); ok {
		runChild(name) // never returns
	}
	os.Exit(runParent(m, cleanups))
}

func runParent(m *testing.M, cleanups []func()) int {
	lc := startLeakCheck()
	code := m.Run()
	for _, f := range cleanups {
		f()
	}
	problems := lc.finish()
	for _, p := range problems {
		fmt.Fprintln(os.Stderr, "testproc: "+p)
	}
	if len(problems) > 0 && code == 0 {
		code = 1
	}
	return code
}

// childEnv returns env without any of the helper's variables.
func childEnv(env []string) []string {
	out := make([]string, 0, len(env)+5)
	for _, kv := range env {
		if !strings.HasPrefix(kv, envPrefix) {
			out = append(out, kv)
		}
	}
	return out
}

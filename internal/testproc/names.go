package testproc

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

const (
	defaultShmDir = "/dev/shm"

	// testPrefix begins every name ShmName gives: "shmkit-test-PID-N". The
	// leak check of a test binary judges only entries of /dev/shm whose
	// name begins with testPrefix, its own pid and "-" (or is an example's
	// with its pid); .ci/run judges only entries whose name begins with
	// testPrefix or examplePrefix.
	testPrefix = "shmkit-test-"

	// examplePrefix begins the names the examples of package shm give
	// their segments: "shmkit-example-WHAT-PID".
	examplePrefix = "shmkit-example-"
)

var (
	shmSeq atomic.Int64

	// made maps each name ShmName gave to the name of the test it gave it
	// to, so that the leak check can say whose an entry is.
	made sync.Map // string -> string
)

// ShmName is a name for a segment in /dev/shm that no other test or test
// binary uses ("shmkit-test-PID-N"). Whatever holds the name when the test
// ends is removed, so a test that is killed halfway leaves nothing behind.
// Names made from it ("shmkit-test-PID-N-more") are this binary's too: the
// leak check removes and reports those a test leaves.
func ShmName(t testing.TB) string {
	name := ownPrefix() + strconv.FormatInt(shmSeq.Add(1), 10)
	made.Store(name, t.Name())
	t.Cleanup(func() { os.Remove(defaultShmDir + "/" + name) })
	return name
}

// ShmPattern is a glob matching every name ShmName gives in this process.
func ShmPattern() string { return ownPrefix() + "*" }

// ownPrefix begins every name ShmName gives in this process.
func ownPrefix() string { return testPrefix + strconv.Itoa(os.Getpid()) + "-" }

// ours reports whether the /dev/shm entry name is this test binary's by
// its name alone: testPrefix and this process's pid, as ShmName gives, or
// examplePrefix with this process's pid at the end, as the examples of
// package shm give. No other process alive has this pid, so no other
// program gives such a name while this one runs.
func ours(name string) bool {
	if strings.HasPrefix(name, ownPrefix()) {
		return true
	}
	return strings.HasPrefix(name, examplePrefix) && strings.HasSuffix(name, "-"+strconv.Itoa(os.Getpid()))
}

// madeBy names the test that was given name by ShmName, or whose ShmName
// name begins it, followed by "; ", or returns "" when no test was.
func madeBy(name string) string {
	for n := name; strings.HasPrefix(n, ownPrefix()); {
		if test, ok := made.Load(n); ok {
			return fmt.Sprintf("made by %s; ", test)
		}
		i := strings.LastIndexByte(n, '-')
		if i < len(ownPrefix()) {
			break
		}
		n = n[:i]
	}
	return ""
}

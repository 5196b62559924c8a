package process

import (
	"os"
	"runtime"
	"sync"
	"time"
)

// The environment a child is started with, removed before its function
// runs, and its descriptors: 3 carries the encoded argument, 4 is open in
// the parent for as long as it lives, 5 carries back why the function
// failed (an exitReport), 6 on are the segments of the parent's default
// heap.
const (
	envFunc     = "SHMKIT_PROCESS_FUNC"
	envName     = "SHMKIT_PROCESS_NAME"
	envDaemon   = "SHMKIT_PROCESS_DAEMON"
	envSegments = "SHMKIT_PROCESS_SEGMENTS"
	envLog      = "SHMKIT_PROCESS_LOG"
	envParent   = "SHMKIT_PROCESS_PARENT" // "pid ppid name" of the parent, as at Start

	fdArg      = 3
	fdParent   = 4
	fdExit     = 5
	fdSegments = 6
)

// grace is how long a terminated child's function has to return once its
// context was cancelled, before the child dies of SIGTERM anyway.
const grace = time.Second

var current struct {
	sync.Mutex
	name   string
	parent Info
	child  bool // started by Process.Start: parent is known
}

func currentName() string {
	current.Lock()
	defer current.Unlock()
	if current.name == "" {
		return "MainProcess"
	}
	return current.name
}

// Main runs the registered function in a child started by Process.Start,
// and exits with its status; in any other process it returns at once. Call
// it first in main (and in TestMain), before anything else the program does:
// compare Python's `if __name__ == "__main__":`.
func Main() {
	if os.Getenv(envSpare) != "" {
		os.Exit(runSpare())
	}
	if fn := os.Getenv(envFunc); fn != "" {
		os.Exit(runChild(fn))
	}
}

func cpuCount() int { return runtime.NumCPU() }

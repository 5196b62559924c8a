package testproc

import (
	"fmt"
	"os"
	"sync/atomic"
	"testing"
)

var shmSeq atomic.Int64

// ShmName is a name for a segment in /dev/shm that no other test or test
// binary uses ("shmkit-test-PID-N"). Whatever holds the name when the test
// ends is removed, so a test that is killed halfway leaves nothing behind.
func ShmName(t testing.TB) string {
	name := fmt.Sprintf("shmkit-test-%d-%d", os.Getpid(), shmSeq.Add(1))
	t.Cleanup(func() { os.Remove("/dev/shm/" + name) })
	return name
}

// ShmPattern is a glob matching every name ShmName gives in this process.
func ShmPattern() string { return fmt.Sprintf("shmkit-test-%d-*", os.Getpid()) }

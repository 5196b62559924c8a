//go:build linux && (amd64 || arm64)

package process

import (
	"testing"

	"github.com/shmkit/shmkit/internal/testproc"
	"github.com/shmkit/shmkit/shm"
)

func TestMain(m *testing.M) {
	Main() // in a child started by Process.Start: runs its function and exits
	testproc.Main(m, func() { shm.DefaultHeap().Close() })
}

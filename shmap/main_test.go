//go:build linux && (amd64 || arm64)

package shmap

import (
	"testing"

	"github.com/shmkit/shmkit/internal/testproc"
	"github.com/shmkit/shmkit/process"
	"github.com/shmkit/shmkit/shm"
)

func TestMain(m *testing.M) {
	process.Main() // in a child started by package process: runs its function and exits
	testproc.Main(m, func() { shm.DefaultHeap().Close() })
}

//go:build linux && (amd64 || arm64)

package shmap

import (
	"testing"

	"github.com/shmkit/shmkit/internal/shmtest"
	"github.com/shmkit/shmkit/process"
)

func TestMain(m *testing.M) {
	process.Main() // in a child started by package process: runs its function and exits
	shmtest.Main(m)
}

//go:build linux && (amd64 || arm64)

package process

import (
	"testing"

	"github.com/shmkit/shmkit/internal/shmtest"
)

func TestMain(m *testing.M) {
	Main() // in a child started by Process.Start: runs its function and exits
	shmtest.Main(m)
}

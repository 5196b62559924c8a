//go:build linux && (amd64 || arm64)

package owner

import (
	"testing"

	"github.com/shmkit/shmkit/internal/testproc"
)

func TestMain(m *testing.M) { testproc.Main(m) }

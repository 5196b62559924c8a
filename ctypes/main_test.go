package ctypes

import (
	"testing"

	"github.com/shmkit/shmkit/internal/testproc"
)

// TestMain fails the run if a test leaks a /dev/shm entry or a descriptor.
func TestMain(m *testing.M) { testproc.Main(m) }

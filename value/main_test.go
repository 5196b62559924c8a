//go:build linux && (amd64 || arm64)

package value

import (
	"testing"

	"github.com/shmkit/shmkit/internal/shmtest"
	"github.com/shmkit/shmkit/shm"
)

func TestMain(m *testing.M) { shmtest.Main(m) }

// testSeg is a named segment for one test, removed when it ends.
func testSeg(t testing.TB) *shm.Segment { return shmtest.Seg(t) }

//go:build linux && (amd64 || arm64)

package value

import (
	"testing"

	"github.com/shmkit/shmkit/internal/testproc"
	"github.com/shmkit/shmkit/shm"
)

func TestMain(m *testing.M) { testproc.Main(m, func() { shm.DefaultHeap().Close() }) }

// testSeg is a named segment for one test, removed when it ends.
func testSeg(t testing.TB) *shm.Segment {
	t.Helper()
	seg, err := shm.Create(testproc.ShmName(t), 1<<20, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { seg.Close() })
	return seg
}

//go:build linux && (amd64 || arm64)

package shm

import (
	"testing"

	"github.com/shmkit/shmkit/internal/testproc"
)

func TestMain(m *testing.M) { testproc.Main(m) }

// testName is a segment name no other test or test binary uses; the segment
// is unlinked when the test ends.
func testName(t testing.TB) string { return testproc.ShmName(t) }

func mustCreate(t testing.TB, size int64, opts *Options) *Segment {
	t.Helper()
	s, err := Create(testName(t), size, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// closeDefaultHeap closes the default heap's segments, which otherwise live
// as long as the process, so that the leak check sees none.
func closeDefaultHeap() { defaultHeap.Close() }

//go:build linux && (amd64 || arm64)

package shm

import (
	"context"
	"testing"
	"time"

	"github.com/shmkit/shmkit/internal/testproc"
)

func TestMain(m *testing.M) { testproc.Main(m) }

// testName is a segment name no other test or test binary uses; the segment
// is unlinked when the test ends.
func testName(t testing.TB) string { return testproc.ShmName(t) }

func mustCreate(t testing.TB, size int64, opts *SegmentOptions) *Segment {
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

// removeObj frees the object called name, whatever its kind, as the
// allocator tests need.
func removeObj(s *Segment, name string) error {
	if err := s.lockArena(); err != nil {
		return err
	}
	defer s.unlockArena()
	i, e, err := s.lookup(name)
	if err != nil {
		return err
	}
	s.dropEntry(i, e)
	return nil
}

// missing is the context for opening a name that does not exist: Open and
// Find wait for it until the context ends, then report ErrNotExist.
func missing(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Millisecond)
	t.Cleanup(cancel)
	return ctx
}

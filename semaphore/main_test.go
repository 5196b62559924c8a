//go:build linux && (amd64 || arm64)

package semaphore

import (
	"context"
	"fmt"
	"testing"

	"github.com/shmkit/shmkit/internal/shmtest"
	"github.com/shmkit/shmkit/internal/testproc"
	"github.com/shmkit/shmkit/shm"
)

func TestMain(m *testing.M) { testproc.Main(m, func() { shm.DefaultHeap().Close() }) }

// testSeg is a named segment for one test, removed when it ends.
func testSeg(t testing.TB) *shm.Segment { return shmtest.Seg(t) }

// segChild registers a child that opens the segment the first field of its
// argument names, and runs body with it and the other fields; the segment
// is closed when body returns.
func segChild(name string, body func(c *testproc.Child, seg *shm.Segment, f []string) error) string {
	return testproc.Register(name, func(c *testproc.Child) error {
		seg, f, err := shmtest.OpenArgs(c)
		if err != nil {
			return err
		}
		defer seg.Close()
		return body(c, seg, f)
	})
}

// childInts parses the fields of f at indices is as whole numbers, in
// that order.
func childInts(f []string, is ...int) ([]int, error) {
	vs := make([]int, len(is))
	for k, i := range is {
		v, err := shmtest.Int(f, i)
		if err != nil {
			return nil, err
		}
		vs[k] = v
	}
	return vs, nil
}

// barrier3 is a Barrier of 3 called "bar" in a new segment for t.
func barrier3(t testing.TB) (*shm.Segment, *Barrier) {
	t.Helper()
	seg := testSeg(t)
	x, err := NewBarrier(3, shm.In(seg, "bar"))
	if err != nil {
		t.Fatal(err)
	}
	return seg, x
}

// semChild is segChild for a child that uses the Semaphore its argument's
// second field names: body gets it open.
func semChild(name string, body func(c *testproc.Child, seg *shm.Segment, f []string, s *Semaphore) error) string {
	return segChild(name, func(c *testproc.Child, seg *shm.Segment, f []string) error {
		if len(f) == 0 {
			return fmt.Errorf("argument %q names no semaphore", c.Arg())
		}
		s, err := Open(context.Background(), seg, f[0])
		if err != nil {
			return err
		}
		return body(c, seg, f, s)
	})
}

// must returns v, failing t when err is not nil: what a constructor
// returned, in a test that cannot go on without it.
func must[T any](t testing.TB, v T, err error) T {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// mustMutex is NewMutex in a test: it fails t instead of returning an
// error. So are mustRLock, mustEvent, mustCond and mustBarrier for their
// types.
func mustMutex(t testing.TB, opts ...shm.Option) *Mutex {
	t.Helper()
	mu, err := NewMutex(opts...)
	return must(t, mu, err)
}

func mustRLock(t testing.TB, opts ...shm.Option) *RLock {
	t.Helper()
	r, err := NewRLock(opts...)
	return must(t, r, err)
}

func mustEvent(t testing.TB, opts ...shm.Option) *Event {
	t.Helper()
	e, err := NewEvent(opts...)
	return must(t, e, err)
}

func mustCond(t testing.TB, mu CondLock, opts ...shm.Option) *Cond {
	t.Helper()
	c, err := NewCond(mu, opts...)
	return must(t, c, err)
}

func mustBarrier(t testing.TB, parties int, opts ...shm.Option) *Barrier {
	t.Helper()
	x, err := NewBarrier(parties, opts...)
	return must(t, x, err)
}

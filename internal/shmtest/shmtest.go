//go:build linux && (amd64 || arm64)

// Package shmtest holds what the multi-process tests of the packages above
// shm share: a segment per test, children started with an argument of
// fields whose first names that segment, and small assertions.
package shmtest

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/shmkit/shmkit/internal/testproc"
	"github.com/shmkit/shmkit/shm"
)

// Seg is a fresh named 1 MiB segment for one test, closed and removed
// when it ends.
func Seg(t testing.TB) *shm.Segment {
	t.Helper()
	seg, err := shm.Create(testproc.ShmName(t), 1<<20, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { seg.Close() })
	return seg
}

// Start starts the child registered as name, with the argument fields
// args and a timeout.
func Start(t testing.TB, timeout time.Duration, name string, args ...string) *testproc.Proc {
	t.Helper()
	return testproc.Start(t, name, testproc.Arg(strings.Join(args, " ")), testproc.Timeout(timeout))
}

// OpenArgs opens, in a child, the segment named by the first field of its
// argument, and returns it with the other fields. The child closes it.
func OpenArgs(c *testproc.Child) (*shm.Segment, []string, error) {
	f := strings.Fields(c.Arg())
	if len(f) == 0 {
		return nil, nil, errors.New("no segment in the argument")
	}
	seg, err := shm.Open(context.Background(), f[0], nil)
	if err != nil {
		return nil, nil, err
	}
	return seg, f[1:], nil
}

// OpenInts is OpenArgs that also reads the fields at is as ints: the
// child fails, with the segment closed, when one is not.
func OpenInts(c *testproc.Child, is ...int) (*shm.Segment, []string, []int, error) {
	seg, f, err := OpenArgs(c)
	if err != nil {
		return nil, nil, nil, err
	}
	ns := make([]int, len(is))
	for k, i := range is {
		if ns[k], err = Int(f, i); err != nil {
			seg.Close()
			return nil, nil, nil, err
		}
	}
	return seg, f, ns, nil
}

// Int is field i of a child's argument as an int.
func Int(f []string, i int) (int, error) {
	if i >= len(f) {
		return 0, fmt.Errorf("argument %q has no field %d", f, i)
	}
	return strconv.Atoi(f[i])
}

// Within runs f, failing the test if it has not returned within d (a lock
// that is never granted), so that a bug fails instead of hanging.
func Within[R any](t testing.TB, d time.Duration, what string, f func() R) R {
	t.Helper()
	got := make(chan R, 1)
	go func() { got <- f() }()
	select {
	case r := <-got:
		return r
	case <-time.After(d):
		t.Fatalf("%s: still blocked after %v", what, d)
		panic("unreachable")
	}
}

// Panics fails the test unless f panics.
func Panics(t testing.TB, what string, f func()) {
	t.Helper()
	defer func() {
		if r := recover(); r == nil {
			t.Errorf("%s did not panic", what)
		}
	}()
	f()
}

// Record is a struct with nested arrays and a fixed-size byte string, the
// shape sharedctypes structures take: tests share it and read it back
// field by field.
type Record struct {
	ID   int32       // a number
	Pos  [3]float64  // an array
	Tag  [16]byte    // a byte string, zero-padded
	Grid [2][4]int16 // an array of arrays
}

// NewRecord is the Record of id, pos and tag (cut to 16 bytes) whose
// Grid[a][b] is cell(a, b).
func NewRecord(id int32, pos [3]float64, tag string, cell func(a, b int) int16) Record {
	r := Record{ID: id, Pos: pos}
	copy(r.Tag[:], tag)
	for a := range r.Grid {
		for b := range r.Grid[a] {
			r.Grid[a][b] = cell(a, b)
		}
	}
	return r
}

// CheckRecord compares got with want field by field.
func CheckRecord(t testing.TB, what string, got, want Record) {
	t.Helper()
	if got.ID != want.ID {
		t.Errorf("%s.ID = %d, want %d", what, got.ID, want.ID)
	}
	for k := range got.Pos {
		if got.Pos[k] != want.Pos[k] {
			t.Errorf("%s.Pos[%d] = %v, want %v", what, k, got.Pos[k], want.Pos[k])
		}
	}
	if got.Tag != want.Tag {
		t.Errorf("%s.Tag = %q, want %q", what, got.Tag[:], want.Tag[:])
	}
	for a := range got.Grid {
		for b := range got.Grid[a] {
			if got.Grid[a][b] != want.Grid[a][b] {
				t.Errorf("%s.Grid[%d][%d] = %d, want %d", what, a, b, got.Grid[a][b], want.Grid[a][b])
			}
		}
	}
}

// Mix is the splitmix64 finaliser: a well-spread, deterministic hash of x,
// for tests that derive their operations and payloads from a number.
func Mix(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	return x ^ x>>31
}

// OpenBounded checks that open, a typed open of the object place makes,
// waits for a creator still making the object only as long as its ctx
// allows: it makes the object in one segment to learn its kind, layout and
// size, reserves the same name and spec in another and never publishes it
// (a live but stuck creator: this process), then opens it there with a
// short deadline, which must end the wait with context.DeadlineExceeded.
func OpenBounded(t *testing.T, place func(opts ...shm.Option) error, open func(ctx context.Context, seg *shm.Segment, name string) error) {
	t.Helper()
	model, stuck := Seg(t), Seg(t)
	if err := place(shm.In(model, "x")); err != nil {
		t.Fatal(err)
	}
	objs, err := model.Objects()
	if err != nil || len(objs) == 0 {
		t.Fatalf("Objects: %v, %v", objs, err)
	}
	var spec shm.Spec
	for _, o := range objs {
		if o.Name == "x" {
			spec = shm.Spec{Kind: o.Kind, Fingerprint: o.Fingerprint, Size: o.Length}
		}
	}
	if _, err := stuck.Reserve("x", spec); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	err = Within(t, time.Minute, "an open bounded by its ctx", func() error { return open(ctx, stuck, "x") })
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("open of an object its live creator is still making: %v, want context.DeadlineExceeded", err)
	}
}

// Main runs a package's tests, or the child a test started, and closes
// the default heap before it exits.
func Main(m *testing.M) { testproc.Main(m, func() { shm.DefaultHeap().Close() }) }

// OpenObject is OpenArgs followed by open of the object name in the
// segment: it returns the segment, the object and the other fields. The
// child closes the segment.
func OpenObject[O any](c *testproc.Child, name string, open func(context.Context, *shm.Segment, string) (O, error)) (*shm.Segment, O, []string, error) {
	seg, f, err := OpenArgs(c)
	if err != nil {
		var zero O
		return nil, zero, nil, err
	}
	o, err := open(context.Background(), seg, name)
	if err != nil {
		seg.Close()
		return nil, o, nil, err
	}
	return seg, o, f, nil
}

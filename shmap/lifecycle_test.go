//go:build linux && (amd64 || arm64)

package shmap

// Tests of what every shmkit type shares: Close and Free, Len without an
// error, errors that start with "shmap: " and match shm's sentinels, and
// an Open that waits, in another process, for a map not made yet.

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/shmkit/shmkit/internal/mem"
	"github.com/shmkit/shmkit/internal/shmtest"
	"github.com/shmkit/shmkit/internal/testproc"
	"github.com/shmkit/shmkit/shm"
)

// newPair makes a Map "m" and a List "l" in seg.
func newPair[K comparable, V, E any](t *testing.T, seg *shm.Segment) (*Map[K, V], *List[E]) {
	t.Helper()
	m, err := New[K, V](shm.In(seg, "m"))
	if err != nil {
		t.Fatal(err)
	}
	l, err := NewList[E](shm.In(seg, "l"))
	if err != nil {
		t.Fatal(err)
	}
	return m, l
}

// TestClose: a closed handle fails every call with ErrClosed and has Len
// 0; the other handles, and the collection, go on.
func TestClose(t *testing.T) {
	seg := shmtest.Seg(t)
	m, l := newPair[int64, int64, string](t, seg)
	if m.Set(1, 10) != nil || l.Append("a") != nil {
		t.Fatal("Set or Append failed")
	}
	m2, err := Open[int64, int64](context.Background(), seg, "m")
	if err != nil {
		t.Fatal(err)
	}
	l2, err := OpenList[string](context.Background(), seg, "l")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []interface{ Close() error }{m, l} {
		if err := c.Close(); err != nil {
			t.Fatal(err)
		}
		if err := c.Close(); err != nil {
			t.Errorf("second Close: %v", err)
		}
	}
	for what, err := range map[string]error{
		"Get":            mpErr2(m.Get(1)),
		"Set":            m.Set(2, 20),
		"Delete":         mpErr(m.Delete(1)),
		"CompareAndSwap": mpErr(m.CompareAndSwap(1, 10, 11)),
		"Update":         m.Update(1, func(v int64, _ bool) (int64, bool) { return v + 1, true }),
		"Snapshot":       mpErr(m.Snapshot()),
		"Append":         l.Append("b"),
		"At":             mpErr(l.At(0)),
		"List.Set":       l.Set(0, "b"),
		"Pop":            mpErr(l.Pop()),
		"List.Snapshot":  mpErr(l.Snapshot()),
	} {
		if !errors.Is(err, ErrClosed) || !errors.Is(err, os.ErrClosed) || !strings.HasPrefix(err.Error(), "shmap: ") {
			t.Errorf("%s through a closed handle: %v, want a shmap: error matching ErrClosed", what, err)
		}
	}
	if m.Len() != 0 || l.Len() != 0 {
		t.Errorf("Len through closed handles: %d and %d, want 0", m.Len(), l.Len())
	}
	for range m.Range() {
		t.Error("Range through a closed handle yielded")
	}
	if v, ok, err := m2.Get(1); err != nil || !ok || v != 10 || m2.Len() != 1 {
		t.Errorf("another handle of a closed map: Get %d %v %v, Len %d", v, ok, err, m2.Len())
	}
	if v, err := l2.At(0); err != nil || v != "a" || l2.Len() != 1 {
		t.Errorf("another handle of a closed list: At %q %v, Len %d", v, err, l2.Len())
	}
	// A handle attached again works.
	h, _ := m.MarshalBinary()
	if err := m.UnmarshalBinary(h); err != nil || m.Set(2, 20) != nil || m.Len() != 2 {
		t.Errorf("a closed Map attached again: %v, Len %d", err, m.Len())
	}
}

// TestFree: Free destroys a Map or List for every handle; a second Free,
// through the same handle or another, fails with shm.ErrStale.
func TestFree(t *testing.T) {
	seg := shmtest.Seg(t)
	objs := func() int {
		list, err := seg.Objects()
		if err != nil {
			t.Fatal(err)
		}
		return len(list)
	}
	before := objs()
	m, l := newPair[int64, string, int32](t, seg)
	for i := range 100 { // grown tables
		if m.Set(int64(i), strings.Repeat("x", i)) != nil || l.Append(int32(i)) != nil {
			t.Fatal("Set or Append failed")
		}
	}
	m2, err := Open[int64, string](context.Background(), seg, "m")
	if err != nil {
		t.Fatal(err)
	}
	l2, err := OpenList[int32](context.Background(), seg, "l")
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Free(); err != nil {
		t.Fatalf("Map.Free: %v", err)
	}
	if err := l.Free(); err != nil {
		t.Fatalf("List.Free: %v", err)
	}
	check := shmtest.Errors(t, "shmap: ")
	check("a second Map.Free", m.Free(), shm.ErrStale)
	check("Map.Free of another handle", m2.Free(), shm.ErrStale)
	check("a second List.Free", l.Free(), shm.ErrStale)
	check("List.Free of another handle", l2.Free(), shm.ErrStale)
	if err := m.Set(1, "a"); !errors.Is(err, ErrClosed) {
		t.Errorf("Set after Free: %v, want ErrClosed", err)
	}
	if _, err := Open[int64, string](shmtest.Missing(t), seg, "m"); !errors.Is(err, shm.ErrNotExist) {
		t.Errorf("Open after Free: %v, want shm.ErrNotExist", err)
	}
	if n := objs(); n != before {
		t.Errorf("%d objects in the segment after Free, %d before New", n, before)
	}
	// Every block came back: the segment has room for what it had before.
	big, err := seg.Alloc(shm.Spec{Kind: shm.KindBytes, Size: uint64(seg.Size()) * 3 / 4})
	if err != nil {
		t.Errorf("after Free, no room for a block of 3/4 of the segment: %v", err)
	} else {
		big.Free()
	}
}

// TestLen: Len returns an int; through a closed handle or over corrupt
// memory it is 0, and the calls that return an error say why.
func TestLen(t *testing.T) {
	seg := shmtest.Seg(t)
	m, l := newPair[int64, int64, int64](t, seg)
	for i := range int64(20) {
		if m.Set(i, i) != nil || l.Append(i) != nil {
			t.Fatal("Set or Append failed")
		}
	}
	if m.Len() != 20 || l.Len() != 20 {
		t.Fatalf("Len: %d and %d, want 20", m.Len(), l.Len())
	}
	// A count word larger than its table: garbage no process writes.
	key := int64(3)
	for _, c := range []struct {
		name  string
		c     *coll
		len   func() int
		write func() error
	}{
		{"map", &m.part(hash(mem.Bytes(&key))).c, m.Len, func() error { return m.Set(key, 3) }},
		{"list", &l.c, l.Len, func() error { return l.Append(3) }},
	} {
		w := c.c.word(offCount)
		saved := atomicLoad(w)
		atomicStore(w, 1<<40)
		if n := c.len(); n != 0 {
			t.Errorf("%s: Len over a corrupt count: %d, want 0", c.name, n)
		}
		if err := c.write(); !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s: a change over a corrupt count: %v, want ErrCorrupt", c.name, err)
		}
		atomicStore(w, saved)
	}
	if m.Len() != 20 || l.Len() != 20 {
		t.Errorf("Len with the counts put back: %d and %d, want 20", m.Len(), l.Len())
	}
}

// TestErrors provokes an error of each sort from a Map and a List: each
// starts with "shmap: " and matches the shm sentinel of its condition.
func TestErrors(t *testing.T) {
	seg := shmtest.Seg(t)
	_, l := newPair[int64, int64, int64](t, seg)
	closed, err := Open[int64, int64](context.Background(), seg, "m")
	if err != nil {
		t.Fatal(err)
	}
	closed.Close()
	bad, err := NewList[int64](shm.In(seg, "bad"))
	if err != nil {
		t.Fatal(err)
	}
	bad.c.h[0]++ // its magic
	freed, err := NewList[int64]()
	if err != nil {
		t.Fatal(err)
	}
	freed.Free()
	type padded struct {
		A int8
		B int64
	}
	check := shmtest.Errors(t, "shmap: ")
	check("New with a padded key", mpErr(New[padded, int]()), shm.ErrInvalid)
	check("New with a pointer key", mpErr(New[*int, int]()), shm.ErrInvalid)
	check("At out of range", mpErr(l.At(5)), shm.ErrInvalid)
	check("Pop of an empty list", mpErr(l.Pop()), shm.ErrInvalid)
	check("Open in a nil segment", mpErr(Open[int64, int64](context.Background(), nil, "m")), shm.ErrInvalid)
	check("Set through a closed handle", closed.Set(1, 1), shm.ErrClosed)
	check("OpenList of a corrupt header", mpErr(OpenList[int64](context.Background(), seg, "bad")), shm.ErrCorrupt)
	check("Open of a missing name", mpErr(Open[int64, int64](shmtest.Missing(t), seg, "missing")), shm.ErrNotExist)
	check("OpenList of a missing name", mpErr(OpenList[int64](shmtest.Missing(t), seg, "missing")), shm.ErrNotExist)
	check("Open of other types", mpErr(Open[int32, int64](context.Background(), seg, "m")), shm.ErrLayout)
	check("OpenList of a map", mpErr(OpenList[int64](context.Background(), seg, "m")), shm.ErrKind)
	check("New of a taken name", mpErr(New[int64, int64](shm.In(seg, "l"))), shm.ErrExist)
	check("Free of a freed list", freed.Free(), shm.ErrStale)
	check("Stat of a list's lock", mpErr(Stat(mustObject(t, l.c.mu.Handle()))), shm.ErrInvalid)
	enc, err := New[int, string]()
	if err != nil {
		t.Fatal(err)
	}
	check("CompareAndSwap of encoded values", mpErr(enc.CompareAndSwap(1, "a", "b")), shm.ErrInvalid)
}

// mustObject is the object a handle names.
func mustObject(t *testing.T, h shm.Handle) *shm.Object {
	o, err := shm.Resolve(h)
	if err != nil {
		t.Fatal(err)
	}
	return o
}

// mpErr is the error of a call returning a value and an error.
func mpErr[T any](_ T, err error) error { return err }

// mpErr2 is the error of a call returning two values and an error.
func mpErr2[T, U any](_ T, _ U, err error) error { return err }

// openFirst opens the Map[int64, int64] "late", "SEG", with no deadline,
// before the parent makes it, and sets 1 to 42.
var openFirst = testproc.Register("shmap-open-first", func(c *testproc.Child) error {
	seg, _, err := shmtest.OpenArgs(c)
	if err != nil {
		return err
	}
	defer seg.Close()
	c.Point("opening")
	m, err := Open[int64, int64](context.Background(), seg, "late")
	if err != nil {
		return err
	}
	return m.Set(1, 42)
})

// TestOpenBeforeCreate: a child opens a Map, with context.Background(),
// before this process makes it, and gets it.
func TestOpenBeforeCreate(t *testing.T) {
	seg := shmtest.Seg(t)
	p := shmtest.Start(t, time.Minute, openFirst, seg.Name())
	p.WaitPoint("opening")
	p.Continue()
	time.Sleep(50 * time.Millisecond) // most likely inside Open by now; either way it must work
	m, err := New[int64, int64](shm.In(seg, "late"))
	if err != nil {
		t.Fatal(err)
	}
	p.Succeed()
	if v, ok, err := m.Get(1); err != nil || !ok || v != 42 {
		t.Errorf("what the child set: %d, %v, %v; want 42", v, ok, err)
	}
}

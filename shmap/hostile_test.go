//go:build linux && (amd64 || arm64)

package shmap

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/shmkit/shmkit/shm"
)

// tableBytes is the table c's header names.
func tableBytes(t *testing.T, c *coll) []byte {
	t.Helper()
	o, err := c.table(le.Uint64(c.h[offTable:]), le.Uint64(c.h[offTable+8:]))
	if err != nil {
		t.Fatal(err)
	}
	return o.Bytes()
}

func objectBytes(t *testing.T, h shm.Handle) []byte {
	t.Helper()
	o, err := shm.Resolve(h)
	if err != nil {
		t.Fatal(err)
	}
	return o.Bytes()
}

// corruptOnly accepts the errors of a collection with garbage in it:
// ErrCorrupt (shm.ErrCorrupt).
func corruptOnly(err error) bool { return errors.Is(err, ErrCorrupt) }

// callAll runs every operation of m and l; each must return nil or an
// error that ok accepts, never panic or hang. It returns the distinct
// errors seen.
func callAll(t *testing.T, m *Map[int64, int64], l *List[int64], ok func(error) bool) []string {
	t.Helper()
	seen := map[string]bool{}
	var out []string
	note := func(op string, err error) {
		if err == nil {
			return
		}
		if !ok(err) {
			t.Errorf("%s: unexpected error %v", op, err)
		}
		if s := op + ": " + err.Error(); !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_, err := m.count()
		note("Map.Len", err)
		for k := range int64(24) {
			_, _, err := m.Get(k)
			note("Map.Get", err)
			note("Map.Set", m.Set(k+100, k))
		}
		_, err = m.Delete(3)
		note("Map.Delete", err)
		_, err = m.CompareAndSwap(4, -4, 4)
		note("Map.CompareAndSwap", err)
		note("Map.Update", m.Update(5, func(v int64, _ bool) (int64, bool) { return v + 1, true }))
		_, err = m.Snapshot()
		note("Map.Snapshot", err)
		for range m.Range() {
		}
		_, err = l.count()
		note("List.Len", err)
		note("List.Append", l.Append(7))
		_, err = l.At(1)
		note("List.At", err)
		note("List.Set", l.Set(1, 8))
		_, err = l.Pop()
		note("List.Pop", err)
		_, err = l.Snapshot()
		note("List.Snapshot", err)
	}()
	select {
	case <-done:
	case <-time.After(60 * time.Second): // a hang guard only
		t.Fatal("an operation of a collection with garbage in it did not return")
	}
	return out
}

// TestGarbageUnderLiveCollection writes garbage over the blocks of a live
// Map and List (headers, lock words, tables, the root) and calls every
// method: each returns nil or an error matching ErrCorrupt and
// shm.ErrCorrupt, and none panics or hangs.
func TestGarbageUnderLiveCollection(t *testing.T) {
	// The word a lock holds when this process holds it, as the lock
	// writes it.
	var self uint64
	{
		seg, err := shm.Anonymous(1 << 16)
		if err != nil {
			t.Fatal(err)
		}
		l, err := NewList[int64](shm.In(seg, ""))
		if err != nil {
			t.Fatal(err)
		}
		lb := objectBytes(t, l.c.mu.Handle())
		if err := l.c.mu.Lock(); err != nil {
			t.Fatal(err)
		}
		self = le.Uint64(lb)
		l.c.mu.Unlock()
		seg.Close()
	}
	lockWord := func(w uint64) func(b []byte, r *rand.Rand) {
		return func(b []byte, _ *rand.Rand) { le.PutUint64(b, w) }
	}
	random := func(b []byte, r *rand.Rand) {
		for i := range b {
			b[i] = byte(r.Uint32())
		}
	}
	regions := []struct {
		name  string
		which func(t *testing.T, m *Map[int64, int64], l *List[int64]) [][]byte
		fill  func(b []byte, r *rand.Rand)
	}{
		{"part headers", func(t *testing.T, m *Map[int64, int64], l *List[int64]) [][]byte {
			var out [][]byte
			for i := range m.parts {
				out = append(out, m.parts[i].c.h)
			}
			return append(out, l.c.h)
		}, random},
		{"lock objects", func(t *testing.T, m *Map[int64, int64], l *List[int64]) [][]byte {
			var out [][]byte
			for i := range m.parts {
				out = append(out, objectBytes(t, m.parts[i].c.mu.Handle()))
			}
			return append(out, objectBytes(t, l.c.mu.Handle()))
		}, random},
		{"lock words naming this process", func(t *testing.T, m *Map[int64, int64], l *List[int64]) [][]byte {
			return [][]byte{objectBytes(t, m.parts[0].c.mu.Handle()), objectBytes(t, l.c.mu.Handle())}
		}, lockWord(self)},
		{"lock words naming this process, contended", func(t *testing.T, m *Map[int64, int64], l *List[int64]) [][]byte {
			return [][]byte{objectBytes(t, m.parts[0].c.mu.Handle()), objectBytes(t, l.c.mu.Handle())}
		}, lockWord(self | 1)},
		{"lock words naming this pid at another start", func(t *testing.T, m *Map[int64, int64], l *List[int64]) [][]byte {
			return [][]byte{objectBytes(t, m.parts[0].c.mu.Handle()), objectBytes(t, l.c.mu.Handle())}
		}, lockWord(self ^ 1<<8)},
		{"tables", func(t *testing.T, m *Map[int64, int64], l *List[int64]) [][]byte {
			var out [][]byte
			for i := range m.parts {
				out = append(out, tableBytes(t, &m.parts[i].c))
			}
			return append(out, tableBytes(t, &l.c))
		}, random},
		{"root", func(t *testing.T, m *Map[int64, int64], l *List[int64]) [][]byte {
			return [][]byte{m.root.Bytes()}
		}, random},
		{"everything", func(t *testing.T, m *Map[int64, int64], l *List[int64]) [][]byte {
			out := [][]byte{m.root.Bytes(), l.c.h, tableBytes(t, &l.c), objectBytes(t, l.c.mu.Handle())}
			for i := range m.parts {
				out = append(out, m.parts[i].c.h, tableBytes(t, &m.parts[i].c), objectBytes(t, m.parts[i].c.mu.Handle()))
			}
			return out
		}, random},
	}
	for _, reg := range regions {
		for seed := uint64(1); seed <= 4; seed++ {
			t.Run(fmt.Sprintf("%s/%d", reg.name, seed), func(t *testing.T) {
				m, l := filledPair(t, 20)
				r := rand.New(rand.NewPCG(seed, 77))
				for _, b := range reg.which(t, m, l) {
					reg.fill(b, r)
				}
				for _, s := range callAll(t, m, l, corruptOnly) {
					t.Log(s)
				}
			})
		}
	}
}

// filledPair is a Map "m" of k to -k and a List "l" of k, for k in [0, n),
// in an anonymous segment of their own, closed when the test ends.
func filledPair(t *testing.T, n int64) (*Map[int64, int64], *List[int64]) {
	t.Helper()
	seg, err := shm.Anonymous(1 << 20)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { seg.Close() })
	m, l := newPair[int64, int64, int64](t, seg)
	for k := range n {
		if err := m.Set(k, -k); err != nil {
			t.Fatal(err)
		}
		if err := l.Append(k); err != nil {
			t.Fatal(err)
		}
	}
	return m, l
}

// TestGarbageOverHeldLock overwrites a collection's lock word while an
// operation holds it (as another process writing garbage would): the
// operation returns ErrCorrupt rather than panicking in the unlock, and
// the collection stays usable, its lock taken from the stranger the
// garbage names.
func TestGarbageOverHeldLock(t *testing.T) {
	ops := []struct {
		point string
		run   func(m *Map[int64, int64], l *List[int64]) error
	}{
		{"insert", func(m *Map[int64, int64], _ *List[int64]) error { return m.Set(1000, 1) }},
		{"overwrite", func(m *Map[int64, int64], _ *List[int64]) error { return m.Set(3, 1) }},
		{"delete", func(m *Map[int64, int64], _ *List[int64]) error { _, err := m.Delete(4); return err }},
		{"all locked", func(m *Map[int64, int64], _ *List[int64]) error { _, err := m.count(); return err }},
		{"append", func(_ *Map[int64, int64], l *List[int64]) error { return l.Append(5) }},
		{"overwrite", func(_ *Map[int64, int64], l *List[int64]) error { return l.Set(2, 9) }},
	}
	defer func() { testHook = nil }()
	for i, op := range ops {
		t.Run(fmt.Sprintf("%d-%s", i, op.point), func(t *testing.T) {
			m, l := filledPair(t, 8)
			hit := false
			testHook = func(c *coll, p string) {
				if p == op.point && !hit {
					hit = true
					// A word naming a process that does not exist.
					le.PutUint64(objectBytes(t, c.mu.Handle()), 0x7ffffff0<<32|12345)
				}
			}
			err := op.run(m, l)
			testHook = nil
			t.Logf("%s: %v", op.point, err)
			if !hit {
				t.Fatalf("the operation never reached %q", op.point)
			}
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("%s with its lock word overwritten: %v, want ErrCorrupt", op.point, err)
			}
			// The lock names a dead stranger: the next locker takes it.
			if _, err := m.count(); err != nil {
				t.Fatalf("Map.Len after: %v", err)
			}
			if _, err := l.count(); err != nil {
				t.Fatalf("List.Len after: %v", err)
			}
		})
	}
}

// TestGarbageOverHeldLockPop: a Pop whose lock word is overwritten after
// it popped has taken the element; it returns it with ErrCorrupt rather
// than losing it.
func TestGarbageOverHeldLockPop(t *testing.T) {
	seg, err := shm.Anonymous(1 << 20)
	if err != nil {
		t.Fatal(err)
	}
	defer seg.Close()
	l, err := NewList[string](shm.In(seg, "l"))
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"a", "b", "c"} {
		if err := l.Append(s); err != nil {
			t.Fatal(err)
		}
	}
	defer func() { testHook = nil }()
	testHook = func(c *coll, p string) {
		if p == "popped" {
			le.PutUint64(objectBytes(t, c.mu.Handle()), 0x7ffffff0<<32|12345)
		}
	}
	v, err := l.Pop()
	testHook = nil
	if v != "c" || !errors.Is(err, ErrCorrupt) {
		t.Fatalf("Pop with its lock word overwritten after popping: %q, %v; want \"c\", ErrCorrupt", v, err)
	}
	if n, err := l.count(); n != 2 || err != nil {
		t.Fatalf("Len after: %d, %v; want 2", n, err)
	}
}

//go:build linux && (amd64 || arm64)

package shm

import (
	"bytes"
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shmkit/shmkit/internal/mem"
	"github.com/shmkit/shmkit/internal/testproc"
)

// fillObject writes a pattern over o and returns a copy of it.
func fillObject(o *Object, seed byte) []byte {
	b := o.Bytes()
	for i := range b {
		b[i] = seed + byte(i*7)
	}
	return append([]byte(nil), b...)
}

// rewriteEntry changes directory entry i with edit and makes its checksum
// right again, as a writer who knows the format would.
func rewriteEntry(s *Segment, i int, edit func(b []byte)) {
	b := s.entryBytes(i)
	edit(b)
	n := int(le.Uint16(b[eNameLen:]))
	le.PutUint32(b[eSum:], entrySum(b, n))
}

func entryIndex(t *testing.T, s *Segment, name string) int {
	t.Helper()
	if err := s.lockArena(); err != nil {
		t.Fatal(err)
	}
	defer s.unlockArena()
	i, _, err := s.lookup(name)
	if err != nil {
		t.Fatal(err)
	}
	return i
}

// TestFindChecksEntryAgainstBlock points a directory entry, with a valid
// checksum, at another object's block (or into it, or at a free one):
// Find must refuse with ErrCorrupt rather than hand out the other object's
// memory, and Remove must not free the other object.
func TestFindChecksEntryAgainstBlock(t *testing.T) {
	sp := Spec{Kind: KindValue, Fingerprint: 7, Size: 256}
	cases := []struct {
		name string
		edit func(b []byte, victim *Object, free uint64)
	}{
		{"offset of another object", func(b []byte, v *Object, _ uint64) {
			le.PutUint64(b[eOff:], v.off)
		}},
		{"offset and generation of another object", func(b []byte, v *Object, _ uint64) {
			le.PutUint64(b[eOff:], v.off)
			le.PutUint64(b[eGen:], v.gen)
		}},
		{"offset into another object", func(b []byte, v *Object, _ uint64) {
			le.PutUint64(b[eOff:], v.off+128)
			le.PutUint64(b[eLen:], 64)
		}},
		{"offset of a free block", func(b []byte, _ *Object, free uint64) {
			le.PutUint64(b[eOff:], free)
		}},
		{"other length", func(b []byte, _ *Object, _ uint64) {
			le.PutUint64(b[eLen:], 200)
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := mustCreate(t, 1<<20, nil)
			if _, err := Place(sp, nil, In(s, "a")); err != nil {
				t.Fatal(err)
			}
			victim, err := Place(sp, nil, In(s, "b"))
			if err != nil {
				t.Fatal(err)
			}
			want := fillObject(victim, 3)
			gap, _ := s.Alloc(Spec{Kind: KindBytes, Size: 64})
			if _, err := s.Alloc(Spec{Kind: KindBytes, Size: 64}); err != nil {
				t.Fatal(err)
			}
			free := gap.off
			gap.Free()
			rewriteEntry(s, entryIndex(t, s, "a"), func(b []byte) { c.edit(b, victim, free) })

			o, err := s.Find(context.Background(), "a", sp)
			t.Logf("Find: %v", err)
			if !errors.Is(err, ErrCorrupt) || o != nil {
				t.Fatalf("Find of an entry pointed elsewhere: %v, object %v", err, o)
			}
			err = removeObj(s, "a")
			t.Logf("Remove: %v", err)
			if err != nil {
				t.Fatal(err)
			}
			b, err := s.Find(context.Background(), "b", sp)
			if err != nil {
				t.Fatalf("the other object after the corrupted entry's removal: %v", err)
			}
			if !bytes.Equal(b.Bytes(), want) {
				t.Fatal("the other object's bytes changed")
			}
			checkHeap(t, s)
		})
	}
}

// TestAllocChecksTop corrupts the heap-top word: Alloc must fail with
// ErrCorrupt and leave every live object's bytes as they were, and work
// again once the top is right.
func TestAllocChecksTop(t *testing.T) {
	type heap struct {
		s     *Segment
		live  []*Object
		freed uint64 // block of a free object between live ones
		top   uint64
	}
	cases := []struct {
		name string
		top  func(h heap) uint64
		ok   bool // a state a process killed at the wrong time leaves
	}{
		{"back to a live block", func(h heap) uint64 { return h.live[1].off - blockHeader }, false},
		{"back to the first block", func(h heap) uint64 { return h.s.h.heapOff }, false},
		{"back to a free block before live ones", func(h heap) uint64 { return h.freed }, false},
		{"into a live payload", func(h heap) uint64 { return h.live[2].off }, false},
		{"past the real top", func(h heap) uint64 { return h.top + 256 }, false},
		{"unaligned", func(h heap) uint64 { return h.top - 8 }, false},
		{"below the heap", func(h heap) uint64 { return h.s.h.heapOff - 64 }, false},
		{"past the heap end", func(h heap) uint64 { return h.s.h.heapEnd() + 64 }, false},
		{"killed while lowering", func(h heap) uint64 {
			// What freeing the last object leaves when killed between
			// moving the top and clearing the word at it.
			last := h.live[len(h.live)-1]
			le.PutUint32(h.s.b[last.off-blockHeader+bState:], blockFree)
			return last.off - blockHeader
		}, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := mustCreate(t, 1<<20, nil)
			h := heap{s: s}
			var want [][]byte
			var gap *Object
			for i := 0; i < 5; i++ {
				var o *Object
				var err error
				switch i {
				case 2:
					o, err = Place(Spec{Kind: KindValue, Size: 100}, nil, In(s, "named"))
				default:
					o, err = s.Alloc(Spec{Kind: KindBytes, Size: 300})
				}
				if err != nil {
					t.Fatal(err)
				}
				if i == 1 { // a free block between live ones
					if gap, err = s.Alloc(Spec{Kind: KindBytes, Size: 500}); err != nil {
						t.Fatal(err)
					}
				}
				h.live = append(h.live, o)
				want = append(want, fillObject(o, byte(i)))
			}
			h.freed = gap.off - blockHeader
			if err := gap.Free(); err != nil {
				t.Fatal(err)
			}
			topWord := mem.Uint64(s.b, hTop)
			h.top = atomic.LoadUint64(topWord)
			bad := c.top(h)
			atomic.StoreUint64(topWord, bad)

			o, err := s.Alloc(Spec{Kind: KindBytes, Size: 1000})
			t.Logf("top %d (real %d): Alloc: %v", bad, h.top, err)
			if c.ok {
				if err != nil {
					t.Fatal(err)
				}
				clear(o.Bytes())
				want = want[:len(want)-1] // the object given back
				h.live = h.live[:len(h.live)-1]
			} else if !errors.Is(err, ErrCorrupt) || o != nil {
				t.Fatalf("Alloc with the top at %d (real %d): %v", bad, h.top, err)
			}
			_, err = s.Reserve("new", Spec{Kind: KindBytes, Size: 1000})
			if !c.ok && !errors.Is(err, ErrCorrupt) {
				t.Fatalf("Reserve with the top at %d (real %d): %v", bad, h.top, err)
			}
			for i, o := range h.live {
				if !bytes.Equal(o.Bytes(), want[i]) {
					t.Fatalf("live object %d at %d was overwritten", i, o.off)
				}
			}
			if !c.ok {
				atomic.StoreUint64(topWord, h.top)
				if _, err := s.Alloc(Spec{Kind: KindBytes, Size: 1000}); err != nil {
					t.Fatalf("Alloc with the top put back: %v", err)
				}
			}
			checkHeap(t, s)
		})
	}
}

// TestTopWordStaysZero checks the invariant the top check rests on, over a
// churn of allocations and frees: the state word at the top is zero.
func TestTopWordStaysZero(t *testing.T) {
	s := mustCreate(t, 1<<20, nil)
	var live []*Object
	for i := 0; i < 400; i++ {
		if i%3 == 2 && len(live) > 0 {
			j := (i * 7) % len(live)
			if err := live[j].Free(); err != nil {
				t.Fatal(err)
			}
			live = append(live[:j], live[j+1:]...)
		} else {
			o, err := s.Alloc(Spec{Kind: KindBytes, Size: uint64(1 + (i*97)%3000)})
			if err != nil {
				t.Fatal(err)
			}
			fillObject(o, 0x64) // payloads full of "used"-like bytes
			live = append(live, o)
		}
		top := atomic.LoadUint64(mem.Uint64(s.b, hTop))
		if top < s.h.heapEnd() && le.Uint32(s.b[top:]) != 0 {
			t.Fatalf("step %d: state word %#x at the top %d", i, le.Uint32(s.b[top:]), top)
		}
	}
	for _, o := range live {
		if err := o.Free(); err != nil {
			t.Fatal(err)
		}
	}
	if top := atomic.LoadUint64(mem.Uint64(s.b, hTop)); top != s.h.heapOff || le.Uint32(s.b[top:]) != 0 {
		t.Fatalf("empty heap: top %d, word %#x", top, le.Uint32(s.b[top:]))
	}
}

// TestBlockHeaderCorruption corrupts one field of a named object's block
// header at a time: Find (through the directory) and Attach (through a
// handle) must fail with an error matching the documented sentinel.
func TestBlockHeaderCorruption(t *testing.T) {
	sp := Spec{Kind: KindValue, Fingerprint: 5, Size: 200}
	cases := []struct {
		name       string
		edit       func(b []byte, s *Segment) // the block header
		find       error
		attach     error // nil: Attach succeeds
		attachName string
	}{
		{"state garbage", func(b []byte, _ *Segment) { le.PutUint32(b[bState:], 0x12345678) }, ErrCorrupt, ErrCorrupt, ""},
		{"state zero", func(b []byte, _ *Segment) { le.PutUint32(b[bState:], 0) }, ErrCorrupt, ErrCorrupt, ""},
		{"state free", func(b []byte, _ *Segment) { le.PutUint32(b[bState:], blockFree) }, ErrCorrupt, ErrStale, ""},
		{"size zero", func(b []byte, _ *Segment) { le.PutUint64(b[bSize:], 0) }, ErrCorrupt, ErrCorrupt, ""},
		{"size unaligned", func(b []byte, _ *Segment) { le.PutUint64(b[bSize:], le.Uint64(b[bSize:])+8) }, ErrCorrupt, ErrCorrupt, ""},
		{"size past the top", func(b []byte, _ *Segment) { le.PutUint64(b[bSize:], 1<<30) }, ErrCorrupt, ErrCorrupt, ""},
		{"size smaller", func(b []byte, _ *Segment) { le.PutUint64(b[bSize:], minBlock) }, ErrCorrupt, ErrCorrupt, ""},
		{"kind", func(b []byte, _ *Segment) { le.PutUint32(b[bKind:], uint32(KindQueue)) }, ErrCorrupt, ErrKind, ""},
		{"fingerprint", func(b []byte, _ *Segment) { le.PutUint64(b[bFP:], 6) }, ErrCorrupt, ErrLayout, ""},
		{"generation", func(b []byte, _ *Segment) { le.PutUint64(b[bGen:], le.Uint64(b[bGen:])+1) }, ErrCorrupt, ErrStale, ""},
		{"length zero", func(b []byte, _ *Segment) { le.PutUint64(b[bLen:], 0) }, ErrCorrupt, ErrCorrupt, ""},
		{"length past the block", func(b []byte, _ *Segment) { le.PutUint64(b[bLen:], 1<<20) }, ErrCorrupt, ErrCorrupt, ""},
		{"length shorter", func(b []byte, _ *Segment) { le.PutUint64(b[bLen:], 8) }, ErrCorrupt, ErrCorrupt, ""},
		{"entry of another object", func(b []byte, _ *Segment) { le.PutUint32(b[bEntry:], le.Uint32(b[bEntry:])+1) }, ErrCorrupt, ErrStale, ""},
		{"entry past the directory", func(b []byte, s *Segment) { le.PutUint32(b[bEntry:], s.h.entries+5) }, ErrCorrupt, ErrCorrupt, ""},
		{"entry zero", func(b []byte, _ *Segment) { le.PutUint32(b[bEntry:], 0) }, ErrCorrupt, nil, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := mustCreate(t, 1<<20, nil)
			o, err := Place(sp, nil, In(s, "obj"))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := Place(Spec{Kind: KindBytes, Size: 100}, nil, In(s, "next")); err != nil {
				t.Fatal(err)
			}
			h := o.Handle()
			c.edit(s.b[o.off-blockHeader:o.off], s)
			_, err = s.Find(context.Background(), "obj", sp)
			t.Logf("Find: %v", err)
			if !errors.Is(err, c.find) {
				t.Errorf("Find: %v, want %v", err, c.find)
			}
			a, err := s.Attach(h)
			t.Logf("Attach: %v", err)
			switch {
			case c.attach == nil && err != nil:
				t.Errorf("Attach: %v", err)
			case c.attach == nil && a.Name() != c.attachName:
				t.Errorf("Attach: object named %q, want %q", a.Name(), c.attachName)
			case c.attach != nil && !errors.Is(err, c.attach):
				t.Errorf("Attach: %v, want %v", err, c.attach)
			}
		})
	}
}

// TestFindBoundedByContext: every wait of Find ends with its context: for
// an entry reserved by a live creator in another process, for the
// allocator lock held by another process, and for the allocator lock held
// by another goroutine of this one.
func TestFindBoundedByContext(t *testing.T) {
	spec := Spec{Kind: KindValue}
	// find runs Find with a short deadline; on a hang it calls unstick,
	// so that the test can end, and fails.
	find := func(t *testing.T, s *Segment, name string, unstick func()) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		done := make(chan error, 1)
		go func() {
			_, err := s.Find(ctx, name, spec)
			done <- err
		}()
		select {
		case err := <-done:
			t.Logf("Find: %v", err)
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("Find: %v, want the context's deadline", err)
			}
		case <-time.After(10 * time.Second): // a hang guard only
			unstick()
			t.Fatalf("Find did not return when its context ended (then: %v)", <-done)
		}
	}
	for _, c := range []struct {
		name, child, point string
	}{
		{"reserved by a live creator", childReserve, "reserved"},
		{"lock held by another process", childHoldLock, "locked"},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := mustCreate(t, 1<<20, nil)
			p := testproc.Start(t, c.child, testproc.Arg(s.Name()))
			p.WaitPoint(c.point)
			find(t, s, "victim", p.Kill)
			p.Kill()
			p.Wait()
		})
	}
	t.Run("lock held by another goroutine", func(t *testing.T) {
		s := mustCreate(t, 1<<20, nil)
		if err := s.lockArena(); err != nil {
			t.Fatal(err)
		}
		held := true
		find(t, s, "victim", func() { s.unlockArena(); held = false })
		if held {
			s.unlockArena()
		}
		if _, err := s.Find(missing(t), "victim", spec); !errors.Is(err, ErrNotExist) {
			t.Fatalf("Find after the wait: %v", err)
		}
	})
}

// TestFormat1Refused: a segment of format 1, whose heap may hold stale
// block headers past its top, is refused: ErrVersion when its checksum is
// right, ErrBadHeader when it is not.
func TestFormat1Refused(t *testing.T) {
	s := mustCreate(t, 1<<16, nil)
	img := append([]byte(nil), s.b[:headerSize]...)
	le.PutUint32(img[hVersion:], 1)
	_, err := decodeHeader(img, int64(len(s.b)))
	t.Logf("format 1, checksum of format 2: %v", err)
	if !errors.Is(err, ErrBadHeader) {
		t.Fatalf("format 1 with a wrong checksum: %v", err)
	}
	le.PutUint32(img[hSum:], headerSum(img))
	_, err = decodeHeader(img, int64(len(s.b)))
	t.Logf("format 1: %v", err)
	if !errors.Is(err, ErrVersion) {
		t.Fatalf("format 1: %v", err)
	}
}

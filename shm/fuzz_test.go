//go:build linux && (amd64 || arm64)

package shm

import (
	"bytes"
	"context"
	"errors"
	"hash/crc32"
	"testing"

	"github.com/shmkit/shmkit/internal/owner"
)

// seedImage is a small valid segment with a live and a reserved object and
// a freed block, as bytes.
func seedImage(t testing.TB) []byte {
	s, err := Anonymous(4096)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	a, _ := Place(Spec{Kind: KindValue, Fingerprint: 9, Size: 100}, nil, In(s, "obj"))
	s.Reserve("pending", Spec{Kind: KindQueue, Size: 300})
	x, _ := s.Alloc(Spec{Kind: KindBytes, Size: 64})
	s.Alloc(Spec{Kind: KindBytes, Size: 64})
	x.Free()
	_ = a
	return append([]byte(nil), s.b...)
}

func FuzzDecodeHeader(f *testing.F) {
	img := seedImage(f)
	f.Add(img[:headerSize], int64(len(img)))
	f.Add(img[:headerSize], int64(-1))
	f.Add([]byte(magic), int64(8))
	f.Fuzz(func(t *testing.T, b []byte, size int64) {
		checkHeaderDecode(t, b, size)
		// Again with the checksum made right, so that the checks behind it
		// are reached too.
		if len(b) >= hSummed {
			c := append([]byte(nil), b...)
			le.PutUint32(c[hSum:], headerSum(c))
			checkHeaderDecode(t, c, size)
		}
	})
}

func checkHeaderDecode(t *testing.T, b []byte, size int64) {
	h, err := decodeHeader(b, size)
	if err != nil {
		if !errors.Is(err, ErrBadHeader) && !errors.Is(err, ErrVersion) {
			t.Fatalf("untyped error %v", err)
		}
		return
	}
	// What decodes re-encodes to the same immutable bytes.
	if !allZero(b[hSummed:hLockOwner]) || !allZero(b[hMutableEnd:headerSize]) {
		t.Fatalf("accepted non-zero reserved bytes")
	}
	out := make([]byte, headerSize)
	encodeHeader(out, &h)
	if !bytes.Equal(out[:hState], b[:hState]) || !bytes.Equal(out[hState+4:hSummed], b[hState+4:hSummed]) {
		t.Fatalf("re-encoding differs")
	}
	if _, _, err := planLayout(h.size, h.entries); err != nil || h.heapOff >= h.heapEnd() {
		t.Fatalf("accepted a header whose layout does not fit: %+v", h)
	}
}

func FuzzDecodeEntry(f *testing.F) {
	img := seedImage(f)
	h, err := decodeHeader(img, int64(len(img)))
	if err != nil {
		f.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		f.Add(img[h.dirOff+uint64(i)*entrySize : h.dirOff+uint64(i+1)*entrySize])
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		checkEntryDecode(t, b, &h)
		if c, ok := fixEntrySum(b); ok {
			checkEntryDecode(t, c, &h)
		}
	})
}

// fixEntrySum returns a copy of the entry b with its checksum made right.
func fixEntrySum(b []byte) ([]byte, bool) {
	if len(b) < entrySize {
		return nil, false
	}
	n := int(le.Uint16(b[eNameLen:]))
	if n > maxObjectName {
		return nil, false
	}
	c := append([]byte(nil), b...)
	le.PutUint32(c[eSum:], entrySum(c, n))
	return c, true
}

func checkEntryDecode(t *testing.T, b []byte, h *header) {
	e, err := decodeEntry(b, h)
	if err != nil {
		if !errors.Is(err, ErrCorrupt) {
			t.Fatalf("untyped error %v", err)
		}
		return
	}
	if e.state == entryEmpty {
		return
	}
	if checkPayload(h, e.off, e.length) != nil || checkName(e.name, maxObjectName) != nil {
		t.Fatalf("accepted a bad entry %+v", e)
	}
	out := make([]byte, entrySize)
	encodeEntry(out, &e)
	if !bytes.Equal(out[eKind:], b[eKind:entrySize]) {
		t.Fatalf("re-encoding differs")
	}
}

func FuzzHandle(f *testing.F) {
	for _, h := range []Handle{
		{Segment: 1, Offset: 64 * 40, Kind: KindMutex, Fingerprint: 5, Generation: 1},
		{Segment: 0xdeadbeef, Name: "orders", Offset: 1 << 20, Kind: KindQueue, Generation: 99},
	} {
		b, _ := h.MarshalBinary()
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		checkHandleDecode(t, b)
		if len(b) >= handleFixed+4 {
			c := append([]byte(nil), b...)
			n := len(c) - 4
			le.PutUint32(c[n:], crc32.Checksum(c[:n], castagnoli()))
			checkHandleDecode(t, c)
		}
	})
}

func checkHandleDecode(t *testing.T, b []byte) {
	var h Handle
	if err := h.UnmarshalBinary(b); err != nil {
		if !errors.Is(err, ErrBadHandle) || h != (Handle{}) {
			t.Fatalf("failed decode: %v, handle %+v", err, h)
		}
		return
	}
	out, err := h.MarshalBinary()
	if err != nil || !bytes.Equal(out, b) {
		t.Fatalf("re-encoding differs: %v", err)
	}
}

// FuzzSegmentImage runs the allocator and the directory over corrupted
// segment images: every operation must fail with an error or succeed, never
// panic, loop, or write outside the image.
func FuzzSegmentImage(f *testing.F) {
	f.Add(seedImage(f))
	me, err := owner.Me()
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, img []byte) { fuzzImageBody(t, img, me) })
}

func fuzzImageBody(t *testing.T, img []byte, me uint64) {
	fuzzImage(t, img, me, nil)
}

// fuzzImage fixes img's checksums, lets edit change it further (after the
// header's checksum, before the entries' ones), and runs the allocator and
// directory over it.
func fuzzImage(t *testing.T, img []byte, me uint64, edit func(img []byte, h *header)) {
	{
		// Checksums made right, so that the fuzzer's changes reach the
		// directory and the heap rather than stopping at a checksum.
		// The size field follows the input's length, so that a shortened
		// input is a truncated image rather than one rejected at once.
		img = append([]byte(nil), img...)
		if len(img) >= hSummed {
			le.PutUint64(img[hSize:], uint64(len(img)))
			le.PutUint32(img[hSum:], headerSum(img))
		}
		h, err := decodeHeader(img, int64(len(img)))
		if err != nil {
			return
		}
		if edit != nil {
			edit(img, &h)
		}
		for i := uint64(0); i < uint64(h.entries) && h.dirOff+(i+1)*entrySize <= uint64(len(img)); i++ {
			e := img[h.dirOff+i*entrySize : h.dirOff+(i+1)*entrySize]
			if c, ok := fixEntrySum(e); ok {
				copy(e, c)
			}
		}
		// The lock word names its holder; a fuzzed one naming a live process
		// (this one, say) would rightly make every operation wait for it.
		// Start each run with the lock free.
		if len(img) >= headerSize {
			clear(img[hLockOwner : hLockWaiters+4])
		}
		// A guard region after the image catches writes past its end.
		buf := make([]byte, len(img)+4096)
		copy(buf, img)
		s := &Segment{b: buf[:len(img):len(img)], h: h, me: me}
		runImageOps(t, s)
		for _, c := range buf[len(img):] {
			if c != 0 {
				t.Fatal("wrote past the end of the image")
			}
		}
	}
}

// usedBlocks walks the heap as far as it holds, listing its used blocks.
func usedBlocks(s *Segment) [][2]uint64 {
	var used [][2]uint64
	s.walk(func(off uint64, k block) error {
		if k.state == blockUsed {
			used = append(used, [2]uint64{off, off + k.size})
		}
		return nil
	})
	return used
}

// checkFresh fails if the new object o overlaps a block that was used
// before it was allocated, or lies outside the heap.
func checkFresh(t *testing.T, s *Segment, o *Object, used [][2]uint64) {
	start, end := o.off-blockHeader, o.off+o.length
	if start < s.h.heapOff || end > s.h.heapEnd() {
		t.Fatalf("object [%d, %d) outside the heap [%d, %d)", start, end, s.h.heapOff, s.h.heapEnd())
	}
	for _, u := range used {
		if start < u[1] && u[0] < end {
			t.Fatalf("object [%d, %d) handed out over the used block [%d, %d)", start, end, u[0], u[1])
		}
	}
}

// checkNamed fails unless the named object o found in directory entry
// o.index has a used block that names that entry and generation back.
func checkNamed(t *testing.T, s *Segment, o *Object) {
	top, err := s.top()
	if err != nil {
		t.Fatalf("found %q with a bad top: %v", o.name, err)
	}
	k, err := decodeBlock(s.b, o.off-blockHeader, top)
	if err != nil || k.state != blockUsed || k.entry != uint32(o.index)+1 || k.gen != o.gen || k.length != o.length {
		t.Fatalf("found %q (entry %d, generation %d) in block %+v (%v)", o.name, o.index, o.gen, k, err)
	}
}

// runImageOps drives the directory and the allocator over s: every
// operation must fail with a typed error or succeed without handing out
// memory that another object holds; none may panic or loop.
func runImageOps(t *testing.T, s *Segment) {
	typed := func(op string, err error) {
		if err != nil && !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrNotExist) && !errors.Is(err, ErrFull) &&
			!errors.Is(err, ErrKind) && !errors.Is(err, ErrLayout) && !errors.Is(err, ErrStale) &&
			!errors.Is(err, ErrExist) && !errors.Is(err, ErrCreatorDied) && !errors.Is(err, context.Canceled) {
			t.Fatalf("%s: untyped error %v", op, err)
		}
	}
	// Cancelled: Find looks once and never waits for a reserved entry
	// whose recorded creator may be this very process.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := s.Objects()
	typed("Objects", err)
	o, err := s.Find(ctx, "obj", Spec{Kind: KindValue, Fingerprint: 9})
	typed("Find", err)
	if err == nil {
		checkNamed(t, s, o)
		clear(o.Bytes())
		a, err := s.Attach(o.Handle())
		typed("Attach", err)
		if err == nil && (a.off != o.off || a.length != o.length || a.name != o.name) {
			t.Fatalf("Attach of %+v gave %+v", o, a)
		}
	}
	p, err := s.Find(ctx, "pending", Spec{Kind: KindQueue})
	typed("Find", err)
	if err == nil {
		checkNamed(t, s, p)
	}
	used := usedBlocks(s)
	n, err := s.Alloc(Spec{Kind: KindBytes, Size: 200})
	typed("Alloc", err)
	if err == nil {
		checkFresh(t, s, n, used)
		clear(n.Bytes())
		typed("Free", n.Free())
	}
	used = usedBlocks(s)
	n, err = s.Reserve("new", Spec{Kind: KindBytes, Size: 50})
	typed("Reserve", err)
	if err == nil {
		checkFresh(t, s, n, used)
		typed("Publish", n.Publish())
	}
	typed("Remove", removeObj(s, "obj"))
	s.walk(func(uint64, block) error { return nil })
}

// FuzzHeapWords aims at the allocator's and the directory's words of a
// valid image: a block header (the named object's) replaced by fuzzed
// bytes, the heap top set to a fuzzed value, and the named object's entry
// pointed at a fuzzed offset and generation with its checksum made right.
// Every operation must fail with a typed error or hand out only memory
// that no other object holds.
func FuzzHeapWords(f *testing.F) {
	img := seedImage(f)
	h, err := decodeHeader(img, int64(len(img)))
	if err != nil {
		f.Fatal(err)
	}
	e, err := decodeEntry(img[h.dirOff:h.dirOff+entrySize], &h)
	if err != nil || e.name != "obj" {
		f.Fatalf("seed image: entry 0 is %+v, %v", e, err)
	}
	hdr := img[e.off-blockHeader : e.off]
	top := le.Uint64(img[hTop:])
	f.Add(append([]byte(nil), hdr...), top, e.off, e.gen)
	f.Add(append([]byte(nil), hdr...), e.off-blockHeader, e.off, e.gen)
	f.Add(append([]byte(nil), hdr...), top, e.off+e.length/64*64+blockHeader, e.gen+1)
	f.Add([]byte{}, top-blockAlign, uint64(0), uint64(0))
	me, err := owner.Me()
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, blk []byte, top, off, gen uint64) {
		fuzzImage(t, img, me, func(b []byte, h *header) {
			copy(b[e.off-blockHeader:e.off], blk)
			if top != 0 {
				le.PutUint64(b[hTop:], top)
			}
			if off != 0 {
				ent := b[h.dirOff : h.dirOff+entrySize]
				le.PutUint64(ent[eOff:], off)
				le.PutUint64(ent[eGen:], gen)
			}
		})
	})
}

//go:build linux && (amd64 || arm64)

package shmap

// Fuzz tests of what a process reads from shared memory that another one
// wrote: the header of a Map or List (checkHeader and the attach that
// follows it), and the intent record that the next holder of the lock
// repairs from. Whatever the bytes, the answer is a working collection or
// an error: never a panic, a hang, or a write outside the collection's own
// blocks (a sentinel object in the same segment stays as it was, and the
// segment still allocates and frees).
//
// Without -fuzz only the seeds run, in milliseconds.

import (
	"bytes"
	"context"
	"errors"
	"testing"

	"github.com/shmkit/shmkit/ctypes"
	"github.com/shmkit/shmkit/shm"
)

// fuzzSegSize is the size of the segment each input gets.
const fuzzSegSize = 1 << 18

// fuzzRig is a segment with a sentinel object (a pattern that nothing of a
// map may touch) and a Map of a few keys, some deleted.
type fuzzRig struct {
	seg  *shm.Segment
	sent *shm.Object
	m    *Map[int64, int64]
}

func fuzzPattern(i int) byte { return byte(i*7 + 3) }

func newFuzzRig(t testing.TB, keys int) *fuzzRig {
	t.Helper()
	seg, err := shm.Anonymous(fuzzSegSize)
	if err != nil {
		t.Fatal(err)
	}
	r := &fuzzRig{seg: seg}
	t.Cleanup(func() { seg.Close() })
	r.sent, err = shm.Place(shm.Spec{Kind: shm.KindBytes, Size: 256}, func(b []byte) error {
		for i := range b {
			b[i] = fuzzPattern(i)
		}
		return nil
	}, shm.In(seg, "sentinel"))
	if err != nil {
		t.Fatal(err)
	}
	if r.m, err = New[int64, int64](shm.In(seg, "m")); err != nil {
		t.Fatal(err)
	}
	for k := range int64(keys) {
		if err := r.m.Set(k, -k); err != nil {
			t.Fatal(err)
		}
	}
	for k := int64(0); k < int64(keys); k += 3 {
		if _, err := r.m.Delete(k); err != nil {
			t.Fatal(err)
		}
	}
	return r
}

// check fails t when anything outside the map changed: the sentinel's
// bytes, its name, and the segment's ability to allocate and free.
func (r *fuzzRig) check(t *testing.T) {
	t.Helper()
	for i, c := range r.sent.Bytes() {
		if c != fuzzPattern(i) {
			t.Fatalf("sentinel byte %d is %#x, want %#x", i, c, fuzzPattern(i))
		}
	}
	if _, err := shm.Resolve(r.sent.Handle()); err != nil {
		t.Fatalf("the sentinel no longer resolves: %v", err)
	}
	o, err := r.seg.Alloc(shm.Spec{Kind: shm.KindBytes, Size: 4096})
	if err != nil {
		t.Fatalf("the segment no longer allocates: %v", err)
	}
	if err := o.Free(); err != nil {
		t.Fatalf("the segment no longer frees: %v", err)
	}
}

// use runs every operation of m, which must not panic; it reports whether
// all of them worked.
func fuzzUse(m *Map[int64, int64]) bool {
	ok := true
	note := func(err error) {
		if err != nil {
			ok = false
		}
	}
	_, err := m.count()
	note(err)
	for k := range int64(40) {
		_, _, err := m.Get(k)
		note(err)
	}
	for k := range int64(40) {
		note(m.Set(k+100, k))
	}
	_, err = m.Delete(101)
	note(err)
	_, err = m.CompareAndSwap(102, 2, 3)
	note(err)
	note(m.Update(103, func(v int64, _ bool) (int64, bool) { return v + 1, true }))
	for range m.Range() {
	}
	// The counters, typed and as tools read them: an answer or an error.
	_, err = m.Stats()
	note(err)
	_, err = shm.Metrics(m.root)
	note(err)
	return ok
}

// fuzzHeaderTypes are the collections FuzzHeader decodes headers of.
var fuzzHeaderTypes = []struct {
	kind   shm.Kind
	kl, vl ctypes.Layout
	sz     int
	make   func(seg *shm.Segment) (*coll, error)
}{
	{shm.KindShard, mustLayout[int64](), mustLayout[int64](), 24, func(seg *shm.Segment) (*coll, error) {
		m, err := New[int64, int64](shm.In(seg, ""))
		if err != nil {
			return nil, err
		}
		return &m.parts[0].c, nil
	}},
	{shm.KindShard, mustLayout[int32](), mustLayout[[3]int64](), 40, func(seg *shm.Segment) (*coll, error) {
		m, err := New[int32, [3]int64](shm.In(seg, ""))
		if err != nil {
			return nil, err
		}
		return &m.parts[0].c, nil
	}},
	{shm.KindList, mustLayout[int32](), noValue, 8, func(seg *shm.Segment) (*coll, error) {
		l, err := NewList[int32](shm.In(seg, ""))
		if err != nil {
			return nil, err
		}
		return &l.c, nil
	}},
	// Encoded: a ref in the slot (layouts of size 0).
	{shm.KindShard, mustFieldLayout[string](), mustFieldLayout[string](), 24, func(seg *shm.Segment) (*coll, error) {
		m, err := New[string, string](shm.In(seg, ""))
		if err != nil {
			return nil, err
		}
		return &m.parts[0].c, nil
	}},
	{shm.KindList, mustFieldLayout[string](), noValue, 8, func(seg *shm.Segment) (*coll, error) {
		l, err := NewList[string](shm.In(seg, ""))
		if err != nil {
			return nil, err
		}
		return &l.c, nil
	}},
}

func mustLayout[T any]() ctypes.Layout {
	l, err := layoutOf[T]()
	if err != nil {
		panic(err)
	}
	return l
}

// mustFieldLayout is the layout a header records of a key, value or
// element of type T: of size 0 when T is encoded.
func mustFieldLayout[T any]() ctypes.Layout {
	_, l, err := newField[T]()
	if err != nil {
		panic(err)
	}
	return l
}

// identity is the part of a header that make writes once and checkHeader
// compares: magic to the value size.
const identity = offValSize + 4

func FuzzHeader(f *testing.F) {
	// The headers make writes, for the seeds and as what checkHeader may
	// accept.
	seg, err := shm.Anonymous(fuzzSegSize)
	if err != nil {
		f.Fatal(err)
	}
	defer seg.Close()
	var refs [][]byte
	for _, ty := range fuzzHeaderTypes {
		c, err := ty.make(seg)
		if err != nil {
			f.Fatal(err)
		}
		refs = append(refs, bytes.Clone(c.h))
	}
	// The map's seeds are the header of a rig's map: a rig is made the
	// same way each time, so its lock and table references hold in the
	// rig each input gets.
	refs[0] = bytes.Clone(newFuzzRig(f, 20).m.parts[0].c.h)
	// Likewise an encoded collection's seeds are the header of
	// FuzzEncoded's rig.
	for i, ty := range fuzzHeaderTypes {
		switch {
		case ty.kl.Size != 0:
		case ty.kind == shm.KindShard:
			refs[i] = bytes.Clone(newEncRig(f, encMapSS).c.h)
		default:
			refs[i] = bytes.Clone(newEncRig(f, encList).c.h)
		}
	}
	for i, h := range refs {
		f.Add(h, uint8(i))
		f.Add(h[:identity], uint8(i))
		f.Add(h, uint8(i+1))
		bad := bytes.Clone(h)
		le.PutUint64(bad[offTable+16:], 1<<61) // a capacity whose bytes overflow
		f.Add(bad, uint8(i))
		bad = bytes.Clone(h)
		le.PutUint64(bad[offCount:], 1<<62)
		f.Add(bad, uint8(i))
	}
	f.Add([]byte{}, uint8(0))
	f.Fuzz(func(t *testing.T, b []byte, which uint8) {
		ty := fuzzHeaderTypes[int(which)%len(fuzzHeaderTypes)]
		ref := refs[int(which)%len(refs)]
		err := checkHeader(b, ty.kind, ty.kl, ty.vl, ty.sz)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("checkHeader: an error of no kind: %v", err)
			}
		} else if len(b) < hdrSize || !bytes.Equal(b[:identity], ref[:identity]) {
			t.Fatalf("checkHeader accepted a header make does not write: % x", b[:min(len(b), identity)])
		}
		if ty.kl.Size == 0 { // encoded: the attach to FuzzEncoded's rig
			fuzzAttachEncoded(t, ty.kind, b, ref, which&0x80 != 0)
			return
		}
		if ty.kind != shm.KindShard || ty.sz != 24 {
			return
		}
		// The attach that follows: the bytes over a real map's header (its
		// identity kept, half the time, so that what comes after it is
		// reached), then every operation.
		r := newFuzzRig(t, 20)
		h := r.m.parts[0].c.h
		copy(h, b)
		if which&0x80 != 0 {
			copy(h, ref[:identity])
		}
		r.reattach(t)
	})
}

// reattach attaches a new handle to the rig's map, whose bytes a fuzz
// input changed, and when that works uses it and frees it; then it checks
// that nothing outside the map changed.
func (r *fuzzRig) reattach(t *testing.T) {
	hb, err := r.m.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	var m Map[int64, int64]
	if err := m.UnmarshalBinary(hb); err == nil {
		fuzzUse(&m)
		m.Free()
	}
	r.check(t)
}

// FuzzIntent writes an intent record into a real map's header, as a holder
// killed at some point would have left it (and as no holder ever does),
// and takes the lock: the repair either works, and the map with it, or
// returns an error; nothing outside the map's blocks changes.
//
// The table references are raw numbers or, by sel, one of the tables a
// real record names: 1 the current table, 2 a new table placed beside it
// (as grow does), 3 a table placed and freed.
func FuzzIntent(f *testing.F) {
	f.Add(uint32(opOverwrite), uint32(0), uint64(3), uint64(13), uint64(7), uint8(0), uint8(0), uint64(0), uint64(0), uint64(0), []byte{9, 9})
	f.Add(uint32(opInsert), uint32(1), uint64(5), uint64(13), uint64(7), uint8(0), uint8(0), uint64(0), uint64(0), uint64(0), []byte{})
	f.Add(uint32(opDelete), uint32(0), uint64(1<<40), uint64(0), uint64(7), uint8(0), uint8(0), uint64(0), uint64(0), uint64(0), []byte{})
	for flag := range uint32(4) {
		for sel := range uint8(16) {
			f.Add(uint32(opGrow), flag, uint64(0), uint64(13), uint64(7), sel&3, sel>>2, uint64(64), uint64(0), uint64(0), []byte{})
		}
	}
	f.Add(uint32(opGrow), uint32(2), uint64(0), uint64(13), uint64(7), uint8(2), uint8(1), uint64(1<<61), uint64(0), uint64(0), []byte{})
	f.Add(uint32(opAppend), uint32(0), uint64(0), uint64(0), uint64(0), uint8(0), uint8(0), uint64(0), uint64(0), uint64(0), []byte{})
	f.Add(uint32(99), uint32(0), uint64(0), uint64(0), uint64(0), uint8(0), uint8(0), uint64(0), uint64(0), uint64(0), []byte{})
	f.Fuzz(func(t *testing.T, op, flag uint32, slot, countBefore, tombsBefore uint64,
		newSel, oldSel uint8, newCap, rawOff, rawGen uint64, old []byte) {
		r := newFuzzRig(t, 20)
		c := &r.m.parts[0].c
		cur := [3]uint64{atomicLoad(c.word(offTable)), atomicLoad(c.word(offTable + 8)), uint64(c.capacity())} // the table the header names
		ref := func(sel uint8) [3]uint64 {
			switch sel % 4 {
			case 1:
				return cur
			case 2, 3:
				n := int(min(max(newCap, 1), 1024))
				tb, err := placeTable(r.seg, n, r.m.sz, 0)
				if err != nil {
					t.Fatal(err)
				}
				h := tb.Handle()
				if sel%4 == 3 {
					tb.Free()
				}
				return [3]uint64{h.Offset, h.Generation, newCap}
			}
			return [3]uint64{rawOff, rawGen, newCap}
		}
		nw, od := ref(newSel), ref(oldSel)
		le.PutUint32(c.h[offFlag:], flag)
		le.PutUint64(c.h[offISlot:], slot)
		le.PutUint64(c.h[offBefore:], countBefore)
		le.PutUint64(c.h[offBefore+8:], tombsBefore)
		for i := range 3 {
			le.PutUint64(c.h[offNew+8*i:], nw[i])
			le.PutUint64(c.h[offOld+8*i:], od[i])
		}
		copy(c.h[offOldVal:offOldVal+MaxItem], old)
		le.PutUint32(c.h[offOp:], op)

		if err := c.lock(r.m.parts[0].fix); err == nil {
			c.unlock()
		}
		fuzzUse(r.m)
		// Another handle, as another process would attach.
		m2, err := Open[int64, int64](context.Background(), r.seg, "m")
		if err != nil {
			t.Fatalf("Open after the repair: %v", err)
		}
		fuzzUse(m2)
		r.m.Free()
		r.check(t)
	})
}

// FuzzRoot writes any bytes over a Map's root (the object its name and
// handle find, which names its parts), keeping its identity half the
// time, then attaches a new handle, uses it, and describes it with Stat:
// never a panic, and nothing outside the map changes.
func FuzzRoot(f *testing.F) {
	ref := bytes.Clone(newFuzzRig(f, 20).m.root.Bytes())
	f.Add(ref, false)
	f.Add(ref[:offPart], true)
	bad := bytes.Clone(ref)
	le.PutUint64(bad[offPart+16:], 1<<40) // a part past the segment
	f.Add(bad, true)
	bad = bytes.Clone(ref)
	copy(bad[offPart+32:offPart+48], bad[offPart:offPart+16]) // part 0 twice
	f.Add(bad, true)
	f.Fuzz(func(t *testing.T, b []byte, keep bool) {
		r := newFuzzRig(t, 20)
		h := r.m.root.Bytes()
		copy(h, b)
		if keep {
			copy(h, ref[:offPart])
		}
		Stat(r.m.root) // an answer or an error, never a panic
		if ms, err := shm.Metrics(r.m.root); err == nil && len(ms) != 5 {
			t.Fatalf("metrics of a map: %+v", ms)
		}
		r.reattach(t)
	})
}

// FuzzGarbage writes fuzzed bytes at a fuzzed place of a live Map's or
// List's memory (a part's header, its lock object, its table, the root,
// the List's header, lock or table) and calls every operation: each gives
// nil, ErrCorrupt (shm.ErrCorrupt), or the ErrInvalid or ErrFull
// that the values the garbage left can rightly give; none panics or hangs,
// and nothing outside the collections changes.
func FuzzGarbage(f *testing.F) {
	f.Add(uint8(0), uint16(0), []byte{1, 2, 3})
	f.Add(uint8(8), uint16(0), []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff})
	f.Add(uint8(16), uint16(8), make([]byte, 64))
	f.Add(uint8(24), uint16(64), []byte{9, 9, 9, 9, 9, 9, 9, 9, 9})
	f.Add(uint8(25), uint16(128), []byte{2, 0, 0, 0, 0, 0, 0, 0})
	f.Add(uint8(26), uint16(0), []byte{0x39, 0x30, 0, 0, 0xf0, 0xff, 0xff, 0x7f})
	f.Add(uint8(27), uint16(8), []byte{0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, region uint8, off uint16, data []byte) {
		r := newFuzzRig(t, 12)
		l, err := NewList[int64](shm.In(r.seg, "l"))
		if err != nil {
			t.Fatal(err)
		}
		for k := range int64(6) {
			if err := l.Append(k); err != nil {
				t.Fatal(err)
			}
		}
		var regions [][]byte
		for i := range r.m.parts {
			regions = append(regions, r.m.parts[i].c.h)
		}
		for i := range r.m.parts {
			regions = append(regions, objectBytes(t, r.m.parts[i].c.mu.Handle()))
		}
		for i := range r.m.parts {
			regions = append(regions, tableBytes(t, &r.m.parts[i].c))
		}
		regions = append(regions, r.m.root.Bytes(), l.c.h, objectBytes(t, l.c.mu.Handle()), tableBytes(t, &l.c))
		b := regions[int(region)%len(regions)]
		copy(b[int(off)%len(b):], data)
		callAll(t, r.m, l, func(err error) bool {
			return corruptOnly(err) || errors.Is(err, ErrInvalid) || errors.Is(err, ErrFull)
		})
		r.check(t)
	})
}

//go:build linux && (amd64 || arm64)

package shmap

// FuzzEncoded fuzzes what a process reads of an encoded collection that
// another one wrote: the refs in its slots, the data words of its header
// (used, garbage), the data words of its intent record, and the bytes of
// its data region. As in FuzzIntent, whatever the bytes, every operation
// returns, without a panic or a hang, and its error (if any) wraps
// ErrCorrupt, ErrInvalid or ErrFull; nothing outside the collection's own
// blocks changes (two sentinel objects stay as they were, one placed
// before the collection and one after its tables, and the segment still
// allocates and frees).
//
// Without -fuzz only the seeds (here and in testdata/fuzz/FuzzEncoded)
// run, in milliseconds.

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/shmkit/shmkit/shm"
)

// The collections FuzzEncoded corrupts, chosen by the low bits of sel.
const (
	encMapSS = iota // Map[string, string]: both fields encoded
	encList         // List[string]
	encMapSI        // Map[string, int64]: an encoded key, a plain value
	encKinds
)

// The bits of FuzzEncoded's words argument: what it writes.
const (
	encWriteUsed    = 1 << iota // the header's used word
	encWriteGarbage             // its garbage word
	encWriteIntent              // the intent record (op, flag, slot, data words)
	encUsedData                 // used is len(data) + int32(used), not raw
	encGarbageUsed              // garbage is used + int32(garbage), not raw
	encSlotRaw                  // the intent's slot is raw, not mod capacity
	encWriteCap                 // the header's capacity word (the table's slots)
)

// encRig is a segment with a sentinel object, an encoded collection of a
// few entries (some deleted, overwritten or popped: some garbage, and at
// least one growth behind it), and a second sentinel after its tables.
type encRig struct {
	seg   *shm.Segment
	sents []*fuzzRig // each a sentinel, checked by fuzzRig.check
	kind  int
	ss    *Map[string, string]
	si    *Map[string, int64]
	l     *List[string]
	c     *coll
}

// fzKey and fzVal are the rig's keys and values: distinct, and of
// lengths that vary with i.
func fzKey(i int) string { return fmt.Sprintf("k%03d", i) + strings.Repeat("-", i%5) }
func fzVal(i, n int) string {
	return fmt.Sprintf("v%03d:", i) + strings.Repeat(string(rune('a'+i%26)), n)
}
func encSentinel(t testing.TB, seg *shm.Segment, name string) *fuzzRig {
	t.Helper()
	o, err := shm.Place(shm.Spec{Kind: shm.KindBytes, Size: 256}, func(b []byte) error {
		for i := range b {
			b[i] = fuzzPattern(i)
		}
		return nil
	}, shm.In(seg, name))
	if err != nil {
		t.Fatal(err)
	}
	return &fuzzRig{seg: seg, sent: o}
}

func newEncRig(t testing.TB, kind int) *encRig {
	t.Helper()
	seg, err := shm.Anonymous(fuzzSegSize)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { seg.Close() })
	r := &encRig{seg: seg, kind: kind}
	r.sents = append(r.sents, encSentinel(t, seg, "sentinel"))
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	const n = 64
	switch kind {
	case encMapSS:
		r.ss, err = New[string, string](shm.In(seg, "m"))
		must(err)
		r.c = busiest(r.ss)
		for i := range n {
			must(r.ss.Set(fzKey(i), fzVal(i, i%7*5)))
		}
		for i := 0; i < n; i += 3 {
			_, err := r.ss.Delete(fzKey(i))
			must(err)
		}
		must(r.ss.Set(fzKey(1), fzVal(1, 40)))
	case encMapSI:
		r.si, err = New[string, int64](shm.In(seg, "m"))
		must(err)
		r.c = busiest(r.si)
		for i := range n {
			must(r.si.Set(fzKey(i)+strings.Repeat("#", i), int64(-i)))
		}
		for i := 0; i < n; i += 3 {
			_, err := r.si.Delete(fzKey(i) + strings.Repeat("#", i))
			must(err)
		}
	case encList:
		r.l, err = NewList[string](shm.In(seg, "m"))
		must(err)
		r.c = &r.l.c
		for i := range n {
			must(r.l.Append(fzVal(i, i%7*5)))
		}
		for range 3 {
			_, err := r.l.Pop()
			must(err)
		}
		must(r.l.Set(2, fzVal(2, 40)))
	}
	if le.Uint64(r.c.h[offGrowths:]) == 0 || r.c.garbage() == 0 {
		t.Fatalf("the rig has %d growths and %d bytes of garbage: both should be > 0", le.Uint64(r.c.h[offGrowths:]), r.c.garbage())
	}
	r.sents = append(r.sents, encSentinel(t, seg, "sentinel2"))
	return r
}

// check fails t when anything outside the collection changed.
func (r *encRig) check(t *testing.T) {
	t.Helper()
	for _, s := range r.sents {
		s.check(t)
	}
}

// slotWords are the offsets in a slot of the words FuzzEncoded writes:
// the control word and the refs (a plain value's word too).
func (r *encRig) slotWords() []int {
	switch r.kind {
	case encMapSS:
		return []int{0, 8, r.ss.off}
	case encMapSI:
		return []int{0, 8, r.si.off}
	}
	return []int{0}
}

// use runs every operation of the rig's collection and of a second
// handle; when strict, an error of no allowed kind fails t (FuzzHeader's
// attach, which may name a table that is not one, is not strict).
func (r *encRig) use(t *testing.T, long int, strict bool) {
	note := func(op string, err error) {
		t.Helper()
		if err == nil {
			return
		}
		if strict && !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrInvalid) && !errors.Is(err, ErrFull) {
			t.Fatalf("%s: an error of no kind: %v", op, err)
		}
	}
	big := func(i int) string { return fzVal(i, 16+long*8+i*long) }
	longKey := func(i int) string { return strings.Repeat("K", 4*long+i) + fzKey(i) }
	newKey := func(i int) string { return fzKey(100+i) + strings.Repeat("+", long*((i+1)%3)) }
	switch r.kind {
	case encMapSS:
		for _, m := range []*Map[string, string]{r.ss, r.reopenSS(t, strict)} {
			if m == nil {
				continue
			}
			_, err := m.count()
			note("Len", err)
			for i := range 24 {
				_, _, err := m.Get(fzKey(i))
				note("Get", err)
			}
			for i := range 3 {
				note("Set long key", m.Set(longKey(i), "v"))
			}
			for i := range 12 {
				note("Set new", m.Set(newKey(i), big(i)))
			}
			for i := 0; i < 20; i += 2 {
				note("Set", m.Set(fzKey(i), big(i)))
			}
			for _, k := range []string{fzKey(1), fzKey(4), newKey(0), newKey(1), fzKey(300)} {
				_, err := m.Delete(k)
				note("Delete", err)
			}
			note("Update", m.Update(fzKey(5), func(v string, _ bool) (string, bool) { return v + "u", true }))
			note("Update", m.Update(fzKey(7), func(v string, _ bool) (string, bool) { return v, false }))
			note("Update", m.Update(newKey(200), func(string, bool) (string, bool) { return big(200), true }))
			_, err = m.CompareAndSwap(fzKey(2), "", "x")
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("CompareAndSwap of an encoded value: %v, want ErrInvalid", err)
			}
			_, err = m.Snapshot()
			note("Snapshot", err)
			for range m.Range() {
			}
			_, err = m.count()
			note("Len", err)
		}
	case encMapSI:
		for _, m := range []*Map[string, int64]{r.si, r.reopenSI(t, strict)} {
			if m == nil {
				continue
			}
			_, err := m.count()
			note("Len", err)
			for i := range 24 {
				_, _, err := m.Get(fzKey(i) + strings.Repeat("#", i))
				note("Get", err)
			}
			for i := range 3 {
				note("Set long key", m.Set(longKey(i), int64(i)))
			}
			for i := range 12 {
				note("Set new", m.Set(big(i), int64(i)))
			}
			for i := 0; i < 20; i += 2 {
				note("Set", m.Set(fzKey(i)+strings.Repeat("#", i), int64(i)))
			}
			_, err = m.Delete(fzKey(1) + "#")
			note("Delete", err)
			_, err = m.Delete(big(3))
			note("Delete", err)
			_, err = m.CompareAndSwap(fzKey(2)+"##", -2, 22)
			note("CompareAndSwap", err)
			note("Update", m.Update(fzKey(5)+"#####", func(v int64, _ bool) (int64, bool) { return v + 1, true }))
			note("Update", m.Update(fzKey(7)+"#######", func(v int64, _ bool) (int64, bool) { return v, false }))
			note("Update", m.Update(big(200), func(int64, bool) (int64, bool) { return 200, true }))
			_, err = m.Snapshot()
			note("Snapshot", err)
			for range m.Range() {
			}
			_, err = m.count()
			note("Len", err)
		}
	case encList:
		for _, l := range []*List[string]{r.l, r.reopenList(t, strict)} {
			if l == nil {
				continue
			}
			_, err := l.count()
			note("Len", err)
			for i := -1; i < 26; i++ {
				_, err := l.At(i)
				note("At", err)
			}
			for i := range 12 {
				note("Append", l.Append(big(i)))
			}
			for i := 0; i < 30; i += 3 {
				note("Set", l.Set(i, big(i)))
			}
			for range 3 {
				_, err := l.Pop()
				note("Pop", err)
			}
			_, err = l.Snapshot()
			note("Snapshot", err)
			for range l.All() {
			}
			_, err = l.count()
			note("Len", err)
		}
	}
}

// The second handles, as another process would attach.
func (r *encRig) reopenSS(t *testing.T, strict bool) *Map[string, string] {
	m, err := Open[string, string](context.Background(), r.seg, "m")
	if err != nil && !strict {
		return nil
	}
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return m
}

func (r *encRig) reopenSI(t *testing.T, strict bool) *Map[string, int64] {
	m, err := Open[string, int64](context.Background(), r.seg, "m")
	if err != nil && !strict {
		return nil
	}
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return m
}

func (r *encRig) reopenList(t *testing.T, strict bool) *List[string] {
	l, err := OpenList[string](context.Background(), r.seg, "m")
	if err != nil && !strict {
		return nil
	}
	if err != nil {
		t.Fatalf("OpenList: %v", err)
	}
	return l
}

func (r *encRig) free() error {
	switch r.kind {
	case encMapSS:
		return r.ss.Free()
	case encMapSI:
		return r.si.Free()
	}
	return r.l.Free()
}

// FuzzEncoded: sel chooses the collection (mod encKinds) and long the
// length of the values the operations write (growth and compaction);
// words says which header words are written (the encWrite bits) and how
// (encUsedData, encGarbageUsed, encSlotRaw). refs is records of 10 bytes:
// a slot (mod capacity), a word of it (mod the words slotWords gives), and
// 8 bytes, raw or (when the word byte's bit 7 is set) a ref at used +
// int16 of the first two bytes, of the length the next two give. patch is
// written into the data region at patchAt (mod its length). The intent
// record gets op, flag, islot, and its data words: newUsed (208), the
// used and garbage before (216, 224) and after (232, 240); op is stored
// last. capWord is the capacity word, written when words says so.
func FuzzEncoded(f *testing.F) {
	for kind := range uint8(encKinds) {
		f.Add(kind, uint8(0), uint64(0), uint64(0), uint32(0), uint32(0), uint64(0), uint64(0), uint64(0), uint64(0), uint64(0), uint64(0), []byte{}, uint16(0), []byte{}, uint8(8), uint64(0))
		// A ref past used, one with a length past it, one of a huge length.
		refs := []byte{
			3, 1, 0x10, 0, 0, 0, 0xff, 0xff, 0, 0, // key ref of slot 3 at offset 0xffff00, far past used
			5, 0x82, 0x08, 0x00, 0x40, 0x00, 0, 0, 0, 0, // value ref of slot 5 at used+8, 64 bytes
			6, 0x81, 0xf0, 0xff, 0x20, 0x00, 0, 0, 0, 0, // key ref of slot 6 at used-16, 32 bytes
			7, 2, 0xff, 0xff, 0xff, 0, 0, 0, 0, 0, // value ref of 2^24-1 bytes at 0
		}
		f.Add(kind, uint8(0), uint64(0), uint64(0), uint32(0), uint32(0), uint64(0), uint64(0), uint64(0), uint64(0), uint64(0), uint64(0), refs, uint16(0), []byte{}, uint8(8), uint64(0))
		// Garbage > used; used > the data region; used 0 (every ref past it).
		f.Add(kind, uint8(encWriteGarbage|encGarbageUsed), uint64(0), uint64(1), uint32(0), uint32(0), uint64(0), uint64(0), uint64(0), uint64(0), uint64(0), uint64(0), []byte{}, uint16(0), []byte{}, uint8(8), uint64(0))
		f.Add(kind, uint8(encWriteUsed|encUsedData), uint64(1), uint64(0), uint32(0), uint32(0), uint64(0), uint64(0), uint64(0), uint64(0), uint64(0), uint64(0), []byte{}, uint16(0), []byte{}, uint8(8), uint64(0))
		f.Add(kind, uint8(encWriteUsed|encWriteGarbage), uint64(0), uint64(0), uint32(0), uint32(0), uint64(0), uint64(0), uint64(0), uint64(0), uint64(0), uint64(0), []byte{}, uint16(0), []byte{}, uint8(8), uint64(0))
		// Garbage that says all the data is dead: a compaction that finds
		// more than it was told.
		f.Add(kind, uint8(encWriteGarbage|encGarbageUsed), uint64(0), uint64(0), uint32(0), uint32(0), uint64(0), uint64(0), uint64(0), uint64(0), uint64(0), uint64(0), []byte{}, uint16(0), []byte{}, uint8(30), uint64(0))
		// Intent records: an overwrite whose after-used is huge, or whose
		// before-used is; an insert, a delete (a pop), an append; a
		// switched growth whose new table's used is huge.
		for _, op := range []uint32{opOverwrite, opInsert, opDelete, opAppend} {
			f.Add(kind, uint8(encWriteIntent), uint64(0), uint64(0), op, uint32(0), uint64(2), uint64(0), uint64(0), uint64(0), uint64(1<<50), uint64(0), []byte{}, uint16(0), []byte{}, uint8(8), uint64(0))
			f.Add(kind, uint8(encWriteIntent), uint64(0), uint64(0), op, uint32(1), uint64(2), uint64(0), uint64(1<<62), uint64(1<<63), uint64(0), uint64(0), []byte{}, uint16(0), []byte{}, uint8(8), uint64(0))
		}
		f.Add(kind, uint8(encWriteIntent), uint64(0), uint64(0), uint32(opGrow), uint32(2), uint64(0), uint64(1<<40), uint64(0), uint64(0), uint64(0), uint64(0), []byte{}, uint16(0), []byte{}, uint8(8), uint64(0))
		f.Add(kind, uint8(encWriteIntent), uint64(0), uint64(0), uint32(opGrow), uint32(1), uint64(0), uint64(0), uint64(0), uint64(0), uint64(0), uint64(0), []byte{}, uint16(0), []byte{}, uint8(8), uint64(0))
		// A capacity word past the table (64 slots; the rig's table has 16
		// for a map), and one short of it: the handle has the table
		// attached already.
		f.Add(kind, uint8(encWriteCap), uint64(0), uint64(0), uint32(0), uint32(0), uint64(0), uint64(0), uint64(0), uint64(0), uint64(0), uint64(0), []byte{}, uint16(0), []byte{}, uint8(8), uint64(64))
		f.Add(kind, uint8(encWriteCap), uint64(0), uint64(0), uint32(0), uint32(0), uint64(0), uint64(0), uint64(0), uint64(0), uint64(0), uint64(0), []byte{}, uint16(0), []byte{}, uint8(8), uint64(8))
		// The data region overwritten.
		f.Add(kind, uint8(0), uint64(0), uint64(0), uint32(0), uint32(0), uint64(0), uint64(0), uint64(0), uint64(0), uint64(0), uint64(0), []byte{}, uint16(0), []byte(strings.Repeat("\xff", 300)), uint8(8), uint64(0))
	}
	f.Fuzz(fuzzEncoded)
}

func fuzzEncoded(t *testing.T, sel, words uint8, used, garbage uint64, op, flag uint32, islot, newUsed, wasUsed, wasGarbage, isUsed, isGarbage uint64,
	refs []byte, patchAt uint16, patch []byte, long uint8, capWord uint64) {
	hang := time.AfterFunc(20*time.Second, func() { panic("FuzzEncoded: an input ran for 20 s") })
	defer hang.Stop()
	r := newEncRig(t, int(sel)%encKinds)
	cc := r.c
	capa, sw := cc.capacity(), r.slotWords()
	for ; len(refs) >= 10; refs = refs[10:] {
		i, w := int(refs[0])%capa, sw[int(refs[1]&0x7f)%len(sw)]
		v := le.Uint64(refs[2:])
		if refs[1]&0x80 != 0 {
			off := int64(cc.used()) + int64(int16(le.Uint16(refs[2:])))
			v = uint64(off)<<refLenBits | uint64(le.Uint16(refs[4:]))
		}
		le.PutUint64(cc.tab[i*cc.sz+w:], v)
	}
	if len(patch) > 0 && len(cc.data) > 0 {
		copy(cc.data[int(patchAt)%len(cc.data):], patch)
	}
	if words&encUsedData != 0 {
		used = uint64(int64(len(cc.data)) + int64(int32(used)))
	}
	if words&encWriteUsed != 0 {
		le.PutUint64(cc.h[offUsed:], used)
	}
	if words&encGarbageUsed != 0 {
		garbage = uint64(int64(cc.used()) + int64(int32(garbage)))
	}
	if words&encWriteGarbage != 0 {
		le.PutUint64(cc.h[offGarbage:], garbage)
	}
	if words&encWriteCap != 0 {
		le.PutUint64(cc.h[offTable+16:], capWord)
	}
	if words&encWriteIntent != 0 {
		if words&encSlotRaw == 0 {
			islot %= uint64(capa)
		}
		le.PutUint32(cc.h[offFlag:], flag)
		le.PutUint64(cc.h[offISlot:], islot)
		for j, w := range []uint64{newUsed, wasUsed, wasGarbage, isUsed, isGarbage} {
			le.PutUint64(cc.h[offNewUsed+8*j:], w)
		}
		le.PutUint32(cc.h[offOp:], op)
	}
	r.use(t, int(long), true)
	if err := r.free(); err != nil && !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrInvalid) && !errors.Is(err, ErrFull) {
		t.Fatalf("Free: an error of no kind: %v", err)
	}
	r.check(t)
}

// fuzzAttachEncoded is FuzzHeader's attach for an encoded Map[string,
// string] or List[string]: h over the header of a rig's collection (its
// identity kept, from ref, when keep), then a new handle attached to it,
// and every operation of it; nothing outside the collection changes.
func fuzzAttachEncoded(t *testing.T, kind shm.Kind, h, ref []byte, keep bool) {
	ek := encMapSS
	if kind == shm.KindList {
		ek = encList
	}
	r := newEncRig(t, ek)
	copy(r.c.h, h)
	if keep {
		copy(r.c.h, ref[:identity])
	}
	hb, err := r.c.o.Handle().MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	var attached error
	if ek == encMapSS {
		var m Map[string, string]
		if attached = m.UnmarshalBinary(hb); attached == nil {
			r.ss = &m
		}
	} else {
		var l List[string]
		if attached = l.UnmarshalBinary(hb); attached == nil {
			r.l = &l
		}
	}
	if attached == nil {
		r.use(t, 8, false)
		r.free()
	}
	r.check(t)
}

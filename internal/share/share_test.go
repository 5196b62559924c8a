//go:build linux && (amd64 || arm64)

package share_test

// Tests of the header of values and arrays: Encode and Decode byte by byte,
// every complaint of Decode, FuzzDecode (never panics; what it accepts
// re-encodes to the same bytes and its elements fit), and headers of live
// Values and Arrays corrupted in place (TestCorruptHeader, a table, and
// FuzzCorruptHeader): Open fails with an error, or succeeds with an object
// that works, and never panics.

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"math"
	"math/bits"
	"testing"

	"github.com/shmkit/shmkit/array"
	"github.com/shmkit/shmkit/ctypes"
	"github.com/shmkit/shmkit/internal/share"
	"github.com/shmkit/shmkit/internal/testproc"
	"github.com/shmkit/shmkit/semaphore"
	"github.com/shmkit/shmkit/shm"
	"github.com/shmkit/shmkit/value"
)

func TestMain(m *testing.M) { testproc.Main(m, func() { shm.DefaultHeap().Close() }) }

var le = binary.LittleEndian

// rawHeader builds header bytes field by field, as the package doc draws
// them, followed by data bytes of elements.
func rawHeader(code byte, elemSize, flags uint32, lockOff, lockGen, n, seq uint64, data int) []byte {
	b := make([]byte, share.DataOffset+data)
	b[0] = code
	le.PutUint32(b[4:], elemSize)
	le.PutUint32(b[8:], flags)
	le.PutUint64(b[16:], lockOff)
	le.PutUint64(b[24:], lockGen)
	le.PutUint64(b[32:], n)
	le.PutUint64(b[40:], seq)
	return b
}

func TestHeaderEncodeDecode(t *testing.T) {
	for _, c := range []struct {
		name string
		b    []byte
		want share.Header
	}{
		{"raw float64 value", rawHeader('d', 8, 0, 0, 0, 1, 0, 8), share.Header{Code: 'd', ElemSize: 8, Len: 1}},
		{"locked int32 value", rawHeader('i', 4, 1, 4096, 3, 1, 0, 8), share.Header{}},
		{"locked struct array", rawHeader(0, 152, 1, 1<<20, 1<<40, 3, 0, 3*152), share.Header{}},
		{"raw empty array", rawHeader('b', 1, 0, 0, 0, 0, 0, 1), share.Header{Code: 'b', ElemSize: 1}},
		{"array filling its payload", rawHeader('H', 2, 0, 0, 0, 50, 0, 100), share.Header{Code: 'H', ElemSize: 2, Len: 50}},
		{"array of 0-byte elements", rawHeader(0, 0, 0, 0, 0, 0, 0, 0), share.Header{}},
	} {
		t.Run(c.name, func(t *testing.T) {
			h, err := share.Decode(c.b)
			if err != nil {
				t.Fatal(err)
			}
			if h.Code != ctypes.Code(c.b[0]) || h.ElemSize != le.Uint32(c.b[4:]) ||
				h.Locked != (c.b[8] == 1) || h.Len != le.Uint64(c.b[32:]) {
				t.Errorf("Decode: %+v", h)
			}
			if !h.Locked && h != c.want {
				t.Errorf("Decode: %+v, want %+v", h, c.want)
			}
			e := make([]byte, len(c.b))
			h.Encode(e)
			if !bytes.Equal(e, c.b) {
				t.Errorf("Encode of Decode:\n%x\nwant\n%x", e, c.b)
			}
			if h2, err := share.Decode(e); err != nil || h2 != h {
				t.Errorf("Decode of Encode: %+v %v, want %+v", h2, err, h)
			}
			if s := share.Seq(c.b); s != nil && *s != 0 {
				t.Errorf("sequence %d", *s)
			}
		})
	}
	// An unlocked header built here, byte by byte.
	b := make([]byte, share.DataOffset+24)
	share.Header{Code: 'q', ElemSize: 8, Len: 3}.Encode(b)
	if want := rawHeader('q', 8, 0, 0, 0, 3, 0, 24); !bytes.Equal(b, want) {
		t.Errorf("Encode:\n%x\nwant\n%x", b, want)
	}
	// The sequence word is the one at OffSeq, and Decode ignores it.
	b = rawHeader('d', 8, 0, 0, 0, 1, 0, 8)
	*share.Seq(b) = 0x0102030405060708
	if le.Uint64(b[share.OffSeq:]) != 0x0102030405060708 {
		t.Errorf("Seq is not the word at OffSeq: %x", b)
	}
	if _, err := share.Decode(b); err != nil {
		t.Errorf("Decode with a sequence: %v", err)
	}
}

// TestEncodeOverwrites: Encode writes the whole header ("writes h into
// the first 64 bytes of b"), whatever b held: a header encoded over
// another decodes as itself.
func TestEncodeOverwrites(t *testing.T) {
	old := rawHeader('i', 4, 1, 4096, 3, 1, 77, 8) // a locked value, written 77 times
	h := share.Header{Code: 'i', ElemSize: 4, Len: 1}
	h.Encode(old)
	got, err := share.Decode(old)
	if err != nil || got != h {
		t.Errorf("an unlocked header encoded over a locked one decodes as %+v, %v; want %+v", got, err, h)
	}
	if s := *share.Seq(old); s != 0 {
		t.Errorf("an encoded header has sequence %d, want 0 (\"the sequence stays 0\")", s)
	}
}

func TestDecodeRejects(t *testing.T) {
	valid := func() []byte { return rawHeader('i', 4, 1, 4096, 3, 2, 0, 8) }
	set := func(f func(b []byte)) []byte { b := valid(); f(b); return b }
	for _, c := range []struct {
		name string
		b    []byte
	}{
		{"nil", nil},
		{"63 bytes", valid()[:63]},
		{"reserved byte 1", set(func(b []byte) { b[1] = 1 })},
		{"reserved byte 3", set(func(b []byte) { b[3] = 0x80 })},
		{"reserved byte 12", set(func(b []byte) { b[12] = 1 })},
		{"reserved byte 15", set(func(b []byte) { b[15] = 1 })},
		{"reserved byte 48", set(func(b []byte) { b[48] = 1 })},
		{"reserved byte 63", set(func(b []byte) { b[63] = 1 })},
		{"unknown flag", set(func(b []byte) { b[8] = 5 })},
		{"shared lock flag without a lock", set(func(b []byte) { b[8] = 2; le.PutUint64(b[16:], 0); le.PutUint64(b[24:], 0) })},
		{"high flag", set(func(b []byte) { b[11] = 0x80 })},
		{"locked without a lock", set(func(b []byte) { le.PutUint64(b[16:], 0); le.PutUint64(b[24:], 0) })},
		{"locked without a lock offset", set(func(b []byte) { le.PutUint64(b[16:], 0) })},
		{"locked without a lock generation", set(func(b []byte) { le.PutUint64(b[24:], 0) })},
		{"unlocked with a lock", set(func(b []byte) { b[8] = 0 })},
		{"unlocked with a lock generation", rawHeader('i', 4, 0, 0, 3, 2, 0, 8)},
		{"unlocked with a lock offset", rawHeader('i', 4, 0, 4096, 0, 2, 0, 8)},
		{"invalid code", set(func(b []byte) { b[0] = 0x7f })},
		{"invalid code 0xff", set(func(b []byte) { b[0] = 0xff })},
		{"elements of 0 bytes", set(func(b []byte) { le.PutUint32(b[4:], 0) })},
		{"one element too many", set(func(b []byte) { le.PutUint64(b[32:], 3) })},
		{"elements too wide", set(func(b []byte) { le.PutUint32(b[4:], 5) })},
		{"element wider than the payload", set(func(b []byte) { le.PutUint32(b[4:], math.MaxUint32); le.PutUint64(b[32:], 1) })},
		{"length overflowing", set(func(b []byte) { le.PutUint64(b[32:], 1<<62+1) })},
		{"length 2^64-1", set(func(b []byte) { le.PutUint64(b[32:], math.MaxUint64) })},
	} {
		h, err := share.Decode(c.b)
		if !errors.Is(err, share.ErrHeader) {
			t.Errorf("%s: Decode: %+v, %v; want ErrHeader", c.name, h, err)
		}
	}
	if _, err := share.Decode(valid()); err != nil {
		t.Fatalf("the valid header: %v", err)
	}
}

// FuzzDecode: Decode never panics, fails only with ErrHeader, and a header
// it accepts has elements that fit in the payload, a valid (or no) code,
// and re-encodes to the same bytes in every field it reads (all but the
// sequence word).
func FuzzDecode(f *testing.F) {
	f.Add(rawHeader('d', 8, 0, 0, 0, 1, 0, 8))
	f.Add(rawHeader('i', 4, 1, 4096, 3, 1, 9, 8))
	f.Add(rawHeader(0, 152, 1, 1<<20, 1<<40, 3, 0, 3*152))
	f.Add(rawHeader('b', 1, 0, 0, 0, 7, 0, 7))
	f.Add(rawHeader(0, 0, 0, 0, 0, 0, 0, 0))
	f.Add(rawHeader('q', 8, 0, 0, 0, 1<<61, 0, 8))
	f.Add(bytes.Repeat([]byte{0xff}, 80))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		orig := bytes.Clone(b)
		h, err := share.Decode(b)
		if !bytes.Equal(b, orig) {
			t.Fatal("Decode changed its input")
		}
		if err != nil {
			if !errors.Is(err, share.ErrHeader) {
				t.Fatalf("Decode: %v, not ErrHeader", err)
			}
			return
		}
		if len(b) < share.DataOffset {
			t.Fatalf("accepted %d bytes", len(b))
		}
		if h.Code != 0 && !h.Code.Valid() {
			t.Fatalf("accepted code %#x", byte(h.Code))
		}
		hi, lo := bits.Mul64(h.Len, uint64(h.ElemSize))
		if hi != 0 || lo > uint64(len(b)-share.DataOffset) {
			t.Fatalf("accepted %d elements of %d bytes in %d bytes", h.Len, h.ElemSize, len(b))
		}
		e := make([]byte, len(b))
		h.Encode(e)
		if !bytes.Equal(e[:share.OffSeq], b[:share.OffSeq]) || !bytes.Equal(e[share.OffSeq+8:share.DataOffset], b[share.OffSeq+8:share.DataOffset]) {
			t.Fatalf("re-encoded differently:\n%x\n%x", e[:share.DataOffset], b[:share.DataOffset])
		}
		if !bytes.Equal(e[share.OffSeq:share.OffSeq+8], make([]byte, 8)) || !bytes.Equal(e[share.DataOffset:], make([]byte, len(e)-share.DataOffset)) {
			t.Fatalf("Encode wrote beyond the fields of the header: %x", e)
		}
		if h2, err := share.Decode(e); err != nil || h2 != h {
			t.Fatalf("Decode of the re-encoding: %+v %v, want %+v", h2, err, h)
		}
	})
}

// ---- corrupted live headers ----

// corruptWide is a Value wider than a word (double-buffered).
type corruptWide struct {
	A [5]uint64
	B int16
}

// The objects a corruption test makes in its segment.
const (
	objInt    = iota // locked Value[int64]
	objRaw           // raw Value[[3]int32]
	objWide          // locked Value[corruptWide]
	objArr           // locked array.Array[int32] of 5
	objRawArr        // raw array.Array[[3]uint16] of 4
	numObjs
)

var objNames = [numObjs]string{"vi", "vr", "vw", "a", "ar"}

// makeObjects places the corruption tests' objects in seg.
func makeObjects(seg *shm.Segment) error {
	var err error
	add := func(e error) {
		if err == nil {
			err = e
		}
	}
	in := func(i int) shm.Option { return shm.In(seg, objNames[i]) }
	add(mpErr(value.New[int64](-42, in(objInt))))
	add(mpErr(value.NewRaw([3]int32{1, 2, 3}, in(objRaw))))
	add(mpErr(value.New(corruptWide{A: [5]uint64{1, 2, 3, 4, 5}, B: -6}, in(objWide))))
	add(mpErr(array.From([]int32{10, 11, 12, 13, 14}, in(objArr))))
	add(mpErr(array.NewRaw[[3]uint16](4, in(objRawArr))))
	return err
}

// mpErr is the error of a call returning a value and an error.
func mpErr[T any](_ T, err error) error { return err }

// specOf is the kind and layout fingerprint of object i.
func specOf(i int) shm.Spec {
	var l ctypes.Layout
	var err error
	k := shm.KindValue
	switch i {
	case objInt:
		l, err = ctypes.LayoutOf[int64]()
	case objRaw:
		l, err = ctypes.LayoutOf[[3]int32]()
	case objWide:
		l, err = ctypes.LayoutOf[corruptWide]()
	case objArr:
		l, err = ctypes.LayoutOf[int32]()
		k = shm.KindArray
	default:
		l, err = ctypes.LayoutOf[[3]uint16]()
		k = shm.KindArray
	}
	if err != nil {
		panic(err)
	}
	return shm.Spec{Kind: k, Fingerprint: l.Fingerprint}
}

// headerOf is the payload (header first) of object i.
func headerOf(seg *shm.Segment, i int) (*shm.Object, error) {
	return seg.Find(context.Background(), objNames[i], specOf(i))
}

// taken reports whether a TryLock that returned err took the lock.
func taken(err error) bool { return err == nil || errors.Is(err, semaphore.ErrOwnerDead) }

// openAndUse opens object i as its type and, if that succeeds, uses it
// without blocking: it must not panic whatever the header says. It
// returns Open's error.
func openAndUse(seg *shm.Segment, i int) error {
	try := func(mu *semaphore.Mutex) {
		if mu == nil {
			return
		}
		if taken(mu.TryLock()) {
			mu.Unlock()
		}
	}
	switch i {
	case objInt:
		v, err := value.Open[int64](context.Background(), seg, objNames[i])
		if err != nil {
			return err
		}
		v.Store(v.Load())
		v.Add(0)
		try(v.Mutex())
	case objRaw:
		v, err := value.Open[[3]int32](context.Background(), seg, objNames[i])
		if err != nil {
			return err
		}
		v.Store(v.Load())
		v.Update(func(*[3]int32) {})
		try(v.Mutex())
	case objWide:
		v, err := value.Open[corruptWide](context.Background(), seg, objNames[i])
		if err != nil {
			return err
		}
		if mu := v.Mutex(); mu != nil {
			if taken(mu.TryLock()) {
				mu.Unlock()
				v.Store(v.Load()) // takes the lock, which is free
			}
		}
		v.Load()
	case objArr:
		a, err := array.Open[int32](context.Background(), seg, objNames[i])
		if err != nil {
			return err
		}
		for j := range a.Len() {
			a.Set(j, a.At(j))
		}
		_ = a.Slice()
		if mu := a.Mutex(); mu != nil {
			if taken(mu.TryLock()) {
				mu.Unlock()
				a.Copy()
			}
		}
	default:
		a, err := array.Open[[3]uint16](context.Background(), seg, objNames[i])
		if err != nil {
			return err
		}
		a.Copy()
		for j := range a.Len() {
			a.Set(j, a.At(j))
		}
		a.Update(func([][3]uint16) {})
		try(a.Mutex())
	}
	return nil
}

// TestCorruptHeader corrupts one field of a live object's header at a
// time: Open fails, with the error the field calls for; put back, the
// header opens again.
func TestCorruptHeader(t *testing.T) {
	seg, err := shm.Create(testproc.ShmName(t), 1<<20, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer seg.Close()
	if err := makeObjects(seg); err != nil {
		t.Fatal(err)
	}
	selfOff := func(i int) uint64 {
		o, err := headerOf(seg, i)
		if err != nil {
			t.Fatal(err)
		}
		return o.Handle().Offset
	}
	put32 := func(off int, x uint32) func([]byte) { return func(b []byte) { le.PutUint32(b[off:], x) } }
	put64 := func(off int, x uint64) func([]byte) { return func(b []byte) { le.PutUint64(b[off:], x) } }
	add64 := func(off int, d uint64) func([]byte) {
		return func(b []byte) { le.PutUint64(b[off:], le.Uint64(b[off:])+d) }
	}
	anyErr := error(nil) // any error will do
	for _, c := range []struct {
		name    string
		objs    []int
		corrupt func([]byte)
		want    error
	}{
		{"code of another type of the same size", []int{objInt}, func(b []byte) { b[0] = 'd' }, shm.ErrLayout},
		{"code of a scalar on a struct", []int{objWide, objRaw, objRawArr}, func(b []byte) { b[0] = 'b' }, shm.ErrLayout},
		{"invalid code", []int{objInt, objArr, objWide}, func(b []byte) { b[0] = 0x7f }, share.ErrHeader},
		{"reserved byte 2", []int{objInt, objRaw, objWide, objArr, objRawArr}, func(b []byte) { b[2] = 1 }, share.ErrHeader},
		{"reserved byte 14", []int{objInt, objRaw, objWide, objArr, objRawArr}, func(b []byte) { b[14] = 0x40 }, share.ErrHeader},
		{"reserved byte 55", []int{objInt, objRaw, objWide, objArr, objRawArr}, func(b []byte) { b[55] = 0xff }, share.ErrHeader},
		{"element size", []int{objInt, objRaw, objWide, objArr, objRawArr}, put32(4, 2), shm.ErrLayout},
		{"element size 0", []int{objInt, objRaw, objWide, objArr, objRawArr}, put32(4, 0), share.ErrHeader},
		{"huge element size", []int{objInt, objRaw, objWide, objArr, objRawArr}, put32(4, math.MaxUint32), share.ErrHeader},
		{"unknown flag", []int{objInt, objRaw, objWide, objArr, objRawArr}, func(b []byte) { b[8] |= 4 }, share.ErrHeader},
		{"lock flag cleared", []int{objInt, objWide, objArr}, put32(8, 0), share.ErrHeader},
		{"lock flag set on a raw object", []int{objRaw, objRawArr}, put32(8, 1), share.ErrHeader},
		{"lock offset 0", []int{objInt, objWide, objArr}, put64(16, 0), share.ErrHeader},
		{"lock offset +8", []int{objInt, objWide, objArr}, add64(16, 8), anyErr},
		{"lock offset -64", []int{objInt, objWide, objArr}, add64(16, math.MaxUint64-63), anyErr},
		{"lock offset beyond the segment", []int{objInt, objWide, objArr}, put64(16, 1<<40), anyErr},
		{"lock offset 2^64-1", []int{objInt, objWide, objArr}, put64(16, math.MaxUint64), anyErr},
		{"lock generation +1", []int{objInt, objWide, objArr}, add64(24, 1), shm.ErrStale},
		{"lock generation 0", []int{objInt, objWide, objArr}, put64(24, 0), share.ErrHeader},
		{"length 0 of a value", []int{objInt, objRaw, objWide}, put64(32, 0), share.ErrHeader},
		{"length 2 of a value", []int{objInt, objRaw, objWide}, put64(32, 2), share.ErrHeader},
		{"length 2^40+1", []int{objInt, objRaw, objWide, objArr, objRawArr}, put64(32, 1<<40+1), share.ErrHeader},
		{"length 2^63", []int{objInt, objRaw, objWide, objArr, objRawArr}, put64(32, 1<<63), share.ErrHeader},
		{"length 2^64-1", []int{objInt, objRaw, objWide, objArr, objRawArr}, put64(32, math.MaxUint64), share.ErrHeader},
		{"length past the payload", []int{objArr, objRawArr}, put64(32, 1000), share.ErrHeader},
	} {
		for _, i := range c.objs {
			o, err := headerOf(seg, i)
			if err != nil {
				t.Fatal(err)
			}
			b := o.Bytes()[:share.DataOffset]
			saved := bytes.Clone(b)
			c.corrupt(b)
			err = openAndUse(seg, i)
			copy(b, saved)
			switch {
			case err == nil:
				t.Errorf("%s: %s opened", objNames[i], c.name)
			case c.want != nil && !errors.Is(err, c.want):
				t.Errorf("%s: %s: Open: %v, want %v", objNames[i], c.name, err, c.want)
			}
			if err := openAndUse(seg, i); err != nil {
				t.Fatalf("%s: after %s put back: %v", objNames[i], c.name, err)
			}
		}
	}
	// A lock offset naming the object itself, or another object: not a
	// mutex.
	for _, i := range []int{objInt, objWide, objArr} {
		for _, to := range []int{i, objRaw} {
			o, err := headerOf(seg, i)
			if err != nil {
				t.Fatal(err)
			}
			b := o.Bytes()[:share.DataOffset]
			saved := bytes.Clone(b)
			le.PutUint64(b[16:], selfOff(to))
			err = openAndUse(seg, i)
			copy(b, saved)
			if err == nil {
				t.Errorf("%s: lock offset naming %s: opened", objNames[i], objNames[to])
			}
		}
	}
}

// FuzzCorruptHeader XORs bytes into the header of one of a fresh
// segment's objects, reads its metrics and opens it: the metrics reader
// and Open fail, or give metrics and an object that works, and nothing
// panics.
func FuzzCorruptHeader(f *testing.F) {
	f.Add(uint8(objInt), uint8(0), []byte{'d' ^ 'q'})
	f.Add(uint8(objArr), uint8(32), []byte{1})
	f.Add(uint8(objArr), uint8(32), []byte{0xff, 0xff})
	f.Add(uint8(objWide), uint8(8), []byte{1})
	f.Add(uint8(objRawArr), uint8(8), []byte{1})
	f.Add(uint8(objInt), uint8(16), []byte{8})
	f.Add(uint8(objInt), uint8(16), []byte{0, 0x10, 0, 0, 0, 0, 0, 0, 1})
	f.Add(uint8(objWide), uint8(40), []byte{1})
	f.Add(uint8(objRaw), uint8(4), []byte{0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0x40})
	f.Fuzz(func(t *testing.T, which, off uint8, x []byte) {
		seg, err := shm.Anonymous(64 << 10)
		if err != nil {
			t.Fatal(err)
		}
		defer seg.Close()
		if err := makeObjects(seg); err != nil {
			t.Fatal(err)
		}
		i := int(which) % numObjs
		o, err := headerOf(seg, i)
		if err != nil {
			t.Fatal(err)
		}
		b := o.Bytes()[:share.DataOffset]
		for k, c := range x {
			b[(int(off)+k)%share.DataOffset] ^= c
		}
		if _, err := shm.Metrics(o); err != nil && !errors.Is(err, share.ErrHeader) && !isShmError(err) {
			t.Errorf("metrics of a corrupted %s: %v: neither ErrHeader nor an shm error", objNames[i], err)
		}
		err = openAndUse(seg, i)
		if err != nil && !errors.Is(err, share.ErrHeader) && !isShmError(err) {
			t.Errorf("Open of a corrupted %s: %v: neither ErrHeader nor an shm error", objNames[i], err)
		}
	})
}

// isShmError reports whether err is one of package shm's errors.
func isShmError(err error) bool {
	for _, e := range []error{shm.ErrLayout, shm.ErrKind, shm.ErrStale, shm.ErrBadHandle, shm.ErrCorrupt,
		shm.ErrNotExist, shm.ErrBadHeader} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

//go:build linux && (amd64 || arm64)

package value

// Multi-process tests of Value (and of array.Array beside it for Python's
// own example): children started through testproc open the test's segment
// (the first field of their argument names it) and the objects in it by
// name, or attach to them through handles. Every wait is bounded by
// mpTimeout or a testproc timeout, so that a bug fails a test and never
// hangs it; nothing here checks how long anything takes (the times are
// logged). The kill test repeats its scenario mpKillRounds times, one child
// per round, with a logged random seed (VALUE_KILL_SEED repeats it).

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"math/rand/v2"
	"os"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/shmkit/shmkit/array"
	"github.com/shmkit/shmkit/internal/shmtest"
	"github.com/shmkit/shmkit/internal/testproc"
	"github.com/shmkit/shmkit/semaphore"
	"github.com/shmkit/shmkit/shm"
)

const (
	// mpTimeout bounds every wait: far beyond any real one.
	mpTimeout = 60 * time.Second
	// mpChildTimeout is every child's testproc timeout.
	mpChildTimeout = 3 * time.Minute
	// mpReadLimit bounds the tight loops of the wide readers: well past
	// any run of the writers, well within the children's timeout.
	mpReadLimit = 150 * time.Second
	// mpKillRounds is how many children the kill test kills.
	mpKillRounds = 100
)

// ---- Python's example ----

// mpChildPython is the function of Python's multiprocessing example:
// n.value = 3.1415927 and a[i] = -a[i]. Its argument is "name SEG" (open
// the objects "num" and "arr" by name), or "handle VALUE ARRAY" (hex
// handles, resolved in the segment named in them or, when the parent's
// default heap holds them, in the files the parent passed).
var mpChildPython = testproc.Register("value-python", func(c *testproc.Child) error {
	f := strings.Fields(c.Arg())
	if len(f) < 2 {
		return fmt.Errorf("argument %q", c.Arg())
	}
	num := &Value[float64]{}
	arr := &array.Array[int32]{}
	switch f[0] {
	case "name":
		seg, err := shm.Open(context.Background(), f[1], nil)
		if err != nil {
			return err
		}
		defer seg.Close()
		if num, err = Open[float64](context.Background(), seg, "num"); err != nil {
			return err
		}
		if arr, err = array.Open[int32](context.Background(), seg, "arr"); err != nil {
			return err
		}
	case "handle":
		for i := range c.NumFiles() { // the parent's default heap
			seg, err := shm.FromFile(c.File(i))
			if err != nil {
				return err
			}
			defer seg.Close()
		}
		hv, err := hex.DecodeString(f[1])
		if err != nil {
			return err
		}
		ha, err := hex.DecodeString(f[2])
		if err != nil {
			return err
		}
		if err := num.UnmarshalBinary(hv); err != nil {
			return err
		}
		if err := arr.UnmarshalBinary(ha); err != nil {
			return err
		}
	default:
		return fmt.Errorf("argument %q", c.Arg())
	}
	if err := num.Store(3.1415927); err != nil {
		return err
	}
	if f[0] == "name" { // element by element, as Python's a[i] = -a[i]
		for i := range arr.Len() {
			arr.Set(i, -arr.At(i))
		}
		return nil
	}
	return arr.Update(func(s []int32) {
		for i := range s {
			s[i] = -s[i]
		}
	})
})

// TestPythonExample is the example of Python's multiprocessing
// documentation: a child stores 3.1415927 in a Value('d', 0.0) and
// negates every element of an Array('i', range(10)); the parent then sees
// both. The child finds them by name in a named segment, through handles
// of unnamed objects in it, or through handles of objects in the default
// heap (whose anonymous segments the child gets as files).
func TestPythonExample(t *testing.T) {
	for _, mode := range []string{"name", "handle", "heap"} {
		t.Run(mode, func(t *testing.T) {
			var opts func(name string) []shm.Option
			switch mode {
			case "name":
				seg := testSeg(t)
				opts = func(name string) []shm.Option { return []shm.Option{shm.In(seg, name)} }
			case "handle":
				seg := testSeg(t)
				opts = func(string) []shm.Option { return []shm.Option{shm.In(seg, "")} }
			default:
				opts = func(string) []shm.Option { return nil }
			}
			num, err := New(0.0, opts("num")...)
			if err != nil {
				t.Fatal(err)
			}
			arr, err := array.From([]int32{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}, opts("arr")...)
			if err != nil {
				t.Fatal(err)
			}
			var p *testproc.Proc
			if mode == "name" {
				p = shmtest.Start(t, mpChildTimeout, mpChildPython, "name", num.Handle().Name)
			} else {
				hv, err := num.MarshalBinary()
				if err != nil {
					t.Fatal(err)
				}
				ha, err := arr.MarshalBinary()
				if err != nil {
					t.Fatal(err)
				}
				var files []*os.File
				if mode == "heap" {
					for _, s := range shm.DefaultHeap().Segments() {
						files = append(files, s.File())
					}
				}
				p = testproc.Start(t, mpChildPython, testproc.Arg("handle "+hex.EncodeToString(hv)+" "+hex.EncodeToString(ha)),
					testproc.Files(files...), testproc.Timeout(mpChildTimeout))
			}
			p.Succeed()
			if got := num.Load(); got != 3.1415927 {
				t.Errorf("num = %v, want 3.1415927", got)
			}
			got, err := arr.Copy()
			if err != nil {
				t.Fatal(err)
			}
			want := []int32{0, -1, -2, -3, -4, -5, -6, -7, -8, -9}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("arr = %v, want %v", got, want)
			}
		})
	}
}

// ---- counting from two processes ----

type mpNumber interface {
	~int8 | ~uint16 | ~int32 | ~int64 | ~float32 | ~float64
}

// mpAddLoop adds 1 n times to the Value[T] called name, through Update
// or Add.
func mpAddLoop[T mpNumber](seg *shm.Segment, c *testproc.Child, op, name string, n int) error {
	v, err := Open[T](context.Background(), seg, name)
	if err != nil {
		return err
	}
	defer v.Close()
	c.Point("ready")
	for i := range n {
		switch op {
		case "update":
			if err := v.Update(func(x *T) { *x++ }); err != nil {
				return fmt.Errorf("update %d: %w", i, err)
			}
		case "add":
			v.Add(1)
		default:
			return fmt.Errorf("unknown op %q", op)
		}
	}
	return nil
}

// mpChildAdd adds 1 to a number n times: "SEG OP TYPE NAME N".
var mpChildAdd = testproc.Register("value-add", func(c *testproc.Child) error {
	seg, f, ns, err := shmtest.OpenInts(c, 3)
	if err != nil {
		return err
	}
	defer seg.Close()
	n := ns[0]
	op, typ, name := f[0], f[1], f[2]
	switch typ {
	case "int8":
		return mpAddLoop[int8](seg, c, op, name, n)
	case "uint16":
		return mpAddLoop[uint16](seg, c, op, name, n)
	case "int32":
		return mpAddLoop[int32](seg, c, op, name, n)
	case "int64":
		return mpAddLoop[int64](seg, c, op, name, n)
	case "float32":
		return mpAddLoop[float32](seg, c, op, name, n)
	case "float64":
		return mpAddLoop[float64](seg, c, op, name, n)
	}
	return fmt.Errorf("unknown type %q", typ)
})

// mpAddTest runs two children adding 1 n times each to one Value[T], the
// first through ops[0], the second through ops[1], and checks the total.
func mpAddTest[T mpNumber](t *testing.T, ops [2]string, n int) {
	seg := testSeg(t)
	v, err := New[T](0, shm.In(seg, "n"))
	if err != nil {
		t.Fatal(err)
	}
	typ := reflect.TypeFor[T]().String()
	var ps [2]*testproc.Proc
	for i, op := range ops {
		ps[i] = shmtest.Start(t, mpChildTimeout, mpChildAdd, seg.Name(), op, typ, "n", strconv.Itoa(n))
	}
	for _, p := range ps {
		p.WaitPoint("ready")
	}
	start := time.Now()
	for _, p := range ps {
		p.Continue()
	}
	for _, p := range ps {
		p.Succeed()
	}
	t.Logf("2 processes x %d %s/%s of a %s: %v", n, ops[0], ops[1], typ, time.Since(start).Round(time.Millisecond))
	total := 2 * n
	want := T(total) // wraps around as the additions do for small integers
	if got := v.Load(); got != want {
		t.Errorf("after 2 x %d additions of 1: %v, want %v", n, got, want)
	}
}

// TestTwoProcessesAdd: two processes each add 1 a million times to one
// number, through Update (under the lock), through the lock-free Add, and
// one through each at once (Update's compare-and-swap must notice the
// Adds); the total is exact. Smaller types wrap around.
func TestTwoProcessesAdd(t *testing.T) {
	const million = 1_000_000
	t.Run("update/int64", func(t *testing.T) { mpAddTest[int64](t, [2]string{"update", "update"}, million) })
	t.Run("add/int64", func(t *testing.T) { mpAddTest[int64](t, [2]string{"add", "add"}, million) })
	t.Run("update+add/int64", func(t *testing.T) { mpAddTest[int64](t, [2]string{"update", "add"}, million) })
	t.Run("add/int32", func(t *testing.T) { mpAddTest[int32](t, [2]string{"add", "add"}, million) })
	t.Run("add/float64", func(t *testing.T) { mpAddTest[float64](t, [2]string{"add", "add"}, million) })
	t.Run("update+add/float32", func(t *testing.T) { mpAddTest[float32](t, [2]string{"update", "add"}, 100_000) })
	t.Run("add/uint16", func(t *testing.T) { mpAddTest[uint16](t, [2]string{"add", "add"}, 100_000) })
	t.Run("update+add/int8", func(t *testing.T) { mpAddTest[int8](t, [2]string{"update", "add"}, 100_000) })
}

// ---- wide values are never torn ----

// mpWide is a 152-byte value whose every field derives from Seq: half of
// one write and half of another fails check.
type mpWide struct {
	Seq  uint64
	A    [12]uint64
	B    [8]uint32
	Tail [5]byte
	Sum  uint64
}

func mpWideOf(s uint64) mpWide {
	w := mpWide{Seq: s, Sum: ^s}
	for i := range w.A {
		w.A[i] = s*uint64(i+1) ^ 0x9e3779b97f4a7c15
	}
	for i := range w.B {
		w.B[i] = uint32(s) + uint32(i)
	}
	for i := range w.Tail {
		w.Tail[i] = byte(s) ^ byte(i)
	}
	return w
}

func (w mpWide) check() error {
	if w != mpWideOf(w.Seq) {
		return fmt.Errorf("torn value: %+v is not the value of sequence %d, %+v", w, w.Seq, mpWideOf(w.Seq))
	}
	return nil
}

// mpOpenWide opens, in a child, the segment its argument names and the
// Values "w" and "done" in it; it returns them with the other fields and
// field i as a number.
func mpOpenWide(c *testproc.Child, i int) (*shm.Segment, []string, int, *Value[mpWide], *Value[int32], error) {
	seg, f, ns, err := shmtest.OpenInts(c, i)
	if err != nil {
		return nil, nil, 0, nil, nil, err
	}
	v, err := Open[mpWide](context.Background(), seg, "w")
	var done *Value[int32]
	if err == nil {
		done, err = Open[int32](context.Background(), seg, "done")
	}
	if err != nil {
		seg.Close()
		return nil, nil, 0, nil, nil, err
	}
	return seg, f, ns[0], v, done, nil
}

// mpChildWideWriter writes the Value[mpWide] "w" N times, "SEG MODE N":
// Store of the next sequence (a single writer), or Update to the next one.
// It adds 1 to the Value[int32] "done" when it stops.
var mpChildWideWriter = testproc.Register("value-wide-writer", func(c *testproc.Child) error {
	seg, f, n, v, done, err := mpOpenWide(c, 1)
	if err != nil {
		return err
	}
	defer seg.Close()
	defer done.Add(1)
	c.Point("ready")
	for i := range n {
		switch f[0] {
		case "store":
			if err := v.Store(mpWideOf(uint64(i + 1))); err != nil {
				return err
			}
		case "update":
			var bad error
			err := v.Update(func(x *mpWide) {
				if bad == nil {
					bad = x.check()
				}
				*x = mpWideOf(x.Seq + 1)
			})
			if err != nil {
				return err
			}
			if bad != nil {
				return fmt.Errorf("update %d saw a %w", i, bad)
			}
		default:
			return fmt.Errorf("unknown mode %q", f[0])
		}
	}
	return nil
})

// mpWideRead loads v in a tight loop until done reaches writers, checking
// every value and that the sequence never goes back. It returns how many
// loads it made and how many sequences it saw.
func mpWideRead(v *Value[mpWide], done *Value[int32], writers int32) (loads, seen int, err error) {
	deadline := time.Now().Add(mpReadLimit)
	last := uint64(0)
	for {
		finished := done.Load() >= writers // before the last load
		x := v.Load()
		loads++
		if err := x.check(); err != nil {
			return loads, seen, fmt.Errorf("load %d: %w", loads, err)
		}
		if x.Seq < last {
			return loads, seen, fmt.Errorf("load %d: sequence %d after %d", loads, x.Seq, last)
		}
		if x.Seq != last {
			seen++
			last = x.Seq
		}
		if finished {
			return loads, seen, nil
		}
		if loads%4096 == 0 && time.Now().After(deadline) {
			return loads, seen, fmt.Errorf("writers not done after %v", mpReadLimit)
		}
	}
}

// mpChildWideReader loads "w" until "done" reaches WRITERS: "SEG WRITERS".
var mpChildWideReader = testproc.Register("value-wide-reader", func(c *testproc.Child) error {
	seg, _, writers, v, done, err := mpOpenWide(c, 0)
	if err != nil {
		return err
	}
	defer seg.Close()
	c.Point("ready")
	loads, seen, err := mpWideRead(v, done, int32(writers))
	fmt.Printf("child reader: %d loads, %d sequences\n", loads, seen)
	return err
})

// TestWideNoTornReads: writers (children) rewrite a 152-byte Value while a
// child and this process Load it in a tight loop: every value loaded is
// one that was written whole, and the sequence never goes back. Locked
// values are written with Store by one writer or with Update by two; a raw
// value with Store by its single writer.
func TestWideNoTornReads(t *testing.T) {
	for _, tc := range []struct {
		name    string
		raw     bool
		mode    string
		writers int
		n       int
	}{
		{"locked/store", false, "store", 1, 200_000},
		{"locked/update", false, "update", 2, 100_000},
		{"raw/store", true, "store", 1, 200_000},
	} {
		t.Run(tc.name, func(t *testing.T) {
			seg := testSeg(t)
			mk := New[mpWide]
			if tc.raw {
				mk = NewRaw[mpWide]
			}
			v, err := mk(mpWideOf(0), shm.In(seg, "w"))
			if err != nil {
				t.Fatal(err)
			}
			done, err := NewRaw[int32](0, shm.In(seg, "done"))
			if err != nil {
				t.Fatal(err)
			}
			var ps []*testproc.Proc
			for range tc.writers {
				ps = append(ps, shmtest.Start(t, mpChildTimeout, mpChildWideWriter, seg.Name(), tc.mode, strconv.Itoa(tc.n)))
			}
			reader := shmtest.Start(t, mpChildTimeout, mpChildWideReader, seg.Name(), strconv.Itoa(tc.writers))
			ps = append(ps, reader)
			for _, p := range ps {
				p.WaitPoint("ready")
			}
			start := time.Now()
			for _, p := range ps {
				p.Continue()
			}
			loads, seen, err := mpWideRead(v, done, int32(tc.writers))
			if err != nil {
				t.Error(err)
			}
			for _, p := range ps {
				if res := p.Succeed(); p == reader {
					t.Logf("%s", strings.TrimSpace(res.Output))
				}
			}
			t.Logf("%d writers x %d: %v; this process: %d loads, %d sequences",
				tc.writers, tc.n, time.Since(start).Round(time.Millisecond), loads, seen)
			want := uint64(tc.writers * tc.n)
			if got := v.Load(); got != mpWideOf(want) {
				t.Errorf("final value has sequence %d, want %d (or is torn: %v)", got.Seq, want, got.check())
			}
		})
	}
}

// ---- nested arrays and byte strings ----

// mpRecord has nested arrays and a fixed-size byte string; its ctypes
// equivalent is a Structure of c_int32, c_double*3, c_char*16 and
// (c_int16*4)*2.
type mpRecord = shmtest.Record

func mpRecordOf(i int) mpRecord {
	pos := [3]float64{float64(i) + 0.5, -float64(i), math.Inf(-1)}
	return shmtest.NewRecord(int32(1000+i), pos, fmt.Sprintf("record-%d", i),
		func(a, b int) int16 { return int16(i*100 + a*10 + b - 500) })
}

// mpCheckRecord compares r with mpRecordOf(i) field by field.
func mpCheckRecord(t testing.TB, what string, r mpRecord, i int) {
	t.Helper()
	shmtest.CheckRecord(t, what, r, mpRecordOf(i))
}

// mpChildRecord writes the Value[mpRecord] "rec" (Store of record 7, then
// Update of its Tag and one Grid cell to those of record 8), and the
// elements of the array.Array[mpRecord] "recs" (Set, Update, Slice).
var mpChildRecord = testproc.Register("value-record", func(c *testproc.Child) error {
	seg, v, _, err := shmtest.OpenObject(c, "rec", Open[mpRecord])
	if err != nil {
		return err
	}
	defer seg.Close()
	if err := v.Store(mpRecordOf(7)); err != nil {
		return err
	}
	err = v.Update(func(r *mpRecord) {
		w := mpRecordOf(8)
		r.ID, r.Pos, r.Tag = w.ID, w.Pos, w.Tag
		r.Grid[0] = w.Grid[0]
		for b := range r.Grid[1] {
			r.Grid[1][b] = w.Grid[1][b]
		}
	})
	if err != nil {
		return err
	}
	a, err := array.Open[mpRecord](context.Background(), seg, "recs")
	if err != nil {
		return err
	}
	a.Set(0, mpRecordOf(0))
	if err := a.Update(func(s []mpRecord) { s[1] = mpRecordOf(1) }); err != nil {
		return err
	}
	s := a.Slice()
	w := mpRecordOf(2)
	s[2].ID = w.ID
	s[2].Pos[0], s[2].Pos[1], s[2].Pos[2] = w.Pos[0], w.Pos[1], w.Pos[2]
	copy(s[2].Tag[:], w.Tag[:])
	s[2].Grid = w.Grid
	return nil
})

// TestNestedRecord: a struct of nested arrays and a byte string, as a
// Value and as Array elements, written by a child and read back here
// field by field.
func TestNestedRecord(t *testing.T) {
	seg := testSeg(t)
	v, err := New(mpRecord{}, shm.In(seg, "rec"))
	if err != nil {
		t.Fatal(err)
	}
	a, err := array.New[mpRecord](3, shm.In(seg, "recs"))
	if err != nil {
		t.Fatal(err)
	}
	if v.Code() != 0 || a.Code() != 0 {
		t.Errorf("codes %v %v of a struct, want 0", v.Code(), a.Code())
	}
	shmtest.Start(t, mpChildTimeout, mpChildRecord, seg.Name()).Succeed()
	mpCheckRecord(t, "value", v.Load(), 8)
	got, err := a.Copy()
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range got {
		mpCheckRecord(t, fmt.Sprintf("array[%d]", i), r, i)
		mpCheckRecord(t, fmt.Sprintf("array.At(%d)", i), a.At(i), i)
	}
}

// ---- killed inside Update ----

// mpChildKill updates the Value[int64] "vi" or the Value[mpWide] "vw":
// "SEG int|wide point NAME" stops inside the function given to Update at
// point NAME (f-start, f-half or f-end) to be killed there; "SEG int|wide
// loop" updates without end after point "loop", to be killed anywhere.
var mpChildKill = testproc.Register("value-kill", func(c *testproc.Child) error {
	seg, f, err := shmtest.OpenArgs(c)
	if err != nil {
		return err
	}
	defer seg.Close()
	if len(f) < 2 {
		return fmt.Errorf("argument %q", c.Arg())
	}
	point := func(string) {}
	if f[1] == "point" {
		point = func(name string) {
			if name == f[2] {
				c.Point(name)
			}
		}
	}
	var update func() error
	switch f[0] {
	case "int":
		v, err := Open[int64](context.Background(), seg, "vi")
		if err != nil {
			return err
		}
		update = func() error {
			return v.Update(func(x *int64) {
				point("f-start")
				*x++
				point("f-end")
			})
		}
	case "wide":
		v, err := Open[mpWide](context.Background(), seg, "vw")
		if err != nil {
			return err
		}
		update = func() error {
			return v.Update(func(x *mpWide) {
				point("f-start")
				n := mpWideOf(x.Seq + 1)
				x.Seq, x.A = n.Seq, n.A
				point("f-half")
				x.B, x.Tail, x.Sum = n.B, n.Tail, n.Sum
				point("f-end")
			})
		}
	default:
		return fmt.Errorf("argument %q", c.Arg())
	}
	c.Point("ready")
	if f[1] == "point" {
		if err := update(); err != nil {
			return err
		}
		return fmt.Errorf("not killed at %q", f[2])
	}
	return shmtest.UpdateUntilKilled(c, mpTimeout, update)
})

// mpKillRand is a random source whose seed the test logs.
func mpKillRand(t testing.TB) *rand.Rand { return shmtest.KillRand(t, "VALUE_KILL_SEED", 0x7a1e) }

// TestKillInsideUpdate kills children inside Update, at a point inside the
// function given to it or after a random delay in a loop of Updates, of an
// int64 and of a wide Value. The next Lock here gets ErrOwnerDead when the
// child died holding the lock (always, at a point); the value is the old
// one (at a point) or a whole one (in the loop); and the lock then works
// as usual. Now and then this process takes the lock through Update
// instead, which reports nothing and applies its function to the old
// value.
func TestKillInsideUpdate(t *testing.T) {
	seg := testSeg(t)
	vi, err := New[int64](0, shm.In(seg, "vi"))
	if err != nil {
		t.Fatal(err)
	}
	vw, err := New(mpWideOf(0), shm.In(seg, "vw"))
	if err != nil {
		t.Fatal(err)
	}
	rng := mpKillRand(t)
	type round struct {
		which string // int or wide
		point string // "" in the loop
	}
	// Each round's child is started two rounds ahead: start-ups overlap.
	ahead := shmtest.NewAhead(3, func() (round, *testproc.Proc) {
		r := round{which: "int"}
		if rng.IntN(2) == 0 {
			r.which = "wide"
		}
		points := []string{"f-start", "f-end"}
		if r.which == "wide" {
			points = append(points, "f-half")
		}
		if rng.IntN(4) > 0 {
			r.point = points[rng.IntN(len(points))]
			return r, shmtest.Start(t, mpChildTimeout, mpChildKill, seg.Name(), r.which, "point", r.point)
		}
		return r, shmtest.Start(t, mpChildTimeout, mpChildKill, seg.Name(), r.which, "loop")
	})
	start := time.Now()
	var deadAtPoint, deadInLoop, freeInLoop int
	for i := range mpKillRounds {
		r, p := ahead.Next()
		oldI, oldW := vi.Load(), vw.Load()
		shmtest.KillRound(t, i, p, r.point, rng)
		var (
			lock   func() error
			unlock func()
			mu     *semaphore.Mutex
		)
		if r.which == "int" {
			lock, unlock, mu = vi.Lock, vi.Unlock, vi.Mutex()
		} else {
			lock, unlock, mu = vw.Lock, vw.Unlock, vw.Mutex()
		}
		if r.point != "" && rng.IntN(5) == 0 {
			// Update takes the lock from the dead child and says nothing.
			var err error
			if r.which == "int" {
				err = shmtest.Within(t, mpTimeout, "Update", func() error { return vi.Update(func(x *int64) { *x++ }) })
				if got := vi.Load(); got != oldI+1 {
					t.Fatalf("round %d: killed at %s, then Update: %d, want %d", i, r.point, got, oldI+1)
				}
			} else {
				err = shmtest.Within(t, mpTimeout, "Update", func() error { return vw.Update(func(x *mpWide) { *x = mpWideOf(x.Seq + 1) }) })
				if got := vw.Load(); got != mpWideOf(oldW.Seq+1) {
					t.Fatalf("round %d: killed at %s, then Update: %+v, want sequence %d", i, r.point, got, oldW.Seq+1)
				}
			}
			if err != nil {
				t.Fatalf("round %d: Update after the holder was killed at %s: %v", i, r.point, err)
			}
			deadAtPoint++
			continue
		}
		err := shmtest.Within(t, mpTimeout, "Lock", lock)
		switch {
		case errors.Is(err, semaphore.ErrOwnerDead):
			if !strings.Contains(err.Error(), strconv.Itoa(p.Pid())) {
				t.Logf("round %d: ErrOwnerDead does not name the pid %d: %v", i, p.Pid(), err)
			}
		case err != nil:
			t.Fatalf("round %d: Lock after a kill: %v", i, err)
		case r.point != "":
			t.Fatalf("round %d: child killed at %s inside Update, then Lock: nil, want ErrOwnerDead", i, r.point)
		}
		if o := mu.Owner(); o != os.Getpid() {
			t.Fatalf("round %d: Lock returned %v, owner %d, want this process %d", i, err, o, os.Getpid())
		}
		gotI, gotW := vi.Load(), vw.Load()
		if err := gotW.check(); err != nil {
			t.Fatalf("round %d: after a kill: %v", i, err)
		}
		switch {
		case r.point != "":
			deadAtPoint++
			if gotI != oldI || gotW != oldW {
				t.Fatalf("round %d: killed at %s inside Update of %s: int %d (was %d), wide sequence %d (was %d)",
					i, r.point, r.which, gotI, oldI, gotW.Seq, oldW.Seq)
			}
		case err != nil:
			deadInLoop++
		default:
			freeInLoop++
		}
		if gotI < oldI || gotW.Seq < oldW.Seq {
			t.Fatalf("round %d: values went back: int %d -> %d, wide %d -> %d", i, oldI, gotI, oldW.Seq, gotW.Seq)
		}
		unlock()
		// The lock works as usual again.
		if err := shmtest.Within(t, mpTimeout, "Update", func() error { return vi.Update(func(x *int64) { *x++ }) }); err != nil {
			t.Fatalf("round %d: Update after recovering the lock: %v", i, err)
		}
		if err := shmtest.Within(t, mpTimeout, "Update", func() error { return vw.Update(func(x *mpWide) { *x = mpWideOf(x.Seq + 1) }) }); err != nil {
			t.Fatalf("round %d: Update after recovering the lock: %v", i, err)
		}
		if vi.Load() != gotI+1 || vw.Load() != mpWideOf(gotW.Seq+1) {
			t.Fatalf("round %d: Update after recovering the lock did not apply", i)
		}
	}
	ahead.Stop() // started ahead, not used
	t.Logf("%d rounds in %v: %d killed at a point, %d killed in the loop holding the lock, %d outside it",
		mpKillRounds, time.Since(start).Round(time.Millisecond), deadAtPoint, deadInLoop, freeInLoop)
}

// ---- bad input ----

type (
	mpBadString struct {
		ID   int32
		Name string
	}
	mpBadNested struct {
		ID    int32
		Inner struct {
			OK   [2]int8
			Next *int
		}
	}
	mpBadSlice struct{ Items []int32 }
	mpPair     struct{ A, B int32 }
)

func TestBadInput(t *testing.T) {
	seg := testSeg(t)
	t.Run("not-plain", func(t *testing.T) {
		_, err := New(mpBadString{})
		shmtest.NotPlain(t, "New(struct with a string)", err, "Name")
		_, err = NewRaw(mpBadNested{})
		shmtest.NotPlain(t, "NewRaw(struct with a nested pointer)", err, "Inner.Next")
		_, err = New(mpBadSlice{}, shm.In(seg, "bad"))
		shmtest.NotPlain(t, "New(struct with a slice)", err, "Items")
		_, err = Open[mpBadString](context.Background(), seg, "bad")
		shmtest.NotPlain(t, "Open[struct with a string]", err, "Name")
		var b Value[mpBadNested]
		vi, err := New[int32](1)
		if err != nil {
			t.Fatal(err)
		}
		h, _ := vi.MarshalBinary()
		shmtest.NotPlain(t, "UnmarshalBinary into a Value of a struct with a pointer", b.UnmarshalBinary(h), "Next")
		if _, err := Open[int32](shmtest.Missing(t), seg, "bad"); !errors.Is(err, shm.ErrNotExist) {
			t.Errorf("a failed New left %q behind: Open: %v", "bad", err)
		}
	})
	t.Run("size-0", func(t *testing.T) {
		if _, err := New(struct{}{}); !errors.Is(err, ErrInvalid) {
			t.Errorf("New(struct{}{}): %v, want ErrInvalid", err)
		}
		if _, err := NewRaw([0]int64{}); !errors.Is(err, ErrInvalid) {
			t.Errorf("NewRaw([0]int64{}): %v, want ErrInvalid", err)
		}
	})
	v, err := New(2.5, shm.In(seg, "f64"))
	if err != nil {
		t.Fatal(err)
	}
	w, err := New(mpWideOf(1), shm.In(seg, "wide"))
	if err != nil {
		t.Fatal(err)
	}
	a, err := array.New[float64](1, shm.In(seg, "arr"))
	if err != nil {
		t.Fatal(err)
	}
	mu, err := semaphore.NewMutex(shm.In(seg, "m"))
	if err != nil {
		t.Fatal(err)
	}
	t.Run("open", func(t *testing.T) {
		for _, c := range []struct {
			what string
			err  error
			want error
		}{
			{"Open[int64] of a float64", shmtest.Err(Open[int64](context.Background(), seg, "f64")), shm.ErrLayout},
			{"Open[float32] of a float64", shmtest.Err(Open[float32](context.Background(), seg, "f64")), shm.ErrLayout},
			{"Open[mpRecord] of an mpWide", shmtest.Err(Open[mpRecord](context.Background(), seg, "wide")), shm.ErrLayout},
			{"Open[mpWide] of a float64", shmtest.Err(Open[mpWide](context.Background(), seg, "f64")), shm.ErrLayout},
			{"Open of a mutex", shmtest.Err(Open[float64](context.Background(), seg, "m")), shm.ErrKind},
			{"Open of an array", shmtest.Err(Open[float64](context.Background(), seg, "arr")), shm.ErrKind},
			{"Open of a missing name", shmtest.Err(Open[float64](shmtest.Missing(t), seg, "missing")), shm.ErrNotExist},
			{"Open of a missing name", shmtest.Err(Open[float64](shmtest.Missing(t), seg, "missing")), fs.ErrNotExist},
			{"Open in a nil segment", shmtest.Err(Open[float64](context.Background(), nil, "f64")), ErrInvalid},
			{"Open of an invalid name", shmtest.Err(Open[float64](context.Background(), seg, strings.Repeat("x", 1000))), shm.ErrName},
		} {
			if !errors.Is(c.err, c.want) {
				t.Errorf("%s: %v, want %v", c.what, c.err, c.want)
			}
		}
		if _, err := Open[float64](context.Background(), seg, "f64"); err != nil {
			t.Errorf("Open of the right type: %v", err)
		}
	})
	t.Run("unmarshal", func(t *testing.T) {
		hv, _ := v.MarshalBinary()
		hw, _ := w.MarshalBinary()
		ha, _ := a.MarshalBinary()
		hm, _ := mu.MarshalBinary()
		stale := v.Handle()
		stale.Generation++
		hs, _ := stale.MarshalBinary()
		other := v.Handle()
		other.Offset += 64
		ho, _ := other.MarshalBinary()
		corrupt := append([]byte(nil), hv...)
		corrupt[len(corrupt)/2] ^= 0x10
		for _, c := range []struct {
			what string
			h    []byte
			into func([]byte) error
			want error
		}{
			{"a mutex's handle", hm, new(Value[float64]).UnmarshalBinary, shm.ErrKind},
			{"an array's handle", ha, new(Value[float64]).UnmarshalBinary, shm.ErrKind},
			{"a float64's handle into a Value[int64]", hv, new(Value[int64]).UnmarshalBinary, shm.ErrLayout},
			{"an mpWide's handle into a Value[mpRecord]", hw, new(Value[mpRecord]).UnmarshalBinary, shm.ErrLayout},
			{"a stale handle", hs, new(Value[float64]).UnmarshalBinary, shm.ErrStale},
			{"a handle of no object", ho, new(Value[float64]).UnmarshalBinary, nil},
			{"a corrupted handle", corrupt, new(Value[float64]).UnmarshalBinary, shm.ErrBadHandle},
			{"a truncated handle", hv[:len(hv)-1], new(Value[float64]).UnmarshalBinary, shm.ErrBadHandle},
			{"nothing", nil, new(Value[float64]).UnmarshalBinary, shm.ErrBadHandle},
		} {
			err := c.into(c.h)
			if err == nil || c.want != nil && !errors.Is(err, c.want) {
				t.Errorf("UnmarshalBinary of %s: %v, want %v", c.what, err, c.want)
			}
		}
		// A failed UnmarshalBinary leaves an attached Value as it was.
		v2 := &Value[float64]{}
		if err := v2.UnmarshalBinary(hv); err != nil {
			t.Fatal(err)
		}
		if err := v2.UnmarshalBinary(hm); err == nil {
			t.Fatal("UnmarshalBinary of a mutex's handle succeeded")
		}
		if err := v2.Store(4.5); err != nil || v.Load() != 4.5 {
			t.Errorf("after a failed UnmarshalBinary: Store %v, original sees %v", err, v.Load())
		}
	})
	t.Run("no-atomic-ops", func(t *testing.T) {
		shmtest.Panics(t, "Add on a wide Value", func() { w.Add(mpWideOf(1)) })
		shmtest.Panics(t, "Swap on a wide Value", func() { w.Swap(mpWideOf(1)) })
		shmtest.Panics(t, "CompareAndSwap on a wide Value", func() { w.CompareAndSwap(mpWideOf(1), mpWideOf(2)) })
		r, err := NewRaw(mpRecord{})
		if err != nil {
			t.Fatal(err)
		}
		shmtest.Panics(t, "Swap on a raw wide Value", func() { r.Swap(mpRecord{}) })
		p, err := New(mpPair{1, 2})
		if err != nil {
			t.Fatal(err)
		}
		shmtest.Panics(t, "Add on an 8-byte struct", func() { p.Add(mpPair{1, 1}) })
		if old := p.Swap(mpPair{3, 4}); old != (mpPair{1, 2}) || p.Load() != (mpPair{3, 4}) {
			t.Errorf("Swap of an 8-byte struct: %v, now %v", old, p.Load())
		}
		b, err := New(true)
		if err != nil {
			t.Fatal(err)
		}
		shmtest.Panics(t, "Add on a bool", func() { b.Add(true) })
		if !b.CompareAndSwap(true, false) || b.Load() {
			t.Errorf("CompareAndSwap of a bool failed")
		}
		if w.Load() != mpWideOf(1) || p.Load() != (mpPair{3, 4}) {
			t.Errorf("a panicking operation changed the value")
		}
	})
	t.Run("raw", func(t *testing.T) {
		r, err := NewRaw[int64](5, shm.In(seg, "raw"))
		if err != nil {
			t.Fatal(err)
		}
		if err := r.Update(func(x *int64) { *x++ }); !errors.Is(err, ErrNoLock) {
			t.Errorf("Update of a raw Value: %v, want ErrNoLock", err)
		}
		if err := r.Lock(); !errors.Is(err, ErrNoLock) {
			t.Errorf("Lock of a raw Value: %v, want ErrNoLock", err)
		}
		shmtest.Panics(t, "Unlock of a raw Value", r.Unlock)
		if r.Mutex() != nil || v.Mutex() == nil {
			t.Errorf("Mutex: raw %v, locked %v", r.Mutex(), v.Mutex())
		}
		if r.Load() != 5 || r.Add(2) != 7 || r.Store(9) != nil || r.Load() != 9 {
			t.Errorf("a raw Value's lock-free operations: %d", r.Load())
		}
		r2, err := Open[int64](context.Background(), seg, "raw")
		if err != nil {
			t.Fatal(err)
		}
		if err := r2.Lock(); !errors.Is(err, ErrNoLock) || r2.Load() != 9 {
			t.Errorf("Open of a raw Value: Lock %v, value %d", err, r2.Load())
		}
		rw, err := NewRaw(mpWideOf(3))
		if err != nil {
			t.Fatal(err)
		}
		if err := rw.Update(func(*mpWide) {}); !errors.Is(err, ErrNoLock) {
			t.Errorf("Update of a raw wide Value: %v, want ErrNoLock", err)
		}
		if err := rw.Store(mpWideOf(4)); err != nil || rw.Load() != mpWideOf(4) {
			t.Errorf("Store of a raw wide Value: %v, %v", err, rw.Load().Seq)
		}
	})
	t.Run("closed", func(t *testing.T) {
		c, err := New[int64](1, shm.In(seg, "closed"))
		if err != nil {
			t.Fatal(err)
		}
		cw, err := New(mpWideOf(1), shm.In(seg, "closed-wide"))
		if err != nil {
			t.Fatal(err)
		}
		for _, x := range []interface{ Close() error }{c, cw} {
			if err := x.Close(); err != nil {
				t.Fatal(err)
			}
			if err := x.Close(); err != nil {
				t.Errorf("second Close: %v", err)
			}
		}
		for what, err := range map[string]error{
			"Store":       c.Store(2),
			"Update":      c.Update(func(x *int64) { *x++ }),
			"Lock":        c.Lock(),
			"wide Store":  cw.Store(mpWideOf(2)),
			"wide Update": cw.Update(func(*mpWide) {}),
			"wide Lock":   cw.Lock(),
		} {
			if !errors.Is(err, os.ErrClosed) {
				t.Errorf("%s after Close: %v, want os.ErrClosed", what, err)
			}
		}
		if c.Mutex().Owner() != 0 || cw.Mutex().Owner() != 0 {
			t.Errorf("an operation after Close left the lock held")
		}
		// The value stays for the others.
		c2, err := Open[int64](context.Background(), seg, "closed")
		if err != nil {
			t.Fatal(err)
		}
		if c2.Load() != 1 || c2.Store(3) != nil || c2.Load() != 3 {
			t.Errorf("another handle of a closed one: %d", c2.Load())
		}
	})
}

// mpChildHoldShared opens the value "a" and holds its lock until the
// parent lets it go.
var mpChildHoldShared = testproc.Register("value-hold-shared", func(c *testproc.Child) error {
	seg, a, _, err := shmtest.OpenObject(c, "a", Open[int64])
	if err != nil {
		return err
	}
	defer seg.Close()
	if err := a.Lock(); err != nil {
		return err
	}
	c.Point("held")
	a.Unlock()
	return nil
})

// TestSharedLock: values and an array made with the caller's Mutex
// (Python's lock=) are guarded by that one lock, in every process, and
// freeing them leaves it. It ports _TestValue.test_getobj_getlock and
// _TestArray.test_getobj_getlock_obj: Value and Array have a lock of their
// own (get_lock), lock=lock gives them that lock, and RawValue, RawArray
// and lock=False (NewRaw) have none. Not applicable: lock='navalue' (the
// type system refuses it; a nil lock is ErrInvalid, in
// TestSharedLockPlacement) and get_obj (Load, Slice).
func TestSharedLock(t *testing.T) {
	seg := testSeg(t)
	mu, err := semaphore.NewMutex(shm.In(seg, "lk"))
	if err != nil {
		t.Fatal(err)
	}
	a, err := NewWithLock(int64(0), mu, shm.In(seg, "a"))
	if err != nil {
		t.Fatal(err)
	}
	b, err := NewWithLock(1.5, mu, shm.In(seg, "b"))
	if err != nil {
		t.Fatal(err)
	}
	arr, err := array.FromWithLock([]int32{1, 2}, mu, shm.In(seg, "arr"))
	if err != nil {
		t.Fatal(err)
	}
	for what, m := range map[string]*semaphore.Mutex{"a": a.Mutex(), "b": b.Mutex(), "arr": arr.Mutex()} {
		if m.Handle() != mu.Handle() {
			t.Fatalf("%s's lock is %v, not the one given (%v)", what, m.Handle(), mu.Handle())
		}
	}

	// Another process takes the lock through a's handle: the caller's
	// Mutex, and b's and arr's locks, are held.
	p := testproc.Start(t, mpChildHoldShared, testproc.Arg(seg.Name()))
	p.WaitPoint("held")
	for what, m := range map[string]*semaphore.Mutex{"the caller's": mu, "b's": b.Mutex(), "arr's": arr.Mutex()} {
		if err := m.TryLock(); !errors.Is(err, semaphore.ErrWouldBlock) {
			t.Fatalf("%s lock while another process holds a's: %v", what, err)
		}
	}
	p.Continue()
	p.Succeed()

	// Freeing the objects leaves the lock to its owner.
	for _, f := range []func() error{a.Free, b.Free, arr.Free} {
		if err := f(); err != nil {
			t.Fatal(err)
		}
	}
	if err := mu.TryLock(); err != nil {
		t.Fatalf("the caller's lock after its values were freed: %v", err)
	}
	mu.Unlock()

	// get_lock of a Value and an Array with their own lock, and of raw ones.
	own, err := New(int32(5))
	if err != nil {
		t.Fatal(err)
	}
	ownArr, err := array.From([]int32{0, 1, 2})
	if err != nil {
		t.Fatal(err)
	}
	if own.Mutex() == nil || ownArr.Mutex() == nil || own.Mutex().Handle() == ownArr.Mutex().Handle() {
		t.Errorf("Value and Array with their own lock: %v, %v", own.Mutex(), ownArr.Mutex())
	}
	raw, err := NewRaw(int32(5))
	if err != nil {
		t.Fatal(err)
	}
	rawArr, err := array.NewRaw[int32](10)
	if err != nil {
		t.Fatal(err)
	}
	if raw.Mutex() != nil || rawArr.Mutex() != nil {
		t.Errorf("raw Value and Array have a lock: %v, %v", raw.Mutex(), rawArr.Mutex())
	}
}

// TestSharedLockPlacement: a value goes where its lock is.
func TestSharedLockPlacement(t *testing.T) {
	mu, err := semaphore.NewMutex() // the default heap
	if err != nil {
		t.Fatal(err)
	}
	v, err := NewWithLock(int32(7), mu)
	if err != nil {
		t.Fatal(err)
	}
	if v.Handle().Segment != mu.Handle().Segment {
		t.Fatalf("value in segment %#x, its lock in %#x", v.Handle().Segment, mu.Handle().Segment)
	}
	if err := v.Update(func(x *int32) { *x++ }); err != nil || v.Load() != 8 {
		t.Fatalf("Update: %v, value %d", err, v.Load())
	}
	if _, err := NewWithLock(int32(7), mu, shm.In(testSeg(t), "x")); !errors.Is(err, ErrInvalid) {
		t.Fatalf("a value placed away from its lock: %v", err)
	}
	if _, err := NewWithLock[int32](7, nil); !errors.Is(err, ErrInvalid) {
		t.Fatalf("a nil lock: %v", err)
	}
	if _, err := array.FromWithLock([]int32{1}, mu, shm.In(testSeg(t), "x")); !errors.Is(err, array.ErrInvalid) {
		t.Fatalf("an array placed away from its lock: %v", err)
	}
}

// TestSharedLockHeld: while this process holds the shared lock, Update and
// the Store of a wide value do not take it again (they would wait for
// ever), and Copy and Update of an array neither.
func TestSharedLockHeld(t *testing.T) {
	seg := testSeg(t)
	mu, err := semaphore.NewMutex(shm.In(seg, "lk"))
	if err != nil {
		t.Fatal(err)
	}
	type wide struct{ A, B, C int64 }
	n, err := NewWithLock(int64(1), mu)
	if err != nil {
		t.Fatal(err)
	}
	w, err := NewWithLock(wide{1, 2, 3}, mu)
	if err != nil {
		t.Fatal(err)
	}
	arr, err := array.FromWithLock([]int32{1, 2}, mu)
	if err != nil {
		t.Fatal(err)
	}
	if err := mu.Lock(); err != nil {
		t.Fatal(err)
	}
	err = shmtest.Within(t, 10*time.Second, "changes under the held lock", func() error {
		return errors.Join(
			n.Update(func(x *int64) { *x += 10 }),
			w.Store(wide{4, 5, 6}),
			w.Update(func(x *wide) { x.C++ }),
			arr.Update(func(s []int32) { s[0] = 9 }),
			func() error { _, err := arr.Copy(); return err }(),
		)
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := mu.TryLock(); !errors.Is(err, semaphore.ErrWouldBlock) {
		t.Fatalf("the lock after the changes: %v, want it still held", err)
	}
	mu.Unlock()
	if got := w.Load(); n.Load() != 11 || got != (wide{4, 5, 7}) || arr.At(0) != 9 {
		t.Fatalf("after the changes: %d, %v, %d", n.Load(), got, arr.At(0))
	}
	// A value with a lock of its own still takes it: Update waits while
	// the lock is held.
	own, err := New(int64(0))
	if err != nil {
		t.Fatal(err)
	}
	if err := own.Lock(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- own.Update(func(x *int64) { *x++ }) }()
	select {
	case err := <-done:
		t.Fatalf("Update of a value whose own lock is held returned: %v", err)
	case <-time.After(20 * time.Millisecond):
	}
	own.Unlock()
	if err := <-done; err != nil || own.Load() != 1 {
		t.Fatalf("Update after Unlock: %v, %d", err, own.Load())
	}
}

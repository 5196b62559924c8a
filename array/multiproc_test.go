//go:build linux && (amd64 || arm64)

package array

// Multi-process tests of Array: children started through testproc open
// the test's segment (the first field of their argument names it) and the
// arrays in it by name. Every wait is bounded by mpTimeout or a testproc
// timeout, so that a bug fails a test and never hangs it; nothing here
// checks how long anything takes (the times are logged). The kill test
// repeats its scenario mpKillRounds times, one child per round, with a
// logged random seed (ARRAY_KILL_SEED repeats it). Python's own example
// (a Value and an Array together) is in package value's tests.

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"math/rand/v2"
	"os"
	"reflect"
	"slices"
	"strconv"
	"testing"
	"time"
	"unsafe"

	"github.com/shmkit/shmkit/internal/shmtest"
	"github.com/shmkit/shmkit/internal/testproc"
	"github.com/shmkit/shmkit/semaphore"
	"github.com/shmkit/shmkit/shm"
	"github.com/shmkit/shmkit/value"
)

const (
	// mpTimeout bounds every wait: far beyond any real one.
	mpTimeout = 60 * time.Second
	// mpChildTimeout is every child's testproc timeout.
	mpChildTimeout = 3 * time.Minute
	// mpKillRounds is how many children the kill test kills.
	mpKillRounds = 100
	// mpKillLen is the length of the array the kill test updates.
	mpKillLen = 32
)

// ---- two processes updating ----

// mpChildCount adds 1 to every element of the Array[int64] "a" N times
// through Update, and sets its own element of "own" (index I) to 1..N
// with Set: "SEG I N".
var mpChildCount = testproc.Register("array-count", func(c *testproc.Child) error {
	seg, _, ns, err := shmtest.OpenInts(c, 0, 1)
	if err != nil {
		return err
	}
	defer seg.Close()
	me, n := ns[0], ns[1]
	a, err := Open[int64](context.Background(), seg, "a")
	if err != nil {
		return err
	}
	own, err := Open[uint32](context.Background(), seg, "own")
	if err != nil {
		return err
	}
	c.Point("ready")
	for i := range n {
		err := a.Update(func(s []int64) {
			for j := range s {
				s[j]++
			}
		})
		if err != nil {
			return fmt.Errorf("update %d: %w", i, err)
		}
		if got := own.At(me); got != uint32(i) {
			return fmt.Errorf("own element %d is %d, want %d", me, got, i)
		}
		own.Set(me, uint32(i+1))
	}
	return nil
})

// TestTwoProcessesUpdate: two children each add 1 to every element of an
// array through Update n times: every element ends at 2n, never torn by
// the other's Updates; and each keeps its own element of another array
// with Set and At, untouched by the other.
func TestTwoProcessesUpdate(t *testing.T) {
	const n = 200_000
	seg := testSeg(t)
	a, err := New[int64](16, shm.In(seg, "a"))
	if err != nil {
		t.Fatal(err)
	}
	own, err := NewRaw[uint32](2, shm.In(seg, "own"))
	if err != nil {
		t.Fatal(err)
	}
	ps := []*testproc.Proc{
		shmtest.Start(t, mpChildTimeout, mpChildCount, seg.Name(), "0", strconv.Itoa(n)),
		shmtest.Start(t, mpChildTimeout, mpChildCount, seg.Name(), "1", strconv.Itoa(n)),
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
	t.Logf("2 processes x %d Updates of 16 elements: %v", n, time.Since(start).Round(time.Millisecond))
	got, err := a.Copy()
	if err != nil {
		t.Fatal(err)
	}
	for j, x := range got {
		if x != 2*n {
			t.Errorf("element %d = %d, want %d", j, x, 2*n)
		}
	}
	if o := own.Slice(); o[0] != n || o[1] != n {
		t.Errorf("own = %v, want [%d %d]", o, n, n)
	}
}

// ---- nested arrays and byte strings ----

// mpRecord has nested arrays and a fixed-size byte string; its ctypes
// equivalent is a Structure of c_int32, c_double*3, c_char*16 and
// (c_int16*4)*2: 64 bytes, Pos at 8, Tag at 32, Grid at 48.
type mpRecord = shmtest.Record

func mpRecordOf(i int) mpRecord {
	pos := [3]float64{float64(i) / 3, math.MaxFloat64, -0.25 * float64(i)}
	return shmtest.NewRecord(int32(-7+i), pos, fmt.Sprintf("elem%02d-%x", i, i*0x1234),
		func(a, b int) int16 { return int16(-i*1000 - a*10 - b) })
}

// mpCheckRecord compares r with mpRecordOf(i) field by field.
func mpCheckRecord(t testing.TB, what string, r mpRecord, i int) {
	t.Helper()
	shmtest.CheckRecord(t, what, r, mpRecordOf(i))
}

// mpChildRecords writes element i of the Array[mpRecord] "recs" as
// mpRecordOf(i): through Set, Update, the Slice field by field, and
// Update of single fields, in turn.
var mpChildRecords = testproc.Register("array-records", func(c *testproc.Child) error {
	seg, a, _, err := shmtest.OpenObject(c, "recs", Open[mpRecord])
	if err != nil {
		return err
	}
	defer seg.Close()
	s := a.Slice()
	for i := range a.Len() {
		w := mpRecordOf(i)
		switch i % 4 {
		case 0:
			a.Set(i, w)
		case 1:
			err = a.Update(func(s []mpRecord) { s[i] = w })
		case 2:
			s[i].ID = w.ID
			s[i].Pos = w.Pos
			copy(s[i].Tag[:], w.Tag[:])
			s[i].Grid = w.Grid
		case 3:
			err = a.Update(func(s []mpRecord) {
				s[i].ID, s[i].Tag = w.ID, w.Tag
				s[i].Pos[2], s[i].Pos[0], s[i].Pos[1] = w.Pos[2], w.Pos[0], w.Pos[1]
				s[i].Grid[1] = w.Grid[1]
				s[i].Grid[0] = w.Grid[0]
			})
		}
		if err != nil {
			return err
		}
	}
	return nil
})

// TestNestedRecords: an Array of structs of nested arrays and a byte
// string, written by a child and read back here field by field: through
// Copy, At and Slice, and as a Python process would, from the segment's
// file at DataOffset with the C layout.
func TestNestedRecords(t *testing.T) {
	const n = 9
	seg := testSeg(t)
	a, err := New[mpRecord](n, shm.In(seg, "recs"))
	if err != nil {
		t.Fatal(err)
	}
	if unsafe.Sizeof(mpRecord{}) != 64 || a.Code() != 0 || a.Len() != n {
		t.Fatalf("size %d, code %v, length %d", unsafe.Sizeof(mpRecord{}), a.Code(), a.Len())
	}
	shmtest.Start(t, mpChildTimeout, mpChildRecords, seg.Name()).Succeed()
	got, err := a.Copy()
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != n {
		t.Fatalf("Copy has %d elements, want %d", len(got), n)
	}
	for i := range n {
		mpCheckRecord(t, fmt.Sprintf("Copy()[%d]", i), got[i], i)
		mpCheckRecord(t, fmt.Sprintf("At(%d)", i), a.At(i), i)
		mpCheckRecord(t, fmt.Sprintf("Slice()[%d]", i), a.Slice()[i], i)
	}
	// The file, read as ctypes would.
	raw := make([]byte, n*64)
	if _, err := seg.File().ReadAt(raw, a.DataOffset()); err != nil {
		t.Fatal(err)
	}
	le := binary.LittleEndian
	for i := range n {
		b, w := raw[i*64:(i+1)*64], mpRecordOf(i)
		if id := int32(le.Uint32(b[0:])); id != w.ID {
			t.Errorf("file: element %d ID %d, want %d", i, id, w.ID)
		}
		for k := range 3 {
			if p := math.Float64frombits(le.Uint64(b[8+8*k:])); p != w.Pos[k] {
				t.Errorf("file: element %d Pos[%d] %v, want %v", i, k, p, w.Pos[k])
			}
		}
		if tag := b[32:48]; string(tag) != string(w.Tag[:]) {
			t.Errorf("file: element %d Tag %q, want %q", i, tag, w.Tag[:])
		}
		for r := range 2 {
			for k := range 4 {
				if g := int16(le.Uint16(b[48+8*r+2*k:])); g != w.Grid[r][k] {
					t.Errorf("file: element %d Grid[%d][%d] %d, want %d", i, r, k, g, w.Grid[r][k])
				}
			}
		}
	}
}

// ---- killed inside Update ----

// mpChildKill updates the Array[int64] "k", adding 1 to each element in
// turn: "SEG point K" stops at point "in-f" before element K (after all
// of them when K is the length), to be killed there; "SEG loop" updates
// without end after point "loop", to be killed anywhere.
var mpChildKill = testproc.Register("array-kill", func(c *testproc.Child) error {
	seg, a, f, err := shmtest.OpenObject(c, "k", Open[int64])
	if err != nil {
		return err
	}
	defer seg.Close()
	stop := -1
	if f[0] == "point" {
		if stop, err = shmtest.Int(f, 1); err != nil {
			return err
		}
	}
	update := func() error {
		return a.Update(func(s []int64) {
			for j := range s {
				if j == stop {
					c.Point("in-f")
				}
				s[j]++
			}
			if stop == len(s) {
				c.Point("in-f")
			}
		})
	}
	c.Point("ready")
	if stop >= 0 {
		if err := update(); err != nil {
			return err
		}
		return fmt.Errorf("not killed at element %d", stop)
	}
	return shmtest.UpdateUntilKilled(c, mpTimeout, update)
})

// mpKillRand is a random source whose seed the test logs.
func mpKillRand(t testing.TB) *rand.Rand { return shmtest.KillRand(t, "ARRAY_KILL_SEED", 0xa77a) }

// mpHalfUpdated checks that s is what a dead Update left: the first k
// elements old+1, the others old, for some k. It returns k.
func mpHalfUpdated(s []int64, old int64) (int, error) {
	k := 0
	for k < len(s) && s[k] == old+1 {
		k++
	}
	for _, x := range s[k:] {
		if x != old {
			return k, fmt.Errorf("elements %v are not a half-done increment of %d", s, old)
		}
	}
	return k, nil
}

// TestKillInsideUpdate kills children inside Update, at a point before a
// random element or after a random delay in a loop of Updates. The next
// to take the lock here (Lock, Update or Copy) gets ErrOwnerDead when the
// child died holding it (always, at a point), and sees the elements the
// child had incremented so far; it completes the increment, and the lock
// then works as usual.
func TestKillInsideUpdate(t *testing.T) {
	seg := testSeg(t)
	a, err := New[int64](mpKillLen, shm.In(seg, "k"))
	if err != nil {
		t.Fatal(err)
	}
	rng := mpKillRand(t)
	type round struct {
		stop int // -1 in the loop
	}
	// Each round's child is started two rounds ahead: start-ups overlap.
	ahead := shmtest.NewAhead(3, func() (round, *testproc.Proc) {
		if rng.IntN(4) > 0 {
			r := round{stop: rng.IntN(mpKillLen + 1)}
			return r, shmtest.Start(t, mpChildTimeout, mpChildKill, seg.Name(), "point", strconv.Itoa(r.stop))
		}
		return round{stop: -1}, shmtest.Start(t, mpChildTimeout, mpChildKill, seg.Name(), "loop")
	})
	start := time.Now()
	var deadAtPoint, deadInLoop, freeInLoop int
	old := int64(0) // every element, between rounds
	for i := range mpKillRounds {
		r, p := ahead.Next()
		point := ""
		if r.stop >= 0 {
			point = "in-f"
		}
		shmtest.KillRound(t, i, p, point, rng)
		// Take the lock, look at the elements and complete the increment
		// (every element as the first), one of three ways.
		var (
			err  error
			seen []int64
			how  = []string{"Lock", "Update", "Copy"}[rng.IntN(3)]
		)
		complete := func(s []int64) {
			for j := range s {
				s[j] = s[0]
			}
		}
		switch how {
		case "Lock":
			err = shmtest.Within(t, mpTimeout, how, a.Lock)
			if err == nil || errors.Is(err, semaphore.ErrOwnerDead) {
				if o := a.Mutex().Owner(); o != os.Getpid() {
					t.Fatalf("round %d: Lock returned %v, owner %d, want this process %d", i, err, o, os.Getpid())
				}
				seen = slices.Clone(a.Slice())
				complete(a.Slice())
				a.Unlock()
			}
		case "Update":
			err = shmtest.Within(t, mpTimeout, how, func() error {
				return a.Update(func(s []int64) {
					seen = slices.Clone(s)
					complete(s)
				})
			})
		case "Copy":
			type res struct {
				s   []int64
				err error
			}
			got := shmtest.Within(t, mpTimeout, how, func() res { s, err := a.Copy(); return res{s, err} })
			seen, err = got.s, got.err
			if err := a.Update(complete); err != nil {
				t.Fatalf("round %d: Update after Copy took the lock: %v", i, err)
			}
		}
		switch {
		case errors.Is(err, semaphore.ErrOwnerDead):
			if r.stop >= 0 {
				deadAtPoint++
			} else {
				deadInLoop++
			}
		case err != nil:
			t.Fatalf("round %d: %s after a kill: %v", i, how, err)
		case r.stop >= 0:
			t.Fatalf("round %d: child killed inside Update before element %d, then %s: nil, want ErrOwnerDead", i, r.stop, how)
		default:
			freeInLoop++
		}
		if len(seen) != mpKillLen {
			t.Fatalf("round %d: %s saw %d elements", i, how, len(seen))
		}
		base := old
		if r.stop < 0 { // the child may have completed increments
			base = seen[mpKillLen-1]
			if base < old {
				t.Fatalf("round %d: elements went back from %d: %v", i, old, seen)
			}
		}
		k, herr := mpHalfUpdated(seen, base)
		if herr != nil {
			t.Fatalf("round %d: %s after a kill: %v", i, how, herr)
		}
		if r.stop >= 0 && k != r.stop {
			t.Fatalf("round %d: child killed before element %d, %s saw %d incremented: %v", i, r.stop, how, k, seen)
		}
		// The increment is complete and the lock works as usual again.
		old = seen[0]
		now, err := a.Copy()
		if err != nil {
			t.Fatalf("round %d: Copy after recovering the lock: %v", i, err)
		}
		for j, x := range now {
			if x != old {
				t.Fatalf("round %d: element %d is %d after completing the increment to %d", i, j, x, old)
			}
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
		Inner [2]struct {
			OK   [2]int8
			Next *int
		}
	}
	mpBadMap struct{ M map[int]int }
)

func TestBadInput(t *testing.T) {
	seg := testSeg(t)
	t.Run("not-plain", func(t *testing.T) {
		_, err := New[mpBadString](3)
		shmtest.NotPlain(t, "New(struct with a string)", err, "Name")
		_, err = From([]mpBadNested{{}}, shm.In(seg, "bad"))
		shmtest.NotPlain(t, "From(struct with a nested pointer)", err, "Next")
		_, err = NewRaw[mpBadMap](1)
		shmtest.NotPlain(t, "NewRaw(struct with a map)", err, "M")
		_, err = Open[mpBadString](context.Background(), seg, "bad")
		shmtest.NotPlain(t, "Open[struct with a string]", err, "Name")
		a, err := New[int32](1)
		if err != nil {
			t.Fatal(err)
		}
		h, _ := a.MarshalBinary()
		var b Array[mpBadString]
		shmtest.NotPlain(t, "UnmarshalBinary into an Array of a struct with a string", b.UnmarshalBinary(h), "Name")
		if _, err := Open[int32](shmtest.Missing(t), seg, "bad"); !errors.Is(err, shm.ErrNotExist) {
			t.Errorf("a failed From left %q behind: Open: %v", "bad", err)
		}
	})
	t.Run("length", func(t *testing.T) {
		for _, c := range []struct {
			what string
			err  error
		}{
			{"New(-1)", shmtest.Err(New[int64](-1))},
			{"NewRaw(-5)", shmtest.Err(NewRaw[byte](-5))},
			{"New(-1) in a segment", shmtest.Err(New[int32](-1, shm.In(seg, "neg")))},
			{"New(huge)", shmtest.Err(New[int64](math.MaxInt))},
			{"New of size 0", shmtest.Err(New[struct{}](4))},
			{"From of size 0", shmtest.Err(From([][0]int64{{}}))},
		} {
			if !errors.Is(c.err, ErrInvalid) {
				t.Errorf("%s: %v, want ErrInvalid", c.what, c.err)
			}
		}
		if _, err := New[int64](1<<20, shm.In(seg, "too-big")); err == nil {
			t.Errorf("an array larger than its segment was made")
		}
		for _, name := range []string{"neg", "too-big"} {
			if _, err := Open[int32](shmtest.Missing(t), seg, name); !errors.Is(err, shm.ErrNotExist) {
				t.Errorf("a failed New left %q behind: Open: %v", name, err)
			}
		}
		e, err := New[int32](0, shm.In(seg, "empty"))
		if err != nil {
			t.Fatal(err)
		}
		e2, err := Open[int32](context.Background(), seg, "empty")
		if err != nil {
			t.Fatal(err)
		}
		c, err := e2.Copy()
		if e.Len() != 0 || e2.Len() != 0 || len(e2.Slice()) != 0 || err != nil || len(c) != 0 {
			t.Errorf("empty array: lengths %d %d %d, Copy %v %v", e.Len(), e2.Len(), len(e2.Slice()), c, err)
		}
		if err := e2.Update(func(s []int32) {
			if len(s) != 0 {
				t.Errorf("Update of an empty array got %d elements", len(s))
			}
		}); err != nil {
			t.Errorf("Update of an empty array: %v", err)
		}
	})
	a, err := From([]float64{1, 2, 3}, shm.In(seg, "f64"))
	if err != nil {
		t.Fatal(err)
	}
	rec, err := New[mpRecord](2, shm.In(seg, "recs"))
	if err != nil {
		t.Fatal(err)
	}
	v, err := Open[float64](context.Background(), seg, "f64")
	if err != nil {
		t.Fatal(err)
	}
	mu, err := semaphore.NewMutex(shm.In(seg, "m"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := value.New(1.5, shm.In(seg, "val")); err != nil {
		t.Fatal(err)
	}
	t.Run("open", func(t *testing.T) {
		for _, c := range []struct {
			what string
			err  error
			want error
		}{
			{"Open[int64] of float64s", shmtest.Err(Open[int64](context.Background(), seg, "f64")), shm.ErrLayout},
			{"Open[float32] of float64s", shmtest.Err(Open[float32](context.Background(), seg, "f64")), shm.ErrLayout},
			{"Open[uint64] of float64s", shmtest.Err(Open[uint64](context.Background(), seg, "f64")), shm.ErrLayout},
			{"Open[[2]float64] of float64s", shmtest.Err(Open[[2]float64](context.Background(), seg, "f64")), shm.ErrLayout},
			{"Open[float64] of records", shmtest.Err(Open[float64](context.Background(), seg, "recs")), shm.ErrLayout},
			{"Open of a mutex", shmtest.Err(Open[float64](context.Background(), seg, "m")), shm.ErrKind},
			{"Open of a value", shmtest.Err(Open[float64](context.Background(), seg, "val")), shm.ErrKind},
			{"Open of a missing name", shmtest.Err(Open[float64](shmtest.Missing(t), seg, "missing")), shm.ErrNotExist},
			{"Open of a missing name", shmtest.Err(Open[float64](shmtest.Missing(t), seg, "missing")), fs.ErrNotExist},
			{"Open in a nil segment", shmtest.Err(Open[float64](context.Background(), nil, "f64")), ErrInvalid},
		} {
			if !errors.Is(c.err, c.want) {
				t.Errorf("%s: %v, want %v", c.what, c.err, c.want)
			}
		}
		if got, err := v.Copy(); err != nil || !reflect.DeepEqual(got, []float64{1, 2, 3}) {
			t.Errorf("Open of the right type: %v %v", got, err)
		}
	})
	t.Run("unmarshal", func(t *testing.T) {
		ha, _ := a.MarshalBinary()
		hr, _ := rec.MarshalBinary()
		hm, _ := mu.MarshalBinary()
		stale := a.Handle()
		stale.Generation++
		hs, _ := stale.MarshalBinary()
		corrupt := append([]byte(nil), ha...)
		corrupt[9] ^= 1
		for _, c := range []struct {
			what string
			h    []byte
			into func([]byte) error
			want error
		}{
			{"a mutex's handle", hm, new(Array[float64]).UnmarshalBinary, shm.ErrKind},
			{"float64s' handle into an Array[int64]", ha, new(Array[int64]).UnmarshalBinary, shm.ErrLayout},
			{"records' handle into an Array[float64]", hr, new(Array[float64]).UnmarshalBinary, shm.ErrLayout},
			{"a stale handle", hs, new(Array[float64]).UnmarshalBinary, shm.ErrStale},
			{"a corrupted handle", corrupt, new(Array[float64]).UnmarshalBinary, shm.ErrBadHandle},
			{"a truncated handle", ha[:10], new(Array[float64]).UnmarshalBinary, shm.ErrBadHandle},
		} {
			if err := c.into(c.h); !errors.Is(err, c.want) {
				t.Errorf("UnmarshalBinary of %s: %v, want %v", c.what, err, c.want)
			}
		}
		var b Array[float64]
		if err := b.UnmarshalBinary(ha); err != nil || b.Len() != 3 || b.At(2) != 3 {
			t.Errorf("UnmarshalBinary of the right handle: %v", err)
		}
	})
	t.Run("index", func(t *testing.T) {
		shmtest.Panics(t, "At(-1)", func() { a.At(-1) })
		shmtest.Panics(t, "At(Len)", func() { a.At(3) })
		shmtest.Panics(t, "Set(Len)", func() { a.Set(3, 0) })
		shmtest.Panics(t, "Set(-1)", func() { a.Set(-1, 0) })
		shmtest.Panics(t, "At(Len) of records", func() { rec.At(2) })
		shmtest.Panics(t, "Set(Len) of records", func() { rec.Set(2, mpRecord{}) })
		if got, _ := a.Copy(); !reflect.DeepEqual(got, []float64{1, 2, 3}) {
			t.Errorf("out-of-range Set changed the array: %v", got)
		}
	})
	t.Run("raw", func(t *testing.T) {
		r, err := NewRaw[int16](4, shm.In(seg, "raw"))
		if err != nil {
			t.Fatal(err)
		}
		if err := r.Update(func([]int16) { t.Error("Update of a raw array ran its function") }); !errors.Is(err, ErrNoLock) {
			t.Errorf("Update of a raw array: %v, want ErrNoLock", err)
		}
		if err := r.Lock(); !errors.Is(err, ErrNoLock) {
			t.Errorf("Lock of a raw array: %v, want ErrNoLock", err)
		}
		shmtest.Panics(t, "Unlock of a raw array", r.Unlock)
		if r.Mutex() != nil || a.Mutex() == nil {
			t.Errorf("Mutex: raw %v, locked %v", r.Mutex(), a.Mutex())
		}
		r.Set(3, -2)
		r2, err := Open[int16](context.Background(), seg, "raw")
		if err != nil {
			t.Fatal(err)
		}
		if got, err := r2.Copy(); err != nil || !reflect.DeepEqual(got, []int16{0, 0, 0, -2}) {
			t.Errorf("Copy of a raw array: %v %v", got, err)
		}
		if err := r2.Lock(); !errors.Is(err, ErrNoLock) {
			t.Errorf("Lock of an opened raw array: %v, want ErrNoLock", err)
		}
	})
	t.Run("closed", func(t *testing.T) {
		c, err := From([]int32{1, 2}, shm.In(seg, "closed"))
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Close(); err != nil {
			t.Fatal(err)
		}
		if err := c.Close(); err != nil {
			t.Errorf("second Close: %v", err)
		}
		if _, err := c.Copy(); !errors.Is(err, os.ErrClosed) {
			t.Errorf("Copy after Close: %v, want os.ErrClosed", err)
		}
		if err := c.Update(func([]int32) { t.Error("Update after Close ran its function") }); !errors.Is(err, os.ErrClosed) {
			t.Errorf("Update after Close: %v, want os.ErrClosed", err)
		}
		if err := c.Lock(); !errors.Is(err, os.ErrClosed) {
			t.Errorf("Lock after Close: %v, want os.ErrClosed", err)
		}
		if c.Mutex().Owner() != 0 {
			t.Errorf("an operation after Close left the lock held")
		}
		c2, err := Open[int32](context.Background(), seg, "closed")
		if err != nil {
			t.Fatal(err)
		}
		if got, err := c2.Copy(); err != nil || !reflect.DeepEqual(got, []int32{1, 2}) {
			t.Errorf("another handle of a closed array: %v %v", got, err)
		}
	})
}

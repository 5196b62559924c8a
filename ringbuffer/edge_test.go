//go:build linux && (amd64 || arm64)

package ringbuffer

// Edge cases of every kind of ring, in one process: wrap-around at small
// capacities, the full and empty edges, batches across the end of the ring,
// frames that fit the free space exactly, Close, Join, the Pipe's end of
// stream, context cancellation of every blocking call, spinning handles,
// bad input, allocations and many goroutines on one ring.
//
// Waits are bounded by edgeGuard: a bug fails a test, it never hangs it.
// Nothing here measures time.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shmkit/shmkit/internal/owner"
	"github.com/shmkit/shmkit/internal/shmtest"
	"github.com/shmkit/shmkit/shm"
)

// edgeGuard bounds every wait that should end: far beyond any real one.
const edgeGuard = 30 * time.Second

// rawCodec is a Codec that writes a []byte as itself, so that a frame's
// size is exactly 4 + len(message) bytes.
type rawCodec struct{}

func (rawCodec) Append(b []byte, v *[]byte) ([]byte, error) { return append(b, *v...), nil }
func (rawCodec) Decode(b []byte, v *[]byte) error {
	*v = append([]byte(nil), b...)
	return nil
}

// edgeMsg is a message of n bytes whose content says which one it is.
func edgeMsg(n, seed int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(seed*31 + i*7 + 1)
	}
	return b
}

// edgeFree frees an object at the end of a test that passed. A failed
// test may leave goroutines blocked on it: its memory stays (the default
// heap goes at the end of the run).
func edgeFree(t *testing.T, free func() error) {
	if !t.Failed() {
		free()
	}
}

// edgeFIFO is one kind of ring seen as a FIFO of uint64, for the tests that
// run on every kind.
type edgeFIFO struct {
	name    string
	cap     int // messages
	tryPush func(v uint64) error
	tryPop  func() (uint64, error)
	push    func(ctx context.Context, v uint64) error
	pop     func(ctx context.Context) (uint64, error)
	length  func() int
	core    *core
	free    func() error
}

func ringFIFO(name string, r *Ring[uint64]) edgeFIFO {
	return edgeFIFO{name: name, cap: r.Cap(), tryPush: r.TryPush, tryPop: r.TryPop, push: r.Push, pop: r.Pop,
		length: r.Len, core: r.c, free: r.Free}
}

func plainQueueFIFO(name string, q *Queue[uint64]) edgeFIFO {
	return edgeFIFO{name: name, cap: q.Cap(), tryPush: q.TryPut, tryPop: q.TryGet, push: q.Put, pop: q.Get,
		length: q.Len, core: q.c, free: q.Free}
}

// gobQueueFIFO: numbers travel as gob-encoded strings, one cell each.
func gobQueueFIFO(name string, q *Queue[string]) edgeFIFO {
	str := func(v uint64) string { return strconv.FormatUint(v, 10) }
	num := func(s string, err error) (uint64, error) {
		if err != nil {
			return 0, err
		}
		return strconv.ParseUint(s, 10, 64)
	}
	return edgeFIFO{
		name:    name,
		cap:     q.Cap(),
		tryPush: func(v uint64) error { return q.TryPut(str(v)) },
		tryPop:  func() (uint64, error) { return num(q.TryGet()) },
		push:    func(ctx context.Context, v uint64) error { return q.Put(ctx, str(v)) },
		pop:     func(ctx context.Context) (uint64, error) { return num(q.Get(ctx)) },
		length:  q.Len,
		core:    q.c,
		free:    q.Free,
	}
}

// edgeKinds makes one FIFO of every kind with room for n messages asked.
func edgeKinds(t *testing.T, n int) []edgeFIFO {
	t.Helper()
	spsc := mustNew(t, NewSPSCRing[uint64], n)
	mpmc := mustNew(t, NewRing[uint64], n)
	plain := mustNew(t, NewQueue[uint64], n)
	enc := mustNew(t, NewQueue[string], n)
	fs := []edgeFIFO{ringFIFO("spsc", spsc), ringFIFO("mpmc", mpmc), plainQueueFIFO("plain queue", plain), gobQueueFIFO("gob queue", enc)}
	for _, f := range fs {
		t.Cleanup(func() { edgeFree(t, f.free) })
	}
	return fs
}

func TestEdgeWrapAround(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel() // stops what a failed test leaves blocked
	for _, n := range []int{1, 2, 8} {
		for _, f := range edgeKinds(t, n) {
			want := n // messages: a Queue holds exactly n, encoded or not
			if f.cap != want {
				t.Fatalf("%s(%d): Cap %d, want %d", f.name, n, f.cap, want)
			}
			var next, expect uint64 // next value to push, next to pop
			pushN := func(k int) {
				for range k {
					var err error
					if next%2 == 0 {
						err = f.tryPush(next)
					} else {
						err = f.push(ctx, next)
					}
					if err != nil {
						t.Fatalf("%s(%d): push %d: %v", f.name, n, next, err)
					}
					next++
				}
			}
			popN := func(k int) {
				for range k {
					var v uint64
					var err error
					if expect%2 == 0 {
						v, err = f.tryPop()
					} else {
						v, err = f.pop(ctx)
					}
					if err != nil || v != expect {
						t.Fatalf("%s(%d): pop = %d, %v; want %d", f.name, n, v, err, expect)
					}
					expect++
				}
			}
			checkLen := func(want int) {
				t.Helper()
				if got := f.length(); got != want {
					t.Fatalf("%s(%d): Len %d, want %d (pushed %d, popped %d)", f.name, n, got, want, next, expect)
				}
			}
			for round := range 6*f.cap + 7 {
				fill := round % (f.cap + 1)
				pushN(fill)
				checkLen(fill)
				if fill == f.cap {
					if err := f.tryPush(1 << 40); err != errFull {
						t.Fatalf("%s(%d): TryPush on full: %v", f.name, n, err)
					}
					checkLen(f.cap)
				}
				popN(fill)
				checkLen(0)
				if _, err := f.tryPop(); err != errEmpty {
					t.Fatalf("%s(%d): TryPop on empty: %v", f.name, n, err)
				}
				// A standing backlog of round%cap while cycling one by one.
				pushN(round % f.cap)
				for range f.cap + 1 {
					pushN(1)
					popN(1)
				}
				popN(round % f.cap)
			}
			// Fill to the brim at a position far from 0, then empty it.
			pushN(f.cap)
			if err := f.tryPush(7); err != errFull {
				t.Fatalf("%s(%d): TryPush on full: %v", f.name, n, err)
			}
			checkLen(f.cap)
			popN(f.cap)
			if _, err := f.tryPop(); err != errEmpty {
				t.Fatalf("%s(%d): TryPop on empty: %v", f.name, n, err)
			}
			checkLen(0)
			if h := atomic.LoadUint64(f.core.head); h < 5*uint64(f.cap) {
				t.Fatalf("%s(%d): the head is at %d, not several laps on", f.name, n, h)
			}
		}
	}
}

// TestEdgeFramesWrap puts messages of random sizes through small framed
// queues, so that frames of several cells straddle the end of the ring,
// against a model of the cells in use.
func TestEdgeFramesWrap(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, n := range []int{1, 2, 8} {
		q := mustNew(t, NewQueue[string], n)
		defer edgeFree(t, q.Free)
		cells := int(q.c.l.cells)
		var model []string // messages in the queue
		var used []int     // their cells
		usedCells := 0
		cellsOf := func(s string) int {
			b, err := Gob[string]{}.Append(nil, &s)
			if err != nil {
				t.Fatal(err)
			}
			return (len(b) + 4 + encodedCell - 1) / encodedCell
		}
		for i := range 3000 {
			if rng.IntN(2) == 0 {
				s := strconv.Itoa(i) + ":" + string(edgeMsg(rng.IntN(cells*encodedCell), i))
				k := cellsOf(s)
				err := q.TryPut(s)
				switch {
				case k > cells:
					if !errors.Is(err, ErrTooLarge) {
						t.Fatalf("queue of %d cells: %d-cell message: %v, want ErrTooLarge", cells, k, err)
					}
				case usedCells+k > cells || len(model) == n:
					if err != errFull {
						t.Fatalf("queue of %d messages, %d cells, %d used by %d: %d-cell message: %v, want ErrFull",
							n, cells, usedCells, len(model), k, err)
					}
				default:
					if err != nil {
						t.Fatalf("queue of %d cells, %d used: %d-cell message: %v", cells, usedCells, k, err)
					}
					model = append(model, s)
					used = append(used, k)
					usedCells += k
				}
			} else {
				v, err := q.TryGet()
				if len(model) == 0 {
					if err != errEmpty {
						t.Fatalf("TryGet on empty: %q, %v", v, err)
					}
					continue
				}
				if err != nil || v != model[0] {
					t.Fatalf("TryGet = %.20q, %v; want %.20q", v, err, model[0])
				}
				usedCells -= used[0]
				model, used = model[1:], used[1:]
			}
			if q.Len() != len(model) || q.Empty() != (len(model) == 0) {
				t.Fatalf("Len %d, Empty %v; want %d", q.Len(), q.Empty(), len(model))
			}
		}
	}
}

func TestEdgeBatchWrap(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel() // stops what a failed test leaves blocked
	for _, spsc := range []bool{true, false} {
		mk := NewRing[uint64]
		if spsc {
			mk = NewSPSCRing[uint64]
		}
		r, err := mk(8)
		if err != nil {
			t.Fatal(err)
		}
		defer edgeFree(t, r.Free)
		// A fresh ring takes a whole batch: its first lap is no different.
		fresh := []uint64{0, 1, 2, 3, 4, 5, 6, 7, 8}
		if n, err := r.TryPushBatch(fresh); n != 8 || err != nil {
			t.Fatalf("spsc %v: TryPushBatch of 9 into a fresh ring of 8 = %d, %v", spsc, n, err)
		}
		dst := make([]uint64, 9)
		if n, err := r.TryPopBatch(dst); n != 8 || err != nil || !slices.Equal(dst[:n], fresh[:8]) {
			t.Fatalf("spsc %v: TryPopBatch = %v, %v", spsc, dst[:n], err)
		}
		var model []uint64
		next := uint64(8)
		batch := func(k int) []uint64 {
			vs := make([]uint64, k)
			for i := range vs {
				vs[i] = next + uint64(i)
			}
			return vs
		}
		take := func(got []uint64) {
			t.Helper()
			if len(got) > len(model) || !slices.Equal(got, model[:len(got)]) {
				t.Fatalf("spsc %v: popped %v, want a prefix of %v", spsc, got, model)
			}
			model = model[len(got):]
		}
		for pre := range 9 {
			for s := 1; s <= 10; s++ {
				for d := 1; d <= 10; d++ {
					// pre values already in, then a batch of s, then
					// take d: the cursors move by a different amount each
					// time, so that batches start everywhere.
					for len(model) < pre {
						if err := r.TryPush(next); err != nil {
							t.Fatal(err)
						}
						model = append(model, next)
						next++
					}
					vs := batch(s)
					room := r.Cap() - len(model)
					got, err := r.TryPushBatch(vs)
					switch {
					case room == 0:
						if got != 0 || err != errFull {
							t.Fatalf("spsc %v: TryPushBatch on full = %d, %v", spsc, got, err)
						}
					case got != min(s, room) || err != nil:
						t.Fatalf("spsc %v: TryPushBatch of %d with room for %d = %d, %v", spsc, s, room, got, err)
					}
					model = append(model, vs[:got]...)
					next += uint64(got)
					if r.Len() != len(model) {
						t.Fatalf("spsc %v: Len %d, want %d", spsc, r.Len(), len(model))
					}
					dst := make([]uint64, d)
					had := len(model)
					got, err = r.TryPopBatch(dst)
					if got != min(d, had) || err != nil {
						t.Fatalf("spsc %v: TryPopBatch of %d with %d there = %d, %v", spsc, d, had, got, err)
					}
					take(dst[:got])
					// PopBatch with more room than there are values takes
					// what is there without waiting for more.
					if len(model) > pre {
						had = len(model) - pre
						dst = make([]uint64, had+3)
						got, err = r.PopBatch(ctx, dst[:had])
						if got != had || err != nil {
							t.Fatalf("spsc %v: PopBatch(%d) = %d, %v", spsc, had, got, err)
						}
						take(dst[:got])
					}
				}
			}
			// Drain with a dst larger than what is there.
			dst := make([]uint64, 20)
			if len(model) > 0 {
				had := len(model)
				got := shmtest.Within(t, edgeGuard, "PopBatch", func() error {
					n, err := r.PopBatch(ctx, dst)
					if n != had || err != nil {
						return fmt.Errorf("PopBatch(20) with %d there = %d, %v", had, n, err)
					}
					return nil
				})
				if got != nil {
					t.Fatalf("spsc %v: %v", spsc, got)
				}
				take(dst[:had])
			}
			if n, err := r.TryPopBatch(dst); n != 0 || err != errEmpty {
				t.Fatalf("spsc %v: TryPopBatch on empty = %d, %v", spsc, n, err)
			}
			if n, err := r.TryPushBatch(nil); n != 0 || err != nil {
				t.Fatalf("spsc %v: TryPushBatch(nil) = %d, %v", spsc, n, err)
			}
			if n, err := r.PopBatch(ctx, nil); n != 0 || err != nil {
				t.Fatalf("spsc %v: PopBatch(nil) = %d, %v", spsc, n, err)
			}
		}

		// Blocking batches larger than the ring, against a consumer of
		// batches of every size.
		const total = 2000
		all := make([]uint64, total)
		for i := range all {
			all[i] = next + uint64(i)
		}
		got := make(chan []uint64, 1)
		go func() {
			var out []uint64
			dst := make([]uint64, 13)
			for i := 0; len(out) < total; i++ {
				n, err := r.PopBatch(ctx, dst[:1+i%13])
				if err != nil {
					break
				}
				out = append(out, dst[:n]...)
			}
			got <- out
		}()
		shmtest.Within(t, edgeGuard, "PushBatch", func() error {
			for i := 0; i < total; {
				k := min(total-i, 1+i%21)
				n, err := r.PushBatch(ctx, all[i:i+k])
				if n != k || err != nil {
					t.Errorf("spsc %v: PushBatch of %d = %d, %v", spsc, k, n, err)
					return err
				}
				i += k
			}
			return nil
		})
		out := shmtest.Within(t, edgeGuard, "PopBatch", func() []uint64 { return <-got })
		if !slices.Equal(out, all) {
			t.Fatalf("spsc %v: batches delivered %d values, not in order", spsc, len(out))
		}
	}
}

// TestEdgeExactFit puts frames that need exactly the free cells, and one
// cell more, at every position of a small framed queue.
func TestEdgeExactFit(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel() // stops what a failed test leaves blocked
	q := mustNew(t, NewQueue[[]byte], 2)
	defer edgeFree(t, q.Free)
	q.SetCodec(rawCodec{})
	cells := int(q.c.l.cells)
	if cells != 8 || q.Cap() != 2 {
		t.Fatalf("%d cells, Cap %d, want 8 cells and 2", cells, q.Cap())
	}
	// size is the message length whose frame fills k cells to the byte.
	size := func(k int) int { return k*encodedCell - 4 }
	get := func(want []byte) {
		t.Helper()
		v, err := q.TryGet()
		if err != nil || !bytes.Equal(v, want) {
			t.Fatalf("TryGet = %d bytes, %v; want %d bytes", len(v), err, len(want))
		}
	}
	seed := 0
	for off := range cells {
		// Move both cursors to position off (mod cells) with one-cell
		// messages.
		for range off {
			if err := q.TryPut(nil); err != nil {
				t.Fatal(err)
			}
			get([]byte{})
		}
		for first := 1; first < cells; first++ {
			seed++
			a := edgeMsg(size(first), seed)
			if err := q.TryPut(a); err != nil {
				t.Fatalf("off %d: %d-cell message: %v", off, first, err)
			}
			free := cells - first
			tail := atomic.LoadUint64(q.c.tail)
			// One byte more needs one cell more than is free: full, not
			// too large, and nothing written.
			if err := q.TryPut(edgeMsg(size(free)+1, seed)); err != errFull {
				t.Fatalf("off %d, %d free: a frame of %d cells: %v, want ErrFull", off, free, free+1, err)
			}
			if atomic.LoadUint64(q.c.tail) != tail || q.Len() != 1 {
				t.Fatalf("a failed TryPut moved the tail or Len (%d)", q.Len())
			}
			b := edgeMsg(size(free), seed+1000)
			if err := q.TryPut(b); err != nil {
				t.Fatalf("off %d, %d free: a frame of exactly %d cells: %v", off, free, free, err)
			}
			if q.Len() != 2 {
				t.Fatalf("Len %d, want 2", q.Len())
			}
			if err := q.TryPut(nil); err != errFull {
				t.Fatalf("TryPut on a full framed queue: %v", err)
			}
			get(a)
			get(b)
			if _, err := q.TryGet(); err != errEmpty {
				t.Fatal(err)
			}
		}
		// The whole ring for one message, only when empty.
		whole := edgeMsg(size(cells), off)
		if err := q.TryPut(whole); err != nil {
			t.Fatalf("off %d: a frame of the whole ring: %v", off, err)
		}
		if err := q.TryPut(nil); err != errFull {
			t.Fatal(err)
		}
		get(whole)
		if err := q.TryPut(nil); err != nil {
			t.Fatal(err)
		}
		if err := q.TryPut(whole); err != errFull {
			t.Fatalf("a frame of the whole ring into a non-empty ring: %v, want ErrFull", err)
		}
		get([]byte{})
		// One byte more than the ring: too large, empty or not, at once
		// and without writing anything.
		over := edgeMsg(size(cells)+1, off)
		tail := atomic.LoadUint64(q.c.tail)
		if err := q.TryPut(over); !errors.Is(err, ErrTooLarge) {
			t.Fatalf("a frame larger than the ring: %v", err)
		}
		err := shmtest.Within(t, edgeGuard, "Put of a message larger than the ring", func() error {
			return q.Put(ctx, edgeMsg(10*cells*encodedCell, off))
		})
		if !errors.Is(err, ErrTooLarge) {
			t.Fatalf("Put of a message larger than the ring: %v", err)
		}
		if err := q.TryPut(nil); err != nil {
			t.Fatal(err)
		}
		if err := q.TryPut(over); !errors.Is(err, ErrTooLarge) {
			t.Fatalf("a frame larger than the ring into a non-empty ring: %v", err)
		}
		get([]byte{})
		if atomic.LoadUint64(q.c.tail) != tail+1 || !q.Empty() {
			t.Fatal("a message that was too large left something behind")
		}
	}

	// The same with gob: a string whose encoding fills the free cells to
	// the byte, if gob has one.
	g := mustNew(t, NewQueue[string], 2)
	defer edgeFree(t, g.Free)
	if err := g.TryPut("x"); err != nil {
		t.Fatal(err)
	}
	free := int(g.c.l.cells) - 1
	found := false
	for n := free*encodedCell - 40; n < free*encodedCell; n++ {
		s := string(edgeMsg(n, 5))
		b, _ := Gob[string]{}.Append(nil, &s)
		if len(b)+4 == free*encodedCell {
			found = true
			if err := g.TryPut(s + "y"); err != errFull {
				t.Fatalf("gob message one byte over the free space: %v", err)
			}
			if err := g.TryPut(s); err != nil {
				t.Fatalf("gob message of exactly the free space: %v", err)
			}
			if v, err := g.TryGet(); v != "x" || err != nil {
				t.Fatal(v, err)
			}
			if v, err := g.TryGet(); v != s || err != nil {
				t.Fatal(len(v), err)
			}
			break
		}
	}
	if !found {
		t.Log("no string encodes to exactly the free space")
	}
}

func TestEdgeShutdownDrain(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel() // stops what a failed test leaves blocked
	t.Run("plain", func(t *testing.T) {
		q := mustNew(t, NewQueue[uint64], 4)
		defer edgeFree(t, q.Free)
		edgeShutdownDrain(t, q, func(i int) uint64 { return uint64(i) })
	})
	t.Run("gob", func(t *testing.T) {
		q := mustNew(t, NewQueue[string], 1)
		defer edgeFree(t, q.Free)
		edgeShutdownDrain(t, q, strconv.Itoa)
	})
	// Shutdown lands between a Put's claim and the move of the tail (the
	// claim is cut off: ErrShutdown, nothing delivered), or after the move
	// (the Put delivers).
	for _, point := range []string{pointClaimed, pointWriting, pointPublish} {
		for _, plain := range []bool{true, false} {
			var put func() error
			var get func() error
			var shutQ func()
			var free func() error
			if plain {
				q := mustNew(t, NewQueue[uint64], 4)
				put = func() error { return q.Put(ctx, 7) }
				get = func() error { _, err := q.TryGet(); return err }
				shutQ, free = func() { q.Shutdown() }, q.Free
			} else {
				q := mustNew(t, NewQueue[string], 4)
				put = func() error { return q.Put(ctx, "seven") }
				get = func() error { _, err := q.TryGet(); return err }
				shutQ, free = func() { q.Shutdown() }, q.Free
			}
			var once sync.Once
			testHook = func(p string) {
				if p == point {
					once.Do(shutQ)
				}
			}
			err := put()
			testHook = nil
			first := get()
			switch {
			case point == pointClaimed && !errors.Is(err, ErrShutdown):
				t.Errorf("%s, plain %v: Put shut down after its claim: %v, want ErrShutdown", point, plain, err)
			case point != pointClaimed && err != nil:
				t.Errorf("%s, plain %v: Put shut down after it moved the tail: %v", point, plain, err)
			}
			if err == nil && first != nil {
				t.Errorf("%s, plain %v: the Put succeeded but Get found %v", point, plain, first)
			}
			if err != nil && !errors.Is(first, ErrShutdown) {
				t.Errorf("%s, plain %v: the Put failed but Get found %v", point, plain, first)
			}
			if err := get(); !errors.Is(err, ErrShutdown) {
				t.Errorf("%s, plain %v: Get after the drain: %v", point, plain, err)
			}
			free()
		}
	}
}

func edgeShutdownDrain[T comparable](t *testing.T, q *Queue[T], val func(int) T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel() // stops what a failed test leaves blocked
	// A Get blocked on an empty queue wakes on a Put.
	got := make(chan error, 1)
	go func() {
		v, err := q.Get(ctx)
		if err == nil && v != val(-5) {
			err = fmt.Errorf("Get = %v, want %v", v, val(-5))
		}
		got <- err
	}()
	if err := q.Put(ctx, val(-5)); err != nil {
		t.Fatal(err)
	}
	if err := shmtest.Within(t, edgeGuard, "Get", func() error { return <-got }); err != nil {
		t.Fatal(err)
	}
	// Fill it, with a Put blocked on the full queue.
	n := 0
	for ; q.TryPut(val(n)) == nil; n++ {
	}
	if n == 0 || q.IsShutdown() {
		t.Fatalf("room for %d messages", n)
	}
	drained := 0
	putErr := make(chan error, 1)
	go func() { putErr <- q.Put(ctx, val(-1)) }()
	if err := q.Shutdown(); err != nil {
		t.Fatal(err)
	}
	if err := shmtest.Within(t, edgeGuard, "Put blocked on a full queue, after Shutdown", func() error { return <-putErr }); !errors.Is(err, ErrShutdown) {
		t.Fatalf("a Put blocked on a full queue: %v after Shutdown, want ErrShutdown", err)
	}
	if err := q.Shutdown(); err != nil {
		t.Fatal("a second Shutdown:", err)
	}
	if !q.IsShutdown() {
		t.Fatal("IsShutdown is false after Shutdown")
	}
	if err := q.Put(ctx, val(0)); !errors.Is(err, ErrShutdown) {
		t.Fatalf("Put after Shutdown: %v", err)
	}
	if err := q.TryPut(val(0)); !errors.Is(err, ErrShutdown) {
		t.Fatalf("TryPut after Shutdown: %v", err)
	}
	for i := drained; i < n; i++ {
		v, err := q.Get(ctx)
		if err != nil || v != val(i) {
			t.Fatalf("Get %d after Shutdown = %v, %v", i, v, err)
		}
	}
	if _, err := q.TryGet(); !errors.Is(err, ErrShutdown) {
		t.Fatalf("TryGet after the drain: %v", err)
	}
	if _, err := q.Get(ctx); !errors.Is(err, ErrShutdown) {
		t.Fatalf("Get after the drain: %v", err)
	}
	// Every blocked Get of a shut-down, drained queue returns.
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for range 4 {
		wg.Go(func() { _, err := q.Get(ctx); errs <- err })
	}
	shmtest.Within(t, edgeGuard, "Gets of a shut-down queue", func() bool { wg.Wait(); return true })
	close(errs)
	for err := range errs {
		if !errors.Is(err, ErrShutdown) {
			t.Fatal(err)
		}
	}

	// A Get blocked when Shutdown comes wakes with ErrShutdown.
	q2 := mustNew(t, NewQueue[T], 2)
	defer edgeFree(t, q2.Free)
	blocked := make(chan error, 1)
	go func() { _, err := q2.Get(ctx); blocked <- err }()
	q2.Shutdown()
	if err := shmtest.Within(t, edgeGuard, "Get blocked on an empty queue, after Shutdown", func() error { return <-blocked }); !errors.Is(err, ErrShutdown) {
		t.Fatalf("a Get blocked on an empty queue: %v after Shutdown", err)
	}
}

func TestEdgeJoinable(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel() // stops what a failed test leaves blocked
	for _, plain := range []bool{true, false} {
		var q *JoinableQueue[fancy]
		var p *JoinableQueue[uint64]
		var err error
		var put func(int) error
		var get func() error
		var jq interface {
			TaskDone() error
			Join(context.Context) error
			Unfinished() int
		}
		var c *core
		if plain {
			p, err = NewJoinableQueue[uint64](8)
			if err != nil {
				t.Fatal(err)
			}
			defer edgeFree(t, p.Free)
			put = func(i int) error { return p.Put(ctx, uint64(i)) }
			get = func() error { _, err := p.Get(ctx); return err }
			jq, c = p, p.c
		} else {
			q, err = NewJoinableQueue[fancy](8)
			if err != nil {
				t.Fatal(err)
			}
			defer edgeFree(t, q.Free)
			put = func(i int) error { return q.Put(ctx, fancy{Name: strconv.Itoa(i)}) }
			get = func() error { _, err := q.Get(ctx); return err }
			jq, c = q, q.c
		}
		counters := func() [2]uint64 {
			b := c.o.Bytes()
			return [2]uint64{le.Uint64(b[offGets:]), le.Uint64(b[offDones:])}
		}
		cancelled, cancel := context.WithCancel(ctx)
		cancel()
		if err := jq.Join(cancelled); err != nil {
			t.Fatalf("plain %v: Join of an idle queue: %v", plain, err)
		}
		if err := jq.TaskDone(); err != ErrNegativeTaskDone {
			t.Fatalf("plain %v: TaskDone before any Get: %v", plain, err)
		}
		for i := range 5 {
			if err := put(i); err != nil {
				t.Fatal(err)
			}
		}
		if u := jq.Unfinished(); u != 5 {
			t.Fatalf("plain %v: Unfinished %d, want 5", plain, u)
		}
		joined := make(chan error, 1)
		go func() { joined <- jq.Join(ctx) }()
		for i := range 5 {
			if err := get(); err != nil {
				t.Fatal(err)
			}
			if u := jq.Unfinished(); u != 5 {
				t.Fatalf("plain %v: Unfinished %d after %d Gets, want 5", plain, u, i+1)
			}
		}
		if err := jq.TaskDone(); err != nil {
			t.Fatal(err)
		}
		before := counters()
		for k := 1; k < 5; k++ {
			if err := jq.Join(cancelled); err != context.Canceled {
				t.Fatalf("plain %v: Join(cancelled) with %d unfinished: %v", plain, jq.Unfinished(), err)
			}
			short, cancel := context.WithTimeout(ctx, time.Millisecond)
			err := jq.Join(short)
			cancel()
			if err != context.DeadlineExceeded {
				t.Fatalf("plain %v: Join with %d unfinished: %v", plain, jq.Unfinished(), err)
			}
			select {
			case err := <-joined:
				t.Fatalf("plain %v: Join returned %v with %d unfinished", plain, err, jq.Unfinished())
			default:
			}
			if jq.Unfinished() != 5-k {
				t.Fatalf("plain %v: Unfinished %d, want %d", plain, jq.Unfinished(), 5-k)
			}
			if err := jq.TaskDone(); err != nil {
				t.Fatal(err)
			}
		}
		if got := counters(); got != [2]uint64{before[0], before[1] + 4} {
			t.Fatalf("plain %v: counters %v, want gets %d, dones %d", plain, got, before[0], before[1]+4)
		}
		if err := shmtest.Within(t, edgeGuard, "Join", func() error { return <-joined }); err != nil {
			t.Fatalf("plain %v: Join: %v", plain, err)
		}
		before = counters()
		if err := jq.TaskDone(); err != ErrNegativeTaskDone {
			t.Fatalf("plain %v: a sixth TaskDone: %v", plain, err)
		}
		if got := counters(); got != before || jq.Unfinished() != 0 {
			t.Fatalf("plain %v: a refused TaskDone changed the counters: %v, was %v", plain, got, before)
		}
		if err := jq.Join(cancelled); err != nil {
			t.Fatalf("plain %v: Join when all is done: %v", plain, err)
		}
	}

	// OpenJoinableQueue and UnmarshalBinary refuse a queue that is not
	// joinable.
	seg := testSeg(t)
	q := mustNew(t, NewQueue[uint64], 4, shm.In(seg, "plain"))
	if _, err := OpenJoinableQueue[uint64](context.Background(), seg, "plain"); err == nil {
		t.Fatal("OpenJoinableQueue opened a queue that is not joinable")
	}
	h, _ := q.MarshalBinary()
	var j JoinableQueue[uint64]
	if err := j.UnmarshalBinary(h); err == nil {
		t.Fatal("JoinableQueue.UnmarshalBinary took a queue that is not joinable")
	}
	jq := mustNew(t, NewJoinableQueue[uint64], 4, shm.In(seg, "joinable"))
	jq.Put(ctx, 1)
	other, err := OpenJoinableQueue[uint64](context.Background(), seg, "joinable")
	if err != nil {
		t.Fatal(err)
	}
	if v, err := other.Get(ctx); v != 1 || err != nil {
		t.Fatal(v, err)
	}
	if jq.Unfinished() != 1 || jq.TaskDone() != nil || other.Unfinished() != 0 {
		t.Fatal("the counters are not shared between handles")
	}
}

func TestEdgePipe(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel() // stops what a failed test leaves blocked
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	a, b := newPipe[fancy](t, 2)
	// Poll with an ended context only looks.
	if ok, err := b.Poll(cancelled); ok || err != context.Canceled {
		t.Fatalf("Poll(cancelled) on nothing = %v, %v", ok, err)
	}
	if err := a.Send(ctx, fancy{Name: "one"}); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if ok, err := b.Poll(cancelled); !ok || err != nil {
			t.Fatalf("Poll(cancelled) with a message = %v, %v", ok, err)
		}
	}
	if ok, err := a.Poll(cancelled); ok || err != context.Canceled {
		t.Fatalf("Poll of the sending end = %v, %v", ok, err)
	}
	if v, err := b.Recv(ctx); v.Name != "one" || err != nil {
		t.Fatal(v, err)
	}
	// Poll wakes on Send.
	polled := make(chan error, 1)
	go func() {
		ok, err := b.Poll(ctx)
		if !ok && err == nil {
			err = errors.New("Poll = false, nil")
		}
		polled <- err
	}()
	a.Send(ctx, fancy{Name: "two"})
	if err := shmtest.Within(t, edgeGuard, "Poll", func() error { return <-polled }); err != nil {
		t.Fatal(err)
	}
	a.Send(ctx, fancy{Name: "three"})
	// A Recv blocked at the other end, and a Poll, wake when the end
	// closes: what it sent first, then the end of the stream.
	if err := b.Send(ctx, fancy{Name: "four"}); err != nil {
		t.Fatal(err)
	}
	if v, err := a.Recv(ctx); v.Name != "four" || err != nil {
		t.Fatalf("Recv = %v, %v; want four", v, err)
	}
	recvd := make(chan error, 1)
	go func() { _, err := a.Recv(ctx); recvd <- err }()
	go func() {
		ok, err := a.Poll(ctx)
		if !ok && err == nil {
			err = errors.New("Poll = false, nil")
		}
		polled <- err
	}()
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if err := shmtest.Within(t, edgeGuard, "Recv after the other end's Close", func() error { return <-recvd }); err != io.EOF {
		t.Fatalf("a Recv blocked when the other end closed: %v, want io.EOF", err)
	}
	if err := shmtest.Within(t, edgeGuard, "Poll after the other end's Close", func() error { return <-polled }); err != nil {
		t.Fatal(err)
	}
	if err := a.Send(ctx, fancy{}); !errors.Is(err, io.ErrClosedPipe) {
		t.Fatalf("Send to a closed end: %v", err)
	}
	if ok, err := a.Poll(cancelled); !ok || err != nil {
		t.Fatalf("Poll(cancelled) at the end of the stream = %v, %v", ok, err)
	}
	for range 2 {
		if _, err := a.Recv(ctx); err != io.EOF {
			t.Fatalf("Recv at the end of the stream: %v, want io.EOF", err)
		}
	}
	// The closed handle itself fails (what a sent to it, "two" and
	// "three", is for another handle of its end).
	if err := b.Send(ctx, fancy{}); !errors.Is(err, ErrClosed) {
		t.Fatalf("Send through a closed handle: %v", err)
	}
	if _, err := b.Recv(ctx); !errors.Is(err, ErrClosed) {
		t.Fatalf("Recv through a closed handle: %v", err)
	}
	if ok, err := b.Poll(ctx); ok || !errors.Is(err, ErrClosed) {
		t.Fatalf("Poll through a closed handle: %v, %v", ok, err)
	}
	if _, err := b.MarshalBinary(); !errors.Is(err, ErrClosed) {
		t.Fatalf("MarshalBinary of a closed handle: %v", err)
	}
	if err := b.Close(); err != nil {
		t.Fatal("a second Close:", err)
	}
	// A Recv blocked on a handle wakes when that handle closes.
	c, d := newPipe[fancy](t, 2)
	defer d.Free()
	go func() { _, err := c.Recv(ctx); recvd <- err }()
	go func() { _, err := c.Poll(ctx); polled <- err }()
	c.Close()
	if err := shmtest.Within(t, edgeGuard, "Recv after its handle's Close", func() error { return <-recvd }); !errors.Is(err, ErrClosed) {
		t.Fatalf("a Recv blocked when its handle closed: %v, want ErrClosed", err)
	}
	if err := shmtest.Within(t, edgeGuard, "Poll after its handle's Close", func() error { return <-polled }); !errors.Is(err, ErrClosed) {
		t.Fatalf("a Poll blocked when its handle closed: %v, want ErrClosed", err)
	}
	if err := a.Free(); err != nil {
		t.Fatal(err)
	}
}

// TestEdgeCancel: every blocking call returns ctx.Err() when its context
// ends while it waits, and has done nothing.
func TestEdgeCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel() // stops what a failed test leaves blocked
	expired := func() context.Context {
		c, cancel := context.WithTimeout(ctx, time.Millisecond)
		t.Cleanup(cancel)
		return c
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	wantErr := func(what string, err error, want error) {
		t.Helper()
		if err != want {
			t.Fatalf("%s: %v, want %v", what, err, want)
		}
	}
	for _, spsc := range []bool{true, false} {
		mk := NewRing[uint64]
		if spsc {
			mk = NewSPSCRing[uint64]
		}
		r, err := mk(4)
		if err != nil {
			t.Fatal(err)
		}
		defer edgeFree(t, r.Free)
		_, err = r.Pop(expired())
		wantErr("Pop", err, context.DeadlineExceeded)
		_, err = r.Pop(cancelled)
		wantErr("Pop(cancelled)", err, context.Canceled)
		n, err := r.PopBatch(expired(), make([]uint64, 3))
		wantErr("PopBatch", err, context.DeadlineExceeded)
		if n != 0 {
			t.Fatalf("PopBatch took %d", n)
		}
		if n, err := r.TryPushBatch([]uint64{1, 2, 3}); n != 3 || err != nil {
			t.Fatal(n, err)
		}
		n, err = r.PushBatch(expired(), []uint64{4, 5, 6})
		wantErr("PushBatch", err, context.DeadlineExceeded)
		if n != 1 || r.Len() != 4 {
			t.Fatalf("PushBatch into room for 1 added %d (Len %d)", n, r.Len())
		}
		wantErr("Push", r.Push(expired(), 9), context.DeadlineExceeded)
		wantErr("Push(cancelled)", r.Push(cancelled, 9), context.Canceled)
		n, err = r.PushBatch(cancelled, []uint64{7})
		wantErr("PushBatch(cancelled)", err, context.Canceled)
		if n != 0 {
			t.Fatalf("PushBatch with a cancelled context added %d", n)
		}
		dst := make([]uint64, 8)
		if n, err := r.TryPopBatch(dst); n != 4 || err != nil || !slices.Equal(dst[:4], []uint64{1, 2, 3, 4}) {
			t.Fatalf("after cancelled pushes the ring holds %v (%v)", dst[:n], err)
		}
	}
	p := mustNew(t, NewQueue[uint64], 2)
	defer edgeFree(t, p.Free)
	_, err := p.Get(expired())
	wantErr("plain Get", err, context.DeadlineExceeded)
	p.TryPut(1)
	p.TryPut(2)
	wantErr("plain Put", p.Put(expired(), 3), context.DeadlineExceeded)
	g := mustNew(t, NewQueue[string], 1)
	defer edgeFree(t, g.Free)
	_, err = g.Get(expired())
	wantErr("gob Get", err, context.DeadlineExceeded)
	for g.TryPut("x") == nil {
	}
	wantErr("gob Put", g.Put(expired(), "y"), context.DeadlineExceeded)
	for i, want := range []uint64{1, 2} {
		if v, err := p.TryGet(); v != want || err != nil {
			t.Fatalf("plain queue message %d: %v, %v", i, v, err)
		}
	}
	for g.Len() > 0 {
		if v, err := g.TryGet(); v != "x" || err != nil {
			t.Fatal(v, err)
		}
	}
	a, b := newPipe[string](t, 1)
	_, err = b.Recv(expired())
	wantErr("Recv", err, context.DeadlineExceeded)
	ok, err := b.Poll(expired())
	wantErr("Poll", err, context.DeadlineExceeded)
	if ok {
		t.Fatal("Poll = true on nothing")
	}
	for a.Send(cancelled, "x") == nil {
	}
	wantErr("Send", a.Send(expired(), "y"), context.DeadlineExceeded)
	j := mustNew(t, NewJoinableQueue[uint64], 2)
	defer edgeFree(t, j.Free)
	j.Put(ctx, 1)
	wantErr("Join", j.Join(expired()), context.DeadlineExceeded)
}

// edgeLoss sends the numbers 0..total-1 through put by producers
// goroutines and takes them with get by consumers goroutines, every call
// with a short random deadline (some already ended); a call that failed
// with its context's error is retried. Once the producers are done and the
// consumers have stopped, drain takes what is left. Every number must
// arrive exactly once.
func edgeLoss(t *testing.T, what string, total, producers, consumers int,
	put func(ctx context.Context, vs []uint64) (int, error),
	get func(ctx context.Context, dst []uint64) (int, error),
	drain func() []uint64,
) {
	t.Helper()
	deadline := func(rng *rand.Rand) (context.Context, context.CancelFunc) {
		if rng.IntN(20) == 0 {
			c, cancel := context.WithCancel(context.Background())
			cancel()
			return c, cancel
		}
		return context.WithTimeout(context.Background(), time.Duration(rng.IntN(300))*time.Microsecond)
	}
	isCtx := func(err error) bool {
		return errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled)
	}
	var stop atomic.Bool
	defer stop.Store(true) // a failed test's goroutines stop too
	var failed atomic.Value
	fail := func(err error) { failed.CompareAndSwap(nil, err) }
	got := make([][]uint64, consumers)
	var cw, pw sync.WaitGroup
	for c := range consumers {
		cw.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(c), 77))
			dst := make([]uint64, 8)
			for !stop.Load() {
				ctx, cancel := deadline(rng)
				n, err := get(ctx, dst[:1+rng.IntN(len(dst))])
				cancel()
				got[c] = append(got[c], dst[:n]...)
				if err != nil && !isCtx(err) {
					fail(fmt.Errorf("%s: get: %w", what, err))
					return
				}
				if err != nil && n > 0 {
					fail(fmt.Errorf("%s: get took %d values and failed: %w", what, n, err))
					return
				}
			}
		})
	}
	for p := range producers {
		pw.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(p), 99))
			var mine []uint64
			for v := p; v < total; v += producers {
				mine = append(mine, uint64(v))
			}
			for len(mine) > 0 && failed.Load() == nil && !stop.Load() {
				ctx, cancel := deadline(rng)
				n, err := put(ctx, mine[:min(len(mine), 1+rng.IntN(6))])
				cancel()
				mine = mine[n:]
				if err != nil && !isCtx(err) {
					fail(fmt.Errorf("%s: put: %w", what, err))
					return
				}
			}
		})
	}
	shmtest.Within(t, 2*edgeGuard, what+": producers", func() bool { pw.Wait(); return true })
	stop.Store(true)
	shmtest.Within(t, edgeGuard, what+": consumers", func() bool { cw.Wait(); return true })
	if err := failed.Load(); err != nil {
		t.Fatal(err)
	}
	seen := make([]int, total)
	for _, g := range append(got, drain()) {
		for _, v := range g {
			if v >= uint64(total) {
				t.Fatalf("%s: received %d, never sent", what, v)
			}
			seen[v]++
		}
	}
	for v, n := range seen {
		if n != 1 {
			t.Fatalf("%s: %d received %d times", what, v, n)
		}
	}
}

func TestEdgeCancelNoLoss(t *testing.T) {
	total := 20000
	if raceEnabled {
		total = 10000
	}
	one := func(f func(ctx context.Context, v uint64) error) func(context.Context, []uint64) (int, error) {
		return func(ctx context.Context, vs []uint64) (int, error) {
			if err := f(ctx, vs[0]); err != nil {
				return 0, err
			}
			return 1, nil
		}
	}
	take := func(f func(ctx context.Context) (uint64, error)) func(context.Context, []uint64) (int, error) {
		return func(ctx context.Context, dst []uint64) (int, error) {
			v, err := f(ctx)
			if err != nil {
				return 0, err
			}
			dst[0] = v
			return 1, nil
		}
	}
	drainWith := func(f func() (uint64, error)) func() []uint64 {
		return func() []uint64 {
			var out []uint64
			for {
				v, err := f()
				if err != nil {
					if err != errEmpty && !errors.Is(err, ErrClosed) && !errors.Is(err, io.EOF) {
						t.Errorf("drain: %v", err)
					}
					return out
				}
				out = append(out, v)
			}
		}
	}
	t.Run("ring", func(t *testing.T) {
		r := mustNew(t, NewRing[uint64], 4)
		defer edgeFree(t, r.Free)
		edgeLoss(t, "Push/Pop", total, 3, 3, one(r.Push), take(r.Pop), drainWith(r.TryPop))
		edgeLoss(t, "PushBatch/PopBatch", total, 3, 3, r.PushBatch, r.PopBatch, drainWith(r.TryPop))
	})
	t.Run("spsc", func(t *testing.T) {
		r := mustNew(t, NewSPSCRing[uint64], 4)
		defer edgeFree(t, r.Free)
		edgeLoss(t, "SPSC Push/Pop", total, 1, 1, one(r.Push), take(r.Pop), drainWith(r.TryPop))
		edgeLoss(t, "SPSC PushBatch/PopBatch", total, 1, 1, r.PushBatch, r.PopBatch, drainWith(r.TryPop))
	})
	t.Run("plain queue", func(t *testing.T) {
		q := mustNew(t, NewQueue[uint64], 4)
		defer edgeFree(t, q.Free)
		edgeLoss(t, "Put/Get", total, 3, 3, one(q.Put), take(q.Get), drainWith(q.TryGet))
	})
	t.Run("gob queue", func(t *testing.T) {
		q := mustNew(t, NewQueue[fancy], 1)
		defer edgeFree(t, q.Free)
		put := func(ctx context.Context, v uint64) error { return q.Put(ctx, fancy{Name: strconv.FormatUint(v, 10)}) }
		get := func(ctx context.Context) (uint64, error) {
			v, err := q.Get(ctx)
			if err != nil {
				return 0, err
			}
			return strconv.ParseUint(v.Name, 10, 64)
		}
		edgeLoss(t, "gob Put/Get", total/4, 3, 3, one(put), take(get), drainWith(func() (uint64, error) {
			v, err := q.TryGet()
			if err != nil {
				return 0, err
			}
			return strconv.ParseUint(v.Name, 10, 64)
		}))
	})
	t.Run("pipe", func(t *testing.T) {
		a, b := newPipe[uint64](t, 2)
		recv := func(ctx context.Context) (uint64, error) {
			// Poll first, under the same deadline: a true Poll promises a
			// message to someone, not to us.
			if ok, err := b.Poll(ctx); !ok {
				return 0, err
			}
			return b.Recv(ctx)
		}
		edgeLoss(t, "Send/Recv", total, 2, 2, one(a.Send), take(recv), drainWith(func() (uint64, error) {
			c, cancel := context.WithCancel(context.Background())
			cancel()
			v, err := b.Recv(c)
			if err == context.Canceled {
				err = errEmpty
			}
			return v, err
		}))
	})
	t.Run("join", func(t *testing.T) {
		q := mustNew(t, NewJoinableQueue[uint64], 4)
		defer edgeFree(t, q.Free)
		n := total / 2
		var taken atomic.Int64
		var wg sync.WaitGroup
		defer q.Shutdown() // the consumers stop, also when the test fails
		for c := range 3 {
			wg.Go(func() {
				rng := rand.New(rand.NewPCG(uint64(c), 5))
				for {
					ctx, cancel := context.WithTimeout(context.Background(), time.Duration(rng.IntN(300))*time.Microsecond)
					_, err := q.Get(ctx)
					cancel()
					if errors.Is(err, ErrShutdown) {
						return
					}
					if err == nil {
						taken.Add(1)
						if err := q.TaskDone(); err != nil {
							t.Error(err)
							return
						}
					}
				}
			})
		}
		for i := range n {
			if err := shmtest.Within(t, edgeGuard, "Put", func() error { return q.Put(context.Background(), uint64(i)) }); err != nil {
				t.Fatal(err)
			}
		}
		rng := rand.New(rand.NewPCG(9, 9))
		joined := shmtest.Within(t, edgeGuard, "Join", func() int {
			for tries := 1; ; tries++ {
				ctx, cancel := context.WithTimeout(context.Background(), time.Duration(rng.IntN(300))*time.Microsecond)
				err := q.Join(ctx)
				cancel()
				if err == nil {
					return tries
				}
				if err != context.DeadlineExceeded {
					t.Error(err)
					return tries
				}
			}
		})
		if got := taken.Load(); got != int64(n) {
			t.Fatalf("Join returned (after %d tries) with %d of %d messages done", joined, got, n)
		}
		q.Shutdown()
		shmtest.Within(t, edgeGuard, "consumers", func() bool { wg.Wait(); return true })
	})
}

func TestEdgeSpin(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel() // stops what a failed test leaves blocked
	total := 20000
	if raceEnabled {
		total = 2000
	}
	for _, spsc := range []bool{true, false} {
		mk := NewRing[uint64]
		if spsc {
			mk = NewSPSCRing[uint64]
		}
		r, err := mk(4)
		if err != nil {
			t.Fatal(err)
		}
		defer edgeFree(t, r.Free)
		r.SetSpin(true)
		short, cancel := context.WithTimeout(ctx, 5*time.Millisecond)
		if _, err := r.Pop(short); err != context.DeadlineExceeded {
			t.Fatalf("spinning Pop on empty: %v", err)
		}
		cancel()
		if _, err := r.PopBatch(short, make([]uint64, 2)); err != context.DeadlineExceeded {
			t.Fatalf("spinning PopBatch on empty: %v", err)
		}
		for r.TryPush(0) == nil {
		}
		short, cancel = context.WithTimeout(ctx, 5*time.Millisecond)
		if err := r.Push(short, 1); err != context.DeadlineExceeded {
			t.Fatalf("spinning Push on full: %v", err)
		}
		cancel()
		if _, err := r.PushBatch(short, []uint64{1}); err != context.DeadlineExceeded {
			t.Fatalf("spinning PushBatch on full: %v", err)
		}
		dst := make([]uint64, 4)
		r.TryPopBatch(dst)
		done := make(chan error, 1)
		go func() {
			for i := range total {
				if err := r.Push(ctx, uint64(i)); err != nil {
					done <- err
					return
				}
			}
			done <- nil
		}()
		shmtest.Within(t, edgeGuard, "spinning Pop", func() bool {
			for i := range total {
				if v, err := r.Pop(ctx); v != uint64(i) || err != nil {
					t.Errorf("spsc %v: spinning Pop = %d, %v; want %d", spsc, v, err, i)
					return false
				}
			}
			return true
		})
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	q := mustNew(t, NewQueue[string], 1)
	defer edgeFree(t, q.Free)
	q.SetSpin(true)
	short, cancel := context.WithTimeout(ctx, 5*time.Millisecond)
	defer cancel()
	if _, err := q.Get(short); err != context.DeadlineExceeded {
		t.Fatalf("spinning Get on empty: %v", err)
	}
	go func() {
		for i := range total / 10 {
			q.Put(ctx, strconv.Itoa(i))
		}
		q.Shutdown()
	}()
	shmtest.Within(t, edgeGuard, "spinning Get", func() bool {
		for i := 0; ; i++ {
			v, err := q.Get(ctx)
			if errors.Is(err, ErrShutdown) && i == total/10 {
				return true
			}
			if err != nil || v != strconv.Itoa(i) {
				t.Errorf("spinning Get = %q, %v; want %d", v, err, i)
				return false
			}
		}
	})
	a, b := newPipe[string](t, 1)
	b.SetSpin(true)
	short, cancel = context.WithTimeout(ctx, 5*time.Millisecond)
	defer cancel()
	if ok, err := b.Poll(short); ok || err != context.DeadlineExceeded {
		t.Fatalf("spinning Poll on nothing: %v, %v", ok, err)
	}
	go func() { a.Send(ctx, "hello"); a.Close() }()
	if err := shmtest.Within(t, edgeGuard, "spinning Poll", func() error {
		_, err := b.Poll(ctx)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if v, err := b.Recv(ctx); v != "hello" || err != nil {
		t.Fatal(v, err)
	}
	if err := shmtest.Within(t, edgeGuard, "spinning Recv", func() error {
		_, err := b.Recv(ctx)
		return err
	}); err != io.EOF {
		t.Fatalf("spinning Recv after Close: %v", err)
	}
}

func TestEdgeBadInput(t *testing.T) {
	for _, n := range []int{0, -1, -1 << 40} {
		checks := map[string]error{}
		_, checks["NewRing"] = NewRing[uint64](n)
		_, checks["NewSPSCRing"] = NewSPSCRing[uint64](n)
		_, checks["NewQueue plain"] = NewQueue[uint64](n)
		_, checks["NewQueue gob"] = NewQueue[fancy](n)
		_, checks["NewJoinableQueue"] = NewJoinableQueue[fancy](n)
		_, _, checks["Pipe"] = Pipe[fancy](n)
		for what, err := range checks {
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("%s(%d): %v, want ErrInvalid", what, n, err)
			}
		}
	}
	for what, err := range map[string]error{
		"NewRing, too large":  second(NewRing[uint64](MaxCells + 1)),
		"NewQueue, too large": second(NewQueue[fancy](MaxCells)),
	} {
		if !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: %v, want ErrInvalid", what, err)
		}
	}
	// Rings hold plain values only.
	if _, err := NewRing[fancy](4); err == nil {
		t.Error("NewRing of a struct with a string and a slice")
	}
	if _, err := NewSPSCRing[*int](4); err == nil {
		t.Error("NewSPSCRing of pointers")
	}
	if _, err := NewRing[string](4); err == nil {
		t.Error("NewRing of strings")
	}
	if _, err := NewRing[struct{}](4); err == nil {
		t.Error("NewRing of a zero-size type")
	}

	seg := testSeg(t)
	mustNew(t, NewRing[uint64], 4, shm.In(seg, "ring"))
	mustNew(t, NewQueue[uint64], 4, shm.In(seg, "plain"))
	mustNew(t, NewQueue[fancy], 4, shm.In(seg, "gob"))
	newPipe[fancy](t, 4, shm.In(seg, "pipe"))
	for what, err := range map[string]error{
		"OpenRing[uint32]":       second(OpenRing[uint32](context.Background(), seg, "ring")),
		"OpenRing[int64]":        second(OpenRing[int64](context.Background(), seg, "ring")),
		"OpenQueue[uint32]":      second(OpenQueue[uint32](context.Background(), seg, "plain")),
		"OpenQueue[string]":      second(OpenQueue[string](context.Background(), seg, "plain")),
		"OpenQueue[string] gob":  second(OpenQueue[string](context.Background(), seg, "gob")),
		"OpenQueue[uint64] gob":  second(OpenQueue[uint64](context.Background(), seg, "gob")),
		"OpenJoinableQueue[int]": second(OpenJoinableQueue[int](context.Background(), seg, "plain")),
		"OpenPipe[string]":       third(OpenPipe[string](context.Background(), seg, "pipe")),
	} {
		if !errors.Is(err, shm.ErrLayout) {
			t.Errorf("%s: %v, want shm.ErrLayout", what, err)
		}
	}
	for what, err := range map[string]error{
		"OpenRing of a queue":          second(OpenRing[uint64](context.Background(), seg, "plain")),
		"OpenQueue of a ring":          second(OpenQueue[uint64](context.Background(), seg, "ring")),
		"OpenJoinableQueue, plain":     second(OpenJoinableQueue[uint64](context.Background(), seg, "plain")),
		"OpenJoinableQueue, gob":       second(OpenJoinableQueue[fancy](context.Background(), seg, "gob")),
		"OpenPipe of a queue":          third(OpenPipe[fancy](context.Background(), seg, "gob")),
		"OpenRing with an empty name":  second(OpenRing[uint64](context.Background(), seg, "")),
		"OpenQueue with an empty name": second(OpenQueue[uint64](context.Background(), seg, "")),
	} {
		if err == nil {
			t.Errorf("%s succeeded", what)
		}
	}
	// A name that never appears: the open waits until its context ends.
	short, cancelShort := context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancelShort()
	if _, err := OpenQueue[uint64](short, seg, "nothing"); !errors.Is(err, shm.ErrNotExist) || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("OpenQueue, no such name: %v, want shm.ErrNotExist and context.DeadlineExceeded", err)
	}
	for what, err := range map[string]error{
		"OpenRing":          second(OpenRing[uint64](context.Background(), nil, "ring")),
		"OpenQueue":         second(OpenQueue[uint64](context.Background(), nil, "plain")),
		"OpenJoinableQueue": second(OpenJoinableQueue[uint64](context.Background(), nil, "plain")),
		"OpenPipe":          third(OpenPipe[fancy](context.Background(), nil, "pipe")),
	} {
		if !errors.Is(err, ErrInvalid) {
			t.Errorf("%s(nil segment): %v, want ErrInvalid", what, err)
		}
	}

	// UnmarshalBinary of garbage, of a truncated handle and of a handle of
	// something else: an error, never a panic.
	r, _ := OpenRing[uint64](context.Background(), seg, "ring")
	q, _ := OpenQueue[fancy](context.Background(), seg, "gob")
	a, _, _ := OpenPipe[fancy](context.Background(), seg, "pipe")
	rh, _ := r.MarshalBinary()
	qh, _ := q.MarshalBinary()
	ah, _ := a.MarshalBinary()
	inputs := [][]byte{nil, {}, {0}, {1}, bytes.Repeat([]byte{0xff}, 100), []byte("shmkit"), rh[:len(rh)/2], qh[:len(qh)-1], ah[:len(ah)-1]}
	rng := rand.New(rand.NewPCG(3, 4))
	for range 200 {
		for _, h := range [][]byte{rh, qh, ah} {
			b := bytes.Clone(h)
			for range 1 + rng.IntN(3) {
				b[rng.IntN(len(b))] ^= byte(1 + rng.IntN(255))
			}
			inputs = append(inputs, b)
		}
	}
	for _, b := range inputs {
		// A corrupted handle may still name a live object: only a panic or
		// a wrong kind accepted is wrong here.
		var r2 Ring[uint64]
		var r3 Ring[uint32]
		var q2 Queue[fancy]
		var q3 Queue[uint64]
		var j2 JoinableQueue[fancy]
		var c2 Conn[fancy]
		r2.UnmarshalBinary(b)
		r3.UnmarshalBinary(b)
		q2.UnmarshalBinary(b)
		q3.UnmarshalBinary(b)
		j2.UnmarshalBinary(b)
		c2.UnmarshalBinary(b)
	}
	for _, b := range inputs[:9] {
		var r2 Ring[uint64]
		var q2 Queue[fancy]
		var c2 Conn[fancy]
		if r2.UnmarshalBinary(b) == nil || q2.UnmarshalBinary(b) == nil || c2.UnmarshalBinary(b) == nil {
			t.Errorf("UnmarshalBinary accepted %x", b)
		}
	}
	var r3 Ring[uint32]
	var q3 Queue[uint64]
	var q4 Queue[fancy]
	var c3 Conn[string]
	var c4 Conn[fancy]
	var j JoinableQueue[fancy]
	for what, err := range map[string]error{
		"Ring[uint32] of a Ring[uint64]":    r3.UnmarshalBinary(rh),
		"Queue[uint64] of a Queue[fancy]":   q3.UnmarshalBinary(qh),
		"Queue[fancy] of a Ring[uint64]":    q4.UnmarshalBinary(rh),
		"Conn[string] of a Conn[fancy]":     c3.UnmarshalBinary(ah),
		"Conn[fancy] of a Queue[fancy]":     c4.UnmarshalBinary(append(bytes.Clone(qh), ah[len(ah)-connTail:]...)),
		"Conn[fancy] with a bad end":        c4.UnmarshalBinary(edgeSet(ah, len(ah)-connTail, 2)),
		"Conn[fancy] with a bad slot":       c4.UnmarshalBinary(edgeSet(ah, len(ah)-connTail+1, MaxHolders)),
		"Conn[fancy] with a holder's word":  c4.UnmarshalBinary(edgeSet(ah, len(ah)-8, ah[len(ah)-8]&^1)),
		"JoinableQueue of a plain Queue":    j.UnmarshalBinary(qh),
		"Ring[uint64] of a Queue[fancy]":    new(Ring[uint64]).UnmarshalBinary(qh),
		"Queue[fancy] of a Conn[fancy]":     q4.UnmarshalBinary(ah[:len(ah)-connTail]),
		"JoinableQueue of a Ring[uint64]":   new(JoinableQueue[uint64]).UnmarshalBinary(rh),
		"Conn[fancy] of nothing but an end": c4.UnmarshalBinary([]byte{0}),
	} {
		if err == nil {
			t.Errorf("UnmarshalBinary: %s accepted", what)
		}
	}
	// The right handles still work.
	var q5 Queue[fancy]
	var c5 Conn[fancy]
	if err := q5.UnmarshalBinary(qh); err != nil {
		t.Fatal(err)
	}
	if err := c5.UnmarshalBinary(ah); err != nil {
		t.Fatal(err)
	}
}

func second[A any](_ A, err error) error { return err }

// edgeSet is a copy of b with byte i set to v.
func edgeSet(b []byte, i int, v byte) []byte {
	b = bytes.Clone(b)
	b[i] = v
	return b
}

func third[A, B any](_ A, _ B, err error) error { return err }

func TestEdgeZeroAllocs(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel() // stops what a failed test leaves blocked
	check := func(what string, f func()) {
		t.Helper()
		n := testing.AllocsPerRun(1000, f)
		switch {
		case n == 0:
		case raceEnabled:
			// The race detector's happens-before bookkeeping (internal/hb)
			// allocates on every release.
			t.Logf("%s: %v allocations under -race", what, n)
		default:
			t.Errorf("%s: %v allocations", what, n)
		}
	}
	for _, spsc := range []bool{true, false} {
		mk := NewRing[uint64]
		if spsc {
			mk = NewSPSCRing[uint64]
		}
		r, err := mk(8)
		if err != nil {
			t.Fatal(err)
		}
		defer edgeFree(t, r.Free)
		r.TryPush(1) // registration
		r.TryPop()
		what := fmt.Sprintf("spsc %v: ", spsc)
		check(what+"TryPush+TryPop", func() {
			if r.TryPush(1) != nil {
				panic("TryPush")
			}
			if _, err := r.TryPop(); err != nil {
				panic("TryPop")
			}
		})
		check(what+"Push+Pop", func() {
			if r.Push(ctx, 1) != nil {
				panic("Push")
			}
			if _, err := r.Pop(ctx); err != nil {
				panic("Pop")
			}
		})
		vs, dst := []uint64{1, 2, 3}, make([]uint64, 4)
		check(what+"TryPushBatch+TryPopBatch", func() {
			if n, _ := r.TryPushBatch(vs); n != 3 {
				panic("TryPushBatch")
			}
			if n, _ := r.TryPopBatch(dst); n != 3 {
				panic("TryPopBatch")
			}
		})
	}
	q := mustNew(t, NewQueue[uint64], 8)
	defer edgeFree(t, q.Free)
	q.Put(ctx, 1)
	q.Get(ctx)
	check("plain Queue Put+Get", func() {
		if q.Put(ctx, 1) != nil {
			panic("Put")
		}
		if _, err := q.Get(ctx); err != nil {
			panic("Get")
		}
	})
	check("plain Queue TryPut+TryGet", func() {
		if q.TryPut(1) != nil {
			panic("TryPut")
		}
		if _, err := q.TryGet(); err != nil {
			panic("TryGet")
		}
	})
}

// TestEdgeManyGoroutines: producers and consumers goroutines of one process
// on one multi-producer ring and one gob queue; every message delivered
// exactly once, each producer's in order.
func TestEdgeManyGoroutines(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel() // stops what a failed test leaves blocked
	total, gobTotal := 200_000, 50_000
	if raceEnabled {
		total, gobTotal = 200_000, 20_000
	}
	const producers, consumers = 8, 8
	run := func(what string, total int, put func(p, i int) error, get func() (p, i int, err error)) {
		var pw, cw sync.WaitGroup
		for p := range producers {
			pw.Go(func() {
				for i := p; i < total; i += producers {
					if err := put(p, i); err != nil {
						t.Errorf("%s: put: %v", what, err)
						return
					}
				}
			})
		}
		got := make([][]int, consumers)
		for c := range consumers {
			cw.Go(func() {
				last := make([]int, producers)
				for i := range last {
					last[i] = -1
				}
				for {
					p, i, err := get()
					if err != nil {
						if !errors.Is(err, ErrShutdown) {
							t.Errorf("%s: get: %v", what, err)
						}
						return
					}
					if i%producers != p || i <= last[p] {
						t.Errorf("%s: consumer %d got %d from producer %d after %d", what, c, i, p, last[p])
						return
					}
					last[p] = i
					got[c] = append(got[c], i)
				}
			})
		}
		shmtest.Within(t, 2*edgeGuard, what+": producers", func() bool { pw.Wait(); return true })
		shmtest.Within(t, edgeGuard, what+": consumers", func() bool { cw.Wait(); return true })
		seen := make([]bool, total)
		n := 0
		for _, g := range got {
			for _, i := range g {
				if seen[i] {
					t.Fatalf("%s: %d received twice", what, i)
				}
				seen[i] = true
				n++
			}
		}
		if n != total {
			t.Fatalf("%s: %d of %d received", what, n, total)
		}
	}

	// The ring has no Shutdown: consumers stop at a sentinel per consumer.
	r := mustNew(t, NewRing[[2]uint32], 64)
	defer edgeFree(t, r.Free)
	var left atomic.Int64
	left.Store(producers)
	run("ring", total, func(p, i int) error {
		err := r.Push(ctx, [2]uint32{uint32(p), uint32(i)})
		if err == nil && i+producers >= total && left.Add(-1) == 0 {
			for range consumers {
				if err := r.Push(ctx, [2]uint32{^uint32(0), 0}); err != nil {
					return err
				}
			}
		}
		return err
	}, func() (int, int, error) {
		v, err := r.Pop(ctx)
		if err != nil {
			return 0, 0, err
		}
		if v[0] == ^uint32(0) {
			return 0, 0, ErrShutdown
		}
		return int(v[0]), int(v[1]), nil
	})

	q := mustNew(t, NewQueue[fancy], 16)
	defer edgeFree(t, q.Free)
	left.Store(producers)
	run("gob queue", gobTotal, func(p, i int) error {
		err := q.Put(ctx, fancy{Name: strconv.Itoa(i), Tags: []string{strconv.Itoa(p)}})
		if err == nil && i+producers >= gobTotal && left.Add(-1) == 0 {
			q.Shutdown()
		}
		return err
	}, func() (int, int, error) {
		v, err := q.Get(ctx)
		if err != nil {
			return 0, 0, err
		}
		i, err := strconv.Atoi(v.Name)
		if err != nil || len(v.Tags) != 1 {
			return 0, 0, fmt.Errorf("message %+v", v)
		}
		p, err := strconv.Atoi(v.Tags[0])
		return p, i, err
	})
}

// TestEdgeProducerSlot: every handle of one process on one ring pushes
// through the same slot of the producer table.
func TestEdgeProducerSlot(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel() // stops what a failed test leaves blocked
	seg := testSeg(t)
	me, err := owner.Me()
	if err != nil {
		t.Fatal(err)
	}
	slots := func(c *core) []int {
		var used []int
		for i := range c.table {
			if w := atomic.LoadUint64(&c.table[i]); w != 0 {
				if w != me {
					t.Fatalf("slot %d holds %#x, not this process (%#x)", i, w, me)
				}
				used = append(used, i)
			}
		}
		return used
	}
	q := mustNew(t, NewQueue[fancy], 8, shm.In(seg, "q"))
	q2, err := OpenQueue[fancy](context.Background(), seg, "q")
	if err != nil {
		t.Fatal(err)
	}
	h, _ := q.MarshalBinary()
	var q3 Queue[fancy]
	if err := q3.UnmarshalBinary(h); err != nil {
		t.Fatal(err)
	}
	if s := slots(q.c); len(s) != 0 {
		t.Fatalf("slots %v taken before any Put", s)
	}
	for i, x := range []*Queue[fancy]{q, q2, &q3, q2, q} {
		if err := x.Put(ctx, fancy{Name: strconv.Itoa(i)}); err != nil {
			t.Fatal(err)
		}
	}
	if s := slots(q.c); len(s) != 1 {
		t.Fatalf("three handles of one process hold slots %v", s)
	}
	if q.c.idx.Load() != q2.c.idx.Load() || q.c.idx.Load() != q3.c.idx.Load() {
		t.Fatalf("the handles registered as %d, %d, %d", q.c.idx.Load(), q2.c.idx.Load(), q3.c.idx.Load())
	}
	for i := range 5 {
		if v, err := q3.Get(ctx); v.Name != strconv.Itoa(i) || err != nil {
			t.Fatal(v, err)
		}
	}

	r := mustNew(t, NewRing[uint64], 4, shm.In(seg, "r"))
	r2, err := OpenRing[uint64](context.Background(), seg, "r")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for _, x := range []*Ring[uint64]{r, r2, r, r2} {
		wg.Go(func() {
			for range 100 {
				x.Push(ctx, 1)
				x.Pop(ctx)
			}
		})
	}
	shmtest.Within(t, edgeGuard, "pushes", func() bool { wg.Wait(); return true })
	if s := slots(r.c); len(s) != 1 {
		t.Fatalf("two handles of one process hold slots %v", s)
	}

	// Handles that register at the same moment, again and again.
	for i := range 100 {
		name := "race" + strconv.Itoa(i)
		q := mustNew(t, NewQueue[uint64], 4, shm.In(seg, name))
		handles := []*Queue[uint64]{q}
		for range 3 {
			h, err := OpenQueue[uint64](context.Background(), seg, name)
			if err != nil {
				t.Fatal(err)
			}
			handles = append(handles, h)
		}
		start := make(chan struct{})
		var wg sync.WaitGroup
		for _, h := range handles {
			wg.Go(func() {
				<-start
				h.TryPut(1)
			})
		}
		close(start)
		wg.Wait()
		if s := slots(q.c); len(s) != 1 {
			t.Fatalf("round %d: four handles of one process that registered at once hold slots %v", i, s)
		}
		q.Free()
	}
}

// TestEdgeJoinWhileTaking: while a Get is between taking a message off the
// ring and returning it, the message is unfinished: Join must not return
// and Unfinished counts it.
func TestEdgeJoinWhileTaking(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel() // stops what a failed test leaves blocked
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	for _, plain := range []bool{true, false} {
		var jq interface {
			Join(context.Context) error
			Unfinished() int
			TaskDone() error
			Free() error
		}
		var get func() error
		if plain {
			q := mustNew(t, NewJoinableQueue[uint64], 4)
			q.Put(ctx, 1)
			jq, get = q, func() error { _, err := q.Get(ctx); return err }
		} else {
			q := mustNew(t, NewJoinableQueue[string], 4)
			q.Put(ctx, "one")
			jq, get = q, func() error { _, err := q.Get(ctx); return err }
		}
		seen := map[string][2]any{}
		testHook = func(p string) {
			if p == pointReading || p == pointTaken {
				seen[p] = [2]any{jq.Join(cancelled), jq.Unfinished()}
			}
		}
		err := get()
		testHook = nil
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range []string{pointReading, pointTaken} {
			if got := seen[p]; got != [2]any{context.Canceled, 1} {
				t.Errorf("plain %v: at %q Join = %v and Unfinished = %v; want %v and 1", plain, p, got[0], got[1], context.Canceled)
			}
		}
		if err := jq.TaskDone(); err != nil {
			t.Fatal(err)
		}
		if err := jq.Join(cancelled); err != nil || jq.Unfinished() != 0 {
			t.Fatalf("plain %v: Join = %v, Unfinished %d after the TaskDone", plain, err, jq.Unfinished())
		}
		jq.Free()
	}
}

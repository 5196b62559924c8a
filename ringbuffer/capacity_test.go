//go:build linux && (amd64 || arm64)

package ringbuffer

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"
)

// A Queue of plain T holds exactly the messages asked for, though its ring
// has a power of two of slots: Python's Queue(maxsize=6). The same for a
// JoinableQueue and for each direction of a Pipe.
func TestQueueExactCapacity(t *testing.T) {
	for _, n := range []int{1, 3, 6, 8, 100} {
		q := mustNew(t, NewQueue[int64], n)
		defer q.Free()
		queueHoldsExactly(t, q, n, func(i int) int64 { return int64(i) })
		jq := mustNew(t, NewJoinableQueue[int64], n)
		defer jq.Free()
		queueHoldsExactly(t, jq.Queue, n, func(i int) int64 { return int64(i) })
	}
	a, b, err := Pipe[int64](6)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Free()
	ctx := context.Background()
	for i := range int64(6) {
		if err := a.Send(ctx, i); err != nil {
			t.Fatal(err)
		}
	}
	short, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel()
	if err := a.Send(short, 6); err != context.DeadlineExceeded {
		t.Errorf("a 7th Send on a pipe of 6: %v, want it to wait", err)
	}
	if v, err := b.Recv(ctx); v != 0 || err != nil {
		t.Errorf("Recv: %v, %v", v, err)
	}
}

// queueHoldsExactly checks that q, empty, takes n messages and no more;
// its messages are mk(0), mk(1), ..., and mk(-1) for one too many.
func queueHoldsExactly[T comparable](t *testing.T, q *Queue[T], n int, mk func(i int) T) {
	t.Helper()
	if q.Cap() != n || q.Full() || !q.Empty() {
		t.Fatalf("a new queue of %d: Cap %d, Full %v, Empty %v", n, q.Cap(), q.Full(), q.Empty())
	}
	for round := range 3 { // and again once the ring has wrapped
		for i := range n {
			if q.Full() {
				t.Fatalf("round %d: Full with %d of %d messages", round, i, n)
			}
			if err := q.TryPut(mk(i)); err != nil {
				t.Fatalf("round %d: TryPut %d of %d: %v", round, i+1, n, err)
			}
		}
		if !q.Full() || q.Len() != n || q.Empty() {
			t.Fatalf("round %d: with %d messages: Full %v, Len %d, Empty %v", round, n, q.Full(), q.Len(), q.Empty())
		}
		if err := q.TryPut(mk(-1)); !errors.Is(err, ErrFull) {
			t.Fatalf("round %d: TryPut past %d messages: %v, want ErrFull", round, n, err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
		err := q.Put(ctx, mk(-1))
		cancel()
		if err != context.DeadlineExceeded {
			t.Fatalf("round %d: Put past %d messages: %v, want it to wait", round, n, err)
		}
		for i := range n {
			if v, err := q.TryGet(); v != mk(i) || err != nil {
				t.Fatalf("round %d: TryGet: %v, %v, want %v", round, v, err, mk(i))
			}
		}
	}
}

// A producer SIGKILLed after it claimed its place and before it committed
// the message: the claim holds a place until a consumer skips it, and then
// the queue holds its whole capacity again, for ever after. The same for
// a Queue of encoded T (whose frames of one size here are far fewer cells
// than its ring has: the count of messages binds, not the bytes).
func TestKillExactCapacity(t *testing.T) {
	for _, kind := range []string{"queue", "gob"} {
		t.Run(kind, func(t *testing.T) {
			prod, live := uint32(1), uint32(killLive)
			if kind == "gob" {
				prod, live = prod|killFixedPad, live|killFixedPad
			}
			killExactCapacity(t, kind, prod, live)
		})
	}
}

func killExactCapacity(t *testing.T, kind string, prod, live uint32) {
	const n = 6
	seg := testSeg(t)
	q := newKillQ(t, seg, kind, "q", n)
	defer q.free()
	p := killStart(t, seg, killSpec{Role: "producer", Kind: kind, Name: "q", Point: pointClaimed, N: 3, How: "kill",
		Prod: prod, Count: n})
	killMustDie(t, p, "a producer killed between its claim and its commit")
	// Two messages and the dead claim: room for three more.
	for i := range uint32(n - 3) {
		if err := q.tryPush(killID{live, i}); err != nil {
			t.Fatalf("TryPut %d beside the dead claim: %v", i, err)
		}
	}
	if err := q.tryPush(killID{live, 99}); !errors.Is(err, ErrFull) {
		t.Fatalf("TryPut with %d places taken (one by the dead): %v, want ErrFull", n, err)
	}
	want := []killID{{prod, 0}, {prod, 1}, {live, 0}, {live, 1}, {live, 2}}
	for _, w := range want {
		if id, err := q.tryPop(); err != nil || id != w {
			t.Fatalf("popped %v, %v, want %v", id, err, w)
		}
	}
	if _, err := q.tryPop(); !errors.Is(err, ErrEmpty) {
		t.Fatalf("a sixth pop: %v, want ErrEmpty", err)
	}
	for round := range 3 {
		for i := range uint32(n) {
			if err := q.tryPush(killID{live, i}); err != nil {
				t.Fatalf("round %d: TryPut %d of %d after the death: %v (a place leaked)", round, i+1, n, err)
			}
		}
		if err := q.tryPush(killID{live, 99}); !errors.Is(err, ErrFull) {
			t.Fatalf("round %d: TryPut past %d: %v, want ErrFull", round, n, err)
		}
		for range n {
			if _, err := q.tryPop(); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// A Queue of encoded T holds exactly the messages asked for too, however
// few cells each takes: one (a short string), or three. The same for a
// JoinableQueue and for a Pipe.
func TestQueueEncodedExactCapacity(t *testing.T) {
	for _, pad := range []int{0, 150} {
		mk := func(i int) string { return fmt.Sprintf("%d%s", i, strings.Repeat("x", pad)) }
		for _, n := range []int{1, 3, 6, 8, 100} {
			q := mustNew(t, NewQueue[string], n)
			defer q.Free()
			queueHoldsExactly(t, q, n, mk)
			jq := mustNew(t, NewJoinableQueue[string], n)
			defer jq.Free()
			queueHoldsExactly(t, jq.Queue, n, mk)
		}
	}
	a, b, err := Pipe[string](6)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Free()
	ctx := context.Background()
	for i := range 6 {
		if err := a.Send(ctx, fmt.Sprint(i)); err != nil {
			t.Fatal(err)
		}
	}
	short, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel()
	if err := a.Send(short, "6"); err != context.DeadlineExceeded {
		t.Errorf("a 7th Send on a pipe of 6: %v, want it to wait", err)
	}
	if v, err := b.Recv(ctx); v != "0" || err != nil {
		t.Errorf("Recv: %v, %v", v, err)
	}
}

// The bytes bound an encoded queue too: large messages fill its ring
// before they are n, and a Put then waits as for a full queue.
func TestQueueEncodedBytesBound(t *testing.T) {
	q := mustNew(t, NewQueue[string], 4) // 16 cells of 64 bytes
	defer q.Free()
	big := strings.Repeat("x", 5*64) // 6 cells a frame
	for i := range 2 {
		if err := q.TryPut(big); err != nil {
			t.Fatalf("TryPut %d: %v", i, err)
		}
	}
	if err := q.TryPut(big); !errors.Is(err, ErrFull) {
		t.Fatalf("a third frame of 6 cells in 16: %v, want ErrFull", err)
	}
	if q.Full() || q.Len() != 2 {
		t.Fatalf("with 2 messages of 4 and 4 cells free: Full %v, Len %d", q.Full(), q.Len())
	}
	if err := q.TryPut("small"); err != nil {
		t.Fatalf("a small message beside them: %v", err)
	}
}

// A header whose limit exceeds its cells, or that limits a single-producer
// ring, is refused.
func TestQueueLimitChecked(t *testing.T) {
	plain := mustNew(t, NewQueue[int64], 6)
	defer plain.Free()
	framed := mustNew(t, NewQueue[string], 6)
	defer framed.Free()
	spsc, err := NewSPSCRing[int64](8)
	if err != nil {
		t.Fatal(err)
	}
	defer spsc.Free()
	for _, c := range []struct {
		what  string
		b     []byte
		limit uint64
	}{
		{"a limit past the cells", plain.c.b, 9},
		{"a limit past the cells of a framed ring", framed.c.b, 33},
		{"a limit on a single-producer ring", spsc.c.b, 6},
	} {
		b := append([]byte(nil), c.b...)
		le.PutUint64(b[offLimit:], c.limit)
		if _, err := decodeLayout(b); !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s: %v, want ErrCorrupt", c.what, err)
		}
	}
	if l, err := decodeLayout(plain.c.b); err != nil || l.limit != 6 || l.cells != 8 {
		t.Errorf("a queue of 6: %+v, %v", l, err)
	}
	if l, err := decodeLayout(framed.c.b); err != nil || l.limit != 6 || l.cells != 32 {
		t.Errorf("a queue of 6 strings: %+v, %v", l, err)
	}
}

// Many goroutines on two handles fill a Queue of encoded T, of messages
// of one to three cells (the count binds, not the bytes), again and
// again, while a consumer takes a few each time: once every TryPut fails,
// the queue holds exactly n, and the messages come out in each producer's
// order. Each handle brings its count of frames up to date from its last
// one: rounds of it, across many wraps of the ring.
func TestQueueEncodedCapacityRounds(t *testing.T) {
	for _, n := range []int{5, 64} {
		q := mustNew(t, NewQueue[string], n)
		defer q.Free()
		h, err := q.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		var q2 Queue[string]
		if err := q2.UnmarshalBinary(h); err != nil {
			t.Fatal(err)
		}
		defer q2.Close()
		const producers = 4
		next := make([]int, producers) // each producer's next number
		last := make([]int, producers) // each producer's last number taken
		for i := range last {
			last[i] = -1
		}
		rng := rand.New(rand.NewPCG(uint64(n), 3))
		for round := range 300 {
			var wg sync.WaitGroup
			for p := range producers {
				x := q
				if p%2 == 1 {
					x = &q2
				}
				pad := rng.IntN(170)
				wg.Go(func() {
					for {
						m := fmt.Sprintf("%d %d %s", p, next[p], strings.Repeat("x", pad))
						err := x.TryPut(m)
						if errors.Is(err, ErrFull) {
							return
						}
						if err != nil {
							t.Error(err)
							return
						}
						next[p]++
					}
				})
			}
			wg.Wait()
			if t.Failed() {
				return
			}
			if q.Len() != n || !q.Full() || !q2.Full() {
				t.Fatalf("queue of %d, round %d: filled, Len %d, Full %v and %v", n, round, q.Len(), q.Full(), q2.Full())
			}
			for range 1 + rng.IntN(n) {
				m, err := q.TryGet()
				if err != nil {
					t.Fatal(err)
				}
				var p, i int
				if _, err := fmt.Sscanf(m, "%d %d", &p, &i); err != nil || i != last[p]+1 {
					t.Fatalf("round %d: got %.20q after %d of producer %d", round, m, last[p], p)
				}
				last[p] = i
			}
		}
	}
}

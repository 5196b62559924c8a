//go:build linux && (amd64 || arm64)

package ringbuffer

import (
	"context"
	"errors"
	"testing"

	"github.com/shmkit/shmkit/shm"
)

// loanRings are the rings that lend slots: a single-producer Ring, a
// multi-producer one, and a Queue of plain T through its own methods.
type loanRing[T any] struct {
	name      string
	tryLoan   func() (Loan[T], error)
	tryBorrow func() (Borrowed[T], error)
	push      func(T) error
	pop       func() (T, error)
	close     func() error
	spsc      bool
	c         *core
}

func loanRings(t *testing.T, seg *shm.Segment, n int) []loanRing[uint64] {
	t.Helper()
	s, err := NewSPSCRing[uint64](n, shm.In(seg, "spsc"))
	if err != nil {
		t.Fatal(err)
	}
	m, err := NewRing[uint64](n, shm.In(seg, "ring"))
	if err != nil {
		t.Fatal(err)
	}
	q, err := NewQueue[uint64](n, shm.In(seg, "queue"))
	if err != nil {
		t.Fatal(err)
	}
	ring := func(name string, r *Ring[uint64]) loanRing[uint64] {
		return loanRing[uint64]{name, r.TryLoan, r.TryBorrow, r.TryPush, r.TryPop, r.Close, r.SingleProducer(), r.c}
	}
	return []loanRing[uint64]{
		ring("spsc", s), ring("ring", m),
		{"queue", q.TryLoan, q.TryBorrow, q.TryPut, q.TryGet, q.Close, false, q.c},
	}
}

// TestLoanOrder mixes loans with Push and Pop over several laps: the
// messages come out in order, whichever way they went in, and the ring
// reports full and empty as with Push and Pop.
func TestLoanOrder(t *testing.T) {
	for _, r := range loanRings(t, testSeg(t), 4) {
		t.Run(r.name, func(t *testing.T) {
			next, want := uint64(0), uint64(0)
			for round := range 40 {
				for i := range 4 {
					if (round+i)%2 == 0 {
						l, err := r.tryLoan()
						if err != nil {
							t.Fatal(round, i, err)
						}
						*l.Value() = next
						if err := l.Commit(); err != nil {
							t.Fatal(err)
						}
					} else if err := r.push(next); err != nil {
						t.Fatal(err)
					}
					next++
				}
				if _, err := r.tryLoan(); !errors.Is(err, ErrFull) {
					t.Fatalf("loan on a full ring: %v", err)
				}
				for i := range 4 {
					var got uint64
					if (round+i)%3 == 0 {
						b, err := r.tryBorrow()
						if err != nil {
							t.Fatal(round, i, err)
						}
						got = *b.Value()
						if err := b.Release(); err != nil {
							t.Fatal(err)
						}
					} else {
						v, err := r.pop()
						if err != nil {
							t.Fatal(err)
						}
						got = v
					}
					if got != want {
						t.Fatalf("got %d, want %d", got, want)
					}
					want++
				}
				if _, err := r.tryBorrow(); !errors.Is(err, ErrEmpty) {
					t.Fatalf("borrow on an empty ring: %v", err)
				}
			}
		})
	}
}

// TestLoanMisuse: a loan ends once; a second Commit, Abort or Release
// fails with ErrInvalid and leaves the ring as it was; a loan out keeps
// the handle's other calls off its slot; Close ends loans with ErrClosed,
// the slot given back and the message left for the next reader.
func TestLoanMisuse(t *testing.T) {
	seg := testSeg(t)
	for _, r := range loanRings(t, seg, 4) {
		t.Run(r.name, func(t *testing.T) {
			l, err := r.tryLoan()
			if err != nil {
				t.Fatal(err)
			}
			if r.spsc {
				if err := r.push(7); !errors.Is(err, ErrBusy) {
					t.Fatalf("push with a loan out: %v", err)
				}
				if _, err := r.tryLoan(); !errors.Is(err, ErrBusy) {
					t.Fatalf("second loan: %v", err)
				}
			}
			*l.Value() = 1
			if err := l.Commit(); err != nil {
				t.Fatal(err)
			}
			if err := l.Commit(); !errors.Is(err, ErrInvalid) {
				t.Fatalf("second commit: %v", err)
			}
			if err := l.Abort(); !errors.Is(err, ErrInvalid) {
				t.Fatalf("abort after commit: %v", err)
			}
			a, err := r.tryLoan()
			if err != nil {
				t.Fatal(err)
			}
			*a.Value() = 99
			if err := a.Abort(); err != nil {
				t.Fatal(err)
			}
			if err := a.Commit(); !errors.Is(err, ErrInvalid) {
				t.Fatalf("commit after abort: %v", err)
			}
			if err := r.push(2); err != nil {
				t.Fatal(err)
			}
			b, err := r.tryBorrow()
			if err != nil || *b.Value() != 1 {
				t.Fatal(err)
			}
			if r.spsc {
				if _, err := r.pop(); !errors.Is(err, ErrBusy) {
					t.Fatalf("pop with a borrow out: %v", err)
				}
			}
			if err := b.Release(); err != nil {
				t.Fatal(err)
			}
			if err := b.Release(); !errors.Is(err, ErrInvalid) {
				t.Fatalf("second release: %v", err)
			}
			if v, err := r.pop(); err != nil || v != 2 {
				t.Fatalf("after the aborted loan: %d, %v", v, err)
			}
			if _, err := r.pop(); !errors.Is(err, ErrEmpty) {
				t.Fatal(err)
			}
			var zero Loan[uint64]
			if zero.Commit() == nil || zero.Value() != nil {
				t.Fatal("zero loan")
			}
			var zb Borrowed[uint64]
			if !errors.Is(zb.Release(), ErrInvalid) {
				t.Fatal("zero borrow")
			}

			// Close ends what is out: the loan publishes nothing, the
			// borrowed message stays for the next reader.
			if err := r.push(3); err != nil {
				t.Fatal(err)
			}
			b, err = r.tryBorrow()
			if err != nil {
				t.Fatal(err)
			}
			l, err = r.tryLoan()
			if err != nil {
				t.Fatal(err)
			}
			r.close()
			if err := l.Commit(); !errors.Is(err, ErrClosed) {
				t.Fatalf("commit after close: %v", err)
			}
			if err := b.Release(); !errors.Is(err, ErrClosed) {
				t.Fatalf("release after close: %v", err)
			}
		})
	}
	// The rings go on, through new handles.
	ctx := context.Background()
	s, err := OpenRing[uint64](ctx, seg, "spsc")
	if err != nil {
		t.Fatal(err)
	}
	m, err := OpenRing[uint64](ctx, seg, "ring")
	if err != nil {
		t.Fatal(err)
	}
	q, err := OpenQueue[uint64](ctx, seg, "queue")
	if err != nil {
		t.Fatal(err)
	}
	for _, pop := range []func() (uint64, error){s.TryPop, m.TryPop, q.TryGet} {
		if v, err := pop(); err != nil || v != 3 {
			t.Errorf("the message borrowed at Close: %d, %v", v, err)
		}
		if _, err := pop(); !errors.Is(err, ErrEmpty) {
			t.Errorf("the loan out at Close was published: %v", err)
		}
	}
}

// TestLoanEncodedQueue: a Queue of encoded T has no slots to lend.
func TestLoanEncodedQueue(t *testing.T) {
	q, err := NewQueue[fancy](4, shm.In(testSeg(t), "q"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := q.TryLoan(); !errors.Is(err, ErrInvalid) {
		t.Fatalf("TryLoan: %v", err)
	}
	if _, err := q.Borrow(context.Background()); !errors.Is(err, ErrInvalid) {
		t.Fatalf("Borrow: %v", err)
	}
}

// TestLoanBorrowExclusive: while a message of a multi-producer ring is
// borrowed, the other consumers wait for it (they do not take it nor the
// ones after it), producers keep off its slot, and Len counts it.
func TestLoanBorrowExclusive(t *testing.T) {
	seg := testSeg(t)
	r, err := NewRing[uint64](2, shm.In(seg, "r"))
	if err != nil {
		t.Fatal(err)
	}
	r2, err := OpenRing[uint64](context.Background(), seg, "r")
	if err != nil {
		t.Fatal(err)
	}
	r.TryPush(1)
	r.TryPush(2)
	b, err := r.TryBorrow()
	if err != nil || *b.Value() != 1 {
		t.Fatal(err)
	}
	if _, err := r2.TryPop(); !errors.Is(err, ErrEmpty) {
		t.Fatalf("pop of a borrowed message: %v", err)
	}
	if _, err := r2.TryBorrow(); !errors.Is(err, ErrEmpty) {
		t.Fatalf("second borrow: %v", err)
	}
	if err := r2.TryPush(3); !errors.Is(err, ErrFull) {
		t.Fatalf("push over a borrowed message: %v", err)
	}
	if r.Len() != 2 {
		t.Fatalf("Len %d", r.Len())
	}
	if err := b.Release(); err != nil {
		t.Fatal(err)
	}
	if v, err := r2.TryPop(); err != nil || v != 2 {
		t.Fatal(v, err)
	}
}

// TestLoanAllocs: loans allocate nothing.
func TestLoanAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	ctx := context.Background()
	seg := testSeg(t)
	rings := loanRings(t, seg, 4)
	for _, name := range []string{"spsc", "ring"} {
		r, err := OpenRing[uint64](ctx, seg, name)
		if err != nil {
			t.Fatal(err)
		}
		n := testing.AllocsPerRun(1000, func() {
			l, err := r.Loan(ctx)
			if err != nil {
				t.Fatal(err)
			}
			*l.Value() = 5
			l.Commit()
			b, err := r.Borrow(ctx)
			if err != nil {
				t.Fatal(err)
			}
			b.Release()
		})
		if n != 0 {
			t.Errorf("%s: %v allocations per Loan and Borrow", name, n)
		}
		r.Close()
	}
	for _, r := range rings {
		n := testing.AllocsPerRun(1000, func() {
			l, err := r.tryLoan()
			if err != nil {
				t.Fatal(err)
			}
			*l.Value() = 5
			l.Commit()
			b, err := r.tryBorrow()
			if err != nil {
				t.Fatal(err)
			}
			b.Release()
		})
		if n != 0 {
			t.Errorf("%s: %v allocations per loan and borrow", r.name, n)
		}
	}
	for _, pol := range []Policy{Lossless, Lossy} {
		p, err := NewPubSub[uint64](4, 2, pol)
		if err != nil {
			t.Fatal(err)
		}
		s, err := p.Subscribe(0)
		if err != nil {
			t.Fatal(err)
		}
		n := testing.AllocsPerRun(1000, func() {
			l, err := p.TryLoan()
			if err != nil {
				t.Fatal(err)
			}
			*l.Value() = 5
			l.Commit()
			b, err := s.TryBorrow()
			if err != nil {
				t.Fatal(err)
			}
			b.Release()
		})
		if n != 0 {
			t.Errorf("pubsub %v: %v allocations per loan and borrow", pol, n)
		}
		p.Free()
	}
}

// TestLoanPubSub mixes loans with Publish and Recv, in both policies, and
// checks the errors of a loan out, a second Commit or Release.
func TestLoanPubSub(t *testing.T) {
	for _, pol := range []Policy{Lossless, Lossy} {
		t.Run(pol.String(), func(t *testing.T) {
			p, err := NewPubSub[uint64](4, 2, pol, shm.In(testSeg(t), "p"))
			if err != nil {
				t.Fatal(err)
			}
			s, err := p.Subscribe(0)
			if err != nil {
				t.Fatal(err)
			}
			next, want := uint64(0), uint64(0)
			for round := range 20 {
				for i := range 4 {
					if (round+i)%2 == 0 {
						l, err := p.TryLoan()
						if err != nil {
							t.Fatal(err)
						}
						if err := p.TryPublish(9); !errors.Is(err, ErrBusy) {
							t.Fatalf("publish with a loan out: %v", err)
						}
						*l.Value() = next
						if err := l.Commit(); err != nil {
							t.Fatal(err)
						}
						if err := l.Commit(); !errors.Is(err, ErrInvalid) {
							t.Fatalf("second commit: %v", err)
						}
					} else if err := p.TryPublish(next); err != nil {
						t.Fatal(err)
					}
					next++
				}
				if pol == Lossless {
					if _, err := p.TryLoan(); !errors.Is(err, ErrFull) {
						t.Fatalf("loan on a full ring: %v", err)
					}
				}
				for i := range 4 {
					var got uint64
					if (round+i)%3 == 0 {
						b, err := s.TryBorrow()
						if err != nil {
							t.Fatal(err)
						}
						if _, err := s.TryRecv(); !errors.Is(err, ErrBusy) {
							t.Fatalf("recv with a borrow out: %v", err)
						}
						got = *b.Value()
						if err := b.Release(); err != nil {
							t.Fatal(err)
						}
						if err := b.Release(); !errors.Is(err, ErrInvalid) {
							t.Fatalf("second release: %v", err)
						}
					} else if got, err = s.TryRecv(); err != nil {
						t.Fatal(err)
					}
					if got != want {
						t.Fatalf("got %d, want %d", got, want)
					}
					want++
				}
			}
			// An aborted loan publishes nothing.
			l, err := p.TryLoan()
			if err != nil {
				t.Fatal(err)
			}
			*l.Value() = 1234
			if err := l.Abort(); err != nil {
				t.Fatal(err)
			}
			if _, err := s.TryBorrow(); !errors.Is(err, ErrEmpty) {
				t.Fatalf("after an aborted loan: %v", err)
			}
			if err := p.TryPublish(next); err != nil {
				t.Fatal(err)
			}
			if v, err := s.TryRecv(); err != nil || v != next {
				t.Fatal(v, err)
			}
		})
	}
}

// TestLoanLossyOverwritten: in a lossy PubSub the publisher overwrites a
// borrowed message once it is a ring behind; Release says so with a
// *LappedError, and the subscriber goes on from the oldest message still
// there.
func TestLoanLossyOverwritten(t *testing.T) {
	p, err := NewPubSub[uint64](4, 1, Lossy, shm.In(testSeg(t), "p"))
	if err != nil {
		t.Fatal(err)
	}
	s, err := p.Subscribe(0)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 4 {
		p.TryPublish(uint64(i))
	}
	b, err := s.TryBorrow()
	if err != nil || *b.Value() != 0 {
		t.Fatal(err)
	}
	l, err := p.TryLoan() // the slot of message 0
	if err != nil {
		t.Fatal(err)
	}
	*l.Value() = 4
	var lapped *LappedError
	if err := b.Release(); !errors.As(err, &lapped) || lapped.Missed != 1 {
		t.Fatalf("release of an overwritten message: %v", err)
	}
	if err := l.Commit(); err != nil {
		t.Fatal(err)
	}
	for want := uint64(1); want < 5; want++ {
		if v, err := s.TryRecv(); err != nil || v != want {
			t.Fatalf("got %d, %v, want %d", v, err, want)
		}
	}
}

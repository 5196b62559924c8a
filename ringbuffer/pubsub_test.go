//go:build linux && (amd64 || arm64)

package ringbuffer

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/shmkit/shmkit/shm"
)

// psRecvAll receives n messages, or fewer when the ring runs dry: the
// values, and the LappedErrors' counts, in order, as negative numbers.
func psRecvAll(t testing.TB, s *Subscriber[uint64], n int) []int64 {
	t.Helper()
	var got []int64
	for len(got) < n {
		v, err := s.TryRecv()
		var le *LappedError
		switch {
		case err == nil:
			got = append(got, int64(v))
		case errors.As(err, &le):
			if !errors.Is(err, ErrLapped) {
				t.Fatalf("%v does not match ErrLapped", err)
			}
			got = append(got, -int64(le.Missed))
		case errors.Is(err, ErrEmpty):
			return got
		default:
			t.Fatal(err)
		}
	}
	return got
}

func psPublish(t testing.TB, p *PubSub[uint64], from, to uint64) {
	t.Helper()
	for v := from; v < to; v++ {
		if err := p.TryPublish(v); err != nil {
			t.Fatalf("publishing %d: %v", v, err)
		}
	}
}

// TestPubSubLossless: every subscriber sees every message from the point
// it joined, the publisher waits for the slowest one, and one that leaves
// stops holding it back.
func TestPubSubLossless(t *testing.T) {
	p, err := NewPubSub[uint64](5, 3, Lossless)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Free()
	if p.Cap() != 8 || p.Policy() != Lossless || p.MaxSubscribers() != 3 {
		t.Fatalf("%v: cap %d, policy %v, %d subscribers", p, p.Cap(), p.Policy(), p.MaxSubscribers())
	}
	// Nobody subscribed: messages go, the last Cap() stay for history.
	psPublish(t, p, 0, 20)
	a, err := p.Subscribe(100)
	if err != nil {
		t.Fatal(err)
	}
	if got := psRecvAll(t, a, 100); fmt.Sprint(got) != "[12 13 14 15 16 17 18 19]" {
		t.Fatalf("history of 100 in a ring of 8 with no subscriber: %v", got)
	}
	b, err := p.Subscribe(0)
	if err != nil {
		t.Fatal(err)
	}
	psPublish(t, p, 20, 28)
	if err := p.TryPublish(28); !errors.Is(err, ErrFull) {
		t.Fatalf("publishing past the slowest subscriber: %v", err)
	}
	if got := psRecvAll(t, a, 3); fmt.Sprint(got) != "[20 21 22]" {
		t.Fatalf("a: %v", got)
	}
	// b holds it back until it reads or leaves.
	if err := p.TryPublish(28); !errors.Is(err, ErrFull) {
		t.Fatalf("publishing past b: %v", err)
	}
	// History: what the slowest subscriber has not read, here more than
	// the half ring kept in any case.
	c, err := p.Subscribe(6)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Subscribe(0); !errors.Is(err, ErrFull) {
		t.Fatalf("a fourth subscriber of 3: %v", err)
	}
	done := make(chan error, 1)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	exited := make(chan struct{})
	defer func() { // before Free
		cancel()
		<-exited
	}()
	go func() {
		defer close(exited)
		done <- p.Publish(ctx, 28)
	}()
	time.Sleep(20 * time.Millisecond)
	if got := psRecvAll(t, b, 1); fmt.Sprint(got) != "[20]" {
		t.Fatalf("b: %v", got)
	}
	if err := <-done; err != nil {
		t.Fatalf("Publish waiting for b: %v", err)
	}
	if got := psRecvAll(t, c, 100); fmt.Sprint(got) != "[22 23 24 25 26 27 28]" {
		t.Fatalf("c, with a history of 6: %v", got)
	}
	b.Close()
	if _, err := b.TryRecv(); !errors.Is(err, ErrClosed) {
		t.Fatalf("TryRecv after Close: %v", err)
	}
	// Now a (at 23) is the slowest.
	psPublish(t, p, 29, 31)
	if err := p.TryPublish(31); !errors.Is(err, ErrFull) {
		t.Fatalf("publishing past a: %v", err)
	}
	if got := psRecvAll(t, a, 100); fmt.Sprint(got) != "[23 24 25 26 27 28 29 30]" {
		t.Fatalf("a: %v", got)
	}
	short, stop := context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer stop()
	psPublish(t, p, 31, 37)
	if err := p.Publish(short, 37); err != context.DeadlineExceeded {
		t.Fatalf("Publish past c until its context ends: %v", err)
	}
	if got := psRecvAll(t, c, 100); fmt.Sprint(got) != "[29 30 31 32 33 34 35 36]" {
		t.Fatalf("c after the publisher gave up: %v", got)
	}
	a.Close()
	c.Close()
	psPublish(t, p, 33, 50)
}

// TestPubSubLossy: the publisher never waits, and a lapped subscriber
// learns exactly how many messages it missed and goes on from the oldest.
func TestPubSubLossy(t *testing.T) {
	p, err := NewPubSub[uint64](8, 3, Lossy)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Free()
	psPublish(t, p, 0, 3)
	a, err := p.Subscribe(0)
	if err != nil {
		t.Fatal(err)
	}
	b, err := p.Subscribe(100) // the last Cap() at most
	if err != nil {
		t.Fatal(err)
	}
	psPublish(t, p, 3, 10)
	if got := psRecvAll(t, a, 100); fmt.Sprint(got) != "[3 4 5 6 7 8 9]" {
		t.Fatalf("a: %v", got)
	}
	// b, from 0, was lapped by 8 and 9.
	if got := psRecvAll(t, b, 2); fmt.Sprint(got) != "[-2 2]" {
		t.Fatalf("b: %v", got)
	}
	psPublish(t, p, 10, 30)
	// b is at 3, the ring holds 22..29: b missed 19.
	if got := psRecvAll(t, b, 100); fmt.Sprint(got) != "[-19 22 23 24 25 26 27 28 29]" {
		t.Fatalf("b: %v", got)
	}
	if got := psRecvAll(t, a, 100); fmt.Sprint(got) != "[-12 22 23 24 25 26 27 28 29]" {
		t.Fatalf("a: %v", got)
	}
	c, err := p.Subscribe(3)
	if err != nil {
		t.Fatal(err)
	}
	if got := psRecvAll(t, c, 100); fmt.Sprint(got) != "[27 28 29]" {
		t.Fatalf("c: %v", got)
	}
}

// TestPubSubPublisherRole: one publishing process at a time; handles of
// one process share its role, but only one of them publishes.
func TestPubSubPublisherRole(t *testing.T) {
	seg := testSeg(t)
	p, err := NewPubSub[uint64](8, 2, Lossy, shm.In(seg, "ps"))
	if err != nil {
		t.Fatal(err)
	}
	q, err := OpenPubSub[uint64](context.Background(), seg, "ps")
	if err != nil {
		t.Fatal(err)
	}
	if err := p.TryPublish(1); err != nil {
		t.Fatal(err)
	}
	if err := q.TryPublish(2); err != nil {
		t.Fatal(err)
	}
	if err := p.TryPublish(3); !errors.Is(err, ErrBusy) {
		t.Fatalf("a second handle published meanwhile: %v", err)
	}
	if err := p.TryPublish(3); err != nil {
		t.Fatalf("the first handle again, once told: %v", err)
	}
	if _, err := OpenPubSub[uint32](context.Background(), seg, "ps"); !errors.Is(err, shm.ErrLayout) {
		t.Fatalf("opening as another type: %v", err)
	}
	p.Close()
	if err := p.TryPublish(4); !errors.Is(err, ErrClosed) {
		t.Fatalf("after Close: %v", err)
	}
	if _, err := p.Subscribe(0); !errors.Is(err, ErrClosed) {
		t.Fatalf("Subscribe after Close: %v", err)
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if err := q.TryPublish(4); !errors.Is(err, ErrBusy) {
		t.Fatalf("q, after p published: %v", err)
	}
	if err := q.TryPublish(4); err != nil {
		t.Fatal(err)
	}
	if q.Published() != 4 {
		t.Fatalf("published %d", q.Published())
	}
	h, err := q.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	var r PubSub[uint64]
	if err := r.UnmarshalBinary(h); err != nil {
		t.Fatal(err)
	}
	s, err := r.Subscribe(1)
	if err != nil {
		t.Fatal(err)
	}
	if v, err := s.TryRecv(); v != 4 || err != nil {
		t.Fatalf("through a decoded handle: %d, %v", v, err)
	}
	s.Close()
	r.Close()
	if err := q.Free(); err != nil {
		t.Fatal(err)
	}
}

// TestPubSubInvalid: arguments out of range, and types that are not plain.
func TestPubSubInvalid(t *testing.T) {
	for _, c := range []struct {
		n, subs int
		policy  Policy
	}{{0, 1, Lossy}, {8, 0, Lossy}, {8, MaxSubscribers + 1, Lossless}, {8, 1, 0}, {MaxCells + 1, 1, Lossy}} {
		if _, err := NewPubSub[uint64](c.n, c.subs, c.policy); !errors.Is(err, ErrInvalid) {
			t.Errorf("%+v: %v", c, err)
		}
	}
	if _, err := NewPubSub[string](8, 1, Lossy); err == nil {
		t.Error("a pubsub of strings")
	}
}

// TestPubSubRecvWakes: a subscriber asleep in Recv wakes for a message,
// and a publisher asleep in Publish wakes when the subscriber reads.
func TestPubSubRecvWakes(t *testing.T) {
	for _, policy := range []Policy{Lossless, Lossy} {
		t.Run(policy.String(), func(t *testing.T) {
			p, err := NewPubSub[[3]uint32](2, 1, policy)
			if err != nil {
				t.Fatal(err)
			}
			defer p.Free()
			s, err := p.Subscribe(0)
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			const n = 2000
			done := make(chan error, 1)
			exited := make(chan struct{})
			defer func() { // before Free
				cancel()
				<-exited
			}()
			go func() {
				defer close(exited)
				for i := range uint32(n) {
					if i%100 == 0 {
						time.Sleep(time.Millisecond)
					}
					if err := p.Publish(ctx, [3]uint32{i, i * 3, ^i}); err != nil {
						done <- err
						return
					}
				}
				done <- nil
			}()
			next := uint32(0)
			for next < n {
				v, err := s.Recv(ctx)
				var le *LappedError
				switch {
				case errors.As(err, &le) && policy == Lossy:
					next += uint32(le.Missed)
					continue
				case err != nil:
					t.Fatal(err)
				}
				if v != [3]uint32{next, next * 3, ^next} {
					t.Fatalf("got %v, want message %d", v, next)
				}
				if next%300 == 0 {
					time.Sleep(time.Millisecond)
				}
				next++
			}
			if err := <-done; err != nil {
				t.Fatal(err)
			}
		})
	}
}

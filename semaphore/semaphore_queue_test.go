//go:build linux && (amd64 || arm64)

package semaphore

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shmkit/shmkit/internal/shmtest"
	"github.com/shmkit/shmkit/internal/testproc"
	"github.com/shmkit/shmkit/shm"
)

// semHandles opens k more handles to the semaphore called name: each holds
// its own place in the queue, as separate processes do.
func semHandles(t *testing.T, seg *shm.Segment, name string, k int) []*Semaphore {
	t.Helper()
	var hs []*Semaphore
	for range k {
		h, err := Open(context.Background(), seg, name)
		if err != nil {
			t.Fatal(err)
		}
		hs = append(hs, h)
	}
	return hs
}

// TestSemaphoreQueueFull: more waiters than the queue has places (one per
// handle here) wait for a place, and are all served.
func TestSemaphoreQueueFull(t *testing.T) {
	seg := testSeg(t)
	s := portNew(t, 0, false, shm.In(seg, "sem"))
	const k = semQueue + 6
	ctx := mpContext(t)
	var wg sync.WaitGroup
	var served atomic.Int32
	for _, h := range semHandles(t, seg, "sem", k) {
		wg.Go(func() {
			if err := h.Acquire(ctx, 1); err != nil {
				t.Error(err)
				return
			}
			served.Add(1)
		})
	}
	portQueued(t, s, semQueue)
	if acquired(s.TryAcquire(0)) {
		t.Fatal("TryAcquire(0) with a full queue")
	}
	if err := s.Release(k); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	if served.Load() != k || s.Value() != 0 || s.Waiting() != 0 {
		t.Fatalf("%d of %d served; %v", served.Load(), k, s)
	}
}

// TestSemaphoreTicketWrap: the queue works on across the wrap of its
// 16-bit tickets, in order.
func TestSemaphoreTicketWrap(t *testing.T) {
	seg := testSeg(t)
	s := portNew(t, 0, false, shm.In(seg, "sem"))
	const start = 1<<16 - 3
	atomic.StoreUint64(s.state, start<<semServing|start<<semNext)
	ctx := mpContext(t)
	hs := semHandles(t, seg, "sem", 6)
	order := make(chan int, len(hs))
	for i, h := range hs {
		go func() {
			if err := h.Acquire(ctx, 1); err != nil {
				t.Error(err)
			}
			order <- i
		}()
		portQueued(t, s, i+1)
	}
	for i := range hs {
		if err := s.Release(1); err != nil {
			t.Fatal(err)
		}
		if got := <-order; got != i {
			t.Fatalf("waiter %d served when %d's turn came", got, i)
		}
	}
	if st := atomic.LoadUint64(s.state); serving(st) != 3 || waiting(st) != 0 || s.Value() != 0 {
		t.Fatalf("state %#x after the wrap", st)
	}
}

// semChildTwo ("seg name wait|cancel") waits for 2 units of the
// semaphore name in two goroutines, the second at the gate behind the
// first, and stops at "ready"; then at "served" when the first has its
// units and still holds the gate. With cancel, the second gives up at the
// gate just before that stop. It keeps the units.
var semChildTwo = semChild("sem-queue-two", func(c *testproc.Child, seg *shm.Segment, f []string, s *Semaphore) error {
	ctx, cancel := mpChildContext(0)
	defer cancel()
	ctx2, cancel2 := context.WithCancel(ctx)
	defer cancel2()
	first, second := make(chan error, 1), make(chan error, 1)
	var once sync.Once
	testHookSem = func(p string) {
		if p == "served" {
			once.Do(func() {
				if f[1] == "cancel" {
					cancel2()
					if err := <-second; err != context.Canceled {
						fmt.Printf("RESULT second %v\n", err)
					}
				}
				c.Point(p)
			})
		}
	}
	go func() { first <- s.Acquire(ctx, 2) }()
	for s.Waiting() != 1 {
		time.Sleep(time.Millisecond)
	}
	go func() { second <- s.Acquire(ctx2, 2) }()
	for gateWaiters() != 1 {
		time.Sleep(time.Millisecond)
	}
	c.Point("ready")
	if err := <-first; err != nil {
		return err
	}
	if f[1] == "cancel" {
		return nil
	}
	return <-second
})

// semGateServed starts semChildTwo (mode wait or cancel) on an empty
// semaphore, releases 3 units and returns once the child's first goroutine
// is served, stopped at "served".
func semGateServed(t *testing.T, mode string) (*Semaphore, *testproc.Proc) {
	t.Helper()
	seg := testSeg(t)
	s := portNew(t, 0, false, shm.In(seg, "sem"))
	p := shmtest.Start(t, mpChildTimeout, semChildTwo, seg.Name(), "sem", mode)
	p.WaitPoint("ready")
	if err := s.Release(3); err != nil {
		t.Fatal(err)
	}
	p.WaitPoint("served")
	return s, p
}

// TestSemaphoreGateHandOn: while a goroutine waits at its process's gate
// behind one being served, the queue is never empty: a TryAcquire in
// another process fails even at the moment the first has its units and
// the second has not yet passed the gate.
func TestSemaphoreGateHandOn(t *testing.T) {
	s, p := semGateServed(t, "wait")
	if s.Value() != 1 {
		t.Fatalf("%v with the first served", s)
	}
	if acquired(s.TryAcquire(1)) {
		t.Fatal("TryAcquire(1) succeeded while a goroutine waits at the gate behind the one served")
	}
	p.Continue()
	portQueued(t, s, 1)
	if acquired(s.TryAcquire(1)) {
		t.Fatal("TryAcquire(1) succeeded while the second goroutine waits")
	}
	if err := s.Release(1); err != nil {
		t.Fatal(err)
	}
	p.Succeed()
	if s.Value() != 0 || s.Waiting() != 0 {
		t.Fatalf("%v at the end", s)
	}
}

// TestSemaphoreGateGiveUp: a goroutine that gives up at its process's gate
// after a ticket was taken for it gives the ticket up: the queue does not
// wait for it.
func TestSemaphoreGateGiveUp(t *testing.T) {
	s, p := semGateServed(t, "cancel")
	if s.Waiting() != 0 || !acquired(s.TryAcquire(1)) {
		t.Fatalf("%v: the ticket of the goroutine that gave up is still queued", s)
	}
	if out := p.Succeed().Output; len(mpResults(out)) != 0 {
		t.Fatalf("child:\n%s", out)
	}
}

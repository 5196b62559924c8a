//go:build linux && (amd64 || arm64)

package semaphore

import (
	"sync"
	"sync/atomic"
	"testing"

	"github.com/shmkit/shmkit/shm"
)

// semHandles opens k more handles to the semaphore called name: each holds
// its own place in the queue, as separate processes do.
func semHandles(t *testing.T, seg *shm.Segment, name string, k int) []*Semaphore {
	t.Helper()
	var hs []*Semaphore
	for range k {
		h, err := Open(seg, name)
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
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := h.Acquire(ctx, 1); err != nil {
				t.Error(err)
				return
			}
			served.Add(1)
		}()
	}
	portQueued(t, s, semQueue)
	if s.TryAcquire(0) {
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

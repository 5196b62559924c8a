//go:build linux && (amd64 || arm64)

package ringbuffer

import (
	"context"
	"errors"
	"io"
	"testing"
	"time"
)

type fancy struct {
	Name string
	Tags []string
}

func TestSmokeRing(t *testing.T) {
	ctx := context.Background()
	for _, spsc := range []bool{false, true} {
		var r *Ring[uint64]
		var err error
		if spsc {
			r, err = NewSPSCRing[uint64](5)
		} else {
			r, err = NewRing[uint64](5)
		}
		if err != nil {
			t.Fatal(err)
		}
		if r.Cap() != 8 {
			t.Fatalf("cap %d", r.Cap())
		}
		for round := range 5 {
			for i := range 8 {
				if err := r.TryPush(uint64(round*100 + i)); err != nil {
					t.Fatal(spsc, round, i, err)
				}
			}
			if err := r.TryPush(99); err != errFull {
				t.Fatalf("push on full: %v", err)
			}
			if r.Len() != 8 {
				t.Fatalf("len %d", r.Len())
			}
			for i := range 8 {
				v, err := r.Pop(ctx)
				if err != nil || v != uint64(round*100+i) {
					t.Fatal(spsc, round, i, v, err)
				}
			}
			if _, err := r.TryPop(); err != errEmpty {
				t.Fatalf("pop on empty: %v", err)
			}
		}
		vs := []uint64{1, 2, 3, 4, 5, 6}
		if n, err := r.PushBatch(ctx, vs); n != 6 || err != nil {
			t.Fatal(n, err)
		}
		dst := make([]uint64, 10)
		if n, err := r.PopBatch(ctx, dst); n != 6 || err != nil || dst[5] != 6 {
			t.Fatal(n, err, dst)
		}
		cctx, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
		if _, err := r.Pop(cctx); err != context.DeadlineExceeded {
			t.Fatal(err)
		}
		cancel()
		go func() {
			time.Sleep(20 * time.Millisecond)
			r.TryPush(7)
		}()
		if v, err := r.Pop(ctx); v != 7 || err != nil {
			t.Fatal(v, err)
		}
		r.Free()
	}
}

func TestSmokeQueue(t *testing.T) {
	ctx := context.Background()
	q := mustNew(t, NewQueue[fancy], 4)
	defer q.Free()
	for i := range 3 {
		if err := q.Put(ctx, fancy{Name: "Fancy Dan", Tags: make([]string, i)}); err != nil {
			t.Fatal(err)
		}
	}
	if q.Len() != 3 {
		t.Fatal(q.Len())
	}
	q.Shutdown()
	if err := q.Put(ctx, fancy{}); !errors.Is(err, ErrShutdown) {
		t.Fatal(err)
	}
	for i := range 3 {
		v, err := q.Get(ctx)
		if err != nil || v.Name != "Fancy Dan" || len(v.Tags) != i {
			t.Fatal(v, err)
		}
	}
	if _, err := q.Get(ctx); !errors.Is(err, ErrShutdown) {
		t.Fatal(err)
	}
	big := fancy{Name: string(make([]byte, 5000))}
	q2, _ := NewQueue[fancy](4)
	defer q2.Free()
	if err := q2.Put(ctx, big); !errors.Is(err, ErrTooLarge) {
		t.Fatal(err)
	}

	pq := mustNew(t, NewJoinableQueue[int64], 8)
	defer pq.Free()
	if err := pq.TaskDone(); err != ErrNegativeTaskDone {
		t.Fatal(err)
	}
	pq.Put(ctx, 5)
	done := make(chan error)
	go func() { done <- pq.Join(ctx) }()
	v, _ := pq.Get(ctx)
	if v != 5 {
		t.Fatal(v)
	}
	select {
	case err := <-done:
		t.Fatal("join returned early", err)
	case <-time.After(20 * time.Millisecond):
	}
	pq.TaskDone()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func TestSmokePipe(t *testing.T) {
	ctx := context.Background()
	a, b := newPipe[fancy](t, 4)
	a.Send(ctx, fancy{Name: "hi"})
	if ok, err := b.Poll(ctx); !ok || err != nil {
		t.Fatal(ok, err)
	}
	v, err := b.Recv(ctx)
	if err != nil || v.Name != "hi" {
		t.Fatal(v, err)
	}
	b.Send(ctx, fancy{Name: "back"})
	b.Close()
	v, err = a.Recv(ctx)
	if err != nil || v.Name != "back" {
		t.Fatal(v, err)
	}
	if _, err := a.Recv(ctx); err != io.EOF {
		t.Fatal(err)
	}
	if err := a.Send(ctx, fancy{}); !errors.Is(err, io.ErrClosedPipe) {
		t.Fatal(err)
	}
}

// TestBusyNoWake: producers and consumers of a ring that is never empty
// or full when they look at it make no wake-up system call. A wake-up
// only follows a bump of the sleep word's generation, and these stay 0.
func TestBusyNoWake(t *testing.T) {
	for _, mk := range []func() (*Ring[uint64], error){
		func() (*Ring[uint64], error) { return NewSPSCRing[uint64](1024) },
		func() (*Ring[uint64], error) { return NewRing[uint64](1024) },
	} {
		r, err := mk()
		if err != nil {
			t.Fatal(err)
		}
		for i := range 512 {
			r.TryPush(uint64(i))
		}
		for i := range 100000 {
			if err := r.TryPush(uint64(i)); err != nil {
				t.Fatal(err)
			}
			if _, err := r.TryPop(); err != nil {
				t.Fatal(err)
			}
		}
		if e, f := *r.c.empty, *r.c.full; e != 0 || f != 0 {
			t.Errorf("%v: sleep words %#x, %#x after a busy run: a wake-up was made", r, e, f)
		}
		r.Free()
	}
}

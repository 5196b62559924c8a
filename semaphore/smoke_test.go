//go:build linux && (amd64 || arm64)

package semaphore

import (
	"context"
	"sync"
	"testing"
	"time"
)

func TestSmoke(t *testing.T) {
	ctx := context.Background()
	mu := mustMutex(t)
	n := 0
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Go(func() {
			for i := 0; i < 10000; i++ {
				if err := mu.Lock(); err != nil {
					t.Error(err)
				}
				n++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if n != 80000 {
		t.Fatal(n)
	}
	ev, _ := NewEvent()
	done := make(chan error, 100)
	for g := 0; g < 100; g++ {
		go func() { done <- ev.Wait(ctx) }()
	}
	time.Sleep(50 * time.Millisecond)
	ev.Set()
	for g := 0; g < 100; g++ {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	sem, _ := New(2)
	cnt, peak := 0, 0
	var pm sync.Mutex
	for g := 0; g < 20; g++ {
		wg.Go(func() {
			for i := 0; i < 200; i++ {
				if err := sem.Acquire(ctx, 1); err != nil {
					t.Error(err)
				}
				pm.Lock()
				cnt++
				peak = max(peak, cnt)
				pm.Unlock()
				pm.Lock()
				cnt--
				pm.Unlock()
				sem.Release(1)
			}
		})
	}
	wg.Wait()
	if peak > 2 || sem.Value() != 2 {
		t.Fatal(peak, sem.Value())
	}
	bar, _ := NewBarrier(5)
	idx := make(chan int, 50)
	for r := 0; r < 10; r++ {
		for g := 0; g < 5; g++ {
			wg.Go(func() {
				i, err := bar.Wait(ctx)
				if err != nil {
					t.Error(err)
				}
				idx <- i
			})
		}
		wg.Wait()
	}
	close(idx)
	sum := 0
	for i := range idx {
		sum += i
	}
	if sum != 10*10 {
		t.Fatal(sum)
	}
	cm, _ := NewMutex()
	c := mustCond(t, cm)
	ready := 0
	for g := 0; g < 10; g++ {
		wg.Go(func() {
			cm.Lock()
			if err := c.WaitFor(ctx, func() bool { return ready > 0 }); err != nil {
				t.Error(err)
			}
			ready++
			cm.Unlock()
		})
	}
	time.Sleep(20 * time.Millisecond)
	cm.Lock()
	ready = 1
	c.Broadcast()
	cm.Unlock()
	wg.Wait()
	if ready != 11 {
		t.Fatal(ready)
	}
}

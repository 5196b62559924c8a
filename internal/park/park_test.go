//go:build linux && (amd64 || arm64)

package park

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/shmkit/shmkit/internal/mem"
	"github.com/shmkit/shmkit/internal/sys"
	"github.com/shmkit/shmkit/internal/testproc"
)

func TestMain(m *testing.M) { testproc.Main(m) }

// words maps n shared futex words (MAP_SHARED, as across processes).
func words(t *testing.T, n int) []*uint32 {
	t.Helper()
	b, err := unix.Mmap(-1, 0, (n*4+4095)&^4095, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_ANONYMOUS)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Munmap(b) })
	w := make([]*uint32, n)
	for i := range w {
		w[i] = mem.Uint32(b, uintptr(i*4))
	}
	return w
}

// bump changes the word and wakes its sleepers, as every waker does.
func bump(w *uint32) {
	atomic.AddUint32(w, 1)
	sys.FutexWake(w, -1)
}

// waitChange waits until *w differs from v, as callers of Wait do.
func waitChange(ctx context.Context, w *uint32, v uint32, timeout time.Duration) error {
	for atomic.LoadUint32(w) == v {
		if err := Wait(ctx, w, v, timeout); err != nil {
			return err
		}
	}
	return nil
}

func TestWaitReturnsAtOnceWhenChanged(t *testing.T) {
	w := words(t, 1)[0]
	atomic.StoreUint32(w, 5)
	if err := Wait(context.Background(), w, 4, -1); err != nil {
		t.Fatal(err)
	}
}

func TestTimeout(t *testing.T) {
	w := words(t, 1)[0]
	for _, d := range []time.Duration{0, time.Millisecond, DirectSlice + 5*time.Millisecond} {
		start := time.Now()
		err := Wait(context.Background(), w, 0, d)
		if !errors.Is(err, ErrTimeout) {
			t.Fatalf("timeout %v: %v", d, err)
		}
		if el := time.Since(start); el < d {
			t.Fatalf("timeout %v returned after %v", d, el)
		}
	}
}

func TestCancel(t *testing.T) {
	w := words(t, 1)[0]
	// Both paths: a short-lived context ends during the direct sleep, a
	// longer one after the wait moved to a dispatcher.
	for _, d := range []time.Duration{DirectSlice / 4, DirectSlice * 5} {
		ctx, cancel := context.WithTimeout(context.Background(), d)
		err := Wait(ctx, w, 0, -1)
		cancel()
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("after %v: %v", d, err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := Wait(ctx, w, 0, -1); !errors.Is(err, context.Canceled) {
		t.Fatal(err)
	}
}

// TestManyWaiters parks goroutines on more distinct words than the
// dispatchers hold, so that every path runs (direct, dispatched, polling),
// and wakes them all.
func TestManyWaiters(t *testing.T) {
	const nw = MaxDispatchers*perDispatcher + 100
	const per = 3
	ws := words(t, nw)
	var wg sync.WaitGroup
	var woke atomic.Int32
	for _, w := range ws {
		for g := 0; g < per; g++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := waitChange(context.Background(), w, 0, -1); err != nil {
					t.Error(err)
				}
				woke.Add(1)
			}()
		}
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		s := Snapshot()
		if s.Waiters+s.Polling+s.Direct >= nw*per-MaxDirect || time.Now().After(deadline) {
			t.Logf("parked: %+v", s)
			if s.Polling == 0 {
				t.Errorf("no goroutine polls with %d words: %+v", nw, s)
			}
			if s.Dispatchers != MaxDispatchers {
				t.Errorf("%d dispatchers, want %d", s.Dispatchers, MaxDispatchers)
			}
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	if n := woke.Load(); n != 0 {
		t.Fatalf("%d woke before any word changed", n)
	}
	for _, w := range ws {
		bump(w)
	}
	wg.Wait()
	if s := Snapshot(); s.Waiters != 0 || s.Words != 0 || s.Polling != 0 {
		t.Fatalf("left behind: %+v", s)
	}
}

// TestNoLostWakeups races wakers against goroutines going to sleep, on a
// few words, many times: every wait must end.
func TestNoLostWakeups(t *testing.T) {
	ws := words(t, 4)
	const rounds = 2000
	var wg sync.WaitGroup
	for _, w := range ws {
		for g := 0; g < 4; g++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
				defer cancel()
				for v := uint32(0); v < rounds; {
					cur := atomic.LoadUint32(w)
					if cur > v {
						v = cur
						continue
					}
					if err := Wait(ctx, w, cur, -1); err != nil {
						t.Errorf("stuck at %d: %v", cur, err)
						return
					}
				}
			}()
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < rounds; i++ {
				bump(w)
				if i%16 == 0 {
					time.Sleep(50 * time.Microsecond)
				}
			}
		}()
	}
	wg.Wait()
}

// TestDispatcherEnds checks that an idle dispatcher gives its thread back.
func TestDispatcherEnds(t *testing.T) {
	w := words(t, 1)[0]
	if err := Wait(context.Background(), w, 0, DirectSlice*3); !errors.Is(err, ErrTimeout) {
		t.Fatal(err)
	}
	deadline := time.Now().Add(idleExit + 30*time.Second)
	for Snapshot().Dispatchers != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("dispatchers still running: %+v", Snapshot())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

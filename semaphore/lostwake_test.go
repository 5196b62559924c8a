//go:build linux && (amd64 || arm64)

package semaphore

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shmkit/shmkit/internal/shmtest"
	"github.com/shmkit/shmkit/internal/testproc"
	"github.com/shmkit/shmkit/shm"
)

// childLostWake makes the change its argument names (an Event Set, a
// Semaphore Release, a Cond Signal) and stops between the change and its
// wake-up call, where the parent kills it.
var childLostWake = segChild("sem-lostwake", func(c *testproc.Child, seg *shm.Segment, f []string) error {
	testHookWake = func() { c.Point("changed") }
	switch f[0] {
	case "event":
		ev, err := OpenEvent(context.Background(), seg, "x")
		if err != nil {
			return err
		}
		return ev.Set()
	case "semaphore":
		s, err := Open(context.Background(), seg, "x")
		if err != nil {
			return err
		}
		return s.Release(1)
	case "cond":
		cd, err := OpenCond(context.Background(), seg, "x")
		if err != nil {
			return err
		}
		if err := cd.Mutex().Lock(); err != nil {
			return err
		}
		return cd.Signal() // killed holding the mutex
	}
	return fmt.Errorf("unknown kind %q", f[0])
})

// TestKillWakerBeforeWake kills a waker after it changed the shared word
// and before its FUTEX_WAKE: the sleepers it owed a wake-up must still see
// the change (within lostWake), not sleep forever. A Cond's waker holds the
// mutex: its sleeper returns with ErrOwnerDead.
func TestKillWakerBeforeWake(t *testing.T) {
	for _, kind := range []string{"event", "semaphore", "cond"} {
		t.Run(kind, func(t *testing.T) {
			for round := 0; round < 3; round++ {
				seg := testSeg(t)
				var wait func(context.Context) error
				var asleep func() bool
				switch kind {
				case "event":
					ev := mustEvent(t, shm.In(seg, "x"))
					wait = ev.Wait
					asleep = func() bool { return atomic.LoadUint32(ev.word)&evSleepers != 0 }
				case "semaphore":
					s, err := New(0, shm.In(seg, "x"))
					if err != nil {
						t.Fatal(err)
					}
					wait = func(ctx context.Context) error { return s.Acquire(ctx, 1) }
					asleep = func() bool { return s.Waiting() == 1 }
				case "cond":
					mu := mustMutex(t, shm.In(seg, "mu"))
					cd := mustCond(t, mu, shm.In(seg, "x"))
					wait = func(ctx context.Context) error {
						if err := mu.Lock(); err != nil {
							return err
						}
						defer mu.Unlock()
						return cd.Wait(ctx)
					}
					asleep = func() bool { return cd.Waiting() == 1 }
				}
				ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
				done := make(chan error, 1)
				go func() { done <- wait(ctx) }()
				for !asleep() {
					time.Sleep(time.Millisecond)
				}
				time.Sleep(10 * time.Millisecond) // into the kernel, most likely
				p := shmtest.Start(t, time.Minute, childLostWake, seg.Name(), kind)
				p.WaitPoint("changed")
				p.Kill()
				if !p.Wait().Killed() {
					t.Fatal("the waker was not killed")
				}
				killed := time.Now()
				if err := <-done; err != nil && !(kind == "cond" && errors.Is(err, ErrOwnerDead)) {
					t.Fatalf("round %d: the waiter got %v, want nil", round, err)
				} else if kind == "cond" && err == nil {
					t.Fatalf("round %d: the waiter got nil, want ErrOwnerDead (the waker died holding the mutex)", round)
				}
				t.Logf("round %d: the waiter saw the change %v after the waker died", round, time.Since(killed).Round(time.Millisecond))
				cancel()
			}
		})
	}
}

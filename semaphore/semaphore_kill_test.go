//go:build linux && (amd64 || arm64)

package semaphore

// SIGKILL tests of the Semaphore's queue: a waiter killed at the head of
// the queue, behind it, between taking its ticket and recording it, or
// while giving up at the head, must never hold up the waiters behind it,
// nor TryAcquire. Children are portChildAcquire (semaphore_port_test.go),
// stopped at a testHookSem point and killed there.

import (
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shmkit/shmkit/internal/mem"
	"github.com/shmkit/shmkit/shm"
)

// semKillRounds is how many times the quicker kill tests repeat.
const semKillRounds = 12

// semKillSetup makes this round's semaphore, holding n units, and clears
// the words block.
func semKillSetup(t *testing.T, seg *shm.Segment, w []byte, round, n int) (*Semaphore, string) {
	t.Helper()
	clear(w)
	name := fmt.Sprint("sem", round)
	return portNew(t, n, false, shm.In(seg, name)), name
}

// semKillRun runs rounds rounds of a kill test on one segment and words
// block: body gets the round's empty semaphore and returns how many units
// it must hold at the end, with nobody waiting. The latencies body adds
// are logged as what.
func semKillRun(t *testing.T, rounds int, what string, body func(seg *shm.Segment, w []byte, lat *killLatencies, round int, s *Semaphore, name string) (want int)) {
	t.Helper()
	seg := testSeg(t)
	w := mpWords(t, seg)
	var lat killLatencies
	for round := range rounds {
		s, name := semKillSetup(t, seg, w, round, 0)
		want := body(seg, w, &lat, round, s, name)
		if s.Value() != want || s.Waiting() != 0 {
			t.Fatalf("round %d: %v at the end, want %d units", round, s, want)
		}
	}
	lat.log(t, what)
}

// TestKillSemaphoreWaiterAtHead: a waiter killed at the head of the queue,
// waiting for more units than there are, is passed over: by the waiter
// behind it (which until then must not be served), or, with nobody behind,
// by a TryAcquire or an Acquire of this process.
func TestKillSemaphoreWaiterAtHead(t *testing.T) {
	semKillRun(t, semKillRounds, "waiter killed at the head", func(seg *shm.Segment, w []byte, lat *killLatencies, round int, s *Semaphore, name string) int {
		head := portStart(t, seg, name, 5, 0, 1, "head", 0)
		head.WaitPoint("head")
		if round%2 == 0 {
			behind := portStart(t, seg, name, 1, 0, 2, "-", 2)
			portQueued(t, s, 2)
			s.Release(1)
			if round == 0 {
				mpNeverWithin(t, mpQuiet, "the waiter behind a live head was served", func() bool { return mpLoad(w, mpWWoken) != 0 })
			}
			head.Kill()
			killed := time.Now()
			killMustDie(t, head)
			mpEventually(t, "the waiter behind the dead head served", func() bool { return mpLoad(w, mpWWoken) == 1 })
			lat.add(t, time.Since(killed))
			if res := mpResult(t, behind); res != "nil" {
				t.Fatalf("round %d: the waiter behind: %s", round, res)
			}
		} else {
			s.Release(1)
			if acquired(s.TryAcquire(1)) {
				t.Fatal("TryAcquire(1) succeeded with a live waiter at the head")
			}
			head.Kill()
			killed := time.Now()
			killMustDie(t, head)
			if round%4 == 1 {
				mpEventually(t, "TryAcquire past the dead head", func() bool { return acquired(s.TryAcquire(1)) })
			} else if err := s.Acquire(mpContext(t), 1); err != nil {
				t.Fatalf("round %d: Acquire behind the dead head: %v", round, err)
			}
			lat.add(t, time.Since(killed))
		}
		return 0
	})
}

// TestKillSemaphoreWaiterInQueue: a waiter killed behind the head is
// passed over when its turn comes: by the waiter behind it, or by a later
// Acquire.
func TestKillSemaphoreWaiterInQueue(t *testing.T) {
	semKillRun(t, semKillRounds, "waiter killed in the queue, passed over", func(seg *shm.Segment, w []byte, lat *killLatencies, round int, s *Semaphore, name string) int {
		ctx := mpContext(t)
		first := make(chan error, 1)
		go func() { first <- s.Acquire(ctx, 2) }()
		portQueued(t, s, 1)
		dead := portStart(t, seg, name, 1, 0, 1, "queued", 0)
		dead.WaitPoint("queued")
		dead.Kill()
		killMustDie(t, dead)
		if round%2 == 0 {
			behind := portStart(t, seg, name, 1, 0, 2, "-", 2)
			portQueued(t, s, 3)
			s.Release(3)
			served := time.Now()
			if err := <-first; err != nil {
				t.Fatal(err)
			}
			if res := mpResult(t, behind); res != "nil" {
				t.Fatalf("round %d: the waiter behind the dead one: %s", round, res)
			}
			lat.add(t, time.Since(served))
		} else {
			s.Release(2)
			if err := <-first; err != nil {
				t.Fatal(err)
			}
			s.Release(1)
			served := time.Now()
			if err := s.Acquire(ctx, 1); err != nil {
				t.Fatalf("round %d: Acquire after the dead waiter's turn: %v", round, err)
			}
			lat.add(t, time.Since(served))
		}
		return 0
	})
}

// TestKillSemaphoreWaiterBeforeRecord: a waiter killed between taking its
// ticket and recording itself in its slot is passed over after
// unwrittenGrace by the waiter behind it; TryAcquire does not pass it
// over (it might be a live waiter about to record itself).
func TestKillSemaphoreWaiterBeforeRecord(t *testing.T) {
	semKillRun(t, 2, "waiter killed before recording itself, passed over", func(seg *shm.Segment, w []byte, lat *killLatencies, round int, s *Semaphore, name string) int {
		dead := portStart(t, seg, name, 1, 0, 1, "ticket", 0)
		dead.WaitPoint("ticket")
		dead.Kill()
		killed := time.Now()
		killMustDie(t, dead)
		s.Release(1)
		if acquired(s.TryAcquire(1)) {
			t.Fatal("TryAcquire passed over a head that has not recorded itself")
		}
		behind := portStart(t, seg, name, 1, 0, 2, "-", 2)
		if res := mpResult(t, behind); res != "nil" {
			t.Fatalf("round %d: the waiter behind: %s", round, res)
		}
		lat.add(t, time.Since(killed))
		return 0
	})
}

// TestKillSemaphoreCancelAtHead: a waiter that gives up at the head of the
// queue passes its turn on: also when it is killed between marking its
// slot cancelled and passing it, and when its giving up races with the
// Release it waited for (then it either took the units, and gives them
// back, or did not).
func TestKillSemaphoreCancelAtHead(t *testing.T) {
	semKillRun(t, semKillRounds, "head gave up, next served", func(seg *shm.Segment, w []byte, lat *killLatencies, round int, s *Semaphore, name string) int {
		kill := round%2 == 0
		stopAt := "-"
		if kill {
			stopAt = "cancelled"
		}
		head := portStart(t, seg, name, 5, -1, 1, stopAt, 0)
		portQueued(t, s, 1)
		behind := portStart(t, seg, name, 1, 0, 2, "-", 2)
		portQueued(t, s, 2)
		s.Release(4)
		atomic.StoreUint32(mem.Uint32(w, portWStop), 1)
		if kill {
			head.WaitPoint("cancelled")
			head.Kill()
			killMustDie(t, head)
		} else {
			s.Release(1) // races with the cancellation
		}
		start := time.Now()
		mpEventually(t, "the waiter behind the cancelled head served", func() bool {
			return mpLoad(w, mpWWoken) >= 1 && s.Waiting() == 0
		})
		if res := mpResult(t, behind); res != "nil" {
			t.Fatalf("round %d: the waiter behind: %s", round, res)
		}
		lat.add(t, time.Since(start))
		want := 3
		if !kill {
			if res := mpResult(t, head); res != "canceled" && res != "nil" {
				t.Fatalf("round %d: the head: %s", round, res)
			}
			want = 4
		}
		return want
	})
}

// TestKillSemaphoreWaiterBeforeRecordTryOnly: a waiter killed between
// taking its ticket and recording itself does not block for ever a
// program that only calls TryAcquire: its calls pass the dead head over
// once it has stayed unrecorded for the grace.
func TestKillSemaphoreWaiterBeforeRecordTryOnly(t *testing.T) {
	seg := testSeg(t)
	w := mpWords(t, seg)
	s, name := semKillSetup(t, seg, w, 0, 0)
	dead := portStart(t, seg, name, 1, 0, 1, "ticket", 0)
	dead.WaitPoint("ticket")
	dead.Kill()
	killMustDie(t, dead)
	s.Release(1)
	if acquired(s.TryAcquire(1)) {
		t.Fatal("TryAcquire passed over a head that has not recorded itself")
	}
	for deadline := time.Now().Add(killNoticed); !acquired(s.TryAcquire(1)); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("TryAcquire never passed over the dead, unrecorded head: %v", s)
		}
	}
	if s.Value() != 0 || s.Waiting() != 0 {
		t.Fatalf("%v at the end", s)
	}
}

//go:build linux

package main

// The Mutex beside sync.Mutex: a lock and unlock with no one else about,
// and a counter that two processes (two goroutines, for sync.Mutex)
// increment under one lock.

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/shmkit/shmkit/process"
	"github.com/shmkit/shmkit/semaphore"
	"github.com/shmkit/shmkit/shm"
)

func init() {
	register(measure{label: "Mutex and sync.Mutex lock+unlock, uncontended",
		names:      []string{"mutex_uncontended_ns", "sync_mutex_uncontended_ns"},
		run:        uncontended,
		alternates: true})
	registerOne("Mutex-protected counter (2 processes)", "mutex_counter_2proc_ops_per_s", counter2Proc)
	registerOne("sync.Mutex-protected counter (2 goroutines)", "sync_mutex_counter_2goroutine_ops_per_s", counter2Goroutines)
}

// uncontended times Lock and Unlock in one goroutine, of a Mutex and of a
// sync.Mutex in turn, each for half of cfg.dur a repetition, so that both
// are measured at the same moments; ns. The loops are written out: a call
// through a func value would add its own cost to both.
func uncontended(ctx context.Context, cfg config) (figures, error) {
	m, err := semaphore.NewMutex()
	if err != nil {
		return nil, err
	}
	defer m.Free()
	var sm sync.Mutex
	d := cfg.dur / 2
	var own, std []float64
	for range reps(cfg, rateReps) {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		t0, n, t := time.Now(), 0, newTimer(ctx, d)
		for ; !t.over(); n++ {
			if err := m.Lock(); err != nil {
				t.stop()
				return nil, err
			}
			m.Unlock()
		}
		own = append(own, perOp(t0, n))
		t0, n, t = time.Now(), 0, newTimer(ctx, d)
		for ; !t.over(); n++ {
			sm.Lock()
			//lint:ignore SA2001 the peer of an uncontended lock and unlock
			sm.Unlock()
		}
		std = append(std, perOp(t0, n))
	}
	if o := m.Owner(); o != 0 {
		return nil, fmt.Errorf("the mutex is held by %d after the last Unlock", o)
	}
	return figures{
		"mutex_uncontended_ns":      cfg.note("mutex_uncontended_ns", own),
		"sync_mutex_uncontended_ns": cfg.note("sync_mutex_uncontended_ns", std),
	}, nil
}

// perOp is the mean time in ns of n operations since t0.
func perOp(t0 time.Time, n int) float64 {
	return float64(time.Since(t0).Nanoseconds()) / float64(max(n, 1))
}

// counterArg is the argument of the counter's second process: the lock,
// the counter (word 0 of slot 0 of Words, a plain word that only the lock
// guards), and where it reports how many increments it made (slot 1).
type counterArg struct {
	Mutex *semaphore.Mutex
	Words shm.Handle
	Sync  *semaphore.Barrier
	Reps  int
	Dur   time.Duration
}

var counterChild = process.Register("shmbench.counter", func(ctx context.Context, a counterArg) error {
	words, err := resolve(a.Words)
	if err != nil {
		return err
	}
	cnt := word(words, 0, 0)
	return childReps(ctx, a.Sync, a.Reps, func() error {
		n, err := increment(ctx, a.Mutex, cnt, a.Dur)
		if err != nil {
			return err
		}
		atomic.StoreUint64(word(words, 1, 0), n)
		return nil
	})
})

// increment adds 1 to *cnt under m for d, and returns how many times it
// did.
func increment(ctx context.Context, m *semaphore.Mutex, cnt *uint64, d time.Duration) (uint64, error) {
	var n uint64
	t := newTimer(ctx, d)
	defer t.stop()
	for ; !t.over(); n++ {
		if err := m.Lock(); err != nil {
			return n, err
		}
		*cnt++ // a plain add: the lock alone keeps it whole
		m.Unlock()
	}
	return n, nil
}

// counter2Proc has this process and a child increment one counter under
// one Mutex, each for cfg.dur; the counter must be the sum of their
// increments. ops/s: increments in all a second.
func counter2Proc(ctx context.Context, cfg config) ([]float64, error) {
	m, err := semaphore.NewMutex()
	if err != nil {
		return nil, err
	}
	defer m.Free()
	words, bar, g, done, err := newRig(ctx, 2, 2)
	if err != nil {
		return nil, err
	}
	defer done()
	cnt := word(words, 0, 0)
	nr := reps(cfg, rateReps)
	if err := start(g, counterChild, counterArg{Mutex: m, Words: words.Handle(), Sync: bar, Reps: nr, Dur: cfg.dur}); err != nil {
		return nil, err
	}
	rate, err := cfg.repeat(ctx, nr, func() (float64, error) {
		atomic.StoreUint64(cnt, 0) // the child waits at the barrier
		mine, el, err := parentRep(g, bar, func() (uint64, error) { return increment(ctx, m, cnt, cfg.dur) })
		if err != nil {
			return 0, err
		}
		theirs := atomic.LoadUint64(word(words, 1, 0))
		if got := atomic.LoadUint64(cnt); got != mine+theirs {
			return 0, fmt.Errorf("the counter is %d after %d + %d increments", got, mine, theirs)
		}
		return float64(mine+theirs) / el.Seconds(), nil
	})
	if err != nil {
		return nil, err
	}
	return rate, g.join()
}

// counter2Goroutines is counter2Proc with a sync.Mutex and two goroutines
// of this process.
func counter2Goroutines(ctx context.Context, cfg config) ([]float64, error) {
	return cfg.repeat(ctx, reps(cfg, rateReps), func() (float64, error) {
		var s struct {
			sync.Mutex
			n uint64
		}
		var wg sync.WaitGroup
		var counts [2]uint64
		t0 := time.Now()
		for i := range counts {
			wg.Go(func() {
				var n uint64
				t := newTimer(ctx, cfg.dur)
				defer t.stop()
				for ; !t.over(); n++ {
					s.Lock()
					s.n++
					s.Unlock()
				}
				counts[i] = n
			})
		}
		wg.Wait()
		el := time.Since(t0)
		if s.n != counts[0]+counts[1] {
			return 0, fmt.Errorf("the counter is %d after %d + %d increments", s.n, counts[0], counts[1])
		}
		return float64(s.n) / el.Seconds(), nil
	})
}

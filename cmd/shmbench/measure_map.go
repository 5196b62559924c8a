//go:build linux

package main

// The shared Map beside a Go map with a sync.RWMutex (and, in python.go,
// Python's Manager().dict()): Set then Get of int64 keys and values, by two
// processes (two goroutines, for the Go map), each on keys of its own, so
// that every Get has a known answer and the final contents can be checked.

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/shmkit/shmkit/process"
	"github.com/shmkit/shmkit/semaphore"
	"github.com/shmkit/shmkit/shm"
	"github.com/shmkit/shmkit/shmap"
)

// mapKeys is how many keys each user of the map cycles through: user u's
// i-th Set is of key mapKey(u, i) to value i, so that after the first
// mapKeys Sets a Set overwrites (the table stops growing).
const mapKeys = 1 << 14

func mapKey(u int, i uint64) int64 { return int64(u)<<32 | int64(i%mapKeys) }

func init() {
	registerOne("shmap.Map Set+Get (2 processes)", "map_ops_per_s", map2Proc)
	registerOne("Go map + sync.RWMutex Set+Get (2 goroutines)", "go_rwmutex_map_ops_per_s", rwMap2Goroutines)
}

// mapArg is the argument of the map's second process: the map, the words
// where it reports how many Set+Get pairs it made (slot 1), and the
// barrier that brackets each repetition.
type mapArg struct {
	Map   *shmap.Map[int64, int64]
	Words shm.Handle
	Sync  *semaphore.Barrier
	Reps  int
	Dur   time.Duration
}

var mapChild = process.Register("shmbench.map", func(ctx context.Context, a mapArg) error {
	words, err := resolve(a.Words)
	if err != nil {
		return err
	}
	return childReps(ctx, a.Sync, a.Reps, func() error {
		n, err := setGet(ctx, a.Map, 1, a.Dur)
		if err != nil {
			return err
		}
		atomic.StoreUint64(word(words, 1, 0), n)
		return nil
	})
})

// setGet makes Set+Get pairs of user u's keys for d, each Get checked, and
// returns how many it made.
func setGet(ctx context.Context, m *shmap.Map[int64, int64], u int, d time.Duration) (uint64, error) {
	var n uint64
	t := newTimer(ctx, d)
	defer t.stop()
	for ; !t.over(); n++ {
		k := mapKey(u, n)
		if err := m.Set(k, int64(n)); err != nil {
			return n, err
		}
		v, ok, err := m.Get(k)
		if err != nil {
			return n, err
		}
		if !ok || v != int64(n) {
			return n, fmt.Errorf("Get(%#x) = %d, %v after Set to %d", k, v, ok, n)
		}
	}
	return n, nil
}

// checkMap checks the map after a repetition in which user u made n[u]
// Set+Get pairs: every key holds the value of its last Set, and there are
// no others. Keys that held a value from an earlier repetition (which this
// one did not reach) are let be: they are counted in want by seen.
func checkMap(m *shmap.Map[int64, int64], n [2]uint64, seen *[2]uint64) error {
	want := 0
	for u := range 2 {
		seen[u] = max(seen[u], min(n[u], mapKeys))
		want += int(seen[u])
		for j := range min(n[u], mapKeys) {
			last := j + (n[u]-1-j)/mapKeys*mapKeys // the last i < n[u] with i%mapKeys == j
			k := mapKey(u, j)
			v, ok, err := m.Get(k)
			if err != nil {
				return err
			}
			if !ok || v != int64(last) {
				return fmt.Errorf("%w: map[%#x] = %d, %v after %d Sets by user %d, want %d", errLost, k, v, ok, n[u], u, last)
			}
		}
	}
	if got := m.Len(); got != want {
		return fmt.Errorf("%w: the map holds %d keys, want %d", errLost, got, want)
	}
	return nil
}

// map2Proc has this process and a child make Set+Get pairs on one Map,
// each for cfg.dur; op/s: Sets and Gets in all a second.
func map2Proc(ctx context.Context, cfg config) ([]float64, error) {
	m, err := shmap.New[int64, int64]()
	if err != nil {
		return nil, err
	}
	defer m.Free()
	words, bar, g, done, err := newRig(ctx, 2, 2)
	if err != nil {
		return nil, err
	}
	defer done()
	nr := reps(cfg, rateReps)
	if err := start(g, mapChild, mapArg{Map: m, Words: words.Handle(), Sync: bar, Reps: nr, Dur: cfg.dur}); err != nil {
		return nil, err
	}
	var seen [2]uint64
	rate, err := cfg.repeat(ctx, nr, func() (float64, error) {
		mine, el, err := parentRep(g, bar, func() (uint64, error) { return setGet(ctx, m, 0, cfg.dur) })
		if err != nil {
			return 0, err
		}
		theirs := atomic.LoadUint64(word(words, 1, 0))
		if err := checkMap(m, [2]uint64{mine, theirs}, &seen); err != nil {
			return 0, err
		}
		return 2 * float64(mine+theirs) / el.Seconds(), nil
	})
	if err != nil {
		return nil, err
	}
	return rate, g.join()
}

// rwMap2Goroutines is map2Proc with a Go map under a sync.RWMutex (Set
// under Lock, Get under RLock) and two goroutines of this process.
func rwMap2Goroutines(ctx context.Context, cfg config) ([]float64, error) {
	return cfg.repeat(ctx, reps(cfg, rateReps), func() (float64, error) {
		var s struct {
			sync.RWMutex
			m map[int64]int64
		}
		s.m = map[int64]int64{}
		var wg sync.WaitGroup
		var counts [2]uint64
		var bad atomic.Int64
		t0 := time.Now()
		for u := range counts {
			wg.Go(func() {
				var n uint64
				t := newTimer(ctx, cfg.dur)
				defer t.stop()
				for ; !t.over(); n++ {
					k := mapKey(u, n)
					s.Lock()
					s.m[k] = int64(n)
					s.Unlock()
					s.RLock()
					v, ok := s.m[k]
					s.RUnlock()
					if !ok || v != int64(n) {
						bad.Add(1)
					}
				}
				counts[u] = n
			})
		}
		wg.Wait()
		el := time.Since(t0)
		if want := int(min(counts[0], mapKeys) + min(counts[1], mapKeys)); bad.Load() != 0 || len(s.m) != want {
			return 0, fmt.Errorf("%w: %d wrong Gets; %d keys, want %d", errLost, bad.Load(), len(s.m), want)
		}
		return 2 * float64(counts[0]+counts[1]) / el.Seconds(), nil
	})
}

//go:build linux

package main

// Processes and pools: Pool.Apply's round trip, Pool.Map of x*x, and a
// Process's start and join, as Python's peers measure them (a Pool of 2
// workers, 1,000,000 items, a child that does nothing).

import (
	"context"
	"errors"
	"fmt"
	"syscall"
	"time"

	"github.com/shmkit/shmkit/process"
)

const (
	// mapItems is how many items one Map takes (quick: mapItemsQuick).
	mapItems      = 1_000_000
	mapItemsQuick = 100_000
	// poolWorkers is the size of the pools, as Python's Pool(2).
	poolWorkers = 2
	// poolWarmup is how many untimed Apply calls a pool gets first.
	poolWarmup = 10
)

var (
	// noop is the child of the start and join.
	noop = process.Register("shmbench.noop", func(ctx context.Context, x int) error { return nil })
	// echo is Apply's task.
	echo = process.RegisterFunc("shmbench.echo", func(ctx context.Context, x int) (int, error) { return x, nil })
	// square is Map's.
	square = process.RegisterFunc("shmbench.square", func(ctx context.Context, x int) (int, error) { return x * x, nil })
)

func init() {
	register(measure{label: "Pool.Apply round trip (2 workers)",
		names: []string{"pool_apply_rtt_us"}, pairable: true,
		run: poolApply})
	register(measure{label: "Pool.Map of x*x (2 workers)",
		names: []string{"pool_map_items_per_s"}, pairable: true,
		run: poolMap})
	register(measure{label: "Process start+join",
		names: []string{"process_start_join_ms"}, pairable: true,
		run: startJoin})
	register(measure{label: "Process start+join, spares on",
		names: []string{"process_start_join_spares_ms"}, pairable: true,
		run: startJoinSpares})
}

// withPool runs f on a pool of poolWorkers, warmed up (every worker has
// answered), and closes and joins it after, checking that its workers are
// gone.
func withPool(ctx context.Context, f func(ctx context.Context, p *process.Pool) ([]float64, error)) ([]float64, error) {
	p, err := process.NewPool(poolWorkers, nil)
	if err != nil {
		return nil, err
	}
	pids := p.Pids()
	gctx, cancel := context.WithTimeout(ctx, joinGuard) // the warm-up's
	defer cancel()
	for i := range poolWarmup {
		if v, err := process.Apply(gctx, p, echo, i); v != i || err != nil {
			err = fmt.Errorf("Apply(%d) = %d, %v", i, v, err)
			return nil, errors.Join(err, endPool(p, pids))
		}
	}
	x, err := f(ctx, p)
	return x, errors.Join(err, endPool(p, pids))
}

// endPool closes p and joins it, terminating it if it takes longer than
// joinGuard.
func endPool(p *process.Pool, pids []int) error {
	p.Close()
	ctx, cancel := context.WithTimeout(context.Background(), joinGuard)
	defer cancel()
	if err := p.Join(ctx); err != nil {
		p.Terminate()
		jctx, cancel := context.WithTimeout(context.Background(), joinGuard)
		defer cancel()
		p.Join(jctx)
		return fmt.Errorf("pool Join: %w", err)
	}
	for _, pid := range append(pids, p.Pids()...) {
		if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
			return fmt.Errorf("pool worker %d still there after Join (kill: %v)", pid, err)
		}
	}
	return nil
}

// poolApply calls Apply of a function that returns its argument, in turn,
// for cfg.dur a repetition; us.
func poolApply(ctx context.Context, cfg config) (figures, error) {
	us, err := withPool(ctx, func(ctx context.Context, p *process.Pool) ([]float64, error) {
		i := poolWarmup
		return cfg.repeat(ctx, reps(cfg, rateReps), func() (float64, error) {
			// A hung pool ends the call instead of the run.
			cctx, cancel := context.WithTimeout(ctx, cfg.dur+joinGuard)
			defer cancel()
			t0 := time.Now()
			n := 0
			t := newTimer(ctx, cfg.dur)
			defer t.stop()
			for ; !t.over(); n++ {
				if v, err := process.Apply(cctx, p, echo, i); v != i || err != nil {
					return 0, fmt.Errorf("Apply(%d) = %d, %v", i, v, err)
				}
				i++
			}
			return time.Since(t0).Seconds() * 1e6 / float64(n), nil
		})
	})
	if err != nil {
		return nil, err
	}
	return figures{"pool_apply_rtt_us": cfg.note("pool_apply_rtt_us", us)}, nil
}

// poolMap maps x*x over mapItems ints (quick: mapItemsQuick), in the
// default chunks, in turn for cfg.dur a repetition, at least once;
// item/s, over the time spent in Map (the results are checked apart).
func poolMap(ctx context.Context, cfg config) (figures, error) {
	items := mapItems
	if cfg.quick {
		items = mapItemsQuick
	}
	xs := make([]int, items)
	for i := range xs {
		xs[i] = i
	}
	rates, err := withPool(ctx, func(ctx context.Context, p *process.Pool) ([]float64, error) {
		return cfg.repeat(ctx, reps(cfg, rateReps), func() (float64, error) {
			end := time.Now().Add(cfg.dur)
			maps, el := 0, time.Duration(0) // el: the time in Map, the checks left out
			for maps == 0 || time.Now().Before(end) {
				cctx, cancel := context.WithTimeout(ctx, joinGuard+time.Duration(items)*time.Microsecond)
				t0 := time.Now()
				out, err := process.Map(cctx, p, square, xs)
				el += time.Since(t0)
				cancel()
				if err != nil {
					return 0, err
				}
				if len(out) != len(xs) {
					return 0, fmt.Errorf("%d results of Map for %d items", len(out), len(xs))
				}
				for i, v := range out {
					if v != i*i {
						return 0, fmt.Errorf("result %d of Map is %d", i, v)
					}
				}
				maps++
			}
			return float64(maps*items) / el.Seconds(), nil
		})
	})
	if err != nil {
		return nil, err
	}
	return figures{"pool_map_items_per_s": cfg.note("pool_map_items_per_s", rates)}, nil
}

// sparesKept is how many spares the start and join with spares keeps.
const sparesKept = 2

// startJoin starts a child that does nothing and joins it, in turn, for
// cfg.dur a repetition (at least 3 times); ms.
func startJoin(ctx context.Context, cfg config) (figures, error) {
	ms, err := startJoins(ctx, cfg)
	if err != nil {
		return nil, err
	}
	return figures{"process_start_join_ms": cfg.note("process_start_join_ms", ms)}, nil
}

// startJoinSpares is startJoin with sparesKept spares kept
// (process.Spares), after an untimed repetition that starts them.
func startJoinSpares(ctx context.Context, cfg config) (figures, error) {
	if err := process.Spares(sparesKept); err != nil {
		return nil, err
	}
	defer process.Spares(0)
	if _, err := startJoinsFor(ctx, cfg.dur); err != nil {
		return nil, err
	}
	ms, err := startJoins(ctx, cfg)
	if err != nil {
		return nil, err
	}
	return figures{"process_start_join_spares_ms": cfg.note("process_start_join_spares_ms", ms)}, nil
}

// startJoins is startJoin's repetitions.
func startJoins(ctx context.Context, cfg config) ([]float64, error) {
	return cfg.repeat(ctx, reps(cfg, rateReps), func() (float64, error) {
		return startJoinsFor(ctx, cfg.dur)
	})
}

// startJoinsFor starts a child that does nothing and joins it, in turn,
// for d (at least 3 times); ms each.
func startJoinsFor(ctx context.Context, d time.Duration) (float64, error) {
	t0 := time.Now()
	end := t0.Add(d)
	n := 0
	for n < 3 || time.Now().Before(end) {
		p := process.New(noop, n)
		if err := p.Start(); err != nil {
			return 0, err
		}
		jctx, cancel := context.WithTimeout(ctx, joinGuard)
		err := p.Join(jctx)
		cancel()
		if err != nil {
			p.Kill()
			kctx, cancel := context.WithTimeout(context.Background(), joinGuard)
			p.Join(kctx)
			cancel()
			return 0, fmt.Errorf("%s: Join: %w", p, err)
		}
		if code, _ := p.ExitCode(); code != 0 {
			return 0, fmt.Errorf("%s: exit code %d", p, code)
		}
		n++
	}
	return time.Since(t0).Seconds() * 1e3 / float64(n), nil
}

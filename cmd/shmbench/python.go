//go:build linux

package main

import (
	"context"
	"errors"
	"fmt"
	"math"

	"github.com/shmkit/shmkit/bench"
)

// pyPeer is a figure of Python's multiprocessing, measured by the
// project's own script through bench.Python.
type pyPeer struct {
	name   string // the JSON name
	label  string // for the progress line
	figure string // bench's figure
	// perSecond is how many units of n the value stands for per second
	// (bench.Python's n is messages, rounds, items, processes...), to
	// choose the n that runs about config.dur.
	perSecond func(v float64) float64
	guess     float64 // perSecond on a 2-core EPYC, for the first run
	// minN is the least n, even in a quick run: below it the start (the
	// first process Python forks, its feeder thread) weighs on the figure.
	minN int
	// items, when set, is n whatever the time it takes: the same n as
	// shmkit's own measure, since the chunks of a map depend on it.
	items func(cfg config) int
}

var pyPeers = []pyPeer{
	{name: "python_queue_msgs_per_s", label: "Python mp.Queue", figure: bench.Queue,
		perSecond: func(v float64) float64 { return v }, guess: 120e3, minN: 5000},
	{name: "python_locked_value_ops_per_s", label: "Python locked Value, 2 processes", figure: bench.LockedValue,
		perSecond: func(v float64) float64 { return v / 2 }, guess: 300e3, minN: 10000},
	{name: "python_pool_apply_rtt_us", label: "Python Pool.apply", figure: bench.PoolApply,
		perSecond: func(v float64) float64 { return 1e6 / v }, guess: 4e3, minN: 200},
	{name: "python_pool_map_items_per_s", label: "Python Pool.map", figure: bench.PoolMap,
		perSecond: func(v float64) float64 { return v }, guess: 2.5e6, minN: 1000,
		items: func(cfg config) int {
			if cfg.quick {
				return mapItemsQuick
			}
			return mapItems
		}},
	{name: "python_fork_start_join_ms", label: "Python Process start+join, fork", figure: bench.StartJoinFork,
		perSecond: func(v float64) float64 { return 1e3 / v }, guess: 75, minN: 10},
	{name: "python_spawn_start_join_ms", label: "Python Process start+join, spawn", figure: bench.StartJoinSpawn,
		perSecond: func(v float64) float64 { return 1e3 / v }, guess: 12, minN: 3},
	{name: "python_manager_dict_ops_per_s", label: "Python Manager dict Set+Get, 2 processes", figure: bench.ManagerDict,
		perSecond: func(v float64) float64 { return v / 4 }, guess: 20e3, minN: 2000},
}

func init() {
	for _, p := range pyPeers {
		register(measure{label: p.label, names: []string{p.name}, run: p.run})
	}
}

// pyReps is how many times a Python figure runs, in a full run as in a
// quick one; its value is the median.
const pyReps = 3

// run runs the script pyReps times and returns the median: the first
// run's n comes from guess, the others' from what the one before
// measured, so that each runs about cfg.dur on any machine.
func (p pyPeer) run(ctx context.Context, cfg config) (figures, error) {
	rate := p.guess
	var got []float64
	for range pyReps {
		n := max(p.minN, int(rate*cfg.dur.Seconds()))
		if p.items != nil {
			n = p.items(cfg)
		}
		v, err := bench.Python(ctx, p.figure, n)
		if errors.Is(err, bench.ErrNoPython) {
			return nil, fmt.Errorf("%w: no python3", errSkip)
		}
		if err != nil {
			return nil, err
		}
		if !(v > 0) || math.IsInf(v, 0) {
			return nil, fmt.Errorf("python %s %d: bad value %v", p.figure, n, v)
		}
		got = append(got, v)
		rate = p.perSecond(v)
	}
	return figures{p.name: cfg.note(p.name, got)}, nil
}

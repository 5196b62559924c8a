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
		register(p.measure(bench.Python))
	}
}

// pyReps is how many times a Python figure runs, in a full run as in a
// quick one, and so how many pairs a session that pairs it makes; its
// value is the median.
const pyReps = 5

// pyCall runs a figure of Python's with parameter n and returns its value:
// bench.Python, or a stand-in in tests.
type pyCall func(ctx context.Context, figure string, n int) (float64, error)

// measure is p's measure, each repetition one call: one Python process,
// whose start-up the value leaves out (the script starts its clock once
// its processes or pool are ready), so that the call is one turn of a
// pair. The first call's n comes from guess, each other's from what the
// one before measured, so that each times about cfg.dur on any machine.
func (p pyPeer) measure(call pyCall) measure {
	return measure{label: p.label, names: []string{p.name}, pairable: true, pairReps: pyReps,
		run: func(ctx context.Context, cfg config) (figures, error) {
			rate := p.guess
			got, err := cfg.repeat(ctx, pyReps, func() (float64, error) {
				n := max(p.minN, int(rate*cfg.dur.Seconds()))
				if p.items != nil {
					n = p.items(cfg)
				}
				v, err := call(ctx, p.figure, n)
				if errors.Is(err, bench.ErrNoPython) {
					return 0, fmt.Errorf("%w: no python3", errSkip)
				}
				if err != nil {
					return 0, err
				}
				if !(v > 0) || math.IsInf(v, 0) {
					return 0, fmt.Errorf("python %s %d: bad value %v", p.figure, n, v)
				}
				rate = p.perSecond(v)
				return v, nil
			})
			if err != nil {
				return nil, err
			}
			return figures{p.name: cfg.note(p.name, got)}, nil
		}}
}

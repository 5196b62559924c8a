//go:build linux

package main

// Paired measurement: a figure and the peer or ceiling it is divided by
// are measured in alternating repetitions, A B A B ..., so that each
// repetition of the one has a repetition of the other taken moments apart,
// on a machine in the same state. The ratio of a row is then the median of
// the ratios of those pairs, and their spread says how far the ratio can
// be trusted, whatever the machine did between one pair and the next.
//
// Both measures of a pair run at once, each in its own goroutine with its
// own children, and meet at a pairing: each side sets up (untimed, the two
// set-ups may overlap), then waits at its first repetition until the other
// has set up too; from there only one side runs a repetition at a time,
// in turn, A first; after its last repetition each waits for the other's,
// so that no side's tear-down overlaps the other's timed loop. A side that
// returns early (an error) leaves the other to go on alone.

import (
	"context"
	"math"
	"slices"
	"sync"
)

// pairing alternates the repetitions of two measures, sides 0 and 1.
type pairing struct {
	n       int // the repetitions of each side
	mu      sync.Mutex
	changed chan struct{} // closed, and replaced, at each change below
	ready   [2]bool       // the side reached its repetitions
	done    [2]int        // the repetitions the side has finished
	gone    [2]bool       // the side's measure returned
}

func newPairing(n int) *pairing {
	return &pairing{n: n, changed: make(chan struct{})}
}

// turn is one side of a pairing, as a measure's config carries it.
type turn struct {
	p    *pairing
	side int
}

// update changes the state under the lock and wakes every waiter.
func (p *pairing) update(f func()) {
	p.mu.Lock()
	defer p.mu.Unlock()
	f()
	close(p.changed)
	p.changed = make(chan struct{})
}

// await waits until ok, called under the lock, holds, or ctx ends.
func (p *pairing) await(ctx context.Context, ok func() bool) error {
	for {
		p.mu.Lock()
		if ok() {
			p.mu.Unlock()
			return nil
		}
		ch := p.changed
		p.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// leave marks the side's measure as returned: the other no longer waits
// for it.
func (t turn) leave() { t.p.update(func() { t.p.gone[t.side] = true }) }

// repeat is config.repeat for a side of a pairing: t.p.n repetitions of
// rep, each in its turn. A measure pairs its first call only; a later one
// runs alone.
func (t turn) repeat(ctx context.Context, rep func() (float64, error)) ([]float64, error) {
	p, me, other := t.p, t.side, 1-t.side
	first := false
	p.update(func() { first, p.ready[me] = !p.ready[me], true })
	if !first {
		return repeat(ctx, p.n, rep)
	}
	xs := make([]float64, 0, p.n)
	for i := range p.n {
		// Side 0 runs repetition i once side 1 has finished i of its own;
		// side 1 once side 0 has finished i+1.
		err := p.await(ctx, func() bool {
			return p.gone[other] || (p.ready[other] && p.done[other] >= i+me)
		})
		if err != nil {
			return nil, err
		}
		x, err := rep()
		if err != nil {
			return nil, err
		}
		xs = append(xs, x)
		p.update(func() { p.done[me]++ })
	}
	err := p.await(ctx, func() bool { return p.gone[other] || p.done[other] >= p.n })
	if err != nil {
		return nil, err
	}
	return xs, nil
}

// runPair runs measures a and b paired, n repetitions each, and returns
// their outcomes.
func runPair(ctx context.Context, cfg config, n int, a, b measure) (*outcome, *outcome) {
	p := newPairing(n)
	out := [2]*outcome{}
	var wg sync.WaitGroup
	for side, m := range []measure{a, b} {
		wg.Go(func() {
			mcfg := cfg
			mcfg.reps = map[string][]float64{}
			mcfg.turn = &turn{p: p, side: side}
			figs, err := runOne(ctx, mcfg, m)
			mcfg.turn.leave()
			out[side] = &outcome{m: m, figs: figs, reps: mcfg.reps, err: err}
		})
	}
	wg.Wait()
	return out[0], out[1]
}

// ratioStat is the spread of the pairwise ratios of a row: how many times
// faster shmkit is than the peer (below 1: slower), in each pair of
// repetitions.
type ratioStat struct {
	Median float64 `json:"median"`
	Min    float64 `json:"min,omitempty"`
	Q1     float64 `json:"q1,omitempty"` // the lower quartile
	Q3     float64 `json:"q3,omitempty"` // the upper quartile
	Max    float64 `json:"max,omitempty"`
	N      int     `json:"n"`      // the pairs; 0 when not paired
	Paired bool    `json:"paired"` // false: the ratio of two medians measured apart
}

// pairRatios are the ratios, shmkit's over the peer's (the peer's over
// shmkit's for times), of the repetitions of s and p taken in turn: the
// i-th of one with the i-th of the other, as many as both have.
func pairRatios(s, p []float64, lowerBetter bool) []float64 {
	var rs []float64
	for i := range min(len(s), len(p)) {
		a, b := s[i], p[i]
		if lowerBetter {
			a, b = b, a
		}
		if a > 0 && b > 0 && !math.IsInf(a, 0) && !math.IsInf(b, 0) {
			rs = append(rs, a/b)
		}
	}
	return rs
}

// newRatioStat sums up pairwise ratios.
func newRatioStat(rs []float64) ratioStat {
	s := slices.Clone(rs)
	slices.Sort(s)
	return ratioStat{Median: median(s), Min: s[0], Q1: quantile(s, 0.25), Q3: quantile(s, 0.75),
		Max: s[len(s)-1], N: len(s), Paired: true}
}

// quantile is the q-quantile of sorted s, interpolated between the two
// nearest values.
func quantile(s []float64, q float64) float64 {
	x := q * float64(len(s)-1)
	i := int(x)
	if i+1 >= len(s) {
		return s[len(s)-1]
	}
	return s[i] + (x-float64(i))*(s[i+1]-s[i])
}

//go:build linux

package main

import (
	"context"
	"errors"
	"time"
)

// figures are the numbers of one run, by JSON name (see required).
type figures map[string]float64

// config is how long each measure runs.
type config struct {
	quick bool
	// dur is how long a measure's timed loop should run (each repetition);
	// a measure runs about this long, plus its set-up.
	dur time.Duration
	// reps, when not nil, keeps what each repetition of a figure measured,
	// by name (see note); the suite gives each measure its own.
	reps map[string][]float64
}

// note keeps xs as the repetitions of the figure name and returns their
// median, the figure itself.
func (cfg config) note(name string, xs []float64) float64 {
	if cfg.reps != nil {
		cfg.reps[name] = xs
	}
	return median(xs)
}

// measure produces one or more figures. A measure that cannot run (no
// python3, no C compiler) returns errSkip wrapped with the reason; its
// figures are then left out of the output.
type measure struct {
	label string   // what the progress line shows
	names []string // the figures it gives
	run   func(ctx context.Context, cfg config) (figures, error)
}

// errSkip is wrapped by the error of a measure that cannot run here, with
// the reason: fmt.Errorf("%w: no python3", errSkip) reads "skipped: no
// python3". A skip is not a failure: the run's exit status ignores it.
var errSkip = errors.New("skipped")

var measures []measure

// register adds a measure to the suite; measure files call it from init,
// and the suite runs them in the order of rows below (by the first row
// that needs one of their figures), then any others.
func register(m measure) { measures = append(measures, m) }

// required are the figure names -json must carry whenever the measure
// behind them could run.
var required = []string{
	"ring_spsc_msgs_per_s", "ring_spsc_batch_msgs_per_s", "ceiling_ring_msgs_per_s",
	"chan_msgs_per_s", "pipe_msgs_per_s", "unix_socket_msgs_per_s", "python_queue_msgs_per_s",
	"queue_mpmc_1p1c_msgs_per_s", "queue_mpmc_2p2c_msgs_per_s",
	"pingpong_spin_rtt_ns", "pingpong_park_rtt_ns", "pingpong_default_rtt_ns", "pipe_pingpong_rtt_ns",
	"ceiling_spin_rtt_ns", "ceiling_futex_rtt_ns",
	"mutex_uncontended_ns", "sync_mutex_uncontended_ns",
	"mutex_counter_2proc_ops_per_s", "sync_mutex_counter_2goroutine_ops_per_s", "python_locked_value_ops_per_s",
	"bulk_64k_gb_per_s", "memcpy_64k_gb_per_s",
	"pool_apply_rtt_us", "python_pool_apply_rtt_us",
	"pool_map_items_per_s", "python_pool_map_items_per_s",
	"process_start_join_ms", "python_fork_start_join_ms", "python_spawn_start_join_ms",
	"map_ops_per_s", "python_manager_dict_ops_per_s",
	"parked_goroutines_threads",
	"hot_path_allocs_per_op",
}

// row is a line of the table: a target of the design's BENCH.md, the
// figure it is about, and the peer or ceiling it stands beside.
type row struct {
	metric string // what is measured
	shmkit string // the figure
	unit   string // of the figure and its peer
	peer   string // the figure it stands beside; "" for none
	label  string // what the peer is, for the table
	// ratio relates shmkit to its peer the way the target reads:
	// faster (peer/shmkit, for times), of (shmkit/peer), or times
	// (shmkit/peer, for times: "2.05x C's round trip").
	ratio  ratioKind
	target string // as BENCH.md states it; "" for a row that only reports
	// score is how the figures stand against the target: >= 1 is met
	// (shmkit at twice a "≥" bound scores 2); ok is false when a figure
	// it needs is missing.
	score func(f figures) (s float64, ok bool)
}

type ratioKind int

const (
	none   ratioKind = iota
	of               // shmkit / peer, for rates: "0.64x the C ring"
	faster           // peer / shmkit, for times: "19.8x faster"
	times            // shmkit / peer, for times: "2.05x C's round trip"
)

// value is a ratio of the row's figures.
func (r row) value(f figures) (float64, bool) {
	s, ok1 := f[r.shmkit]
	p, ok2 := f[r.peer]
	if !ok1 || !ok2 || s <= 0 || p <= 0 {
		return 0, false
	}
	switch r.ratio {
	case of, times:
		return s / p, true
	case faster:
		return p / s, true
	}
	return 0, false
}

// Scores, for rows: each is >= 1 when its bound holds.
func atLeast(name string, x float64) func(figures) (float64, bool) {
	return func(f figures) (float64, bool) { v, ok := f[name]; return v / x, ok }
}

func atMost(name string, x float64) func(figures) (float64, bool) {
	return func(f figures) (float64, bool) {
		v, ok := f[name]
		if !ok {
			return 0, false
		}
		if v <= 0 {
			return 1e9, true
		}
		return x / v, true
	}
}

// ratioAtLeast: the row's ratio is at least x.
func ratioAtLeast(r *row, x float64) func(figures) (float64, bool) {
	return func(f figures) (float64, bool) { v, ok := r.value(f); return v / x, ok }
}

// ratioAtMost: the row's ratio is at most x.
func ratioAtMost(r *row, x float64) func(figures) (float64, bool) {
	return func(f figures) (float64, bool) {
		v, ok := r.value(f)
		if !ok || v <= 0 {
			return 0, ok
		}
		return x / v, true
	}
}

// both holds when a and b hold; its score is the lower one.
func both(a, b func(figures) (float64, bool)) func(figures) (float64, bool) {
	return func(f figures) (float64, bool) {
		x, ok1 := a(f)
		y, ok2 := b(f)
		return min(x, y), ok1 && ok2
	}
}

// present holds when the figure was measured (a "reported" target).
func present(name string) func(figures) (float64, bool) {
	return func(f figures) (float64, bool) { _, ok := f[name]; return 1, ok }
}

// rows are the table, in BENCH.md's order of targets.
var rows = func() []*row {
	rs := []*row{
		{metric: "SPSC ring, 8 B messages, one call each (2 processes)", shmkit: "ring_spsc_msgs_per_s", unit: "msg/s",
			peer: "python_queue_msgs_per_s", label: "Python mp.Queue", ratio: of, target: ">= 100 M msg/s; >= 1000x Python Queue"},
		{metric: "  the same beside a Go channel (goroutines)", shmkit: "ring_spsc_msgs_per_s", unit: "msg/s",
			peer: "chan_msgs_per_s", label: "chan int64", ratio: of},
		{metric: "  the same beside os.Pipe (2 processes)", shmkit: "ring_spsc_msgs_per_s", unit: "msg/s",
			peer: "pipe_msgs_per_s", label: "os.Pipe", ratio: of},
		{metric: "  the same beside a unix socket (2 processes)", shmkit: "ring_spsc_msgs_per_s", unit: "msg/s",
			peer: "unix_socket_msgs_per_s", label: "unix socket", ratio: of},
		{metric: "SPSC ring, batch calls (2 processes)", shmkit: "ring_spsc_batch_msgs_per_s", unit: "msg/s",
			peer: "ceiling_ring_msgs_per_s", label: "C ring", ratio: of, target: ">= 50% of the C ring"},
		{metric: "MPMC queue, 64 B, 1 producer 1 consumer", shmkit: "queue_mpmc_1p1c_msgs_per_s", unit: "msg/s",
			peer: "chan_msgs_per_s", label: "chan int64", ratio: of, target: ">= 20 M msg/s"},
		{metric: "MPMC queue, 64 B, 2 producers 2 consumers (4 processes)", shmkit: "queue_mpmc_2p2c_msgs_per_s", unit: "msg/s",
			target: "reported; nothing lost"},
		{metric: "ping-pong round trip, spinning (2 processes)", shmkit: "pingpong_spin_rtt_ns", unit: "ns",
			peer: "ceiling_spin_rtt_ns", label: "C spin", ratio: times, target: "<= 1.5x the C spin round trip"},
		{metric: "ping-pong round trip, every wait sleeps (2 processes)", shmkit: "pingpong_park_rtt_ns", unit: "ns",
			peer: "ceiling_futex_rtt_ns", label: "C futex", ratio: times, target: "<= 1.2x the C futex round trip"},
		{metric: "  the same beside os.Pipe", shmkit: "pingpong_park_rtt_ns", unit: "ns",
			peer: "pipe_pingpong_rtt_ns", label: "os.Pipe", ratio: faster, target: "faster than os.Pipe"},
		{metric: "ping-pong through rings, default mode (yields, then sleeps)", shmkit: "pingpong_default_rtt_ns", unit: "ns",
			peer: "pipe_pingpong_rtt_ns", label: "os.Pipe", ratio: faster},
		{metric: "Mutex lock+unlock, uncontended", shmkit: "mutex_uncontended_ns", unit: "ns",
			peer: "sync_mutex_uncontended_ns", label: "sync.Mutex", ratio: times, target: "<= 1.5x sync.Mutex"},
		{metric: "Mutex-protected counter, 2 processes", shmkit: "mutex_counter_2proc_ops_per_s", unit: "op/s",
			peer: "sync_mutex_counter_2goroutine_ops_per_s", label: "sync.Mutex, 2 goroutines", ratio: of, target: ">= 0.5x sync.Mutex"},
		{metric: "  the same beside Python", shmkit: "mutex_counter_2proc_ops_per_s", unit: "op/s",
			peer: "python_locked_value_ops_per_s", label: "Python locked Value", ratio: of, target: ">= 20x Python"},
		{metric: "64 KiB messages through a ring (2 processes)", shmkit: "bulk_64k_gb_per_s", unit: "GB/s",
			peer: "memcpy_64k_gb_per_s", label: "memcpy 64 KiB", ratio: of, target: ">= 50% of memcpy"},
		{metric: "Pool.Apply round trip", shmkit: "pool_apply_rtt_us", unit: "us",
			peer: "python_pool_apply_rtt_us", label: "Python Pool.apply", ratio: faster, target: "<= 20 us; >= 10x Python"},
		{metric: "Pool.Map of x*x, 1 M items", shmkit: "pool_map_items_per_s", unit: "item/s",
			peer: "python_pool_map_items_per_s", label: "Python Pool.map", ratio: of, target: ">= 5 M item/s; >= 2x Python"},
		{metric: "Process start+join", shmkit: "process_start_join_ms", unit: "ms",
			peer: "python_fork_start_join_ms", label: "Python fork", ratio: faster, target: "<= 3 ms; >= 4x Python fork"},
		{metric: "  the same beside Python spawn", shmkit: "process_start_join_ms", unit: "ms",
			peer: "python_spawn_start_join_ms", label: "Python spawn", ratio: faster},
		{metric: "shared map Set/Get of plain keys and values, 2 processes", shmkit: "map_ops_per_s", unit: "op/s",
			peer: "python_manager_dict_ops_per_s", label: "Python Manager dict", ratio: of, target: ">= 4 M op/s; >= 200x Python's Manager dict"},
		{metric: "  the same beside a Go map with sync.RWMutex (2 goroutines)", shmkit: "map_ops_per_s", unit: "op/s",
			peer: "go_rwmutex_map_ops_per_s", label: "map + sync.RWMutex", ratio: of},
		{metric: "allocations on ring, lock and value hot paths", shmkit: "hot_path_allocs_per_op", unit: "alloc/op",
			target: "0 per operation"},
		{metric: "10,000 goroutines parked on shared objects", shmkit: "parked_goroutines_threads", unit: "threads",
			target: "<= 16 OS threads"},
	}
	scores := []func(figures) (float64, bool){
		both(atLeast("ring_spsc_msgs_per_s", 100e6), ratioAtLeast(rs[0], 1000)),
		nil, nil, nil,
		ratioAtLeast(rs[4], 0.5),
		atLeast("queue_mpmc_1p1c_msgs_per_s", 20e6),
		present("queue_mpmc_2p2c_msgs_per_s"),
		ratioAtMost(rs[7], 1.5),
		ratioAtMost(rs[8], 1.2),
		ratioAtLeast(rs[9], 1),
		nil,
		ratioAtMost(rs[11], 1.5),
		ratioAtLeast(rs[12], 0.5),
		ratioAtLeast(rs[13], 20),
		ratioAtLeast(rs[14], 0.5),
		both(atMost("pool_apply_rtt_us", 20), ratioAtLeast(rs[15], 10)),
		both(atLeast("pool_map_items_per_s", 5e6), ratioAtLeast(rs[16], 2)),
		both(atMost("process_start_join_ms", 3), ratioAtLeast(rs[17], 4)),
		nil,
		both(atLeast("map_ops_per_s", 4e6), ratioAtLeast(rs[19], 200)),
		nil,
		func(f figures) (float64, bool) {
			v, ok := f["hot_path_allocs_per_op"]
			if v == 0 {
				return 1, ok
			}
			return 0, ok
		},
		atMost("parked_goroutines_threads", 16),
	}
	for i, s := range scores {
		rs[i].score = s
	}
	return rs
}()

//go:build linux

package main

import (
	"context"
	"errors"
	"math"
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
	// turn, when not nil, pairs the measure's repetitions with those of
	// another measure (see pairing): the suite sets it.
	turn *turn
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
	// pairable: the measure gives one figure from one call of
	// config.repeat, so that the suite may pair it with another (see
	// pairing).
	pairable bool
	// alternates: the measure takes the repetitions of its figures in
	// turn itself, so that the i-th of each make a pair.
	alternates bool
	// pairReps, when not 0, is how many repetitions a session that pairs
	// the measure makes, each side: fewer than the run's for a measure
	// whose repetitions cost much more than they time (a Python process
	// each). A pair takes the lesser of its measures' counts.
	pairReps int
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
	"ring_spsc_msgs_per_s", "ring_spsc_batch_msgs_per_s", "ceiling_ring_msgs_per_s", "ceiling_ring1_msgs_per_s",
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
	"process_start_join_spares_ms",
	"map_ops_per_s", "python_manager_dict_ops_per_s",
	"parked_goroutines_threads",
	"hot_path_allocs_per_op",
	"pubsub_lossless_1sub_msgs_per_s", "pubsub_lossless_2sub_msgs_per_s", "pubsub_lossless_4sub_msgs_per_s",
	"ring_spsc_fanout_1_msgs_per_s", "ring_spsc_fanout_2_msgs_per_s", "ring_spsc_fanout_4_msgs_per_s",
}

// row is a line of the table: a target of shmkit's design, the figure it
// is about, and the peer or ceiling it stands beside.
type row struct {
	metric string // what is measured
	shmkit string // the figure
	unit   string // of the figure and its peer
	peer   string // the figure it stands beside; "" for none
	label  string // what the peer is, for the table
	// target is the design's goal, its parts separated by "; ", a ratio
	// in it read as the ratio column reads ("<= 2x slower"); "" for a row
	// that only reports.
	target string
	// parts are the target's parts, in order: each scores how the figures
	// stand against its part, >= 1 when it is met (shmkit at twice a ">="
	// bound scores 2); ok is false when a figure it needs is missing.
	parts []scoreFunc
}

// scoreFunc scores figures against one part of a target.
type scoreFunc func(f figures) (s float64, ok bool)

// lowerIsBetter tells whether figures of unit are times, where less is
// better, rather than rates or counts.
func lowerIsBetter(unit string) bool {
	switch unit {
	case "ns", "us", "ms", "s":
		return true
	}
	return false
}

// ratioKey names the row's ratio in -json's "ratios", and among the
// figures that score the targets (see result.scored).
func (r row) ratioKey() string { return r.shmkit + "/" + r.peer }

// value is how many times faster shmkit is than the peer: shmkit/peer for
// rates, peer/shmkit for times; below 1, shmkit is slower. It is the
// median of the pairwise ratios when f carries them (under ratioKey), else
// the ratio of the two figures.
func (r row) value(f figures) (float64, bool) {
	if v, ok := f[r.ratioKey()]; ok && r.peer != "" {
		return v, v > 0
	}
	s, ok1 := f[r.shmkit]
	p, ok2 := f[r.peer]
	if r.peer == "" || !ok1 || !ok2 || s <= 0 || p <= 0 {
		return 0, false
	}
	if lowerIsBetter(r.unit) {
		return p / s, true
	}
	return s / p, true
}

// score is how the figures stand against the whole target: the lowest
// score of its parts, ok when every part could be scored.
func (r row) score(f figures) (float64, bool) {
	if len(r.parts) == 0 {
		return 0, false
	}
	lo, all := math.Inf(1), true
	for _, p := range r.parts {
		s, ok := p(f)
		lo, all = min(lo, s), all && ok
	}
	return lo, all
}

// Scores of one part of a target: each is >= 1 when its bound holds.
func atLeast(name string, x float64) scoreFunc {
	return func(f figures) (float64, bool) { v, ok := f[name]; return v / x, ok }
}

func atMost(name string, x float64) scoreFunc {
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

// fasterBy: shmkit is at least x times faster than the row's peer.
func fasterBy(r *row, x float64) scoreFunc {
	return func(f figures) (float64, bool) { v, ok := r.value(f); return v / x, ok }
}

// slowerBy: shmkit is at most x times slower than the row's peer.
func slowerBy(r *row, x float64) scoreFunc {
	return func(f figures) (float64, bool) { v, ok := r.value(f); return v * x, ok }
}

// notBelow: the figure name is at least the figure of.
func notBelow(name, of string) scoreFunc {
	return func(f figures) (float64, bool) {
		v, ok1 := f[name]
		w, ok2 := f[of]
		if !ok1 || !ok2 || w <= 0 {
			return 0, false
		}
		return v / w, true
	}
}

// present holds when the figure was measured (a "reported" target).
func present(name string) scoreFunc {
	return func(f figures) (float64, bool) { _, ok := f[name]; return 1, ok }
}

// rows are the table, in the order of the design's targets (BENCH.md),
// with the bounds that the speed work since has raised some of them to.
var rows = func() []*row {
	rs := []*row{
		{metric: "SPSC ring, 8 B messages, one call each (2 processes)", shmkit: "ring_spsc_msgs_per_s", unit: "msg/s",
			peer: "python_queue_msgs_per_s", label: "Python mp.Queue", target: ">= 100 M msg/s; >= 1000x faster"},
		{metric: "  the same beside a C ring, one message per call", shmkit: "ring_spsc_msgs_per_s", unit: "msg/s",
			peer: "ceiling_ring1_msgs_per_s", label: "C ring, one per call", target: "<= 2x slower"},
		{metric: "  the same beside a Go channel (goroutines)", shmkit: "ring_spsc_msgs_per_s", unit: "msg/s",
			peer: "chan_msgs_per_s", label: "chan int64"},
		{metric: "  the same beside os.Pipe (2 processes)", shmkit: "ring_spsc_msgs_per_s", unit: "msg/s",
			peer: "pipe_msgs_per_s", label: "os.Pipe"},
		{metric: "  the same beside a unix socket (2 processes)", shmkit: "ring_spsc_msgs_per_s", unit: "msg/s",
			peer: "unix_socket_msgs_per_s", label: "unix socket"},
		{metric: "SPSC ring, batch calls (2 processes)", shmkit: "ring_spsc_batch_msgs_per_s", unit: "msg/s",
			peer: "ceiling_ring_msgs_per_s", label: "C ring", target: "<= 1.25x slower"},
		{metric: "MPMC queue, 64 B, 1 producer 1 consumer", shmkit: "queue_mpmc_1p1c_msgs_per_s", unit: "msg/s",
			peer: "chan_msgs_per_s", label: "chan int64", target: ">= 25 M msg/s"},
		{metric: "MPMC queue, 64 B, 2 producers 2 consumers (4 processes)", shmkit: "queue_mpmc_2p2c_msgs_per_s", unit: "msg/s",
			target: "nothing lost; >= the 1p1c rate"},
		{metric: "ping-pong round trip, spinning (2 processes)", shmkit: "pingpong_spin_rtt_ns", unit: "ns",
			peer: "ceiling_spin_rtt_ns", label: "C spin", target: "<= 1.3x slower"},
		{metric: "ping-pong round trip, every wait sleeps (2 processes)", shmkit: "pingpong_park_rtt_ns", unit: "ns",
			peer: "ceiling_futex_rtt_ns", label: "C futex", target: "<= 1.2x slower"},
		{metric: "  the same beside os.Pipe", shmkit: "pingpong_park_rtt_ns", unit: "ns",
			peer: "pipe_pingpong_rtt_ns", label: "os.Pipe", target: "faster"},
		{metric: "ping-pong through rings, default mode (yields, then sleeps)", shmkit: "pingpong_default_rtt_ns", unit: "ns",
			peer: "pipe_pingpong_rtt_ns", label: "os.Pipe"},
		{metric: "Mutex lock+unlock, uncontended", shmkit: "mutex_uncontended_ns", unit: "ns",
			peer: "sync_mutex_uncontended_ns", label: "sync.Mutex", target: "<= 1.5x slower"},
		{metric: "Mutex-protected counter, 2 processes", shmkit: "mutex_counter_2proc_ops_per_s", unit: "op/s",
			peer: "sync_mutex_counter_2goroutine_ops_per_s", label: "sync.Mutex, 2 goroutines", target: "<= 1.11x slower"},
		{metric: "  the same beside Python", shmkit: "mutex_counter_2proc_ops_per_s", unit: "op/s",
			peer: "python_locked_value_ops_per_s", label: "Python locked Value", target: ">= 20x faster"},
		{metric: "64 KiB messages through a ring (2 processes)", shmkit: "bulk_64k_gb_per_s", unit: "GB/s",
			peer: "memcpy_64k_gb_per_s", label: "memcpy 64 KiB", target: "<= 2x slower"},
		{metric: "Pool.Apply round trip", shmkit: "pool_apply_rtt_us", unit: "us",
			peer: "python_pool_apply_rtt_us", label: "Python Pool.apply", target: "<= 3 us; >= 10x faster"},
		{metric: "Pool.Map of x*x, 1 M items (-quick: 100 k)", shmkit: "pool_map_items_per_s", unit: "item/s",
			peer: "python_pool_map_items_per_s", label: "Python Pool.map", target: ">= 5 M item/s; >= 10x faster"},
		{metric: "Process start+join", shmkit: "process_start_join_ms", unit: "ms",
			peer: "python_fork_start_join_ms", label: "Python fork", target: "<= 3 ms; >= 4x faster"},
		{metric: "  the same beside Python spawn", shmkit: "process_start_join_ms", unit: "ms",
			peer: "python_spawn_start_join_ms", label: "Python spawn"},
		{metric: "Process start+join, 2 spares kept (process.Spares)", shmkit: "process_start_join_spares_ms", unit: "ms",
			peer: "python_fork_start_join_ms", label: "Python fork", target: "faster"},
		{metric: "shared map Set/Get of plain keys and values, 2 processes", shmkit: "map_ops_per_s", unit: "op/s",
			peer: "python_manager_dict_ops_per_s", label: "Python Manager dict", target: ">= 4 M op/s; >= 200x faster"},
		{metric: "  the same beside a Go map with sync.RWMutex (2 goroutines)", shmkit: "map_ops_per_s", unit: "op/s",
			peer: "go_rwmutex_map_ops_per_s", label: "map + sync.RWMutex", target: "<= 1.33x slower"},
		{metric: "allocations on ring, lock and value hot paths", shmkit: "hot_path_allocs_per_op", unit: "alloc/op",
			target: "0 per operation"},
		{metric: "10,000 goroutines parked on shared objects", shmkit: "parked_goroutines_threads", unit: "threads",
			target: "<= 16 OS threads"},
		{metric: "PubSub lossless, 8 B, 1 subscriber process (msg/s each)", shmkit: "pubsub_lossless_1sub_msgs_per_s", unit: "msg/s",
			peer: "ring_spsc_fanout_1_msgs_per_s", label: "1 SPSC ring"},
		{metric: "PubSub lossless, 8 B, 2 subscriber processes (msg/s each)", shmkit: "pubsub_lossless_2sub_msgs_per_s", unit: "msg/s",
			peer: "ring_spsc_fanout_2_msgs_per_s", label: "2 SPSC rings, one producer"},
		{metric: "PubSub lossless, 8 B, 4 subscriber processes (msg/s each)", shmkit: "pubsub_lossless_4sub_msgs_per_s", unit: "msg/s",
			peer: "ring_spsc_fanout_4_msgs_per_s", label: "4 SPSC rings, one producer"},
		{metric: "loaned round trip 8 B, default mode (2 processes)", shmkit: "loaned_rtt_8b_ns", unit: "ns",
			peer: "copied_rtt_8b_ns", label: "Push and Pop of [8]byte"},
		{metric: "loaned round trip 64 KiB, default mode (2 processes)", shmkit: "loaned_rtt_64k_ns", unit: "ns",
			peer: "copied_rtt_64k_ns", label: "Push and Pop of [64 KiB]byte"},
		{metric: "loaned round trip 1 MiB, default mode (2 processes)", shmkit: "loaned_rtt_1m_ns", unit: "ns",
			peer: "copied_rtt_1m_ns", label: "Push and Pop of [1 MiB]byte"},
		{metric: "loaned round trip 8 B, spinning (2 processes)", shmkit: "loaned_spin_rtt_8b_ns", unit: "ns",
			peer: "copied_spin_rtt_8b_ns", label: "Push and Pop of [8]byte"},
		{metric: "loaned round trip 64 KiB, spinning (2 processes)", shmkit: "loaned_spin_rtt_64k_ns", unit: "ns",
			peer: "copied_spin_rtt_64k_ns", label: "Push and Pop of [64 KiB]byte"},
		{metric: "loaned round trip 1 MiB, spinning (2 processes)", shmkit: "loaned_spin_rtt_1m_ns", unit: "ns",
			peer: "copied_spin_rtt_1m_ns", label: "Push and Pop of [1 MiB]byte"},
	}
	parts := [][]scoreFunc{
		{atLeast("ring_spsc_msgs_per_s", 100e6), fasterBy(rs[0], 1000)},
		{slowerBy(rs[1], 2)},
		nil, nil, nil,
		{slowerBy(rs[5], 1.25)},
		{atLeast("queue_mpmc_1p1c_msgs_per_s", 25e6)},
		{present("queue_mpmc_2p2c_msgs_per_s"), notBelow("queue_mpmc_2p2c_msgs_per_s", "queue_mpmc_1p1c_msgs_per_s")},
		{slowerBy(rs[8], 1.3)},
		{slowerBy(rs[9], 1.2)},
		{fasterBy(rs[10], 1)},
		nil,
		{slowerBy(rs[12], 1.5)},
		{slowerBy(rs[13], 1/0.9)},
		{fasterBy(rs[14], 20)},
		{slowerBy(rs[15], 2)},
		{atMost("pool_apply_rtt_us", 3), fasterBy(rs[16], 10)},
		{atLeast("pool_map_items_per_s", 5e6), fasterBy(rs[17], 10)},
		{atMost("process_start_join_ms", 3), fasterBy(rs[18], 4)},
		nil,
		{fasterBy(rs[20], 1)},
		{atLeast("map_ops_per_s", 4e6), fasterBy(rs[21], 200)},
		{slowerBy(rs[22], 1/0.75)},
		{func(f figures) (float64, bool) {
			v, ok := f["hot_path_allocs_per_op"]
			if v == 0 {
				return 1, ok
			}
			return 0, ok
		}},
		{atMost("parked_goroutines_threads", 16)},
	}
	for i, p := range parts {
		rs[i].parts = p
	}
	return rs
}()

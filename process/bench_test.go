//go:build linux && (amd64 || arm64)

package process

// Benchmarks of Process and Pool beside their peers, in one run. Each
// benchmark's sub-benchmarks do one job: "shmkit" with real child
// processes, "shmkit-inprocess" with an InProcess pool (goroutines, no
// encoding), "exec-..." with os/exec (the floor of starting a program on
// this machine now), "python..." with Python's multiprocessing through
// bench.Python, so that the ratio between two lines of the same run is the
// figure to read; absolute times on a shared machine are not. A peer's
// line reports that ratio (shmkit-x: how many times faster shmkit was);
// each benchmark logs the ratios beside the targets of cmd/shmbench's
// table once its sub-benchmarks ran (shown with -v). Nothing here asserts a time; what
// is checked is that every result is right.
//
// A pool is made, and warmed up, once per run of a sub-benchmark (testing
// runs it again with a growing b.N), outside the clock; it is closed and
// joined after. Python's figures are Python's own clock, which leaves out
// the interpreter's start.

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/shmkit/shmkit/bench"
	"github.com/shmkit/shmkit/internal/shmtest"
)

var (
	// benchNoop is the trivial child of BenchmarkStartJoin.
	benchNoop = Register("bench.noop", func(ctx context.Context, x int) error { return nil })
	// benchEcho is the trivial task of BenchmarkPoolApply.
	benchEcho = RegisterFunc("bench.echo", func(ctx context.Context, x int) (int, error) { return x, nil })
	// benchSquare is the task of BenchmarkPoolMap.
	benchSquare = RegisterFunc("bench.square", func(ctx context.Context, x int) (int, error) { return x * x, nil })
)

const (
	// benchMapItems is how many items one Map of BenchmarkPoolMap takes.
	benchMapItems = 1_000_000
	// benchMapItems1 is the same with ChunkSize 1, a task per item.
	benchMapItems1 = 100_000
	// benchPoolWorkers is the size of every pool here, as Python's Pool(2).
	benchPoolWorkers = 2
	// benchPoolWarmup is how many untimed Apply calls a pool gets first.
	benchPoolWarmup = 10
)

// BenchmarkStartJoin starts a child running a registered function that
// does nothing and joins it, b.N times in turn. Metric: ms/op.
func BenchmarkStartJoin(b *testing.B) {
	var shmkit, fork, spawn float64 // ms, of the last run of each
	// New, Start and Join of a Process: the test binary re-executed, its
	// argument passed and decoded, the exit status reaped.
	b.Run("shmkit", func(b *testing.B) {
		ctx, tick := benchGuard(b)
		b.ReportAllocs()
		for b.Loop() {
			p := New(benchNoop, 0)
			if err := p.Start(); err != nil {
				b.Fatal(err)
			}
			if err := p.Join(ctx); err != nil {
				p.Kill()
				b.Fatalf("%s: Join: %v", p, err)
			}
			if code, _ := p.ExitCode(); code != 0 {
				b.Fatalf("%s: exit code %d", p, code)
			}
			tick()
		}
		shmkit = benchReportMs(b)
	})
	// The same with 2 spares kept (Spares): back to back, as above, the
	// spares are replaced while the loop runs; "ready" waits, off the
	// clock, until both are ready before each Start, as a program that
	// starts a child now and then finds them.
	for _, ready := range []bool{false, true} {
		name := "shmkit-spares"
		if ready {
			name += "-ready"
		}
		b.Run(name, func(b *testing.B) {
			ctx, tick := benchGuard(b)
			if err := Spares(2); err != nil {
				b.Fatal(err)
			}
			defer Spares(0)
			if _, err := readySpares(2); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if ready && i > 0 {
					b.StopTimer()
					if _, err := readySpares(2); err != nil {
						b.Fatal(err)
					}
					b.StartTimer()
				}
				p := New(benchNoop, 0)
				if err := p.Start(); err != nil {
					b.Fatal(err)
				}
				if err := p.Join(ctx); err != nil {
					p.Kill()
					b.Fatalf("%s: Join: %v", p, err)
				}
				if code, _ := p.ExitCode(); code != 0 {
					b.Fatalf("%s: exit code %d", p, code)
				}
				tick()
			}
			b.StopTimer()
			benchReportMs(b)
		})
	}
	// The floors of the machine now: os/exec running /bin/true, and
	// running this test binary up to the end of its packages' init (see
	// benchExit): the Go runtime's start and the packages', which a child
	// pays before its function runs.
	b.Run("exec-true", func(b *testing.B) {
		benchExec(b, shmkit, "/bin/true")
	})
	b.Run("exec-self", func(b *testing.B) {
		benchExec(b, shmkit, os.Args[0], benchExitEnv+"=1")
	})
	// multiprocessing.Process with the fork start method
	// (bench.StartJoinFork), at least 20 times.
	b.Run("python-fork", func(b *testing.B) {
		// Python's own clock, not the interpreter's start.
		fork = benchPythonTime(b, bench.StartJoinFork, 20, "ms/op", 1e6, shmkit)
	})
	// The same with spawn (a new interpreter each time), at least 5 times.
	b.Run("python-spawn", func(b *testing.B) {
		spawn = benchPythonTime(b, bench.StartJoinSpawn, 5, "ms/op", 1e6, shmkit)
	})
	b.Logf("start+join: shmkit %.2f ms (target <= 3 ms); Python fork %.2f ms, %s (target >= 4x); spawn %.2f ms, %s",
		shmkit, fork, benchRatio(fork, shmkit), spawn, benchRatio(spawn, shmkit))
}

// benchExitEnv, set to 1 in the environment, ends the test binary with
// status 0 as its package is initialised, before TestMain.
const benchExitEnv = "SHMKIT_BENCH_EXIT"

// The exec-self floor of BenchmarkStartJoin ends here, once every package
// of the test binary is initialised.
var _ = func() int {
	if os.Getenv(benchExitEnv) == "1" {
		os.Exit(0)
	}
	return 0
}()

// benchExec runs a command b.N times in turn, as a floor for a start and
// join, with env added to the environment, and reports the time (ms) and
// shmkit's time over it (metric shmkit-over-this).
func benchExec(b *testing.B, shmkit float64, name string, env ...string) {
	b.ReportAllocs()
	for b.Loop() {
		cmd := exec.Command(name)
		cmd.Env = append(raceEnv(cleanEnv(os.Environ())), env...) // as a child's (no exit sleep under -race)
		cmd.WaitDelay = hangGuard
		if out, err := cmd.CombinedOutput(); err != nil {
			b.Fatalf("%s: %v: %s", name, err, out)
		}
	}
	ms := benchReportMs(b)
	if shmkit > 0 {
		b.ReportMetric(shmkit/ms, "shmkit-over-this")
	}
}

// BenchmarkPoolApply calls Apply of a function that returns its argument
// on a pool of 2 workers, b.N times in turn: a round trip through the
// pool. Metric: us/op.
func BenchmarkPoolApply(b *testing.B) {
	var shmkit, python float64 // us, of the last run of each
	// Worker processes: the argument and result travel through the
	// worker's two queues in shared memory. vcsw/op and worker-vcsw/op:
	// how many times per call this process and the workers went to sleep
	// in the kernel (voluntary context switches; 1 or more each: the
	// waits ended asleep, not in their yields).
	b.Run("shmkit", func(b *testing.B) {
		shmkit = benchApply(b, benchPool(b, nil))
	})
	// An InProcess pool: goroutine workers, no encoding.
	b.Run("shmkit-inprocess", func(b *testing.B) {
		benchApply(b, benchPool(b, &PoolOptions{InProcess: true}))
	})
	// pool.apply on a multiprocessing.Pool(2) (bench.PoolApply), at least
	// 2,000 times.
	b.Run("python", func(b *testing.B) {
		python = benchPythonTime(b, bench.PoolApply, 2_000, "us/op", 1e3, shmkit)
	})
	b.Logf("Apply round trip: shmkit %.1f us (target <= 20 us); Python %.1f us, %s (target >= 10x)",
		shmkit, python, benchRatio(python, shmkit))
}

func benchApply(b *testing.B, p *Pool) float64 {
	ctx, tick := benchGuard(b)
	for i := range benchPoolWarmup {
		if v, err := Apply(ctx, p, benchEcho, i); v != i || err != nil {
			b.Fatalf("Apply(%d) = %d, %v", i, v, err)
		}
	}
	pids := p.Pids()
	csw, wcsw := benchVoluntarySwitches(os.Getpid()), benchWorkerSwitches(pids)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if v, err := Apply(ctx, p, benchEcho, i); v != i || err != nil {
			b.Fatalf("Apply(%d) = %d, %v", i, v, err)
		}
		tick()
	}
	csw, wcsw = benchVoluntarySwitches(os.Getpid())-csw, benchWorkerSwitches(pids)-wcsw
	us := b.Elapsed().Seconds() * 1e6 / float64(b.N)
	b.ReportMetric(us, "us/op")
	b.ReportMetric(float64(csw)/float64(b.N), "vcsw/op")
	if len(pids) > 0 {
		b.ReportMetric(float64(wcsw)/float64(b.N), "worker-vcsw/op")
	}
	return us
}

// BenchmarkPoolMap maps x*x over benchMapItems ints on a pool of 2
// workers (an op is one Map), and over benchMapItems1 with ChunkSize 1.
// Metric: items/s.
func BenchmarkPoolMap(b *testing.B) {
	var shmkit, shmkit1, python, python1 float64 // items/s, of the last run of each
	// Worker processes, the default chunks (len/8, at most 4096 items).
	b.Run("shmkit", func(b *testing.B) {
		shmkit = benchMap(b, benchPool(b, nil), benchMapItems)
	})
	// Worker processes, a task per item.
	b.Run("shmkit-chunk1", func(b *testing.B) {
		shmkit1 = benchMap(b, benchPool(b, &PoolOptions{ChunkSize: 1}), benchMapItems1)
	})
	// An InProcess pool, the default chunks, then a task per item.
	b.Run("shmkit-inprocess", func(b *testing.B) {
		benchMap(b, benchPool(b, &PoolOptions{InProcess: true}), benchMapItems)
	})
	b.Run("shmkit-inprocess-chunk1", func(b *testing.B) {
		benchMap(b, benchPool(b, &PoolOptions{InProcess: true, ChunkSize: 1}), benchMapItems1)
	})
	// pool.map(square, range(benchMapItems)) on a multiprocessing.Pool(2)
	// (bench.PoolMap), once: the figure is Python's own clock.
	b.Run("python", func(b *testing.B) {
		python = shmtest.Python(b, bench.PoolMap, benchMapItems, 1)
		b.ReportMetric(python, "items/s")
		b.ReportMetric(benchMapItems/python*1e9, "ns/op") // one map
		benchSpeedup(b, shmkit, python)
	})
	// The same with chunksize=1 over benchMapItems1 (bench.PoolMapChunk1).
	b.Run("python-chunk1", func(b *testing.B) {
		python1 = shmtest.Python(b, bench.PoolMapChunk1, benchMapItems1, 1)
		b.ReportMetric(python1, "items/s")
		b.ReportMetric(benchMapItems1/python1*1e9, "ns/op")
		benchSpeedup(b, shmkit1, python1)
	})
	b.Logf("Map: shmkit %.3g items/s (target >= 5M); Python's chunked map %.3g items/s, %s (target >= 2x); "+
		"a task per item: shmkit %.3g items/s, Python %.3g items/s, %s",
		shmkit, python, benchRatio(shmkit, python), shmkit1, python1, benchRatio(shmkit1, python1))
}

func benchMap(b *testing.B, p *Pool, items int) float64 {
	ctx, tick := benchGuard(b)
	xs := make([]int, items)
	for i := range xs {
		xs[i] = i
	}
	if _, err := Map(ctx, p, benchSquare, xs[:100]); err != nil { // warm-up
		b.Fatal(err)
	}
	var out []int
	b.ReportAllocs()
	for b.Loop() {
		var err error
		if out, err = Map(ctx, p, benchSquare, xs); err != nil {
			b.Fatal(err)
		}
		tick()
	}
	if len(out) != items {
		b.Fatalf("Map gave %d results for %d items", len(out), items)
	}
	for i, v := range out {
		if v != i*i {
			b.Fatalf("item %d: %d", i, v)
		}
	}
	rate := float64(b.N) * float64(items) / b.Elapsed().Seconds()
	b.ReportMetric(rate, "items/s")
	return rate
}

// benchPool is a pool of benchPoolWorkers, warmed up by a few Apply calls
// (every worker ready), closed and joined when the benchmark run ends, its
// workers checked gone.
func benchPool(b *testing.B, opts *PoolOptions) *Pool {
	p, err := NewPool(benchPoolWorkers, opts)
	if err != nil {
		b.Fatal(err)
	}
	pids := p.Pids()
	b.Cleanup(func() {
		p.Close()
		ctx, cancel := context.WithTimeout(context.Background(), hangGuard)
		defer cancel()
		if err := p.Join(ctx); err != nil {
			p.Terminate()
			b.Errorf("pool Join: %v", err)
			p.Join(ctx)
		}
		for _, pid := range append(pids, p.Pids()...) {
			if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
				b.Errorf("pool worker %d still there after Join (kill: %v)", pid, err)
			}
		}
	})
	return p
}

// benchGuard is a context for the waits of a benchmark run, which ends when
// the run makes no progress (tick not called) for hangGuard, so that a hung
// pool fails the benchmark instead of hanging it, however long the run.
func benchGuard(b *testing.B) (ctx context.Context, tick func()) {
	ctx, cancel := context.WithCancel(b.Context())
	var ticks atomic.Uint64
	stop := make(chan struct{})
	go func() {
		t := time.NewTicker(hangGuard)
		defer t.Stop()
		last := ticks.Load()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				if now := ticks.Load(); now != last {
					last = now
					continue
				}
				cancel()
				return
			}
		}
	}()
	b.Cleanup(func() {
		close(stop)
		cancel()
	})
	return ctx, func() { ticks.Add(1) }
}

// benchReportMs reports the time per op in milliseconds, and returns it.
func benchReportMs(b *testing.B) float64 {
	ms := b.Elapsed().Seconds() * 1e3 / float64(b.N)
	b.ReportMetric(ms, "ms/op")
	return ms
}

// benchPythonTime runs Python's figure, a time per op in unit (of perNs
// ns), b.N times or at least atLeast, and reports it, in ns too, and
// shmkit's speed-up over it (shmkit is shmkit's time, in unit).
func benchPythonTime(b *testing.B, figure string, atLeast int, unit string, perNs, shmkit float64) float64 {
	t := shmtest.Python(b, figure, b.N, atLeast)
	b.ReportMetric(t, unit)
	b.ReportMetric(t*perNs, "ns/op")
	benchSpeedup(b, t, shmkit)
	return t
}

// benchSpeedup reports on a peer's line how many times faster shmkit was
// in this run (metric shmkit-x), given the peer's time and shmkit's, or
// shmkit's rate and the peer's; nothing when shmkit's sub-benchmark did
// not run.
func benchSpeedup(b *testing.B, num, den float64) {
	if num > 0 && den > 0 {
		b.ReportMetric(num/den, "shmkit-x")
	}
}

// benchRatio is num/den as "shmkit N.Nx faster", for the summaries.
func benchRatio(num, den float64) string {
	if num <= 0 || den <= 0 {
		return "no ratio"
	}
	return fmt.Sprintf("shmkit %.2fx faster", num/den)
}

// benchVoluntarySwitches is how many times the threads of process pid
// went to sleep in the kernel (voluntary_ctxt_switches summed over
// /proc/PID/task), 0 when that cannot be read.
func benchVoluntarySwitches(pid int) int64 {
	tasks, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	if err != nil {
		return 0
	}
	var n int64
	for _, t := range tasks {
		st, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/status", pid, t.Name()))
		if err != nil {
			continue
		}
		for line := range strings.Lines(string(st)) {
			if v, ok := strings.CutPrefix(line, "voluntary_ctxt_switches:"); ok {
				k, _ := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
				n += k
			}
		}
	}
	return n
}

func benchWorkerSwitches(pids []int) int64 {
	var n int64
	for _, pid := range pids {
		n += benchVoluntarySwitches(pid)
	}
	return n
}

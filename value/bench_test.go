//go:build linux && (amd64 || arm64)

package value

// Benchmarks of Value beside its peers, in one run. Each benchmark's
// sub-benchmarks do one job: "shmkit" with this package, the others with
// what a program would use instead (sync/atomic on an ordinary int64, a
// struct under sync.RWMutex, Python's multiprocessing.Value through
// bench.Python), so that the ratio between two lines of the same run is the
// figure to read; absolute times on a shared machine are not. Nothing here
// asserts a time.
//
// The multi-process sub-benchmark starts one child per run of the
// benchmark function (testing runs it again with a growing b.N), passes it
// its share of b.N, and stops the clock once the child reported it is
// done, before it exits. The child's start-up is not timed.

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/shmkit/shmkit/bench"
	"github.com/shmkit/shmkit/internal/testproc"
	"github.com/shmkit/shmkit/shm"
)

// benchSink keeps what the loops read alive.
var benchSink atomic.Int64

func BenchmarkValueInt64(b *testing.B) {
	newV := func(b *testing.B) *Value[int64] {
		v, err := New[int64](0, shm.In(testSeg(b), "v"))
		if err != nil {
			b.Fatal(err)
		}
		return v
	}
	b.Run("shmkit/Load", func(b *testing.B) {
		v := newV(b)
		var sum int64
		b.ReportAllocs()
		for b.Loop() {
			sum += v.Load()
		}
		benchSink.Store(sum)
	})
	b.Run("atomic/Load", func(b *testing.B) {
		var n int64
		var sum int64
		b.ReportAllocs()
		for b.Loop() {
			sum += atomic.LoadInt64(&n)
		}
		benchSink.Store(sum)
	})
	b.Run("shmkit/Store", func(b *testing.B) {
		v := newV(b)
		var i int64
		b.ReportAllocs()
		for b.Loop() {
			i++
			if err := v.Store(i); err != nil {
				b.Fatal(err)
			}
		}
		if v.Load() != i {
			b.Fatalf("Load() = %d after Store(%d)", v.Load(), i)
		}
	})
	b.Run("atomic/Store", func(b *testing.B) {
		var n, i int64
		b.ReportAllocs()
		for b.Loop() {
			i++
			atomic.StoreInt64(&n, i)
		}
		benchSink.Store(n)
	})
	b.Run("shmkit/Add", func(b *testing.B) {
		v := newV(b)
		b.ReportAllocs()
		for b.Loop() {
			v.Add(1)
		}
		if v.Load() != int64(b.N) {
			b.Fatalf("Load() = %d after %d Add(1)", v.Load(), b.N)
		}
	})
	b.Run("atomic/Add", func(b *testing.B) {
		var n int64
		b.ReportAllocs()
		for b.Loop() {
			atomic.AddInt64(&n, 1)
		}
		benchSink.Store(n)
	})
}

// benchWide is a 64-byte value: wider than a word, so that Load reads the
// current one of its two copies, lock-free, and Store takes the lock.
type benchWide struct {
	A [8]int64
}

func BenchmarkValueWide(b *testing.B) {
	b.Run("shmkit/Load", func(b *testing.B) {
		v, err := New(benchWide{A: [8]int64{1, 2, 3, 4, 5, 6, 7, 8}}, shm.In(testSeg(b), "w"))
		if err != nil {
			b.Fatal(err)
		}
		var sum int64
		b.ReportAllocs()
		for b.Loop() {
			w := v.Load()
			sum += w.A[7]
		}
		benchSink.Store(sum)
	})
	b.Run("RWMutex/Load", func(b *testing.B) {
		var s struct {
			sync.RWMutex
			w benchWide
		}
		s.w.A[7] = 8
		var sum int64
		b.ReportAllocs()
		for b.Loop() {
			s.RLock()
			w := s.w
			s.RUnlock()
			sum += w.A[7]
		}
		benchSink.Store(sum)
	})
	// For information: a wide Store takes the Value's lock.
	b.Run("shmkit/Store", func(b *testing.B) {
		v, err := New(benchWide{}, shm.In(testSeg(b), "w"))
		if err != nil {
			b.Fatal(err)
		}
		var w benchWide
		b.ReportAllocs()
		for b.Loop() {
			w.A[0]++
			if err := v.Store(w); err != nil {
				b.Fatal(err)
			}
		}
		if v.Load() != w {
			b.Fatalf("Load() = %v after Store(%v)", v.Load(), w)
		}
	})
	b.Run("RWMutex/Store", func(b *testing.B) {
		var s struct {
			sync.RWMutex
			w benchWide
		}
		var w benchWide
		b.ReportAllocs()
		for b.Loop() {
			w.A[0]++
			s.Lock()
			s.w = w
			s.Unlock()
		}
		benchSink.Store(s.w.A[0])
	})
}

// BenchmarkValueUpdate is Update uncontended, in one process, beside an
// int64 under sync.Mutex, for information: what one locked increment
// costs, and what it allocates.
func BenchmarkValueUpdate(b *testing.B) {
	b.Run("shmkit", func(b *testing.B) {
		v, err := New[int64](0, shm.In(testSeg(b), "n"))
		if err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		for b.Loop() {
			if err := v.Update(benchIncrement); err != nil {
				b.Fatal(err)
			}
		}
		if v.Load() != int64(b.N) {
			b.Fatalf("counter = %d after %d increments", v.Load(), b.N)
		}
	})
	b.Run("sync.Mutex", func(b *testing.B) {
		var s struct {
			sync.Mutex
			n int64
		}
		b.ReportAllocs()
		for b.Loop() {
			s.Lock()
			benchIncrement(&s.n)
			s.Unlock()
		}
		benchSink.Store(s.n)
	})
}

// benchChildUpdate adds 1, n times, to the Value[int64] "n" of segment
// name with Update, between the points "ready" and "done". Arg: "NAME N".
var benchChildUpdate = testproc.Register("value-bench-update", func(c *testproc.Child) error {
	name, num, ok := strings.Cut(c.Arg(), " ")
	n, err := strconv.Atoi(num)
	if !ok || err != nil || n < 0 {
		return fmt.Errorf("bad argument %q, want \"SEGMENT N\"", c.Arg())
	}
	seg, err := shm.Open(context.Background(), name, nil)
	if err != nil {
		return err
	}
	defer seg.Close()
	v, err := Open[int64](context.Background(), seg, "n")
	if err != nil {
		return err
	}
	c.Point("ready")
	for range n {
		if err := v.Update(benchIncrement); err != nil {
			return err
		}
	}
	c.Point("done")
	return nil
})

func benchIncrement(x *int64) { *x++ }

// benchPyMinPerProc is the fewest increments each Python process makes, so
// that Python's clock measures many even when b.N is small.
const benchPyMinPerProc = 200_000

// BenchmarkValueUpdate2Proc increments one counter b.N times in all from
// two processes at once, under the Value's lock, as Python's
// "with v.get_lock(): v.value += 1". Metric: ops/s, increments per second.
func BenchmarkValueUpdate2Proc(b *testing.B) {
	// The benchmark's process and a child, each doing half.
	b.Run("shmkit", func(b *testing.B) {
		seg := testSeg(b)
		v, err := New[int64](0, shm.In(seg, "n"))
		if err != nil {
			b.Fatal(err)
		}
		theirs := b.N / 2
		p := testproc.Start(b, benchChildUpdate, testproc.Arg(seg.Name()+" "+strconv.Itoa(theirs)))
		p.WaitPoint("ready")
		b.ReportAllocs()
		b.ResetTimer()
		p.Continue()
		for range b.N - theirs {
			if err := v.Update(benchIncrement); err != nil {
				b.Fatal(err)
			}
		}
		p.WaitPoint("done")
		b.StopTimer()
		p.Succeed()
		if got := v.Load(); got != int64(b.N) {
			b.Fatalf("counter = %d after %d increments", got, b.N)
		}
		if s := b.Elapsed().Seconds(); s > 0 {
			b.ReportMetric(float64(b.N)/s, "ops/s")
		}
	})
	// multiprocessing.Value('q') under get_lock(), two processes, each
	// doing half, and at least benchPyMinPerProc: the interpreter's start
	// (half a second on a busy machine) counts in b.N's ramp, which may
	// stop at b.N = 1, but not in Python's own clock, which is reported.
	b.Run("python", func(b *testing.B) {
		ops, err := bench.Python(b.Context(), bench.LockedValue, max(benchPyMinPerProc, b.N/2))
		if errors.Is(err, bench.ErrNoPython) {
			b.Skipf("no Python peer: %v", err)
		}
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(ops, "ops/s")
		b.ReportMetric(1e9/ops, "ns/op") // Python's own clock, not the interpreter's start
	})
}

//go:build linux && (amd64 || arm64)

package shmap

// BenchmarkMap: Set and Get of int64 keys and values, one Set then one Get
// of the same key, by 2 processes on one Map, beside 1 process, a Go map
// with a sync.RWMutex in one process (2 goroutines), and Python's
// Manager().dict() through bench.Python (2 processes). An op is one Set or
// one Get: ns/op is per operation over all the users, and op/s is the
// operations of all of them a second. Each user sets keys of its own,
// cycling through benchMapKeys of them, so that every Get has a known
// answer (checked) and, after the first pass, a Set overwrites. A peer's
// line reports shmkit's op/s over its own (metric shmkit-x); the benchmark
// logs the figures beside the targets of cmd/shmbench's table (shown
// with -v). Nothing asserts a time. ReportAllocs covers the process
// running the benchmark (the child of the 2-process line is not counted).

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/shmkit/shmkit/bench"
	"github.com/shmkit/shmkit/internal/shmtest"
	"github.com/shmkit/shmkit/process"
	"github.com/shmkit/shmkit/semaphore"
)

// benchMapKeys is how many keys each user cycles through.
const benchMapKeys = 1 << 14

// benchMapGuard bounds every wait on the child.
const benchMapGuard = time.Minute

func benchMapKey(u, i int) int64 { return int64(u)<<32 | int64(i%benchMapKeys) }

// benchSetGet makes n Set+Get pairs of user u's keys, each Get checked.
func benchSetGet(m *Map[int64, int64], u, n int) error {
	for i := range n {
		k := benchMapKey(u, i)
		if err := m.Set(k, int64(i)); err != nil {
			return err
		}
		v, ok, err := m.Get(k)
		if err != nil {
			return err
		}
		if !ok || v != int64(i) {
			return fmt.Errorf("Get(%#x) = %d, %v after Set to %d", k, v, ok, i)
		}
	}
	return nil
}

type benchMapArg struct {
	Map   *Map[int64, int64]
	Sync  *semaphore.Barrier
	Pairs int
}

// benchMapChild is the second process: it meets the first at the barrier,
// makes its pairs as user 1, and meets it again.
var benchMapChild = process.Register("shmap.bench.map", func(ctx context.Context, a benchMapArg) error {
	ctx, cancel := context.WithTimeout(ctx, benchMapGuard)
	defer cancel()
	if _, err := a.Sync.Wait(ctx); err != nil {
		return err
	}
	if err := benchSetGet(a.Map, 1, a.Pairs); err != nil {
		return err
	}
	_, err := a.Sync.Wait(ctx)
	return err
})

func benchNewMap(b *testing.B) *Map[int64, int64] {
	m, err := New[int64, int64]()
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		if err := m.Free(); err != nil {
			b.Error(err)
		}
	})
	return m
}

// benchOpsPerS reports op/s (b.N operations in b.Elapsed) and returns it.
func benchOpsPerS(b *testing.B) float64 {
	r := float64(b.N) / b.Elapsed().Seconds()
	b.ReportMetric(r, "op/s")
	return r
}

func BenchmarkMap(b *testing.B) {
	var two, one, rw, py float64 // op/s, of the last run of each
	// 2 processes: this one (user 0) and a child (user 1), b.N/4 pairs
	// each, started together at a barrier; the clock covers both, from the
	// barrier to the last one's end.
	b.Run("shmkit-2proc", func(b *testing.B) {
		m := benchNewMap(b)
		bar, err := semaphore.NewBarrier(2)
		if err != nil {
			b.Fatal(err)
		}
		defer bar.Free()
		pairs := max(b.N/4, 1)
		p := process.New(benchMapChild, benchMapArg{Map: m, Sync: bar, Pairs: pairs})
		if err := p.Start(); err != nil {
			b.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(b.Context(), benchMapGuard)
		defer cancel()
		defer func() {
			if err := p.Join(ctx); err != nil {
				p.Kill()
				b.Errorf("%s: Join: %v", p, err)
			} else if code, _ := p.ExitCode(); code != 0 {
				b.Errorf("%s: exit code %d", p, code)
			}
		}()
		b.ReportAllocs()
		if _, err := bar.Wait(ctx); err != nil {
			b.Fatal(err)
		}
		b.ResetTimer()
		if err := benchSetGet(m, 0, pairs); err != nil {
			b.Fatal(err)
		}
		if _, err := bar.Wait(ctx); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		if n := m.Len(); n != 2*min(pairs, benchMapKeys) {
			b.Fatalf("Len = %d, %v after %d pairs each", n, err, pairs)
		}
		two = benchOpsPerS(b)
	})
	// 1 process: b.N/2 pairs, no one else taking the lock.
	b.Run("shmkit-1proc", func(b *testing.B) {
		m := benchNewMap(b)
		b.ReportAllocs()
		b.ResetTimer()
		if err := benchSetGet(m, 0, max(b.N/2, 1)); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		one = benchOpsPerS(b)
	})
	// A Go map under a sync.RWMutex (Set under Lock, Get under RLock), 2
	// goroutines of this process, b.N/4 pairs each.
	b.Run("go-rwmutex-2goroutines", func(b *testing.B) {
		var s struct {
			sync.RWMutex
			m map[int64]int64
		}
		s.m = map[int64]int64{}
		pairs := max(b.N/4, 1)
		var wrong [2]int
		b.ReportAllocs()
		b.ResetTimer()
		var wg sync.WaitGroup
		for u := range 2 {
			wg.Go(func() {
				for i := range pairs {
					k := benchMapKey(u, i)
					s.Lock()
					s.m[k] = int64(i)
					s.Unlock()
					s.RLock()
					v, ok := s.m[k]
					s.RUnlock()
					if !ok || v != int64(i) {
						wrong[u]++
					}
				}
			})
		}
		wg.Wait()
		b.StopTimer()
		if wrong != [2]int{} || len(s.m) != 2*min(pairs, benchMapKeys) {
			b.Fatalf("%v wrong Gets, %d keys", wrong, len(s.m))
		}
		rw = benchOpsPerS(b)
		if two > 0 {
			b.ReportMetric(two/rw, "shmkit-x")
		}
	})
	// Python's Manager().dict(), 2 processes (bench.ManagerDict), b.N
	// operations, at least 8000.
	b.Run("python-manager-dict", func(b *testing.B) {
		py = shmtest.Python(b, bench.ManagerDict, max(b.N/4, 1), 2000)
		b.ReportMetric(py, "op/s")
		b.ReportMetric(1e9/py, "ns/op") // Python's own clock
		if two > 0 {
			b.ReportMetric(two/py, "shmkit-x")
		}
	})
	b.Logf("Set+Get int64: shmkit 2 processes %.3g op/s (target >= 4 M op/s), 1 process %.3g op/s; "+
		"Go map+RWMutex 2 goroutines %.3g op/s (shmkit %s); Python Manager dict %.3g op/s (shmkit %s; target >= 200x)",
		two, one, rw, benchRatioOf(two, rw), py, benchRatioOf(two, py))
}

// benchRatioOf is shmkit's rate over a peer's, for the log.
func benchRatioOf(shmkit, peer float64) string {
	if shmkit <= 0 || peer <= 0 {
		return "—"
	}
	return fmt.Sprintf("%.3gx", shmkit/peer)
}

//go:build linux && (amd64 || arm64)

package array

// Benchmarks of Array beside its peers, in one run: "shmkit" with this
// package, the others with an ordinary Go slice or Python's
// multiprocessing.Array (through bench.Python), so that the ratio between
// two lines of the same run is the figure to read; absolute times on a
// shared machine are not. Nothing here asserts a time.

import (
	"errors"
	"slices"
	"sync/atomic"
	"testing"

	"github.com/shmkit/shmkit/bench"
	"github.com/shmkit/shmkit/internal/testproc"
	"github.com/shmkit/shmkit/shm"
)

// benchSink keeps what the loops read alive.
var benchSink atomic.Int64

// benchBigSeg is a named segment of size bytes for one benchmark run,
// closed and removed when it ends.
func benchBigSeg(b *testing.B, size int64) *shm.Segment {
	b.Helper()
	seg, err := shm.Create(testproc.ShmName(b), size, nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { seg.Close() })
	return seg
}

// benchMiB is the size of the copied arrays.
const benchMiB = 1 << 20

// benchPyMinCopies is the fewest copies the Python peer makes.
const benchPyMinCopies = 1000

func benchFill(s []byte) {
	for i := range s {
		s[i] = byte(i * 7)
	}
}

// benchGBs reports the bytes copied per second, in GB/s (10^9 bytes).
func benchGBs(b *testing.B, perOp int) {
	if s := b.Elapsed().Seconds(); s > 0 {
		b.ReportMetric(float64(perOp)*float64(b.N)/s/1e9, "GB/s")
	}
}

// BenchmarkArrayCopy1MiB takes a snapshot of 1 MiB. Metric: GB/s.
func BenchmarkArrayCopy1MiB(b *testing.B) {
	src := make([]byte, benchMiB)
	benchFill(src)
	// Copy: under the lock, into a new slice.
	b.Run("shmkit/Copy", func(b *testing.B) {
		a, err := From(src, shm.In(benchBigSeg(b, 4*benchMiB), "a"))
		if err != nil {
			b.Fatal(err)
		}
		b.SetBytes(benchMiB)
		b.ReportAllocs()
		for b.Loop() {
			c, err := a.Copy()
			if err != nil {
				b.Fatal(err)
			}
			if len(c) != benchMiB {
				b.Fatalf("Copy: %d bytes", len(c))
			}
		}
		benchGBs(b, benchMiB)
	})
	// CopyInto: under the lock, into a buffer made once, as the peer does.
	b.Run("shmkit/CopyInto", func(b *testing.B) {
		a, err := From(src, shm.In(benchBigSeg(b, 4*benchMiB), "a"))
		if err != nil {
			b.Fatal(err)
		}
		buf := make([]byte, benchMiB)
		b.SetBytes(benchMiB)
		b.ReportAllocs()
		for b.Loop() {
			if buf, err = a.CopyInto(buf); err != nil || len(buf) != benchMiB {
				b.Fatalf("CopyInto: %d bytes, %v", len(buf), err)
			}
		}
		benchGBs(b, benchMiB)
	})
	// The peer: copy() between two ordinary slices, the destination made
	// once.
	b.Run("copy", func(b *testing.B) {
		dst := make([]byte, benchMiB)
		b.SetBytes(benchMiB)
		b.ReportAllocs()
		for b.Loop() {
			copy(dst, src)
		}
		benchSink.Store(int64(dst[benchMiB-1]))
		benchGBs(b, benchMiB)
	})
	// multiprocessing.Array('B') of 1 MiB copied into a new bytes object
	// under its get_lock(), as Copy does; at least benchPyMinCopies times,
	// so that Python's own clock, which is reported, measures many even
	// when b.N is small (the interpreter's start counts in b.N's ramp).
	b.Run("python", func(b *testing.B) {
		gbs, err := bench.Python(b.Context(), bench.ArrayCopy, max(benchPyMinCopies, b.N))
		if errors.Is(err, bench.ErrNoPython) {
			b.Skipf("no Python peer: %v", err)
		}
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(gbs, "GB/s")
		b.ReportMetric(benchMiB/gbs, "ns/op") // Python's own clock, not the interpreter's start
	})
	// For information: what Copy does, one part at a time. An ordinary
	// slice cloned into a new one, as Copy allocates...
	b.Run("slices.Clone", func(b *testing.B) {
		b.SetBytes(benchMiB)
		b.ReportAllocs()
		for b.Loop() {
			c := slices.Clone(src)
			if len(c) != benchMiB {
				b.Fatalf("Clone: %d bytes", len(c))
			}
		}
		benchGBs(b, benchMiB)
	})
	// ...and the shared memory copied under the lock into a slice made
	// once.
	b.Run("shmkit/Lock+copy", func(b *testing.B) {
		a, err := From(src, shm.In(benchBigSeg(b, 4*benchMiB), "a"))
		if err != nil {
			b.Fatal(err)
		}
		dst := make([]byte, benchMiB)
		b.SetBytes(benchMiB)
		b.ReportAllocs()
		for b.Loop() {
			if err := a.Lock(); err != nil {
				b.Fatal(err)
			}
			copy(dst, a.Slice())
			a.Unlock()
		}
		benchSink.Store(int64(dst[benchMiB-1]))
		benchGBs(b, benchMiB)
	})
}

// benchLen is the length of the arrays of BenchmarkArrayInt64: 8 KiB, in
// the L1 cache.
const benchLen = 1024

// BenchmarkArrayInt64 reads and writes elements one at a time, cycling
// through 1024 of them, for information: At and Set are one atomic load or
// store, beside an ordinary slice's index and sync/atomic on it.
func BenchmarkArrayInt64(b *testing.B) {
	newA := func(b *testing.B) *Array[int64] {
		a, err := New[int64](benchLen, shm.In(testSeg(b), "a"))
		if err != nil {
			b.Fatal(err)
		}
		return a
	}
	const mask = benchLen - 1
	b.Run("shmkit/At", func(b *testing.B) {
		a := newA(b)
		var i int
		var sum int64
		b.ReportAllocs()
		for b.Loop() {
			sum += a.At(i & mask)
			i++
		}
		benchSink.Store(sum)
	})
	b.Run("slice/At", func(b *testing.B) {
		s := make([]int64, benchLen)
		var i int
		var sum int64
		b.ReportAllocs()
		for b.Loop() {
			sum += s[i&mask]
			i++
		}
		benchSink.Store(sum)
	})
	b.Run("atomic/At", func(b *testing.B) {
		s := make([]int64, benchLen)
		var i int
		var sum int64
		b.ReportAllocs()
		for b.Loop() {
			sum += atomic.LoadInt64(&s[i&mask])
			i++
		}
		benchSink.Store(sum)
	})
	b.Run("shmkit/Set", func(b *testing.B) {
		a := newA(b)
		var i int
		b.ReportAllocs()
		for b.Loop() {
			a.Set(i&mask, int64(i))
			i++
		}
		if i > 0 && a.At((i-1)&mask) != int64(i-1) {
			b.Fatalf("At(%d) = %d after Set(%d)", (i-1)&mask, a.At((i-1)&mask), i-1)
		}
	})
	b.Run("slice/Set", func(b *testing.B) {
		s := make([]int64, benchLen)
		var i int
		b.ReportAllocs()
		for b.Loop() {
			s[i&mask] = int64(i)
			i++
		}
		benchSink.Store(s[0])
	})
	b.Run("atomic/Set", func(b *testing.B) {
		s := make([]int64, benchLen)
		var i int
		b.ReportAllocs()
		for b.Loop() {
			atomic.StoreInt64(&s[i&mask], int64(i))
			i++
		}
		benchSink.Store(s[0])
	})
}

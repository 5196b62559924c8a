//go:build linux && (amd64 || arm64)

package semaphore

// Benchmarks of the locks beside their peers, in one run. Each benchmark's
// sub-benchmarks do one job: "shmkit" with this package, the others with
// what a program would use instead (sync.Mutex, os.Pipe, Python's
// multiprocessing through bench.Python), so that the ratio between two
// lines of the same run is the figure to read; absolute times on a shared
// machine are not. Nothing here asserts a time.
//
// Multi-process sub-benchmarks start one child per run of the benchmark
// function (testing runs it again with a growing b.N), pass it b.N, and
// stop the clock once the child reported it is done, before it exits. A
// child's start-up and a few warm-up rounds are not timed.

import (
	"context"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/shmkit/shmkit/bench"
	"github.com/shmkit/shmkit/internal/mem"
	"github.com/shmkit/shmkit/internal/shmtest"
	"github.com/shmkit/shmkit/internal/sys"
	"github.com/shmkit/shmkit/internal/testproc"
	"github.com/shmkit/shmkit/shm"
	"golang.org/x/sys/unix"
)

// benchWarmup is how many untimed rounds the ping-pong benchmarks play first.
const benchWarmup = 10

func BenchmarkMutexUncontended(b *testing.B) {
	b.Run("shmkit", func(b *testing.B) {
		m := mustMutex(b, shm.In(testSeg(b), "mu"))
		b.ReportAllocs()
		for b.Loop() {
			if err := m.Lock(); err != nil {
				b.Fatal(err)
			}
			m.Unlock()
		}
	})
	b.Run("sync.Mutex", func(b *testing.B) {
		var m sync.Mutex
		b.ReportAllocs()
		for b.Loop() {
			m.Lock()
			//lint:ignore SA2001 the peer of an uncontended lock and unlock
			m.Unlock()
		}
	})
}

func BenchmarkRLockUncontended(b *testing.B) {
	b.Run("shmkit", func(b *testing.B) {
		r := mustRLock(b, shm.In(testSeg(b), "r"))
		b.ReportAllocs()
		for b.Loop() {
			if err := r.Lock(); err != nil {
				b.Fatal(err)
			}
			r.Unlock()
		}
	})
	// Entering again a lock this process holds, as recursive code does.
	b.Run("shmkit-reentry", func(b *testing.B) {
		r := mustRLock(b, shm.In(testSeg(b), "r"))
		if err := r.Lock(); err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		for b.Loop() {
			if err := r.Lock(); err != nil {
				b.Fatal(err)
			}
			r.Unlock()
		}
		b.StopTimer()
		r.Unlock()
	})
	b.Run("sync.Mutex", func(b *testing.B) {
		var m sync.Mutex
		b.ReportAllocs()
		for b.Loop() {
			m.Lock()
			//lint:ignore SA2001 the peer of an uncontended lock and unlock
			m.Unlock()
		}
	})
}

// benchCounter is what BenchmarkMutexCounter's lockers share, under the lock:
// the count, and who added last, to count how often the lock changed hands
// (handoffs/op: near 0 when each locker keeps it for long runs, up to 1
// when they alternate).
type benchCounter struct {
	n, last, handoffs uint64
}

func (c *benchCounter) add(who uint64) {
	c.n++
	if c.last != who {
		if c.last != 0 {
			c.handoffs++
		}
		c.last = who
	}
}

func (c *benchCounter) report(b *testing.B) {
	if c.n != uint64(b.N) {
		b.Fatalf("counter = %d after %d increments", c.n, b.N)
	}
	if s := b.Elapsed().Seconds(); s > 0 {
		b.ReportMetric(float64(b.N)/s, "ops/s")
	}
	b.ReportMetric(float64(c.handoffs)/float64(b.N), "handoffs/op")
}

// benchCounterSpec is the shared counter's block.
var benchCounterSpec = shm.Spec{Kind: shm.KindBytes, Size: 64}

// benchChildCounter adds 1, n times, to the counter of segment name under its
// Mutex, between the points "ready" and "done". Arg: "NAME N".
var benchChildCounter = testproc.Register("sem-bench-counter", func(c *testproc.Child) error {
	name, n, err := parseBenchArg(c.Arg())
	if err != nil {
		return err
	}
	seg, err := shm.Open(context.Background(), name, nil)
	if err != nil {
		return err
	}
	defer seg.Close()
	m, err := OpenMutex(context.Background(), seg, "mu")
	if err != nil {
		return err
	}
	o, err := seg.Find(context.Background(), "counter", benchCounterSpec)
	if err != nil {
		return err
	}
	cnt := mem.Ptr[benchCounter](o.Bytes(), 0)
	c.Point("ready")
	for range n {
		if err := m.Lock(); err != nil {
			return err
		}
		cnt.add(2)
		m.Unlock()
	}
	c.Point("done")
	return nil
})

// BenchmarkMutexCounter increments one counter b.N times in all from two
// places at once, under one lock. Metric: ops/s, increments per second.
func BenchmarkMutexCounter(b *testing.B) {
	// Two processes, the benchmark's and a child, each doing half.
	b.Run("shmkit", func(b *testing.B) {
		seg := testSeg(b)
		m := mustMutex(b, shm.In(seg, "mu"))
		o, err := shm.Place(benchCounterSpec, nil, shm.In(seg, "counter"))
		if err != nil {
			b.Fatal(err)
		}
		cnt := mem.Ptr[benchCounter](o.Bytes(), 0)
		theirs := b.N / 2
		p := testproc.Start(b, benchChildCounter, testproc.Arg(benchArg(seg.Name(), theirs)))
		p.WaitPoint("ready")
		b.ReportAllocs()
		b.ResetTimer()
		p.Continue()
		for range b.N - theirs {
			if err := m.Lock(); err != nil {
				b.Fatal(err)
			}
			cnt.add(1)
			m.Unlock()
		}
		p.WaitPoint("done")
		b.StopTimer()
		p.Succeed()
		cnt.report(b)
	})
	// The same Mutex, two goroutines of one process: what the lock costs
	// without a second process.
	b.Run("shmkit-goroutines", func(b *testing.B) {
		m := mustMutex(b, shm.In(testSeg(b), "mu"))
		var cnt benchCounter
		b.ReportAllocs()
		b.ResetTimer()
		benchTwoGoroutines(b.N, func(who uint64) {
			if err := m.Lock(); err != nil {
				panic(err)
			}
			cnt.add(who)
			m.Unlock()
		})
		b.StopTimer()
		cnt.report(b)
	})
	b.Run("sync.Mutex", func(b *testing.B) {
		var s struct {
			sync.Mutex
			benchCounter
		}
		b.ReportAllocs()
		b.ResetTimer()
		benchTwoGoroutines(b.N, func(who uint64) {
			s.Lock()
			s.add(who)
			s.Unlock()
		})
		b.StopTimer()
		s.report(b)
	})
	// multiprocessing.Value('q') under get_lock(), two processes.
	b.Run("python", func(b *testing.B) {
		ops := shmtest.Python(b, bench.LockedValue, b.N/2, 100_000)
		b.ReportMetric(ops, "ops/s")
		b.ReportMetric(1e9/ops, "ns/op") // Python's own clock, not the interpreter's start
	})
}

// benchTwoGoroutines runs op n times in all, from two goroutines, which pass
// it 1 and 2.
func benchTwoGoroutines(n int, op func(who uint64)) {
	var wg sync.WaitGroup
	for i, k := range []int{n - n/2, n / 2} {
		wg.Go(func() {
			for range k {
				op(uint64(i + 1))
			}
		})
	}
	wg.Wait()
}

// benchChildPong answers the Event "ping" with the Event "pong" in segment
// name, benchWarmup+n times, then stops at the point "done". Arg: "NAME N"
// or "NAME N asleep"; asleep makes it wait before each Set until the
// parent sleeps in pong.Wait (benchAwaitSleeper), and store the time that
// took over the timed rounds in the segment's "stats".
var benchChildPong = testproc.Register("sem-bench-pong", func(c *testproc.Child) error {
	f := strings.Fields(c.Arg())
	if len(f) < 2 {
		return fmt.Errorf("bad argument %q", c.Arg())
	}
	name, n, err := parseBenchArg(f[0] + " " + f[1])
	if err != nil {
		return err
	}
	asleep := len(f) > 2 && f[2] == "asleep"
	if len(f) > 2 && f[2] == "nospin" {
		spin = 0
	}
	seg, err := shm.Open(context.Background(), name, nil)
	if err != nil {
		return err
	}
	defer seg.Close()
	ping, err := OpenEvent(context.Background(), seg, "ping")
	if err != nil {
		return err
	}
	pong, err := OpenEvent(context.Background(), seg, "pong")
	if err != nil {
		return err
	}
	ppid := os.Getppid()
	orphan := func() bool { return os.Getppid() != ppid }
	var awaited time.Duration
	ctx := context.Background()
	for i := range benchWarmup + n {
		if err := ping.Wait(ctx); err != nil {
			return err
		}
		if err := ping.Clear(); err != nil {
			return err
		}
		if asleep {
			t := time.Now()
			benchAwaitSleeper(pong, orphan)
			if i >= benchWarmup {
				awaited += time.Since(t)
			}
		}
		if err := pong.Set(); err != nil {
			return err
		}
	}
	if asleep {
		o, err := seg.Find(ctx, "stats", benchStatsSpec)
		if err != nil {
			return err
		}
		atomic.StoreUint64(mem.Uint64(o.Bytes(), 0), uint64(awaited))
	}
	c.Point("done")
	return nil
})

// benchStatsSpec holds what benchChildPong reports: the nanoseconds it
// spent in benchAwaitSleeper.
var benchStatsSpec = shm.Spec{Kind: shm.KindBytes, Size: 64}

// benchAwaitSleeper returns once a waiter on e has said it goes to sleep
// (the sleepers bit of the word), and benchSettle more has passed, so that
// it is asleep in the kernel by then: a Set that follows wakes a sleeping
// process, not one still spinning in Wait or on its way to the futex. It
// yields the CPU while it waits: the other process may need this very CPU
// to get to sleep. It gives up when gone reports the other process gone.
func benchAwaitSleeper(e *Event, gone func() bool) {
	for atomic.LoadUint32(e.word)&evSleepers == 0 && !gone() {
		syscall.Syscall(syscall.SYS_SCHED_YIELD, 0, 0, 0)
	}
	for t := time.Now(); time.Since(t) < benchSettle; {
		syscall.Syscall(syscall.SYS_SCHED_YIELD, 0, 0, 0)
	}
}

// benchSettle is how long a waiter that announced its sleep is given to
// get into the kernel: far longer than the few system calls on the way.
const benchSettle = 20 * time.Microsecond

// benchChildFutex plays C's futex ping-pong (cmd/shmbench/ceiling.c) in
// Go: it sleeps in FUTEX_WAIT on the word "w" until the parent makes it odd,
// and answers by making it even and waking it. Arg: "NAME N".
var benchChildFutex = testproc.Register("sem-bench-futex", func(c *testproc.Child) error {
	name, n, err := parseBenchArg(c.Arg())
	if err != nil {
		return err
	}
	seg, err := shm.Open(context.Background(), name, nil)
	if err != nil {
		return err
	}
	defer seg.Close()
	o, err := seg.Find(context.Background(), "w", shm.Spec{Kind: shm.KindBytes})
	if err != nil {
		return err
	}
	w := mem.Uint32(o.Bytes(), 0)
	for i := range benchWarmup + n {
		for atomic.LoadUint32(w) != uint32(2*i+1) {
			sys.FutexWait(w, uint32(2*i), -1)
		}
		atomic.StoreUint32(w, uint32(2*i+2))
		sys.FutexWake(w, 1)
	}
	return nil
})

// benchChildEcho reads a byte from its file 0 and writes it to its file 1,
// benchWarmup+n times. Arg: "N".
var benchChildEcho = testproc.Register("sem-bench-echo", func(c *testproc.Child) error {
	n, err := strconv.Atoi(c.Arg())
	if err != nil {
		return err
	}
	in, out := c.File(0), c.File(1)
	var buf [1]byte
	for range benchWarmup + n {
		if _, err := io.ReadFull(in, buf[:]); err != nil {
			return err
		}
		if _, err := out.Write(buf[:]); err != nil {
			return err
		}
	}
	return nil
})

// BenchmarkEventPingPong measures a round trip between two processes: one
// wakes the other and waits until woken back. Metrics: rtt-us, the round
// trip in microseconds; vcsw/op, how many times per round trip the
// benchmark's process went to sleep in the kernel (getrusage's voluntary
// context switches, the Go runtime's threads included): about 1 when its
// waits sleep, near 0 when they are answered while still spinning.
func BenchmarkEventPingPong(b *testing.B) {
	// Set ping, Wait for pong, Clear it; the child the other way round.
	// Back to back, each side answers while the other may still be
	// spinning in Wait: a waiter that catches the answer there never
	// sleeps (see vcsw/op).
	b.Run("shmkit", func(b *testing.B) { benchEventPingPong(b, "") })
	// Back to back with no spinning: each Wait goes to sleep at once, as
	// in C's futex ping-pong (cmd/shmbench/ceiling.c), the figure the
	// sleeping round trip is held against.
	b.Run("shmkit-nospin", func(b *testing.B) {
		defer func(n int) { spin = n }(spin)
		spin = 0
		benchEventPingPong(b, "nospin")
	})
	// The same, but each side Sets only once the other has gone to sleep
	// in Wait (benchAwaitSleeper), so that every round trip is two
	// wake-ups of a sleeping process, as in C's futex ping-pong. The time
	// spent waiting for that is not counted in rtt-us (it is in ns/op),
	// and is reported per round as await-us (at least 2*benchSettle).
	b.Run("shmkit-asleep", func(b *testing.B) { benchEventPingPong(b, "asleep") })
	// A byte through one pipe and back through another, the child echoing.
	// C's futex ping-pong written in Go on raw system calls, no shmkit:
	// the floor for a goroutine that sleeps in the kernel, against which
	// shmkit-nospin is the cost of Event and of parking.
	b.Run("go-futex", func(b *testing.B) {
		seg := testSeg(b)
		o, err := shm.Place(shm.Spec{Kind: shm.KindBytes, Size: 64}, nil, shm.In(seg, "w"))
		if err != nil {
			b.Fatal(err)
		}
		w := mem.Uint32(o.Bytes(), 0)
		p := testproc.Start(b, benchChildFutex, testproc.Arg(benchArg(seg.Name(), b.N)))
		gone := benchWatchChild(b, p, func() { atomic.StoreUint32(w, ^uint32(0)); sys.FutexWake(w, 1) })
		round := func(i int) {
			atomic.StoreUint32(w, uint32(2*i+1))
			sys.FutexWake(w, 1)
			for v := uint32(2*i + 1); atomic.LoadUint32(w) == v; {
				sys.FutexWait(w, v, -1)
			}
			if gone.Load() {
				p.Succeed()
				b.Fatal("the child exited")
			}
		}
		for i := range benchWarmup {
			round(i)
		}
		b.ReportAllocs()
		b.ResetTimer()
		for i := range b.N {
			round(benchWarmup + i)
		}
		b.StopTimer()
		p.Succeed()
		benchReportRTT(b)
	})
	b.Run("os.Pipe", func(b *testing.B) {
		toR, toW := benchPipe(b)
		fromR, fromW := benchPipe(b)
		p := testproc.Start(b, benchChildEcho, testproc.Files(toR, fromW), testproc.Arg(strconv.Itoa(b.N)))
		toR.Close()
		fromW.Close()
		buf := []byte{'x'}
		round := func() {
			if _, err := toW.Write(buf); err != nil {
				b.Fatal(err)
			}
			if _, err := io.ReadFull(fromR, buf); err != nil {
				b.Fatal(err)
			}
		}
		for range benchWarmup {
			round()
		}
		b.ReportAllocs()
		csw := benchVoluntarySwitches()
		b.ResetTimer()
		for range b.N {
			round()
		}
		b.StopTimer()
		csw = benchVoluntarySwitches() - csw
		p.Succeed()
		b.ReportMetric(float64(csw)/float64(b.N), "vcsw/op")
		benchReportRTT(b)
	})
	// Two multiprocessing.Event, as the shmkit sub-benchmark does.
	b.Run("python-Event", func(b *testing.B) {
		us := shmtest.Python(b, bench.EventPingPong, b.N, 2_000)
		b.ReportMetric(us, "rtt-us")
		b.ReportMetric(us*1e3, "ns/op") // Python's own clock, not the interpreter's start
	})
	// A multiprocessing.Pipe, as the os.Pipe sub-benchmark does.
	b.Run("python-Pipe", func(b *testing.B) {
		us := shmtest.Python(b, bench.PipeRTT, b.N, 2_000)
		b.ReportMetric(us, "rtt-us")
		b.ReportMetric(us*1e3, "ns/op")
	})
}

func benchEventPingPong(b *testing.B, mode string) {
	asleep := mode == "asleep"
	seg := testSeg(b)
	ping := mustEvent(b, shm.In(seg, "ping"))
	pong := mustEvent(b, shm.In(seg, "pong"))
	stats, err := shm.Place(benchStatsSpec, nil, shm.In(seg, "stats"))
	if err != nil {
		b.Fatal(err)
	}
	arg := benchArg(seg.Name(), b.N)
	if mode != "" {
		arg += " " + mode
	}
	p := testproc.Start(b, benchChildPong, testproc.Arg(arg))
	// Wait takes no context here, as in most programs (a context that can
	// end costs Wait more); if the child dies, gone is set and pong Set.
	gone := benchWatchChild(b, p, func() { pong.Set() })
	ctx := context.Background()
	var awaited time.Duration
	round := func(timed bool) {
		if asleep {
			t := time.Now()
			benchAwaitSleeper(ping, gone.Load)
			if timed {
				awaited += time.Since(t)
			}
		}
		if err := ping.Set(); err != nil {
			b.Fatal(err)
		}
		if err := pong.Wait(ctx); err != nil {
			b.Fatal(err)
		}
		if gone.Load() {
			p.Succeed() // fails with the child's output
			b.Fatal("the child exited")
		}
		if err := pong.Clear(); err != nil {
			b.Fatal(err)
		}
	}
	for range benchWarmup {
		round(false)
	}
	b.ReportAllocs()
	csw := benchVoluntarySwitches()
	b.ResetTimer()
	for range b.N {
		round(true)
	}
	b.StopTimer()
	csw = benchVoluntarySwitches() - csw
	p.WaitPoint("done")
	p.Succeed()
	b.ReportMetric(float64(csw)/float64(b.N), "vcsw/op")
	if !asleep {
		benchReportRTT(b)
		return
	}
	awaited += time.Duration(atomic.LoadUint64(mem.Uint64(stats.Bytes(), 0)))
	b.ReportMetric((b.Elapsed()-awaited).Seconds()*1e6/float64(b.N), "rtt-us")
	b.ReportMetric(awaited.Seconds()*1e6/float64(b.N), "await-us")
}

// benchWatchChild calls wake, and sets the flag it returns, if p exits while
// the benchmark run is going on, so that a parent waiting for the child's
// answer fails instead of hanging. The child must not exit on its own
// before the parent's last wait (a point that the parent's Succeed lets go
// does that).
func benchWatchChild(b *testing.B, p *testproc.Proc, wake func()) *atomic.Bool {
	var gone, over atomic.Bool
	fd, err := unix.PidfdOpen(p.Pid(), 0)
	if err != nil {
		b.Fatalf("watching child %d: %v", p.Pid(), err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer unix.Close(fd)
		fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
		for {
			if _, err := unix.Poll(fds, -1); err != unix.EINTR {
				break
			}
		}
		if !over.Load() {
			gone.Store(true)
			wake()
		}
	}()
	b.Cleanup(func() {
		over.Store(true)
		p.Kill()
		<-done
	})
	return &gone
}

// benchVoluntarySwitches is how many times the threads of this process have
// gone to sleep in the kernel (getrusage's ru_nvcsw), the Go runtime's own
// threads included.
func benchVoluntarySwitches() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return ru.Nvcsw
}

// benchPipe is os.Pipe, its ends closed when the benchmark run ends (closing
// an end twice does no harm).
func benchPipe(b *testing.B) (r, w *os.File) {
	r, w, err := os.Pipe()
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		r.Close()
		w.Close()
	})
	return r, w
}

func benchReportRTT(b *testing.B) {
	b.ReportMetric(b.Elapsed().Seconds()*1e6/float64(b.N), "rtt-us")
}

func benchArg(seg string, n int) string { return seg + " " + strconv.Itoa(n) }

func parseBenchArg(arg string) (string, int, error) {
	name, num, ok := strings.Cut(arg, " ")
	n, err := strconv.Atoi(num)
	if !ok || err != nil || n < 0 {
		return "", 0, fmt.Errorf("bad argument %q, want \"SEGMENT N\"", arg)
	}
	return name, n, nil
}

// benchRWOp is one operation of the RWMutex benchmarks: the i-th of a
// locker, a write (under Lock) every writeEvery operations, else a read.
// The guarded word is read by readers and bumped by writers.
func benchRWOp(i, writeEvery int, lock func() error, unlock func(), rlock func() error, runlock func(), word *uint64) {
	if writeEvery > 0 && i%writeEvery == 0 {
		if err := lock(); err != nil {
			panic(err)
		}
		*word++
		unlock()
		return
	}
	if err := rlock(); err != nil {
		panic(err)
	}
	_ = atomic.LoadUint64(word)
	runlock()
}

// benchChildRW does n operations (benchRWOp) on the RWMutex "rw" of
// segment name, guarding the first word of "counter", between the points
// "ready" and "done". Arg: "NAME N WRITEEVERY".
var benchChildRW = testproc.Register("sem-bench-rw", func(c *testproc.Child) error {
	f := strings.Fields(c.Arg())
	if len(f) != 3 {
		return fmt.Errorf("argument %q: want NAME N WRITEEVERY", c.Arg())
	}
	n, err1 := strconv.Atoi(f[1])
	every, err2 := strconv.Atoi(f[2])
	if err1 != nil || err2 != nil {
		return fmt.Errorf("argument %q: want NAME N WRITEEVERY", c.Arg())
	}
	seg, err := shm.Open(context.Background(), f[0], nil)
	if err != nil {
		return err
	}
	defer seg.Close()
	rw, err := OpenRWMutex(context.Background(), seg, "rw")
	if err != nil {
		return err
	}
	o, err := seg.Find(context.Background(), "counter", benchCounterSpec)
	if err != nil {
		return err
	}
	word := mem.Uint64(o.Bytes(), 0)
	if err := rw.RLock(); err != nil { // takes this process's reader slot
		return err
	}
	rw.RUnlock()
	c.Point("ready")
	for i := range n {
		benchRWOp(i+1, every, rw.Lock, rw.Unlock, rw.RLock, rw.RUnlock, word)
	}
	c.Point("done")
	return nil
})

// BenchmarkRWMutex: b.N operations in all, from two places at once, on
// one RWMutex: only reads ("read"), or one write in ten ("write10").
// "shmkit" runs them in two processes, "shmkit-goroutines" in two
// goroutines of one, "sync.RWMutex" is the peer in two goroutines.
// Metric: ops/s.
func BenchmarkRWMutex(b *testing.B) {
	for _, mix := range []struct {
		name  string
		every int
	}{{"read", 0}, {"write10", 10}} {
		b.Run(mix.name+"/shmkit", func(b *testing.B) {
			seg := testSeg(b)
			rw, err := NewRWMutex(shm.In(seg, "rw"))
			if err != nil {
				b.Fatal(err)
			}
			o, err := shm.Place(benchCounterSpec, nil, shm.In(seg, "counter"))
			if err != nil {
				b.Fatal(err)
			}
			word := mem.Uint64(o.Bytes(), 0)
			theirs := b.N / 2
			p := testproc.Start(b, benchChildRW, testproc.Arg(fmt.Sprintf("%s %d %d", seg.Name(), theirs, mix.every)))
			p.WaitPoint("ready")
			b.ReportAllocs()
			b.ResetTimer()
			p.Continue()
			for i := range b.N - theirs {
				benchRWOp(i+1, mix.every, rw.Lock, rw.Unlock, rw.RLock, rw.RUnlock, word)
			}
			p.WaitPoint("done")
			b.StopTimer()
			p.Succeed()
			benchReportOps(b)
		})
		b.Run(mix.name+"/shmkit-goroutines", func(b *testing.B) {
			rw, err := NewRWMutex(shm.In(testSeg(b), "rw"))
			if err != nil {
				b.Fatal(err)
			}
			var word uint64
			b.ReportAllocs()
			b.ResetTimer()
			benchRWTwo(b.N, mix.every, rw.Lock, rw.Unlock, rw.RLock, rw.RUnlock, &word)
			b.StopTimer()
			benchReportOps(b)
		})
		b.Run(mix.name+"/sync.RWMutex", func(b *testing.B) {
			var rw sync.RWMutex
			lock := func() error { rw.Lock(); return nil }
			rlock := func() error { rw.RLock(); return nil }
			var word uint64
			b.ReportAllocs()
			b.ResetTimer()
			benchRWTwo(b.N, mix.every, lock, rw.Unlock, rlock, rw.RUnlock, &word)
			b.StopTimer()
			benchReportOps(b)
		})
	}
}

// benchRWTwo does n operations (benchRWOp) in all, from two goroutines.
func benchRWTwo(n, every int, lock func() error, unlock func(), rlock func() error, runlock func(), word *uint64) {
	var wg sync.WaitGroup
	for _, k := range []int{n - n/2, n / 2} {
		wg.Go(func() {
			for i := range k {
				benchRWOp(i+1, every, lock, unlock, rlock, runlock, word)
			}
		})
	}
	wg.Wait()
}

func BenchmarkRWMutexUncontended(b *testing.B) {
	b.Run("shmkit", func(b *testing.B) {
		rw, err := NewRWMutex(shm.In(testSeg(b), "rw"))
		if err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		for b.Loop() {
			if err := rw.RLock(); err != nil {
				b.Fatal(err)
			}
			rw.RUnlock()
		}
	})
	b.Run("sync.RWMutex", func(b *testing.B) {
		var rw sync.RWMutex
		b.ReportAllocs()
		for b.Loop() {
			rw.RLock()
			//lint:ignore SA2001 the peer of an uncontended read lock and unlock
			rw.RUnlock()
		}
	})
}

// benchReportOps reports b.N over the time taken, as ops/s.
func benchReportOps(b *testing.B) {
	if s := b.Elapsed().Seconds(); s > 0 {
		b.ReportMetric(float64(b.N)/s, "ops/s")
	}
}

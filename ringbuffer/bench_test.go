//go:build linux && (amd64 || arm64)

package ringbuffer

// Benchmarks of rings and queues beside their peers, in one run. Each
// benchmark's sub-benchmarks do one job: "shmkit..." with this package, the
// others with what a program would use instead (a Go channel, os.Pipe, a
// unix socket, copy, Python's multiprocessing through bench.Python), so
// that the ratio between two lines of the same run is the figure to read;
// absolute rates on a shared machine are not. Nothing here asserts a time;
// what is checked is that every message arrived, in order, once.
//
// Multi-process sub-benchmarks start their children once per run of the
// benchmark function (testing runs it again with a growing b.N), pass them
// b.N, and stop the clock once the children reported that they are done,
// before they exit. Start-up, the taking of roles and warm-up rounds are
// not timed.

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
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

const (
	// benchCap8 is the capacity of BenchmarkSPSC8's ring and channel: that
	// of C's ring in limits.c (512 KiB of 8-byte slots). A small ring
	// fills up often, and then its producer sleeps and is woken in turn
	// with the consumer, which costs the batch calls more than half their
	// rate.
	benchCap8 = 1 << 16
	// benchBatch is how many messages a batch call of BenchmarkSPSC8 moves.
	benchBatch = 256
	// benchFDChunk is the size of the batched writes of the fd peers.
	benchFDChunk = 4 << 10
	// benchQueueCap is the capacity of BenchmarkQueue64's queue and channel.
	benchQueueCap = 1 << 12
	// benchBulkSlots is the capacity of BenchmarkBulk64K's ring.
	benchBulkSlots = 64
	// benchWarmup is how many untimed rounds the ping-pong benchmarks play
	// first.
	benchWarmup = 10
)

// BenchmarkSPSC8 moves b.N 8-byte messages (the numbers 0 to b.N-1) from
// one process to another, which checks that each arrives in order. Metric:
// msg/s.
func BenchmarkSPSC8(b *testing.B) {
	// One Push per message in the benchmark's process, one Pop per message
	// in a child; both in the default blocking mode (a few yields, then
	// sleep), so an empty or full ring costs no core.
	b.Run("shmkit", func(b *testing.B) { benchSPSC8(b, 1, false) })
	// The same with both sides spinning (SetSpin) instead of sleeping.
	b.Run("shmkit-spin", func(b *testing.B) { benchSPSC8(b, 1, true) })
	// PushBatch and PopBatch of up to benchBatch messages a call: one
	// cursor update per batch, as in C's ring (limits.c).
	b.Run("shmkit-batch", func(b *testing.B) { benchSPSC8(b, benchBatch, false) })
	// C's ring (limits.c) written in Go on raw shared memory, no library:
	// the producer fills all the room there is, then publishes its cursor
	// once; the ceiling for batched cursors on this machine now, which the
	// batch calls are held against (the C figure is not measured at the
	// same moment, and where the host puts the two vCPUs changes it).
	b.Run("go-ring", func(b *testing.B) {
		seg := benchSeg(b, 8*benchCap8+1<<20)
		o, err := shm.Place(shm.Spec{Kind: shm.KindBytes, Size: benchRawData + 8*benchCap8}, nil, shm.In(seg, "raw"))
		if err != nil {
			b.Fatal(err)
		}
		head, tail := mem.Uint64(o.Bytes(), benchRawHead), mem.Uint64(o.Bytes(), benchRawTail)
		buf := mem.Slice[uint64](o.Bytes(), benchRawData, benchCap8)
		p := testproc.Start(b, benchChildRawRing, testproc.Arg(fmt.Sprintf("%s %d", seg.Name(), b.N)))
		p.WaitPoint("ready")
		var gone atomic.Bool
		_, over := benchWatch(b, func() { gone.Store(true) }, p)
		b.ReportAllocs()
		b.ResetTimer()
		p.Continue()
		for t, n := uint64(0), uint64(b.N); t < n; {
			lim := min(atomic.LoadUint64(head)+benchCap8, n)
			for ; t < lim; t++ {
				buf[t&(benchCap8-1)] = t
			}
			atomic.StoreUint64(tail, t)
			if gone.Load() {
				benchFatal(b, errors.New("the child exited"), p)
			}
		}
		p.WaitPoint("done")
		b.StopTimer()
		over()
		p.Succeed()
		benchReportRate(b, "msg/s")
	})
	// A buffered channel of the same capacity between two goroutines of
	// one process: what Go offers in-process.
	b.Run("chan", func(b *testing.B) {
		ch := make(chan uint64, benchCap8)
		bad := make(chan error, 1)
		b.ReportAllocs()
		b.ResetTimer()
		go func() {
			var err error
			for i := range b.N { // all of them, or the sender blocks
				if v := <-ch; v != uint64(i) && err == nil {
					err = fmt.Errorf("message %d is %d", i, v)
				}
			}
			bad <- err
		}()
		for i := range b.N {
			ch <- uint64(i)
		}
		err := <-bad
		b.StopTimer()
		if err != nil {
			b.Fatal(err)
		}
		benchReportRate(b, "msg/s")
	})
	// One 8-byte write system call per message into a pipe; the child
	// reads what is there, up to 64 KiB a call.
	b.Run("os.Pipe", func(b *testing.B) {
		r, w := benchPipe(b)
		benchFDStream(b, r, w, 1)
	})
	// The same, writing benchFDChunk bytes (512 messages) a call.
	b.Run("os.Pipe-4KiB", func(b *testing.B) {
		r, w := benchPipe(b)
		benchFDStream(b, r, w, benchFDChunk/8)
	})
	// A unix stream socketpair, one write per message, then batched.
	b.Run("unix-socket", func(b *testing.B) {
		r, w := benchSocketpair(b)
		benchFDStream(b, r, w, 1)
	})
	b.Run("unix-socket-4KiB", func(b *testing.B) {
		r, w := benchSocketpair(b)
		benchFDStream(b, r, w, benchFDChunk/8)
	})
	// Python's multiprocessing.Queue, one producer and one consumer
	// process, small ints (the figure bench.Queue).
	b.Run("python-queue", func(b *testing.B) {
		rate := shmtest.Python(b, bench.Queue, b.N, 50_000)
		b.ReportMetric(rate, "msg/s")
		b.ReportMetric(1e9/rate, "ns/op") // Python's own clock, not the interpreter's start
	})
}

// benchChildPop8 pops n uint64 from the Ring "ring" of its segment and
// checks that they are 0 to n-1, between the points "ready" and "done".
// Arg: "SEGMENT N BATCH [spin]": BATCH 1 pops with Pop, more with PopBatch
// into a buffer of BATCH.
var benchChildPop8 = testproc.Register("rb-bench-pop8", func(c *testproc.Child) error {
	seg, f, err := shmtest.OpenArgs(c)
	if err != nil {
		return err
	}
	defer seg.Close()
	n, err := shmtest.Int(f, 0)
	if err != nil {
		return err
	}
	batch, err := shmtest.Int(f, 1)
	if err != nil {
		return err
	}
	r, err := OpenRing[uint64](context.Background(), seg, "ring")
	if err != nil {
		return err
	}
	r.SetSpin(len(f) > 2 && f[2] == "spin")
	if _, err := r.TryPop(); err != errEmpty { // takes the consumer role
		return fmt.Errorf("first TryPop: %v", err)
	}
	ctx := context.Background()
	c.Point("ready")
	if batch == 1 {
		for i := range n {
			v, err := r.Pop(ctx)
			if err != nil {
				return err
			}
			if v != uint64(i) {
				return fmt.Errorf("message %d is %d", i, v)
			}
		}
	} else {
		buf := make([]uint64, batch)
		for i := 0; i < n; {
			k, err := r.PopBatch(ctx, buf)
			if err != nil {
				return err
			}
			for _, v := range buf[:k] {
				if v != uint64(i) {
					return fmt.Errorf("message %d is %d", i, v)
				}
				i++
			}
		}
	}
	c.Point("done")
	return nil
})

// The raw ring of the go-ring peer: its cursors, each in a cache line of
// its own, and its slots, offsets in its object.
const (
	benchRawHead = 0
	benchRawTail = 64
	benchRawData = 128
)

// benchChildRawRing is the consumer of the go-ring peer: it takes N numbers
// from the raw ring "raw" of its segment, as many as there are at a time,
// checking that they are 0 to N-1, between the points "ready" and "done".
// It gives up when its parent is gone. Arg: "SEGMENT N".
var benchChildRawRing = testproc.Register("rb-bench-raw-ring", func(c *testproc.Child) error {
	seg, f, err := shmtest.OpenArgs(c)
	if err != nil {
		return err
	}
	defer seg.Close()
	n, err := shmtest.Int(f, 0)
	if err != nil {
		return err
	}
	o, err := seg.Find(context.Background(), "raw", shm.Spec{Kind: shm.KindBytes})
	if err != nil {
		return err
	}
	head, tail := mem.Uint64(o.Bytes(), benchRawHead), mem.Uint64(o.Bytes(), benchRawTail)
	buf := mem.Slice[uint64](o.Bytes(), benchRawData, benchCap8)
	ppid := os.Getppid()
	c.Point("ready")
	for h, k := uint64(0), 1; h < uint64(n); k++ {
		t := atomic.LoadUint64(tail)
		if t == h && k&(1<<20-1) == 0 && os.Getppid() != ppid {
			return errors.New("the parent is gone")
		}
		for ; h < t; h++ {
			if v := buf[h&(benchCap8-1)]; v != h {
				return fmt.Errorf("message %d is %d", h, v)
			}
		}
		atomic.StoreUint64(head, h)
	}
	c.Point("done")
	return nil
})

func benchSPSC8(b *testing.B, batch int, spin bool) {
	seg := benchSeg(b, 8*benchCap8+1<<20)
	r := mustNew(b, NewSPSCRing[uint64], benchCap8, shm.In(seg, "ring"))
	r.SetSpin(spin)
	if _, err := r.TryPushBatch(nil); err != nil { // takes the producer role
		b.Fatal(err)
	}
	arg := fmt.Sprintf("%s %d %d", seg.Name(), b.N, batch)
	if spin {
		arg += " spin"
	}
	p := testproc.Start(b, benchChildPop8, testproc.Arg(arg))
	p.WaitPoint("ready")
	ctx, over := benchWatch(b, nil, p)
	b.ReportAllocs()
	b.ResetTimer()
	p.Continue()
	if batch == 1 {
		for i := range b.N {
			if err := r.Push(ctx, uint64(i)); err != nil {
				benchFatal(b, err, p)
			}
		}
	} else {
		buf := make([]uint64, batch)
		for i := 0; i < b.N; {
			k := min(batch, b.N-i)
			for j := range k {
				buf[j] = uint64(i + j)
			}
			if _, err := r.PushBatch(ctx, buf[:k]); err != nil {
				benchFatal(b, err, p)
			}
			i += k
		}
	}
	p.WaitPoint("done")
	b.StopTimer()
	over()
	p.Succeed()
	benchReportRate(b, "msg/s")
}

// benchChildDrain reads BYTES bytes from its file 0, up to 64 KiB a call,
// between the points "ready" and "done". Arg: "BYTES".
var benchChildDrain = testproc.Register("rb-bench-drain", func(c *testproc.Child) error {
	want, err := strconv.Atoi(c.Arg())
	if err != nil {
		return err
	}
	in := c.File(0)
	buf := make([]byte, 64<<10)
	c.Point("ready")
	got := 0
	for got < want {
		k, err := in.Read(buf)
		if err != nil {
			return fmt.Errorf("after %d of %d bytes: %w", got, want, err)
		}
		got += k
	}
	if got != want {
		return fmt.Errorf("read %d bytes, want %d", got, want)
	}
	c.Point("done")
	return nil
})

// benchFDStream writes b.N 8-byte messages to w, per of them in each write
// call, for a child that drains r.
func benchFDStream(b *testing.B, r, w *os.File, per int) {
	p := testproc.Start(b, benchChildDrain, testproc.Files(r), testproc.Arg(strconv.Itoa(8*b.N)))
	r.Close()
	p.WaitPoint("ready")
	buf := make([]byte, 8*per)
	b.ReportAllocs()
	b.ResetTimer()
	p.Continue()
	for i := 0; i < b.N; {
		k := min(per, b.N-i)
		for j := range k {
			binary.LittleEndian.PutUint64(buf[8*j:], uint64(i+j))
		}
		// A write error (EPIPE) is what a dead child leaves: no hang.
		if _, err := w.Write(buf[:8*k]); err != nil {
			benchFatal(b, err, p)
		}
		i += k
	}
	p.WaitPoint("done")
	b.StopTimer()
	p.Succeed()
	benchReportRate(b, "msg/s")
}

// benchMsg64 is BenchmarkQueue64's message: 64 bytes, saying who sent it
// and its number among that producer's messages.
type benchMsg64 struct {
	From, Seq uint64
	_         [48]byte
}

// benchStatsSpec holds what children report: for consumer i of
// BenchmarkQueue64, at byte 64*i, the number of messages it took and the
// sum of their Seq; for BenchmarkPingPong's child, at byte 0, its
// voluntary context switches.
var benchStatsSpec = shm.Spec{Kind: shm.KindBytes, Size: 64 * 2}

// benchChildPut64 puts N messages from producer FROM, numbered 0 to N-1,
// on the Queue "q" of its segment, between the points "ready" and "done".
// Arg: "SEGMENT FROM N".
var benchChildPut64 = testproc.Register("rb-bench-put64", func(c *testproc.Child) error {
	seg, f, err := shmtest.OpenArgs(c)
	if err != nil {
		return err
	}
	defer seg.Close()
	from, err := shmtest.Int(f, 0)
	if err != nil {
		return err
	}
	n, err := shmtest.Int(f, 1)
	if err != nil {
		return err
	}
	q, err := OpenQueue[benchMsg64](context.Background(), seg, "q")
	if err != nil {
		return err
	}
	if _, err := q.c.producer(); err != nil { // the slot in the producer table
		return err
	}
	ctx := context.Background()
	c.Point("ready")
	for i := range n {
		if err := q.Put(ctx, benchMsg64{From: uint64(from), Seq: uint64(i)}); err != nil {
			return err
		}
	}
	c.Point("done")
	return nil
})

// benchChildGet64 gets messages from the Queue "q" of its segment until it
// is closed and drained, checking that each producer's come in order, and
// stores its count and sum in slot SLOT of "stats", between the points
// "ready" and "done". Arg: "SEGMENT SLOT".
var benchChildGet64 = testproc.Register("rb-bench-get64", func(c *testproc.Child) error {
	seg, f, err := shmtest.OpenArgs(c)
	if err != nil {
		return err
	}
	defer seg.Close()
	slot, err := shmtest.Int(f, 0)
	if err != nil {
		return err
	}
	q, err := OpenQueue[benchMsg64](context.Background(), seg, "q")
	if err != nil {
		return err
	}
	ctx := context.Background()
	o, err := seg.Find(ctx, "stats", benchStatsSpec)
	if err != nil {
		return err
	}
	c.Point("ready")
	var count, sum uint64
	var next [2]uint64 // per producer: the lowest Seq still possible
	for {
		m, err := q.Get(ctx)
		if errors.Is(err, ErrShutdown) {
			break
		}
		if err != nil {
			return err
		}
		if m.From >= uint64(len(next)) || m.Seq < next[m.From] {
			return fmt.Errorf("message %d from producer %d after %d", m.Seq, m.From, next[min(m.From, 1)])
		}
		next[m.From] = m.Seq + 1
		count++
		sum += m.Seq
	}
	atomic.StoreUint64(mem.Uint64(o.Bytes(), uintptr(64*slot)), count)
	atomic.StoreUint64(mem.Uint64(o.Bytes(), uintptr(64*slot+8)), sum)
	c.Point("done")
	return nil
})

// BenchmarkQueue64 moves b.N messages of 64 bytes through a multi-producer
// multi-consumer Queue of plain messages, in the default blocking mode
// (each blocked call yields a few times, then sleeps on the futex). The
// producers close the queue when done; the consumers drain it and report
// how many messages they took and the sum of their numbers, which must add
// up to what was put: nothing lost, nothing twice. Metric: msg/s.
func BenchmarkQueue64(b *testing.B) {
	// The benchmark's process puts, a child gets.
	b.Run("shmkit-1p1c", func(b *testing.B) { benchQueue64(b, 1) })
	// Two producers (the benchmark's process and a child) and two consumer
	// children: 4 processes on 2 cores, where sleeping matters.
	b.Run("shmkit-2p2c", func(b *testing.B) { benchQueue64(b, 2) })
	// A buffered channel of the same capacity, goroutines of one process.
	b.Run("chan-1p1c", func(b *testing.B) { benchChan64(b, 1) })
	b.Run("chan-2p2c", func(b *testing.B) { benchChan64(b, 2) })
}

func benchQueue64(b *testing.B, pairs int) {
	seg := benchSeg(b, (64+8)*benchQueueCap+1<<20) // a slot and a cell word each
	q := mustNew(b, NewQueue[benchMsg64], benchQueueCap, shm.In(seg, "q"))
	stats, err := shm.Place(benchStatsSpec, nil, shm.In(seg, "stats"))
	if err != nil {
		b.Fatal(err)
	}
	if _, err := q.c.producer(); err != nil {
		b.Fatal(err)
	}
	// Our share of the messages, and the other producer's.
	counts := []int{b.N}
	var procs, consumers []*testproc.Proc
	var producer *testproc.Proc
	if pairs == 2 {
		counts = []int{b.N - b.N/2, b.N / 2}
		producer = testproc.Start(b, benchChildPut64, testproc.Arg(fmt.Sprintf("%s 1 %d", seg.Name(), b.N/2)))
		procs = append(procs, producer)
	}
	for i := range pairs {
		p := testproc.Start(b, benchChildGet64, testproc.Arg(fmt.Sprintf("%s %d", seg.Name(), i)))
		consumers = append(consumers, p)
		procs = append(procs, p)
	}
	for _, p := range procs {
		p.WaitPoint("ready")
	}
	ctx, over := benchWatch(b, nil, procs...)
	b.ReportAllocs()
	b.ResetTimer()
	for _, p := range procs {
		p.Continue()
	}
	for i := range counts[0] {
		if err := q.Put(ctx, benchMsg64{From: 0, Seq: uint64(i)}); err != nil {
			benchFatal(b, err, procs...)
		}
	}
	if producer != nil {
		producer.WaitPoint("done")
	}
	q.Shutdown()
	for _, p := range consumers {
		p.WaitPoint("done")
	}
	b.StopTimer()
	over()
	for _, p := range procs {
		p.Succeed()
	}
	var got, sum, want uint64
	for i := range pairs {
		got += atomic.LoadUint64(mem.Uint64(stats.Bytes(), uintptr(64*i)))
		sum += atomic.LoadUint64(mem.Uint64(stats.Bytes(), uintptr(64*i+8)))
	}
	for _, k := range counts {
		want += uint64(k) * uint64(max(k-1, 0)) / 2
	}
	if got != uint64(b.N) || sum != want {
		b.Fatalf("consumers took %d messages, Seq summing to %d; want %d summing to %d", got, sum, b.N, want)
	}
	benchReportRate(b, "msg/s")
}

func benchChan64(b *testing.B, pairs int) {
	ch := make(chan benchMsg64, benchQueueCap)
	var got atomic.Uint64
	var prod, cons sync.WaitGroup
	b.ReportAllocs()
	b.ResetTimer()
	for i := range pairs {
		cons.Go(func() {
			var n uint64
			for range ch {
				n++
			}
			got.Add(n)
		})
		prod.Go(func() {
			for k := range b.N/pairs + min(i, b.N%pairs) {
				ch <- benchMsg64{From: uint64(i), Seq: uint64(k)}
			}
		})
	}
	prod.Wait()
	close(ch)
	cons.Wait()
	b.StopTimer()
	if got.Load() != uint64(b.N) {
		b.Fatalf("took %d messages, want %d", got.Load(), b.N)
	}
	benchReportRate(b, "msg/s")
}

// benchPSStatsSpec holds what BenchmarkPubSub's subscribers report: for
// subscriber i, at byte 64*i, how many messages it received and how many
// it was told it missed.
var benchPSStatsSpec = shm.Spec{Kind: shm.KindBytes, Size: 64 * benchMaxSubs}

// benchMaxSubs is the most subscribers BenchmarkPubSub runs.
const benchMaxSubs = 4

// benchChildSub8 subscribes to the PubSub "ps" of its segment, then,
// between the points "ready" and "done", receives the numbers 0 to N-1:
// each of them in a lossless ring; in a lossy one each that it is not told
// it missed, up to N-1, checking that a lapped subscriber goes on exactly
// where the count of missed messages says. It stores in slot SLOT of
// "stats" how many it received and missed. Arg: "SEGMENT N SLOT".
var benchChildSub8 = testproc.Register("rb-bench-sub8", func(c *testproc.Child) error {
	seg, f, err := shmtest.OpenArgs(c)
	if err != nil {
		return err
	}
	defer seg.Close()
	n, err := shmtest.Int(f, 0)
	if err != nil {
		return err
	}
	slot, err := shmtest.Int(f, 1)
	if err != nil {
		return err
	}
	ctx := context.Background()
	ps, err := OpenPubSub[uint64](ctx, seg, "ps")
	if err != nil {
		return err
	}
	defer ps.Close()
	o, err := seg.Find(ctx, "stats", benchPSStatsSpec)
	if err != nil {
		return err
	}
	s, err := ps.Subscribe(0)
	if err != nil {
		return err
	}
	defer s.Close()
	c.Point("ready")
	var got, missed uint64
	for next := uint64(0); next < uint64(n); {
		v, err := s.Recv(ctx)
		if err != nil {
			// Only here: errors.As makes le escape, an allocation a call.
			if le := (*LappedError)(nil); errors.As(err, &le) && ps.Policy() == Lossy {
				missed += le.Missed
				next += le.Missed
				continue
			}
			return err
		}
		if v != next {
			return fmt.Errorf("message %d is %d", next, v)
		}
		next++
		got++
	}
	atomic.StoreUint64(mem.Uint64(o.Bytes(), uintptr(64*slot)), got)
	atomic.StoreUint64(mem.Uint64(o.Bytes(), uintptr(64*slot+8)), missed)
	c.Point("done")
	return nil
})

// BenchmarkPubSub publishes b.N 8-byte messages (the numbers 0 to b.N-1)
// from the benchmark's process to 1, 2 and 4 subscriber children, in the
// default blocking mode, beside as many single-producer Rings, one per
// child, into which the benchmark's process pushes each message once per
// ring: the same delivery without a shared ring. Each child checks that
// what it received is in order and whole. Metrics: msg/s, the messages
// each subscriber received per second (on average over them); for the
// lossy policy missed/op, the messages a subscriber missed per message
// published (on average over them).
func BenchmarkPubSub(b *testing.B) {
	for _, subs := range []int{1, 2, benchMaxSubs} {
		b.Run(fmt.Sprintf("lossless-%dsub", subs), func(b *testing.B) { benchPubSub(b, Lossless, subs) })
		b.Run(fmt.Sprintf("lossy-%dsub", subs), func(b *testing.B) { benchPubSub(b, Lossy, subs) })
		b.Run(fmt.Sprintf("rings-%dsub", subs), func(b *testing.B) { benchPubRings(b, subs) })
	}
}

func benchPubSub(b *testing.B, policy Policy, subs int) {
	seg := benchSeg(b, 16*benchCap8+1<<20) // a sequence word and a value each
	ps, err := NewPubSub[uint64](benchCap8, subs, policy, shm.In(seg, "ps"))
	if err != nil {
		b.Fatal(err)
	}
	stats, err := shm.Place(benchPSStatsSpec, nil, shm.In(seg, "stats"))
	if err != nil {
		b.Fatal(err)
	}
	if err := ps.publisher(); err != nil { // takes the publisher's role
		b.Fatal(err)
	}
	var procs []*testproc.Proc
	for i := range subs {
		procs = append(procs, testproc.Start(b, benchChildSub8, testproc.Arg(fmt.Sprintf("%s %d %d", seg.Name(), b.N, i))))
	}
	benchTimed(b, procs, func(ctx context.Context) {
		for i := range b.N {
			if err := ps.Publish(ctx, uint64(i)); err != nil {
				benchFatal(b, err, procs...)
			}
		}
	})
	var got, missed uint64
	for i := range subs {
		g := atomic.LoadUint64(mem.Uint64(stats.Bytes(), uintptr(64*i)))
		m := atomic.LoadUint64(mem.Uint64(stats.Bytes(), uintptr(64*i+8)))
		if g+m != uint64(b.N) || (policy == Lossless && m != 0) {
			b.Fatalf("subscriber %d received %d messages and missed %d of %d", i, g, m, b.N)
		}
		got += g
		missed += m
	}
	if s := b.Elapsed().Seconds(); s > 0 {
		b.ReportMetric(float64(got)/float64(subs)/s, "msg/s")
	}
	if policy == Lossy {
		b.ReportMetric(float64(missed)/float64(subs)/float64(b.N), "missed/op")
	}
}

// benchPubRings is BenchmarkPubSub's peer: subs single-producer Rings,
// each in a segment of its own and popped by a benchChildPop8 child, the
// benchmark's process pushing each message to each ring in turn.
func benchPubRings(b *testing.B, subs int) {
	var rings []*Ring[uint64]
	var procs []*testproc.Proc
	for range subs {
		seg := benchSeg(b, 8*benchCap8+1<<20)
		r := mustNew(b, NewSPSCRing[uint64], benchCap8, shm.In(seg, "ring"))
		if _, err := r.TryPushBatch(nil); err != nil { // takes the producer role
			b.Fatal(err)
		}
		rings = append(rings, r)
		procs = append(procs, testproc.Start(b, benchChildPop8, testproc.Arg(fmt.Sprintf("%s %d 1", seg.Name(), b.N))))
	}
	benchTimed(b, procs, func(ctx context.Context) {
		for i := range b.N {
			for _, r := range rings {
				if err := r.Push(ctx, uint64(i)); err != nil {
					benchFatal(b, err, procs...)
				}
			}
		}
	})
	benchReportRate(b, "msg/s")
}

// benchTimed times run, which sends the children procs their messages
// under ctx: once each child reached its point "ready" it lets them go,
// and the time ends when each reached "done"; then they must succeed.
func benchTimed(b *testing.B, procs []*testproc.Proc, run func(ctx context.Context)) {
	for _, p := range procs {
		p.WaitPoint("ready")
	}
	ctx, over := benchWatch(b, nil, procs...)
	b.ReportAllocs()
	b.ResetTimer()
	for _, p := range procs {
		p.Continue()
	}
	run(ctx)
	for _, p := range procs {
		p.WaitPoint("done")
	}
	b.StopTimer()
	over()
	for _, p := range procs {
		p.Succeed()
	}
}

// benchChildPong pops a number from the Ring "ping" of its segment and
// pushes it plus one to the Ring "pong", benchWarmup+N times, stores in
// "stats" how often it went to sleep in the kernel over the last N, then
// stops at the point "done". Arg: "SEGMENT N MODE", MODE one of
// benchPingPong's.
var benchChildPong = testproc.Register("rb-bench-pong", func(c *testproc.Child) error {
	seg, f, err := shmtest.OpenArgs(c)
	if err != nil {
		return err
	}
	defer seg.Close()
	n, err := shmtest.Int(f, 0)
	if err != nil {
		return err
	}
	ping, err := OpenRing[uint64](context.Background(), seg, "ping")
	if err != nil {
		return err
	}
	pong, err := OpenRing[uint64](context.Background(), seg, "pong")
	if err != nil {
		return err
	}
	if len(f) < 2 {
		return fmt.Errorf("no mode in %q", c.Arg())
	}
	spin := f[1] == "spin"
	if f[1] == "park-nospin" {
		spinTries = 0
	}
	ping.SetSpin(spin)
	pong.SetSpin(spin)
	ctx := context.Background()
	o, err := seg.Find(ctx, "stats", benchStatsSpec)
	if err != nil {
		return err
	}
	var csw int64
	for i := range benchWarmup + n {
		if i == benchWarmup {
			csw = benchVoluntarySwitches()
		}
		v, err := ping.Pop(ctx)
		if err != nil {
			return err
		}
		if err := pong.Push(ctx, v+1); err != nil {
			return err
		}
	}
	atomic.StoreUint64(mem.Uint64(o.Bytes(), 0), uint64(benchVoluntarySwitches()-csw))
	c.Point("done")
	return nil
})

// benchChildFutex plays C's futex ping-pong (limits.c) in Go: it sleeps
// in FUTEX_WAIT on the word "w" of its segment until the parent makes it
// odd, and answers by making it even and waking it, benchWarmup+N times,
// then stops at the point "done". Arg: "SEGMENT N".
var benchChildFutex = testproc.Register("rb-bench-futex", func(c *testproc.Child) error {
	w, n, done, err := benchChildWord(c)
	if err != nil {
		return err
	}
	defer done()
	for i := range benchWarmup + n {
		for atomic.LoadUint32(w) != uint32(2*i+1) {
			sys.FutexWait(w, uint32(2*i), -1)
		}
		atomic.StoreUint32(w, uint32(2*i+2))
		sys.FutexWake(w, 1)
	}
	c.Point("done")
	return nil
})

// benchChildSpin plays C's spin ping-pong (limits.c) in Go: it spins on
// the word "w" of its segment until the parent makes it odd, and answers
// by making it even, benchWarmup+N times, then stops at the point "done".
// It gives up when its parent is gone. Arg: "SEGMENT N".
var benchChildSpin = testproc.Register("rb-bench-spin", func(c *testproc.Child) error {
	w, n, done, err := benchChildWord(c)
	if err != nil {
		return err
	}
	defer done()
	ppid := os.Getppid()
	for i := range benchWarmup + n {
		for k := 1; atomic.LoadUint32(w) != uint32(2*i+1); k++ {
			if k&(1<<20-1) == 0 && os.Getppid() != ppid {
				return errors.New("the parent is gone")
			}
		}
		atomic.StoreUint32(w, uint32(2*i+2))
	}
	c.Point("done")
	return nil
})

// benchChildEcho8 reads 8 bytes from its file 0 and writes them to its file
// 1, benchWarmup+N times. Arg: "N".
var benchChildEcho8 = testproc.Register("rb-bench-echo8", func(c *testproc.Child) error {
	n, err := strconv.Atoi(c.Arg())
	if err != nil {
		return err
	}
	in, out := c.File(0), c.File(1)
	var buf [8]byte
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

// BenchmarkPingPong measures a round trip between two processes: a number
// goes to the child through one single-producer Ring and comes back plus
// one through another. Metrics: ns/rtt, the round trip; vcsw/op and
// child-vcsw/op, how many times per round trip the benchmark's process and
// the child went to sleep in the kernel (getrusage's voluntary context
// switches, the Go runtime's threads included): near 0 when the waits
// spin, about 1 each when every wait sleeps.
func BenchmarkPingPong(b *testing.B) {
	// Both sides spin (SetSpin(true)) while the ring is empty: the round
	// trip of the cache lines, held against C's spin ping-pong (limits.c).
	b.Run("spin", func(b *testing.B) { benchPingPong(b, "spin") })
	// The default mode, the normal path of every blocking call: Pop looks
	// again spinTries times, yielding in between, then sleeps on the
	// ring's futex word, and Push makes the FUTEX_WAKE call only when the
	// other side said it sleeps. Whether a wait ends in the yields or
	// asleep depends on how fast the other process answers: the vcsw
	// metrics tell which it was.
	b.Run("park", func(b *testing.B) { benchPingPong(b, "park") })
	// The same with no yields first (spinTries 0, in both processes): every
	// wait goes to sleep in the kernel at once, each round trip is two
	// wake-ups of a sleeping process, as in C's futex ping-pong
	// (limits.c), the figure it is held against.
	b.Run("park-nospin", func(b *testing.B) {
		defer func(n int) { spinTries = n }(spinTries)
		spinTries = 0
		benchPingPong(b, "park-nospin")
	})
	// C's spin ping-pong written in Go on one shared word, no ring: the
	// floor for a spinning round trip on this machine now, against which
	// spin is the cost of the ring (limits.c measures the same in C, but
	// not at the same moment: where the host puts the two vCPUs changes
	// this figure from run to run).
	b.Run("go-spin", func(b *testing.B) {
		seg := testSeg(b)
		o, err := shm.Place(shm.Spec{Kind: shm.KindBytes, Size: 64}, nil, shm.In(seg, "w"))
		if err != nil {
			b.Fatal(err)
		}
		w := mem.Uint32(o.Bytes(), 0)
		p := testproc.Start(b, benchChildSpin, testproc.Arg(fmt.Sprintf("%s %d", seg.Name(), b.N)))
		// If the child dies, the word becomes ^0 and the spinning ends.
		_, over := benchWatch(b, func() { atomic.StoreUint32(w, ^uint32(0)) }, p)
		round := func(i int) {
			atomic.StoreUint32(w, uint32(2*i+1))
			for atomic.LoadUint32(w) == uint32(2*i+1) {
			}
			if atomic.LoadUint32(w) == ^uint32(0) {
				benchFatal(b, errors.New("the child exited"), p)
			}
		}
		benchRounds(b, p, func() { p.WaitPoint("done"); over() }, round)
	})
	// C's futex ping-pong written in Go on raw system calls, no ring: the
	// floor for a goroutine that sleeps in the kernel, against which
	// park-nospin is the cost of the ring and of parking.
	b.Run("go-futex", func(b *testing.B) {
		seg := testSeg(b)
		o, err := shm.Place(shm.Spec{Kind: shm.KindBytes, Size: 64}, nil, shm.In(seg, "w"))
		if err != nil {
			b.Fatal(err)
		}
		w := mem.Uint32(o.Bytes(), 0)
		p := testproc.Start(b, benchChildFutex, testproc.Arg(fmt.Sprintf("%s %d", seg.Name(), b.N)))
		// If the child dies, the word becomes ^0 and the wait ends.
		_, over := benchWatch(b, func() {
			atomic.StoreUint32(w, ^uint32(0))
			sys.FutexWake(w, 1)
		}, p)
		round := func(i int) {
			atomic.StoreUint32(w, uint32(2*i+1))
			sys.FutexWake(w, 1)
			for v := uint32(2*i + 1); atomic.LoadUint32(w) == v; {
				sys.FutexWait(w, v, -1)
			}
			if atomic.LoadUint32(w) == ^uint32(0) {
				benchFatal(b, errors.New("the child exited"), p)
			}
		}
		benchRounds(b, p, func() { p.WaitPoint("done"); over() }, round)
	})
	// 8 bytes through one pipe and back through another, the child echoing.
	b.Run("os.Pipe", func(b *testing.B) {
		toR, toW := benchPipe(b)
		fromR, fromW := benchPipe(b)
		p := testproc.Start(b, benchChildEcho8, testproc.Files(toR, fromW), testproc.Arg(strconv.Itoa(b.N)))
		toR.Close()
		fromW.Close()
		var buf [8]byte
		round := func(i uint64) {
			binary.LittleEndian.PutUint64(buf[:], i)
			if _, err := toW.Write(buf[:]); err != nil {
				benchFatal(b, err, p)
			}
			if _, err := io.ReadFull(fromR, buf[:]); err != nil {
				benchFatal(b, err, p)
			}
			if v := binary.LittleEndian.Uint64(buf[:]); v != i {
				b.Fatalf("sent %d, got back %d", i, v)
			}
		}
		benchRounds(b, p, nil, func(i int) { round(uint64(i)) })
	})
}

// benchGone is what the benchmark's process pushes to its own pong ring,
// in the child's place, when the child died: it ends a Pop that would wait
// for good.
const benchGone = ^uint64(0)

func benchPingPong(b *testing.B, mode string) {
	spin := mode == "spin"
	seg := testSeg(b)
	ping := mustNew(b, NewSPSCRing[uint64], 16, shm.In(seg, "ping"))
	pong := mustNew(b, NewSPSCRing[uint64], 16, shm.In(seg, "pong"))
	stats, err := shm.Place(benchStatsSpec, nil, shm.In(seg, "stats"))
	if err != nil {
		b.Fatal(err)
	}
	ping.SetSpin(spin)
	pong.SetSpin(spin)
	p := testproc.Start(b, benchChildPong, testproc.Arg(fmt.Sprintf("%s %d %s", seg.Name(), b.N, mode)))
	// Pop takes no context that can end here, as in most programs (such a
	// context costs a sleeping wait more); if the child dies, the watcher
	// takes over its side of pong (the role of a dead process is free)
	// and pushes benchGone.
	_, over := benchWatch(b, func() {
		r, err := OpenRing[uint64](context.Background(), seg, "pong")
		if err != nil {
			return
		}
		// The kernel drops a dead child's liveness lock as it closes its files.
		for t := time.Now(); time.Since(t) < 5*time.Second; time.Sleep(time.Millisecond) {
			if err := r.TryPush(benchGone); !errors.Is(err, ErrBusy) {
				return
			}
		}
	}, p)
	ctx := context.Background()
	round := func(i uint64) {
		if err := ping.Push(ctx, i); err != nil {
			benchFatal(b, err, p)
		}
		v, err := pong.Pop(ctx)
		if err != nil || v == benchGone {
			benchFatal(b, fmt.Errorf("pong: %v, %v", v, err), p)
		}
		if v != i+1 {
			b.Fatalf("sent %d, got back %d", i, v)
		}
	}
	benchRounds(b, p, func() { p.WaitPoint("done"); over() }, func(i int) { round(uint64(i)) })
	b.ReportMetric(float64(atomic.LoadUint64(mem.Uint64(stats.Bytes(), 0)))/float64(b.N), "child-vcsw/op")
}

// benchBlock is BenchmarkBulk64K's message.
type benchBlock = [64 << 10]byte

// benchChildBulk pops N blocks from the Ring "bulk" of its segment, one a
// PopBatch into a buffer of one (no copy through the stack), checking that
// the first 8 bytes of each number it, between the points "ready" and
// "done". Arg: "SEGMENT N [spin]".
var benchChildBulk = testproc.Register("rb-bench-bulk", func(c *testproc.Child) error {
	seg, f, err := shmtest.OpenArgs(c)
	if err != nil {
		return err
	}
	defer seg.Close()
	n, err := shmtest.Int(f, 0)
	if err != nil {
		return err
	}
	r, err := OpenRing[benchBlock](context.Background(), seg, "bulk")
	if err != nil {
		return err
	}
	r.SetSpin(len(f) > 1 && f[1] == "spin")
	dst := make([]benchBlock, 1)
	if _, err := r.TryPopBatch(dst); err != errEmpty { // takes the consumer role
		return fmt.Errorf("first TryPopBatch: %v", err)
	}
	ctx := context.Background()
	c.Point("ready")
	for i := range n {
		if _, err := r.PopBatch(ctx, dst); err != nil {
			return err
		}
		if v := binary.LittleEndian.Uint64(dst[0][:]); v != uint64(i) {
			return fmt.Errorf("block %d is numbered %d", i, v)
		}
	}
	c.Point("done")
	return nil
})

// BenchmarkBulk64K moves b.N messages of 64 KiB. Metric: GB/s (10^9 bytes
// a second).
func BenchmarkBulk64K(b *testing.B) {
	// A single-producer Ring of 64 KiB slots between the benchmark's
	// process and a child, PushBatch and PopBatch of one block from and
	// into a buffer on the heap: two copies of each message, one on each
	// core, in the default blocking mode.
	b.Run("shmkit", func(b *testing.B) { benchBulk(b, false) })
	// The same with both sides spinning (SetSpin) instead of sleeping.
	b.Run("shmkit-spin", func(b *testing.B) { benchBulk(b, true) })
	// copy of 64 KiB between two buffers of one goroutine, both in cache:
	// the ceiling the ring is held against (limits.c's memcpy_64KiB).
	b.Run("memcpy", func(b *testing.B) {
		src, dst := make([]byte, 64<<10), make([]byte, 64<<10)
		for i := range src {
			src[i] = byte(i)
		}
		b.ReportAllocs()
		for b.Loop() {
			copy(dst, src)
		}
		if dst[len(dst)-1] != src[len(src)-1] {
			b.Fatal("copy did not copy")
		}
		benchReportGBs(b, len(src))
	})
}

func benchBulk(b *testing.B, spin bool) {
	seg := benchSeg(b, benchBulkSlots*int64(len(benchBlock{}))+1<<20)
	r := mustNew(b, NewSPSCRing[benchBlock], benchBulkSlots, shm.In(seg, "bulk"))
	r.SetSpin(spin)
	if _, err := r.TryPushBatch(nil); err != nil { // takes the producer role
		b.Fatal(err)
	}
	arg := fmt.Sprintf("%s %d", seg.Name(), b.N)
	if spin {
		arg += " spin"
	}
	p := testproc.Start(b, benchChildBulk, testproc.Arg(arg))
	p.WaitPoint("ready")
	ctx, over := benchWatch(b, nil, p)
	src := make([]benchBlock, 1)
	for i := range src[0] {
		src[0][i] = byte(i)
	}
	b.ReportAllocs()
	b.ResetTimer()
	p.Continue()
	for i := range b.N {
		binary.LittleEndian.PutUint64(src[0][:], uint64(i))
		if _, err := r.PushBatch(ctx, src); err != nil {
			benchFatal(b, err, p)
		}
	}
	p.WaitPoint("done")
	b.StopTimer()
	over()
	p.Succeed()
	benchReportGBs(b, len(benchBlock{}))
}

// BenchmarkRingOps measures uncontended operations in one goroutine: an add
// and a take on an empty ring or queue, so it never blocks. The plain paths
// allocate nothing (allocs/op 0); gob encodes a message into a new buffer.
func BenchmarkRingOps(b *testing.B) {
	b.Run("spsc", func(b *testing.B) {
		r := mustNew(b, NewSPSCRing[uint64], 64, shm.In(testSeg(b), "r"))
		benchRingOps(b, r)
	})
	b.Run("mpmc", func(b *testing.B) {
		r := mustNew(b, NewRing[uint64], 64, shm.In(testSeg(b), "r"))
		benchRingOps(b, r)
	})
	b.Run("queue-plain", func(b *testing.B) {
		q := mustNew(b, NewQueue[benchMsg64], 64, shm.In(testSeg(b), "q"))
		benchQueueOps(b, q, benchMsg64{From: 1, Seq: 2})
	})
	b.Run("queue-gob", func(b *testing.B) {
		q := mustNew(b, NewQueue[fancy], 64, shm.In(testSeg(b), "q"))
		benchQueueOps(b, q, fancy{Name: "Fancy Dan", Tags: []string{"a", "b"}})
	})
	// A buffered channel's send and receive, the in-process peer.
	b.Run("chan", func(b *testing.B) {
		ch := make(chan uint64, 64)
		b.ReportAllocs()
		var i uint64
		for b.Loop() {
			ch <- i
			if v := <-ch; v != i {
				b.Fatalf("got %d, want %d", v, i)
			}
			i++
		}
	})
}

func benchRingOps(b *testing.B, r *Ring[uint64]) {
	b.ReportAllocs()
	var i uint64
	for b.Loop() {
		if err := r.TryPush(i); err != nil {
			b.Fatal(err)
		}
		v, err := r.TryPop()
		if err != nil || v != i {
			b.Fatalf("TryPop = %d, %v; want %d", v, err, i)
		}
		i++
	}
}

func benchQueueOps[T any](b *testing.B, q *Queue[T], m T) {
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if err := q.Put(ctx, m); err != nil {
			b.Fatal(err)
		}
		if _, err := q.Get(ctx); err != nil {
			b.Fatal(err)
		}
	}
}

// benchSeg is a fresh named segment of size bytes for one benchmark run,
// closed and removed when it ends (as testSeg's, which are 1 MiB).
func benchSeg(b *testing.B, size int64) *shm.Segment {
	seg, err := shm.Create(testproc.ShmName(b), size, nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { seg.Close() })
	return seg
}

// benchWatch returns a context that ends, and calls onExit (when not nil),
// if one of ps exits before over is called, so that a parent waiting for
// a child fails instead of hanging. Call over once the children reported
// they are done, before letting them exit.
func benchWatch(b *testing.B, onExit func(), ps ...*testproc.Proc) (ctx context.Context, over func()) {
	ctx, cancel := context.WithCancel(context.Background())
	var ended atomic.Bool
	var once sync.Once
	var wg sync.WaitGroup
	for _, p := range ps {
		fd, err := unix.PidfdOpen(p.Pid(), 0)
		if err != nil {
			b.Fatalf("watching child %d: %v", p.Pid(), err)
		}
		wg.Go(func() {
			defer unix.Close(fd)
			fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
			for {
				if _, err := unix.Poll(fds, -1); err != unix.EINTR {
					break
				}
			}
			if !ended.Load() {
				cancel()
				if onExit != nil {
					once.Do(onExit)
				}
			}
		})
	}
	b.Cleanup(func() {
		ended.Store(true)
		for _, p := range ps {
			p.Kill()
		}
		wg.Wait()
		cancel()
	})
	return ctx, func() { ended.Store(true) }
}

// benchFatal fails the benchmark with err, and with the output of the
// children that exited on their own with an error (the cause, mostly).
// The others are killed.
func benchFatal(b *testing.B, err error, ps ...*testproc.Proc) {
	b.Helper()
	for _, p := range ps {
		p.Kill()
	}
	for _, p := range ps {
		if res := p.Wait(); !res.Killed() && res.ExitCode != 0 {
			p.Succeed()
		}
	}
	b.Fatal(err)
}

// benchPipe is os.Pipe, its ends closed when the benchmark run ends
// (closing an end twice does no harm).
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

// benchSocketpair is a connected pair of unix stream sockets, non-blocking
// as os.Pipe's ends are, closed when the benchmark run ends.
func benchSocketpair(b *testing.B) (r, w *os.File) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		b.Fatal(err)
	}
	r, w = os.NewFile(uintptr(fds[0]), "socket-r"), os.NewFile(uintptr(fds[1]), "socket-w")
	b.Cleanup(func() {
		r.Close()
		w.Close()
	})
	return r, w
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

func benchReportRate(b *testing.B, unit string) {
	if s := b.Elapsed().Seconds(); s > 0 {
		b.ReportMetric(float64(b.N)/s, unit)
	}
}

func benchReportRTT(b *testing.B, csw int64) {
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N), "ns/rtt")
	b.ReportMetric(float64(csw)/float64(b.N), "vcsw/op")
}

func benchReportGBs(b *testing.B, size int) {
	if s := b.Elapsed().Seconds(); s > 0 {
		b.ReportMetric(float64(b.N)*float64(size)/s/1e9, "GB/s")
	}
}

// benchRounds plays benchWarmup untimed round trips against the child p and
// then b.N timed ones, numbered on from the warm-up, and reports the round
// trip and the sleeps per round trip. done, when not nil, runs once the
// timed rounds are over, before the child is reaped.
func benchRounds(b *testing.B, p *testproc.Proc, done func(), round func(i int)) {
	for i := range benchWarmup {
		round(i)
	}
	b.ReportAllocs()
	csw := benchVoluntarySwitches()
	b.ResetTimer()
	for i := range b.N {
		round(benchWarmup + i)
	}
	b.StopTimer()
	csw = benchVoluntarySwitches() - csw
	if done != nil {
		done()
	}
	p.Succeed()
	benchReportRTT(b, csw)
}

// benchChildWord opens, in a child, the segment and round count of its
// argument ("SEGMENT N") and the word "w" that the go-spin and go-futex
// peers play on; done closes the segment.
func benchChildWord(c *testproc.Child) (w *uint32, n int, done func(), err error) {
	seg, f, err := shmtest.OpenArgs(c)
	if err != nil {
		return nil, 0, nil, err
	}
	if n, err = shmtest.Int(f, 0); err == nil {
		var o *shm.Object
		if o, err = seg.Find(context.Background(), "w", shm.Spec{Kind: shm.KindBytes}); err == nil {
			return mem.Uint32(o.Bytes(), 0), n, func() { seg.Close() }, nil
		}
	}
	seg.Close()
	return nil, 0, nil, err
}

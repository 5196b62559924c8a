//go:build linux && (amd64 || arm64)

package ringbuffer

// Cross-process tests: real child processes (copies of the test binary
// started through testproc) move messages through every kind of ring,
// queue and pipe, and the test checks that each message arrives exactly
// once, intact, in the order promised, that roles and handles work across
// processes, and that a call blocked in one process is woken by another.
// The kill tests (a process dying at a kill point) are elsewhere.
//
// Children get their arguments as space-separated fields, the first the
// name of the test's segment (shmtest.Start, shmtest.OpenArgs), and print
// "RESULT ..." lines for the test to check. Every wait is bounded by a
// context of xpTimeout and every child by a testproc timeout: a bug fails
// a test, it never hangs it. No check depends on timing.

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math"
	"math/bits"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shmkit/shmkit/internal/mem"
	"github.com/shmkit/shmkit/internal/park"
	"github.com/shmkit/shmkit/internal/shmtest"
	"github.com/shmkit/shmkit/internal/testproc"
	"github.com/shmkit/shmkit/shm"
)

const (
	// xpTimeout bounds every wait: far beyond any real one.
	xpTimeout = 60 * time.Second
	// xpChildTimeout is the testproc timeout of the children that move
	// many messages; xpShortTimeout that of the others.
	xpChildTimeout = 100 * time.Second
	xpShortTimeout = 60 * time.Second

	// xpProducers and xpConsumers are the processes of the exactness tests.
	xpProducers = 4
	xpConsumers = 4

	// xpName names the object under test in every test's segment, and
	// xpBook the bookkeeping block of the exactness tests.
	xpName = "xq"
	xpBook = "xbook"

	// xpStop ends a stream of values on a single-producer ring.
	xpStop = math.MaxUint64
)

// Batch sizes, cycled through: odd, so that batches straddle the end of
// the ring; 1 means a single Push or Pop.
var (
	xpPushSizes = []int{1, 5, 1, 13, 31, 3, 61, 7}
	xpPopSizes  = []int{1, 9, 1, 33, 64, 3, 17}
)

// xpContext is a context that ends after xpTimeout, or with the test.
func xpContext(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), xpTimeout)
	t.Cleanup(cancel)
	return ctx
}

// xpChildContext is the context of a child's whole work.
func xpChildContext() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), xpTimeout)
}

// xpSeg is a named segment of size bytes for one test, removed at its end.
func xpSeg(t testing.TB, size int64) *shm.Segment {
	t.Helper()
	seg, err := shm.Create(testproc.ShmName(t), size, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { seg.Close() })
	return seg
}

// xpResult is the fields of the only RESULT line of a child that
// succeeded.
func xpResult(t testing.TB, p *testproc.Proc) []string {
	t.Helper()
	out := p.Succeed().Output
	res, err := xpParseResult(out)
	if err != nil {
		t.Fatalf("%v:\n%s", err, out)
	}
	return res
}

// xpParseResult is the fields of the only RESULT line in a child's output.
func xpParseResult(out string) ([]string, error) {
	var res [][]string
	for _, line := range strings.Split(out, "\n") {
		if rest, ok := strings.CutPrefix(line, "RESULT "); ok {
			res = append(res, strings.Fields(rest))
		}
	}
	if len(res) != 1 {
		return nil, fmt.Errorf("child printed %d RESULT lines, want 1", len(res))
	}
	return res[0], nil
}

// xpUints parses fields as unsigned integers.
func xpUints(t testing.TB, f []string) []uint64 {
	t.Helper()
	var vs []uint64
	for _, s := range f {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("RESULT field %q: %v", s, err)
		}
		vs = append(vs, v)
	}
	return vs
}

// xpErrClass names an error in a RESULT line.
func xpErrClass(err error) string {
	switch {
	case err == nil:
		return "nil"
	case errors.Is(err, ErrBusy):
		return "busy"
	case errors.Is(err, shm.ErrLayout):
		return "layout"
	case errors.Is(err, shm.ErrKind):
		return "kind"
	}
	return "other:" + strings.ReplaceAll(err.Error(), " ", "_")
}

// xpArgs are the fields of a child's argument after the segment, with
// checks.
type xpArgs []string

func (f xpArgs) int(i int) int {
	v, err := shmtest.Int(f, i)
	if err != nil {
		panic(err)
	}
	return v
}

func (f xpArgs) str(i int) string {
	if i >= len(f) {
		panic(fmt.Sprintf("argument %q has no field %d", []string(f), i))
	}
	return f[i]
}

// xpOpen opens the child's segment; the child closes it.
func xpOpen(c *testproc.Child) (*shm.Segment, xpArgs) {
	seg, f, err := shmtest.OpenArgs(c)
	if err != nil {
		panic(err)
	}
	return seg, f
}

// xpChild registers a child that runs fn with the segment and the fields
// of its argument, and a context that ends after xpTimeout.
func xpChild(name string, fn func(c *testproc.Child, ctx context.Context, seg *shm.Segment, f xpArgs) error) string {
	return testproc.Register(name, func(c *testproc.Child) error {
		seg, f := xpOpen(c)
		defer seg.Close()
		ctx, cancel := xpChildContext()
		defer cancel()
		return fn(c, ctx, seg, f)
	})
}

// ---- Messages ----

// xpMsg is the plain message of the exactness tests: Check is a hash of
// the other fields, so a torn or corrupt message shows.
type xpMsg struct {
	Producer, Seq, Check uint64
}

func xpHash(p, s uint64) uint64 { return shmtest.Mix(p<<48 ^ s ^ 0x9e3779b97f4a7c15) }

func xpMake(p, s uint64) xpMsg { return xpMsg{p, s, xpHash(p, s)} }

// xpBlob is the encoded (gob) message: with 0 to 899 bytes of padding it
// encodes to 65 to 990 bytes, frames of 2 to 16 cells of 64 bytes.
type xpBlob struct {
	Producer, Seq uint64
	Pad           []byte
	Check         uint64
}

func xpMakeBlob(p, s uint64) xpBlob {
	pad := make([]byte, (s*7919+p*104729)%900)
	for i := range pad {
		pad[i] = byte(s + uint64(i)*(p+1))
	}
	return xpBlob{p, s, pad, xpBlobCheck(p, s, pad)}
}

func xpBlobCheck(p, s uint64, pad []byte) uint64 {
	h := xpHash(p, s) ^ uint64(len(pad))
	for _, c := range pad {
		h = (h ^ uint64(c)) * 0x100000001b3
	}
	return h
}

// ---- 1. Exactly once, many producers and consumers ----

// The bookkeeping block of an exactness test: a stop word, a failure
// word, then one bit per message (producer p's message s is bit
// p*per+s), which consumers set with an atomic OR: a bit found set is a
// message delivered twice, a bit left clear one lost.
const (
	xpBookStop   = 0
	xpBookFailed = 4
	xpBookBits   = 64
)

func xpBookSpec(total int) shm.Spec {
	return shm.Spec{Kind: shm.KindBytes, Size: uint64(xpBookBits + (total+63)/64*8)}
}

// xpTally is what one consumer saw.
type xpTally struct {
	per    uint64
	stop   *uint32 // set by the test when a Ring (which has no Close) is drained for good
	failed *uint32 // set by any process that failed: every other one gives up
	bits   []uint64
	next   [xpProducers]uint64 // per producer: the lowest Seq still allowed (FIFO)
	counts [xpProducers]uint64
}

func xpOpenTally(b []byte, per int) *xpTally {
	return &xpTally{
		per:    uint64(per),
		stop:   mem.Uint32(b, xpBookStop),
		failed: mem.Uint32(b, xpBookFailed),
		bits:   mem.Slice[uint64](b, xpBookBits, (xpProducers*per+63)/64),
	}
}

// watch returns a context that ends with ctx or as soon as some process
// of the test has failed, so that the others stop waiting for it. The
// goroutine that watches reads the failure word in the segment: stop
// ends it and waits for it to be gone, so that the segment can be closed
// once stop has returned.
func (x *xpTally) watch(ctx context.Context) (_ context.Context, stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		for atomic.LoadUint32(x.failed) == 0 {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
		}
		cancel()
	}()
	return ctx, func() {
		cancel()
		<-done
	}
}

// fail records that this process failed with err, and returns err.
func (x *xpTally) fail(err error) error {
	if err != nil {
		atomic.StoreUint32(x.failed, 1)
	}
	return err
}

// take records m: intact, in range, in order for its producer, never seen
// before by any consumer.
func (x *xpTally) take(m xpMsg) error {
	if m.Producer >= xpProducers || m.Seq >= x.per {
		return fmt.Errorf("message %+v out of range", m)
	}
	if m.Check != xpHash(m.Producer, m.Seq) {
		return fmt.Errorf("message %+v fails its checksum: torn or corrupt", m)
	}
	if m.Seq < x.next[m.Producer] {
		return fmt.Errorf("producer %d: Seq %d after %d: out of order", m.Producer, m.Seq, x.next[m.Producer]-1)
	}
	x.next[m.Producer] = m.Seq + 1
	bit := m.Producer*x.per + m.Seq
	mask := uint64(1) << (bit % 64)
	if atomic.OrUint64(&x.bits[bit/64], mask)&mask != 0 {
		return fmt.Errorf("message %+v delivered twice", m)
	}
	x.counts[m.Producer]++
	return nil
}

var xpChildProducer = xpChild("rb-xp-producer", func(c *testproc.Child, ctx context.Context, seg *shm.Segment, f xpArgs) error {
	kind, p, n := f.str(0), uint64(f.int(1)), uint64(f.int(2))
	b, err := seg.Find(ctx, xpBook, shm.Spec{Kind: shm.KindBytes})
	if err != nil {
		return err
	}
	x := xpOpenTally(b.Bytes(), int(n))
	ctx, stop := x.watch(ctx)
	defer stop()
	if err := x.fail(xpProduce(ctx, seg, kind, p, n)); err != nil {
		return fmt.Errorf("producer %d: %w", p, err)
	}
	fmt.Printf("RESULT %d\n", n)
	return nil
})

// xpProduce sends producer p's messages 0 to n-1 through the object of
// kind in seg.
func xpProduce(ctx context.Context, seg *shm.Segment, kind string, p, n uint64) error {
	switch kind {
	case "queue":
		return xpPutAll(ctx, seg, p, n, xpMake)
	case "gob":
		return xpPutAll(ctx, seg, p, n, xpMakeBlob)
	case "ring":
		r, err := OpenRing[xpMsg](context.Background(), seg, xpName)
		if err != nil {
			return err
		}
		buf := make([]xpMsg, 64)
		for s, i := uint64(0), 0; s < n; i++ {
			k := min(uint64(xpPushSizes[i%len(xpPushSizes)]), n-s)
			if k == 1 {
				if err := r.Push(ctx, xpMake(p, s)); err != nil {
					return fmt.Errorf("push %d: %w", s, err)
				}
			} else {
				for j := range k {
					buf[j] = xpMake(p, s+j)
				}
				if got, err := r.PushBatch(ctx, buf[:k]); err != nil || got != int(k) {
					return fmt.Errorf("push batch of %d at %d: %d, %w", k, s, got, err)
				}
			}
			s += k
		}
	default:
		return fmt.Errorf("unknown kind %q", kind)
	}
	return nil
}

// xpPutAll sends producer p's messages 0 to n-1, made by mk, through the
// queue of T in seg.
func xpPutAll[T any](ctx context.Context, seg *shm.Segment, p, n uint64, mk func(p, s uint64) T) error {
	q, err := OpenQueue[T](context.Background(), seg, xpName)
	if err != nil {
		return err
	}
	for s := range n {
		if err := q.Put(ctx, mk(p, s)); err != nil {
			return fmt.Errorf("put %d: %w", s, err)
		}
	}
	return nil
}

var xpChildConsumer = xpChild("rb-xp-consumer", func(c *testproc.Child, ctx context.Context, seg *shm.Segment, f xpArgs) error {
	kind, per := f.str(0), f.int(1)
	b, err := seg.Find(ctx, xpBook, shm.Spec{Kind: shm.KindBytes})
	if err != nil {
		return err
	}
	x := xpOpenTally(b.Bytes(), per)
	ctx, stop := x.watch(ctx)
	defer stop()
	err = x.fail(xpConsume(ctx, seg, kind, x))
	var counts []string
	for _, n := range x.counts {
		counts = append(counts, strconv.FormatUint(n, 10))
	}
	fmt.Printf("RESULT %s\n", strings.Join(counts, " "))
	return err
})

// xpConsume takes messages from the object of kind in seg until it is
// shut down (queues) or the test says it is drained for good (rings).
func xpConsume(ctx context.Context, seg *shm.Segment, kind string, x *xpTally) error {
	switch kind {
	case "queue":
		return xpGetAll(ctx, seg, x, func(m xpMsg) (xpMsg, error) { return m, nil })
	case "gob":
		return xpGetAll(ctx, seg, x, func(m xpBlob) (xpMsg, error) {
			if m.Check != xpBlobCheck(m.Producer, m.Seq, m.Pad) {
				return xpMsg{}, fmt.Errorf("message %d/%d of %d bytes fails its checksum", m.Producer, m.Seq, len(m.Pad))
			}
			return xpMake(m.Producer, m.Seq), nil
		})
	case "ring":
		r, err := OpenRing[xpMsg](context.Background(), seg, xpName)
		if err != nil {
			return err
		}
		buf := make([]xpMsg, 64)
		for i := 0; ; i++ {
			k := xpPopSizes[i%len(xpPopSizes)]
			var n int
			if k == 1 {
				buf[0], err = r.TryPop()
				n = 1
			} else {
				n, err = r.TryPopBatch(buf[:k])
			}
			if errors.Is(err, ErrEmpty) {
				if atomic.LoadUint32(x.stop) != 0 {
					return nil
				}
				wctx, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
				n, err = r.PopBatch(wctx, buf[:k])
				cancel()
				if err == context.DeadlineExceeded && ctx.Err() == nil {
					continue
				}
			}
			if err != nil {
				return err
			}
			for _, m := range buf[:n] {
				if err := x.take(m); err != nil {
					return err
				}
			}
		}
	}
	return fmt.Errorf("unknown kind %q", kind)
}

// xpGetAll takes messages from the queue of T in seg until it is shut
// down, and gives each to x as the xpMsg msg makes of it.
func xpGetAll[T any](ctx context.Context, seg *shm.Segment, x *xpTally, msg func(T) (xpMsg, error)) error {
	q, err := OpenQueue[T](context.Background(), seg, xpName)
	if err != nil {
		return err
	}
	for {
		m, err := q.Get(ctx)
		if errors.Is(err, ErrShutdown) {
			return nil
		}
		if err != nil {
			return err
		}
		v, err := msg(m)
		if err != nil {
			return err
		}
		if err := x.take(v); err != nil {
			return err
		}
	}
}

// xpExactlyOnce runs xpProducers producer and xpConsumers consumer
// processes moving per messages per producer through a new object of kind
// (a Queue of plain xpMsg, a multi-producer Ring of it, or a Queue of gob
// xpBlob), and checks that every message was delivered exactly once,
// intact, and in each producer's order to each consumer.
func xpExactlyOnce(t *testing.T, kind string, per, capacity int) {
	total := xpProducers * per
	seg := xpSeg(t, int64(total/8)+1<<20)
	var drain func()      // queues: Shutdown
	var ring *Ring[xpMsg] // rings: the stop word, once the ring is empty
	switch kind {
	case "queue":
		q := mustNew(t, NewQueue[xpMsg], capacity, shm.In(seg, xpName))
		drain = func() { q.Shutdown() }
	case "gob":
		q := mustNew(t, NewQueue[xpBlob], capacity, shm.In(seg, xpName))
		drain = func() { q.Shutdown() }
	case "ring":
		var err error
		if ring, err = NewRing[xpMsg](capacity, shm.In(seg, xpName)); err != nil {
			t.Fatal(err)
		}
	}
	bo, err := shm.Place(xpBookSpec(total), nil, shm.In(seg, xpBook))
	if err != nil {
		t.Fatal(err)
	}
	x := xpOpenTally(bo.Bytes(), per)

	start := time.Now()
	var cons, prods []*testproc.Proc
	for range xpConsumers {
		cons = append(cons, shmtest.Start(t, xpChildTimeout, xpChildConsumer, seg.Name(), kind, strconv.Itoa(per)))
	}
	for p := range xpProducers {
		prods = append(prods, shmtest.Start(t, xpChildTimeout, xpChildProducer, seg.Name(), kind, strconv.Itoa(p), strconv.Itoa(per)))
	}
	// A process that fails sets the failure word and the others give up
	// at once: report what each of them said.
	waitAll := func(what string, ps []*testproc.Proc) (results [][]string) {
		t.Helper()
		for i, p := range ps {
			res := p.Wait()
			got, err := xpParseResult(res.Output)
			if res.ExitCode != 0 || err != nil {
				atomic.StoreUint32(x.failed, 1)
				t.Errorf("%s %d (pid %d): exit code %d, %v; output:\n%s", what, i, p.Pid(), res.ExitCode, err, res.Output)
			}
			results = append(results, got)
		}
		return results
	}
	for _, got := range waitAll("producer", prods) {
		if !t.Failed() && (len(got) != 1 || got[0] != strconv.Itoa(per)) {
			t.Fatalf("producer says %q", got)
		}
	}
	if t.Failed() {
		waitAll("consumer", cons)
		t.FailNow()
	}
	if drain != nil {
		drain()
	} else {
		// Every producer has exited: the ring is drained for good once
		// the consumers have moved the head up to the tail.
		for end := time.Now().Add(xpTimeout); ring.Len() != 0; time.Sleep(time.Millisecond) {
			if time.Now().After(end) {
				t.Fatalf("the consumers left %d messages in the ring for %v", ring.Len(), xpTimeout)
			}
		}
		atomic.StoreUint32(x.stop, 1)
	}
	var counts [xpProducers]uint64
	for _, f := range waitAll("consumer", cons) {
		if t.Failed() {
			continue
		}
		got := xpUints(t, f)
		if len(got) != xpProducers {
			t.Fatalf("consumer says %v", got)
		}
		for i, n := range got {
			counts[i] += n
		}
	}
	if t.Failed() {
		t.FailNow()
	}
	elapsed := time.Since(start)
	for p, n := range counts {
		if n != uint64(per) {
			t.Errorf("producer %d: %d messages delivered, want %d", p, n, per)
		}
	}
	set := 0
	for i, w := range x.bits {
		set += bits.OnesCount64(w)
		if w != math.MaxUint64 && i*64+64 <= total && !t.Failed() {
			b := i*64 + bits.TrailingZeros64(^w)
			t.Errorf("message %d of producer %d never delivered", b%per, b/per)
		}
	}
	if set != total {
		t.Errorf("%d distinct messages delivered, want %d", set, total)
	}
	t.Logf("%d messages from %d to %d processes through a %s in %v", total, xpProducers, xpConsumers, kind, elapsed)
}

// TestMultiProcQueueExactlyOnce: 4 producer and 4 consumer processes move
// 10 million plain messages (fewer under the race detector) through one
// Queue; each arrives exactly once, intact, in its producer's order.
func TestMultiProcQueueExactlyOnce(t *testing.T) {
	per := 10_000_000 / xpProducers
	if raceEnabled {
		per = 2_000_000 / xpProducers
	}
	xpExactlyOnce(t, "queue", per, 4096)
}

// TestMultiProcRingExactlyOnce: the same through a multi-producer Ring,
// with batches of odd sizes on both sides.
func TestMultiProcRingExactlyOnce(t *testing.T) {
	per := 2_000_000 / xpProducers
	if raceEnabled {
		per = 600_000 / xpProducers
	}
	xpExactlyOnce(t, "ring", per, 1024)
}

// TestMultiProcGobQueueExactlyOnce: the same through a Queue of gob
// messages of 65 to 990 bytes, in frames of 2 to 16 cells of a 64-cell
// ring, so that frames wrap its end all the time.
func TestMultiProcGobQueueExactlyOnce(t *testing.T) {
	per := 40_000 / xpProducers
	if raceEnabled {
		per = 12_000 / xpProducers
	}
	xpExactlyOnce(t, "gob", per, 16)
}

// ---- 2. Single producer, single consumer ----

// xpChildSPSCPush pushes consecutive values to the single-producer ring,
// where every value equals its position: from start ("tail": wherever
// the tail is when it takes the role), count of them (-1: until killed),
// with Push and PushBatch in turn. With pause >= 0 it stops at
// Point("pushed") after pause values; with stop 1 it pushes xpStop last.
var xpChildSPSCPush = xpChild("rb-xp-spsc-push", func(c *testproc.Child, ctx context.Context, seg *shm.Segment, f xpArgs) error {
	count, pause, stop := f.int(1), f.int(2), f.int(3)
	r, err := OpenRing[uint64](context.Background(), seg, xpName)
	if err != nil {
		return err
	}
	if err := r.producerSide(); err != nil {
		return err
	}
	start := r.prod.pos
	if s := f.str(0); s != "tail" && s != strconv.FormatUint(start, 10) {
		return fmt.Errorf("the tail is at %d, want %s", start, s)
	}
	end := uint64(math.MaxInt64)
	if count >= 0 {
		end = start + uint64(count)
	}
	buf := make([]uint64, 64)
	v := start
	for i := 0; v < end; i++ {
		k := min(uint64(xpPushSizes[i%len(xpPushSizes)]), end-v)
		if pause >= 0 {
			if v-start == uint64(pause) {
				c.Point("pushed")
				pause = -1
			} else if v-start < uint64(pause) {
				k = min(k, start+uint64(pause)-v)
			}
		}
		if k == 1 {
			if err := r.Push(ctx, v); err != nil {
				return fmt.Errorf("push %d: %w", v, err)
			}
		} else {
			for j := range k {
				buf[j] = v + j
			}
			if n, err := r.PushBatch(ctx, buf[:k]); err != nil || n != int(k) {
				return fmt.Errorf("push batch of %d at %d: %d, %w", k, v, n, err)
			}
		}
		v += k
	}
	if stop == 1 {
		if err := r.Push(ctx, xpStop); err != nil {
			return err
		}
	}
	fmt.Printf("RESULT %d %d\n", start, v)
	return nil
})

// xpPopInOrder pops, with Pop and PopBatch in turn, values that must be
// next, next+1, ... until end or xpStop, storing its progress in seen. It
// returns the value it expects next.
func xpPopInOrder(ctx context.Context, r *Ring[uint64], next, end uint64, seen *atomic.Uint64) (uint64, error) {
	buf := make([]uint64, 64)
	for i := 0; next < end; i++ {
		k := min(uint64(xpPopSizes[i%len(xpPopSizes)]), end-next)
		var n int
		var err error
		if k == 1 {
			buf[0], err = r.Pop(ctx)
			n = 1
		} else {
			n, err = r.PopBatch(ctx, buf[:k])
		}
		if err != nil {
			return next, fmt.Errorf("popping value %d: %w", next, err)
		}
		for _, v := range buf[:n] {
			if v == xpStop {
				return next, nil
			}
			if v != next {
				return next, fmt.Errorf("popped %d, want %d", v, next)
			}
			next++
		}
		if seen != nil {
			seen.Store(next)
		}
	}
	return next, nil
}

// TestMultiProcSPSCOrder: a child pushes 0..N-1 to a single-producer ring
// of 64 slots, in batches of odd sizes, and the test pops them in exact
// order.
func TestMultiProcSPSCOrder(t *testing.T) {
	n := 2_000_000
	if raceEnabled {
		n = 1_000_000
	}
	seg := testSeg(t)
	r := mustNew(t, NewSPSCRing[uint64], 50, shm.In(seg, xpName))
	if r.Cap() != 64 || !r.SingleProducer() {
		t.Fatalf("cap %d, single producer %v", r.Cap(), r.SingleProducer())
	}
	start := time.Now()
	p := shmtest.Start(t, xpChildTimeout, xpChildSPSCPush, seg.Name(), "0", strconv.Itoa(n), "-1", "0")
	next, err := xpPopInOrder(xpContext(t), r, 0, uint64(n), nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := xpUints(t, xpResult(t, p)); got[0] != 0 || got[1] != uint64(n) || next != uint64(n) {
		t.Fatalf("pushed %v, popped up to %d, want %d", got, next, n)
	}
	if _, err := r.TryPop(); err != errEmpty {
		t.Fatalf("TryPop on the drained ring: %v", err)
	}
	t.Logf("%d values in %v", n, time.Since(start))
}

// xpChildSPSCIntrude tries both roles of a single-producer ring whose
// producer and consumer are alive in other processes.
var xpChildSPSCIntrude = testproc.Register("rb-xp-spsc-intrude", func(c *testproc.Child) error {
	seg, _ := xpOpen(c)
	defer seg.Close()
	ctx, cancel := xpChildContext()
	defer cancel()
	r, err := OpenRing[uint64](context.Background(), seg, xpName)
	if err != nil {
		return err
	}
	e1 := r.TryPush(xpStop)
	_, e2 := r.PushBatch(ctx, []uint64{xpStop, xpStop, xpStop})
	_, e3 := r.TryPop()
	_, e4 := r.PopBatch(ctx, make([]uint64, 3))
	fmt.Printf("RESULT %s %s %s %s\n", xpErrClass(e1), xpErrClass(e2), xpErrClass(e3), xpErrClass(e4))
	return nil
})

// TestMultiProcSPSCTakeover: while a producer child is alive, a second
// process gets ErrBusy for both roles (the test holds the consumer's);
// the producer is killed in mid-stream, another child takes the role
// over and goes on from where the ring's tail is, exits, and a third
// takes over from it. The test pops every value in order: none lost,
// none twice, none torn.
func TestMultiProcSPSCTakeover(t *testing.T) {
	seg := testSeg(t)
	r := mustNew(t, NewSPSCRing[uint64], 64, shm.In(seg, xpName))
	ctx, cancel := context.WithCancel(xpContext(t))
	type popped struct {
		next uint64
		err  error
	}
	done := make(chan popped, 1)
	exited := make(chan struct{})
	var seen atomic.Uint64
	go func() {
		defer close(exited)
		next, err := xpPopInOrder(ctx, r, 0, math.MaxUint64, &seen)
		done <- popped{next, err}
	}()
	// The consumer pops from the segment until the last value: when the
	// test fails first, it is stopped, and waited for, before the
	// cleanups close the segment.
	defer func() {
		cancel()
		<-exited
	}()

	p1 := shmtest.Start(t, xpShortTimeout, xpChildSPSCPush, seg.Name(), "0", "-1", "1000", "0")
	p1.WaitPoint("pushed")
	in := shmtest.Start(t, xpShortTimeout, xpChildSPSCIntrude, seg.Name())
	if got := strings.Join(xpResult(t, in), " "); got != "busy busy busy busy" {
		t.Fatalf("a third process pushing and popping: %s, want ErrBusy for each", got)
	}
	p1.Continue()
	const killAfter = 20_000
	for end := time.Now().Add(xpTimeout); seen.Load() < killAfter; time.Sleep(time.Millisecond) {
		select {
		case pp := <-done:
			t.Fatalf("the consumer stopped at %d: %v", pp.next, pp.err)
		default:
		}
		if time.Now().After(end) {
			t.Fatalf("the consumer popped only %d values in %v", seen.Load(), xpTimeout)
		}
	}
	p1.Kill()
	if res := p1.Wait(); !res.Killed() {
		t.Fatalf("the producer was not killed: %+v", res)
	}
	p2 := shmtest.Start(t, xpShortTimeout, xpChildSPSCPush, seg.Name(), "tail", "5000", "-1", "0")
	got2 := xpUints(t, xpResult(t, p2))
	p3 := shmtest.Start(t, xpShortTimeout, xpChildSPSCPush, seg.Name(), "tail", "3000", "-1", "1")
	got3 := xpUints(t, xpResult(t, p3))
	if got2[0] < killAfter || got3[0] != got2[1] {
		t.Fatalf("second producer pushed %v, third %v", got2, got3)
	}
	select {
	case pp := <-done:
		if pp.err != nil {
			t.Fatal(pp.err)
		}
		if pp.next != got3[1] {
			t.Fatalf("popped %d values, want %d", pp.next, got3[1])
		}
	case <-time.After(xpTimeout):
		t.Fatalf("the consumer popped only %d values in %v", seen.Load(), xpTimeout)
	}
	if _, err := r.TryPop(); err != errEmpty {
		t.Fatalf("TryPop on the drained ring: %v", err)
	}
	t.Logf("killed the first producer after %d values; the second went on from %d", killAfter, got2[0])
}

// ---- 3. Pipes ----

// xpPong is a child's side of a ping-pong of n messages over end: it
// answers each ping(i) with pong(i), then sends extra more and closes its
// handle, through which nothing goes any more.
func xpPong[T any](ctx context.Context, end *Conn[T], n, extra int, ping, pong func(int) T, eq func(a, b T) bool) error {
	for i := range n {
		v, err := end.Recv(ctx)
		if err != nil {
			return fmt.Errorf("receiving ping %d: %w", i, err)
		}
		if !eq(v, ping(i)) {
			return fmt.Errorf("ping %d: got %+v, want %+v", i, v, ping(i))
		}
		if err := end.Send(ctx, pong(i)); err != nil {
			return fmt.Errorf("sending pong %d: %w", i, err)
		}
	}
	for i := n; i < n+extra; i++ {
		if err := end.Send(ctx, pong(i)); err != nil {
			return fmt.Errorf("sending extra %d: %w", i, err)
		}
	}
	if err := end.Close(); err != nil {
		return err
	}
	if err := end.Send(ctx, pong(0)); !errors.Is(err, ErrClosed) {
		return fmt.Errorf("Send after Close: %v, want ErrClosed", err)
	}
	if _, err := end.Recv(ctx); !errors.Is(err, ErrClosed) {
		return fmt.Errorf("Recv after Close: %v, want ErrClosed", err)
	}
	return nil
}

// xpPing is the test's side of it. other, the test's copy of the child's
// end, it closes after the first round trip, when the child has its own.
func xpPing[T any](t *testing.T, end, other *Conn[T], n, extra int, ping, pong func(int) T, eq func(a, b T) bool) {
	t.Helper()
	ctx := xpContext(t)
	for i := range n {
		if i == 1 && other != nil {
			if err := other.Close(); err != nil {
				t.Fatal(err)
			}
		}
		if err := end.Send(ctx, ping(i)); err != nil {
			t.Fatalf("sending ping %d: %v", i, err)
		}
		v, err := end.Recv(ctx)
		if err != nil {
			t.Fatalf("receiving pong %d: %v", i, err)
		}
		if !eq(v, pong(i)) {
			t.Fatalf("pong %d: got %+v, want %+v", i, v, pong(i))
		}
	}
	for i := n; i < n+extra; i++ {
		v, err := end.Recv(ctx)
		if err != nil || !eq(v, pong(i)) {
			t.Fatalf("extra %d: got %+v, %v, want %+v", i, v, err, pong(i))
		}
	}
	for range 2 {
		if v, err := end.Recv(ctx); err != io.EOF {
			t.Fatalf("Recv after the child closed: %+v, %v, want io.EOF", v, err)
		}
	}
	if err := end.Send(ctx, ping(0)); !errors.Is(err, io.ErrClosedPipe) {
		t.Fatalf("Send after the child closed: %v, want io.ErrClosedPipe", err)
	}
}

func xpPingPongRounds() int {
	if raceEnabled {
		return 1000
	}
	return 3000
}

func xpPingMsg(i int) xpMsg   { return xpMake(0, uint64(i)) }
func xpPongMsg(i int) xpMsg   { return xpMake(1, uint64(i)) }
func xpMsgEq(a, b xpMsg) bool { return a == b }

func xpPingFancy(i int) fancy {
	return fancy{Name: "ping " + strconv.Itoa(i), Tags: slices.Repeat([]string{strings.Repeat("p", i%97)}, i%7)}
}

func xpPongFancy(i int) fancy {
	return fancy{Name: "pong " + strconv.Itoa(i), Tags: slices.Repeat([]string{strings.Repeat("q", i%89)}, i%5)}
}

func xpFancyEq(a, b fancy) bool { return a.Name == b.Name && slices.Equal(a.Tags, b.Tags) }

// xpChildPipeByName finds the pipe by name and plays its end 1.
var xpChildPipeByName = xpChild("rb-xp-pipe-name", func(c *testproc.Child, ctx context.Context, seg *shm.Segment, f xpArgs) error {
	a, b, err := OpenPipe[xpMsg](context.Background(), seg, xpName)
	if err != nil {
		return err
	}
	a.Close() // the test's end
	if err := xpPong(ctx, b, f.int(0), f.int(1), xpPingMsg, xpPongMsg, xpMsgEq); err != nil {
		return err
	}
	fmt.Println("RESULT ok")
	return nil
})

// xpChildPipeByHandle gets its end of the pipe as a handle.
var xpChildPipeByHandle = xpChild("rb-xp-pipe-handle", func(c *testproc.Child, ctx context.Context, seg *shm.Segment, f xpArgs) error {
	b, err := endFromHex[fancy](f.str(0))
	if err != nil {
		return err
	}
	if err := xpPong(ctx, b, f.int(1), f.int(2), xpPingFancy, xpPongFancy, xpFancyEq); err != nil {
		return err
	}
	fmt.Println("RESULT ok")
	return nil
})

// TestMultiProcPipeByName: ping-pong of plain messages with a child that
// opens the pipe by name; the child sends a few more and closes, and the
// test receives them, then io.EOF (it closed its copy of the child's end
// once the child had the pipe).
func TestMultiProcPipeByName(t *testing.T) {
	const extra = 7
	n := xpPingPongRounds()
	seg := testSeg(t)
	a, b := newPipe[xpMsg](t, 4, shm.In(seg, xpName))
	start := time.Now()
	p := shmtest.Start(t, xpShortTimeout, xpChildPipeByName, seg.Name(), strconv.Itoa(n), strconv.Itoa(extra))
	xpPing(t, a, b, n, extra, xpPingMsg, xpPongMsg, xpMsgEq)
	xpResult(t, p)
	t.Logf("%d round trips in %v", n, time.Since(start))
}

// TestMultiProcPipeByHandle: the same with gob messages of varying sizes
// over an unnamed pipe whose end the child gets as MarshalBinary bytes;
// the test closes its copy of that end as soon as it has encoded it,
// before the child starts (Python's habit).
func TestMultiProcPipeByHandle(t *testing.T) {
	const extra = 11
	n := xpPingPongRounds()
	seg := testSeg(t)
	a, b := newPipe[fancy](t, 8, shm.In(seg, ""))
	h, err := b.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	p := shmtest.Start(t, xpShortTimeout, xpChildPipeByHandle, seg.Name(), hex.EncodeToString(h), strconv.Itoa(n), strconv.Itoa(extra))
	xpPing(t, a, nil, n, extra, xpPingFancy, xpPongFancy, xpFancyEq)
	xpResult(t, p)
}

// ---- 4. Handles ----

// xpChildHandles gets a Queue of xpMsg and a JoinableQueue of fancy as
// handles, checks that the first will not attach as another type, then
// forwards k messages from the first to the second and waits until the
// test has marked them all done.
var xpChildHandles = xpChild("rb-xp-handles", func(c *testproc.Child, ctx context.Context, seg *shm.Segment, f xpArgs) error {
	qh, err := hex.DecodeString(f.str(0))
	if err != nil {
		return err
	}
	jh, err := hex.DecodeString(f.str(1))
	if err != nil {
		return err
	}
	k := f.int(2)
	var wrong Queue[uint32]
	e1 := wrong.UnmarshalBinary(qh)
	var wrongJ JoinableQueue[xpMsg]
	e2 := wrongJ.UnmarshalBinary(qh)
	var q Queue[xpMsg]
	if err := q.UnmarshalBinary(qh); err != nil {
		return err
	}
	var j JoinableQueue[fancy]
	if err := j.UnmarshalBinary(jh); err != nil {
		return err
	}
	for i := range k {
		m, err := q.Get(ctx)
		if err != nil {
			return fmt.Errorf("get %d: %w", i, err)
		}
		if m != xpMake(7, uint64(i)) {
			return fmt.Errorf("message %d: %+v", i, m)
		}
		if err := j.Put(ctx, xpPongFancy(i)); err != nil {
			return fmt.Errorf("put %d: %w", i, err)
		}
	}
	if err := j.Join(ctx); err != nil {
		return fmt.Errorf("join: %w", err)
	}
	fmt.Printf("RESULT %s %s %d\n", xpErrClass(e1), xpErrClass(e2), j.Unfinished())
	return nil
})

// TestMultiProcQueueHandle: unnamed queues reach a child as handles and
// work there: the child takes what the test puts in one, puts into a
// JoinableQueue, and its Join returns once the test has called TaskDone
// for each; a handle unmarshalled as the wrong type fails with
// shm.ErrLayout, a plain queue's as a JoinableQueue with shm.ErrKind.
func TestMultiProcQueueHandle(t *testing.T) {
	const k = 500
	seg := testSeg(t)
	ctx := xpContext(t)
	q := mustNew(t, NewQueue[xpMsg], 16, shm.In(seg, ""))
	j := mustNew(t, NewJoinableQueue[fancy], 16, shm.In(seg, ""))
	qh, _ := q.MarshalBinary()
	jh, _ := j.MarshalBinary()
	p := shmtest.Start(t, xpShortTimeout, xpChildHandles, seg.Name(), hex.EncodeToString(qh), hex.EncodeToString(jh), strconv.Itoa(k))
	putErr := make(chan error, 1)
	ctx, cancel := context.WithCancel(ctx)
	exited := make(chan struct{})
	// The putter stops, and is waited for, before the cleanups close the
	// segment, also when the test fails first.
	defer func() {
		cancel()
		<-exited
	}()
	go func() {
		defer close(exited)
		for i := range k {
			if err := q.Put(ctx, xpMake(7, uint64(i))); err != nil {
				putErr <- fmt.Errorf("put %d: %w", i, err)
				return
			}
		}
		putErr <- nil
	}()
	for i := range k {
		v, err := j.Get(ctx)
		if err != nil {
			t.Fatalf("get %d: %v", i, err)
		}
		if !xpFancyEq(v, xpPongFancy(i)) {
			t.Fatalf("message %d: %+v", i, v)
		}
		if err := j.TaskDone(); err != nil {
			t.Fatal(err)
		}
	}
	if err := <-putErr; err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(xpResult(t, p), " "); got != "layout kind 0" {
		t.Fatalf("child says %q, want %q", got, "layout kind 0")
	}
	if err := j.Join(ctx); err != nil || j.Unfinished() != 0 || !q.Empty() {
		t.Fatalf("join %v, unfinished %d, queue empty %v", err, j.Unfinished(), q.Empty())
	}
}

// TestMultiProcOpenWrongType: opening a named queue, ring or pipe as
// another element type fails with shm.ErrLayout, and so does
// UnmarshalBinary of its handle.
func TestMultiProcOpenWrongType(t *testing.T) {
	seg := testSeg(t)
	q := mustNew(t, NewQueue[xpMsg], 8, shm.In(seg, "plain"))
	mustNew(t, NewQueue[fancy], 8, shm.In(seg, "gob"))
	mustNew(t, NewRing[xpMsg], 8, shm.In(seg, "ring"))
	newPipe[xpMsg](t, 8, shm.In(seg, "pipe"))
	check := func(what string, err error) {
		t.Helper()
		if !errors.Is(err, shm.ErrLayout) {
			t.Errorf("%s: %v, want shm.ErrLayout", what, err)
		}
	}
	_, err := OpenQueue[uint32](context.Background(), seg, "plain")
	check("plain queue as uint32", err)
	_, err = OpenQueue[fancy](context.Background(), seg, "plain")
	check("plain queue as gob", err)
	_, err = OpenQueue[struct{ A, B uint32 }](context.Background(), seg, "plain")
	check("plain queue as another struct", err)
	_, err = OpenQueue[xpMsg](context.Background(), seg, "gob")
	check("gob queue as plain", err)
	_, err = OpenQueue[xpBlob](context.Background(), seg, "gob")
	check("gob queue of fancy as xpBlob", err)
	_, err = OpenRing[uint64](context.Background(), seg, "ring")
	check("ring as uint64", err)
	_, _, err = OpenPipe[fancy](context.Background(), seg, "pipe")
	check("pipe as gob", err)
	h, _ := q.MarshalBinary()
	var wrong Queue[uint64]
	check("handle as uint64", wrong.UnmarshalBinary(h))
	var wrongRing Ring[xpMsg]
	if err := wrongRing.UnmarshalBinary(h); err == nil {
		t.Error("a queue's handle attached as a Ring")
	}

	// The right types open.
	if _, err := OpenQueue[xpMsg](context.Background(), seg, "plain"); err != nil {
		t.Error(err)
	}
	if _, err := OpenQueue[fancy](context.Background(), seg, "gob"); err != nil {
		t.Error(err)
	}
	if _, err := OpenRing[xpMsg](context.Background(), seg, "ring"); err != nil {
		t.Error(err)
	}
	if _, _, err := OpenPipe[xpMsg](context.Background(), seg, "pipe"); err != nil {
		t.Error(err)
	}
}

// ---- 5. Blocking across processes ----

// xpStrictWakes makes sleepers of this process wait for their wake-up
// instead of looking again every lostWake, so that a wake-up that does
// not arrive shows as a hang (caught by the test's contexts), not as a
// delay. Children do the same with the argument "strict".
func xpStrictWakes(t testing.TB) {
	old := lostWake
	lostWake = time.Hour
	t.Cleanup(func() { lostWake = old })
}

// xpAwaitSleeper waits until some call of this process sleeps on word:
// its bit 0 is set and park has a sleeper.
func xpAwaitSleeper(t testing.TB, word *uint32, what string) {
	t.Helper()
	for end := time.Now().Add(xpTimeout); ; time.Sleep(time.Millisecond) {
		s := park.Snapshot()
		if atomic.LoadUint32(word)&1 != 0 && s.Direct+s.Waiters+s.Polling > 0 {
			return
		}
		if time.Now().After(end) {
			t.Fatalf("%s: not asleep after %v", what, xpTimeout)
		}
	}
}

// xpAwaitWord waits until a call of another process is about to sleep on
// word (bit 0 set).
func xpAwaitWord(t testing.TB, word *uint32, what string) {
	t.Helper()
	for end := time.Now().Add(xpTimeout); atomic.LoadUint32(word)&1 == 0; time.Sleep(time.Millisecond) {
		if time.Now().After(end) {
			t.Fatalf("%s: not asleep after %v", what, xpTimeout)
		}
	}
}

// xpEnds is a Queue of uint64 or a single-producer Ring of it, as the
// blocking tests use them.
type xpEnds struct {
	put    func(context.Context, uint64) error
	tryPut func(uint64) error
	get    func(context.Context) (uint64, error)
	tryGet func() (uint64, error)
	c      *core
	size   int
}

func xpMakeEnds(seg *shm.Segment, kind string, create bool) (*xpEnds, error) {
	switch kind {
	case "queue":
		return xpEndsOf(seg, create, NewQueue[uint64], OpenQueue[uint64], func(q *Queue[uint64]) *xpEnds {
			return &xpEnds{q.Put, q.TryPut, q.Get, q.TryGet, q.c, q.Cap()}
		})
	case "spsc":
		return xpEndsOf(seg, create, NewSPSCRing[uint64], OpenRing[uint64], func(r *Ring[uint64]) *xpEnds {
			return &xpEnds{r.Push, r.TryPush, r.Pop, r.TryPop, r.c, r.Cap()}
		})
	}
	return nil, fmt.Errorf("unknown kind %q", kind)
}

// xpEndsOf makes the object xpName of 8 slots in seg with place, or opens
// it with open, and gives its ends.
func xpEndsOf[P any](seg *shm.Segment, create bool, place func(int, ...shm.Option) (P, error), open func(context.Context, *shm.Segment, string) (P, error), ends func(P) *xpEnds) (*xpEnds, error) {
	var o P
	var err error
	if create {
		o, err = place(8, shm.In(seg, xpName))
	} else {
		o, err = open(context.Background(), seg, xpName)
	}
	if err != nil {
		return nil, err
	}
	return ends(o), nil
}

// xpChildTransfer puts the values from..from+count-1 ("put") or gets
// count values and prints them ("get") on the queue or single-producer
// ring xpName; "strict" as a last field makes its sleeps wait for their
// wake-ups (see xpStrictWakes).
var xpChildTransfer = testproc.Register("rb-xp-transfer", func(c *testproc.Child) error {
	seg, f := xpOpen(c)
	defer seg.Close()
	kind, op, from, count := f.str(0), f.str(1), f.int(2), f.int(3)
	if len(f) > 4 && f[4] == "strict" {
		lostWake = time.Hour
	}
	ctx, cancel := xpChildContext()
	defer cancel()
	e, err := xpMakeEnds(seg, kind, false)
	if err != nil {
		return err
	}
	var got []string
	for i := range count {
		switch op {
		case "put":
			if err := e.put(ctx, uint64(from+i)); err != nil {
				return fmt.Errorf("put %d: %w", from+i, err)
			}
		case "get":
			v, err := e.get(ctx)
			if err != nil {
				return fmt.Errorf("get %d: %w", i, err)
			}
			got = append(got, strconv.FormatUint(v, 10))
		default:
			return fmt.Errorf("unknown op %q", op)
		}
	}
	fmt.Printf("RESULT %s %s\n", op, strings.Join(got, " "))
	return nil
})

// xpWakeRuns runs f, its sleeps waiting for their wake-ups, on a queue and
// on a single-producer ring, each made new in a fresh segment.
func xpWakeRuns(t *testing.T, f func(t *testing.T, seg *shm.Segment, ctx context.Context, kind string, e *xpEnds)) {
	xpStrictWakes(t)
	for _, kind := range []string{"queue", "spsc"} {
		t.Run(kind, func(t *testing.T) {
			seg := testSeg(t)
			ctx := xpContext(t)
			e, err := xpMakeEnds(seg, kind, true)
			if err != nil {
				t.Fatal(err)
			}
			f(t, seg, ctx, kind, e)
		})
	}
}

// TestMultiProcGetWokenByPut: the test's Get (Pop) sleeps on an empty
// queue (single-producer ring) until a child's Put (Push) wakes it.
func TestMultiProcGetWokenByPut(t *testing.T) {
	xpWakeRuns(t, func(t *testing.T, seg *shm.Segment, ctx context.Context, kind string, e *xpEnds) {
		type got struct {
			v   uint64
			err error
		}
		done := make(chan got, 1)
		ctx, cancel := context.WithCancel(ctx)
		exited := make(chan struct{})
		defer func() { // before the cleanups close the segment
			cancel()
			<-exited
		}()
		go func() {
			defer close(exited)
			v, err := e.get(ctx)
			done <- got{v, err}
		}()
		xpAwaitSleeper(t, e.c.empty, "Get on an empty "+kind)
		p := shmtest.Start(t, xpShortTimeout, xpChildTransfer, seg.Name(), kind, "put", "42", "1")
		xpResult(t, p)
		select {
		case g := <-done:
			if g.v != 42 || g.err != nil {
				t.Fatalf("Get: %d, %v, want 42", g.v, g.err)
			}
		case <-time.After(xpTimeout):
			t.Fatalf("Get not woken by the child's Put within %v", xpTimeout)
		}
		if _, err := e.tryGet(); err != errEmpty {
			t.Fatalf("TryGet after: %v", err)
		}
	})
}

// TestMultiProcPutWokenByGet: the test's Put (Push) sleeps on a full
// queue (single-producer ring) until a child's Get (Pop) wakes it; then
// the test takes the rest in order (taking over a dead child's consumer
// role on the ring).
func TestMultiProcPutWokenByGet(t *testing.T) {
	xpWakeRuns(t, func(t *testing.T, seg *shm.Segment, ctx context.Context, kind string, e *xpEnds) {
		for i := range e.size {
			if err := e.tryPut(uint64(i)); err != nil {
				t.Fatalf("filling: %v", err)
			}
		}
		if err := e.tryPut(99); err != errFull {
			t.Fatalf("TryPut on a full %s: %v", kind, err)
		}
		done := make(chan error, 1)
		ctx, cancel := context.WithCancel(ctx)
		exited := make(chan struct{})
		defer func() { // before the cleanups close the segment
			cancel()
			<-exited
		}()
		go func() {
			defer close(exited)
			done <- e.put(ctx, uint64(e.size))
		}()
		xpAwaitSleeper(t, e.c.full, "Put on a full "+kind)
		p := shmtest.Start(t, xpShortTimeout, xpChildTransfer, seg.Name(), kind, "get", "0", "1")
		if got := strings.Join(xpResult(t, p), " "); got != "get 0" {
			t.Fatalf("child got %q, want %q", got, "get 0")
		}
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("Put: %v", err)
			}
		case <-time.After(xpTimeout):
			t.Fatalf("Put not woken by the child's Get within %v", xpTimeout)
		}
		for i := 1; i <= e.size; i++ {
			v, err := e.tryGet()
			if err != nil || v != uint64(i) {
				t.Fatalf("draining: %d, %v, want %d", v, err, i)
			}
		}
		if _, err := e.tryGet(); err != errEmpty {
			t.Fatalf("TryGet after: %v", err)
		}
	})
}

// TestMultiProcChildWokenByParent: the other way round: a child's Get
// sleeps until the test's Put, and a child's Put on a full queue sleeps
// until the test's Get.
func TestMultiProcChildWokenByParent(t *testing.T) {
	seg := testSeg(t)
	ctx := xpContext(t)
	e, err := xpMakeEnds(seg, "queue", true)
	if err != nil {
		t.Fatal(err)
	}
	p := shmtest.Start(t, xpShortTimeout, xpChildTransfer, seg.Name(), "queue", "get", "0", "1", "strict")
	xpAwaitWord(t, e.c.empty, "the child's Get")
	if err := e.put(ctx, 42); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(xpResult(t, p), " "); got != "get 42" {
		t.Fatalf("child got %q, want %q", got, "get 42")
	}

	for i := range e.size {
		if err := e.tryPut(uint64(i)); err != nil {
			t.Fatalf("filling: %v", err)
		}
	}
	p = shmtest.Start(t, xpShortTimeout, xpChildTransfer, seg.Name(), "queue", "put", strconv.Itoa(e.size), "1", "strict")
	xpAwaitWord(t, e.c.full, "the child's Put")
	for i := 0; i <= e.size; i++ {
		v, err := e.get(ctx)
		if err != nil || v != uint64(i) {
			t.Fatalf("get: %d, %v, want %d", v, err, i)
		}
	}
	xpResult(t, p)
}

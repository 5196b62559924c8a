//go:build linux && (amd64 || arm64)

package ringbuffer

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shmkit/shmkit/internal/mem"
	"github.com/shmkit/shmkit/internal/shmtest"
	"github.com/shmkit/shmkit/internal/testproc"
	"github.com/shmkit/shmkit/shm"
)

// fenceRounds is how many messages TestSPSCSleepersFenced moves through
// its ring of one slot: each a sleep and a wake-up, or nearly, each way.
const fenceRounds = 300000

// fenceLostWake is the sleepers' bound in TestSPSCSleepersFenced: long
// beside any wake-up, short enough that a run with lost ones still ends.
const fenceLostWake = 100 * time.Millisecond

// TestSPSCSleepersFenced: a producer and a consumer in two processes move
// messages through a single-producer ring of one slot in the default
// blocking mode, so that each side goes to sleep, over and over, at the
// moment the other stores its cursor (plainly, see fence.go). A sleeper
// that looked at the cursor without first fencing the storer can miss
// both the store and the storer's look at its announcement: its sleep
// then ends by its timeout with nobody having woken it. The test counts
// those sleeps (lateWakes) in both processes, and wants none: with the
// sides storing plainly throughout (calmStores 0), and as they do by
// default, going from plain to fenced stores and back.
func TestSPSCSleepersFenced(t *testing.T) {
	if !plainStores() {
		t.Skip("cursor stores are fenced here (race detector, arm64, or no membarrier)")
	}
	for _, calm := range []uint32{0, calmStores} {
		t.Run(fmt.Sprintf("calm=%d", calm), func(t *testing.T) { testSleepersFenced(t, calm) })
	}
}

func testSleepersFenced(t *testing.T, calm uint32) {
	defer func(d time.Duration, n uint32) { lostWake, calmStores = d, n }(lostWake, calmStores)
	lostWake, calmStores = fenceLostWake, calm
	seg := testSeg(t)
	r := mustNew(t, NewSPSCRing[uint64], 1, shm.In(seg, "ring"))
	if _, err := r.TryPushBatch(nil); err != nil { // takes the producer role
		t.Fatal(err)
	}
	if !r.prod.plain {
		t.Fatal("the producer stores its cursor fenced, though this process may store plainly")
	}
	defer func() {
		if calm == 0 && !r.prod.plain {
			t.Error("the producer went from plain stores to fenced ones, with calmStores 0")
		}
	}()
	p := shmtest.Start(t, xpChildTimeout, fenceChildConsumer, seg.Name(), strconv.Itoa(fenceRounds), strconv.Itoa(int(calm)), "fenced")
	fenceFeed(t, p, r.Push)
}

// fenceFeed puts 0 to fenceRounds-1 through put, each after fenceJitter,
// while the child p takes them, and fails on a sleep of either that a
// lost wake-up ended (the child prints its count).
func fenceFeed(t *testing.T, p *testproc.Proc, put func(context.Context, uint64) error) {
	t.Helper()
	ctx := xpContext(t)
	late := lateWakes.Load()
	for i := range uint64(fenceRounds) {
		fenceJitter(i)
		if err := put(ctx, i); err != nil {
			p.Kill()
			t.Fatalf("message %d: %v", i, err)
		}
	}
	late = lateWakes.Load() - late
	res := xpResult(t, p)
	if len(res) != 1 {
		t.Fatalf("child's result %q", res)
	}
	if late > 0 || res[0] != "0" {
		t.Errorf("sleeps that a lost wake-up ended by their timeout: %d in the producer, %s in the consumer", late, res[0])
	}
}

// TestSPSCUnfencedSleeperBounded: as TestSPSCSleepersFenced with the
// producer storing plainly throughout, but the consumer cannot call
// membarrier (as under a seccomp filter that the producer's process is
// not under) and its sleeps have no lostWake bound: it must bound them
// itself (unfencedSleep), or a wake-up it misses leaves it asleep, and
// the producer behind it, until the test's guard ends them.
func TestSPSCUnfencedSleeperBounded(t *testing.T) {
	if !plainStores() {
		t.Skip("cursor stores are fenced here (race detector, arm64, or no membarrier)")
	}
	defer func(d time.Duration, n uint32) { lostWake, calmStores = d, n }(lostWake, calmStores)
	lostWake, calmStores = fenceLostWake, 0
	seg := testSeg(t)
	r := mustNew(t, NewSPSCRing[uint64], 1, shm.In(seg, "ring"))
	p := shmtest.Start(t, xpChildTimeout, fenceChildConsumer, seg.Name(), strconv.Itoa(fenceRounds), "0", "unfenced")
	ctx := xpContext(t)
	for i := range uint64(fenceRounds) {
		fenceJitter(i)
		if err := r.Push(ctx, i); err != nil {
			p.Kill()
			t.Fatalf("Push %d: %v", i, err)
		}
	}
	res := xpResult(t, p)
	t.Logf("the consumer's sleeps that its own bound ended, having missed a wake-up: %s", res)
}

// fenceChildConsumer pops N values of the ring "ring" and checks them,
// sleeping as the fence tests' producer does, with calmStores CALM, and
// prints its late wake-ups. MODE "unfenced": it cannot call membarrier,
// and only its own bound ends a sleep whose wake-up it missed. Arg:
// "SEG N CALM MODE".
var fenceChildConsumer = testproc.Register("rb-fence-consumer", func(c *testproc.Child) error {
	seg, f, n, err := shmtest.OpenInts(c, 0, 1)
	if err != nil {
		return err
	}
	defer seg.Close()
	lostWake, calmStores = fenceLostWake, uint32(n[1])
	if len(f) > 2 && f[2] == "unfenced" {
		canFence = func() bool { return false }
		lostWake = time.Hour
	}
	r, err := OpenRing[uint64](context.Background(), seg, "ring")
	if err != nil {
		return err
	}
	return fenceTake(uint64(n[0]), r.Pop, func() error {
		if calmStores == 0 && !r.cons.plain {
			return errors.New("the consumer stores its cursor fenced, though its process may store plainly")
		}
		return nil
	})
})

// fenceTake takes the values 0 to n-1 through take and checks them,
// varying how long it yields before it sleeps, with check after each,
// then prints its process's late wake-ups.
func fenceTake(n uint64, take func(context.Context) (uint64, error), check func() error) error {
	ctx, cancel := xpChildContext()
	defer cancel()
	for i := range n {
		spinTries = int(i % 5)
		v, err := take(ctx)
		if err != nil {
			return fmt.Errorf("message %d: %w", i, err)
		}
		if v != i {
			return fmt.Errorf("message %d is %d", i, v)
		}
		if err := check(); err != nil {
			return err
		}
	}
	fmt.Printf("RESULT %d\n", lateWakes.Load())
	return nil
}

// fenceJitter delays the push of message i by a few hundred nanoseconds
// or none, varying with i, so that the pushes sweep across the
// consumer's way to sleep, which varies with i too (its spinTries).
func fenceJitter(i uint64) {
	x := uint64(0)
	for j := range (i * 0x9e3779b97f4a7c15) >> 55 { // 0 to 511
		x += j
	}
	fenceSink.Add(x)
}

var fenceSink atomic.Uint64

// litmusRounds is how many rounds TestSPSCFenceLitmus plays.
const litmusRounds = 20000

// TestSPSCFenceLitmus plays the fence's handshake itself, round after
// round, between this process, the storer, and a child, the sleeper,
// both started at once in each round: the storer stores the tail as a
// side that stores plainly does (publish) and then looks at the sleep
// word; the sleeper announces itself in the sleep word, fences
// (fenceSleep) and then looks at the tail. In every round at least one
// of them must see the other's store; a round where neither did is a
// wake-up that a ring would have lost. Without the sleeper's membarrier,
// the storer's store waits in its CPU's store buffer while its load runs
// ahead, and such rounds come by the dozen in 20,000.
func TestSPSCFenceLitmus(t *testing.T) { fenceLitmus(t, false) }

// TestQueueFenceLitmus is TestSPSCFenceLitmus for the commits of a
// multi-producer ring of plain values: the storer commits the cell of
// the round (commit), the sleeper looks at that cell's word.
func TestQueueFenceLitmus(t *testing.T) { fenceLitmus(t, true) }

func fenceLitmus(t *testing.T, shared bool) {
	if !plainStores() {
		t.Skip("cursor stores are fenced here (race detector, arm64, or no membarrier)")
	}
	seg := testSeg(t)
	var c *core
	var store func(k uint64)
	if shared {
		r := mustNew(t, NewRing[uint64], litmusRounds, shm.In(seg, "ring"))
		c = r.c
		idx, err := c.producer()
		if err != nil {
			t.Fatal(err)
		}
		if !c.plainCommit {
			t.Fatal("the producer commits fenced, though this process may commit plainly")
		}
		store = func(k uint64) { c.commit(k-1, 1, idx) }
	} else {
		r := mustNew(t, NewSPSCRing[uint64], 1, shm.In(seg, "ring"))
		c = r.c
		atomic.StoreUint32(c.plainTail, 1)
		e := spscEnd{plain: true}
		store = func(k uint64) { e.publish(c.tail, k) }
	}
	w, err := litmusWords(seg, true)
	if err != nil {
		t.Fatal(err)
	}
	p := shmtest.Start(t, xpChildTimeout, fenceChildLitmus, seg.Name(), strconv.Itoa(litmusRounds))
	deadline := time.Now().Add(xpTimeout)
	missed := 0
	for k := uint64(1); k <= litmusRounds; k++ {
		if !litmusAwait(w.ready, 0, k, deadline) {
			p.Kill()
			t.Fatalf("round %d: the child is not ready", k)
		}
		atomic.StoreUint64(w.start, k)
		fenceJitter(k) // the child sees the start later: meet it anywhere
		store(k)
		sawSleeper := atomic.LoadUint32(c.empty) == uint32(k)
		if !litmusAwait(w.saw, 1, k, deadline) {
			p.Kill()
			t.Fatalf("round %d: the child did not answer", k)
		}
		if !sawSleeper && atomic.LoadUint64(w.saw)&1 == 0 {
			missed++
		}
	}
	p.Succeed()
	if missed > 0 {
		t.Errorf("%d of %d rounds where neither side saw the other's store", missed, litmusRounds)
	}
}

// litmusShared are TestSPSCFenceLitmus's words beside the ring, each in
// a cache line of its own: the round the child is ready for, the round
// started, and the child's answer (the round<<1, | 1 if it saw the tail
// of the round).
type litmusShared struct{ ready, start, saw *uint64 }

func litmusWords(seg *shm.Segment, create bool) (litmusShared, error) {
	var o *shm.Object
	var err error
	spec := shm.Spec{Kind: shm.KindBytes, Size: 192}
	if create {
		o, err = shm.Place(spec, nil, shm.In(seg, "litmus"))
	} else {
		o, err = seg.Find(context.Background(), "litmus", spec)
	}
	if err != nil {
		return litmusShared{}, err
	}
	b := o.Bytes()
	return litmusShared{mem.Uint64(b, 0), mem.Uint64(b, 64), mem.Uint64(b, 128)}, nil
}

// litmusAwait spins until *w>>shift == v, and reports false if deadline
// passes first.
func litmusAwait(w *uint64, shift uint, v uint64, deadline time.Time) bool {
	for i := 0; atomic.LoadUint64(w)>>shift != v; i++ {
		if i&0xfffff == 0 && time.Now().After(deadline) {
			return false
		}
	}
	return true
}

// fenceChildLitmus is TestSPSCFenceLitmus's sleeper. Arg: "SEG N".
var fenceChildLitmus = testproc.Register("rb-fence-litmus", func(c *testproc.Child) error {
	seg, _, n, err := shmtest.OpenInts(c, 0)
	if err != nil {
		return err
	}
	defer seg.Close()
	r, err := OpenRing[uint64](context.Background(), seg, "ring")
	if err != nil {
		return err
	}
	w, err := litmusWords(seg, false)
	if err != nil {
		return err
	}
	deadline := time.Now().Add(xpTimeout)
	for k := uint64(1); k <= uint64(n[0]); k++ {
		atomic.StoreUint64(w.ready, k)
		if !litmusAwait(w.start, 0, k, deadline) {
			return fmt.Errorf("round %d never started", k)
		}
		if !atomic.CompareAndSwapUint32(r.c.empty, uint32(k-1), uint32(k)) {
			return fmt.Errorf("round %d: the sleep word is %d", k, atomic.LoadUint32(r.c.empty))
		}
		r.c.fenceSleep(r.c.empty)
		saw := k << 1
		if r.c.seq == nil && atomic.LoadUint64(r.c.tail) == k {
			saw |= 1
		}
		if r.c.seq != nil && wordState(atomic.LoadUint64(&r.c.seq[k-1])) == stFull {
			saw |= 1
		}
		atomic.StoreUint64(w.saw, saw)
	}
	return nil
})

// TestQueueSleepersFenced is TestSPSCSleepersFenced for a multi-producer
// Queue of plain values, whose producers commit cell words plainly: a
// consumer in a child gets messages through a queue of one message,
// falling asleep over and over as the producer here commits, and must
// never sleep through a commit.
func TestQueueSleepersFenced(t *testing.T) {
	if !plainStores() {
		t.Skip("commits are fenced here (race detector, arm64, or no membarrier)")
	}
	defer func(l, r time.Duration) { lostWake, recheck = l, r }(lostWake, recheck)
	lostWake, recheck = fenceLostWake, fenceLostWake
	seg := testSeg(t)
	q := mustNew(t, NewQueue[uint64], 1, shm.In(seg, "queue"))
	if _, err := q.c.producer(); err != nil {
		t.Fatal(err)
	}
	if !q.c.plainCommit || atomic.LoadUint32(q.c.plainTail) != 1 {
		t.Fatal("the producer commits fenced, though this process may commit plainly")
	}
	p := shmtest.Start(t, xpChildTimeout, fenceChildGetter, seg.Name(), strconv.Itoa(fenceRounds))
	fenceFeed(t, p, q.Put)
}

// fenceChildGetter gets N values of the queue "queue" and checks them,
// varying how long it yields before it sleeps, and prints its late
// wake-ups. Arg: "SEG N".
var fenceChildGetter = testproc.Register("rb-fence-getter", func(c *testproc.Child) error {
	seg, _, n, err := shmtest.OpenInts(c, 0)
	if err != nil {
		return err
	}
	defer seg.Close()
	lostWake, recheck = fenceLostWake, fenceLostWake
	q, err := OpenQueue[uint64](context.Background(), seg, "queue")
	if err != nil {
		return err
	}
	return fenceTake(uint64(n[0]), q.Get, func() error { return nil })
})

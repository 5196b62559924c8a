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
	ctx := xpContext(t)
	late := lateWakes.Load()
	for i := range uint64(fenceRounds) {
		fenceJitter(i)
		if err := r.Push(ctx, i); err != nil {
			p.Kill()
			t.Fatalf("Push %d: %v", i, err)
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
	ctx, cancel := xpChildContext()
	defer cancel()
	for i := range uint64(n[0]) {
		spinTries = int(i % 5)
		v, err := r.Pop(ctx)
		if err != nil {
			return fmt.Errorf("Pop %d: %w", i, err)
		}
		if v != i {
			return fmt.Errorf("message %d is %d", i, v)
		}
		if calmStores == 0 && !r.cons.plain {
			return errors.New("the consumer stores its cursor fenced, though its process may store plainly")
		}
	}
	fmt.Printf("RESULT %d\n", lateWakes.Load())
	return nil
})

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

//go:build linux && (amd64 || arm64)

package ringbuffer

import (
	"context"
	"fmt"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shmkit/shmkit/internal/shmtest"
	"github.com/shmkit/shmkit/internal/testproc"
	"github.com/shmkit/shmkit/shm"
)

// TestPubSubSleepersFenced is TestSPSCSleepersFenced for a lossless
// PubSub of one slot: the publisher here stores the tail plainly, the
// subscriber in a child its cursor, and each side falls asleep, over and
// over, at the moment the other stores. No sleep of either may end by
// its timeout with nobody having woken it: with both sides storing
// plainly throughout (calmStores 0), and as they do by default.
func TestPubSubSleepersFenced(t *testing.T) {
	if !plainStores() {
		t.Skip("cursor stores are fenced here (race detector, arm64, or no membarrier)")
	}
	for _, calm := range []uint32{0, calmStores} {
		t.Run(fmt.Sprintf("calm=%d", calm), func(t *testing.T) {
			defer func(l, r time.Duration, n uint32) { lostWake, recheck, calmStores = l, r, n }(lostWake, recheck, calmStores)
			lostWake, recheck, calmStores = fenceLostWake, fenceLostWake, calm
			seg := testSeg(t)
			ps := mustNew(t, func(n int, opts ...shm.Option) (*PubSub[uint64], error) {
				return NewPubSub[uint64](n, 1, Lossless, opts...)
			}, 1, shm.In(seg, "ps"))
			if err := ps.publisher(); err != nil {
				t.Fatal(err)
			}
			if !ps.end.plain || atomic.LoadUint32(ps.plainT) != 1 {
				t.Fatal("the publisher stores the tail fenced, though this process may store plainly")
			}
			p := shmtest.Start(t, xpChildTimeout, psFenceChildSubscriber, seg.Name(), strconv.Itoa(fenceRounds), strconv.Itoa(int(calm)))
			p.WaitPoint("subscribed")
			p.Continue()
			fenceFeed(t, p, ps.Publish)
			if calm == 0 && !ps.end.plain {
				t.Error("the publisher went from plain stores to fenced ones, with calmStores 0")
			}
		})
	}
}

// psFenceChildSubscriber subscribes to the PubSub "ps", receives N values
// and checks them as fenceChildConsumer does, with calmStores CALM. Arg:
// "SEG N CALM".
var psFenceChildSubscriber = testproc.Register("rb-ps-fence-subscriber", func(c *testproc.Child) error {
	seg, _, n, err := shmtest.OpenInts(c, 0, 1)
	if err != nil {
		return err
	}
	defer seg.Close()
	lostWake, recheck, calmStores = fenceLostWake, fenceLostWake, uint32(n[1])
	ps, err := OpenPubSub[uint64](context.Background(), seg, "ps")
	if err != nil {
		return err
	}
	s, err := ps.Subscribe(0)
	if err != nil {
		return err
	}
	if !s.plain || atomic.LoadUint32(ps.plainS) != 1 {
		return fmt.Errorf("the subscriber stores its cursor fenced, though its process may store plainly")
	}
	c.Point("subscribed")
	return fenceTake(uint64(n[0]), s.Recv, func() error {
		if calmStores == 0 && !s.plain {
			return fmt.Errorf("the subscriber went from plain stores to fenced ones, with calmStores 0")
		}
		return nil
	})
})

// TestPubSubFenceLitmus plays the fence's handshake as TestSPSCFenceLitmus
// does, for the two cursors of a lossless PubSub that a side stores
// plainly: the tail, which the publisher here stores (publish) and a
// subscriber sleeping on not-empty in the child waits on, and a
// subscriber's cursor, which a subscriber here stores (moved) and the
// publisher sleeping on not-full in the child waits on. In every round
// one side at least must see the other's store.
func TestPubSubFenceLitmus(t *testing.T) {
	if !plainStores() {
		t.Skip("cursor stores are fenced here (race detector, arm64, or no membarrier)")
	}
	defer func(n uint32) { calmStores = n }(calmStores)
	calmStores = 0 // the subscriber stores plainly though it wakes the child
	for _, cursor := range []string{"tail", "subscriber"} {
		t.Run(cursor, func(t *testing.T) {
			seg := testSeg(t)
			ps := mustNew(t, func(n int, opts ...shm.Option) (*PubSub[uint64], error) {
				return NewPubSub[uint64](n, 1, Lossless, opts...)
			}, 1, shm.In(seg, "ps"))
			var store func(k uint64)
			word := ps.empty
			if cursor == "tail" {
				if err := ps.publisher(); err != nil {
					t.Fatal(err)
				}
				store = func(k uint64) { ps.end.publish(ps.tail, k) }
			} else {
				s, err := ps.Subscribe(0)
				if err != nil {
					t.Fatal(err)
				}
				if !s.plain || atomic.LoadUint32(ps.plainS) != 1 {
					t.Fatal("the subscriber stores its cursor fenced, though this process may store plainly")
				}
				store = func(k uint64) { s.pos = k; s.moved() }
				word = ps.full
			}
			w, err := litmusWords(seg, true)
			if err != nil {
				t.Fatal(err)
			}
			p := shmtest.Start(t, xpChildTimeout, psFenceChildLitmus, seg.Name(), strconv.Itoa(litmusRounds), cursor)
			deadline := time.Now().Add(xpTimeout)
			missed := 0
			for k := uint64(1); k <= litmusRounds; k++ {
				if !litmusAwait(w.ready, 0, k, deadline) {
					p.Kill()
					t.Fatalf("round %d: the child is not ready", k)
				}
				atomic.StoreUint64(w.start, k)
				fenceJitter(k)
				store(k)
				// The sleeper's announcement is bit 0 of round k's word,
				// which moved's wake-up (finding it) would turn into 2k+2.
				sawSleeper := atomic.LoadUint32(word) >= uint32(2*k)+1
				if !litmusAwait(w.saw, 1, k, deadline) {
					p.Kill()
					t.Fatalf("round %d: the child did not answer", k)
				}
				if !sawSleeper && atomic.LoadUint64(w.saw)&1 == 0 {
					missed++
				}
			}
			p.Succeed()
			if !ps.end.plain && cursor == "tail" {
				t.Error("the publisher stored the tail fenced")
			}
			if missed > 0 {
				t.Errorf("%d of %d rounds where neither side saw the other's store", missed, litmusRounds)
			}
		})
	}
}

// psFenceChildLitmus is TestPubSubFenceLitmus's sleeper: in round k it
// announces itself on the sleep word (2k-2 to 2k-1: a generation per
// round), fences and looks at the cursor. Arg: "SEG N CURSOR".
var psFenceChildLitmus = testproc.Register("rb-ps-fence-litmus", func(c *testproc.Child) error {
	seg, f, n, err := shmtest.OpenInts(c, 0)
	if err != nil {
		return err
	}
	defer seg.Close()
	ps, err := OpenPubSub[uint64](context.Background(), seg, "ps")
	if err != nil {
		return err
	}
	w, err := litmusWords(seg, false)
	if err != nil {
		return err
	}
	word, cursor := ps.empty, ps.tail
	if f[1] == "subscriber" {
		word, cursor = ps.full, &ps.table[0].cursor
	}
	deadline := time.Now().Add(xpTimeout)
	for k := uint64(1); k <= uint64(n[0]); k++ {
		// The generation of round k: a storer that found the last
		// round's announcement woke it, bumping the word.
		atomic.StoreUint32(word, uint32(2*k))
		atomic.StoreUint64(w.ready, k)
		if !litmusAwait(w.start, 0, k, deadline) {
			return fmt.Errorf("round %d never started", k)
		}
		if !atomic.CompareAndSwapUint32(word, uint32(2*k), uint32(2*k)+1) {
			return fmt.Errorf("round %d: the sleep word is %d", k, atomic.LoadUint32(word))
		}
		ps.fc.fenceSleep(word)
		saw := k << 1
		if atomic.LoadUint64(cursor) == k {
			saw |= 1
		}
		atomic.StoreUint64(w.saw, saw)
	}
	return nil
})

// TestPubSubDeadPlainSubscriber: a subscriber that stores its cursor
// plainly is killed, and the publisher frees its entry when it holds it
// back; the PubSub must then no longer count it among the plain ones, or
// every later sleep of the publisher would pay for membarrier.
func TestPubSubDeadPlainSubscriber(t *testing.T) {
	if !plainStores() {
		t.Skip("cursor stores are fenced here (race detector, arm64, or no membarrier)")
	}
	seg := testSeg(t)
	ps, err := NewPubSub[killMsg](8, 2, Lossless, shm.In(seg, "ps"))
	if err != nil {
		t.Fatal(err)
	}
	p := psStart(t, seg, psSpec{Role: "subscriber", Name: "ps", Idle: true})
	p.WaitPoint("idle")
	if n := atomic.LoadUint32(ps.plainS); n != 1 {
		t.Fatalf("%d subscribers count as plain, want the child's 1", n)
	}
	p.Kill()
	killMustDie(t, p, "the subscriber")
	ctx := xpContext(t)
	for i := range 2 * ps.Cap() {
		if err := ps.Publish(ctx, makeKillMsg(killID{killLive, uint32(i)})); err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
	}
	if n := atomic.LoadUint32(ps.plainS); n != 0 {
		t.Errorf("%d subscribers count as plain after the dead one's entry was freed", n)
	}
}

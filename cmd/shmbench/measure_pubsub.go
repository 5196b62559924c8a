//go:build linux

package main

// One publisher to 1, 2 and 4 subscriber processes through a lossless
// PubSub, 8-byte messages, in the default blocking mode, beside as many
// single-producer rings, one per subscriber, into which the publisher
// pushes each message in turn: the delivery to every reader that a program
// without a publish/subscribe ring would build.
//
// Each repetition: the measure's process sends the numbers 0, 1, 2... for
// cfg.dur, then endMark; each subscriber checks that every number reaches
// it in order, and reports how many it took, which must be all of them.
// The figure is msg/s per subscriber: the messages each took over the
// time from the start to the last subscriber's end.

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/shmkit/shmkit/process"
	"github.com/shmkit/shmkit/ringbuffer"
	"github.com/shmkit/shmkit/semaphore"
	"github.com/shmkit/shmkit/shm"
)

func init() {
	for _, n := range []int{1, 2, 4} {
		registerOne(fmt.Sprintf("PubSub lossless, 8 B messages, %d subscriber processes", n),
			fmt.Sprintf("pubsub_lossless_%dsub_msgs_per_s", n),
			func(ctx context.Context, cfg config) ([]float64, error) { return pubsubRate(ctx, cfg, n) })
		registerOne(fmt.Sprintf("%d SPSC rings, one producer, 8 B messages to each, %d consumer processes", n, n),
			fmt.Sprintf("ring_spsc_fanout_%d_msgs_per_s", n),
			func(ctx context.Context, cfg config) ([]float64, error) { return fanoutRate(ctx, cfg, n) })
	}
}

// subArg is a subscriber's argument: the PubSub, the barrier it meets the
// publisher at before and after each repetition, and its slot in Words,
// where it reports its count (word 0).
type subArg struct {
	PubSub *ringbuffer.PubSub[uint64]
	Sync   *semaphore.Barrier
	Words  shm.Handle
	Slot   int
	Reps   int
}

var pubsubSubscriber = process.Register("shmbench.pubsub-subscriber", func(ctx context.Context, a subArg) error {
	words, err := resolve(a.Words)
	if err != nil {
		return err
	}
	s, err := a.PubSub.Subscribe(0) // before the first meeting: it sees every message
	if err != nil {
		return err
	}
	defer s.Close()
	bg := context.Background() // the parent kills this daemon if it must
	return childReps(ctx, a.Sync, a.Reps, func() error {
		var n uint64
		for {
			v, err := s.Recv(bg)
			if err != nil {
				return err
			}
			if v == endMark {
				break
			}
			if v != n {
				return fmt.Errorf("message %d is %d", n, v)
			}
			n++
		}
		atomic.StoreUint64(word(words, a.Slot, 0), n)
		return nil
	})
})

// pubsubRate publishes 8-byte messages from this process to subs
// subscriber children through a lossless PubSub of spscCap slots; msg/s
// per subscriber.
func pubsubRate(ctx context.Context, cfg config, subs int) ([]float64, error) {
	ps, err := ringbuffer.NewPubSub[uint64](spscCap, subs, ringbuffer.Lossless)
	if err != nil {
		return nil, err
	}
	defer ps.Free()
	words, bar, g, done, err := newRig(ctx, subs, subs+1)
	if err != nil {
		return nil, err
	}
	defer done()
	nr := reps(cfg, rateReps)
	for i := range subs {
		if err := start(g, pubsubSubscriber, subArg{PubSub: ps, Sync: bar, Words: words.Handle(), Slot: i, Reps: nr}); err != nil {
			return nil, err
		}
	}
	send := func(v uint64) error { return ps.Publish(g.ctx, v) }
	rate, err := cfg.repeat(ctx, nr, func() (float64, error) {
		return fanOut(ctx, g, bar, words, subs, cfg.dur, send)
	})
	if err != nil {
		return nil, err
	}
	return rate, g.join()
}

// fanoutRate pushes each 8-byte message from this process into subs
// single-producer rings of spscCap slots, one Push per ring, each popped by
// a consumer child; msg/s per consumer.
func fanoutRate(ctx context.Context, cfg config, subs int) ([]float64, error) {
	words, bar, g, done, err := newRig(ctx, subs, subs+1)
	if err != nil {
		return nil, err
	}
	defer done()
	nr := reps(cfg, rateReps)
	rings := make([]*ringbuffer.Ring[uint64], 0, subs)
	defer func() {
		for _, r := range rings {
			r.Free()
		}
	}()
	for i := range subs {
		r, err := ringbuffer.NewSPSCRing[uint64](spscCap)
		if err != nil {
			return nil, err
		}
		rings = append(rings, r)
		if _, err := r.TryPushBatch(nil); err != nil { // takes the producer role
			return nil, err
		}
		if err := start(g, spscConsumer, spscArg{Ring: r, Sync: bar, Words: words.Handle(), Slot: i, Reps: nr, Batch: 1}); err != nil {
			return nil, err
		}
	}
	send := func(v uint64) error {
		for _, r := range rings {
			if err := r.Push(g.ctx, v); err != nil {
				return err
			}
		}
		return nil
	}
	rate, err := cfg.repeat(ctx, nr, func() (float64, error) {
		return fanOut(ctx, g, bar, words, subs, cfg.dur, send)
	})
	if err != nil {
		return nil, err
	}
	return rate, g.join()
}

// fanOut is one repetition of a stream to subs readers: it meets them at
// bar, sends the numbers from 0 for dur, then endMark, meets them again,
// and checks that each reader (slot i of words) took every number; msg/s
// per reader.
func fanOut(ctx context.Context, g *group, bar *semaphore.Barrier, words *shm.Object, subs int, dur time.Duration, send func(v uint64) error) (float64, error) {
	if _, err := bar.Wait(g.ctx); err != nil {
		return 0, g.why(err)
	}
	t0 := time.Now()
	var n uint64
	t := newTimer(ctx, dur)
	defer t.stop()
	for ; !t.over(); n++ {
		if err := send(n); err != nil {
			return 0, g.why(err)
		}
	}
	if err := send(endMark); err != nil {
		return 0, g.why(err)
	}
	if _, err := bar.Wait(g.ctx); err != nil {
		return 0, g.why(err)
	}
	el := time.Since(t0)
	for i := range subs {
		if got := atomic.LoadUint64(word(words, i, 0)); got != n {
			return 0, fmt.Errorf("%w: reader %d of %d took %d of %d", errLost, i, subs, got, n)
		}
	}
	return float64(n) / el.Seconds(), nil
}

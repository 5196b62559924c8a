//go:build linux

package main

// The multi-producer multi-consumer Queue, 64-byte messages, one producer
// and one consumer process, then two of each (4 processes on 2 cores), in
// the default blocking mode: a blocked call yields a few times, then
// sleeps on the queue's futex word.
//
// Each repetition: the producers put numbered messages for cfg.dur, then
// one end mark for each consumer; a consumer stops at its producers'th end
// mark (so that between them they take every mark, and everything put
// before). Producers report how many they put and the sum of the numbers,
// consumers how many they took and the sum: the totals must agree, nothing
// lost or taken twice, or the measure fails. Each consumer also checks
// that each producer's messages reach it in order.

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

// queueCap is the capacity of the queue, in messages.
const queueCap = 1 << 12

// msg64 is a 64-byte message: its producer and its number.
type msg64 struct {
	From, Seq uint64
	_         [48]byte
}

func init() {
	registerOne("MPMC Queue, 64 B messages, 1 producer 1 consumer (2 processes)", "queue_mpmc_1p1c_msgs_per_s", func(ctx context.Context, cfg config) ([]float64, error) { return queueRate(ctx, cfg, 1) })
	registerOne("MPMC Queue, 64 B messages, 2 producers 2 consumers (4 processes)", "queue_mpmc_2p2c_msgs_per_s", func(ctx context.Context, cfg config) ([]float64, error) { return queueRate(ctx, cfg, 2) })
}

// queueArg is a producer's or consumer's argument. Slot is where it
// reports in Words (word 0: count, word 1: sum of the numbers); a
// producer's From is its Slot.
type queueArg struct {
	Queue     *ringbuffer.Queue[msg64]
	Sync      *semaphore.Barrier
	Words     shm.Handle
	Slot      int
	Producers int
	Consumers int
	Reps      int
	Dur       time.Duration
}

var queueProducer = process.Register("shmbench.queue-producer", func(ctx context.Context, a queueArg) error {
	words, err := resolve(a.Words)
	if err != nil {
		return err
	}
	return childReps(ctx, a.Sync, a.Reps, func() error {
		n, sum, err := produce(context.Background(), a.Queue, a.Slot, a.Consumers, a.Dur)
		if err != nil {
			return err
		}
		atomic.StoreUint64(word(words, a.Slot, 0), n)
		atomic.StoreUint64(word(words, a.Slot, 1), sum)
		return nil
	})
})

// produce puts messages numbered from 0 from producer from for d, then an
// end mark for each of consumers; it returns how many it put and the sum of
// their numbers.
func produce(ctx context.Context, q *ringbuffer.Queue[msg64], from, consumers int, d time.Duration) (n, sum uint64, err error) {
	t := newTimer(ctx, d)
	defer t.stop()
	for ; !t.over(); n++ {
		if err := q.Put(ctx, msg64{From: uint64(from), Seq: n}); err != nil {
			return 0, 0, err
		}
		sum += n
	}
	for range consumers {
		if err := q.Put(ctx, msg64{From: uint64(from), Seq: endMark}); err != nil {
			return 0, 0, err
		}
	}
	return n, sum, nil
}

var queueConsumer = process.Register("shmbench.queue-consumer", func(ctx context.Context, a queueArg) error {
	words, err := resolve(a.Words)
	if err != nil {
		return err
	}
	bg := context.Background()
	return childReps(ctx, a.Sync, a.Reps, func() error {
		var n, sum uint64
		next := make([]uint64, a.Producers) // per producer: the lowest number still possible
		for marks := 0; marks < a.Producers; {
			m, err := a.Queue.Get(bg)
			if err != nil {
				return err
			}
			if m.From >= uint64(a.Producers) {
				return fmt.Errorf("a message from producer %d of %d", m.From, a.Producers)
			}
			if m.Seq == endMark {
				marks++
				continue
			}
			if m.Seq < next[m.From] {
				return fmt.Errorf("message %d from producer %d after %d", m.Seq, m.From, next[m.From]-1)
			}
			next[m.From] = m.Seq + 1
			n++
			sum += m.Seq
		}
		atomic.StoreUint64(word(words, a.Slot, 0), n)
		atomic.StoreUint64(word(words, a.Slot, 1), sum)
		return nil
	})
})

// queueRate moves 64-byte messages from pairs producers (this process and
// pairs-1 children) to pairs consumer children; msg/s, the messages all
// consumers took over the time from the start to the last consumer's end.
func queueRate(ctx context.Context, cfg config, pairs int) ([]float64, error) {
	q, err := ringbuffer.NewQueue[msg64](queueCap)
	if err != nil {
		return nil, err
	}
	defer q.Free()
	// Slots: producers 0 to pairs-1 (0 is this process), then consumers.
	words, bar, g, done, err := newRig(ctx, 2*pairs, 2*pairs)
	if err != nil {
		return nil, err
	}
	defer done()
	nr := reps(cfg, rateReps)
	arg := queueArg{Queue: q, Sync: bar, Words: words.Handle(), Producers: pairs, Consumers: pairs, Reps: nr, Dur: cfg.dur}
	for i := 1; i < pairs; i++ {
		arg.Slot = i
		if err := start(g, queueProducer, arg); err != nil {
			return nil, err
		}
	}
	for i := range pairs {
		arg.Slot = pairs + i
		if err := start(g, queueConsumer, arg); err != nil {
			return nil, err
		}
	}
	rate, err := cfg.repeat(ctx, nr, func() (float64, error) {
		_, el, err := parentRep(g, bar, func() (uint64, error) {
			n, sum, err := produce(g.ctx, q, 0, pairs, cfg.dur)
			if err != nil {
				return 0, g.why(err)
			}
			atomic.StoreUint64(word(words, 0, 0), n)
			atomic.StoreUint64(word(words, 0, 1), sum)
			return n, nil
		})
		if err != nil {
			return 0, err
		}
		var put, putSum, took, tookSum uint64
		for i := range pairs {
			put += atomic.LoadUint64(word(words, i, 0))
			putSum += atomic.LoadUint64(word(words, i, 1))
			took += atomic.LoadUint64(word(words, pairs+i, 0))
			tookSum += atomic.LoadUint64(word(words, pairs+i, 1))
		}
		if took != put || tookSum != putSum {
			return 0, fmt.Errorf("%w: consumers took %d messages numbered to a sum of %d; producers put %d summing to %d",
				errLost, took, tookSum, put, putSum)
		}
		return float64(took) / el.Seconds(), nil
	})
	if err != nil {
		return nil, err
	}
	return rate, g.join()
}

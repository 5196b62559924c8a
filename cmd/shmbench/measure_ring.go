//go:build linux

package main

// Streams of messages from one process to another: the SPSC ring one call
// per message and in batches, 64 KiB messages through a ring, and the
// peers of the 8-byte stream (a Go channel between goroutines, os.Pipe and a
// unix socket between processes).
//
// Each repetition moves the numbers 0, 1, 2... from the measure's process
// for cfg.dur (see timer), then endMark; the child checks that each number
// arrives in order, and reports how many it took, which must be all of
// them.

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/shmkit/shmkit/process"
	"github.com/shmkit/shmkit/ringbuffer"
	"github.com/shmkit/shmkit/semaphore"
	"github.com/shmkit/shmkit/shm"
)

const (
	// spscCap is the capacity of the 8-byte ring and of the channel: that
	// of the C ring (512 KiB of 8-byte slots). A small ring fills up often,
	// and then its producer sleeps and is woken in turn with the consumer.
	spscCap = 1 << 16
	// spscBatch is how many messages a batch call moves.
	spscBatch = 256
	// bulkSlots is the capacity of the 64 KiB ring.
	bulkSlots = 64
)

func init() {
	registerOne("SPSC ring, 8 B messages, one call each (2 processes)", "ring_spsc_msgs_per_s", func(ctx context.Context, cfg config) ([]float64, error) { return spscRate(ctx, cfg, 1) })
	registerOne("SPSC ring, 8 B messages, batches of 256 (2 processes)", "ring_spsc_batch_msgs_per_s", func(ctx context.Context, cfg config) ([]float64, error) { return spscRate(ctx, cfg, spscBatch) })
	registerOne("Go channel, 8 B messages (2 goroutines)", "chan_msgs_per_s", chanRate)
	registerOne("os.Pipe, 8 B messages, one write each (2 processes)", "pipe_msgs_per_s", pipeRate)
	registerOne("unix socket, 8 B messages, one write each (2 processes)", "unix_socket_msgs_per_s", unixRate)
	registerOne("SPSC ring, 64 KiB messages (2 processes)", "bulk_64k_gb_per_s", bulkRate)
}

// spscArg is the consumer's argument: the ring, the barrier it meets the
// producer at before and after each repetition, the words it reports its
// count through (word 0 of slot Slot), and how it pops (Batch 1: Pop).
type spscArg struct {
	Ring  *ringbuffer.Ring[uint64]
	Sync  *semaphore.Barrier
	Words shm.Handle
	Slot  int
	Reps  int
	Batch int
}

var spscConsumer = process.Register("shmbench.spsc-consumer", func(ctx context.Context, a spscArg) error {
	words, err := resolve(a.Words)
	if err != nil {
		return err
	}
	r := a.Ring
	if _, err := r.TryPop(); !errors.Is(err, ringbuffer.ErrEmpty) { // takes the consumer role
		return fmt.Errorf("first TryPop: %v", err)
	}
	bg := context.Background() // the parent kills this daemon if it must
	buf := make([]uint64, max(a.Batch, 1))
	return childReps(ctx, a.Sync, a.Reps, func() error {
		var n uint64
	rep:
		for {
			k := 1
			if a.Batch > 1 {
				k, err = r.PopBatch(bg, buf)
			} else {
				buf[0], err = r.Pop(bg)
			}
			if err != nil {
				return err
			}
			for j, v := range buf[:k] {
				if v == endMark {
					if j != k-1 {
						return fmt.Errorf("%d messages after the end mark", k-1-j)
					}
					break rep
				}
				if v != n {
					return fmt.Errorf("message %d is %d", n, v)
				}
				n++
			}
		}
		atomic.StoreUint64(word(words, a.Slot, 0), n)
		return nil
	})
})

// spscRate moves 8-byte messages through a single-producer ring from this
// process to a child, in the default blocking mode (a few yields, then
// sleep), one Push a message (batch 1) or PushBatch of batch; msg/s.
func spscRate(ctx context.Context, cfg config, batch int) ([]float64, error) {
	r, err := ringbuffer.NewSPSCRing[uint64](spscCap)
	if err != nil {
		return nil, err
	}
	defer r.Free()
	if _, err := r.TryPushBatch(nil); err != nil { // takes the producer role
		return nil, err
	}
	words, bar, g, done, err := newRig(ctx, 1, 2)
	if err != nil {
		return nil, err
	}
	defer done()
	nr := reps(cfg, rateReps)
	if err := start(g, spscConsumer, spscArg{Ring: r, Sync: bar, Words: words.Handle(), Reps: nr, Batch: batch}); err != nil {
		return nil, err
	}
	buf := make([]uint64, batch)
	send := func(v uint64) (uint64, error) {
		if batch == 1 || v == endMark {
			return 1, r.Push(g.ctx, v)
		}
		for j := range buf {
			buf[j] = v + uint64(j)
		}
		_, err := r.PushBatch(g.ctx, buf)
		return uint64(batch), err
	}
	rate, err := cfg.repeat(ctx, nr, func() (float64, error) {
		return oneWay(ctx, g, bar, words, cfg.dur, nil, send, "consumer")
	})
	if err != nil {
		return nil, err
	}
	return rate, g.join()
}

// chanRate moves int64 through a buffered channel of spscCap between two
// goroutines; msg/s.
func chanRate(ctx context.Context, cfg config) ([]float64, error) {
	nr := reps(cfg, rateReps)
	return cfg.repeat(ctx, nr, func() (float64, error) {
		ch := make(chan int64, spscCap)
		got := make(chan error, 1)
		var took int64
		go func() {
			var err error
			for v := range ch { // all of them, or the sender blocks
				if v != took && err == nil {
					err = fmt.Errorf("message %d is %d", took, v)
				}
				took++
			}
			got <- err
		}()
		t0 := time.Now()
		var n int64
		t := newTimer(ctx, cfg.dur)
		defer t.stop()
		for ; !t.over(); n++ {
			ch <- n
		}
		close(ch)
		err := <-got
		el := time.Since(t0)
		if err != nil {
			return 0, err
		}
		if took != n {
			return 0, fmt.Errorf("%w: took %d of %d", errLost, took, n)
		}
		return float64(n) / el.Seconds(), nil
	})
}

// streamArg is the argument of a child that reads 8-byte messages from a
// pipe of its parent's (Path, under /proc) or a unix socket (Addr).
type streamArg struct {
	Path  string
	Addr  string
	Sync  *semaphore.Barrier
	Words shm.Handle
	Reps  int
}

var streamReader = process.Register("shmbench.stream-reader", func(ctx context.Context, a streamArg) error {
	words, err := resolve(a.Words)
	if err != nil {
		return err
	}
	var in io.ReadCloser
	if a.Path != "" {
		in, err = os.Open(a.Path)
	} else {
		in, err = net.Dial("unix", a.Addr)
	}
	if err != nil {
		return err
	}
	defer in.Close()
	buf := make([]byte, 64<<10)
	return childReps(ctx, a.Sync, a.Reps, func() error {
		var n uint64
		carry := 0 // bytes of a message cut in two by a read
	rep:
		for {
			k, err := in.Read(buf[carry:])
			if err != nil {
				return fmt.Errorf("after %d messages: %w", n, err)
			}
			m, i := carry+k, 0
			for ; i+8 <= m; i += 8 {
				v := binary.LittleEndian.Uint64(buf[i:])
				if v == endMark {
					if i+8 != m {
						return fmt.Errorf("%d bytes after the end mark", m-i-8)
					}
					break rep
				}
				if v != n {
					return fmt.Errorf("message %d is %d", n, v)
				}
				n++
			}
			carry = copy(buf, buf[i:m])
		}
		atomic.StoreUint64(word(words, 0, 0), n)
		return nil
	})
})

// pipeRate writes 8-byte messages into os.Pipe, one write each, for a
// child that opens the read end through /proc and reads up to 64 KiB a
// call; msg/s.
func pipeRate(ctx context.Context, cfg config) ([]float64, error) {
	r, w, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	defer r.Close()
	defer w.Close()
	fd, err := rawFD(r)
	if err != nil {
		return nil, err
	}
	return streamRate(ctx, cfg, streamArg{Path: procFD(os.Getpid(), fd)},
		func(*group) (io.Writer, error) { return w, nil },
		// The child holds the read end now: with ours closed, a child
		// that dies makes our writes fail (EPIPE) instead of block.
		func() { r.Close() })
}

// unixRate is pipeRate through a unix stream socket: the child connects to
// a listener in the abstract namespace (nothing to remove afterwards).
func unixRate(ctx context.Context, cfg config) ([]float64, error) {
	addr := "@shmbench-" + strconv.Itoa(os.Getpid()) + "-" + strconv.FormatInt(time.Now().UnixNano(), 36)
	ln, err := net.Listen("unix", addr)
	if err != nil {
		return nil, err
	}
	defer ln.Close()
	type accepted struct {
		c   net.Conn
		err error
	}
	ch := make(chan accepted, 1)
	go func() {
		c, err := ln.Accept()
		ch <- accepted{c, err}
	}()
	var conn net.Conn
	defer func() {
		if conn != nil {
			conn.Close()
		}
	}()
	return streamRate(ctx, cfg, streamArg{Addr: addr}, func(g *group) (io.Writer, error) {
		select {
		case a := <-ch:
			conn = a.c
			return conn, a.err
		case <-g.ctx.Done():
			ln.Close()
			conn = (<-ch).c
			return nil, g.why(g.ctx.Err())
		}
	}, nil)
}

// streamRate writes 8-byte messages, one write call each, to the writer
// that connect gives once a streamReader child was started with a;
// opened, when not nil, runs once the child holds its end; msg/s.
func streamRate(ctx context.Context, cfg config, a streamArg,
	connect func(*group) (io.Writer, error), opened func()) ([]float64, error) {
	words, bar, g, done, err := newRig(ctx, 1, 2)
	if err != nil {
		return nil, err
	}
	defer done()
	nr := reps(cfg, rateReps)
	a.Sync, a.Words, a.Reps = bar, words.Handle(), nr
	if err := start(g, streamReader, a); err != nil {
		return nil, err
	}
	w, err := connect(g)
	if err != nil {
		return nil, err
	}
	var msg [8]byte
	send := func(v uint64) (uint64, error) {
		binary.LittleEndian.PutUint64(msg[:], v)
		_, err := w.Write(msg[:])
		return 1, err
	}
	if opened != nil {
		met := opened
		opened = func() { met(); opened = nil } // once, after the first meeting
	}
	rate, err := cfg.repeat(ctx, nr, func() (float64, error) {
		return oneWay(ctx, g, bar, words, cfg.dur, opened, send, "reader")
	})
	if err != nil {
		return nil, err
	}
	return rate, g.join()
}

// oneWay plays one repetition of a one-way rate: it meets the child at bar
// (then runs met, when not nil), sends for dur, send(v) carrying the
// values from v on and returning how many it sent, sends endMark, meets
// the child again, and checks that the child (what) took every value (its
// count in slot 0 of words); values sent per second.
func oneWay(ctx context.Context, g *group, bar *semaphore.Barrier, words *shm.Object, dur time.Duration,
	met func(), send func(v uint64) (uint64, error), what string) (float64, error) {
	if _, err := bar.Wait(g.ctx); err != nil {
		return 0, g.why(err)
	}
	if met != nil {
		met()
	}
	t0 := time.Now()
	var n uint64
	t := newTimer(ctx, dur)
	defer t.stop()
	for !t.over() {
		k, err := send(n)
		if err != nil {
			return 0, g.why(err)
		}
		n += k
	}
	if _, err := send(endMark); err != nil {
		return 0, g.why(err)
	}
	if _, err := bar.Wait(g.ctx); err != nil {
		return 0, g.why(err)
	}
	el := time.Since(t0)
	if got := atomic.LoadUint64(word(words, 0, 0)); got != n {
		return 0, fmt.Errorf("%w: the %s took %d of %d", errLost, what, got, n)
	}
	return float64(n) / el.Seconds(), nil
}

// block is a 64 KiB message.
type block = [64 << 10]byte

// bulkArg is the argument of the 64 KiB consumer, as spscArg's.
type bulkArg struct {
	Ring  *ringbuffer.Ring[block]
	Sync  *semaphore.Barrier
	Words shm.Handle
	Reps  int
}

var bulkConsumer = process.Register("shmbench.bulk-consumer", func(ctx context.Context, a bulkArg) error {
	words, err := resolve(a.Words)
	if err != nil {
		return err
	}
	r := a.Ring
	dst := make([]block, 1) // on the heap: PopBatch copies straight into it
	if _, err := r.TryPopBatch(dst); !errors.Is(err, ringbuffer.ErrEmpty) {
		return fmt.Errorf("first TryPopBatch: %v", err)
	}
	bg := context.Background()
	return childReps(ctx, a.Sync, a.Reps, func() error {
		var n uint64
		for {
			if _, err := r.PopBatch(bg, dst); err != nil {
				return err
			}
			v := binary.LittleEndian.Uint64(dst[0][:])
			if v == endMark {
				break
			}
			if v != n {
				return fmt.Errorf("block %d is numbered %d", n, v)
			}
			n++
		}
		atomic.StoreUint64(word(words, 0, 0), n)
		return nil
	})
})

// bulkRate moves 64 KiB messages through a single-producer ring of
// bulkSlots, PushBatch and PopBatch of one from and into a buffer on the
// heap (a copy on each side), in the default blocking mode; GB/s (10^9
// bytes a second).
func bulkRate(ctx context.Context, cfg config) ([]float64, error) {
	r, err := ringbuffer.NewSPSCRing[block](bulkSlots)
	if err != nil {
		return nil, err
	}
	defer r.Free()
	if _, err := r.TryPushBatch(nil); err != nil {
		return nil, err
	}
	words, bar, g, done, err := newRig(ctx, 1, 2)
	if err != nil {
		return nil, err
	}
	defer done()
	nr := reps(cfg, rateReps)
	if err := start(g, bulkConsumer, bulkArg{Ring: r, Sync: bar, Words: words.Handle(), Reps: nr}); err != nil {
		return nil, err
	}
	src := make([]block, 1)
	for i := range src[0] {
		src[0][i] = byte(i)
	}
	send := func(v uint64) (uint64, error) {
		binary.LittleEndian.PutUint64(src[0][:], v)
		_, err := r.PushBatch(g.ctx, src)
		return 1, err
	}
	rate, err := cfg.repeat(ctx, nr, func() (float64, error) {
		blocks, err := oneWay(ctx, g, bar, words, cfg.dur, nil, send, "consumer")
		return blocks * float64(len(block{})) / 1e9, err
	})
	if err != nil {
		return nil, err
	}
	return rate, g.join()
}

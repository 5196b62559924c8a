//go:build linux

package main

// Round trips between two processes: a number goes to a child and comes
// back plus one, through two single-producer rings (spinning, then in the
// default blocking mode) and through two os.Pipes.
//
// Each repetition plays pingWarmup untimed rounds, then timed rounds for
// cfg.dur (see timer), then one round with endMark, which the child sends
// back as it is. The figure is the median over the repetitions of the mean
// round trip.

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/shmkit/shmkit/process"
	"github.com/shmkit/shmkit/ringbuffer"
	"github.com/shmkit/shmkit/semaphore"
)

const (
	// pingWarmup is how many untimed rounds each repetition plays first.
	pingWarmup = 10
)

func init() {
	registerOne("ping-pong through two rings, spinning (2 processes)", "pingpong_spin_rtt_ns", func(ctx context.Context, cfg config) ([]float64, error) { return ringRTT(ctx, cfg, true) })
	registerOne("ping-pong through two rings, default blocking mode (2 processes)", "pingpong_default_rtt_ns", func(ctx context.Context, cfg config) ([]float64, error) { return ringRTT(ctx, cfg, false) })
	registerOne("ping-pong through two os.Pipes (2 processes)", "pipe_pingpong_rtt_ns", pipeRTT)
}

// pongArg is the argument of the ring ping-pong's child: it pops from Ping
// and pushes to Pong, until it has sent back Reps end marks, and meets
// the parent at Sync before each repetition: so that a spinning child
// sleeps between repetitions, and leaves the cores to what runs then (the
// other side of a pair).
type pongArg struct {
	Ping, Pong *ringbuffer.Ring[uint64]
	Sync       *semaphore.Barrier
	Spin       bool
	Reps       int
}

var ringPong = process.Register("shmbench.ring-pong", func(ctx context.Context, a pongArg) error {
	a.Ping.SetSpin(a.Spin)
	a.Pong.SetSpin(a.Spin)
	// Pop takes no context that can end, as in most programs (such a
	// context costs a sleeping wait more): the parent kills this daemon
	// if it must.
	bg := context.Background()
	for range a.Reps {
		if _, err := a.Sync.Wait(ctx); err != nil {
			return err
		}
		for {
			v, err := a.Ping.Pop(bg)
			if err != nil {
				return err
			}
			if err := a.Pong.Push(bg, answer(v)); err != nil {
				return err
			}
			if v == endMark {
				break
			}
		}
	}
	return nil
})

// ringRTT is the round trip through two single-producer rings of 16 slots,
// both sides spinning (SetSpin) or in the default blocking mode (a few
// yields, then sleep); ns.
func ringRTT(ctx context.Context, cfg config, spin bool) ([]float64, error) {
	ping, err := ringbuffer.NewSPSCRing[uint64](16)
	if err != nil {
		return nil, err
	}
	defer ping.Free()
	pong, err := ringbuffer.NewSPSCRing[uint64](16)
	if err != nil {
		return nil, err
	}
	defer pong.Free()
	ping.SetSpin(spin)
	pong.SetSpin(spin)
	if _, err := ping.TryPushBatch(nil); err != nil {
		return nil, err
	}
	if _, err := pong.TryPop(); !errors.Is(err, ringbuffer.ErrEmpty) {
		return nil, fmt.Errorf("first TryPop: %v", err)
	}
	nr := reps(cfg, rateReps)
	bar, err := semaphore.NewBarrier(2)
	if err != nil {
		return nil, err
	}
	defer bar.Free()
	g := newGroup(ctx)
	defer g.kill()
	if err := start(g, ringPong, pongArg{Ping: ping, Pong: pong, Sync: bar, Spin: spin, Reps: nr}); err != nil {
		return nil, err
	}
	round := func(v uint64) error {
		if err := ping.Push(g.ctx, v); err != nil {
			return g.why(err)
		}
		got, err := pong.Pop(g.ctx)
		if err != nil {
			return g.why(err)
		}
		if got != answer(v) {
			return fmt.Errorf("sent %d, got back %d", v, got)
		}
		return nil
	}
	rtt, err := cfg.repeat(ctx, nr, func() (float64, error) {
		if _, err := bar.Wait(g.ctx); err != nil {
			return 0, g.why(err)
		}
		return rounds(ctx, cfg.dur, round)
	})
	if err != nil {
		return nil, err
	}
	return rtt, g.join()
}

// rounds plays one repetition of round trips, numbered from 0, with round:
// the warm-up, the timed rounds for d, and the end mark; it returns the mean
// of the timed round trips in ns.
func rounds(ctx context.Context, d time.Duration, round func(v uint64) error) (float64, error) {
	var i uint64
	for ; i < pingWarmup; i++ {
		if err := round(i); err != nil {
			return 0, err
		}
	}
	t0 := time.Now()
	t := newTimer(ctx, d)
	defer t.stop()
	for ; !t.over(); i++ {
		if err := round(i); err != nil {
			return 0, err
		}
	}
	el := time.Since(t0)
	if err := round(endMark); err != nil {
		return 0, err
	}
	return float64(el.Nanoseconds()) / float64(max(i-pingWarmup, 1)), nil
}

// roundTrips plays nr repetitions of round trips with round (see rounds)
// and returns what each measured, once the children of g ended well.
func roundTrips(ctx context.Context, cfg config, g *group, nr int, round func(v uint64) error) ([]float64, error) {
	rtt, err := cfg.repeat(ctx, nr, func() (float64, error) { return rounds(ctx, cfg.dur, round) })
	if err != nil {
		return nil, err
	}
	return rtt, g.join()
}

// answer is what the child sends back for v: v+1, or endMark as it is.
func answer(v uint64) uint64 {
	if v == endMark {
		return v
	}
	return v + 1
}

// echoArg is the argument of the pipe ping-pong's child: the paths under
// /proc of the parent's pipe ends it opens (In to read, Out to write).
type echoArg struct {
	In, Out string
	Reps    int
}

var pipeEcho = process.Register("shmbench.pipe-echo", func(ctx context.Context, a echoArg) error {
	in, err := os.Open(a.In)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(a.Out, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	defer out.Close()
	var buf [8]byte
	for marks := 0; marks < a.Reps; {
		if _, err := io.ReadFull(in, buf[:]); err != nil {
			return err
		}
		v := binary.LittleEndian.Uint64(buf[:])
		if v == endMark {
			marks++
		}
		binary.LittleEndian.PutUint64(buf[:], answer(v))
		if _, err := out.Write(buf[:]); err != nil {
			return err
		}
	}
	return nil
})

// pipeRTT is the round trip of 8 bytes through one os.Pipe to a child and
// back through another, which the child opens through /proc; ns.
func pipeRTT(ctx context.Context, cfg config) ([]float64, error) {
	toR, toW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	defer toR.Close()
	defer toW.Close()
	fromR, fromW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	defer fromR.Close()
	defer fromW.Close()
	in, err := rawFD(toR)
	if err != nil {
		return nil, err
	}
	out, err := rawFD(fromW)
	if err != nil {
		return nil, err
	}
	nr := reps(cfg, rateReps)
	g := newGroup(ctx)
	defer g.kill()
	pid := os.Getpid()
	if err := start(g, pipeEcho, echoArg{In: procFD(pid, in), Out: procFD(pid, out), Reps: nr}); err != nil {
		return nil, err
	}
	// Until the child holds its ends, a read here would not see it die:
	// wait for its first answer, then close ours (a dead child then makes
	// a read here end with EOF, a write with EPIPE).
	first := make(chan error, 1)
	var buf, reply [8]byte
	go func() {
		_, err := io.ReadFull(fromR, reply[:])
		first <- err
	}()
	if _, err := toW.Write(buf[:]); err != nil { // 0
		return nil, err
	}
	select {
	case err := <-first:
		if err != nil {
			return nil, err
		}
	case <-g.ctx.Done():
		fromR.Close() // ends the read
		<-first
		return nil, g.why(g.ctx.Err())
	}
	if got := binary.LittleEndian.Uint64(reply[:]); got != 1 {
		return nil, fmt.Errorf("sent 0, got back %d", got)
	}
	toR.Close()
	fromW.Close()
	round := func(v uint64) error {
		binary.LittleEndian.PutUint64(buf[:], v)
		if _, err := toW.Write(buf[:]); err != nil {
			return g.why(err)
		}
		if _, err := io.ReadFull(fromR, buf[:]); err != nil {
			return g.why(err)
		}
		got := binary.LittleEndian.Uint64(buf[:])
		if got != answer(v) {
			return fmt.Errorf("sent %d, got back %d", v, got)
		}
		return nil
	}
	return roundTrips(ctx, cfg, g, nr, round)
}

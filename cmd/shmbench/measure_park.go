//go:build linux

package main

// The sleeping round trip: a number goes to a child and back plus one
// through two futex words, and every wait sleeps at once, through the
// parking every blocking call of shmkit uses when it sleeps (no yields or
// spinning first). This is the figure to put beside the C futex
// ping-pong; the rings' default mode (measure_pingpong.go) yields briefly
// before it sleeps, and is faster while both processes have a core.

import (
	"context"
	"fmt"
	"sync/atomic"

	"github.com/shmkit/shmkit/internal/mem"
	"github.com/shmkit/shmkit/internal/park"
	"github.com/shmkit/shmkit/internal/sys"
	"github.com/shmkit/shmkit/process"
	"github.com/shmkit/shmkit/shm"
)

// parkStart is the words' value before the first round: no round sends it.
const parkStart = 0xFFFFFFFE

func init() {
	registerOne("ping-pong through futex words, every wait sleeps (2 processes)", "pingpong_park_rtt_ns", parkRTT)
}

type futexPongArg struct {
	Words shm.Handle // slot 0: ping, slot 1: pong (the low half of each)
	Reps  int
}

// futexWords are the ping and pong words of the object.
func futexWords(o *shm.Object) (ping, pong *uint32) {
	return mem.Uint32(o.Bytes(), 0), mem.Uint32(o.Bytes(), 64)
}

var parkPong = process.Register("shmbench.park-pong", func(ctx context.Context, a futexPongArg) error {
	o, err := resolve(a.Words)
	if err != nil {
		return err
	}
	ping, pong := futexWords(o)
	last := uint32(parkStart)
	for marks := 0; marks < a.Reps; {
		v := atomic.LoadUint32(ping)
		if v == last {
			if err := park.Wait(ctx, ping, v, -1); err != nil {
				return err
			}
			continue
		}
		last = v
		if v == uint32(endMark&0xFFFFFFFF) {
			marks++
		}
		atomic.StoreUint32(pong, uint32(answer(uint64(v))))
		if _, err := sys.FutexWake(pong, 1); err != nil {
			return err
		}
	}
	return nil
})

// parkRTT is the round trip through two futex words, each wait a sleep; ns.
func parkRTT(ctx context.Context, cfg config) ([]float64, error) {
	o, err := newWords(2)
	if err != nil {
		return nil, err
	}
	defer o.Free()
	ping, pong := futexWords(o)
	atomic.StoreUint32(ping, parkStart)
	atomic.StoreUint32(pong, parkStart)
	nr := reps(cfg, rateReps)
	g := newGroup(ctx)
	defer g.kill()
	if err := start(g, parkPong, futexPongArg{Words: o.Handle(), Reps: nr}); err != nil {
		return nil, err
	}
	prev := uint32(parkStart) // the answer word before this round's answer
	round := func(v uint64) error {
		send := uint32(v)
		want := uint32(answer(uint64(send)))
		atomic.StoreUint32(ping, send)
		if _, err := sys.FutexWake(ping, 1); err != nil {
			return err
		}
		for {
			got := atomic.LoadUint32(pong)
			if got == want {
				prev = want
				return nil
			}
			if got != prev {
				return fmt.Errorf("sent %d, the answer word holds %d", send, got)
			}
			if err := park.Wait(g.ctx, pong, got, -1); err != nil {
				return g.why(err)
			}
		}
	}
	return roundTrips(ctx, cfg, g, nr, round)
}

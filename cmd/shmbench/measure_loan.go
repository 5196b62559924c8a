//go:build linux

package main

// Round trips of 8 B, 64 KiB and 1 MiB messages between two processes
// through two single-producer rings of [N]byte, in the default blocking
// mode (a few yields, then sleep) and with both sides spinning (which, on
// a loaded machine of 2 cores, measures the scheduler as well):
// loaned (the sender writes the message's number, its first 8 bytes, in a
// loaned slot and commits it; the receiver borrows it, reads the number and
// releases it) beside copied (Push of a prepared [N]byte, Pop into a
// reused one). A loaned round trip costs the same whatever N; a copied one
// copies each message on each side.
//
// Each repetition is the ring ping-pong's (see rounds): warm-up, timed
// rounds for cfg.dur, then endMark.

import (
	"context"
	"encoding/binary"
	"fmt"

	"github.com/shmkit/shmkit/internal/mem"
	"github.com/shmkit/shmkit/process"
	"github.com/shmkit/shmkit/ringbuffer"
	"github.com/shmkit/shmkit/semaphore"
)

type (
	msg8   = [8]byte
	msg64K = [64 << 10]byte
	msg1M  = [1 << 20]byte
)

var (
	loanPong8   = process.Register("shmbench.loan-pong-8", loanPong[msg8])
	loanPong64K = process.Register("shmbench.loan-pong-64k", loanPong[msg64K])
	loanPong1M  = process.Register("shmbench.loan-pong-1m", loanPong[msg1M])
)

func init() {
	for _, spin := range []bool{false, true} {
		mode, name := "default mode", ""
		if spin {
			mode, name = "spinning", "_spin"
		}
		for _, loaned := range []bool{true, false} {
			how := "copied"
			if loaned {
				how = "loaned"
			}
			registerOne(how+" round trip, 8 B, "+mode+" (2 processes)", how+name+"_rtt_8b_ns",
				func(ctx context.Context, cfg config) ([]float64, error) {
					return loanRTT(ctx, cfg, loanPong8, loaned, spin)
				})
			registerOne(how+" round trip, 64 KiB, "+mode+" (2 processes)", how+name+"_rtt_64k_ns",
				func(ctx context.Context, cfg config) ([]float64, error) {
					return loanRTT(ctx, cfg, loanPong64K, loaned, spin)
				})
			registerOne(how+" round trip, 1 MiB, "+mode+" (2 processes)", how+name+"_rtt_1m_ns",
				func(ctx context.Context, cfg config) ([]float64, error) {
					return loanRTT(ctx, cfg, loanPong1M, loaned, spin)
				})
		}
	}
}

// loanSlots is the capacity of each ring: one message is in flight.
const loanSlots = 2

// loanArg is the argument of the child of a loaned or copied round trip:
// it takes from Ping and answers on Pong until it has answered Reps end
// marks, and meets the parent at Sync before each repetition and once
// after the last.
type loanArg[M any] struct {
	Ping, Pong *ringbuffer.Ring[M]
	Sync       *semaphore.Barrier
	Loaned     bool
	Spin       bool // both rings spin (SetSpin) in both processes
	Reps       int
}

// num and setNum are the number in a message's first 8 bytes.
func num[M any](m *M) uint64 { return binary.LittleEndian.Uint64(mem.Bytes(m)) }

func setNum[M any](m *M, v uint64) { binary.LittleEndian.PutUint64(mem.Bytes(m), v) }

func loanPong[M any](ctx context.Context, a loanArg[M]) error {
	bg := context.Background() // the parent kills this daemon if it must
	a.Ping.SetSpin(a.Spin)
	a.Pong.SetSpin(a.Spin)
	m := new(M)
	for range a.Reps {
		if _, err := a.Sync.Wait(ctx); err != nil {
			return err
		}
		for {
			var v uint64
			if a.Loaned {
				b, err := a.Ping.Borrow(bg)
				if err != nil {
					return err
				}
				v = num(b.Value())
				b.Release()
				l, err := a.Pong.Loan(bg)
				if err != nil {
					return err
				}
				setNum(l.Value(), answer(v))
				if err := l.Commit(); err != nil {
					return err
				}
			} else {
				var err error
				if *m, err = a.Ping.Pop(bg); err != nil {
					return err
				}
				v = num(m)
				setNum(m, answer(v))
				if err := a.Pong.Push(bg, *m); err != nil {
					return err
				}
			}
			if v == endMark {
				break
			}
		}
	}
	// Exit only once the parent has its last answer: a wait of the parent
	// that sees the child gone fails, even with the answer there.
	_, err := a.Sync.Wait(ctx)
	return err
}

// loanRTT is the round trip of messages of type M, loaned or copied, with
// both sides spinning or in the default mode; ns.
func loanRTT[M any](ctx context.Context, cfg config, child process.Target[loanArg[M]], loaned, spin bool) ([]float64, error) {
	ping, err := ringbuffer.NewSPSCRing[M](loanSlots)
	if err != nil {
		return nil, err
	}
	defer ping.Free()
	pong, err := ringbuffer.NewSPSCRing[M](loanSlots)
	if err != nil {
		return nil, err
	}
	defer pong.Free()
	ping.SetSpin(spin)
	pong.SetSpin(spin)
	nr := reps(cfg, rateReps)
	bar, err := semaphore.NewBarrier(2)
	if err != nil {
		return nil, err
	}
	defer bar.Free()
	g := newGroup(ctx)
	defer g.kill()
	if err := start(g, child, loanArg[M]{Ping: ping, Pong: pong, Sync: bar, Loaned: loaned, Spin: spin, Reps: nr}); err != nil {
		return nil, err
	}
	m := new(M)
	round := func(v uint64) error {
		var got uint64
		if loaned {
			l, err := ping.Loan(g.ctx)
			if err != nil {
				return g.why(err)
			}
			setNum(l.Value(), v)
			if err := l.Commit(); err != nil {
				return err
			}
			b, err := pong.Borrow(g.ctx)
			if err != nil {
				return g.why(err)
			}
			got = num(b.Value())
			b.Release()
		} else {
			setNum(m, v)
			if err := ping.Push(g.ctx, *m); err != nil {
				return g.why(err)
			}
			var err error
			if *m, err = pong.Pop(g.ctx); err != nil {
				return g.why(err)
			}
			got = num(m)
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
	if _, err := bar.Wait(g.ctx); err != nil {
		return nil, g.why(err)
	}
	return rtt, g.join()
}

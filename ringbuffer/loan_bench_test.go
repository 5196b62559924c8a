//go:build linux && (amd64 || arm64)

package ringbuffer

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"testing"
	"time"
	"unsafe"

	"github.com/shmkit/shmkit/internal/mem"
	"github.com/shmkit/shmkit/internal/shmtest"
	"github.com/shmkit/shmkit/internal/testproc"
	"github.com/shmkit/shmkit/shm"
)

// benchLoanSlots is the capacity of BenchmarkLoanRTT's rings.
const benchLoanSlots = 4

// BenchmarkLoanRTT plays round trips between this process and a child over
// two single-producer rings of [N]byte, N = 8 B, 64 KiB and 1 MiB, in the
// default blocking mode (yields, then sleep): "loaned" writes the
// message's first 8 bytes (its number) in a loaned slot and commits it,
// and the other side borrows it, reads the number and releases it;
// "copied" pushes a prepared [N]byte value and pops into a reused one, as
// a program without loans does. Metric: ns/rtt. The loaned round trip
// does not grow with N; the copied one copies each message twice a way
// (Push takes its value by value, Pop returns one), and from 128 KiB on
// the Go compiler puts those values on the heap: an allocation for each
// Push and each Pop.
func BenchmarkLoanRTT(b *testing.B) {
	for _, loaned := range []bool{true, false} {
		mode := "copied"
		if loaned {
			mode = "loaned"
		}
		b.Run("8B/"+mode, func(b *testing.B) { benchLoanRTT[[8]byte](b, benchChildLoan8, loaned) })
		b.Run("64KiB/"+mode, func(b *testing.B) { benchLoanRTT[[64 << 10]byte](b, benchChildLoan64K, loaned) })
		b.Run("1MiB/"+mode, func(b *testing.B) { benchLoanRTT[[1 << 20]byte](b, benchChildLoan1M, loaned) })
	}
}

var (
	benchChildLoan8   = testproc.Register("rb-bench-loan-8", benchChildLoan[[8]byte])
	benchChildLoan64K = testproc.Register("rb-bench-loan-64k", benchChildLoan[[64 << 10]byte])
	benchChildLoan1M  = testproc.Register("rb-bench-loan-1m", benchChildLoan[[1 << 20]byte])
)

// benchLoanNum is the number in a message's first 8 bytes.
func benchLoanNum[M any](m *M) uint64 { return binary.LittleEndian.Uint64(mem.Bytes(m)) }

func benchLoanSetNum[M any](m *M, v uint64) { binary.LittleEndian.PutUint64(mem.Bytes(m), v) }

func benchLoanRTT[M any](b *testing.B, child string, loaned bool) {
	var zero M
	seg := benchSeg(b, int64(2*benchLoanSlots*unsafe.Sizeof(zero))+1<<20)
	ping := mustNew(b, NewSPSCRing[M], benchLoanSlots, shm.In(seg, "ping"))
	pong := mustNew(b, NewSPSCRing[M], benchLoanSlots, shm.In(seg, "pong"))
	p := testproc.Start(b, child, testproc.Arg(fmt.Sprintf("%s %d %v", seg.Name(), b.N, loaned)))
	// The waits take no context that can end (one costs a sleeping wait
	// an allocation): if the child dies, the watcher takes over its side
	// of pong and answers benchGone, as in benchPingPong.
	_, over := benchWatch(b, func() {
		r, err := OpenRing[M](context.Background(), seg, "pong")
		if err != nil {
			return
		}
		gone := new(M)
		benchLoanSetNum(gone, benchGone)
		for t := time.Now(); time.Since(t) < 5*time.Second; time.Sleep(time.Millisecond) {
			if err := r.TryPush(*gone); !errors.Is(err, ErrBusy) {
				return
			}
		}
	}, p)
	ctx := context.Background()
	m := new(M)
	round := func(i int) {
		want := uint64(i) + 1
		if loaned {
			l, err := ping.Loan(ctx)
			if err != nil {
				benchFatal(b, err, p)
			}
			benchLoanSetNum(l.Value(), uint64(i))
			l.Commit()
			r, err := pong.Borrow(ctx)
			if err != nil {
				benchFatal(b, err, p)
			}
			if v := benchLoanNum(r.Value()); v != want {
				benchFatal(b, fmt.Errorf("sent %d, got back %d", i, v), p)
			}
			r.Release()
			return
		}
		benchLoanSetNum(m, uint64(i))
		if err := ping.Push(ctx, *m); err != nil {
			benchFatal(b, err, p)
		}
		var err error
		if *m, err = pong.Pop(ctx); err != nil {
			benchFatal(b, err, p)
		}
		if v := benchLoanNum(m); v != want {
			benchFatal(b, fmt.Errorf("sent %d, got back %d", i, v), p)
		}
	}
	benchRounds(b, p, func() { p.WaitPoint("done"); over() }, round)
}

// benchChildLoan answers BenchmarkLoanRTT's round trips: each message of
// the ring "ping" goes back on "pong" numbered one more, through loans or
// copies. Arg: "SEGMENT N LOANED".
func benchChildLoan[M any](c *testproc.Child) error {
	seg, f, err := shmtest.OpenArgs(c)
	if err != nil {
		return err
	}
	defer seg.Close()
	n, err := shmtest.Int(f, 0)
	if err != nil {
		return err
	}
	ctx := context.Background()
	ping, err := OpenRing[M](ctx, seg, "ping")
	if err != nil {
		return err
	}
	pong, err := OpenRing[M](ctx, seg, "pong")
	if err != nil {
		return err
	}
	loaned := len(f) > 1 && f[1] == "true"
	m := new(M)
	for range benchWarmup + n {
		if loaned {
			r, err := ping.Borrow(ctx)
			if err != nil {
				return err
			}
			v := benchLoanNum(r.Value())
			r.Release()
			l, err := pong.Loan(ctx)
			if err != nil {
				return err
			}
			benchLoanSetNum(l.Value(), v+1)
			l.Commit()
			continue
		}
		if *m, err = ping.Pop(ctx); err != nil {
			return err
		}
		benchLoanSetNum(m, benchLoanNum(m)+1)
		if err := pong.Push(ctx, *m); err != nil {
			return err
		}
	}
	c.Point("done")
	return nil
}

//go:build linux && (amd64 || arm64)

package ringbuffer

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/shmkit/shmkit/internal/shmtest"
	"github.com/shmkit/shmkit/internal/testproc"
	"github.com/shmkit/shmkit/shm"
)

// BenchmarkByteLoanRTT plays round trips between this process and a child
// over two Queues of []byte, with messages of 1 KiB, 64 KiB and 1 MiB, in
// the default blocking mode and spinning (SetSpin on both sides):
// "loaned" writes the message's first 8 bytes (its number) in a byte
// loan and commits it, and the other side borrows it, reads the number
// and releases it; "copied" puts a prepared message and gets a new one,
// as a program without loans does. Metric: ns/rtt. The loaned round trip
// does not grow with the size; the copied one copies each message twice
// a way and allocates it on each Get.
func BenchmarkByteLoanRTT(b *testing.B) {
	for _, spin := range []bool{false, true} {
		wait := "block"
		if spin {
			wait = "spin"
		}
		for _, size := range []int{1 << 10, 64 << 10, 1 << 20} {
			for _, loaned := range []bool{true, false} {
				mode := "copied"
				if loaned {
					mode = "loaned"
				}
				name := fmt.Sprintf("%s/%dKiB/%s", wait, size>>10, mode)
				b.Run(name, func(b *testing.B) { benchByteLoanRTT(b, size, loaned, spin) })
			}
		}
	}
}

var benchChildByteLoan = testproc.Register("rb-bench-byteloan", benchChildByteLoanFunc)

// benchByteQueueCap is the capacity of a Queue of []byte with room for
// two messages of size bytes.
func benchByteQueueCap(size int) int { return 2*(size+encodedCell)/(encodedCell*encodedRoom) + 1 }

func benchByteLoanRTT(b *testing.B, size int, loaned, spin bool) {
	n := benchByteQueueCap(size)
	seg := benchSeg(b, int64(6*n*encodedCell*encodedRoom)+1<<20) // rings round up to a power of two
	ping := mustNew(b, NewQueue[[]byte], n, shm.In(seg, "ping"))
	pong := mustNew(b, NewQueue[[]byte], n, shm.In(seg, "pong"))
	ping.SetSpin(spin)
	pong.SetSpin(spin)
	p := testproc.Start(b, benchChildByteLoan, testproc.Arg(fmt.Sprintf("%s %d %d %v %v", seg.Name(), b.N, size, loaned, spin)))
	// If the child dies, the watcher answers benchGone on pong.
	_, over := benchWatch(b, func() {
		q, err := OpenQueue[[]byte](context.Background(), seg, "pong")
		if err != nil {
			return
		}
		gone := make([]byte, 8)
		binary.LittleEndian.PutUint64(gone, benchGone)
		for t := time.Now(); time.Since(t) < 5*time.Second; time.Sleep(time.Millisecond) {
			if err := q.TryPut(gone); !errors.Is(err, ErrFull) {
				return
			}
		}
	}, p)
	ctx := context.Background()
	m := make([]byte, size)
	round := func(i int) {
		want := uint64(i) + 1
		var got uint64
		if loaned {
			l, err := ping.LoanBytes(ctx, size)
			if err != nil {
				benchFatal(b, err, p)
			}
			binary.LittleEndian.PutUint64(l.Bytes(), uint64(i))
			l.Commit()
			r, err := pong.BorrowBytes(ctx)
			if err != nil {
				benchFatal(b, err, p)
			}
			got = binary.LittleEndian.Uint64(r.Bytes())
			r.Release()
		} else {
			binary.LittleEndian.PutUint64(m, uint64(i))
			if err := ping.Put(ctx, m); err != nil {
				benchFatal(b, err, p)
			}
			r, err := pong.Get(ctx)
			if err != nil {
				benchFatal(b, err, p)
			}
			got = binary.LittleEndian.Uint64(r)
		}
		if got != want {
			benchFatal(b, fmt.Errorf("sent %d, got back %d", i, got), p)
		}
	}
	benchRounds(b, p, func() { p.WaitPoint("done"); over() }, round)
}

// benchChildByteLoanFunc answers BenchmarkByteLoanRTT's round trips:
// each message of "ping" goes back on "pong" numbered one more, through
// byte loans or Get and Put. Arg: "SEGMENT N SIZE LOANED SPIN".
func benchChildByteLoanFunc(c *testproc.Child) error {
	seg, f, ints, err := shmtest.OpenInts(c, 0, 1)
	if err != nil {
		return err
	}
	defer seg.Close()
	n, size := ints[0], ints[1]
	loaned, spin := f[2] == "true", f[3] == "true"
	ctx := context.Background()
	ping, err := OpenQueue[[]byte](ctx, seg, "ping")
	if err != nil {
		return err
	}
	pong, err := OpenQueue[[]byte](ctx, seg, "pong")
	if err != nil {
		return err
	}
	ping.SetSpin(spin)
	pong.SetSpin(spin)
	m := make([]byte, size)
	for range benchWarmup + n {
		if loaned {
			r, err := ping.BorrowBytes(ctx)
			if err != nil {
				return err
			}
			v := binary.LittleEndian.Uint64(r.Bytes())
			r.Release()
			l, err := pong.LoanBytes(ctx, size)
			if err != nil {
				return err
			}
			binary.LittleEndian.PutUint64(l.Bytes(), v+1)
			l.Commit()
			continue
		}
		r, err := ping.Get(ctx)
		if err != nil {
			return err
		}
		binary.LittleEndian.PutUint64(m, binary.LittleEndian.Uint64(r)+1)
		if err := pong.Put(ctx, m); err != nil {
			return err
		}
	}
	c.Point("done")
	return nil
}

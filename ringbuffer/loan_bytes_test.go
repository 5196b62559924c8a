//go:build linux && (amd64 || arm64)

package ringbuffer

// Byte loans on a Queue of []byte, between processes and with processes
// killed by SIGKILL while they hold one. Messages are of random lengths,
// up to more than half the ring, so that frames wrap around the ring's end
// (by Put) and loans leave padding holes before it.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/shmkit/shmkit/internal/shmtest"
	"github.com/shmkit/shmkit/internal/testproc"
	"github.com/shmkit/shmkit/shm"
)

// blCap is the size of the test queues: NewQueue[[]byte](blCap) has a
// ring of 64 cells of 64 bytes (4 KiB); blMax is the longest message.
const (
	blCap = 16
	blMax = 2600
)

// blMsg is message seq of producer prod, of n bytes (n >= 8): the two
// numbers, then bytes that depend on them and on the position, so that a
// torn or shifted message shows.
func blMsg(prod, seq uint32, n int) []byte {
	b := make([]byte, n)
	blFill(b, prod, seq)
	return b
}

func blFill(b []byte, prod, seq uint32) {
	le.PutUint32(b, prod)
	le.PutUint32(b[4:], seq)
	for i := 8; i < len(b); i++ {
		b[i] = byte(prod*7 + seq*13 + uint32(i)*31 + uint32(len(b)))
	}
}

// blCheck checks that b is a whole message, and returns its producer and
// number.
func blCheck(b []byte) (prod, seq uint32, err error) {
	if len(b) < 8 {
		return 0, 0, fmt.Errorf("a message of %d bytes", len(b))
	}
	prod, seq = le.Uint32(b), le.Uint32(b[4:])
	for i := 8; i < len(b); i++ {
		if b[i] != byte(prod*7+seq*13+uint32(i)*31+uint32(len(b))) {
			return prod, seq, fmt.Errorf("message %d/%d of %d bytes: torn at byte %d", prod, seq, len(b), i)
		}
	}
	return prod, seq, nil
}

// blLen is the length of message seq in a run with seed: 0 to blMax
// bytes, or from 8 with ids.
func blLen(seed uint64, seq uint32, ids bool) int {
	r := rand.New(rand.NewPCG(seed, uint64(seq)))
	if ids {
		return 8 + r.IntN(blMax-7)
	}
	return r.IntN(blMax + 1)
}

// blPlain is message seq of a run without ids: its length and bytes
// follow from seed and seq alone.
func blPlain(seed uint64, seq uint32) []byte {
	b := make([]byte, blLen(seed, seq, false))
	for i := range b {
		b[i] = byte(seq*17 + uint32(i)*3 + 5)
	}
	return b
}

// blPut puts m by Put or, when loan says so, by a byte loan.
func blPut(ctx context.Context, q *Queue[[]byte], m []byte, loan bool) error {
	if !loan {
		return q.Put(ctx, m)
	}
	l, err := q.LoanBytes(ctx, len(m))
	if err != nil {
		return err
	}
	if len(l.Bytes()) != len(m) {
		return fmt.Errorf("a loan of %d bytes gave %d", len(m), len(l.Bytes()))
	}
	copy(l.Bytes(), m)
	return l.Commit()
}

// blGet takes the next message by Get or, when borrow says so, by a
// borrow, which check sees before its release.
func blGet(ctx context.Context, q *Queue[[]byte], borrow bool, check func([]byte) error) error {
	if !borrow {
		m, err := q.Get(ctx)
		if err != nil {
			return err
		}
		return check(m)
	}
	b, err := q.BorrowBytes(ctx)
	if err != nil {
		return err
	}
	if err := check(b.Bytes()); err != nil {
		return err
	}
	return b.Release()
}

var blChild = testproc.Register("ringbuffer-byteloans", func(c *testproc.Child) error {
	seg, f, ints, err := shmtest.OpenInts(c, 1, 2, 3)
	if err != nil {
		return err
	}
	defer seg.Close()
	role, seed, n, kill := f[0], uint64(ints[0]), ints[1], ints[2]
	ctx := context.Background()
	q, err := OpenQueue[[]byte](ctx, seg, "q")
	if err != nil {
		return err
	}
	r := rand.New(rand.NewPCG(seed, 1))
	switch role {
	case "producer": // n messages without ids, by Put and loans at random
		for i := range n {
			if err := blPut(ctx, q, blPlain(seed, uint32(i)), r.IntN(2) == 0); err != nil {
				return fmt.Errorf("message %d: %w", i, err)
			}
		}
	case "consumer": // n messages without ids, by Get and borrows at random
		for i := range n {
			want := blPlain(seed, uint32(i))
			err := blGet(ctx, q, r.IntN(2) == 0, func(m []byte) error {
				if !bytes.Equal(m, want) {
					return fmt.Errorf("message %d: got %d bytes, want %d bytes", i, len(m), len(want))
				}
				return nil
			})
			if err != nil {
				return err
			}
		}
	case "writer": // n messages of producer seed, and dies in the kill-th loan
		for i := range n {
			m := blMsg(uint32(seed), uint32(i), blLen(seed, uint32(i), true))
			if i != kill {
				if err := blPut(ctx, q, m, r.IntN(2) == 0); err != nil {
					return fmt.Errorf("message %d: %w", i, err)
				}
				continue
			}
			l, err := q.LoanBytes(ctx, len(m))
			if err != nil {
				return err
			}
			copy(l.Bytes(), m[:len(m)/2])
			syscall.Kill(os.Getpid(), syscall.SIGKILL)
			time.Sleep(time.Hour)
		}
	case "padder": // loans of blMax bytes, committed, until one pads: it dies there
		killHook(c, pointPadding, 1, false)
		for i := range 8 {
			m := blMsg(uint32(seed), uint32(i), blMax)
			l, err := q.LoanBytes(ctx, len(m))
			if err != nil {
				return err
			}
			copy(l.Bytes(), m)
			if err := l.Commit(); err != nil {
				return err
			}
		}
		return errors.New("8 loans of more than half the ring, and none padded")
	case "reader": // takes messages, logging each, and dies holding the kill-th
		log, err := os.OpenFile(f[4], os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
		if err != nil {
			return err
		}
		for i := 0; ; i++ {
			b, err := q.BorrowBytes(ctx)
			if err != nil {
				return err
			}
			prod, seq, err := blCheck(b.Bytes())
			if err != nil {
				return err
			}
			if i == kill {
				syscall.Kill(os.Getpid(), syscall.SIGKILL)
				time.Sleep(time.Hour)
			}
			if err := b.Release(); err != nil {
				return err
			}
			var rec [8]byte
			le.PutUint32(rec[:], prod)
			le.PutUint32(rec[4:], seq)
			if _, err := log.Write(rec[:]); err != nil {
				return err
			}
		}
	default:
		return fmt.Errorf("role %q", role)
	}
	return nil
})

func blStart(t testing.TB, seg *shm.Segment, role string, seed uint64, n, kill int, log string) *testproc.Proc {
	t.Helper()
	arg := fmt.Sprintf("%s %s %d %d %d %s", seg.Name(), role, seed, n, kill, log)
	return testproc.Start(t, blChild, testproc.Arg(arg), testproc.Timeout(killChildTimeout))
}

// TestByteLoansBetweenProcesses sends messages of 0 to more than half the
// ring's bytes between two processes, by Put and byte loans at random,
// taken by Get and borrows at random: every message arrives whole and in
// order, both ways.
func TestByteLoansBetweenProcesses(t *testing.T) {
	n := 3000
	if testing.Short() || raceEnabled {
		n = 500
	}
	for _, child := range []string{"producer", "consumer"} {
		t.Run(child, func(t *testing.T) {
			t.Parallel()
			seg := testSeg(t)
			q, err := NewQueue[[]byte](blCap, shm.In(seg, "q"))
			if err != nil {
				t.Fatal(err)
			}
			if q.c.l.cells*q.c.l.cellSize >= 2*blMax {
				t.Fatalf("a ring of %d bytes: messages of %d bytes are not more than half of it", q.c.l.cells*q.c.l.cellSize, blMax)
			}
			seed := uint64(time.Now().UnixNano())
			t.Logf("seed %d", seed)
			p := blStart(t, seg, child, seed, n, -1, "-")
			ctx := killContext(t)
			r := rand.New(rand.NewPCG(seed, 2))
			for i := range n {
				m := blPlain(seed, uint32(i))
				if child == "consumer" {
					err = blPut(ctx, q, m, r.IntN(2) == 0)
				} else {
					err = blGet(ctx, q, r.IntN(2) == 0, func(b []byte) error {
						if !bytes.Equal(b, m) {
							return fmt.Errorf("message %d: got %d bytes, want %d bytes", i, len(b), len(m))
						}
						return nil
					})
				}
				if err != nil {
					p.Kill()
					t.Fatalf("%v\nchild: %s", err, p.Wait().Output)
				}
			}
			p.Succeed()
			if _, err := q.TryGet(); !errors.Is(err, ErrEmpty) {
				t.Fatalf("after %d messages: %v", n, err)
			}
		})
	}
}

// TestKillByteLoanWriter kills writer processes that hold a byte loan,
// half written, while this process takes messages by Get and borrows in
// turn: it receives each dead writer's messages before the loan, whole
// and in order, and no other, and the queue goes on to its full size.
func TestKillByteLoanWriter(t *testing.T) {
	rounds := killRounds(100, 20)
	seg := testSeg(t)
	want := map[uint32]int{}
	next := blKillWriters(t, seg, rounds, func(i int) *testproc.Proc {
		n := 1 + i%9
		want[uint32(i+1)] = n - 1
		return blStart(t, seg, "writer", uint64(i+1), n, n-1, "-")
	})
	for prod, n := range want {
		if next[prod] != n {
			t.Errorf("writer %d: %d messages received, %d committed", prod, next[prod], n)
		}
	}
}

// TestKillByteLoanPadding kills writer processes of loans that do not fit
// before the ring's end, at the worst point of the padding: the cells up
// to the end claimed, not yet a hole. The messages they committed before
// arrive whole and in order, and the queue goes on to its full size.
func TestKillByteLoanPadding(t *testing.T) {
	rounds := killRounds(60, 12)
	seg := testSeg(t)
	blKillWriters(t, seg, rounds, func(i int) *testproc.Proc {
		return blStart(t, seg, "padder", uint64(i+1), 0, 0, "-")
	})
}

// blKillWriters runs rounds writer children, which start starts and which
// must die by SIGKILL, while this process takes messages from the queue
// "q" of seg by Get and borrows in turn: every message is whole, each
// writer's in order from its first, and the queue ends empty and goes on
// to its full size. It returns how many messages came from each writer.
func blKillWriters(t *testing.T, seg *shm.Segment, rounds int, start func(i int) *testproc.Proc) map[uint32]int {
	t.Helper()
	q, err := NewQueue[[]byte](blCap, shm.In(seg, "q"))
	if err != nil {
		t.Fatal(err)
	}
	type result struct {
		got [][2]uint32
		err error // the first torn message, or how Get ended
	}
	ctx, stop := context.WithCancel(killContext(t))
	done := make(chan result, 1)
	go func() {
		// It reads on past a torn message, so that the writers finish.
		var res result
		for i := 0; ; i++ {
			err := blGet(ctx, q, i%2 == 1, func(b []byte) error {
				prod, seq, err := blCheck(b)
				res.got = append(res.got, [2]uint32{prod, seq})
				if err != nil && res.err == nil {
					res.err = err
				}
				return nil
			})
			if err != nil {
				if res.err == nil {
					res.err = err
				}
				done <- res
				return
			}
		}
	}()
	killPipeline(rounds, 2, start, func(i int, p *testproc.Proc) {
		killMustDie(t, p, fmt.Sprintf("writer %d", i+1))
	})
	// Every writer is gone: wait until the reader took what they wrote.
	for q.c.length() > 0 && ctx.Err() == nil {
		time.Sleep(time.Millisecond)
	}
	stop()
	res := <-done
	if !errors.Is(res.err, context.Canceled) {
		t.Fatal(res.err)
	}
	if n := q.c.length(); n > 0 {
		t.Fatalf("the queue still holds %d cells", n)
	}
	next := map[uint32]int{}
	for _, id := range res.got {
		prod, seq := id[0], id[1]
		if int(seq) != next[prod] {
			t.Fatalf("from writer %d: message %d after %d", prod, seq, next[prod])
		}
		next[prod]++
	}
	t.Logf("%d writers killed holding a byte loan, %d messages", rounds, len(res.got))
	blFull(t, q)
	return next
}

// blFull checks that q, empty, takes blCap one-cell messages by loans and
// not one more, and gives them back.
func blFull(t *testing.T, q *Queue[[]byte]) {
	t.Helper()
	for i := range blCap {
		l, err := q.TryLoanBytes(8)
		if err != nil {
			t.Fatalf("loan %d of %d: %v", i+1, blCap, err)
		}
		blFill(l.Bytes(), 0, uint32(i))
		if err := l.Commit(); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := q.TryLoanBytes(8); !errors.Is(err, ErrFull) {
		t.Fatalf("a loan past the capacity: %v", err)
	}
	for i := range blCap {
		b, err := q.TryBorrowBytes()
		if err != nil {
			t.Fatal(err)
		}
		if prod, seq, err := blCheck(b.Bytes()); err != nil || prod != 0 || seq != uint32(i) {
			t.Fatalf("message %d: %d/%d, %v", i, prod, seq, err)
		}
		b.Release()
	}
}

// TestKillByteLoanReader kills reader processes that hold a borrowed
// message, one after the other, while this process puts messages by Put
// and byte loans in turn: each such message goes to the next reader,
// whole, so that the readers, this process draining last, receive every
// message exactly once and in order.
func TestKillByteLoanReader(t *testing.T) {
	rounds := killRounds(100, 20)
	seg := testSeg(t)
	q, err := NewQueue[[]byte](blCap, shm.In(seg, "q"))
	if err != nil {
		t.Fatal(err)
	}
	ctx, stop := context.WithCancel(killContext(t))
	put := make(chan error, 1)
	var sent uint32
	go func() {
		for ; ; sent++ {
			if err := blPut(ctx, q, blMsg(1, sent, blLen(7, sent, true)), sent%2 == 1); err != nil {
				put <- err
				return
			}
		}
	}()
	dir := t.TempDir()
	killPipeline(rounds, 1, func(i int) *testproc.Proc {
		return blStart(t, seg, "reader", uint64(i), 0, i%7, filepath.Join(dir, strconv.Itoa(i)))
	}, func(i int, p *testproc.Proc) {
		killMustDie(t, p, fmt.Sprintf("reader %d", i))
	})
	stop()
	if err := <-put; !errors.Is(err, context.Canceled) {
		t.Fatal(err)
	}
	var got []uint32
	for i := range rounds {
		b, err := os.ReadFile(filepath.Join(dir, strconv.Itoa(i)))
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			t.Fatal(err)
		}
		for ; len(b) >= 8; b = b[8:] {
			got = append(got, le.Uint32(b[4:]))
		}
	}
	for {
		b, err := q.TryBorrowBytes()
		if errors.Is(err, ErrEmpty) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		_, seq, err := blCheck(b.Bytes())
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, seq)
		b.Release()
	}
	for i, seq := range got {
		if seq != uint32(i) {
			t.Fatalf("message %d received as the %dth", seq, i)
		}
	}
	if len(got) != int(sent) {
		t.Fatalf("%d messages put, %d received", sent, len(got))
	}
	t.Logf("%d readers killed holding a borrowed message, %d messages", rounds, sent)
	blFull(t, q)
}

// TestByteLoanPadding shows the frames a loan and a Put make at the ring's
// end: a loan that would wrap leaves the cells up to the end as a hole
// and starts over at the ring's start, a Put wraps, and a borrow of the
// wrapped message gives it whole, from the handle's buffer.
func TestByteLoanPadding(t *testing.T) {
	q, err := NewQueue[[]byte](blCap) // 64 cells of 64 bytes
	if err != nil {
		t.Fatal(err)
	}
	defer edgeFree(t, q.Free)
	c := q.c
	cells := c.l.cells
	first := blMsg(1, 0, 60*64-4) // cells 0 to 59
	if err := q.TryPut(first); err != nil {
		t.Fatal(err)
	}
	if m, err := q.TryGet(); err != nil || !bytes.Equal(m, first) {
		t.Fatal(len(m), err)
	}
	// A loan of 8 cells at cell 60: a hole of 4 cells, the loan at 64.
	l, err := q.TryLoanBytes(8*64 - 4)
	if err != nil {
		t.Fatal(err)
	}
	if l.pos != cells || &l.Bytes()[0] != &c.data[4] {
		t.Fatalf("the loan is at position %d, want %d, at the start of the data", l.pos, cells)
	}
	if w := c.seq[60]; wordState(w) != stSkipped || wordCells(w) != 4 {
		t.Fatalf("cell 60 after the loan: state %d, %d cells; want a hole of 4", wordState(w), wordCells(w))
	}
	blFill(l.Bytes(), 1, 1)
	if err := l.Commit(); err != nil {
		t.Fatal(err)
	}
	b, err := q.TryBorrowBytes()
	if err != nil {
		t.Fatal(err)
	}
	if prod, seq, err := blCheck(b.Bytes()); err != nil || prod != 1 || seq != 1 || len(b.Bytes()) != 8*64-4 {
		t.Fatalf("borrowed %d/%d, %d bytes, %v", prod, seq, len(b.Bytes()), err)
	}
	if &b.Bytes()[0] != &c.data[4] {
		t.Fatal("the borrowed message is not in place")
	}
	if err := b.Release(); err != nil {
		t.Fatal(err)
	}
	// Now at cell 8: a Put of 60 cells wraps; its borrow is a copy.
	wrapped := blMsg(1, 2, 60*64-4)
	if err := q.TryPut(wrapped); err != nil {
		t.Fatal(err)
	}
	if b, err = q.TryBorrowBytes(); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(b.Bytes(), wrapped) {
		t.Fatal("the wrapped message borrowed is not whole")
	}
	if err := b.Release(); err != nil {
		t.Fatal(err)
	}
	if err := b.Release(); !errors.Is(err, ErrInvalid) {
		t.Fatalf("a second Release: %v", err)
	}
	if h, tl := *c.head, *c.tail; h != tl || h != 2*cells+4 {
		t.Fatalf("head %d, tail %d after the frames; want both at %d", h, tl, 2*cells+4)
	}
}

// TestByteLoanRules: the errors of byte loans, as those of Loan.
func TestByteLoanRules(t *testing.T) {
	q, err := NewQueue[[]byte](blCap)
	if err != nil {
		t.Fatal(err)
	}
	defer edgeFree(t, q.Free)
	if _, err := q.TryBorrowBytes(); !errors.Is(err, ErrEmpty) {
		t.Fatalf("a borrow of an empty queue: %v", err)
	}
	if _, err := q.TryLoanBytes(-1); !errors.Is(err, ErrInvalid) {
		t.Fatalf("a loan of -1 bytes: %v", err)
	}
	if _, err := q.TryLoanBytes(64*64 - 3); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("a loan larger than the ring: %v", err)
	}
	if err := q.TryPut(make([]byte, 64*64-3)); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("a Put larger than the ring: %v", err)
	}
	l, err := q.TryLoanBytes(64*64 - 4) // the whole ring
	if err != nil {
		t.Fatal(err)
	}
	if _, err := q.TryLoanBytes(0); !errors.Is(err, ErrFull) {
		t.Fatalf("a loan of a full ring: %v", err)
	}
	if err := l.Commit(); err != nil {
		t.Fatal(err)
	}
	if err := l.Commit(); !errors.Is(err, ErrInvalid) {
		t.Fatalf("a second Commit: %v", err)
	}
	if err := l.Abort(); !errors.Is(err, ErrInvalid) {
		t.Fatalf("an Abort after Commit: %v", err)
	}
	if m, err := q.TryGet(); err != nil || len(m) != 64*64-4 {
		t.Fatal(len(m), err)
	}
	// Aborted: a hole; empty: a message of no bytes.
	if l, err = q.TryLoanBytes(100); err != nil {
		t.Fatal(err)
	}
	if err := l.Abort(); err != nil {
		t.Fatal(err)
	}
	if l, err = q.TryLoanBytes(0); err != nil || len(l.Bytes()) != 0 {
		t.Fatal(err)
	}
	if err := l.Commit(); err != nil {
		t.Fatal(err)
	}
	if m, err := q.TryGet(); err != nil || len(m) != 0 {
		t.Fatalf("Get = %d bytes, %v; want the empty message", len(m), err)
	}
	if err := (BytesLoan{}).Commit(); !errors.Is(err, ErrInvalid) {
		t.Fatalf("Commit of a zero BytesLoan: %v", err)
	}
	if err := (BorrowedBytes{}).Release(); !errors.Is(err, ErrInvalid) {
		t.Fatalf("Release of a zero BorrowedBytes: %v", err)
	}
	// After Close: the loan becomes a hole, the borrowed message stays.
	q2, err := blHandle(t, q)
	if err != nil {
		t.Fatal(err)
	}
	if err := q.TryPut([]byte("kept")); err != nil {
		t.Fatal(err)
	}
	b, err := q2.TryBorrowBytes()
	if err != nil {
		t.Fatal(err)
	}
	if l, err = q2.TryLoanBytes(10); err != nil {
		t.Fatal(err)
	}
	q2.Close()
	if err := l.Commit(); !errors.Is(err, ErrClosed) {
		t.Fatalf("Commit after Close: %v", err)
	}
	if err := b.Release(); !errors.Is(err, ErrClosed) {
		t.Fatalf("Release after Close: %v", err)
	}
	if m, err := q.TryGet(); err != nil || string(m) != "kept" {
		t.Fatalf("Get after the closed borrow = %q, %v", m, err)
	}
	if _, err := q.TryGet(); !errors.Is(err, ErrEmpty) {
		t.Fatalf("Get past the closed loan: %v", err)
	}
	// Not raw bytes: ErrInvalid.
	q.SetCodec(Gob[[]byte]{})
	if _, err := q.TryLoanBytes(1); !errors.Is(err, ErrInvalid) {
		t.Fatalf("a loan with a Gob Codec: %v", err)
	}
	if _, err := q.TryBorrowBytes(); !errors.Is(err, ErrInvalid) {
		t.Fatalf("a borrow with a Gob Codec: %v", err)
	}
	qs, err := NewQueue[string](1)
	if err != nil {
		t.Fatal(err)
	}
	defer edgeFree(t, qs.Free)
	if _, err := qs.TryLoanBytes(1); !errors.Is(err, ErrInvalid) {
		t.Fatalf("a loan on a Queue of string: %v", err)
	}
}

// blHandle is a second handle of q, in this process.
func blHandle(t *testing.T, q *Queue[[]byte]) (*Queue[[]byte], error) {
	t.Helper()
	b, err := q.MarshalBinary()
	if err != nil {
		return nil, err
	}
	q2 := new(Queue[[]byte])
	return q2, q2.UnmarshalBinary(b)
}

// TestByteLoanAllocs: a loan and a borrow allocate nothing.
func TestByteLoanAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	q, err := NewQueue[[]byte](blCap)
	if err != nil {
		t.Fatal(err)
	}
	defer edgeFree(t, q.Free)
	n := testing.AllocsPerRun(1000, func() {
		l, err := q.TryLoanBytes(700)
		if err != nil {
			t.Fatal(err)
		}
		l.Bytes()[0] = 1
		l.Commit()
		b, err := q.TryBorrowBytes()
		if err != nil {
			t.Fatal(err)
		}
		_ = b.Bytes()[0]
		b.Release()
	})
	if n != 0 {
		t.Fatalf("%v allocations per loan and borrow", n)
	}
}

// TestBytesQueueLayout: a Queue of []byte frames raw bytes, and refuses a
// queue of gob-encoded []byte (the encoding of earlier versions).
func TestBytesQueueLayout(t *testing.T) {
	seg := testSeg(t)
	h := fnv.New64a()
	h.Write([]byte("shmkit/ringbuffer encoded []uint8"))
	_, l, err := queueLayout[[]byte](4, false)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := placeCore(shm.KindQueue, h.Sum64(), l, []shm.Option{shm.In(seg, "gob")}); err != nil {
		t.Fatal(err)
	}
	if _, err := OpenQueue[[]byte](context.Background(), seg, "gob"); !errors.Is(err, shm.ErrLayout) {
		t.Fatalf("opening a queue of gob-encoded []byte: %v", err)
	}
	q, err := NewQueue[[]byte](4)
	if err != nil {
		t.Fatal(err)
	}
	defer edgeFree(t, q.Free)
	if err := q.TryPut([]byte("raw")); err != nil {
		t.Fatal(err)
	}
	if off := q.c.cellOff(0); le.Uint32(q.c.data[off:]) != 3 || string(q.c.data[off+4:off+7]) != "raw" {
		t.Fatalf("the frame is % x", q.c.data[off:off+8])
	}
}

package ringbuffer

import (
	"context"
	"fmt"
	"reflect"
	"sync/atomic"
)

// Byte loans: the loans of a Queue of []byte, whose messages are frames of
// raw bytes (a 4-byte length, then the bytes) of varying length. A writer
// fills a message of n bytes in place, a reader looks at one in place, so
// that a large message costs what a small one does (doc.go, Loans).

// rawBytes is the Codec of a Queue of []byte: a message's bytes as they
// are. Decode keeps b, which the queue made for the message alone.
type rawBytes struct{}

func (rawBytes) Append(b []byte, v *[]byte) ([]byte, error) { return append(b, *v...), nil }
func (rawBytes) Decode(b []byte, v *[]byte) error           { *v = b; return nil }

// isBytes reports whether T is []byte, whose Queue frames raw bytes.
func isBytes[T any]() bool { return reflect.TypeFor[T]() == reflect.TypeFor[[]byte]() }

// BytesLoan is room for a message of n bytes in a Queue of []byte, lent
// to a writer: Bytes is that room, in shared memory, which Commit
// publishes and Abort gives back unpublished. It is a small value; copies
// of it are the same loan, which ends at the first Commit or Abort.
type BytesLoan struct {
	b   []byte
	c   *core
	pos uint64
	k   uint64
	idx int32
}

// Bytes is the lent room: n bytes, valid until Commit or Abort, and not
// after. It holds what the ring held before (old messages): write every
// byte that readers read.
func (l BytesLoan) Bytes() []byte { return l.b }

// Commit publishes the room as the next message, of len(Bytes()) bytes,
// and wakes the readers that wait for one, as Put does. A second Commit
// or Abort of the loan fails with ErrInvalid; after the handle's Close,
// the room becomes a hole that readers step over and Commit fails with
// ErrClosed.
func (l BytesLoan) Commit() error {
	if l.c == nil {
		return errNoLoan
	}
	return l.c.endClaim(l.pos, int(l.idx), l.k, true)
}

// Abort gives the room back unpublished: it becomes a hole that readers
// step over. A second Commit or Abort of the loan fails with ErrInvalid.
func (l BytesLoan) Abort() error {
	if l.c == nil {
		return errNoLoan
	}
	return l.c.endClaim(l.pos, int(l.idx), l.k, false)
}

// BorrowedBytes is the oldest message of a Queue of []byte lent to a
// reader: Bytes is the message where it lies in shared memory, and
// Release takes it, as a Get would. It is a small value; copies of it are
// the same borrow, which ends at the first Release.
type BorrowedBytes struct {
	b   []byte
	c   *core
	pos uint64
	k   uint64
}

// Bytes is the borrowed message: valid until Release, and not after.
// Readers must not write it. A message that wraps around the ring's end
// (one put by Put; a loan never wraps) is copied into a buffer that the
// Queue handle keeps for the next such message.
func (b BorrowedBytes) Bytes() []byte { return b.b }

// Release takes the message: its room may be reused. A second Release
// fails with ErrInvalid; after the handle's Close, the message is left
// for the next reader and Release fails with ErrClosed.
func (b BorrowedBytes) Release() error {
	if b.c == nil {
		return errNoLoan
	}
	return b.c.releaseLent(b.pos, b.k)
}

// errNotRaw is the error of byte loans on a Queue that does not hold raw
// bytes.
func (q *Queue[T]) errNotRaw() error {
	if !isBytes[T]() {
		return fmt.Errorf("ringbuffer: %w: byte loans need a Queue of []byte, not of %s", ErrInvalid, reflect.TypeFor[T]())
	}
	return fmt.Errorf("ringbuffer: %w: byte loans need the raw bytes of a Queue of []byte, and SetCodec replaced its Codec", ErrInvalid)
}

// TryLoanBytes lends room for a message of n bytes to the caller, if
// there is room now, or returns an error matching ErrFull (ErrShutdown
// after Shutdown, ErrTooLarge for a message that could never fit, as
// Put). Commit publishes it. Only a Queue of []byte lends bytes (others:
// ErrInvalid). Loans are taken at the tail, from any goroutines and
// processes at once, and readers take the messages in the order of the
// loans: a loan not committed yet holds back the readers of the messages
// after it, as a Put that is being written does. A writer killed while it
// holds a loan leaves a hole that readers step over.
//
// The room is one slice: when it would wrap around the ring's end, the
// cells up to the end become a hole, and the room starts over at the
// ring's start.
func (q *Queue[T]) TryLoanBytes(n int) (BytesLoan, error) {
	if q.putRaw == nil {
		return BytesLoan{}, q.errNotRaw()
	}
	return q.c.loanBytes(n)
}

// LoanBytes lends room for a message of n bytes to the caller (see
// TryLoanBytes), waiting for room until ctx ends.
func (q *Queue[T]) LoanBytes(ctx context.Context, n int) (BytesLoan, error) {
	if q.putRaw == nil {
		return BytesLoan{}, q.errNotRaw()
	}
	l, err := q.c.loanBytes(n)
	if err == errFull {
		err = q.c.await(ctx, q.c.full, func() error {
			var err error
			l, err = q.c.loanBytes(n)
			return err
		}, nil)
	}
	return l, err
}

// TryBorrowBytes lends the oldest message to the caller, in place, if
// there is one, or returns an error matching ErrEmpty (ErrShutdown once
// the queue is shut down and drained); Release takes it. Only a Queue of
// []byte lends bytes (others: ErrInvalid). One message is borrowed at a
// time per process, and the queue's other readers, of every process, wait
// until it is released: borrow briefly. A reader killed while it holds a
// borrowed message leaves it for the next reader.
func (q *Queue[T]) TryBorrowBytes() (BorrowedBytes, error) {
	if q.putRaw == nil {
		return BorrowedBytes{}, q.errNotRaw()
	}
	return q.borrowBytes()
}

// BorrowBytes lends the oldest message to the caller (see
// TryBorrowBytes), waiting for one until ctx ends.
func (q *Queue[T]) BorrowBytes(ctx context.Context) (BorrowedBytes, error) {
	if q.putRaw == nil {
		return BorrowedBytes{}, q.errNotRaw()
	}
	b, err := q.borrowBytes()
	if again(err) {
		err = q.c.await(ctx, q.c.empty, func() error {
			var err error
			b, err = q.borrowBytes()
			return err
		}, nil)
	}
	return b, err
}

// loanBytes claims the k cells of a frame of n bytes at the tail, in one
// run that does not wrap, and writes its length.
func (c *core) loanBytes(n int) (BytesLoan, error) {
	if n < 0 {
		return BytesLoan{}, fmt.Errorf("ringbuffer: %w: a loan of %d bytes", ErrInvalid, n)
	}
	k := c.l.cellsFor(n)
	if k > c.l.cells || n > 1<<31 {
		return BytesLoan{}, fmt.Errorf("%w: a message of %d bytes needs %d cells of %d bytes, the ring has %d",
			ErrTooLarge, n, k, c.l.cellSize, c.l.cells)
	}
	idx, err := c.producer()
	if err != nil {
		return BytesLoan{}, err
	}
	for {
		// Up to the ring's end only: the cells before it become a hole.
		// Another producer may claim first, and ours land elsewhere:
		// then whatever we claimed becomes a hole, and we claim again.
		want := k
		if i := (atomic.LoadUint64(c.tail) &^ shutBit) & c.mask; i+k > c.l.cells {
			want = c.l.cells - i
		}
		pos, err := c.claim(idx, want)
		if err != nil {
			return BytesLoan{}, err
		}
		off := c.cellOff(pos)
		if want == k && (pos&c.mask)+k <= c.l.cells {
			le.PutUint32(c.data[off:], uint32(n))
			return BytesLoan{b: c.data[off+4 : off+4+n : off+4+n], c: c, pos: pos, k: k, idx: int32(idx)}, nil
		}
		hook(pointPadding)
		atomic.StoreUint64(&c.seq[pos&c.mask], cellWord(uint32(pos>>c.shift), stSkipped, idx, want))
		notify(c.empty)
	}
}

// borrowBytes lends the frame at the head, once its cell word and length
// prefix are checked: a corrupt frame is dropped, so that the queue goes
// on, and reported.
func (q *Queue[T]) borrowBytes() (BorrowedBytes, error) {
	c := q.c
	h, err := c.borrowFront()
	if err != nil {
		return BorrowedBytes{}, err
	}
	// Lent: the frame stays as it is until the head moves.
	w := atomic.LoadUint64(&c.seq[h&c.mask])
	off := c.cellOff(h)
	k, n, err := c.l.frame(w, le.Uint32(c.data[off:]))
	if err != nil {
		to := h
		if k := wordCells(w); k <= c.l.cells {
			to = h + k
		}
		atomic.CompareAndSwapUint64(c.head, h|lentBit, to)
		c.dropBorrower()
		notify(c.full)
		return BorrowedBytes{}, fmt.Errorf("ringbuffer: position %d: %w", h, err)
	}
	start := (off + 4) % len(c.data)
	var b []byte
	if start+n <= len(c.data) {
		b = c.data[start : start+n : start+n]
	} else {
		if cap(q.wrap) < n {
			q.wrap = make([]byte, n)
		}
		b = q.wrap[:n:n]
		c.readAt(start, b)
	}
	return BorrowedBytes{b: b, c: c, pos: h, k: k}, nil
}

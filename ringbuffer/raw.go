package ringbuffer

import (
	"context"
	"fmt"
	"sync/atomic"

	"github.com/shmkit/shmkit/internal/rawq"
)

// The byte-level access to a Queue of encoded messages that package
// process's pool uses (package internal/rawq): the same frames as
// putFrame and getFrame write and read, without the copies through a
// Codec.
func init() {
	rawq.Of = func(q any) (rawq.Queue, error) {
		x, ok := q.(interface{ core() *core })
		if !ok || x.core() == nil || x.core().l.mode != modeFramed {
			return nil, fmt.Errorf("ringbuffer: %w: byte access to %T", ErrInvalid, q)
		}
		return rawQueue{x.core()}, nil
	}
}

// core is the ring of q, for rawq.Of.
func (q *Queue[T]) core() *core { return q.c }

// rawQueue is a framed queue's handle, as rawq.Queue.
type rawQueue struct{ c *core }

func (r rawQueue) TryPut(head, body []byte) error {
	c := r.c
	n := len(head) + len(body)
	k := c.l.cellsFor(n)
	if k > c.l.cells || n > 1<<31 {
		return fmt.Errorf("%w: a message of %d bytes needs %d cells of %d bytes, the ring has %d",
			ErrTooLarge, n, k, c.l.cellSize, c.l.cells)
	}
	idx, err := c.producer()
	if err != nil {
		return err
	}
	pos, err := c.claim(idx, k)
	if err != nil {
		return err
	}
	off := c.cellOff(pos)
	le.PutUint32(c.data[off:], uint32(n)) // a cell holds 8 bytes or more: no wrap
	off = (off + 4) % len(c.data)
	c.writeAt(off, head)
	hook(pointWriting)
	c.writeAt((off+len(head))%len(c.data), body)
	c.released()
	c.commit(pos, k, idx)
	notify(c.empty)
	return nil
}

func (r rawQueue) Put(ctx context.Context, head, body []byte) error {
	if err := r.TryPut(head, body); err != errFull {
		return err
	}
	return r.c.await(ctx, r.c.full, func() error { return r.TryPut(head, body) }, nil)
}

func (r rawQueue) TryGet(rd rawq.Reader) error {
	c := r.c
	for {
		h, w, err := c.front()
		if err != nil {
			return err
		}
		off := c.cellOff(h)
		k, n, ferr := c.l.frame(w, le.Uint32(c.data[off:]))
		if ferr != nil {
			if atomic.LoadUint64(c.head) != h || atomic.LoadUint64(&c.seq[h&c.mask]) != w {
				continue // read while the frame was taken and reused
			}
			if k := wordCells(w); k <= c.l.cells && c.release(h, k) {
				c.uncount()
			}
			return fmt.Errorf("ringbuffer: position %d: %w", h, ferr)
		}
		c.acquired()
		start := (off + 4) % len(c.data)
		var b []byte
		if start+n <= len(c.data) {
			b = c.data[start : start+n : start+n]
		} else {
			b = make([]byte, n) // once a lap of the ring at most
			c.readAt(start, b)
		}
		rerr := rd.Read(b)
		hook(pointReading)
		if !c.release(h, k) {
			continue // another consumer took it: what Read did is dropped
		}
		return rerr
	}
}

func (r rawQueue) Get(ctx context.Context, rd rawq.Reader) error {
	err := r.TryGet(rd)
	if again(err) {
		err = r.c.await(ctx, r.c.empty, func() error { return r.TryGet(rd) }, nil)
	}
	return err
}

func (r rawQueue) Ready() bool {
	c := r.c
	h := atomic.LoadUint64(c.head)
	if h&lentBit != 0 {
		return true // lent: Get waits for the borrower, or hands the message on
	}
	w := atomic.LoadUint64(&c.seq[h&c.mask])
	if wordLap(w) == uint32(h>>c.shift) && (wordState(w) == stFull || wordState(w) == stSkipped) {
		return true
	}
	return atomic.LoadUint64(c.tail)&shutBit != 0 || c.closed.Load()
}

// uncount takes back release's count of a message that is dropped, in a
// joinable queue (Queue.uncount).
func (c *core) uncount() {
	if c.gets != nil {
		atomic.AddUint64(c.gets, ^uint64(0))
		notify(c.join)
	}
}

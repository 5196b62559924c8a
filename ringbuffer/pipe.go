package ringbuffer

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/shmkit/shmkit/shm"
)

// Conn is one end of a Pipe: it sends to the other end and receives from
// it (Python's Connection).
type Conn[T any] struct {
	pipe *shm.Object
	end  int
	out  *Queue[T] // what this end sends
	in   *Queue[T] // what it receives
}

// The pipe object: a version word, then the two queues (which sit in the
// same segment) as payload offset and block generation. End 0 sends on
// queue 0 and receives on queue 1; end 1 the other way round.
const (
	pipeVersion = 1
	pipeSize    = 64
	offPipeQ0   = 8
	offPipeQ1   = 24
)

// Pipe makes a duplex pipe carrying messages of type T, with room for n
// messages in each direction (see NewQueue), and returns its two ends.
// Both ends travel to other processes as handles, like every shared
// object.
func Pipe[T any](n int, opts ...shm.Option) (*Conn[T], *Conn[T], error) {
	if n <= 0 {
		return nil, nil, fmt.Errorf("%w: a pipe of %d messages", ErrInvalid, n)
	}
	fp, _ := queueType[T]()
	var qs [2]*Queue[T]
	o, err := shm.PlaceObject(shm.Spec{Kind: shm.KindPipe, Fingerprint: fp, Size: pipeSize}, func(o *shm.Object) error {
		b := o.Bytes()
		le.PutUint32(b, pipeVersion)
		for i := range qs {
			q, err := NewQueue[T](n, shm.In(o.Segment(), ""))
			if err != nil {
				for _, q := range qs[:i] {
					q.Free()
				}
				return err
			}
			qs[i] = q
			h := q.Handle()
			le.PutUint64(b[offPipeQ0+16*i:], h.Offset)
			le.PutUint64(b[offPipeQ0+16*i+8:], h.Generation)
		}
		return nil
	}, opts...)
	if err != nil {
		return nil, nil, fmt.Errorf("making pipe: %w", err)
	}
	return &Conn[T]{pipe: o, end: 0, out: qs[0], in: qs[1]}, &Conn[T]{pipe: o, end: 1, out: qs[1], in: qs[0]}, nil
}

// OpenPipe opens the Pipe called name in seg and returns its two ends; a
// process keeps the one it is meant to use.
func OpenPipe[T any](seg *shm.Segment, name string) (*Conn[T], *Conn[T], error) {
	if seg == nil {
		return nil, nil, fmt.Errorf("%w: nil segment", ErrInvalid)
	}
	fp, _ := queueType[T]()
	o, err := seg.Find(context.Background(), name, shm.Spec{Kind: shm.KindPipe, Fingerprint: fp})
	if err != nil {
		return nil, nil, fmt.Errorf("opening pipe %q: %w", name, err)
	}
	a, err := attachConn[T](o, 0)
	if err != nil {
		return nil, nil, err
	}
	b, err := attachConn[T](o, 1)
	if err != nil {
		return nil, nil, err
	}
	return a, b, nil
}

func attachConn[T any](o *shm.Object, end int) (*Conn[T], error) {
	b := o.Bytes()
	if len(b) < pipeSize || le.Uint32(b) != pipeVersion {
		return nil, fmt.Errorf("pipe %q: %w: bad header", o.Name(), ErrCorrupt)
	}
	fp, _ := queueType[T]()
	seg := o.Segment()
	var qs [2]*Queue[T]
	for i := range qs {
		qo, err := seg.Attach(shm.Handle{Segment: seg.ID(), Name: seg.Name(), Kind: shm.KindQueue, Fingerprint: fp,
			Offset: le.Uint64(b[offPipeQ0+16*i:]), Generation: le.Uint64(b[offPipeQ0+16*i+8:])})
		if err != nil {
			return nil, fmt.Errorf("pipe %q: attaching its queue: %w", o.Name(), err)
		}
		if qs[i], err = attachQueue[T](qo); err != nil {
			return nil, err
		}
	}
	return &Conn[T]{pipe: o, end: end, out: qs[end], in: qs[1-end]}, nil
}

// MarshalBinary encodes this end: the pipe's handle and which end it is.
func (c *Conn[T]) MarshalBinary() ([]byte, error) {
	b, err := c.pipe.Handle().MarshalBinary()
	return append(b, byte(c.end)), err
}

// UnmarshalBinary attaches c to the end that MarshalBinary encoded.
func (c *Conn[T]) UnmarshalBinary(b []byte) error {
	if len(b) < 2 || b[len(b)-1] > 1 {
		return fmt.Errorf("%w: not a pipe end", ErrInvalid)
	}
	var h shm.Handle
	if err := h.UnmarshalBinary(b[:len(b)-1]); err != nil {
		return err
	}
	fp, _ := queueType[T]()
	if h.Kind != shm.KindPipe {
		return fmt.Errorf("pipe: handle names a %v: %w", h.Kind, shm.ErrKind)
	}
	if h.Fingerprint != fp {
		return fmt.Errorf("pipe: handle names messages of another type: %w", shm.ErrLayout)
	}
	o, err := shm.Resolve(h)
	if err != nil {
		return fmt.Errorf("resolving pipe: %w", err)
	}
	x, err := attachConn[T](o, int(b[len(b)-1]))
	if err != nil {
		return err
	}
	*c = *x
	return nil
}

// Handle names the pipe (both ends) for another process.
func (c *Conn[T]) Handle() shm.Handle { return c.pipe.Handle() }

// SetCodec replaces the Codec of both directions, for this end.
func (c *Conn[T]) SetCodec(cd Codec[T]) { c.out.SetCodec(cd); c.in.SetCodec(cd) }

// SetSpin makes this end's Recv and Poll spin instead of sleeping.
func (c *Conn[T]) SetSpin(on bool) { c.in.SetSpin(on); c.out.SetSpin(on) }

// Send sends v to the other end, waiting for room until ctx ends. After
// either end closed the pipe it fails with io.ErrClosedPipe.
func (c *Conn[T]) Send(ctx context.Context, v T) error {
	err := c.out.Put(ctx, v)
	if errors.Is(err, ErrClosed) {
		return fmt.Errorf("ringbuffer: send: %w", io.ErrClosedPipe)
	}
	return err
}

// Recv receives the next message, waiting for one until ctx ends. Once the
// pipe is closed (by either end) and every message sent was received, it
// returns io.EOF.
func (c *Conn[T]) Recv(ctx context.Context) (T, error) {
	v, err := c.in.Get(ctx)
	if errors.Is(err, ErrClosed) {
		err = io.EOF
	}
	return v, err
}

// Poll waits until Recv would not block (a message, or the end of the
// stream), reporting true, or until ctx ends, reporting false and
// ctx.Err(). With a ctx that has ended already it only looks.
func (c *Conn[T]) Poll(ctx context.Context) (bool, error) {
	ready := func() error {
		q := c.in.c
		if q.length() > 0 || q.isClosed() {
			return nil
		}
		return ErrEmpty
	}
	if ready() == nil {
		return true, nil
	}
	if ctx.Err() != nil {
		return false, ctx.Err()
	}
	if err := c.in.c.await(ctx, c.in.c.empty, ready); err != nil {
		return false, err
	}
	return true, nil
}

// Close closes the pipe in both directions: the other end's Send fails,
// its Recv drains what was sent and then returns io.EOF; so does this
// end's.
func (c *Conn[T]) Close() error {
	// The direction the other end sends on first: an end whose Recv has
	// seen io.EOF must find its Send failing too.
	c.in.Close()
	c.out.Close()
	return nil
}

func (c *Conn[T]) String() string {
	return fmt.Sprintf("Conn(%s, end %d)", c.pipe.Handle(), c.end)
}

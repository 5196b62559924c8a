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

// A pipe is one block: a header, then its two rings one after the other,
// each a queue's payload starting on a 64-byte boundary. End 0 sends on
// ring 0 and receives on ring 1; end 1 the other way round. Being one
// block, a pipe needs no more room than two queues of the same size (their
// two block headers are its block header and its own header), and it is
// made, found and freed whole.
//
//	offset  size  field
//	0       4     version (2)
//	4       4     zero
//	8       8     offset of ring 0 in the payload (64)
//	16      8     offset of ring 1: 64 plus ring 0's size rounded up to 64
//	24      40    zero
const (
	pipeVersion = 2
	pipeHeader  = 64
	offPipeQ0   = 8
	offPipeQ1   = 16
)

// Pipe makes a duplex pipe carrying messages of type T, with room for n
// messages in each direction (see NewQueue), and returns its two ends.
// It takes as much room as two such Queues. Both ends travel to other
// processes as handles, like every shared object.
func Pipe[T any](n int, opts ...shm.Option) (*Conn[T], *Conn[T], error) {
	if n <= 0 {
		return nil, nil, fmt.Errorf("%w: a pipe of %d messages", ErrInvalid, n)
	}
	fp, l, err := queueLayout[T](n, false)
	if err != nil {
		return nil, nil, err
	}
	span := align64(l.size())
	o, err := shm.Place(shm.Spec{Kind: shm.KindPipe, Fingerprint: fp, Size: pipeHeader + 2*span}, func(b []byte) error {
		le.PutUint32(b, pipeVersion)
		le.PutUint64(b[offPipeQ0:], pipeHeader)
		le.PutUint64(b[offPipeQ1:], pipeHeader+span)
		l.encode(b[pipeHeader:])
		l.encode(b[pipeHeader+span:])
		return nil
	}, opts...)
	if err != nil {
		return nil, nil, fmt.Errorf("making pipe: %w", err)
	}
	b := o.Bytes()
	var qs [2]*Queue[T]
	for i := range qs {
		at := pipeHeader + uint64(i)*span
		qs[i] = newQueueOn[T](mapCore(o, b[at:at+span:at+span], l))
	}
	return &Conn[T]{pipe: o, end: 0, out: qs[0], in: qs[1]}, &Conn[T]{pipe: o, end: 1, out: qs[1], in: qs[0]}, nil
}

// OpenPipe opens the Pipe called name in seg and returns its two ends; a
// process keeps the one it is meant to use.
// It waits, as long as ctx allows, while the object's creator is still
// making it.
func OpenPipe[T any](ctx context.Context, seg *shm.Segment, name string) (*Conn[T], *Conn[T], error) {
	if seg == nil {
		return nil, nil, fmt.Errorf("%w: nil segment", ErrInvalid)
	}
	fp, _ := queueType[T]()
	o, err := seg.Find(ctx, name, shm.Spec{Kind: shm.KindPipe, Fingerprint: fp})
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

// attachConn checks the header of the pipe o and the headers of its two
// rings, and makes its end end.
func attachConn[T any](o *shm.Object, end int) (*Conn[T], error) {
	b := o.Bytes()
	if len(b) < pipeHeader || le.Uint32(b) != pipeVersion {
		return nil, fmt.Errorf("pipe %q: %w: bad header", o.Name(), ErrCorrupt)
	}
	for _, c := range b[4:offPipeQ0] {
		if c != 0 {
			return nil, fmt.Errorf("pipe %q: %w: reserved header bytes are not zero", o.Name(), ErrCorrupt)
		}
	}
	for _, c := range b[offPipeQ1+8 : pipeHeader] {
		if c != 0 {
			return nil, fmt.Errorf("pipe %q: %w: reserved header bytes are not zero", o.Name(), ErrCorrupt)
		}
	}
	at0, at1 := le.Uint64(b[offPipeQ0:]), le.Uint64(b[offPipeQ1:])
	if at0 != pipeHeader || at1 <= at0 || at1%64 != 0 || at1 >= uint64(len(b)) {
		return nil, fmt.Errorf("pipe %q: %w: rings at %d and %d of a %d-byte payload", o.Name(), ErrCorrupt, at0, at1, len(b))
	}
	span := at1 - at0
	if uint64(len(b))-at1 < span {
		return nil, fmt.Errorf("pipe %q: %w: a second ring of %d bytes, the first has %d", o.Name(), ErrCorrupt, uint64(len(b))-at1, span)
	}
	var qs [2]*Queue[T]
	for i, at := range []uint64{at0, at1} {
		c, err := attachCore(o, b[at:at+span:at+span])
		if err == nil && c.l.joinable {
			err = fmt.Errorf("%w: a joinable queue's ring", ErrCorrupt)
		}
		if err == nil {
			err = checkQueueCore[T](c)
		}
		if err != nil {
			return nil, fmt.Errorf("pipe %q, ring %d: %w", o.Name(), i, err)
		}
		if i == 1 && c.l != qs[0].c.l {
			return nil, fmt.Errorf("pipe %q: %w: its two rings differ", o.Name(), ErrCorrupt)
		}
		qs[i] = newQueueOn[T](c)
	}
	if align64(qs[0].c.l.size()) != span {
		return nil, fmt.Errorf("pipe %q: %w: rings of %d bytes %d bytes apart", o.Name(), ErrCorrupt, qs[0].c.l.size(), span)
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

// Poll waits until Recv would not block (a whole message: not one still
// being written; or the end of the stream), reporting true, or until ctx
// ends, reporting false and ctx.Err(). It takes nothing. With a ctx that
// has ended already it only looks.
func (c *Conn[T]) Poll(ctx context.Context) (bool, error) {
	// Ready is a committed message at the head (not one still being
	// written, which Recv would wait for), or the end of the stream, or
	// anything else Recv would return at once (ErrCorrupt).
	ready := func() error {
		if _, _, err := c.in.c.front(); again(err) {
			return err
		}
		return nil
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

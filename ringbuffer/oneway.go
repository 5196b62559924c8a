package ringbuffer

import (
	"context"
	"fmt"
	"io"

	"github.com/shmkit/shmkit/shm"
)

// Receiver is the reading end of a OneWayPipe (Python's first Connection
// of Pipe(duplex=False)): it can only receive. It is held as a Conn is:
// Close releases this process's hold, and once no live process holds the
// Sender, Recv drains what was sent and then returns io.EOF.
type Receiver[T any] struct {
	oneWayEnd[T]
}

// Sender is the writing end of a OneWayPipe: it can only send. Once no
// live process holds the Receiver, Send fails with io.ErrClosedPipe.
type Sender[T any] struct {
	oneWayEnd[T]
}

// oneWayEnd is what the two ends of a one-way pipe do alike: a Conn whose
// Send or Recv only one of them offers.
type oneWayEnd[T any] struct {
	c *Conn[T]
}

// The ends of a one-way pipe, by index: end 0 sends on ring 0, end 1
// receives from it.
const (
	senderEnd   = 0
	receiverEnd = 1
)

var oneWayEnds = [2]string{"Sender", "Receiver"}

// OneWayPipe makes a one-way pipe carrying messages of type T from its
// Sender to its Receiver, with room for n messages (see NewQueue), and
// returns its two ends, reader first as Python's Pipe(duplex=False), both
// held by this process. It takes the room of one Queue of n messages and
// one of a single message (that ring carries nothing: its header holds the
// Receiver's holders). The ends travel to other processes as handles, as
// Conns do: pass one to a child and Close this process's copy of it.
func OneWayPipe[T any](n int, opts ...shm.Option) (*Receiver[T], *Sender[T], error) {
	p, err := makePipe[T](n, true, [2]bool{true, true}, opts)
	if err != nil {
		return nil, nil, err
	}
	return &Receiver[T]{oneWayEnd[T]{newConn[T](p, receiverEnd)}}, &Sender[T]{oneWayEnd[T]{newConn[T](p, senderEnd)}}, nil
}

// NewReceiver makes a one-way pipe as OneWayPipe does, under the name
// that opts give it (shm.In; ErrInvalid without one), for a program that
// reads and another that writes: it returns the Receiver, held by this
// process, and keeps the Sender for the next process that opens it by name
// (OpenSender). Until that process has opened it, the Sender counts as
// held: Recv waits rather than reporting io.EOF, and it reports io.EOF
// only once the writer has opened the Sender and every process holding it
// closed it or died. A writer that never comes leaves Recv waiting until
// its ctx ends.
func NewReceiver[T any](n int, opts ...shm.Option) (*Receiver[T], error) {
	p, err := makePipe[T](n, true, [2]bool{senderEnd: false, receiverEnd: true}, opts)
	if err != nil {
		return nil, err
	}
	return &Receiver[T]{oneWayEnd[T]{newConn[T](p, receiverEnd)}}, nil
}

// NewSender makes a one-way pipe as OneWayPipe does, under the name that
// opts give it (shm.In; ErrInvalid without one), and returns the Sender,
// held by this process; it keeps the Receiver for the next process that
// opens it by name (OpenReceiver). Until then Send does not fail with
// io.ErrClosedPipe: what it sends waits in the pipe for the reader, and a
// full pipe makes Send wait.
func NewSender[T any](n int, opts ...shm.Option) (*Sender[T], error) {
	p, err := makePipe[T](n, true, [2]bool{senderEnd: true, receiverEnd: false}, opts)
	if err != nil {
		return nil, err
	}
	return &Sender[T]{oneWayEnd[T]{newConn[T](p, senderEnd)}}, nil
}

// CreateOneWayPipe makes a one-way pipe as OneWayPipe does, under the
// name that opts give it (shm.In; ErrInvalid without one), for two other
// programs: this process keeps no end, and each is kept for the next
// process that opens it by name (OpenReceiver, OpenSender), as NewReceiver
// keeps the Sender. This process may exit at once: the reader reads io.EOF
// only once the writer has opened the Sender and closed it or died, and
// the writer's Send fails with io.ErrClosedPipe only once the reader has
// opened the Receiver and closed it or died. A process that opens an end
// may Free the pipe.
func CreateOneWayPipe[T any](n int, opts ...shm.Option) error {
	_, err := makePipe[T](n, true, [2]bool{}, opts)
	return err
}

// OpenReceiver opens the Receiver of the one-way pipe called name in seg,
// which this process then holds: the one its maker kept for it (NewSender),
// or, when there is none, a hold of its own beside the other holders'. It
// waits, until ctx ends, for a pipe that does not exist yet or whose
// creator is still making it. A pipe of another T fails with an error
// matching shm.ErrLayout, a duplex one with shm.ErrKind.
func OpenReceiver[T any](ctx context.Context, seg *shm.Segment, name string) (*Receiver[T], error) {
	c, err := openEnd[T](ctx, seg, name, receiverEnd)
	if err != nil {
		return nil, err
	}
	return &Receiver[T]{oneWayEnd[T]{c}}, nil
}

// OpenSender opens the Sender of the one-way pipe called name in seg, as
// OpenReceiver opens the Receiver: it takes over the Sender that the
// pipe's maker kept for it (NewReceiver), and from then on the Receiver
// reads io.EOF, once drained, when every process holding the Sender closed
// it or died.
func OpenSender[T any](ctx context.Context, seg *shm.Segment, name string) (*Sender[T], error) {
	c, err := openEnd[T](ctx, seg, name, senderEnd)
	if err != nil {
		return nil, err
	}
	return &Sender[T]{oneWayEnd[T]{c}}, nil
}

// openEnd opens end end of the one-way pipe called name in seg, and holds
// it for this process.
func openEnd[T any](ctx context.Context, seg *shm.Segment, name string, end int) (*Conn[T], error) {
	fp, _ := queueType[T]()
	o, err := seg.Find(ctx, name, shm.Spec{Kind: shm.KindPipe, Fingerprint: fp})
	if err != nil {
		return nil, fmt.Errorf("ringbuffer: opening the %s of pipe %q: %w", oneWayEnds[end], name, err)
	}
	c, err := attachConn[T](o, end, true)
	if err != nil {
		return nil, err
	}
	if err := c.openHold(); err != nil {
		return nil, err
	}
	return c, nil
}

var (
	_ io.Closer = (*Receiver[int])(nil)
	_ io.Closer = (*Sender[int])(nil)
)

// Recv receives the next message, waiting for one until ctx ends; once no
// live process holds the Sender and every message it sent was received, it
// returns io.EOF (see Conn.Recv).
func (r *Receiver[T]) Recv(ctx context.Context) (T, error) { return r.c.Recv(ctx) }

// Poll waits until Recv would not block, reporting true, or until ctx
// ends, reporting false and ctx.Err() (see Conn.Poll).
func (r *Receiver[T]) Poll(ctx context.Context) (bool, error) { return r.c.Poll(ctx) }

// UnmarshalBinary attaches r to the Receiver that MarshalBinary encoded,
// which this process then holds. A Sender's bytes, or a Conn's, fail with
// an error matching shm.ErrKind.
func (r *Receiver[T]) UnmarshalBinary(b []byte) error { return r.unmarshal(b, receiverEnd) }

// Send sends v to the Receiver, waiting for room until ctx ends. Once no
// live process holds the Receiver it fails with io.ErrClosedPipe: at once
// when its holders closed it; when the last one died, once Send has waited
// for room (see Conn.Send).
func (s *Sender[T]) Send(ctx context.Context, v T) error { return s.c.Send(ctx, v) }

// UnmarshalBinary attaches s to the Sender that MarshalBinary encoded,
// which this process then holds. A Receiver's bytes, or a Conn's, fail
// with an error matching shm.ErrKind.
func (s *Sender[T]) UnmarshalBinary(b []byte) error { return s.unmarshal(b, senderEnd) }

func (e *oneWayEnd[T]) unmarshal(b []byte, end int) error {
	c, err := unmarshalConn[T](b, true, end)
	if err != nil {
		return err
	}
	e.c = c
	return nil
}

// Close releases this handle (see Conn.Close): once every handle of every
// live process to this end is closed (or its processes died), the other
// end sees it: the Receiver's Recv drains what was sent and then returns
// io.EOF, the Sender's Send fails with io.ErrClosedPipe. Close is
// idempotent.
func (e *oneWayEnd[T]) Close() error { return e.c.Close() }

// Free destroys the pipe, both ends, for every process (see Conn.Free).
func (e *oneWayEnd[T]) Free() error { return e.c.Free() }

// MarshalBinary encodes this end, with a hold on it for the process that
// receives it (see Conn.MarshalBinary).
func (e *oneWayEnd[T]) MarshalBinary() ([]byte, error) { return e.c.MarshalBinary() }

// Handle names the pipe (both ends) for another process.
func (e *oneWayEnd[T]) Handle() shm.Handle { return e.c.Handle() }

// SetCodec replaces this handle's Codec (Gob by default); the other end's
// must be the same.
func (e *oneWayEnd[T]) SetCodec(cd Codec[T]) { e.c.SetCodec(cd) }

// SetSpin makes this handle's blocking calls spin instead of sleeping.
func (e *oneWayEnd[T]) SetSpin(on bool) { e.c.SetSpin(on) }

func (e *oneWayEnd[T]) String() string {
	return fmt.Sprintf("%s(%s)", oneWayEnds[e.c.end], e.c.Handle())
}

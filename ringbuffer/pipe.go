package ringbuffer

import (
	"context"
	"fmt"
	"io"
	"sync/atomic"

	"github.com/shmkit/shmkit/internal/mem"
	"github.com/shmkit/shmkit/internal/owner"
	"github.com/shmkit/shmkit/shm"
)

// Conn is one end of a Pipe: it sends to the other end and receives from
// it (Python's Connection).
//
// An end is held by the processes that have a handle to it: the one that
// made the pipe (both ends), those that opened it by name (both ends), and
// those that received the end as a handle (UnmarshalBinary). Close lets go
// of this process's hold once every handle of the process to the end is
// closed; a process that dies lets go of everything. When no live process
// holds an end, the other end's Recv drains what was sent and then returns
// io.EOF, and its Send fails with io.ErrClosedPipe.
type Conn[T any] struct {
	pipe *shm.Object
	end  int
	out  *Queue[T] // what this end sends: ring end
	in   *Queue[T] // what it receives: ring 1-end
	mine []uint64  // this end's holder slots, in out's ring header
	peer []uint64  // the other end's, in in's ring header
	key  holdKey   // this end, for this process's count of its handles
}

// A pipe is one block: a header, then its two rings one after the other,
// each a queue's payload starting on a 64-byte boundary. End 0 sends on
// ring 0 and receives on ring 1; end 1 the other way round. Being one
// block, a pipe needs no more room than two queues of the same size (their
// two block headers are its block header and its own header), and it is
// made, found and freed whole.
//
//	offset  size  field
//	0       4     version (4)
//	4       4     flags: bit 0 one-way (OneWayPipe)
//	8       8     offset of ring 0 in the payload (64)
//	16      8     offset of ring 1: 64 plus ring 0's size rounded up to 64
//	24      40    zero
//
// A one-way pipe's end 0 only sends and its end 1 only receives: its ring
// 1 carries nothing, and is a ring of one message, there for the holders
// of end 1.
//
// The holders of end i are MaxHolders owner words at offset offHolders of
// ring i's header (words that queues leave unused): 0 for a free slot, a
// holder's owner word, a sender's owner word with bit 0 set for an end
// sent (MarshalBinary) and not yet received, or kept (1) for an end that
// its maker left to the next process that opens it by name (NewReceiver,
// NewSender). Version 2 pipes had no holders, version 3 ones no kept
// ends (they took a kept end for one whose sender died): both are
// refused.
const (
	pipeVersion  = 4
	pipeHeader   = 64
	offPipeFlags = 4
	offPipeQ0    = 8
	offPipeQ1    = 16

	pipeOneWay = 1 // flag: a OneWayPipe

	// kept is the holder word of an end kept for the next process that
	// opens the pipe by name. It names no process (pid 0), so no process
	// holds it and none dies with it: it stays until an opener takes it
	// over, or the pipe is freed.
	kept = 1
)

// MaxHolders is how many processes may hold one end of a Pipe at a time,
// an end sent (MarshalBinary) and not yet received counting as held by its
// sender: a process holds an end once however many handles it has to it.
// A dead holder's slot is taken over by the next one; an end kept for an
// opener by name (NewReceiver, NewSender) takes a slot until its opener
// takes it over. Past the limit, OpenPipe, OpenReceiver, OpenSender,
// MarshalBinary and UnmarshalBinary fail with an error matching ErrFull.
const MaxHolders = 6

// pipe is a pipe object whose header and rings were checked.
type pipe struct {
	o     *shm.Object
	l     [2]layout
	rings [2][]byte
	at    [2]uintptr // where rings start in the payload
}

// Pipe makes a duplex pipe carrying messages of type T, with room for n
// messages in each direction (see NewQueue), and returns its two ends,
// both held by this process. It takes as much room as two such Queues.
// Both ends travel to other processes as handles, like every shared
// object: a process that made a Pipe and passed one end to a child
// (through process.New, or on a Queue) closes its own copy of that end,
// as Python programs do, so that the child's death is the end of the
// stream for it.
func Pipe[T any](n int, opts ...shm.Option) (*Conn[T], *Conn[T], error) {
	p, err := makePipe[T](n, false, [2]bool{true, true}, opts)
	if err != nil {
		return nil, nil, err
	}
	return newConn[T](p, 0), newConn[T](p, 1), nil
}

// makePipe makes a pipe of n messages each way, or, oneWay, n from end 0
// to end 1. This process holds the ends that mine says; each of the others
// is kept for the next process that opens the pipe by name, which needs a
// name.
func makePipe[T any](n int, oneWay bool, mine [2]bool, opts []shm.Option) (*pipe, error) {
	if n <= 0 {
		return nil, fmt.Errorf("ringbuffer: %w: a pipe of %d messages", ErrInvalid, n)
	}
	if !mine[0] || !mine[1] {
		if seg, name := shm.Placement(opts...); seg == nil || name == "" {
			return nil, fmt.Errorf("ringbuffer: %w: a pipe whose end is kept for a process that opens it by name needs a name (shm.In)", ErrInvalid)
		}
	}
	me, err := owner.Me()
	if err != nil {
		return nil, fmt.Errorf("ringbuffer: making a pipe: %w", err)
	}
	back, flags := n, uint32(0)
	if oneWay {
		back, flags = 1, pipeOneWay
	}
	var fp uint64
	var ls [2]layout
	for i, m := range [2]int{n, back} {
		if fp, ls[i], err = queueLayout[T](m, false); err != nil {
			return nil, fmt.Errorf("ringbuffer: making a pipe: %w", err)
		}
	}
	span := [2]uint64{align64(ls[0].size()), align64(ls[1].size())}
	o, err := shm.Place(shm.Spec{Kind: shm.KindPipe, Fingerprint: fp, Size: pipeHeader + span[0] + span[1]}, func(b []byte) error {
		le.PutUint32(b, pipeVersion)
		le.PutUint32(b[offPipeFlags:], flags)
		le.PutUint64(b[offPipeQ0:], pipeHeader)
		le.PutUint64(b[offPipeQ1:], pipeHeader+span[0])
		at := uint64(pipeHeader)
		for i := range 2 {
			r := b[at:]
			ls[i].encode(r)
			w := uint64(kept)
			if mine[i] {
				w = me
			}
			le.PutUint64(r[offHolders:], w)
			at += span[i]
		}
		return nil
	}, opts...)
	if err != nil {
		return nil, fmt.Errorf("ringbuffer: making a pipe: %w", err)
	}
	b := o.Bytes()
	p := &pipe{o: o, l: ls}
	at := uint64(pipeHeader)
	for i := range 2 {
		p.rings[i], p.at[i] = b[at:at+span[i]:at+span[i]], uintptr(at)
		at += span[i]
	}
	for end := range 2 {
		if !mine[end] {
			continue
		}
		k := holdKeyOf(o, p.at[end]+offHolders)
		w := &mem.Slice[uint64](p.rings[end], offHolders, MaxHolders)[0]
		hold(k, func(uint64) (*uint64, error) { return w, nil })
	}
	return p, nil
}

// OpenPipe opens the Pipe called name in seg and returns its two ends,
// both held by this process: Close the one this process does not use.
// It waits, until ctx ends, for a pipe that does not exist yet or whose
// creator is still making it.
//
// A program that made a named pipe for another to open holds the other's
// end too until it closes it; closed before the other program opened the
// pipe, that end has no holder, and the pipe's stream ends there. Close it
// once the other program has the pipe (after its first message), or keep
// it, and with it the other's end open. A one-way pipe made with
// NewReceiver or NewSender has no such gap (see OpenSender).
func OpenPipe[T any](ctx context.Context, seg *shm.Segment, name string) (*Conn[T], *Conn[T], error) {
	fp, _ := queueType[T]()
	o, err := seg.Find(ctx, name, shm.Spec{Kind: shm.KindPipe, Fingerprint: fp})
	if err != nil {
		return nil, nil, fmt.Errorf("ringbuffer: opening pipe %q: %w", name, err)
	}
	p, err := checkPipe[T](o, false)
	if err != nil {
		return nil, nil, err
	}
	a, b := newConn[T](p, 0), newConn[T](p, 1)
	if err := a.openHold(); err != nil {
		return nil, nil, err
	}
	if err := b.openHold(); err != nil {
		a.Close()
		return nil, nil, err
	}
	return a, b, nil
}

// checkPipe checks the header of the pipe o, that it is one-way or duplex
// as wanted (shm.ErrKind otherwise), and the headers of its two rings.
func checkPipe[T any](o *shm.Object, wantOneWay bool) (*pipe, error) {
	b := o.Bytes()
	what := fmt.Sprintf("ringbuffer: pipe %q", o.Name())
	at0, at1, oneWay, err := decodePipeHeader(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	if oneWay != wantOneWay {
		kinds := map[bool]string{false: "duplex (Pipe)", true: "one-way (OneWayPipe)"}
		return nil, fmt.Errorf("%s is %s, not %s: %w", what, kinds[oneWay], kinds[wantOneWay], shm.ErrKind)
	}
	p := &pipe{o: o}
	starts, ends := [2]uint64{at0, at1}, [2]uint64{at1, uint64(len(b))}
	for i, at := range starts {
		c, err := attachCore(o, b[at:ends[i]:ends[i]])
		if err == nil && c.l.joinable {
			err = fmt.Errorf("%w: a joinable queue's ring", ErrCorrupt)
		}
		if err == nil {
			err = checkQueueCore[T](c)
		}
		if err != nil {
			return nil, fmt.Errorf("%s, ring %d: %w", what, i, err)
		}
		span := align64(c.l.size())
		if i == 0 && span != at1-at0 {
			return nil, fmt.Errorf("%s: %w: rings of %d bytes %d bytes apart", what, ErrCorrupt, c.l.size(), at1-at0)
		}
		if i == 1 {
			want := p.l[0] // duplex: the same both ways
			if wantOneWay {
				_, want, _ = queueLayout[T](1, false) // one-way: a ring of one message
			}
			if c.l != want {
				return nil, fmt.Errorf("%s: %w: its second ring is not the one its kind has", what, ErrCorrupt)
			}
		}
		p.l[i], p.rings[i], p.at[i] = c.l, b[at:at+span:at+span], uintptr(at)
	}
	return p, nil
}

// decodePipeHeader reads and checks the header of the pipe whose payload
// is b: where its rings start, and whether it is one-way.
func decodePipeHeader(b []byte) (at0, at1 uint64, oneWay bool, err error) {
	if len(b) < pipeHeader {
		return 0, 0, false, fmt.Errorf("%w: a payload of %d bytes", ErrCorrupt, len(b))
	}
	if v := le.Uint32(b); v != pipeVersion {
		return 0, 0, false, fmt.Errorf("%w: header version %d, this build reads %d: %w", ErrCorrupt, v, pipeVersion, shm.ErrVersion)
	}
	for _, c := range b[offPipeQ1+8 : pipeHeader] {
		if c != 0 {
			return 0, 0, false, fmt.Errorf("%w: reserved header bytes are not zero", ErrCorrupt)
		}
	}
	flags := le.Uint32(b[offPipeFlags:])
	if flags&^pipeOneWay != 0 {
		return 0, 0, false, fmt.Errorf("%w: unknown flags %#x", ErrCorrupt, flags)
	}
	at0, at1 = le.Uint64(b[offPipeQ0:]), le.Uint64(b[offPipeQ1:])
	if at0 != pipeHeader || at1 <= at0 || at1%64 != 0 || at1 >= uint64(len(b)) {
		return 0, 0, false, fmt.Errorf("%w: rings at %d and %d of a %d-byte payload", ErrCorrupt, at0, at1, len(b))
	}
	return at0, at1, flags&pipeOneWay != 0, nil
}

// newConn makes a handle of end end of p, which holds nothing yet. Each
// handle has cores of its own: closing it closes them alone.
func newConn[T any](p *pipe, end int) *Conn[T] {
	return &Conn[T]{
		pipe: p.o,
		end:  end,
		out:  newQueueOn[T](mapCore(p.o, p.rings[end], p.l[end])),
		in:   newQueueOn[T](mapCore(p.o, p.rings[1-end], p.l[1-end])),
		mine: mem.Slice[uint64](p.rings[end], offHolders, MaxHolders),
		peer: mem.Slice[uint64](p.rings[1-end], offHolders, MaxHolders),
		key:  holdKeyOf(p.o, p.at[end]+offHolders),
	}
}

// attachConn checks the pipe o and makes a handle of its end end that
// holds nothing yet.
func attachConn[T any](o *shm.Object, end int, oneWay bool) (*Conn[T], error) {
	p, err := checkPipe[T](o, oneWay)
	if err != nil {
		return nil, err
	}
	return newConn[T](p, end), nil
}

// openHold makes this handle, opened by name, one of this process's holds
// of its end. When it is the first, it takes over the end's kept slot if
// the pipe's maker left one, and a holder slot of its own otherwise.
func (c *Conn[T]) openHold() error {
	_, err := hold(c.key, func(me uint64) (*uint64, error) {
		for i := range c.mine {
			if atomic.CompareAndSwapUint64(&c.mine[i], kept, me) {
				return &c.mine[i], nil
			}
		}
		i, err := c.takeSlot(me)
		if err != nil {
			return nil, err
		}
		return &c.mine[i], nil
	})
	return err
}

// takeSlot records w in a free holder slot of this end, or in one whose
// process is dead (never a kept one), and returns its index.
func (c *Conn[T]) takeSlot(w uint64) (int, error) {
	for i := range c.mine {
		if atomic.CompareAndSwapUint64(&c.mine[i], 0, w) {
			return i, nil
		}
	}
	t := owner.For(c.pipe.Bytes())
	for i := range c.mine {
		if old := atomic.LoadUint64(&c.mine[i]); old != 0 && old != kept && !t.Alive(old) && atomic.CompareAndSwapUint64(&c.mine[i], old, w) {
			return i, nil
		}
	}
	return 0, fmt.Errorf("ringbuffer: pipe %q, end %d: %w: %d live processes hold it, or sent it and it was not received yet (MaxHolders)",
		c.pipe.Name(), c.end, ErrFull, MaxHolders)
}

// connTail is what a pipe end's handle adds to the pipe's: the end, the
// holder slot the sender took for the receiver, and the word it wrote
// there.
const connTail = 1 + 1 + 8

// MarshalBinary encodes this end: the pipe's handle, which end it is, and
// a hold on the end for the process that receives it. The hold is the
// sender's until then (it lasts while the sender lives), so that the
// sender may Close its own copy at once, before the receiver has its
// copy. An end encoded and never received stays held until its sender
// dies: Python's pipes do the same. Each call takes such a hold: encode an
// end once for each receiver (a TryPut of a message holding an end, on a
// full queue, encodes it each time).
func (c *Conn[T]) MarshalBinary() ([]byte, error) {
	if c.out.c.closed.Load() {
		return nil, fmt.Errorf("ringbuffer: sending a pipe end: %w", ErrClosed)
	}
	h, err := c.pipe.Handle().MarshalBinary()
	if err != nil {
		return nil, fmt.Errorf("ringbuffer: sending a pipe end: %w", err)
	}
	me, err := owner.Me()
	if err != nil {
		return nil, fmt.Errorf("ringbuffer: sending a pipe end: %w", err)
	}
	w := me | 1
	i, err := c.takeSlot(w)
	if err != nil {
		return nil, err
	}
	b := append(h, byte(c.end), byte(i))
	return le.AppendUint64(b, w), nil
}

// UnmarshalBinary attaches c to the end that MarshalBinary encoded, which
// this process then holds: it takes over the hold the sender made for it,
// or, when that one is gone (its sender died first, or the bytes were
// received before), a holder slot of its own.
func (c *Conn[T]) UnmarshalBinary(b []byte) error {
	x, err := unmarshalConn[T](b, false, -1)
	if err != nil {
		return err
	}
	*c = *x
	return nil
}

// unmarshalConn attaches to the end that MarshalBinary encoded in b, of a
// one-way pipe or of a duplex one, and end want (-1: either), and holds
// it for this process.
func unmarshalConn[T any](b []byte, oneWay bool, want int) (*Conn[T], error) {
	if len(b) < connTail {
		return nil, fmt.Errorf("ringbuffer: a pipe end of %d bytes: %w", len(b), shm.ErrBadHandle)
	}
	tail := b[len(b)-connTail:]
	end, slot, w := int(tail[0]), int(tail[1]), le.Uint64(tail[2:])
	if end > 1 || slot >= MaxHolders || w&1 == 0 || w == kept {
		return nil, fmt.Errorf("ringbuffer: a pipe end: end %d, slot %d, word %#x: %w", end, slot, w, shm.ErrBadHandle)
	}
	if want >= 0 && end != want {
		return nil, fmt.Errorf("ringbuffer: a pipe end: a %s, want a %s: %w", oneWayEnds[end], oneWayEnds[want], shm.ErrKind)
	}
	fp, _ := queueType[T]()
	o, err := shm.Unmarshal(b[:len(b)-connTail], shm.Spec{Kind: shm.KindPipe, Fingerprint: fp})
	if err != nil {
		return nil, fmt.Errorf("ringbuffer: attaching a pipe end: %w", err)
	}
	x, err := attachConn[T](o, end, oneWay)
	if err != nil {
		return nil, err
	}
	sent := &x.mine[slot]
	fresh, err := hold(x.key, func(me uint64) (*uint64, error) {
		if atomic.CompareAndSwapUint64(sent, w, me) {
			return sent, nil
		}
		i, err := x.takeSlot(me)
		if err != nil {
			return nil, err
		}
		return &x.mine[i], nil
	})
	if err != nil {
		return nil, err
	}
	if !fresh {
		// This process held the end already: the hold sent is not needed.
		atomic.CompareAndSwapUint64(sent, w, 0)
	}
	return x, nil
}

// Handle names the pipe (both ends) for another process.
func (c *Conn[T]) Handle() shm.Handle { return c.pipe.Handle() }

// SetCodec replaces the Codec of both directions, for this end.
func (c *Conn[T]) SetCodec(cd Codec[T]) { c.out.SetCodec(cd); c.in.SetCodec(cd) }

// SetSpin makes this end's Send, Recv and Poll spin instead of sleeping.
func (c *Conn[T]) SetSpin(on bool) { c.in.SetSpin(on); c.out.SetSpin(on) }

// peerHeld reports whether some process holds the other end, or has sent
// it and it was not received yet, as far as the holder slots say: a dead
// holder's slot stays until reap clears it.
func (c *Conn[T]) peerHeld() bool {
	for i := range c.peer {
		if atomic.LoadUint64(&c.peer[i]) != 0 {
			return true
		}
	}
	return false
}

// reap clears the holder slots of the other end whose processes are dead.
// A kept slot names no process, and stays.
func (c *Conn[T]) reap() {
	t := owner.For(c.pipe.Bytes())
	for i := range c.peer {
		if w := atomic.LoadUint64(&c.peer[i]); w != 0 && w != kept && !t.Alive(w) {
			atomic.CompareAndSwapUint64(&c.peer[i], w, 0)
		}
	}
}

// Send sends v to the other end, waiting for room until ctx ends. When no
// live process holds the other end, it fails with io.ErrClosedPipe: at
// once when its holders closed it; when the last one died, once this end
// has seen it (in Recv or Poll, or while Send waits for room).
func (c *Conn[T]) Send(ctx context.Context, v T) error {
	q := c.out
	if q.c.closed.Load() {
		return errClosed
	}
	if !c.peerHeld() {
		return errPeerGone
	}
	var frame []byte
	if q.ring == nil {
		var err error
		if frame, err = q.encode(v); err != nil {
			return err
		}
	}
	try := func() error {
		if !c.peerHeld() {
			return errPeerGone
		}
		if q.ring != nil {
			return q.ring.pushShared(&v)
		}
		return q.putFrame(frame)
	}
	err := try()
	if again(err) {
		err = q.c.await(ctx, q.c.full, try, func() error {
			c.reap()
			if !c.peerHeld() {
				return errPeerGone
			}
			return errFull
		})
	}
	return err
}

// Recv receives the next message, waiting for one until ctx ends. Once no
// live process holds the other end (every holder closed it, or died) and
// every message it sent was received, it returns io.EOF. A holder's death
// is seen within a few tens of milliseconds.
func (c *Conn[T]) Recv(ctx context.Context) (T, error) {
	var v T
	err := c.recv(&v)
	if again(err) {
		err = c.in.c.await(ctx, c.in.c.empty, func() error { return c.recv(&v) }, func() error {
			c.reap()
			return c.recv(&v)
		})
	}
	return v, err
}

func (c *Conn[T]) recv(v *T) error {
	err := c.in.get(v)
	if err != errEmpty || c.peerHeld() {
		return err
	}
	// Nobody holds the other end: what the ring holds now is all there
	// will be (a holder commits its messages before it lets go).
	if err = c.in.get(v); err == errEmpty {
		return io.EOF
	}
	return err
}

// Poll waits until Recv would not block (a whole message: not one still
// being written; or the end of the stream), reporting true, or until ctx
// ends, reporting false and ctx.Err(). It takes nothing. With a ctx that
// has ended already it only looks.
func (c *Conn[T]) Poll(ctx context.Context) (bool, error) {
	if c.in.c.closed.Load() {
		return false, fmt.Errorf("ringbuffer: poll: %w", ErrClosed)
	}
	// Ready is a committed message at the head (not one still being
	// written, which Recv would wait for), or the end of the stream, or
	// anything else Recv would return at once (ErrCorrupt).
	ready := func() error {
		_, _, err := c.in.c.front()
		if err == errClosed {
			return err // the handle closed while Poll waited
		}
		if err == errEmpty && !c.peerHeld() {
			if _, _, err = c.in.c.front(); err == errEmpty {
				return nil
			}
		}
		if again(err) {
			return err
		}
		return nil
	}
	idle := func() error {
		c.reap()
		return ready()
	}
	if ready() == nil {
		return true, nil
	}
	if ctx.Err() != nil {
		if idle() == nil {
			return true, nil
		}
		return false, ctx.Err()
	}
	if err := c.in.c.await(ctx, c.in.c.empty, ready, idle); err != nil {
		if err == errClosed {
			err = fmt.Errorf("ringbuffer: poll: %w", ErrClosed)
		}
		return false, err
	}
	return true, nil
}

var _ io.Closer = (*Conn[int])(nil)

// Close releases this handle: later calls through it fail with ErrClosed,
// and calls of it that wait return. Once every handle of this process to
// this end is closed, the process no longer holds the end; when no other
// live process does, the other end's Recv drains what was sent and then
// returns io.EOF, and its Send fails with io.ErrClosedPipe. Closing the
// parent's copy of an end passed to a child leaves the child's working.
// Close is idempotent.
func (c *Conn[T]) Close() error {
	if c.out.c.closed.Swap(true) {
		return nil
	}
	c.in.c.closed.Store(true)
	if c.out.c.unmapped() {
		return nil
	}
	unhold(c.key)
	// After the holder slot is cleared: a peer woken now sees it.
	c.out.c.wakeAll()
	c.in.c.wakeAll()
	return nil
}

// Free destroys the pipe, both ends, for every process: it closes this
// handle and gives the pipe's memory back to its segment. Every process
// must have stopped using either end, Close included: io.EOF says that the
// other end let go, not that its Close has returned (it wakes sleepers
// after), so free a pipe once the other side is joined. A second Free,
// through any handle, fails with shm.ErrStale.
func (c *Conn[T]) Free() error {
	c.Close()
	forgetHolds(c.pipe)
	if err := c.pipe.Free(); err != nil {
		return fmt.Errorf("ringbuffer: freeing pipe %q: %w", c.pipe.Name(), err)
	}
	return nil
}

// String describes the end for logs and debugging: its pipe's handle
// and which end it is.
func (c *Conn[T]) String() string {
	return fmt.Sprintf("Conn(%s, end %d)", c.pipe.Handle(), c.end)
}

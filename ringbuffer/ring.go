package ringbuffer

import (
	"context"
	"fmt"
	"io"
	"reflect"
	"sync/atomic"

	"github.com/shmkit/shmkit/ctypes"
	"github.com/shmkit/shmkit/internal/mem"
	"github.com/shmkit/shmkit/shm"
)

// Ring is a bounded ring of fixed-size slots holding plain values of type T
// (see package ctypes), shared between processes. Its capacity is a power
// of two.
//
// A Ring made by NewRing takes any number of producers and consumers, in
// any processes (multi-producer multi-consumer). One made by NewSPSCRing
// takes one producer and one consumer at a time: its Push and Pop are
// wait-free, with no compare-and-swap at all, but each side belongs to one
// process (ErrBusy for another, until that one dies) and, within it, to one
// goroutine at a time.
//
// A Ring has no Shutdown: a Queue of plain T is the same ring with one.
type Ring[T any] struct {
	c     *core
	slots []T
	prod  spscEnd // single-producer rings: this handle's producer side
	cons  spscEnd // and its consumer side
}

// spscEnd is one side of a single-producer ring in this handle: its own
// cursor, and the last value it saw of the other side's.
type spscEnd struct {
	pos, other uint64
	ok         bool
	lent       bool   // a Loan (a Borrowed) of the slot at pos is out
	plain      bool   // its cursor stores are plain now (see fence.go)
	calm       uint32 // fenced for now: stores without a sleeper left before they are plain again
}

// NewRing makes a multi-producer multi-consumer Ring of at least n slots
// (n is rounded up to a power of two), in the default heap or where opts
// place it.
func NewRing[T any](n int, opts ...shm.Option) (*Ring[T], error) {
	return newRing[T](modeFixed, n, opts)
}

// NewSPSCRing makes a single-producer single-consumer Ring of at least n
// slots (rounded up to a power of two).
func NewSPSCRing[T any](n int, opts ...shm.Option) (*Ring[T], error) {
	return newRing[T](modeSPSC, n, opts)
}

func newRing[T any](m mode, n int, opts []shm.Option) (*Ring[T], error) {
	tl, err := ringType[T]()
	if err != nil {
		return nil, err
	}
	if n <= 0 {
		return nil, fmt.Errorf("ringbuffer: %w: a ring of %d slots", ErrInvalid, n)
	}
	l, err := newLayout(m, uint64(n), uint64(tl.Size), uint64(tl.Size), false)
	if err != nil {
		return nil, fmt.Errorf("ringbuffer: making a ring: %w", err)
	}
	c, err := placeCore(shm.KindRing, tl.Fingerprint, l, opts)
	if err != nil {
		return nil, err
	}
	return newRingOn[T](c), nil
}

// ringType is T's layout: T must be plain (the error names the offending
// field) and not of size 0.
func ringType[T any]() (ctypes.Layout, error) {
	l, err := ctypes.LayoutOf[T]()
	if err != nil {
		return l, fmt.Errorf("ringbuffer: a ring of %s: %w", reflect.TypeFor[T](), err)
	}
	if l.Size == 0 {
		return l, fmt.Errorf("ringbuffer: %w: %s has size 0", ErrInvalid, reflect.TypeFor[T]())
	}
	return l, nil
}

// OpenRing opens the Ring called name in seg (shm.ErrLayout if it holds
// another type than T). It waits, until ctx ends, for a ring that does not
// exist yet or whose creator is still making it.
func OpenRing[T any](ctx context.Context, seg *shm.Segment, name string) (*Ring[T], error) {
	tl, err := ringType[T]()
	if err != nil {
		return nil, err
	}
	o, err := seg.Find(ctx, name, shm.Spec{Kind: shm.KindRing, Fingerprint: tl.Fingerprint})
	if err != nil {
		return nil, fmt.Errorf("ringbuffer: opening ring %q: %w", name, err)
	}
	return attachRing[T](o, tl)
}

// UnmarshalBinary attaches r to the Ring whose handle MarshalBinary
// encoded (how a Ring reaches a child process).
func (r *Ring[T]) UnmarshalBinary(b []byte) error {
	tl, err := ringType[T]()
	if err != nil {
		return err
	}
	o, err := shm.Unmarshal(b, shm.Spec{Kind: shm.KindRing, Fingerprint: tl.Fingerprint})
	if err != nil {
		return fmt.Errorf("ringbuffer: attaching a ring: %w", err)
	}
	x, err := attachRing[T](o, tl)
	if err != nil {
		return err
	}
	*r = *x
	return nil
}

func attachRing[T any](o *shm.Object, tl ctypes.Layout) (*Ring[T], error) {
	c, err := attachCore(o, o.Bytes())
	if err != nil {
		return nil, fmt.Errorf("ringbuffer: ring %q: %w", o.Name(), err)
	}
	if c.l.mode == modeFramed || c.l.elemSize != uint64(tl.Size) {
		return nil, fmt.Errorf("ringbuffer: ring %q holds %d-byte elements, not %d-byte %v: %w", o.Name(), c.l.elemSize, tl.Size, tl, shm.ErrLayout)
	}
	return newRingOn[T](c), nil
}

func newRingOn[T any](c *core) *Ring[T] {
	return &Ring[T]{c: c, slots: mem.Slice[T](c.data, 0, int(c.l.cells))}
}

// MarshalBinary encodes the Ring's handle.
func (r *Ring[T]) MarshalBinary() ([]byte, error) { return r.c.o.Handle().MarshalBinary() }

// Handle names the Ring for another process (see shm.Resolve).
func (r *Ring[T]) Handle() shm.Handle { return r.c.o.Handle() }

// Name is the Ring's name in its segment, "" when it has none.
func (r *Ring[T]) Name() string { return r.c.o.Name() }

var _ io.Closer = (*Ring[int])(nil)

// Close releases this handle: later calls through it fail with ErrClosed,
// and calls of it that wait return. A role of a single-producer ring that
// it held passes to the next handle, of any process, that pushes (pops)
// once no other handle of this process holds it. The ring stays for the
// other handles and processes. Close is idempotent.
func (r *Ring[T]) Close() error {
	r.c.close()
	r.c.dropRoles()
	return nil
}

// Free destroys the Ring for every process: it closes this handle and
// gives the ring's memory back to its segment. Every process must have
// stopped using it; a second Free, through any handle, fails with
// shm.ErrStale.
func (r *Ring[T]) Free() error { return r.c.free() }

// Cap is the number of slots.
func (r *Ring[T]) Cap() int { return int(r.c.l.cells) }

// Len is the number of values in the ring, claimed slots included: a
// snapshot, stale as soon as it returns.
func (r *Ring[T]) Len() int { return int(r.c.length()) }

// SingleProducer reports whether the ring was made by NewSPSCRing.
func (r *Ring[T]) SingleProducer() bool { return r.c.l.mode == modeSPSC }

// SetSpin makes this handle's blocking calls spin on an empty or full ring
// instead of sleeping: the lowest latency, for the price of a core.
// Context cancellation is still seen.
func (r *Ring[T]) SetSpin(on bool) { r.c.spin.Store(on) }

// TryPush adds v if there is room, or returns an error matching ErrFull.
func (r *Ring[T]) TryPush(v T) error { return r.push(&v) }

// Push adds v, waiting for room until ctx ends.
func (r *Ring[T]) Push(ctx context.Context, v T) error {
	if err := r.push(&v); err != errFull {
		return err
	}
	return r.c.await(ctx, r.c.full, func() error { return r.push(&v) }, nil)
}

// TryPop takes the oldest value, or returns an error matching ErrEmpty.
func (r *Ring[T]) TryPop() (T, error) {
	var v T
	err := r.pop(&v)
	return v, err
}

// Pop takes the oldest value, waiting for one until ctx ends.
func (r *Ring[T]) Pop(ctx context.Context) (T, error) {
	var v T
	err := r.pop(&v)
	if again(err) {
		err = r.c.await(ctx, r.c.empty, func() error { return r.pop(&v) }, nil)
	}
	return v, err
}

// PushBatch adds all of vs, in order, as many at a time as there is room
// for: one cursor update for each run of slots. It waits for room until
// ctx ends, and returns how many it added.
func (r *Ring[T]) PushBatch(ctx context.Context, vs []T) (int, error) {
	done := 0
	for done < len(vs) {
		n, err := r.pushBatch(vs[done:])
		done += n
		if err == errFull && n == 0 {
			err = r.c.await(ctx, r.c.full, func() error {
				n, err := r.pushBatch(vs[done:])
				done += n
				if err == nil && done < len(vs) {
					return nil
				}
				return err
			}, nil)
		}
		if err != nil && err != errFull {
			return done, err
		}
	}
	return done, nil
}

// TryPushBatch adds as many of vs as there is room for now, in order, and
// returns how many (an error matching ErrFull when none).
func (r *Ring[T]) TryPushBatch(vs []T) (int, error) { return r.pushBatch(vs) }

// PopBatch takes up to len(dst) values into dst, at least one: it waits
// for the first until ctx ends, then takes what is there, in one cursor
// update for each run.
func (r *Ring[T]) PopBatch(ctx context.Context, dst []T) (int, error) {
	if len(dst) == 0 {
		return 0, nil
	}
	n, err := r.popBatch(dst)
	if again(err) {
		err = r.c.await(ctx, r.c.empty, func() error {
			var err error
			n, err = r.popBatch(dst)
			return err
		}, nil)
	}
	return n, err
}

// TryPopBatch takes up to len(dst) values that are there now (an error
// matching ErrEmpty when none).
func (r *Ring[T]) TryPopBatch(dst []T) (int, error) {
	if len(dst) == 0 {
		return 0, nil
	}
	return r.popBatch(dst)
}

// String describes r for logs and debugging, a snapshot: its handle,
// whether it has one producer or many, and its length over its capacity.
func (r *Ring[T]) String() string {
	kind := "multi-producer"
	if r.SingleProducer() {
		kind = "single-producer"
	}
	return fmt.Sprintf("Ring(%s, %s, %d/%d)", r.Handle(), kind, r.Len(), r.Cap())
}

// The single-producer algorithm: each side owns its cursor and caches the
// other's, reloading it only when the cached value says full or empty.

func (r *Ring[T]) push(v *T) error {
	c := r.c
	if c.seq != nil {
		return r.pushShared(v)
	}
	p := &r.prod
	if !p.held(c, c.tail) { // the fast path, inline
		if err := r.producerSide(); err != nil {
			return err
		}
	}
	if p.pos-p.other >= c.l.cells {
		p.other = atomic.LoadUint64(c.head)
		if p.pos-p.other >= c.l.cells {
			return errFull
		}
	}
	if testHook != nil {
		r.write(p.pos, v)
	} else {
		r.slots[p.pos&c.mask] = *v
	}
	p.pos++
	c.released()
	p.publish(c.tail, p.pos)
	p.notify(c.empty, c.plainTail)
	return nil
}

func (r *Ring[T]) pop(v *T) error {
	c := r.c
	if c.seq != nil {
		return r.popShared(v)
	}
	q := &r.cons
	if !q.held(c, c.head) { // the fast path, inline
		if err := r.consumerSide(); err != nil {
			return err
		}
	}
	if q.pos == q.other {
		q.other = atomic.LoadUint64(c.tail)
		if q.pos == q.other {
			return errEmpty
		}
	}
	*v = r.slots[q.pos&c.mask]
	hook(pointReading)
	c.acquired()
	q.pos++
	q.publish(c.head, q.pos)
	hook(pointTaken)
	q.notify(c.full, c.plainHead)
	return nil
}

func (r *Ring[T]) pushBatch(vs []T) (int, error) {
	c := r.c
	if c.seq != nil {
		return r.pushBatchShared(vs)
	}
	p := &r.prod
	if err := r.producerSide(); err != nil {
		return 0, err
	}
	if len(vs) == 0 {
		return 0, nil
	}
	free := c.l.cells - (p.pos - p.other)
	if free < uint64(len(vs)) {
		p.other = atomic.LoadUint64(c.head)
		free = c.l.cells - (p.pos - p.other)
		if free == 0 {
			return 0, errFull
		}
	}
	n := min(uint64(len(vs)), free)
	r.copyIn(p.pos, vs[:n])
	p.pos += n
	c.released()
	p.publish(c.tail, p.pos)
	p.notify(c.empty, c.plainTail)
	return int(n), nil
}

func (r *Ring[T]) popBatch(dst []T) (int, error) {
	c := r.c
	if c.seq != nil {
		return r.popBatchShared(dst)
	}
	q := &r.cons
	if err := r.consumerSide(); err != nil {
		return 0, err
	}
	if q.other-q.pos < uint64(len(dst)) {
		q.other = atomic.LoadUint64(c.tail)
		if q.pos == q.other {
			return 0, errEmpty
		}
	}
	n := min(uint64(len(dst)), q.other-q.pos)
	r.copyOut(dst[:n], q.pos)
	c.acquired()
	q.pos += n
	q.publish(c.head, q.pos)
	q.notify(c.full, c.plainHead)
	return int(n), nil
}

// producerSide makes sure this handle is the ring's producer, taking the
// role the first time (or from a dead producer), and that no other handle
// has pushed since; consumerSide is the same for the consumer. Their fast
// path, a handle that holds the role already, is held's, which push and
// pop call first: a call of a generic method is not inlined there.
func (r *Ring[T]) producerSide() error {
	if r.prod.held(r.c, r.c.tail) {
		return nil
	}
	return r.prod.claim(r.c, roleProducer, r.c.tail, r.c.head, "pushed to this single-producer ring")
}

func (r *Ring[T]) consumerSide() error {
	if r.cons.held(r.c, r.c.head) {
		return nil
	}
	return r.cons.claim(r.c, roleConsumer, r.c.head, r.c.tail, "popped from this single-consumer ring")
}

// held reports whether side e holds its role of c, whose own cursor is
// mine, and no other handle has moved it since: claim has nothing to do.
func (e *spscEnd) held(c *core, mine *uint64) bool {
	return e.ok && !c.closed.Load() && atomic.LoadUint64(mine) == e.pos
}

// claim makes this handle's side e hold role of c, whose own cursor is mine
// and the other side's theirs: it takes the role the first time (or from a
// dead holder), and fails with ErrBusy, saying what, once another handle
// has moved mine.
func (e *spscEnd) claim(c *core, role int, mine, theirs *uint64, what string) error {
	if c.closed.Load() {
		return errClosed
	}
	if e.lent {
		if role == roleProducer {
			return errLoanOut
		}
		return errBorrowOut
	}
	if !e.ok {
		if err := c.takeRole(role); err != nil {
			return err
		}
		e.startPlain(c, role)
		e.pos, e.other, e.ok = atomic.LoadUint64(mine), atomic.LoadUint64(theirs), true
	}
	if atomic.LoadUint64(mine) != e.pos {
		e.ok = false
		return fmt.Errorf("%w: another handle %s", ErrBusy, what)
	}
	return nil
}

// The multi-producer algorithm (see core.go and doc.go).

func (r *Ring[T]) pushShared(v *T) error {
	c := r.c
	idx, err := c.producer()
	if err != nil {
		return err
	}
	pos, err := c.claim(idx, 1)
	if err != nil {
		return err
	}
	r.write(pos, v)
	c.released()
	c.commit(pos, 1, idx)
	notify(c.empty)
	return nil
}

func (r *Ring[T]) pushBatchShared(vs []T) (int, error) {
	if len(vs) == 0 {
		return 0, nil
	}
	c := r.c
	idx, err := c.producer()
	if err != nil {
		return 0, err
	}
	pos, err := c.claim(idx, 1)
	if err != nil {
		return 0, err
	}
	m := uint64(c.extend(idx, pos, len(vs)-1))
	cut := c.moveTail(pos+1, pos+1+m, idx)
	m -= cut
	n := 1 + m
	r.copyIn(pos, vs[:n])
	c.released()
	for i := range n {
		c.commit(pos+i, 1, idx)
	}
	notify(c.empty)
	return int(n), nil
}

func (r *Ring[T]) popShared(v *T) error {
	c := r.c
	for {
		h, w, err := c.front()
		if err != nil {
			return err
		}
		if _, _, err := c.l.frame(w, 0); err != nil {
			return fmt.Errorf("ringbuffer: position %d: %w", h, err)
		}
		x := r.slots[h&c.mask]
		hook(pointReading)
		if c.release(h, 1) {
			c.acquired()
			*v = x
			return nil
		}
	}
}

func (r *Ring[T]) popBatchShared(dst []T) (int, error) {
	c := r.c
	for {
		h, w, err := c.front()
		if err != nil {
			return 0, err
		}
		if _, _, err := c.l.frame(w, 0); err != nil {
			return 0, fmt.Errorf("ringbuffer: position %d: %w", h, err)
		}
		n := uint64(1)
		for n < uint64(len(dst)) {
			if _, ok := c.next(h + n); !ok {
				break
			}
			n++
		}
		r.copyOut(dst[:n], h)
		hook(pointReading)
		if c.release(h, n) {
			c.acquired()
			return int(n), nil
		}
	}
}

// write copies v into the slot of position pos; tests may stop it half
// way.
func (r *Ring[T]) write(pos uint64, v *T) {
	s := &r.slots[pos&r.c.mask]
	if testHook != nil {
		b := mem.Bytes(v)
		copy(mem.Bytes(s)[:len(b)/2], b)
		hook(pointWriting)
	}
	*s = *v
}

// copyIn copies vs into the slots from position pos on, wrapping.
func (r *Ring[T]) copyIn(pos uint64, vs []T) {
	i := int(pos & r.c.mask)
	n := copy(r.slots[i:], vs)
	if testHook != nil && len(vs) > 0 {
		hook(pointWriting)
	}
	copy(r.slots, vs[n:])
}

// copyOut fills dst from the slots from position pos on, wrapping.
func (r *Ring[T]) copyOut(dst []T, pos uint64) {
	i := int(pos & r.c.mask)
	n := copy(dst, r.slots[i:])
	copy(dst[n:], r.slots)
}

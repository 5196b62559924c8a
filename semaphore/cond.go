package semaphore

import (
	"context"
	"errors"
	"fmt"
	"github.com/shmkit/shmkit/internal/hb"
	"sync/atomic"

	"github.com/shmkit/shmkit/internal/mem"
	"github.com/shmkit/shmkit/internal/park"
	"github.com/shmkit/shmkit/shm"
)

// Cond is a condition variable on a Mutex, shared between processes
// (Python's Condition). Wait releases the mutex, sleeps until Signal or
// Broadcast, and takes the mutex again before it returns.
//
// Signal hands out one wake-up token and Broadcast one per waiter; a
// waiter returns by taking a token. A waiter that starts waiting after a
// Signal may take that token before an earlier one does: as with any
// condition variable, wait in a loop on the condition (WaitFor does).
type Cond struct {
	object
	mu      *Mutex
	tickets *uint64 // high half: tokens handed out; low half: waiters
	seq     *uint32 // bumped by every Signal and Broadcast; the futex word
}

// NewCond makes a Cond on mu. It is placed in mu's segment (unnamed) unless
// opts name it there with shm.In; a Cond and its mutex always share a
// segment, so that opening one finds the other.
func NewCond(mu *Mutex, opts ...shm.Option) (*Cond, error) {
	if mu == nil {
		return nil, fmt.Errorf("%w: nil mutex", ErrInvalid)
	}
	if err := mu.usable("make cond"); err != nil {
		return nil, err
	}
	seg := mu.o.Segment()
	switch at, _ := shm.Placement(opts...); {
	case at == nil:
		opts = []shm.Option{shm.In(seg, "")}
	case at.ID() != seg.ID():
		return nil, fmt.Errorf("%w: a Cond must be placed in its mutex's segment", ErrInvalid)
	}
	h := mu.Handle()
	o, err := place(condInfo, 0, func(b []byte) error {
		*mem.Uint64(b, offMutex) = h.Offset
		*mem.Uint64(b, offMutexGen) = h.Generation
		return nil
	}, opts)
	if err != nil {
		return nil, err
	}
	c := &Cond{mu: mu}
	return c, c.init(o)
}

// OpenCond opens the Cond called name in seg, with its mutex.
func OpenCond(seg *shm.Segment, name string) (*Cond, error) {
	return attach[Cond](find(seg, name, condInfo))
}

// UnmarshalBinary attaches c to the Cond whose handle MarshalBinary
// encoded, and to its mutex.
func (c *Cond) UnmarshalBinary(b []byte) error {
	c.mu = nil
	return unmarshal(c, b, condInfo)
}

// init takes up the Cond's block and, unless c has its mutex already,
// attaches to the mutex the block names, in the same segment.
func (c *Cond) init(o *shm.Object) error {
	b := o.Bytes()
	if c.mu == nil {
		mu, err := OpenMutexAt(o.Segment(), atomic.LoadUint64(mem.Uint64(b, offMutex)), atomic.LoadUint64(mem.Uint64(b, offMutexGen)))
		if err != nil {
			return fmt.Errorf("cond: %w", err)
		}
		c.mu = mu
	}
	c.o, c.tickets, c.seq = o, mem.Uint64(b, offTickets), mem.Uint32(b, offSeq)
	c.closed.Store(false)
	return nil
}

// Mutex is the mutex c is on (Python's Condition's lock).
func (c *Cond) Mutex() *Mutex { return c.mu }

// Wait releases the mutex, which this process must hold (ErrNotOwner
// otherwise), waits for a Signal or Broadcast, and locks the mutex again
// before it returns, even when ctx ends first (it then returns ctx.Err()).
// If the mutex's holder died meanwhile, Wait returns ErrOwnerDead, holding
// the mutex, as Mutex.Lock does.
func (c *Cond) Wait(ctx context.Context) error {
	if err := c.usable("wait"); err != nil {
		return err
	}
	if !c.mu.l.heldHere() {
		return fmt.Errorf("%w: Cond.Wait needs its mutex locked", ErrNotOwner)
	}
	atomic.AddUint64(c.tickets, 1) // one more waiter
	seq := atomic.LoadUint32(c.seq)
	c.mu.Unlock()
	var werr error
	for {
		if c.takeToken() {
			hb.Acquire(c.seq)
			break
		}
		if werr = park.Wait(ctx, c.seq, seq, lostWake); werr == park.ErrTimeout {
			werr = nil
		} else if werr != nil {
			c.leave()
			break
		}
		seq = atomic.LoadUint32(c.seq)
	}
	if err := c.mu.Lock(); err != nil {
		return errors.Join(werr, err)
	}
	return werr
}

// takeToken takes a wake-up token, if one was handed out, leaving.
func (c *Cond) takeToken() bool {
	for {
		t := atomic.LoadUint64(c.tickets)
		if t>>32 == 0 {
			return false
		}
		if atomic.CompareAndSwapUint64(c.tickets, t, t-1<<32-1) {
			return true
		}
	}
}

// leave takes a waiter that gives up off the count. If every waiter held a
// token, one of them was its: it goes with it, so that the count of tokens
// never exceeds that of waiters; otherwise the tokens stay for the others.
func (c *Cond) leave() {
	for {
		t := atomic.LoadUint64(c.tickets)
		w, k := uint32(t), uint32(t>>32)
		if w == 0 {
			return // corrupted; nothing to take
		}
		w--
		k = min(k, w)
		if atomic.CompareAndSwapUint64(c.tickets, t, uint64(k)<<32|uint64(w)) {
			return
		}
	}
}

// WaitFor waits until cond() is true, checking it with the mutex held,
// as Python's wait_for does: it calls Wait while cond() is false. It
// returns nil, ctx.Err(), or ErrOwnerDead (at once, holding the mutex: the
// state cond looks at may be half-updated).
func (c *Cond) WaitFor(ctx context.Context, cond func() bool) error {
	for !cond() {
		if err := c.Wait(ctx); err != nil {
			return err
		}
	}
	return nil
}

// Signal wakes one waiter, if there is one.
func (c *Cond) Signal() error { return c.notify(1) }

// Broadcast wakes every waiter.
func (c *Cond) Broadcast() error { return c.notify(-1) }

// Notify wakes at most n waiters (Python's notify(n)).
func (c *Cond) Notify(n int) error {
	if n < 0 {
		return fmt.Errorf("%w: notify %d", ErrInvalid, n)
	}
	return c.notify(n)
}

func (c *Cond) notify(n int) error {
	if err := c.usable("notify"); err != nil {
		return err
	}
	hb.Release(c.seq)
	for {
		t := atomic.LoadUint64(c.tickets)
		w, k := uint32(t), uint32(t>>32)
		if k >= w || n == 0 {
			return nil // no waiter without a token: no system call
		}
		add := w - k
		if n >= 0 && uint32(n) < add {
			add = uint32(n)
		}
		if atomic.CompareAndSwapUint64(c.tickets, t, t+uint64(add)<<32) {
			break
		}
	}
	atomic.AddUint32(c.seq, 1)
	wake(c.seq)
	return nil
}

// Waiting is the number of waiters that have no token yet.
func (c *Cond) Waiting() int {
	t := atomic.LoadUint64(c.tickets)
	return int(uint32(t) - min(uint32(t), uint32(t>>32)))
}

func (c *Cond) String() string { return fmt.Sprintf("Cond(%s, waiting %d)", c.Handle(), c.Waiting()) }

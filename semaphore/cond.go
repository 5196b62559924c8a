package semaphore

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"

	"github.com/shmkit/shmkit/internal/hb"

	"github.com/shmkit/shmkit/internal/mem"
	"github.com/shmkit/shmkit/internal/park"
	"github.com/shmkit/shmkit/shm"
)

// Cond is a condition variable on a Mutex or an RLock, shared between
// processes (Python's Condition). Wait releases the lock, sleeps until
// Signal or Broadcast, and takes the lock again before it returns. Signal,
// Broadcast and Notify need the lock held by this process, as in Python.
//
// Waiters queue in the order they called Wait, as sync.Cond's do: each
// takes a ticket, and a notification wakes the oldest tickets. Signal wakes
// one waiter that was waiting when it was called, the longest waiting of
// them that is still there; Broadcast wakes every waiter that was waiting,
// each once; a waiter that arrives later never takes an earlier
// notification. A waiter that gave up (its ctx ended) or whose process
// died is passed over, so that a notification is not spent on it.
type Cond struct {
	object
	l      CondLock
	lw     *lockWord // l's word
	wait   *uint32   // the next ticket
	notify *uint32   // tickets before it are notified (or passed over)
	seq    *uint32   // bumped by every change a sleeper waits for; the futex word
	over   *uint32   // waiters beyond the ring
	gen    *uint32   // bumped to wake the waiters beyond the ring
	ring   []byte    // one slot per ticket, by ticket mod slots
	slots  uint32    // a power of two
	tally  tally     // its counters (stats.go)
}

// CondLock is the lock a Cond is on: a *Mutex (Python's
// Condition(Lock())) or an *RLock (Condition(RLock()), Python's default).
// No other type implements it.
type CondLock interface {
	Lock() error                           // as Mutex.Lock
	LockContext(ctx context.Context) error // as Mutex.LockContext
	TryLock() error                        // as Mutex.TryLock
	Unlock()                               // as Mutex.Unlock
	Locked() bool                          // as Mutex.Locked
	Owner() int                            // as Mutex.Owner
	String() string                        // as Mutex.String

	// condLock is the lock's object and word, nil for a nil lock.
	condLock() (*object, *lockWord)
	// heldByMe reports whether this process holds the lock.
	heldByMe() bool
	// releaseAll leaves every level this process holds and unlocks the
	// lock (Python's _release_save), returning how many levels it left.
	releaseAll() uint32
	// restore locks the lock again, entered depth times (Python's
	// _acquire_restore), returning an *OwnerDeadError as Lock does.
	restore(depth uint32) error
}

var (
	_ CondLock = (*Mutex)(nil)
	_ CondLock = (*RLock)(nil)
)

func (m *Mutex) condLock() (*object, *lockWord) {
	if m == nil {
		return nil, nil
	}
	return &m.object, &m.l
}

func (m *Mutex) heldByMe() bool { return m.l.heldHere() }

func (m *Mutex) releaseAll() uint32 {
	m.Unlock()
	return 1
}

func (m *Mutex) restore(uint32) error { return m.Lock() }

func (r *RLock) condLock() (*object, *lockWord) {
	if r == nil {
		return nil, nil
	}
	return &r.object, &r.l
}

// heldByMe is false while another goroutine here is between taking the
// word and setting the depth, or between clearing the depth and releasing
// the word (see begin): it is not this caller's hold.
func (r *RLock) heldByMe() bool { return r.l.heldHere() && atomic.LoadUint32(r.depth) > 0 }

// releaseAll leaves 0 levels, and the word as it is, when another
// goroutine here has just unlocked r for good: re-entry being per
// process, its Unlock could take the caller's hold with it.
func (r *RLock) releaseAll() uint32 {
	hb.Release(r.l.word)
	for {
		d := atomic.LoadUint32(r.depth)
		if d == 0 {
			return 0
		}
		if atomic.CompareAndSwapUint32(r.depth, d, 0) {
			r.l.release()
			return d
		}
	}
}

// restore takes r as a Lock from another process would, never by
// re-entry: another goroutine here that took r meanwhile must unlock it
// first, so that Wait returns with r held at the depth it was entered to.
func (r *RLock) restore(depth uint32) error {
	if err := r.usable("lock"); err != nil {
		return err
	}
	var err error
	if !atomic.CompareAndSwapUint64(r.l.state, 0, r.l.self) {
		if err = r.l.acquire(context.Background()); err != nil && !isOwnerDead(err) {
			return err
		}
	}
	atomic.StoreUint32(r.depth, max(depth, 1))
	hb.Acquire(r.l.word)
	return err
}

// The ring records the waiter that holds each ticket not yet notified, so
// that a notification can pass over those that left or died. A slot is the
// waiter's owner word (8 bytes), its ticket (4) and its state (4). At most
// len(ring) tickets are outstanding: a waiter arriving when that many are
// waits beyond the ring (counted in over), without a ticket, until a
// notification makes room, and takes one then.
const (
	condRingOff  = 2 * lineSize
	condSlotSize = 16
	maxCondSlots = 1 << 16
)

// condSlots is the size of the ring of a new Cond.
const condSlots = 128

// Slot states.
const (
	slotWaiting = 1 // the ticket's holder waits
	slotLeft    = 2 // it gave up: notifications pass over it
)

// NewCond makes a Cond on l, a *Mutex or an *RLock. It is placed in l's
// segment (unnamed) unless opts name it there with shm.In; a Cond and its
// lock always share a segment, so that opening one finds the other.
func NewCond(l CondLock, opts ...shm.Option) (*Cond, error) { return newCond(l, condSlots, opts) }

// newCond is NewCond with a ring of n slots (tests make small ones).
func newCond(l CondLock, n uint32, opts []shm.Option) (*Cond, error) {
	var lo *object
	if l != nil {
		lo, _ = l.condLock()
	}
	if lo == nil {
		return nil, fmt.Errorf("semaphore: cond on a nil lock: %w", ErrInvalid)
	}
	if err := lo.usable("make cond"); err != nil {
		return nil, err
	}
	seg := lo.o.Segment()
	switch at, _ := shm.Placement(opts...); {
	case at == nil:
		opts = []shm.Option{shm.In(seg, "")}
	case at.ID() != seg.ID():
		return nil, fmt.Errorf("semaphore: a cond must be placed in its lock's segment: %w", ErrInvalid)
	}
	h := lo.Handle()
	o, err := place(condInfo, uint64(condRingOff+n*condSlotSize), func(b []byte) error {
		*mem.Uint32(b, offSlots) = n
		*mem.Uint64(b, offLock) = h.Offset
		*mem.Uint64(b, offLockGen) = h.Generation
		*mem.Uint32(b, offLockKind) = uint32(h.Kind)
		return nil
	}, opts)
	if err != nil {
		return nil, err
	}
	c := &Cond{l: l}
	return c, c.init(o)
}

// OpenCond opens the Cond called name in seg, with its lock.
// It waits, as long as ctx allows, while the object's creator is still
// making it.
func OpenCond(ctx context.Context, seg *shm.Segment, name string) (*Cond, error) {
	return attach[Cond](find(ctx, seg, name, condInfo))
}

// UnmarshalBinary attaches c to the Cond whose handle MarshalBinary
// encoded, and to its lock.
func (c *Cond) UnmarshalBinary(b []byte) error {
	c.l = nil
	return unmarshal(c, b, condInfo)
}

// init takes up the Cond's block and, unless c has its lock already,
// attaches to the lock the block names, of the kind it records, in the
// same segment.
func (c *Cond) init(o *shm.Object) error {
	b := o.Bytes()
	if err := condCheck(b); err != nil {
		return fmt.Errorf("semaphore: %w", err)
	}
	n := atomic.LoadUint32(mem.Uint32(b, offSlots))
	if c.l == nil {
		off, gen := atomic.LoadUint64(mem.Uint64(b, offLock)), atomic.LoadUint64(mem.Uint64(b, offLockGen))
		var err error
		switch k := shm.Kind(atomic.LoadUint32(mem.Uint32(b, offLockKind))); k {
		case shm.KindMutex:
			c.l, err = OpenMutexAt(o.Segment(), off, gen)
		case shm.KindRLock:
			c.l, err = openRLockAt(o.Segment(), off, gen)
		default:
			err = fmt.Errorf("semaphore: lock of kind %d: %w", uint32(k), ErrCorrupt)
		}
		if err != nil {
			c.l = nil
			return fmt.Errorf("semaphore: cond's lock: %w", err)
		}
	}
	_, c.lw = c.l.condLock()
	c.o, c.slots = o, n
	c.wait, c.notify, c.seq = mem.Uint32(b, offWait), mem.Uint32(b, offNotify), mem.Uint32(b, offSeq)
	c.over, c.gen = mem.Uint32(b, offOver), mem.Uint32(b, offOverGen)
	c.ring = b[condRingOff : condRingOff+n*condSlotSize]
	c.tally = condCounters.of(b)
	c.closed.Store(false)
	return nil
}

// condCheck refuses a Cond payload whose ring does not fit it.
func condCheck(b []byte) error {
	n := atomic.LoadUint32(mem.Uint32(b, offSlots))
	if n == 0 || n > maxCondSlots || n&(n-1) != 0 || uint64(len(b)) < uint64(condRingOff+n*condSlotSize) {
		return fmt.Errorf("cond of %d slots in %d bytes: %w", n, len(b), ErrCorrupt)
	}
	return nil
}

// Close ends this handle: later calls through it fail with an error
// matching ErrClosed. Its lock is an object of its own: Close leaves it
// (and the handle L returns) as it is. Other handles and processes are
// untouched.
func (c *Cond) Close() error { return c.object.Close() }

// Free destroys the Cond for every process: it closes this handle and
// gives its block back to the segment; its lock, an object of its own,
// stays. Every process must have stopped using it: a waiter left in Wait
// would go on using memory the segment may give to a new object. A second
// Free, through any handle, fails with shm.ErrStale.
func (c *Cond) Free() error { return c.free() }

// L is the lock c is on, a *Mutex or an *RLock (Python's Condition's
// lock), as sync.Cond's L is.
func (c *Cond) L() CondLock { return c.l }

// Mutex is the mutex c is on, nil when c is on an RLock.
func (c *Cond) Mutex() *Mutex {
	m, _ := c.l.(*Mutex)
	return m
}

// slot is ticket t's slot: its holder's owner word, the ticket, the state.
func (c *Cond) slot(t uint32) (owner *uint64, ticket, state *uint32) {
	off := uintptr(t&(c.slots-1)) * condSlotSize
	return mem.Uint64(c.ring, off), mem.Uint32(c.ring, off+8), mem.Uint32(c.ring, off+12)
}

// stateOf is the state the ring records for ticket t, and its holder: 0
// when the slot holds another ticket.
func (c *Cond) stateOf(t uint32) (uint32, uint64) {
	o, tk, st := c.slot(t)
	if atomic.LoadUint32(tk) != t {
		return 0, 0
	}
	return atomic.LoadUint32(st), atomic.LoadUint64(o)
}

// notified reports whether ticket t was notified (or passed over).
func (c *Cond) notified(t uint32) bool { return int32(atomic.LoadUint32(c.notify)-t) > 0 }

// Wait releases the lock, which this process must hold (ErrNotOwner
// otherwise), waits for a Signal or Broadcast, and locks it again before
// it returns, even when ctx ends first. An RLock is released whatever its
// depth and entered to that depth again, as Python's Condition does with
// an RLock.
//
// It returns nil when it was notified, even if ctx ended meanwhile: the
// notification is not lost. It returns ctx.Err() only when it was not, and
// then no notification was spent on it: it is passed over. If the lock's
// holder died meanwhile, Wait returns ErrOwnerDead, holding the lock, as
// Lock does.
func (c *Cond) Wait(ctx context.Context) error {
	if err := c.usable("wait"); err != nil {
		return err
	}
	if !c.l.heldByMe() {
		return fmt.Errorf("%w: Cond.Wait needs its lock held", ErrNotOwner)
	}
	c.tally.add(cdWaits)
	for {
		t, ok, err := c.enter()
		if err != nil {
			return err
		}
		if ok {
			return c.waitTicket(ctx, t)
		}
		if done, err := c.waitBeyond(ctx); done {
			return err
		}
	}
}

// enter takes the next ticket, recording this process as its holder, and
// reports true; or, when the ring is full, counts the caller as waiting
// beyond it and reports false. The lock is held.
func (c *Cond) enter() (uint32, bool, error) {
	t, n := atomic.LoadUint32(c.wait), atomic.LoadUint32(c.notify)
	switch out := t - n; {
	case out > c.slots:
		return 0, false, fmt.Errorf("semaphore: cond with %d tickets outstanding in %d slots: %w", out, c.slots, ErrCorrupt)
	case out == c.slots:
		atomic.AddUint32(c.over, 1)
		return 0, false, nil
	}
	// The slot first, the ticket after: a process killed in between has
	// issued no ticket.
	o, tk, st := c.slot(t)
	atomic.StoreUint64(o, c.lw.self)
	atomic.StoreUint32(st, slotWaiting)
	atomic.StoreUint32(tk, t)
	atomic.StoreUint32(c.wait, t+1)
	return t, true, nil
}

// waitTicket is Wait with ticket t taken.
func (c *Cond) waitTicket(ctx context.Context, t uint32) error {
	depth := c.l.releaseAll()
	werr := c.sleepUntil(ctx, func() bool { return c.notified(t) })
	lerr := c.l.restore(depth)
	if lerr != nil && !isOwnerDead(lerr) {
		return errors.Join(werr, lerr)
	}
	if werr != nil && !c.notified(t) {
		c.leave(t)
		return errors.Join(werr, lerr)
	}
	hb.Acquire(c.seq)
	return lerr
}

// sleepUntil sleeps on seq, with the lock released, until done() holds
// (nil), or the wait fails: ctx ends (its error) or another error.
func (c *Cond) sleepUntil(ctx context.Context, done func() bool) error {
	for {
		seq := atomic.LoadUint32(c.seq)
		if done() {
			return nil
		}
		c.tally.add(cdSleeps)
		if err := park.Wait(ctx, c.seq, seq, lostWake); err != nil && err != park.ErrTimeout {
			return err
		}
	}
}

// leave marks ticket t, not notified, as given up, so that notifications
// pass over it, and takes the given-up tickets off both ends of the queue.
// The lock is held.
func (c *Cond) leave(t uint32) {
	if _, tk, st := c.slot(t); atomic.LoadUint32(tk) == t {
		atomic.StoreUint32(st, slotLeft)
	}
	n, w := atomic.LoadUint32(c.notify), atomic.LoadUint32(c.wait)
	n0 := n
	for n != w {
		if s, _ := c.stateOf(n); s != slotLeft {
			break
		}
		n++
	}
	w0 := w
	for w != n {
		if s, _ := c.stateOf(w - 1); s != slotLeft {
			break
		}
		w-- // its slot is rewritten by the next enter, before wait moves
	}
	atomic.StoreUint32(c.wait, w)
	if n != n0 {
		atomic.StoreUint32(c.notify, n)
	}
	if (n != n0 || w != w0) && atomic.LoadUint32(c.over) != 0 { // room in the ring
		atomic.AddUint32(c.seq, 1)
		c.tally.add(cdWakes)
		wake(c.seq)
	}
}

// waitBeyond is Wait beyond a full ring: it sleeps until a notification
// reaches the waiters beyond the ring (done, with Lock's error), ctx ends
// (done, with ctx.Err()), or there is room in the ring (not done: the
// caller takes a ticket). The lock is held on return.
func (c *Cond) waitBeyond(ctx context.Context) (bool, error) {
	gen := atomic.LoadUint32(c.gen)
	depth := c.l.releaseAll()
	werr := c.sleepUntil(ctx, func() bool {
		return atomic.LoadUint32(c.gen) != gen || atomic.LoadUint32(c.wait)-atomic.LoadUint32(c.notify) < c.slots
	})
	lerr := c.l.restore(depth)
	if lerr != nil && !isOwnerDead(lerr) {
		return true, errors.Join(werr, lerr)
	}
	if o := atomic.LoadUint32(c.over); o > 0 {
		atomic.StoreUint32(c.over, o-1)
	}
	switch {
	case atomic.LoadUint32(c.gen) != gen:
		hb.Acquire(c.seq)
		return true, lerr
	case werr != nil || lerr != nil:
		return true, errors.Join(werr, lerr)
	}
	return false, nil
}

// WaitFor waits until cond() is true, checking it with the lock held,
// as Python's wait_for does: it calls Wait while cond() is false. When ctx
// ends it looks at cond() once more, and returns nil if it holds, else
// ctx.Err(). It returns ErrOwnerDead at once, holding the lock: the state
// cond looks at may be half-updated.
func (c *Cond) WaitFor(ctx context.Context, cond func() bool) error {
	for !cond() {
		if err := c.Wait(ctx); err != nil {
			if ctx.Err() != nil && errors.Is(err, ctx.Err()) && !isOwnerDead(err) && cond() {
				return nil
			}
			return err
		}
	}
	return nil
}

// Signal wakes the longest waiting of the waiters, if there is one. The
// lock must be held by this process (ErrNotOwner otherwise).
func (c *Cond) Signal() error { return c.notifyN(1, "Signal") }

// Broadcast wakes every waiter. The lock must be held by this process
// (ErrNotOwner otherwise).
func (c *Cond) Broadcast() error { return c.notifyN(-1, "Broadcast") }

// Notify wakes the n longest waiting of the waiters, or all of them if
// fewer wait (Python's notify(n)). The lock must be held by this process
// (ErrNotOwner otherwise).
func (c *Cond) Notify(n int) error {
	if n < 0 {
		return fmt.Errorf("semaphore: notify %d: %w", n, ErrInvalid)
	}
	return c.notifyN(n, "Notify")
}

// notifyN notifies the n oldest tickets (all for n < 0), passing over
// those whose holders gave up or died. If fewer held tickets, it wakes
// every waiter beyond the ring.
func (c *Cond) notifyN(n int, what string) error {
	if err := c.usable("notify"); err != nil {
		return err
	}
	if !c.l.heldByMe() {
		return fmt.Errorf("%w: Cond.%s needs its lock held", ErrNotOwner, what)
	}
	if n == 0 {
		return nil
	}
	hb.Release(c.seq)
	n0, w := atomic.LoadUint32(c.notify), atomic.LoadUint32(c.wait)
	if w-n0 > c.slots {
		return fmt.Errorf("semaphore: cond with %d tickets outstanding in %d slots: %w", w-n0, c.slots, ErrCorrupt)
	}
	next, woke := n0, 0
	if n < 0 {
		next = w
	}
	for ; next != w && woke < n; next++ {
		switch s, o := c.stateOf(next); {
		case s == slotLeft:
		case s == slotWaiting && !c.alive(o):
			c.tally.add(cdSkipped)
		default:
			woke++
		}
	}
	if woke > 0 {
		c.tally.addN(cdNotified, uint64(woke))
	}
	changed := next != n0
	if changed {
		atomic.StoreUint32(c.notify, next)
	}
	if (n < 0 || woke < n) && atomic.LoadUint32(c.over) != 0 {
		atomic.AddUint32(c.gen, 1)
		changed = true
	}
	if changed {
		atomic.AddUint32(c.seq, 1)
		c.tally.add(cdWakes)
		wake(c.seq)
	}
	return nil
}

// Waiting is the number of waiters not yet notified. A waiter whose
// process died counts until a notification passes over it.
func (c *Cond) Waiting() int {
	n, w := atomic.LoadUint32(c.notify), atomic.LoadUint32(c.wait)
	k := int(atomic.LoadUint32(c.over))
	if w-n > c.slots {
		return k
	}
	for t := n; t != w; t++ {
		if s, _ := c.stateOf(t); s != slotLeft {
			k++
		}
	}
	return k
}

// String describes c for logs and debugging, a snapshot: its handle and
// its waiters not yet notified.
func (c *Cond) String() string { return fmt.Sprintf("Cond(%s, waiting %d)", c.Handle(), c.Waiting()) }

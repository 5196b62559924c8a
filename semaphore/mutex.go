package semaphore

import (
	"context"
	"fmt"
	"sync/atomic"

	"github.com/shmkit/shmkit/internal/hb"

	"github.com/shmkit/shmkit/internal/mem"
	"github.com/shmkit/shmkit/shm"
)

// Mutex is a mutual exclusion lock shared between processes, which
// survives the death of its holder: the next locker takes it and is told
// so with ErrOwnerDead. As with sync.Mutex, any goroutine of the holding
// process may unlock it.
type Mutex struct {
	object
	l lockWord
}

// NewMutex makes an unlocked Mutex, in the default heap or where opts place
// it (shm.In).
func NewMutex(opts ...shm.Option) (*Mutex, error) {
	return attach[Mutex](place(mutexInfo, 0, nil, opts))
}

// OpenMutex opens the Mutex called name in seg.
// It waits, as long as ctx allows, while the object's creator is still
// making it.
func OpenMutex(ctx context.Context, seg *shm.Segment, name string) (*Mutex, error) {
	return attach[Mutex](find(ctx, seg, name, mutexInfo))
}

// OpenMutexAt attaches to the Mutex whose payload is at offset off in seg,
// made with block generation gen (its Handle's Offset and Generation): how
// an object that keeps its Mutex beside it in a segment finds it again.
// It checks what UnmarshalBinary checks.
func OpenMutexAt(seg *shm.Segment, off, gen uint64) (*Mutex, error) {
	m := new(Mutex)
	if err := attachAt(m, seg, off, gen, mutexInfo); err != nil {
		return nil, err
	}
	return m, nil
}

// openRLockAt is OpenMutexAt for an RLock (a Cond on one finds it so).
func openRLockAt(seg *shm.Segment, off, gen uint64) (*RLock, error) {
	r := new(RLock)
	if err := attachAt(r, seg, off, gen, rlockInfo); err != nil {
		return nil, err
	}
	return r, nil
}

// attachAt attaches x to the object of kind k whose payload is at offset
// off in seg, made with block generation gen.
func attachAt(x initer, seg *shm.Segment, off, gen uint64, k kindInfo) error {
	if seg == nil {
		return fmt.Errorf("semaphore: attaching %v: %w: nil segment", k.kind, ErrInvalid)
	}
	b, err := shm.Handle{Segment: seg.ID(), Name: seg.Name(), Offset: off,
		Kind: k.kind, Fingerprint: k.fp, Generation: gen}.MarshalBinary()
	if err != nil {
		return fmt.Errorf("semaphore: attaching %v: %w", k.kind, err)
	}
	return unmarshal(x, b, k)
}

// UnmarshalBinary attaches m to the Mutex whose handle MarshalBinary
// encoded, as a child process does with a Mutex passed to it.
func (m *Mutex) UnmarshalBinary(b []byte) error { return unmarshal(m, b, mutexInfo) }

func (m *Mutex) init(o *shm.Object) error {
	return initLock(&m.object, &m.l, o, offWake, &mutexCounters, "mutex")
}

// initLock takes up the block of a Mutex, an RLock or an RWMutex, whose
// lock's wake sequence is at offset wake, and whose counters c places.
func initLock(x *object, l *lockWord, o *shm.Object, wake uintptr, c *counters, kind string) error {
	self, err := me()
	if err != nil {
		return err
	}
	x.o = o
	x.closed.Store(false)
	*l = newLockWord(o.Bytes(), wake, c, self, kind)
	return nil
}

// Close ends this handle: later calls through it fail with an error
// matching ErrClosed. A lock held through it stays held; Unlock still
// releases it. Other handles and processes are untouched.
func (m *Mutex) Close() error {
	m.l.close()
	return m.object.Close()
}

// Free destroys the Mutex for every process: it closes this handle and
// gives its block back to the segment. Every process must have stopped
// using it. One still waiting in Lock or LockContext when it is freed
// wakes and fails with shm.ErrStale, as does any later Lock or TryLock
// through another handle, until the segment gives the block to a new
// object. A lock held when it is freed is released; its holder's Unlock
// does nothing. A second Free, through any handle, fails with
// shm.ErrStale.
func (m *Mutex) Free() error { return freeLock(&m.object, &m.l) }

// freeLock is Free of a Mutex or an RLock: the block must still be this
// handle's (a second Free must not write over a new object's memory).
func freeLock(x *object, l *lockWord) error {
	l.close()
	x.closed.Store(true)
	if err := x.live(); err != nil {
		return err
	}
	l.free()
	return x.free()
}

// Lock locks m, waiting as long as it takes. It returns nil, or an
// *OwnerDeadError (matching ErrOwnerDead) when it took the lock from a
// process that died holding it: the caller holds the lock then too.
func (m *Mutex) Lock() error {
	// Fast path: an open handle and a free lock, taken by one compare-and-swap (see the lock
	// word in lockword.go). The slow path is apart, so that this inlines.
	if m.l.unheld == 0 && atomic.CompareAndSwapUint64(m.l.state, 0, m.l.self) {
		if hb.Enabled {
			hb.Acquire(m.l.word)
		}
		return nil
	}
	return m.lockForever()
}

// lockForever is Lock's slow path, kept out of line: inlined here, its
// context.Background() would push Lock past the inlining budget.
//
//go:noinline
func (m *Mutex) lockForever() error { return m.lockSlow(context.Background()) }

// LockContext locks m, or gives up when ctx ends, returning ctx.Err()
// without the lock.
func (m *Mutex) LockContext(ctx context.Context) error {
	if m.l.unheld == 0 && atomic.CompareAndSwapUint64(m.l.state, 0, m.l.self) { // fast path, as Lock's
		if hb.Enabled {
			hb.Acquire(m.l.word)
		}
		return nil
	}
	return m.lockSlow(ctx)
}

// lockSlow is the slow path of Lock and LockContext.
func (m *Mutex) lockSlow(ctx context.Context) error {
	if err := m.usable("lock"); err != nil {
		return err
	}
	err := m.l.acquire(ctx)
	if err == nil || isOwnerDead(err) {
		hb.Acquire(m.l.word)
	}
	return err
}

// TryLock locks m if that needs no waiting, and returns nil. A lock whose
// holder died is taken too, with an *OwnerDeadError; a lock held by a
// live process (this one included) is not, and TryLock returns an error
// matching ErrWouldBlock.
func (m *Mutex) TryLock() error {
	if m.l.unheld == 0 && atomic.CompareAndSwapUint64(m.l.state, 0, m.l.self) { // fast path, as Lock's
		if hb.Enabled {
			hb.Acquire(m.l.word)
		}
		return nil
	}
	return m.tryLockSlow()
}

// tryLockSlow is the slow path of TryLock.
func (m *Mutex) tryLockSlow() error {
	if err := m.usable("lock"); err != nil {
		return err
	}
	err := m.l.try()
	if err == nil || isOwnerDead(err) {
		hb.Acquire(m.l.word)
	}
	return err
}

// Unlock unlocks m. Unlocking a Mutex that is not locked, or that another
// process holds, panics, as sync.Mutex does.
func (m *Mutex) Unlock() {
	if hb.Enabled {
		hb.Release(m.l.word)
	}
	// Fast path: nobody sleeps (contended clear), one compare-and-swap.
	if !atomic.CompareAndSwapUint64(m.l.state, m.l.self, 0) {
		m.l.release()
	}
}

// Owner is the pid of the process holding m, 0 when it is free.
func (m *Mutex) Owner() int { return m.l.owner() }

// String describes m for logs and debugging, a snapshot: its handle and
// the pid of its holder, 0 when it is free.
func (m *Mutex) String() string { return fmt.Sprintf("Mutex(%s, owner %d)", m.Handle(), m.Owner()) }

// RLock is a lock that the process holding it may take again: each Lock
// needs its Unlock. Re-entry is per process, not per goroutine: every
// goroutine of the holding process passes (there are no goroutine ids);
// use a Mutex to keep them apart. A holder's death is handled as for Mutex.
type RLock struct {
	object
	l     lockWord
	depth *uint32
}

// NewRLock makes an unlocked RLock, in the default heap or where opts place
// it.
func NewRLock(opts ...shm.Option) (*RLock, error) {
	return attach[RLock](place(rlockInfo, 0, nil, opts))
}

// OpenRLock opens the RLock called name in seg.
// It waits, as long as ctx allows, while the object's creator is still
// making it.
func OpenRLock(ctx context.Context, seg *shm.Segment, name string) (*RLock, error) {
	return attach[RLock](find(ctx, seg, name, rlockInfo))
}

// UnmarshalBinary attaches r to the RLock whose handle MarshalBinary
// encoded.
func (r *RLock) UnmarshalBinary(b []byte) error { return unmarshal(r, b, rlockInfo) }

func (r *RLock) init(o *shm.Object) error {
	if err := initLock(&r.object, &r.l, o, offRWake, &rlockCounters, "rlock"); err != nil {
		return err
	}
	r.depth = mem.Uint32(o.Bytes(), offDepth)
	return nil
}

// Close ends this handle, as Mutex.Close does.
func (r *RLock) Close() error {
	r.l.close()
	return r.object.Close()
}

// Free destroys the RLock for every process, as Mutex.Free does.
func (r *RLock) Free() error { return freeLock(&r.object, &r.l) }

// maxDepth bounds re-entry, far beyond any real nesting.
const maxDepth = 1 << 30

// Lock locks r, or enters it again if this process holds it. It returns
// an *OwnerDeadError as Mutex.Lock does.
func (r *RLock) Lock() error { return r.LockContext(context.Background()) }

// LockContext is Lock that gives up when ctx ends, returning ctx.Err().
func (r *RLock) LockContext(ctx context.Context) error {
	if done, err := r.begin(); done || err != nil {
		return err
	}
	var err error
	if !atomic.CompareAndSwapUint64(r.l.state, 0, r.l.self) {
		if err = r.l.acquire(ctx); err != nil && !isOwnerDead(err) {
			return err
		}
	}
	r.entered()
	return err
}

// TryLock is Lock that never waits: where Lock would wait it returns an
// error matching ErrWouldBlock, without the lock.
func (r *RLock) TryLock() error {
	if done, err := r.begin(); done || err != nil {
		return err
	}
	var err error
	if !atomic.CompareAndSwapUint64(r.l.state, 0, r.l.self) {
		if err = r.l.try(); err != nil && !isOwnerDead(err) {
			return err
		}
	}
	r.entered()
	return err
}

// entered records the first level of a lock this process has just taken.
func (r *RLock) entered() {
	atomic.StoreUint32(r.depth, 1)
	hb.Acquire(r.l.word)
}

// begin is the start of LockContext and TryLock: done, with the error,
// when r is not usable; else it adds one level if this process holds r
// (done). A depth of 0 under our own owner word means another goroutine
// here is between taking the word and setting the depth, or releasing it:
// then this Lock waits like any other.
func (r *RLock) begin() (done bool, err error) {
	if err := r.usable("lock"); err != nil {
		return true, err
	}
	if !r.l.heldHere() {
		return false, nil
	}
	for {
		d := atomic.LoadUint32(r.depth)
		switch {
		case d == 0:
			return false, nil
		case d >= maxDepth:
			return false, fmt.Errorf("semaphore: rlock entered %d times: %w", d, ErrInvalid)
		case atomic.CompareAndSwapUint32(r.depth, d, d+1):
			return true, nil
		}
	}
}

// Unlock leaves one level of r, and unlocks it when that was the last.
// Unlocking an RLock this process does not hold panics.
func (r *RLock) Unlock() {
	hb.Release(r.l.word)
	if !r.l.heldHere() {
		r.l.release() // panics with the reason, or does nothing if r was freed
		return
	}
	for {
		d := atomic.LoadUint32(r.depth)
		switch {
		case d == 0:
			panic("semaphore: unlock of unlocked rlock")
		case d > 1:
			if atomic.CompareAndSwapUint32(r.depth, d, d-1) {
				return
			}
		case atomic.CompareAndSwapUint32(r.depth, 1, 0):
			r.l.release()
			return
		}
	}
}

// Owner is the pid of the process holding r, 0 when it is free.
func (r *RLock) Owner() int { return r.l.owner() }

// Depth is how many times the holder has entered r.
func (r *RLock) Depth() int {
	if r.Owner() == 0 {
		return 0
	}
	return int(atomic.LoadUint32(r.depth))
}

// String describes r for logs and debugging, a snapshot: its handle, the
// pid of its holder (0 when it is free) and how deep it is held.
func (r *RLock) String() string {
	return fmt.Sprintf("RLock(%s, owner %d, depth %d)", r.Handle(), r.Owner(), r.Depth())
}

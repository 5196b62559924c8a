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
func OpenMutexAt(seg *shm.Segment, off, gen uint64) (*Mutex, error) {
	if seg == nil {
		return nil, fmt.Errorf("%w: nil segment", ErrInvalid)
	}
	o, err := seg.Attach(shm.Handle{Segment: seg.ID(), Name: seg.Name(), Offset: off,
		Kind: mutexInfo.kind, Fingerprint: mutexInfo.fp, Generation: gen})
	if err != nil {
		return nil, fmt.Errorf("attaching mutex: %w", err)
	}
	return attach[Mutex](o, checkSize(o, mutexInfo.size))
}

// UnmarshalBinary attaches m to the Mutex whose handle MarshalBinary
// encoded, as a child process does with a Mutex passed to it.
func (m *Mutex) UnmarshalBinary(b []byte) error { return unmarshal(m, b, mutexInfo) }

func (m *Mutex) init(o *shm.Object) error {
	self, err := me()
	if err != nil {
		return err
	}
	m.o = o
	m.closed.Store(false)
	m.l = newLockWord(o.Bytes(), self)
	return nil
}

// Lock locks m, waiting as long as it takes. It returns nil, or
// ErrOwnerDead when it took the lock from a process that died holding it:
// the caller holds the lock then too.
func (m *Mutex) Lock() error { return m.LockContext(context.Background()) }

// LockContext locks m, or gives up when ctx ends, returning ctx.Err()
// without the lock.
func (m *Mutex) LockContext(ctx context.Context) error {
	if m.closed.Load() {
		return m.usable("lock")
	}
	if atomic.CompareAndSwapUint64(m.l.state, 0, m.l.self) { // fast path
		hb.Acquire(m.l.word)
		return nil
	}
	err := m.l.acquire(ctx)
	if err == nil || isOwnerDead(err) {
		hb.Acquire(m.l.word)
	}
	return err
}

// TryLock locks m if that needs no waiting, reporting whether it did. A
// lock whose holder died is taken, with ErrOwnerDead.
func (m *Mutex) TryLock() (bool, error) {
	if err := m.usable("lock"); err != nil {
		return false, err
	}
	if atomic.CompareAndSwapUint64(m.l.state, 0, m.l.self) { // fast path
		hb.Acquire(m.l.word)
		return true, nil
	}
	ok, err := m.l.try()
	if ok {
		hb.Acquire(m.l.word)
	}
	return ok, err
}

// Unlock unlocks m. Unlocking a Mutex that is not locked, or that another
// process holds, panics, as sync.Mutex does.
func (m *Mutex) Unlock() {
	hb.Release(m.l.word)
	if atomic.CompareAndSwapUint64(m.l.state, m.l.self, 0) { // fast path
		return
	}
	m.l.release("Mutex")
}

// Owner is the pid of the process holding m, 0 when it is free.
func (m *Mutex) Owner() int { return m.l.owner() }

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
	self, err := me()
	if err != nil {
		return err
	}
	r.o = o
	r.closed.Store(false)
	r.l = newLockWord(o.Bytes(), self)
	r.depth = mem.Uint32(o.Bytes(), offDepth)
	return nil
}

// maxDepth bounds re-entry, far beyond any real nesting.
const maxDepth = 1 << 30

// Lock locks r, or enters it again if this process holds it. It returns
// ErrOwnerDead as Mutex.Lock does.
func (r *RLock) Lock() error { return r.LockContext(context.Background()) }

// LockContext is Lock that gives up when ctx ends, returning ctx.Err().
func (r *RLock) LockContext(ctx context.Context) error {
	if err := r.usable("lock"); err != nil {
		return err
	}
	if ok, err := r.reenter(); ok || err != nil {
		return err
	}
	var err error
	if !atomic.CompareAndSwapUint64(r.l.state, 0, r.l.self) {
		if err = r.l.acquire(ctx); err != nil && !isOwnerDead(err) {
			return err
		}
	}
	atomic.StoreUint32(r.depth, 1)
	hb.Acquire(r.l.word)
	return err
}

// TryLock is Lock that never waits, reporting whether it locked.
func (r *RLock) TryLock() (bool, error) {
	if err := r.usable("lock"); err != nil {
		return false, err
	}
	if ok, err := r.reenter(); ok || err != nil {
		return ok, err
	}
	ok, err := atomic.CompareAndSwapUint64(r.l.state, 0, r.l.self), error(nil)
	if !ok {
		ok, err = r.l.try()
	}
	if ok {
		atomic.StoreUint32(r.depth, 1)
		hb.Acquire(r.l.word)
	}
	return ok, err
}

// reenter adds one level if this process holds r. A depth of 0 under our
// own owner word means another goroutine here is between taking the word
// and setting the depth, or releasing it: then this Lock waits like any
// other.
func (r *RLock) reenter() (bool, error) {
	if !r.l.heldHere() {
		return false, nil
	}
	for {
		d := atomic.LoadUint32(r.depth)
		switch {
		case d == 0:
			return false, nil
		case d >= maxDepth:
			return false, fmt.Errorf("%w: RLock entered %d times", ErrInvalid, d)
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
		r.l.release("RLock") // panics with the reason
		return
	}
	for {
		d := atomic.LoadUint32(r.depth)
		switch {
		case d == 0:
			panic("semaphore: unlock of unlocked RLock")
		case d > 1:
			if atomic.CompareAndSwapUint32(r.depth, d, d-1) {
				return
			}
		case atomic.CompareAndSwapUint32(r.depth, 1, 0):
			r.l.release("RLock")
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

func (r *RLock) String() string {
	return fmt.Sprintf("RLock(%s, owner %d, depth %d)", r.Handle(), r.Owner(), r.Depth())
}

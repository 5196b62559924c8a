package semaphore

import (
	"errors"
	"sync"
	"sync/atomic"
)

// Locked reports whether a process holds m now, this one included: a
// snapshot, stale as soon as it returns (Python's locked()). A lock whose
// holder died is still locked until the next locker takes it over.
func (m *Mutex) Locked() bool { return m.l.locked() }

// Locked reports whether a process holds r now, as Mutex.Locked does.
func (r *RLock) Locked() bool { return r.l.locked() }

// locked reports whether the word names a holder (a freed lock has none).
func (l *lockWord) locked() bool {
	w := atomic.LoadUint64(l.state)
	return w != 0 && w != freed
}

// Locker is a sync.Locker view of a Mutex, an RLock or either side of an
// RWMutex, for APIs that take one. Its Lock cannot return an error, so:
//
//   - A lock taken from a holder that died is taken all the same, as
//     Mutex.Lock does: Lock returns holding it, and LastOwnerDead, asked
//     while holding it, gives the *OwnerDeadError. The caller that must
//     repair what the dead holder left half-done looks there.
//   - Any other failure (a closed handle, a freed lock, a corrupt word)
//     panics with the error, as misuse of a sync.Mutex panics: Lock cannot
//     return without the lock.
//
// Unlock is the lock's Unlock, and panics as it does.
type Locker struct {
	lock   func() error
	unlock func()
	entry  func() bool // whether the Lock just done took the lock (not a re-entry)
	dead   atomic.Pointer[OwnerDeadError]
}

var _ sync.Locker = (*Locker)(nil)

// Locker returns a sync.Locker view of m. Each call makes a new view with
// its own LastOwnerDead.
func (m *Mutex) Locker() *Locker {
	return &Locker{lock: m.Lock, unlock: m.Unlock, entry: func() bool { return true }}
}

// Locker returns a sync.Locker view of r, as Mutex.Locker does. A Lock
// that re-enters r leaves LastOwnerDead as the Lock that took it set it.
func (r *RLock) Locker() *Locker {
	return &Locker{lock: r.Lock, unlock: r.Unlock, entry: func() bool { return r.Depth() == 1 }}
}

// Locker returns a sync.Locker view of rw's write lock, as Mutex.Locker
// does.
func (rw *RWMutex) Locker() *Locker {
	return &Locker{lock: rw.Lock, unlock: rw.Unlock, entry: func() bool { return true }}
}

// RLocker returns a sync.Locker view of rw's read lock (sync.RWMutex's
// RLocker): its Lock is RLock and its Unlock RUnlock. Several goroutines
// may hold the read lock at once: LastOwnerDead is that of the last
// RLock through this view, whoever asks.
func (rw *RWMutex) RLocker() *Locker {
	return &Locker{lock: rw.RLock, unlock: rw.RUnlock, entry: func() bool { return true }}
}

// Lock locks the lock, waiting as long as it takes. It panics when the
// lock cannot be taken at all: see Locker.
func (k *Locker) Lock() {
	err := k.lock()
	var od *OwnerDeadError
	if err != nil && !errors.As(err, &od) {
		panic(err)
	}
	if k.entry() {
		k.dead.Store(od)
	}
}

// Unlock unlocks the lock.
func (k *Locker) Unlock() { k.unlock() }

// LastOwnerDead is the *OwnerDeadError of the Lock through this view that
// took the lock now held: nil when it took the lock from no holder or a
// live one. Asked by the holder, it is exact; asked by anyone else, it is
// the last such Lock's, which another Lock may be replacing.
func (k *Locker) LastOwnerDead() error {
	if od := k.dead.Load(); od != nil {
		return od
	}
	return nil
}

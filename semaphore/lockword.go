package semaphore

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync/atomic"

	"github.com/shmkit/shmkit/internal/hb"
	"github.com/shmkit/shmkit/internal/mem"
	"github.com/shmkit/shmkit/internal/owner"
	"github.com/shmkit/shmkit/internal/park"
	"github.com/shmkit/shmkit/internal/sys"
)

// lockWord is the robust lock under Mutex and RLock: the owner word
// described in object.go, at offset 0 of the object.
type lockWord struct {
	state *uint64
	word  *uint32 // the low half of *state: the futex word
	self  uint64  // this process's owner word
	live  *owner.Table
	gate  gate
}

func newLockWord(b []byte, self uint64) lockWord {
	return lockWord{state: mem.Uint64(b, offState), word: mem.Uint32(b, offState), self: self,
		live: owner.For(b), gate: newGate()}
}

// try takes a free lock, or one whose owner died (reporting ErrOwnerDead).
func (l *lockWord) try() (bool, error) {
	cur := atomic.LoadUint64(l.state)
	if cur == 0 {
		return atomic.CompareAndSwapUint64(l.state, 0, l.self), nil
	}
	if cur&^contended != l.self && !l.live.Alive(cur) && atomic.CompareAndSwapUint64(l.state, cur, l.self|contended) {
		return true, ownerDead(cur)
	}
	return false, nil
}

func ownerDead(w uint64) error { return fmt.Errorf("%w (pid %d)", ErrOwnerDead, pidOf(w)) }

// acquire is the slow path of taking the lock. It spins briefly, then lets
// one goroutine of this process at a time sleep on the word, marked
// contended so that the holder's unlock wakes it. A sleeper that has waited
// for recheck looks whether the owner is still alive, and takes the lock
// from a dead one.
func (l *lockWord) acquire(ctx context.Context) error {
	for i := 0; i < spin; i++ {
		if atomic.LoadUint64(l.state) == 0 && atomic.CompareAndSwapUint64(l.state, 0, l.self) {
			return nil
		}
		runtime.Gosched()
	}
	if err := l.gate.enter(ctx); err != nil {
		return err
	}
	defer l.gate.leave()
	check := true // whether to look at the owner's liveness: on arrival, then after each full sleep
	for {
		cur := atomic.LoadUint64(l.state)
		switch {
		case cur == 0:
			// Others may sleep too: take it contended, so that our unlock
			// wakes one of them.
			if atomic.CompareAndSwapUint64(l.state, 0, l.self|contended) {
				return nil
			}
			continue
		case check && cur&^contended != l.self && !l.live.Alive(cur):
			if atomic.CompareAndSwapUint64(l.state, cur, l.self|contended) {
				return ownerDead(cur)
			}
			continue
		case cur&contended == 0:
			if !atomic.CompareAndSwapUint64(l.state, cur, cur|contended) {
				continue
			}
			cur |= contended
		}
		err := park.Wait(ctx, l.word, uint32(cur), recheck)
		check = errors.Is(err, park.ErrTimeout)
		if err != nil && !check {
			l.passOn()
			return err
		}
	}
}

// passOn runs when a sleeper gives up: it may have taken the wake-up meant
// for another sleeper, so it hands it on (a free lock) or makes sure the
// holder's unlock will (a held one).
func (l *lockWord) passOn() {
	for {
		cur := atomic.LoadUint64(l.state)
		if cur == 0 {
			sys.FutexWake(l.word, 1)
			return
		}
		if cur&contended != 0 || atomic.CompareAndSwapUint64(l.state, cur, cur|contended) {
			return
		}
	}
}

// release frees a lock this process holds, waking a sleeper if it was
// contended. Releasing a free lock, or one another process holds, panics
// as sync.Mutex does: it is a bug in the caller, and going on would break
// the lock for every process.
func (l *lockWord) release(what string) {
	for {
		cur := atomic.LoadUint64(l.state)
		switch cur {
		case l.self:
			if atomic.CompareAndSwapUint64(l.state, cur, 0) {
				return
			}
		case l.self | contended:
			if atomic.CompareAndSwapUint64(l.state, cur, 0) {
				sys.FutexWake(l.word, 1)
				return
			}
		case 0:
			panic("semaphore: unlock of unlocked " + what)
		default:
			panic(fmt.Sprintf("semaphore: unlock of %s held by process %d", what, pidOf(cur)))
		}
	}
}

// tryRelease is release for a caller that cannot trust the word: when
// this process does not hold the lock, it leaves the word as it is and
// returns ErrNotOwner instead of panicking.
func (l *lockWord) tryRelease() error {
	for {
		cur := atomic.LoadUint64(l.state)
		if cur&^contended != l.self {
			return fmt.Errorf("%w: its word names process %d (word %#x)", ErrNotOwner, pidOf(cur), cur)
		}
		if atomic.CompareAndSwapUint64(l.state, cur, 0) {
			if cur&contended != 0 {
				sys.FutexWake(l.word, 1)
			}
			return nil
		}
	}
}

// UnlockOwned is Unlock for a caller that must not panic when the shared
// word was overwritten (shared memory another process corrupted): if this
// process does not hold m, it returns ErrNotOwner and leaves the word as
// it is. Otherwise it unlocks m as Unlock does.
func (m *Mutex) UnlockOwned() error {
	hb.Release(m.l.word)
	return m.l.tryRelease()
}

// HeldHere reports whether m's word names this process as its holder. A
// caller that serialises its own goroutines on m, and so knows that none
// of them holds it, can tell from it that the word was overwritten (Lock
// would then wait for ever).
func (m *Mutex) HeldHere() bool { return m.l.heldHere() }

// owner is the pid of the holder, 0 when the lock is free.
func (l *lockWord) owner() int { return pidOf(atomic.LoadUint64(l.state)) }

// heldHere reports whether this process holds the lock.
func (l *lockWord) heldHere() bool { return atomic.LoadUint64(l.state)&^contended == l.self }

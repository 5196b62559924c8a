package semaphore

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync/atomic"
	"time"

	"github.com/shmkit/shmkit/internal/hb"
	"github.com/shmkit/shmkit/internal/mem"
	"github.com/shmkit/shmkit/internal/owner"
	"github.com/shmkit/shmkit/internal/park"
	"github.com/shmkit/shmkit/internal/sys"
	"github.com/shmkit/shmkit/shm"
)

// The lock word: the state of a Mutex or an RLock, one 64-bit word at
// payload offset 0, read and written atomically.
//
//	 63              32 31               1   0
//	+------------------+------------------+---+
//	| holder's pid     | holder's nonce   | c |   held
//	+------------------+------------------+---+
//	| 0                                       |   free
//	+-----------------------------------------+
//	| all ones                                |   freed (Free)
//	+-----------------------------------------+
//
// A held lock's word is the owner word of the process holding it
// (package owner: the pid as it sees itself and a random nonce), with c,
// contended, set when waiters may sleep: the holder's unlock then bumps
// the lock's wake sequence, a 32-bit word beside it, and makes a
// FUTEX_WAKE system call on it.
//
// Sleepers sleep on the wake sequence, not on the lock word: a holder that
// lets go and takes the lock again at once changes the lock word (held,
// free, held) without waking anyone, and a waiter that slept on the lock
// word would find it changed every time it tried to sleep, and spin
// through FUTEX_WAIT instead, marking the word contended on each turn, so
// that nearly every unlock of the running holder became a system call.
// Asleep on the sequence, a waiter costs the holder one FUTEX_WAKE per
// sleep: the unlock that wakes it clears c, and its next unlocks are
// plain compare-and-swaps until the waiter, awake, has looked and marked
// the word again; and one woken to find the lock taken again waits
// unmarked a while before it marks it (minPause), as sync.Mutex keeps the
// lock with the running goroutine rather than waking a waiter per unlock.
//
// Taking the lock and recording its holder are one compare-and-swap, 0 to
// the locker's word: the fast path, inlined into Lock and TryLock, and
// Unlock's is its reverse. Anything else (a held lock, a contended one, a
// dead holder, a closed handle, a freed lock) takes the slow paths below.
// Free leaves the freed word, which no process can hold (no pid is
// 0xffffffff), so that a process still waiting on the lock fails with
// shm.ErrStale instead of taking it.
const (
	contended = 1
	freed     = ^uint64(0)
)

// lockWord is the robust lock under Mutex and RLock.
type lockWord struct {
	state *uint64
	word  *uint32 // the low half of *state, the race detector's key
	wake  *uint32 // the wake sequence: sleepers' futex word
	// sleepers counts the waiters asleep on wake, or about to be: an
	// unlock makes a FUTEX_WAKE only when there are some, and a waiter
	// takes the lock marked contended only when others still sleep. One
	// killed asleep stays counted: the lock then does as if someone
	// always slept, a FUTEX_WAKE per contended unlock, which is slower,
	// never wrong.
	sleepers *uint32
	self     uint64 // this process's owner word
	// unheld is 0 while the handle is open and closedWord after Close,
	// which makes the fast paths fail and the slow path report ErrClosed.
	// The fast paths read it with a plain load and swap the lock word from
	// the constant 0: with an atomic load beside the compare-and-swap,
	// Lock costs 81 against the compiler's inlining budget of 80
	// (go build -gcflags=-m=2). It changes once, by an atomic store in
	// Close, and a word-sized load sees one of its two values; a Lock
	// racing with a Close of the same handle may go either way, as a read
	// racing with a file's Close does.
	unheld uint64
	live   *owner.Table
	tally  tally // the lock's counters (stats.go), added to on slow paths only
	gate   gate
	kind   string // "mutex" or "rlock", for errors and panics
}

// closedWord is a lock word no process writes (pid 0, contended).
const closedWord = contended

// close makes the fast path fail from now on.
func (l *lockWord) close() { atomic.StoreUint64(&l.unheld, closedWord) }

// newLockWord is the lock whose owner word is at offset offState of b,
// whose wake sequence is at offset wake and its sleepers' count right
// after it, and whose counters c places.
func newLockWord(b []byte, wake uintptr, c *counters, self uint64, kind string) lockWord {
	return lockWord{state: mem.Uint64(b, offState), word: mem.Uint32(b, offState),
		wake: mem.Uint32(b, wake), sleepers: mem.Uint32(b, wake+4), self: self,
		live: owner.For(b), tally: c.of(b), gate: newGate(), kind: kind}
}

// errLockHeld is what TryLock returns for a lock someone holds. It is made
// once, so that a TryLock that fails does not allocate.
var errLockHeld = fmt.Errorf("semaphore: lock held: %w", ErrWouldBlock)

// try takes a free lock, or one whose owner died (an *OwnerDeadError);
// else it returns errLockHeld.
func (l *lockWord) try() error {
	cur := atomic.LoadUint64(l.state)
	switch {
	case cur == 0:
		if atomic.CompareAndSwapUint64(l.state, 0, l.self) {
			return nil
		}
	case cur == freed:
		return l.freedError()
	case cur&^contended != l.self && !l.live.Alive(cur):
		if atomic.CompareAndSwapUint64(l.state, cur, l.self|contended) {
			return l.ownerDead(cur)
		}
	}
	return errLockHeld
}

// ownerDead is the error of a lock taken over from the dead holder w.
func (l *lockWord) ownerDead(w uint64) error {
	l.tally.add(cOwnerDeaths)
	return &OwnerDeadError{Pid: pidOf(w), Owner: w &^ contended, Lock: l.kind}
}

// freedError is the error of a lock whose word is the freed mark. Garbage
// written over the word (another process's bug) can look the same, and
// no process could ever hold the lock then either: the error matches
// both shm.ErrStale and ErrCorrupt.
func (l *lockWord) freedError() error {
	return fmt.Errorf("semaphore: %s word marks it freed (%w), unless it was overwritten (%w)", l.kind, shm.ErrStale, ErrCorrupt)
}

// free leaves the freed word and wakes every sleeper, so that each looks
// and fails. Goroutines that hold the lock here lose it.
func (l *lockWord) free() {
	atomic.StoreUint64(l.state, freed)
	l.wakeAll()
}

// wakeOne bumps the wake sequence and wakes one sleeper, if any: after a
// contended lock was let go. A sleeper counts itself before it reads the
// sequence, so that one whose read came before the bump is counted here.
func (l *lockWord) wakeOne() {
	atomic.AddUint32(l.wake, 1)
	if atomic.LoadUint32(l.sleepers) != 0 {
		l.tally.add(cWakes)
		sys.FutexWake(l.wake, 1)
	}
}

// wakeAll bumps the wake sequence and wakes every sleeper, so that each
// looks at the word again.
func (l *lockWord) wakeAll() {
	atomic.AddUint32(l.wake, 1)
	sys.FutexWake(l.wake, -1)
}

// acquire is the slow path of taking the lock. It spins briefly, then lets
// one goroutine of this process at a time sleep on the wake sequence, the
// word marked contended so that the holder's unlock wakes it. A sleeper
// that has waited for recheck looks whether the owner is still alive, and
// takes the lock from a dead one.
func (l *lockWord) acquire(ctx context.Context) error {
	for i := 0; i < spin; i++ {
		if atomic.LoadUint64(l.state) == 0 && atomic.CompareAndSwapUint64(l.state, 0, l.self) {
			return nil
		}
		runtime.Gosched()
	}
	l.tally.add(cWaits)
	if err := l.gate.enter(ctx); err != nil {
		return err
	}
	defer l.gate.leave()
	check := true // whether to look at the owner's liveness: on arrival, then after each full sleep
	woke := false // whether the last sleep ended in a wake-up
	pause := minPause
	for {
		seq := atomic.LoadUint32(l.wake) // for the pause below
		cur := atomic.LoadUint64(l.state)
		switch {
		case cur == freed:
			return l.freedError()
		case cur == 0:
			// Others may sleep too (the unlock that cleared the mark
			// woke one): take it marked then, so that our unlock wakes
			// the next. Taken marked with nobody asleep, its unlock
			// would make a system call for nothing.
			w := l.self
			if atomic.LoadUint32(l.sleepers) != 0 {
				w |= contended
			}
			if atomic.CompareAndSwapUint64(l.state, 0, w) {
				return nil
			}
			continue
		case check && cur&^contended != l.self && !l.live.Alive(cur):
			if atomic.CompareAndSwapUint64(l.state, cur, l.self|contended) {
				return l.ownerDead(cur)
			}
			continue
		case woke && cur&contended == 0:
			// Woken, and the lock was taken again before we looked: its
			// holder lets go and takes it back at once. Marked again now,
			// the word would make its next unlock a FUTEX_WAKE, the
			// lock's cost a system call per few holds; sleep unmarked a
			// while first (its unlocks stay plain), longer each time.
			woke = false
			l.tally.add(cSleeps)
			err := park.Wait(ctx, l.wake, seq, pause)
			pause = min(2*pause, maxPause)
			if err != nil && !errors.Is(err, park.ErrTimeout) {
				l.passOn()
				return err
			}
			continue
		case cur&contended == 0:
			if !atomic.CompareAndSwapUint64(l.state, cur, cur|contended) {
				continue
			}
			cur |= contended
		}
		err := l.sleep(ctx, cur)
		check = errors.Is(err, park.ErrTimeout)
		if err != nil && !check {
			l.passOn()
			return err
		}
		woke = err == nil
	}
}

// sleep sleeps on the wake sequence, for at most recheck, while the lock
// word is cur (held, marked contended), counted among the sleepers. The
// count and the sequence are read before the word: an unlock that clears
// the mark this look sees bumps the sequence later, so that the sleep
// returns at once or is woken, and finds the count with this sleeper in
// it, so that it makes the FUTEX_WAKE.
func (l *lockWord) sleep(ctx context.Context, cur uint64) error {
	atomic.AddUint32(l.sleepers, 1)
	defer atomic.AddUint32(l.sleepers, ^uint32(0))
	seq := atomic.LoadUint32(l.wake)
	if atomic.LoadUint64(l.state) != cur {
		return nil
	}
	l.tally.add(cSleeps)
	return park.Wait(ctx, l.wake, seq, recheck)
}

// A waiter woken for a lock that was taken again before it looked sleeps
// unmarked for minPause, doubled each time up to maxPause: then a holder
// that keeps taking the lock back pays a FUTEX_WAKE at most every pause,
// and a lock let go for good is seen within one.
const (
	minPause = 50 * time.Microsecond
	maxPause = time.Millisecond
)

// passOn runs when a sleeper gives up: it may have taken the wake-up meant
// for another sleeper, so it hands it on (a free lock) or makes sure the
// holder's unlock will (a held one).
func (l *lockWord) passOn() {
	for {
		cur := atomic.LoadUint64(l.state)
		if cur == 0 {
			l.wakeOne()
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
// the lock for every process. Releasing a freed lock does nothing.
func (l *lockWord) release() {
	for {
		cur := atomic.LoadUint64(l.state)
		switch cur {
		case l.self:
			if atomic.CompareAndSwapUint64(l.state, cur, 0) {
				return
			}
		case l.self | contended:
			if atomic.CompareAndSwapUint64(l.state, cur, 0) {
				l.wakeOne()
				return
			}
		case freed:
			return
		case 0:
			panic("semaphore: unlock of unlocked " + l.kind)
		default:
			panic(fmt.Sprintf("semaphore: unlock of %s held by process %d", l.kind, pidOf(cur)))
		}
	}
}

// tryRelease is release for a caller that cannot trust the word: when
// this process does not hold the lock, it leaves the word as it is and
// returns ErrNotOwner instead of panicking.
func (l *lockWord) tryRelease() error {
	for {
		cur := atomic.LoadUint64(l.state)
		switch {
		case cur == freed:
			return l.freedError()
		case cur&^contended != l.self:
			return fmt.Errorf("%w: its word names process %d (word %#x)", ErrNotOwner, pidOf(cur), cur)
		}
		if atomic.CompareAndSwapUint64(l.state, cur, 0) {
			if cur&contended != 0 {
				l.wakeOne()
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

// owner is the pid of the holder, 0 when the lock is free (or freed).
func (l *lockWord) owner() int {
	if w := atomic.LoadUint64(l.state); w != freed {
		return pidOf(w)
	}
	return 0
}

// heldHere reports whether this process holds the lock.
func (l *lockWord) heldHere() bool { return atomic.LoadUint64(l.state)&^contended == l.self }

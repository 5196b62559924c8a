package semaphore

import (
	"errors"

	"github.com/shmkit/shmkit/internal/errs"
	"github.com/shmkit/shmkit/shm"
)

var (
	// ErrNotSupported: shmkit has no implementation for this system.
	ErrNotSupported = shm.ErrNotSupported
	// ErrOwnerDead: the process that held the lock died holding it. The
	// caller now holds the lock; the data it guards may be half-updated.
	// The error returned is an *OwnerDeadError naming the dead owner.
	ErrOwnerDead = errs.ErrOwnerDead
	// ErrNotOwner: the calling process does not hold the lock it must hold
	// (Cond.Wait without the mutex).
	ErrNotOwner = errors.New("semaphore: lock not held by this process")
	// ErrOverRelease: a Bounded semaphore was released past its bound, or
	// any semaphore past the largest count it can hold. The count is
	// unchanged.
	ErrOverRelease = errors.New("semaphore: released too many times")
	// ErrBrokenBarrier: the barrier was aborted, reset, timed out or lost a
	// party while this waiter was in it, or was already broken.
	ErrBrokenBarrier = errors.New("semaphore: broken barrier")
	// ErrInvalid: an argument is out of range (a negative count, a barrier
	// of no parties, an acquisition no release could ever satisfy). The
	// same value as shm.ErrInvalid.
	ErrInvalid = shm.ErrInvalid
	// ErrCorrupt: a shared word holds a value no shmkit process writes.
	// The same value as shm.ErrCorrupt.
	ErrCorrupt = shm.ErrCorrupt
	// ErrWouldBlock: TryLock or TryAcquire found the lock or units taken.
	// The same value as shm.ErrWouldBlock.
	ErrWouldBlock = shm.ErrWouldBlock
	// ErrClosed: this handle was closed (it matches os.ErrClosed). The same
	// value as shm.ErrClosed.
	ErrClosed = shm.ErrClosed
)

// OwnerDeadError is the error that reports ErrOwnerDead: it names the
// dead owner, and matches ErrOwnerDead with errors.Is.
type OwnerDeadError = errs.OwnerDeadError

func isOwnerDead(err error) bool { return errors.Is(err, ErrOwnerDead) }

package semaphore

import (
	"errors"

	"github.com/shmkit/shmkit/shm"
)

var (
	// ErrNotSupported: shmkit has no implementation for this system.
	ErrNotSupported = shm.ErrNotSupported
	// ErrOwnerDead: the process that held the lock died holding it. The
	// caller now holds the lock; the data it guards may be half-updated.
	ErrOwnerDead = errors.New("semaphore: previous owner died holding the lock")
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
	// of no parties, an acquisition no release could ever satisfy).
	ErrInvalid = errors.New("semaphore: invalid argument")
	// ErrCorrupt: a shared word holds a value no shmkit process writes.
	ErrCorrupt = errors.New("semaphore: corrupt shared state")
)

func isOwnerDead(err error) bool { return errors.Is(err, ErrOwnerDead) }

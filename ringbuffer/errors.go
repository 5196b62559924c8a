package ringbuffer

import (
	"errors"
	"fmt"
	"io"

	"github.com/shmkit/shmkit/shm"
)

var (
	// ErrNotSupported: shmkit has no implementation for this system.
	// The same value as shm.ErrNotSupported.
	ErrNotSupported = shm.ErrNotSupported
	// ErrEmpty: TryPop or TryGet found nothing to take. The same value as
	// shm.ErrEmpty.
	ErrEmpty = shm.ErrEmpty
	// ErrFull: TryPush or TryPut found no room; Pipe, OpenPipe, OpenReceiver,
	// OpenSender or a pipe end's MarshalBinary or UnmarshalBinary found
	// MaxHolders processes holding the end. The same value as shm.ErrFull.
	ErrFull = shm.ErrFull
	// ErrClosed: this handle was closed (it matches os.ErrClosed). The same
	// value as shm.ErrClosed.
	ErrClosed = shm.ErrClosed
	// ErrShutdown: the queue was shut down (Put), or shut down and drained
	// (Get). The same value as shm.ErrShutdown.
	ErrShutdown = shm.ErrShutdown
	// ErrTooLarge: a message that could never fit in the ring, even empty.
	ErrTooLarge = errors.New("ringbuffer: message larger than the ring")
	// ErrBusy: a single-producer (or single-consumer) ring already has a
	// live producer (consumer) in another process or handle.
	ErrBusy = errors.New("ringbuffer: role taken by another live handle")
	// ErrTooManyProducers: every producer slot of the queue belongs to a
	// live process (see MaxProducers).
	ErrTooManyProducers = errors.New("ringbuffer: too many producer processes")
	// ErrInvalid: an argument is out of range (a capacity of 0, say).
	// The same value as shm.ErrInvalid.
	ErrInvalid = shm.ErrInvalid
	// ErrCorrupt: shared memory holds what no shmkit process writes: a
	// header or a frame that fails its checks.
	// The same value as shm.ErrCorrupt.
	ErrCorrupt = shm.ErrCorrupt
	// ErrNegativeTaskDone: TaskDone called more often than messages were
	// put (Python's "task_done() called too many times").
	ErrNegativeTaskDone = errors.New("ringbuffer: TaskDone called more times than Put")
)

// The errors of the hot paths, made once: a Try call that finds the ring
// full or empty returns one of these without allocating, and the package
// compares them by identity.
var (
	errFull     = fmt.Errorf("ringbuffer: %w", ErrFull)
	errEmpty    = fmt.Errorf("ringbuffer: %w", ErrEmpty)
	errShutdown = fmt.Errorf("ringbuffer: %w", ErrShutdown)
	errClosed   = fmt.Errorf("ringbuffer: %w", ErrClosed)
	// errPending: the frame at the head is claimed by a live producer that
	// has not committed it yet.
	errPending = fmt.Errorf("ringbuffer: %w (a message is being written)", ErrEmpty)
	// errPeerGone: Send to a pipe end that no live process holds.
	errPeerGone = fmt.Errorf("ringbuffer: send: %w", io.ErrClosedPipe)
)

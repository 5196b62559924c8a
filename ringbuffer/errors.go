package ringbuffer

import (
	"errors"

	"github.com/shmkit/shmkit/shm"
)

var (
	// ErrNotSupported: shmkit has no implementation for this system.
	ErrNotSupported = shm.ErrNotSupported
	// ErrEmpty: TryPop or TryGet found nothing to take.
	ErrEmpty = errors.New("ringbuffer: empty")
	// ErrFull: TryPush or TryPut found no room.
	ErrFull = errors.New("ringbuffer: full")
	// ErrClosed: the queue was closed (Put), or closed and drained (Get).
	// A Pipe's Recv reports io.EOF instead.
	ErrClosed = errors.New("ringbuffer: closed")
	// ErrTooLarge: a message that could never fit in the ring, even empty.
	ErrTooLarge = errors.New("ringbuffer: message larger than the ring")
	// ErrBusy: a single-producer (or single-consumer) ring already has a
	// live producer (consumer) in another process or handle.
	ErrBusy = errors.New("ringbuffer: role taken by another live handle")
	// ErrTooManyProducers: every producer slot of the queue belongs to a
	// live process (see MaxProducers).
	ErrTooManyProducers = errors.New("ringbuffer: too many producer processes")
	// ErrInvalid: an argument is out of range (a capacity of 0, say).
	ErrInvalid = errors.New("ringbuffer: invalid argument")
	// ErrCorrupt: shared memory holds what no shmkit process writes: a
	// header or a frame that fails its checks.
	ErrCorrupt = errors.New("ringbuffer: corrupt shared state")
	// ErrNegativeTaskDone: TaskDone called more often than Get.
	ErrNegativeTaskDone = errors.New("ringbuffer: TaskDone called more times than Get")
)

package shmtest_test

import (
	"io"

	"github.com/shmkit/shmkit/array"
	"github.com/shmkit/shmkit/ringbuffer"
	"github.com/shmkit/shmkit/semaphore"
	"github.com/shmkit/shmkit/shm"
	"github.com/shmkit/shmkit/shmap"
	"github.com/shmkit/shmkit/value"
)

// freer is the lifecycle every shared type of shmkit has: Close releases
// this process's handle, Free destroys the object for every process.
type freer interface {
	io.Closer
	Free() error
}

// shutdowner is a queue that stops for every process.
type shutdowner interface {
	freer
	Shutdown() error
	IsShutdown() bool
}

var (
	_ freer      = (*shm.Segment)(nil)
	_ freer      = (*value.Value[int64])(nil)
	_ freer      = (*array.Array[int64])(nil)
	_ freer      = (*semaphore.Mutex)(nil)
	_ freer      = (*semaphore.RLock)(nil)
	_ freer      = (*semaphore.Semaphore)(nil)
	_ freer      = (*semaphore.Event)(nil)
	_ freer      = (*semaphore.Cond)(nil)
	_ freer      = (*semaphore.Barrier)(nil)
	_ freer      = (*semaphore.RWMutex)(nil)
	_ freer      = (*ringbuffer.Ring[int64])(nil)
	_ shutdowner = (*ringbuffer.Queue[int64])(nil)
	_ shutdowner = (*ringbuffer.JoinableQueue[int64])(nil)
	_ freer      = (*ringbuffer.Conn[int64])(nil)
	_ freer      = (*shmap.Map[int64, int64])(nil)
	_ freer      = (*shmap.List[int64])(nil)
)

// The Try calls return an error where their blocking twin would wait.
var (
	_ func() error               = (*semaphore.Mutex)(nil).TryLock
	_ func() error               = (*semaphore.RLock)(nil).TryLock
	_ func() error               = (*semaphore.RWMutex)(nil).TryLock
	_ func() error               = (*semaphore.RWMutex)(nil).TryRLock
	_ func(int) error            = (*semaphore.Semaphore)(nil).TryAcquire
	_ func(int64) error          = (*ringbuffer.Ring[int64])(nil).TryPush
	_ func() (int64, error)      = (*ringbuffer.Ring[int64])(nil).TryPop
	_ func(int64) error          = (*ringbuffer.Queue[int64])(nil).TryPut
	_ func() (int64, error)      = (*ringbuffer.Queue[int64])(nil).TryGet
	_ func([]int64) (int, error) = (*ringbuffer.Ring[int64])(nil).TryPushBatch
	_ func() int                 = (*ringbuffer.Ring[int64])(nil).Len
	_ func() int                 = (*ringbuffer.Queue[int64])(nil).Len
	_ func() int                 = (*array.Array[int64])(nil).Len
	_ func() int                 = (*shmap.Map[int64, int64])(nil).Len
	_ func() int                 = (*shmap.List[int64])(nil).Len
)

//go:build linux && (amd64 || arm64)

package shmtest_test

import (
	"io"
	"testing"

	"github.com/shmkit/shmkit/array"
	"github.com/shmkit/shmkit/internal/shmtest"
	"github.com/shmkit/shmkit/ringbuffer"
	"github.com/shmkit/shmkit/semaphore"
	"github.com/shmkit/shmkit/shm"
	"github.com/shmkit/shmkit/shmap"
	"github.com/shmkit/shmkit/value"
)

// TestCloseAfterSegment: closing an object's handle after its segment
// was closed (a cleanup in the wrong order) neither faults nor fails,
// whatever the type and whatever roles or ends the handle held.
func TestCloseAfterSegment(t *testing.T) {
	makers := map[string]func(o shm.Option) (io.Closer, error){
		"Queue": func(o shm.Option) (io.Closer, error) { return ringbuffer.NewQueue[int64](8, o) },
		"JoinableQueue": func(o shm.Option) (io.Closer, error) {
			return ringbuffer.NewJoinableQueue[string](8, o)
		},
		"Ring": func(o shm.Option) (io.Closer, error) { return ringbuffer.NewRing[int64](8, o) },
		"SPSCRing": func(o shm.Option) (io.Closer, error) {
			r, err := ringbuffer.NewSPSCRing[int64](8, o)
			if err == nil {
				err = r.TryPush(1) // takes the producer's role
			}
			return r, err
		},
		"Conn": func(o shm.Option) (io.Closer, error) {
			a, _, err := ringbuffer.Pipe[int64](8, o)
			return a, err
		},
		"Receiver": func(o shm.Option) (io.Closer, error) {
			r, _, err := ringbuffer.OneWayPipe[int64](8, o)
			return r, err
		},
		"Mutex":   func(o shm.Option) (io.Closer, error) { return semaphore.NewMutex(o) },
		"RWMutex": func(o shm.Option) (io.Closer, error) { return semaphore.NewRWMutex(o) },
		"Value":   func(o shm.Option) (io.Closer, error) { return value.New(int64(1), o) },
		"Array":   func(o shm.Option) (io.Closer, error) { return array.New[int64](4, o) },
		"Map":     func(o shm.Option) (io.Closer, error) { return shmap.New[int64, int64](o) },
	}
	for name, make := range makers {
		t.Run(name, func(t *testing.T) {
			seg := shmtest.Seg(t)
			c, err := make(shm.In(seg, "x"))
			if err != nil {
				t.Fatal(err)
			}
			if err := seg.Close(); err != nil {
				t.Fatal(err)
			}
			if err := c.Close(); err != nil {
				t.Fatalf("Close after the segment's: %v", err)
			}
		})
	}
}

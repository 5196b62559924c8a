//go:build linux && (amd64 || arm64)

package shmtest_test

import (
	"context"
	"testing"

	"github.com/shmkit/shmkit/array"
	"github.com/shmkit/shmkit/internal/shmtest"
	"github.com/shmkit/shmkit/internal/testproc"
	"github.com/shmkit/shmkit/ringbuffer"
	"github.com/shmkit/shmkit/semaphore"
	"github.com/shmkit/shmkit/shm"
	"github.com/shmkit/shmkit/shmap"
	"github.com/shmkit/shmkit/value"
)

func TestMain(m *testing.M) { testproc.Main(m) }

type opener func(context.Context, *shm.Segment, string) error

func e(_ any, err error) error { return err }

// Every typed open, in every package, waits for a creator still at work
// only as long as its ctx allows.
func TestOpenBoundedByContext(t *testing.T) {
	for name, c := range map[string]struct {
		place func(...shm.Option) error
		open  opener
	}{
		"semaphore.Mutex": {func(o ...shm.Option) error { return e(semaphore.NewMutex(o...)) },
			func(ctx context.Context, s *shm.Segment, n string) error { return e(semaphore.OpenMutex(ctx, s, n)) }},
		"semaphore.RLock": {func(o ...shm.Option) error { return e(semaphore.NewRLock(o...)) },
			func(ctx context.Context, s *shm.Segment, n string) error { return e(semaphore.OpenRLock(ctx, s, n)) }},
		"semaphore.Semaphore": {func(o ...shm.Option) error { return e(semaphore.New(2, o...)) },
			func(ctx context.Context, s *shm.Segment, n string) error { return e(semaphore.Open(ctx, s, n)) }},
		"semaphore.Event": {func(o ...shm.Option) error { return e(semaphore.NewEvent(o...)) },
			func(ctx context.Context, s *shm.Segment, n string) error { return e(semaphore.OpenEvent(ctx, s, n)) }},
		"semaphore.Barrier": {func(o ...shm.Option) error { return e(semaphore.NewBarrier(2, o...)) },
			func(ctx context.Context, s *shm.Segment, n string) error { return e(semaphore.OpenBarrier(ctx, s, n)) }},
		"value.Value": {func(o ...shm.Option) error { return e(value.New(int64(1), o...)) },
			func(ctx context.Context, s *shm.Segment, n string) error { return e(value.Open[int64](ctx, s, n)) }},
		"array.Array": {func(o ...shm.Option) error { return e(array.New[int64](4, o...)) },
			func(ctx context.Context, s *shm.Segment, n string) error { return e(array.Open[int64](ctx, s, n)) }},
		"ringbuffer.Queue": {func(o ...shm.Option) error { return e(ringbuffer.NewQueue[int64](8, o...)) },
			func(ctx context.Context, s *shm.Segment, n string) error {
				return e(ringbuffer.OpenQueue[int64](ctx, s, n))
			}},
		"ringbuffer.JoinableQueue": {func(o ...shm.Option) error { return e(ringbuffer.NewJoinableQueue[string](8, o...)) },
			func(ctx context.Context, s *shm.Segment, n string) error {
				return e(ringbuffer.OpenJoinableQueue[string](ctx, s, n))
			}},
		"ringbuffer.Ring": {func(o ...shm.Option) error { return e(ringbuffer.NewRing[int32](8, o...)) },
			func(ctx context.Context, s *shm.Segment, n string) error {
				return e(ringbuffer.OpenRing[int32](ctx, s, n))
			}},
		"ringbuffer.Pipe": {func(o ...shm.Option) error { _, _, err := ringbuffer.Pipe[int64](8, o...); return err },
			func(ctx context.Context, s *shm.Segment, n string) error {
				_, _, err := ringbuffer.OpenPipe[int64](ctx, s, n)
				return err
			}},
		"shmap.Map": {func(o ...shm.Option) error { return e(shmap.New[int64, int64](o...)) },
			func(ctx context.Context, s *shm.Segment, n string) error {
				return e(shmap.Open[int64, int64](ctx, s, n))
			}},
		"shmap.List": {func(o ...shm.Option) error { return e(shmap.NewList[string](o...)) },
			func(ctx context.Context, s *shm.Segment, n string) error {
				return e(shmap.OpenList[string](ctx, s, n))
			}},
	} {
		t.Run(name, func(t *testing.T) { shmtest.OpenBounded(t, c.place, c.open) })
	}
}

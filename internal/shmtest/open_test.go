//go:build linux && (amd64 || arm64)

package shmtest_test

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"testing"
	"time"

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

// typedOpens is every typed open of shmkit, with a constructor that places
// the object it opens.
var typedOpens = map[string]struct {
	place func(...shm.Option) error
	open  opener
}{
	"semaphore.Mutex": {func(o ...shm.Option) error { return e(semaphore.NewMutex(o...)) },
		func(ctx context.Context, s *shm.Segment, n string) error { return e(semaphore.OpenMutex(ctx, s, n)) }},
	"semaphore.RLock": {func(o ...shm.Option) error { return e(semaphore.NewRLock(o...)) },
		func(ctx context.Context, s *shm.Segment, n string) error { return e(semaphore.OpenRLock(ctx, s, n)) }},
	"semaphore.RWMutex": {func(o ...shm.Option) error { return e(semaphore.NewRWMutex(o...)) },
		func(ctx context.Context, s *shm.Segment, n string) error { return e(semaphore.OpenRWMutex(ctx, s, n)) }},
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
}

// Every typed open, in every package, waits for a creator still at work
// only as long as its ctx allows.
func TestOpenBoundedByContext(t *testing.T) {
	for name, c := range typedOpens {
		t.Run(name, func(t *testing.T) { shmtest.OpenBounded(t, c.place, c.open) })
	}
}

// Every typed open started before the object is made returns it once it
// is made, with no deadline; and a name that never appears fails, when the
// deadline passes, with ErrNotExist and the deadline both.
func TestOpenWaitsForCreate(t *testing.T) {
	for name, c := range typedOpens {
		t.Run(name, func(t *testing.T) {
			seg := shmtest.Seg(t)
			opened := make(chan error, 1)
			go func() { opened <- c.open(context.Background(), seg, "later") }()
			time.Sleep(20 * time.Millisecond) // the open is (most likely) waiting
			select {
			case err := <-opened:
				t.Fatalf("open returned before the create: %v", err)
			default:
			}
			if err := c.place(shm.In(seg, "later")); err != nil {
				t.Fatal(err)
			}
			if err := shmtest.Within(t, 10*time.Second, "open", func() error { return <-opened }); err != nil {
				t.Fatalf("open after the create: %v", err)
			}

			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
			defer cancel()
			err := c.open(ctx, seg, "typo")
			if !errors.Is(err, shm.ErrNotExist) || !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("open of a name never made: %v, want ErrNotExist and DeadlineExceeded", err)
			}
			if err := c.open(context.Background(), nil, "x"); !errors.Is(err, shm.ErrInvalid) {
				t.Fatalf("open in a nil segment: %v, want ErrInvalid", err)
			}
		})
	}
}

// TestOneVocabulary: a condition that more than one package reports is one
// sentinel, so that errors.Is(err, shm.ErrX) holds whichever package
// found it.
func TestOneVocabulary(t *testing.T) {
	for _, c := range []struct {
		name      string
		got, want error
	}{
		{"semaphore.ErrInvalid", semaphore.ErrInvalid, shm.ErrInvalid},
		{"semaphore.ErrCorrupt", semaphore.ErrCorrupt, shm.ErrCorrupt},
		{"semaphore.ErrNotSupported", semaphore.ErrNotSupported, shm.ErrNotSupported},
		{"ringbuffer.ErrInvalid", ringbuffer.ErrInvalid, shm.ErrInvalid},
		{"ringbuffer.ErrCorrupt", ringbuffer.ErrCorrupt, shm.ErrCorrupt},
		{"ringbuffer.ErrFull", ringbuffer.ErrFull, shm.ErrFull},
		{"ringbuffer.ErrEmpty", ringbuffer.ErrEmpty, shm.ErrEmpty},
		{"ringbuffer.ErrNotSupported", ringbuffer.ErrNotSupported, shm.ErrNotSupported},
		{"shmap.ErrInvalid", shmap.ErrInvalid, shm.ErrInvalid},
		{"shmap.ErrCorrupt", shmap.ErrCorrupt, shm.ErrCorrupt},
		{"shmap.ErrFull", shmap.ErrFull, shm.ErrFull},
		{"value.ErrInvalid", value.ErrInvalid, shm.ErrInvalid},
		{"value.ErrNotSupported", value.ErrNotSupported, shm.ErrNotSupported},
		{"array.ErrInvalid", array.ErrInvalid, shm.ErrInvalid},
		{"array.ErrNotSupported", array.ErrNotSupported, shm.ErrNotSupported},
	} {
		if c.got != c.want {
			t.Errorf("%s is %q, not the value of shm's (%q)", c.name, c.got, c.want)
		}
	}
	if !errors.Is(shm.ErrClosed, os.ErrClosed) || !errors.Is(shm.ErrNotExist, fs.ErrNotExist) || !errors.Is(shm.ErrExist, fs.ErrExist) {
		t.Error("shm's ErrClosed, ErrNotExist and ErrExist do not match the standard ones")
	}
}

//go:build linux && (amd64 || arm64)

package semaphore

// Errors, Close and Free of every type, and opening before the object is
// made: what each type shares with the rest of shmkit.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shmkit/shmkit/internal/hb"
	"github.com/shmkit/shmkit/internal/mem"
	"github.com/shmkit/shmkit/internal/shmtest"
	"github.com/shmkit/shmkit/internal/testproc"
	"github.com/shmkit/shmkit/shm"
)

// lifeKinds are the kinds of lifeObjects, the Cond before its Mutex (a
// Cond opened after its Mutex was freed fails to open).
var lifeKinds = []string{"cond", "mutex", "rlock", "semaphore", "event", "barrier"}

// lifeObjects makes one object of each type in seg, named by its kind.
func lifeObjects(t *testing.T, seg *shm.Segment) map[string]interface {
	io.Closer
	Free() error
} {
	t.Helper()
	mu := mustMutex(t, shm.In(seg, "mutex"))
	rl := mustRLock(t, shm.In(seg, "rlock"))
	s, err := NewBounded(2, shm.In(seg, "semaphore"))
	if err != nil {
		t.Fatal(err)
	}
	ev := mustEvent(t, shm.In(seg, "event"))
	cv := mustCond(t, mu, shm.In(seg, "cond"))
	b := mustBarrier(t, 2, shm.In(seg, "barrier"))
	return map[string]interface {
		io.Closer
		Free() error
	}{"mutex": mu, "rlock": rl, "semaphore": s, "event": ev, "cond": cv, "barrier": b}
}

// lifeOpen opens the object of kind called kind in seg, through a new handle.
func lifeOpen(ctx context.Context, seg *shm.Segment, kind string) (interface {
	io.Closer
	Free() error
}, error) {
	switch kind {
	case "mutex":
		return OpenMutex(ctx, seg, kind)
	case "rlock":
		return OpenRLock(ctx, seg, kind)
	case "semaphore":
		return Open(ctx, seg, kind)
	case "event":
		return OpenEvent(ctx, seg, kind)
	case "cond":
		return OpenCond(ctx, seg, kind)
	case "barrier":
		return OpenBarrier(ctx, seg, kind)
	}
	return nil, fmt.Errorf("no kind %q", kind)
}

// lifeUse calls, through x, one method of each type that fails on a
// closed handle.
func lifeUse(x io.Closer) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel()
	switch x := x.(type) {
	case *Mutex:
		return x.TryLock()
	case *RLock:
		return x.LockContext(ctx)
	case *Semaphore:
		return x.TryAcquire(1)
	case *Event:
		return x.Set()
	case *Cond:
		if err := x.Mutex().Lock(); err != nil {
			return err
		}
		defer x.Mutex().Unlock()
		return x.Signal()
	case *Barrier:
		return x.Abort()
	}
	return fmt.Errorf("no type %T", x)
}

// lifeRelease undoes what lifeUse did through an open handle.
func lifeRelease(x io.Closer) {
	switch x := x.(type) {
	case *Mutex:
		x.Unlock()
	case *RLock:
		x.Unlock()
	case *Semaphore:
		x.Release(1)
	case *Event:
		x.Clear()
	case *Barrier:
		x.Reset()
	}
}

// TestErrorsPrefixed provokes errors of every sort (bad argument, closed
// handle, missing name, wrong kind, corrupt memory, would block, freed)
// and checks that each says "semaphore: " first and matches its shm
// sentinel.
func TestErrorsPrefixed(t *testing.T) {
	seg := testSeg(t)
	objs := lifeObjects(t, seg)
	mu, s := objs["mutex"].(*Mutex), objs["semaphore"].(*Semaphore)
	short := func() context.Context {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
		t.Cleanup(cancel)
		return ctx
	}
	second := func(o io.Closer, err error) error { return err }
	cases := []struct {
		what string
		err  error
		want error
	}{
		{"New(-1)", second(New(-1)), shm.ErrInvalid},
		{"NewBarrier(0)", second(NewBarrier(0)), shm.ErrInvalid},
		{"NewCond(nil)", second(NewCond(nil)), shm.ErrInvalid},
		{"Acquire(-1)", s.Acquire(context.Background(), -1), shm.ErrInvalid},
		{"TryAcquire(3) of a bound of 2", s.TryAcquire(3), shm.ErrInvalid},
		{"Release(-1)", s.Release(-1), shm.ErrInvalid},
		{"Notify(-1)", objs["cond"].(*Cond).Notify(-1), shm.ErrInvalid},
		{"OpenMutex(nil segment)", second(OpenMutex(context.Background(), nil, "mutex")), shm.ErrInvalid},
		{"OpenMutexAt(nil segment)", second(OpenMutexAt(nil, 64, 1)), shm.ErrInvalid},
		{"OpenMutex of a missing name", second(OpenMutex(short(), seg, "missing")), shm.ErrNotExist},
		{"OpenEvent of a mutex", second(OpenEvent(context.Background(), seg, "mutex")), shm.ErrKind},
		{"OpenMutexAt of the semaphore", second(OpenMutexAt(seg, s.Handle().Offset, s.Handle().Generation)), shm.ErrKind},
		{"UnmarshalBinary of junk", new(Barrier).UnmarshalBinary([]byte("junk")), shm.ErrBadHandle},
		{"TryAcquire of a full semaphore", func() error {
			if err := s.Acquire(context.Background(), 2); err != nil {
				return err
			}
			defer s.Release(2)
			return s.TryAcquire(1)
		}(), shm.ErrWouldBlock},
		{"TryLock of a held mutex", func() error {
			if err := mu.Lock(); err != nil {
				return err
			}
			defer mu.Unlock()
			return mu.TryLock()
		}(), shm.ErrWouldBlock},
	}
	// Corrupt memory, each in an object of its own.
	b := mustBarrier(t, 2, shm.In(seg, "corrupt-barrier"))
	atomic.StoreUint32(mem.Uint32(b.o.Bytes(), offParties), 0)
	cases = append(cases, struct {
		what string
		err  error
		want error
	}{"OpenBarrier of 0 parties", second(OpenBarrier(context.Background(), seg, "corrupt-barrier")), shm.ErrCorrupt})
	cs, err := New(1, shm.In(seg, "corrupt-sem"))
	if err != nil {
		t.Fatal(err)
	}
	atomic.StoreUint32(mem.Uint32(cs.o.Bytes(), offBound), 7) // a bound without its flag
	cases = append(cases, struct {
		what string
		err  error
		want error
	}{"Open of a bad bound word", second(Open(context.Background(), seg, "corrupt-sem")), shm.ErrCorrupt})
	// Closed handles and freed objects, of every type.
	for _, kind := range lifeKinds {
		x := objs[kind]
		h, err := lifeOpen(context.Background(), seg, kind)
		if err != nil {
			t.Fatal(err)
		}
		h.Close()
		cases = append(cases, struct {
			what string
			err  error
			want error
		}{kind + " through a closed handle", lifeUse(h), shm.ErrClosed})
		if err := x.Free(); err != nil {
			t.Fatalf("Free of the %s: %v", kind, err)
		}
		cases = append(cases, struct {
			what string
			err  error
			want error
		}{"a second Free of the " + kind, h.Free(), shm.ErrStale})
	}
	for _, c := range cases {
		switch {
		case c.err == nil:
			t.Errorf("%s: no error, want %v", c.what, c.want)
		case !strings.HasPrefix(c.err.Error(), "semaphore: "):
			t.Errorf("%s: %q does not start with \"semaphore: \"", c.what, c.err)
		case !errors.Is(c.err, c.want):
			t.Errorf("%s: %v, want a match of %v", c.what, c.err, c.want)
		}
	}
}

// TestCloseAndFree: Close ends one handle, idempotently, and leaves the
// object to the others; Free destroys it for all, and a second Free fails
// with shm.ErrStale whichever handle it goes through.
func TestCloseAndFree(t *testing.T) {
	seg := testSeg(t)
	objs := lifeObjects(t, seg)
	for _, kind := range lifeKinds {
		x := objs[kind]
		h, err := lifeOpen(context.Background(), seg, kind)
		if err != nil {
			t.Fatal(err)
		}
		if err := h.Close(); err != nil {
			t.Fatalf("%s: Close: %v", kind, err)
		}
		if err := h.Close(); err != nil {
			t.Fatalf("%s: a second Close: %v", kind, err)
		}
		if err := lifeUse(h); !errors.Is(err, ErrClosed) || !errors.Is(err, os.ErrClosed) {
			t.Fatalf("%s through a closed handle: %v, want ErrClosed", kind, err)
		}
		if err := lifeUse(x); err != nil {
			t.Fatalf("%s through another handle after a Close: %v", kind, err)
		}
		lifeRelease(x)
		if err := x.Free(); err != nil {
			t.Fatalf("%s: Free: %v", kind, err)
		}
		if err := lifeUse(x); !errors.Is(err, ErrClosed) {
			t.Fatalf("%s through the handle that freed it: %v, want ErrClosed", kind, err)
		}
		if err := x.Free(); !errors.Is(err, shm.ErrStale) {
			t.Fatalf("%s: a second Free through the same handle: %v, want shm.ErrStale", kind, err)
		}
		if err := h.Free(); !errors.Is(err, shm.ErrStale) {
			t.Fatalf("%s: a second Free through another handle: %v, want shm.ErrStale", kind, err)
		}
		short, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
		_, err = lifeOpen(short, seg, kind)
		cancel()
		if !errors.Is(err, shm.ErrNotExist) {
			t.Fatalf("opening the freed %s: %v, want shm.ErrNotExist", kind, err)
		}
	}
}

// TestFreedLockFailsStale: after a Free, Lock and TryLock through another
// handle of this process fail with shm.ErrStale, and Unlock of the lock
// that handle held does nothing.
func TestFreedLockFailsStale(t *testing.T) {
	seg := testSeg(t)
	objs := lifeObjects(t, seg)
	objs["cond"].Free() // before its mutex
	for _, kind := range []string{"mutex", "rlock"} {
		l := objs[kind]
		other, err := lifeOpen(context.Background(), seg, kind)
		if err != nil {
			t.Fatal(err)
		}
		lk := other.(interface {
			Lock() error
			TryLock() error
			Unlock()
			Owner() int
		})
		if err := lk.Lock(); err != nil {
			t.Fatal(err)
		}
		if err := l.Free(); err != nil {
			t.Fatal(err)
		}
		lk.Unlock() // the lock is gone: nothing to do, and no panic
		if err := lk.Lock(); !errors.Is(err, shm.ErrStale) || !strings.HasPrefix(err.Error(), "semaphore: ") {
			t.Fatalf("%s: Lock after Free: %v, want shm.ErrStale", kind, err)
		}
		if err := lk.TryLock(); !errors.Is(err, shm.ErrStale) {
			t.Fatalf("%s: TryLock after Free: %v, want shm.ErrStale", kind, err)
		}
		if o := lk.Owner(); o != 0 {
			t.Fatalf("%s: Owner %d after Free", kind, o)
		}
	}
}

// lifeChildLock ("seg kind name") opens the lock and locks it, waiting
// as long as it takes, and prints "RESULT err" with what Lock returned,
// how long after the parent's mark in the words block it did.
var lifeChildLock = segChild("sem-life-lock", func(c *testproc.Child, seg *shm.Segment, f []string) error {
	lock := func() error { return errors.New("no lock") }
	switch f[0] {
	case "mutex":
		mu, err := OpenMutex(context.Background(), seg, f[1])
		if err != nil {
			return err
		}
		lock = mu.Lock
	case "rlock":
		r, err := OpenRLock(context.Background(), seg, f[1])
		if err != nil {
			return err
		}
		lock = r.Lock
	}
	c.Point("locking")
	err := lock()
	fmt.Printf("RESULT %s\n", mpErrClass(err))
	return nil
})

// TestFreeWakesLockWaiter: a process waiting in Lock (with no deadline) on
// a lock that another process frees wakes and fails with shm.ErrStale; it
// neither waits for ever nor takes the freed memory for a free lock.
func TestFreeWakesLockWaiter(t *testing.T) {
	for _, kind := range []string{"mutex", "rlock"} {
		t.Run(kind, func(t *testing.T) {
			seg := testSeg(t)
			var l interface {
				Lock() error
				Free() error
			}
			var word *lockWord
			if kind == "mutex" {
				mu := mustMutex(t, shm.In(seg, "l"))
				l, word = mu, &mu.l
			} else {
				r := mustRLock(t, shm.In(seg, "l"))
				l, word = r, &r.l
			}
			if err := l.Lock(); err != nil {
				t.Fatal(err)
			}
			p := shmtest.Start(t, mpChildTimeout, lifeChildLock, seg.Name(), kind, "l")
			p.WaitPoint("locking")
			p.Continue()
			mpEventually(t, "the child sleeps on the lock", func() bool { return mpContended(word) })
			if err := l.Free(); err != nil {
				t.Fatal(err)
			}
			if res := mpResult(t, p); res != "stale" {
				t.Fatalf("the child's Lock of the lock freed while it waited: %s, want stale", res)
			}
		})
	}
}

// lifeChildOpen ("seg name") opens the Mutex called name, waiting for it
// with no deadline, locks it and prints "RESULT owner", the pid that holds
// it then.
var lifeChildOpen = segChild("sem-life-open", func(c *testproc.Child, seg *shm.Segment, f []string) error {
	c.Point("opening")
	mu, err := OpenMutex(context.Background(), seg, f[0])
	if err != nil {
		return err
	}
	if err := mu.Lock(); err != nil {
		return err
	}
	fmt.Printf("RESULT %d\n", mu.Owner())
	mu.Unlock()
	return mu.Close()
})

// TestOpenBeforeCreate: a process that opens a Mutex before another has
// made it, with no deadline, waits and gets it once it is made.
func TestOpenBeforeCreate(t *testing.T) {
	seg := testSeg(t)
	p := shmtest.Start(t, mpChildTimeout, lifeChildOpen, seg.Name(), "late")
	p.WaitPoint("opening")
	p.Continue()
	time.Sleep(50 * time.Millisecond) // the child waits inside OpenMutex
	mu := mustMutex(t, shm.In(seg, "late"))
	if res := mpResult(t, p); res != fmt.Sprint(p.Pid()) {
		t.Fatalf("the child that opened before the create: %s, want it to hold the lock (%d)", res, p.Pid())
	}
	if o := mu.Owner(); o != 0 {
		t.Fatalf("owner %d after the child unlocked", o)
	}
}

// TestHotPathAllocs: taking and releasing a lock or units, and the Try
// calls that fail, allocate nothing.
func TestHotPathAllocs(t *testing.T) {
	if hb.Enabled {
		t.Skip("the race detector's bookkeeping allocates")
	}
	objs := lifeObjects(t, testSeg(t))
	mu, s := objs["mutex"].(*Mutex), objs["semaphore"].(*Semaphore)
	ctx := context.Background()
	for what, f := range map[string]func(){
		"Lock, Unlock": func() {
			if mu.Lock() == nil {
				mu.Unlock()
			}
		},
		"LockContext, TryLock of the held lock, Unlock": func() {
			if mu.LockContext(ctx) == nil {
				mu.TryLock()
				mu.Unlock()
			}
		},
		"Acquire, TryAcquire of none left, Release": func() {
			if s.Acquire(ctx, 2) == nil {
				s.TryAcquire(1)
				s.Release(2)
			}
		},
	} {
		if n := testing.AllocsPerRun(1000, f); n != 0 {
			t.Errorf("%s: %v allocations, want 0", what, n)
		}
	}
}

//go:build linux && (amd64 || arm64)

package value

// Tests of what every shmkit type shares: Close and Free, errors that
// start with "value: " and match shm's sentinels, and an Open that waits,
// in another process, for a value not made yet.

import (
	"context"
	"errors"
	"os"
	"testing"
	"time"

	"github.com/shmkit/shmkit/array"
	"github.com/shmkit/shmkit/internal/shmtest"
	"github.com/shmkit/shmkit/internal/testproc"
	"github.com/shmkit/shmkit/shm"
)

// TestFree: Free destroys the value and its lock for every handle; a
// second Free, through the same handle or another, fails with
// shm.ErrStale; Close leaves the value to the others.
func TestFree(t *testing.T) {
	seg := testSeg(t)
	for _, c := range []struct {
		name string
		mk   func(...shm.Option) (*Value[mpWide], error)
	}{
		{"locked", func(o ...shm.Option) (*Value[mpWide], error) { return New(mpWideOf(1), o...) }},
		{"raw", func(o ...shm.Option) (*Value[mpWide], error) { return NewRaw(mpWideOf(1), o...) }},
	} {
		t.Run(c.name, func(t *testing.T) {
			v, err := c.mk(shm.In(seg, c.name))
			if err != nil {
				t.Fatal(err)
			}
			opened, err := Open[mpWide](context.Background(), seg, c.name)
			if err != nil {
				t.Fatal(err)
			}
			h, passed := shmtest.Pass[Value[mpWide]](t, v)
			if opened.Load() != mpWideOf(1) || opened.Store(mpWideOf(2)) != nil || v.Load() != mpWideOf(2) {
				t.Fatalf("a Close of another handle changed the value: %v", v.Load().Seq)
			}
			check := shmtest.Errors(t, "value: ")
			shmtest.FreeAll(t, check, shmtest.HandleOf(v.Mutex()), v.Free, opened.Free, passed.Free)
			check("Store after Free", v.Store(mpWideOf(3)), shm.ErrClosed)
			check("Open after Free", shmtest.Err(Open[mpWide](shmtest.Missing(t), seg, c.name)), shm.ErrNotExist)
			check("UnmarshalBinary of a freed value's handle", passed.UnmarshalBinary(h), shm.ErrStale)
		})
	}
}

// TestErrors provokes an error of each sort: each starts with "value: "
// and matches the shm sentinel of its condition.
func TestErrors(t *testing.T) {
	seg := testSeg(t)
	closed, err := New[int64](1, shm.In(seg, "closed"))
	if err != nil {
		t.Fatal(err)
	}
	closed.Close()
	if _, err := New[int64](-42, shm.In(seg, "corrupt")); err != nil {
		t.Fatal(err)
	}
	shmtest.Bytes[int64](t, seg, "corrupt", shm.KindValue)[2] = 1 // a reserved byte of the header
	if _, err := NewRaw[float64](0, shm.In(seg, "f64")); err != nil {
		t.Fatal(err)
	}
	if _, err := array.New[int64](1, shm.In(seg, "arr")); err != nil {
		t.Fatal(err)
	}
	check := shmtest.Errors(t, "value: ")
	check("New of a type of size 0", shmtest.Err(New(struct{}{})), shm.ErrInvalid)
	check("New of a type with a pointer", shmtest.Err(New(mpBadNested{})), shm.ErrInvalid)
	check("Open in a nil segment", shmtest.Err(Open[int64](context.Background(), nil, "x")), shm.ErrInvalid)
	check("Store through a closed handle", closed.Store(2), shm.ErrClosed)
	check("Update through a closed handle", closed.Update(func(*int64) {}), shm.ErrClosed)
	check("Lock through a closed handle", closed.Lock(), shm.ErrClosed)
	check("Open of a corrupt header", shmtest.Err(Open[int64](context.Background(), seg, "corrupt")), shm.ErrCorrupt)
	check("Open of a missing name", shmtest.Err(Open[int64](shmtest.Missing(t), seg, "missing")), shm.ErrNotExist)
	check("Open of another type", shmtest.Err(Open[int64](context.Background(), seg, "f64")), shm.ErrLayout)
	check("Open of an array", shmtest.Err(Open[int64](context.Background(), seg, "arr")), shm.ErrKind)
	check("New of a taken name", shmtest.Err(New[int64](0, shm.In(seg, "closed"))), shm.ErrExist)
	check("Lock of a raw value", mpLockRaw(seg), ErrNoLock)
	if err := closed.Store(2); !errors.Is(err, os.ErrClosed) {
		t.Errorf("Store through a closed handle: %v, want os.ErrClosed", err)
	}
}

// mpLockRaw is the error of Lock on a raw Value.
func mpLockRaw(seg *shm.Segment) error {
	r, err := NewRaw[int32](0, shm.In(seg, "raw-lock"))
	if err != nil {
		return err
	}
	return r.Lock()
}

// mpChildOpenFirst opens the Value[int64] "late", "SEG", with no deadline,
// before the parent makes it, and adds 1 to it.
var mpChildOpenFirst = testproc.Register("value-open-first", func(c *testproc.Child) error {
	seg, _, err := shmtest.OpenArgs(c)
	if err != nil {
		return err
	}
	defer seg.Close()
	c.Point("opening")
	v, err := Open[int64](context.Background(), seg, "late")
	if err != nil {
		return err
	}
	v.Add(1)
	return nil
})

// TestOpenBeforeCreate: a child opens a Value, with context.Background(),
// before this process makes it, and gets it.
func TestOpenBeforeCreate(t *testing.T) {
	seg := testSeg(t)
	p := shmtest.Start(t, mpChildTimeout, mpChildOpenFirst, seg.Name())
	p.WaitPoint("opening")
	p.Continue()
	time.Sleep(50 * time.Millisecond) // most likely inside Open by now; either way it must work
	v, err := New[int64](41, shm.In(seg, "late"))
	if err != nil {
		t.Fatal(err)
	}
	p.Succeed()
	if got := v.Load(); got != 42 {
		t.Errorf("the child added 1 to 41, which now holds %d", got)
	}
}

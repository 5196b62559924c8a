//go:build linux && (amd64 || arm64)

package array

// Tests of what every shmkit type shares: Close and Free, and errors that
// start with "array: " and match shm's sentinels.

import (
	"context"
	"errors"
	"os"
	"testing"

	"github.com/shmkit/shmkit/internal/shmtest"
	"github.com/shmkit/shmkit/shm"
	"github.com/shmkit/shmkit/value"
)

// TestFree: Free destroys the array and its lock for every handle; a
// second Free, through the same handle or another, fails with
// shm.ErrStale; Close leaves the array to the others.
func TestFree(t *testing.T) {
	seg := testSeg(t)
	for _, c := range []struct {
		name string
		mk   func(int, ...shm.Option) (*Array[int64], error)
	}{
		{"locked", New[int64]},
		{"raw", NewRaw[int64]},
	} {
		t.Run(c.name, func(t *testing.T) {
			a, err := c.mk(3, shm.In(seg, c.name))
			if err != nil {
				t.Fatal(err)
			}
			opened, err := Open[int64](context.Background(), seg, c.name)
			if err != nil {
				t.Fatal(err)
			}
			h, passed := shmtest.Pass[Array[int64]](t, a)
			opened.Set(1, 7)
			if s, err := opened.Copy(); err != nil || a.At(1) != 7 || len(s) != 3 {
				t.Fatalf("a Close of another handle changed the array: %v, %v", s, err)
			}
			check := shmtest.Errors(t, "array: ")
			shmtest.FreeAll(t, check, shmtest.HandleOf(a.Mutex()), a.Free, opened.Free, passed.Free)
			check("Copy after Free", shmtest.Err(a.Copy()), shm.ErrClosed)
			check("Open after Free", shmtest.Err(Open[int64](shmtest.Missing(t), seg, c.name)), shm.ErrNotExist)
			check("UnmarshalBinary of a freed array's handle", passed.UnmarshalBinary(h), shm.ErrStale)
		})
	}
}

// TestErrors provokes an error of each sort: each starts with "array: "
// and matches the shm sentinel of its condition.
func TestErrors(t *testing.T) {
	seg := testSeg(t)
	closed, err := New[int64](1, shm.In(seg, "closed"))
	if err != nil {
		t.Fatal(err)
	}
	closed.Close()
	if _, err := New[int32](4, shm.In(seg, "corrupt")); err != nil {
		t.Fatal(err)
	}
	shmtest.Bytes[int32](t, seg, "corrupt", shm.KindArray)[32] = 200 // more elements than the payload holds
	if _, err := value.New[int32](0, shm.In(seg, "value")); err != nil {
		t.Fatal(err)
	}
	raw, err := NewRaw[int32](1)
	if err != nil {
		t.Fatal(err)
	}
	check := shmtest.Errors(t, "array: ")
	check("New of a negative length", shmtest.Err(New[int64](-1)), shm.ErrInvalid)
	check("New of a type of size 0", shmtest.Err(New[struct{}](1)), shm.ErrInvalid)
	check("New of a type with a string", shmtest.Err(New[mpBadString](1)), shm.ErrInvalid)
	check("Open in a nil segment", shmtest.Err(Open[int64](context.Background(), nil, "x")), shm.ErrInvalid)
	check("Copy through a closed handle", shmtest.Err(closed.Copy()), shm.ErrClosed)
	check("Update through a closed handle", closed.Update(func([]int64) {}), shm.ErrClosed)
	check("Lock through a closed handle", closed.Lock(), shm.ErrClosed)
	check("Open of a corrupt header", shmtest.Err(Open[int32](context.Background(), seg, "corrupt")), shm.ErrCorrupt)
	check("Open of a missing name", shmtest.Err(Open[int64](shmtest.Missing(t), seg, "missing")), shm.ErrNotExist)
	check("Open of another type", shmtest.Err(Open[int32](context.Background(), seg, "closed")), shm.ErrLayout)
	check("Open of a value", shmtest.Err(Open[int32](context.Background(), seg, "value")), shm.ErrKind)
	check("New of a taken name", shmtest.Err(New[int64](1, shm.In(seg, "closed"))), shm.ErrExist)
	check("Lock of a raw array", raw.Lock(), ErrNoLock)
	if err := closed.Lock(); !errors.Is(err, os.ErrClosed) {
		t.Errorf("Lock through a closed handle: %v, want os.ErrClosed", err)
	}
}

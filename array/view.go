package array

import (
	"fmt"
	"reflect"

	"github.com/shmkit/shmkit/internal/mem"
	"github.com/shmkit/shmkit/internal/share"
)

// View is the memory of b as a []T, with no copy and no header: how Go
// reads shared memory that shmkit did not make, such as a Python
// SharedMemory's or a numpy array's opened with shm.OpenForeign. T must be
// plain (package ctypes decides); b must hold a whole number of T's
// (ErrInvalid otherwise) and start at an address aligned for T (ErrInvalid;
// a mapping's start always is). Slice b first to view a part of it, as
// View(m.Bytes()[64:64+8*n]).
//
// The slice is the shared memory itself: writes through it are seen by
// every process that maps it, with no lock. It is valid as long as b's
// memory (until the shm.Foreign is closed).
func View[T any](b []byte) ([]T, error) {
	l, err := share.LayoutOf[T]()
	if err != nil {
		return nil, fmt.Errorf("array: viewing memory: %w", err)
	}
	t := reflect.TypeFor[T]()
	switch {
	case uint64(len(b))%uint64(l.Size) != 0:
		return nil, fmt.Errorf("array: viewing %d bytes as %v: %w: not a multiple of its %d bytes", len(b), t, ErrInvalid, l.Size)
	case len(b) == 0:
		return []T{}, nil
	case mem.Addr(b)%l.Align != 0:
		return nil, fmt.Errorf("array: viewing memory as %v: %w: its address is not %d-byte aligned", t, ErrInvalid, l.Align)
	}
	return mem.Slice[T](b, 0, len(b)/int(l.Size)), nil
}

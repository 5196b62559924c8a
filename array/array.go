package array

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync/atomic"

	"github.com/shmkit/shmkit/ctypes"
	"github.com/shmkit/shmkit/internal/mem"
	"github.com/shmkit/shmkit/internal/share"
	"github.com/shmkit/shmkit/semaphore"
	"github.com/shmkit/shmkit/shm"
)

var (
	// ErrNotSupported: shmkit has no implementation for this system.
	ErrNotSupported = shm.ErrNotSupported
	// ErrNoLock: the Array was made with NewRaw, which has no lock.
	ErrNoLock = errors.New("array: raw array has no lock")
	// ErrInvalid: a negative length, or an element type of size 0. The
	// same value as shm.ErrInvalid.
	ErrInvalid = shm.ErrInvalid
)

// Array is n values of type T in shared memory, seen by every process
// that attaches to it (Python's multiprocessing.Array and RawArray). T
// must be plain data (package ctypes decides).
type Array[T any] struct {
	o      *shm.Object
	mu     *semaphore.Mutex // nil for a raw array
	s      []T              // the elements, in the shared memory itself
	w32    []uint32         // the same memory, for elements of 4 bytes
	w64    []uint64         // the same memory, for elements of 8 bytes
	code   ctypes.Code
	shared bool // mu is the caller's (FromWithLock)
	closed atomic.Bool
}

var _ io.Closer = (*Array[int])(nil)

// maxLen is the most elements an Array may have, for elements of size
// bytes: 2^40 bytes.
func maxLen(size uintptr) uint64 { return (1 << 40) / uint64(size) }

// New makes an Array of n zero values with a lock (Python's Array(code,
// n)), in the default heap or where opts place it (shm.In).
func New[T any](n int, opts ...shm.Option) (*Array[T], error) {
	return newArray[T](n, nil, true, nil, opts)
}

// From makes an Array with a lock holding a copy of s.
func From[T any](s []T, opts ...shm.Option) (*Array[T], error) {
	return newArray(len(s), s, true, nil, opts)
}

// FromWithLock makes an Array holding a copy of s whose lock is mu, a
// Mutex of the caller's that other arrays and values may share (Python's
// Array(code, s, lock=mu)); New's n zero values are FromWithLock of
// make([]T, n). The array is placed in mu's segment, which is where opts
// must place it if they place it at all (ErrInvalid otherwise). Free
// leaves mu to its owner.
func FromWithLock[T any](s []T, mu *semaphore.Mutex, opts ...shm.Option) (*Array[T], error) {
	if mu == nil {
		return nil, fmt.Errorf("array: making an array: %w: nil lock", ErrInvalid)
	}
	return newArray(len(s), s, true, mu, opts)
}

// NewRaw makes an Array of n zero values without a lock (RawArray).
func NewRaw[T any](n int, opts ...shm.Option) (*Array[T], error) {
	return newArray[T](n, nil, false, nil, opts)
}

// newArray makes an array, with its own lock when locked, or with shared
// (the caller's) when not nil.
func newArray[T any](n int, init []T, locked bool, shared *semaphore.Mutex, opts []shm.Option) (*Array[T], error) {
	l, err := layout[T]()
	if err != nil {
		return nil, err
	}
	if n < 0 || uint64(n) > maxLen(l.Size) {
		return nil, fmt.Errorf("array: %w: length %d of %d-byte elements", ErrInvalid, n, l.Size)
	}
	mu := shared
	if shared != nil {
		if opts, err = share.InLockSegment(shared.Handle(), opts); err != nil {
			return nil, fmt.Errorf("array: making an array: %w", err)
		}
	}
	o, err := share.Make(shm.KindArray, l, uint64(n), uint64(n)*uint64(l.Size), func(o *shm.Object, h *share.Header) error {
		if mu, err = share.Lock(o, h, locked, mu, semaphore.NewMutex); err != nil {
			return err
		}
		copy(mem.Slice[T](o.Bytes(), share.DataOffset, n), init)
		return nil
	}, opts)
	if err != nil {
		if mu != nil && mu != shared {
			mu.Free()
		}
		return nil, fmt.Errorf("array: making an array: %w", err)
	}
	a := &Array[T]{}
	a.init(o, mu, l, n)
	a.shared = shared != nil
	return a, nil
}

func layout[T any]() (ctypes.Layout, error) {
	l, err := share.LayoutOf[T]()
	if err != nil {
		return l, fmt.Errorf("array: %w", err)
	}
	return l, nil
}

// Open opens the Array called name in seg. It fails with shm.ErrLayout
// when its elements are not T, and shm.ErrKind when name is not an array.
// It waits, as long as ctx allows, for an array not made yet (an error
// matching shm.ErrNotExist and ctx.Err() when ctx ends first) or whose
// creator is still making it.
func Open[T any](ctx context.Context, seg *shm.Segment, name string) (*Array[T], error) {
	l, err := layout[T]()
	if err != nil {
		return nil, err
	}
	o, err := seg.Find(ctx, name, share.Spec(shm.KindArray, l, 0))
	if err != nil {
		return nil, fmt.Errorf("array: opening %q: %w", name, err)
	}
	a := &Array[T]{}
	if err := a.attach(o, l); err != nil {
		return nil, err
	}
	return a, nil
}

// UnmarshalBinary attaches a to the Array whose handle MarshalBinary
// encoded, as a child process does with an Array passed to it. On failure
// a is as it was.
func (a *Array[T]) UnmarshalBinary(b []byte) error {
	l, err := layout[T]()
	if err != nil {
		return err
	}
	o, err := shm.Unmarshal(b, share.Spec(shm.KindArray, l, 0))
	if err != nil {
		return fmt.Errorf("array: %w", err)
	}
	return a.attach(o, l)
}

// attach checks o's header and attaches to its lock.
func (a *Array[T]) attach(o *shm.Object, l ctypes.Layout) error {
	h, err := share.Attach(o, l)
	if err == nil && h.Len > maxLen(l.Size) {
		err = fmt.Errorf("%w: length %d", share.ErrHeader, h.Len)
	}
	var mu *semaphore.Mutex
	if err == nil && h.Locked {
		if mu, err = semaphore.OpenMutexAt(o.Segment(), h.LockOffset, h.LockGeneration); err != nil {
			err = fmt.Errorf("attaching its lock: %w", err)
		}
	}
	if err != nil {
		return fmt.Errorf("array: %q: %w", o.Name(), err)
	}
	a.init(o, mu, l, int(h.Len))
	a.shared = h.SharedLock
	return nil
}

func (a *Array[T]) init(o *shm.Object, mu *semaphore.Mutex, l ctypes.Layout, n int) {
	a.o, a.mu, a.code = o, mu, l.Code
	a.s = mem.Slice[T](o.Bytes(), share.DataOffset, n)
	a.w32, a.w64 = nil, nil
	switch l.Size {
	case 4:
		a.w32 = mem.Slice[uint32](o.Bytes(), share.DataOffset, n)
	case 8:
		a.w64 = mem.Slice[uint64](o.Bytes(), share.DataOffset, n)
	}
	a.closed.Store(false)
}

// Len is the number of elements.
func (a *Array[T]) Len() int { return len(a.s) }

// At returns element i, with no lock. An element of 4 or 8 bytes is read
// with one atomic load, so it is never torn; a wider one is copied as it
// is (take the lock, or use Copy, to read it whole while others write).
// An index out of range panics, as for a slice.
func (a *Array[T]) At(i int) T {
	if a.w64 != nil {
		return mem.FromBits[T](atomic.LoadUint64(&a.w64[i]))
	}
	if a.w32 != nil {
		return mem.FromBits[T](uint64(atomic.LoadUint32(&a.w32[i])))
	}
	return a.s[i]
}

// Set stores x as element i, with no lock; one atomic store for an element
// of 4 or 8 bytes. An index out of range panics, as for a slice.
func (a *Array[T]) Set(i int, x T) {
	switch {
	case a.w64 != nil:
		atomic.StoreUint64(&a.w64[i], mem.Bits(x))
	case a.w32 != nil:
		atomic.StoreUint32(&a.w32[i], uint32(mem.Bits(x)))
	default:
		a.s[i] = x
	}
}

// Slice is the shared memory itself as a []T: no copy, no lock. Writes to
// it are seen by every process; synchronise them yourself (Lock, or a
// semaphore). It is valid until the segment is closed.
func (a *Array[T]) Slice() []T { return a.s }

// Copy returns a snapshot of the elements, taken under the lock (a raw
// array is copied as it is). It returns semaphore.ErrOwnerDead, with the
// copy, when the lock's last holder died holding it: the elements may be
// half-updated.
func (a *Array[T]) Copy() ([]T, error) { return a.CopyInto(make([]T, 0, len(a.s))) }

// CopyInto is Copy into dst's memory when it has the capacity (growing it
// otherwise): dst[:Len()] holds the snapshot. Reusing one buffer spares a
// large array an allocation, and the page faults of fresh memory, on every
// snapshot.
func (a *Array[T]) CopyInto(dst []T) ([]T, error) {
	if err := a.usable("copy"); err != nil {
		return dst, err
	}
	var err error
	if a.mu != nil {
		var took bool
		if took, err = a.take(); err != nil && !errors.Is(err, semaphore.ErrOwnerDead) {
			return dst, err
		}
		if took {
			defer a.mu.Unlock()
		}
	}
	return append(dst[:0], a.s...), err
}

// lock takes the lock, which a holds (a locked array's).
func (a *Array[T]) lock() error {
	if err := a.mu.Lock(); err != nil {
		return fmt.Errorf("array: locking: %w", err)
	}
	return nil
}

// take takes the lock for Copy and Update, and reports whether it did:
// a lock shared with the caller (FromWithLock) that this process holds
// already is not taken again, as Python's lock=RLock() lets "with lock:"
// wrap changes to several arrays.
func (a *Array[T]) take() (bool, error) {
	if a.shared && a.mu.HeldHere() {
		return false, nil
	}
	return true, a.lock()
}

// Update calls f with the elements (the shared memory itself) under the
// lock. If the lock's last holder died holding it, f still runs, and
// Update returns an error matching semaphore.ErrOwnerDead: the elements
// may be half-updated by the dead process. A raw array has no lock:
// Update returns ErrNoLock.
func (a *Array[T]) Update(f func([]T)) error {
	if err := a.usable("update"); err != nil {
		return err
	}
	if a.mu == nil {
		return ErrNoLock
	}
	took, err := a.take()
	if err != nil && !errors.Is(err, semaphore.ErrOwnerDead) {
		return err
	}
	if took {
		defer a.mu.Unlock()
	}
	f(a.s)
	return err
}

// Lock takes the array's lock (Python's get_lock().acquire()); see
// semaphore.Mutex.Lock. A raw array returns ErrNoLock.
func (a *Array[T]) Lock() error {
	if err := a.usable("lock"); err != nil {
		return err
	}
	if a.mu == nil {
		return ErrNoLock
	}
	return a.lock()
}

// Unlock releases the lock. It panics on a raw array, or when the lock is
// not held by this process.
func (a *Array[T]) Unlock() {
	if a.mu == nil {
		panic("array: Unlock of a raw array")
	}
	a.mu.Unlock()
}

// Mutex is the array's lock (get_lock()), nil for a raw array.
func (a *Array[T]) Mutex() *semaphore.Mutex { return a.mu }

// Stats reads the counters of the array's lock, over every process: the
// calls that waited for it, their sleeps and wake-ups, and the times it
// was taken from a holder that died (see semaphore.LockStats); zero for a
// raw array. A lock given to FromWithLock
// counts for every object it guards. Reads and writes of elements are
// not counted: a count would cost each an atomic add.
func (a *Array[T]) Stats() semaphore.LockStats {
	if a.mu == nil {
		return semaphore.LockStats{}
	}
	return a.mu.Stats()
}

// metrics reads an Array's, from its object: its lock's, none for a raw
// one.
func metrics(o *shm.Object) ([]shm.Metric, error) {
	m, err := share.LockMetrics(o, semaphore.OpenMutexAt)
	if err != nil {
		return nil, fmt.Errorf("array: metrics of %q: %w", o.Name(), err)
	}
	return m, nil
}

func init() { shm.RegisterMetrics(shm.KindArray, metrics) }

// Code is T's ctypes type code, 0 when T is not a scalar.
func (a *Array[T]) Code() ctypes.Code { return a.code }

// Handle names the array for another process.
func (a *Array[T]) Handle() shm.Handle { return a.o.Handle() }

// Name is the array's name in its segment, "" when unnamed.
func (a *Array[T]) Name() string { return a.o.Name() }

// DataOffset is where element 0 lies in the segment's file: what Python
// needs to read the array (see the package doc).
func (a *Array[T]) DataOffset() int64 { return int64(a.o.Handle().Offset) + share.DataOffset }

// MarshalBinary encodes the array's handle, so that encoders carry the
// shared array itself to another process.
func (a *Array[T]) MarshalBinary() ([]byte, error) { return a.o.Handle().MarshalBinary() }

// Close ends this handle: Copy, Update and Lock then fail with an error
// matching shm.ErrClosed (and os.ErrClosed). The array and its lock stay
// for the other handles and processes; a lock held through this handle
// stays held. Idempotent.
func (a *Array[T]) Close() error {
	a.closed.Store(true)
	return nil
}

// Free destroys the array for every process: it closes this handle and
// gives the array's memory and its lock's back to their segment. Every
// process must have stopped using it (Slice's memory too). A second Free,
// through any handle in any process, fails with shm.ErrStale.
func (a *Array[T]) Free() error {
	a.closed.Store(true)
	own := share.OwnsLock(a.o)
	if err := a.o.Free(); err != nil {
		return fmt.Errorf("array: freeing %q: %w", a.o.Name(), err)
	}
	if a.mu != nil && own {
		if err := a.mu.Free(); err != nil {
			return fmt.Errorf("array: freeing the lock of %q: %w", a.o.Name(), err)
		}
	}
	return nil
}

func (a *Array[T]) usable(what string) error {
	if a.closed.Load() {
		return closed(what)
	}
	return nil
}

// closed is the error of a call through a closed handle, apart from
// usable so that usable stays small enough to inline.
func closed(what string) error { return fmt.Errorf("array: %s: %w", what, shm.ErrClosed) }

package value

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"reflect"
	"sync/atomic"

	"github.com/shmkit/shmkit/ctypes"
	"github.com/shmkit/shmkit/internal/mem"
	"github.com/shmkit/shmkit/internal/seqlock"
	"github.com/shmkit/shmkit/internal/share"
	"github.com/shmkit/shmkit/semaphore"
	"github.com/shmkit/shmkit/shm"
)

// Value is one T in shared memory, seen by every process that attaches to
// it (Python's multiprocessing.Value and RawValue). T must be plain data:
// numbers, bools, arrays and structs of them, no pointers (package ctypes
// decides, and New names the offending field).
type Value[T any] struct {
	o      *shm.Object
	mu     *semaphore.Mutex // nil for a raw value
	wide   seqlock.Pair     // a T not of 1, 2, 4 or 8 bytes: its two copies and the write sequence
	w32    *uint32          // a T of 1, 2 or 4 bytes, in the low bytes
	w64    *uint64          // a T of 8 bytes
	size   int
	tmp    T // Update's working copy, used only by the lock's holder
	num    numKind
	code   ctypes.Code
	shared bool // mu is the caller's (NewWithLock)
	closed atomic.Bool
}

var _ io.Closer = (*Value[int])(nil)

type numKind uint8

const (
	notNumber numKind = iota
	integer
	float32Kind
	float64Kind
)

// small reports whether a T of size bytes goes through one atomic word.
func small(size uintptr) bool { return size == 1 || size == 2 || size == 4 || size == 8 }

func dataSize(size uintptr) uint64 {
	if small(size) {
		return 8
	}
	return 2 * alignUp(uint64(size), 64)
}

func alignUp(n, a uint64) uint64 { return (n + a - 1) &^ (a - 1) }

// New makes a Value holding init, with a lock (Python's Value(code, init)),
// in the default heap or where opts place it (shm.In).
func New[T any](init T, opts ...shm.Option) (*Value[T], error) {
	return newValue(init, true, nil, opts)
}

// NewWithLock makes a Value holding init whose lock is mu, a Mutex of the
// caller's that other values and arrays may share (Python's Value(code,
// init, lock=mu)): Lock, Update and the Store of a T wider than 8 bytes
// take mu, in every process. While this process holds mu, Update and
// Store do not take it again, so that one "mu.Lock() ... mu.Unlock()"
// wraps changes to several values, as Python's lock=RLock() does. The
// value is placed in mu's segment, which is where opts must place it if
// they place it at all (ErrInvalid otherwise). Free leaves mu to its
// owner.
func NewWithLock[T any](init T, mu *semaphore.Mutex, opts ...shm.Option) (*Value[T], error) {
	if mu == nil {
		return nil, fmt.Errorf("value: making a value: %w: nil lock", ErrInvalid)
	}
	return newValue(init, true, mu, opts)
}

// NewRaw makes a Value without a lock (Python's RawValue): Load, Store and
// the atomic operations work as for New; Update and Lock do not.
func NewRaw[T any](init T, opts ...shm.Option) (*Value[T], error) {
	return newValue(init, false, nil, opts)
}

// newValue makes a value, with its own lock when locked, or with shared
// (the caller's) when not nil.
func newValue[T any](init T, locked bool, shared *semaphore.Mutex, opts []shm.Option) (*Value[T], error) {
	l, err := layout[T]()
	if err != nil {
		return nil, err
	}
	mu := shared
	if shared != nil {
		if opts, err = share.InLockSegment(shared.Handle(), opts); err != nil {
			return nil, fmt.Errorf("value: making a value: %w", err)
		}
	}
	o, err := share.Make(shm.KindValue, l, 1, dataSize(l.Size), func(o *shm.Object, h *share.Header) error {
		if mu, err = share.Lock(o, h, locked, mu, semaphore.NewMutex); err != nil {
			return err
		}
		copy(o.Bytes()[share.DataOffset:], mem.Bytes(&init))
		return nil
	}, opts)
	if err != nil {
		if mu != nil && mu != shared {
			mu.Free()
		}
		return nil, fmt.Errorf("value: making a value: %w", err)
	}
	v := &Value[T]{shared: shared != nil}
	v.init(o, mu, l)
	return v, nil
}

func layout[T any]() (ctypes.Layout, error) {
	l, err := share.LayoutOf[T]()
	if err != nil {
		return l, fmt.Errorf("value: %w", err)
	}
	return l, nil
}

// spec is what Open and UnmarshalBinary look for: a value of T.
func spec(l ctypes.Layout) shm.Spec { return share.Spec(shm.KindValue, l, dataSize(l.Size)) }

// Open opens the Value called name in seg. It fails with shm.ErrLayout
// when the stored value is not a T, and shm.ErrKind when name is not a
// value. It waits, as long as ctx allows, for a value not made yet (an
// error matching shm.ErrNotExist and ctx.Err() when ctx ends first) or
// whose creator is still making it.
func Open[T any](ctx context.Context, seg *shm.Segment, name string) (*Value[T], error) {
	l, err := layout[T]()
	if err != nil {
		return nil, err
	}
	o, err := seg.Find(ctx, name, spec(l))
	if err != nil {
		return nil, fmt.Errorf("value: opening %q: %w", name, err)
	}
	v := &Value[T]{}
	if err := v.attach(o, l); err != nil {
		return nil, err
	}
	return v, nil
}

// UnmarshalBinary attaches v to the Value whose handle MarshalBinary
// encoded, as a child process does with a Value passed to it. On failure
// v is as it was.
func (v *Value[T]) UnmarshalBinary(b []byte) error {
	l, err := layout[T]()
	if err != nil {
		return err
	}
	o, err := shm.Unmarshal(b, spec(l))
	if err != nil {
		return fmt.Errorf("value: %w", err)
	}
	return v.attach(o, l)
}

// attach checks o's header and attaches to its lock.
func (v *Value[T]) attach(o *shm.Object, l ctypes.Layout) error {
	h, err := share.Attach(o, l)
	if err == nil && h.Len != 1 {
		err = fmt.Errorf("%w: a value of %d elements", share.ErrHeader, h.Len)
	}
	var mu *semaphore.Mutex
	if err == nil && h.Locked {
		if mu, err = semaphore.OpenMutexAt(o.Segment(), h.LockOffset, h.LockGeneration); err != nil {
			err = fmt.Errorf("attaching its lock: %w", err)
		}
	}
	if err != nil {
		return fmt.Errorf("value: %q: %w", o.Name(), err)
	}
	v.init(o, mu, l)
	v.shared = h.SharedLock
	return nil
}

func (v *Value[T]) init(o *shm.Object, mu *semaphore.Mutex, l ctypes.Layout) {
	b := o.Bytes()
	data := b[share.DataOffset:]
	v.o, v.mu = o, mu
	v.size, v.code = int(l.Size), l.Code
	v.w32, v.w64, v.wide = nil, nil, seqlock.Pair{}
	switch l.Size {
	case 1, 2, 4:
		v.w32 = mem.Uint32(data, 0)
	case 8:
		v.w64 = mem.Uint64(data, 0)
	default:
		n := alignUp(uint64(l.Size), 64)
		v.wide = seqlock.NewPair(share.Seq(b), data[:n], data[n:2*n])
	}
	v.num = notNumber
	switch reflect.TypeFor[T]().Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		v.num = integer
	case reflect.Float32:
		v.num = float32Kind
	case reflect.Float64:
		v.num = float64Kind
	}
	v.closed.Store(false)
}

// Load returns the value. It never takes the lock and never sees half of
// one Store and half of another: a T of 1, 2, 4 or 8 bytes is one atomic
// load; a wider one is read from the copy the last complete write made.
func (v *Value[T]) Load() T {
	switch {
	case v.w64 != nil:
		return mem.FromBits[T](atomic.LoadUint64(v.w64))
	case v.w32 != nil:
		return mem.FromBits[T](uint64(atomic.LoadUint32(v.w32)))
	}
	return v.loadWide()
}

// loadWide reads a wide T from the copy the last complete write made.
func (v *Value[T]) loadWide() T {
	var x T
	v.wide.Load(mem.Bytes(&x))
	return x
}

// storeWide writes x into the copy not in use and then makes it current:
// a process killed half-way leaves the current copy whole. Writers must
// exclude each other (the lock, or the caller for a raw value).
func (v *Value[T]) storeWide(x T) { v.wide.Store(mem.Bytes(&x)) }

// Store sets the value. A T of 1, 2, 4 or 8 bytes is one atomic store; a
// wider one is written under the lock, or, for a raw value, with no lock:
// raw Stores of a wide T must then not run at once in several goroutines
// or processes.
func (v *Value[T]) Store(x T) error {
	if err := v.usable("store"); err != nil {
		return err
	}
	switch {
	case v.w64 != nil:
		atomic.StoreUint64(v.w64, mem.Bits(x))
		return nil
	case v.w32 != nil:
		atomic.StoreUint32(v.w32, uint32(mem.Bits(x)))
		return nil
	}
	if v.mu != nil {
		took, err := v.lock()
		if err != nil {
			return err
		}
		if took {
			defer v.mu.Unlock()
		}
	}
	v.storeWide(x)
	return nil
}

// lock takes the lock for a write, and reports whether it did: a lock
// shared with the caller (NewWithLock) that this process holds already is
// not taken again, as Python's lock=RLock() lets "with lock:" wrap changes
// to several values. A holder that died inside a write left the value
// whole (see storeWide), so ErrOwnerDead needs no repair here.
func (v *Value[T]) lock() (bool, error) {
	if v.shared && v.mu.HeldHere() {
		return false, nil
	}
	if err := v.mu.Lock(); err != nil && !errors.Is(err, semaphore.ErrOwnerDead) {
		return false, fmt.Errorf("value: locking: %w", err)
	}
	return true, nil
}

// Update applies f to the value under the lock, as Python's
// "with v.get_lock(): v.value += 1". f sees the current value and changes
// it in place. For a T of 1, 2, 4 or 8 bytes the change is committed by a
// compare-and-swap, so f runs again if a lock-free Store, Add or Swap
// landed meanwhile: f must only compute. A process killed inside Update
// changes nothing: the value is either the old one or its whole update.
// A raw value has no lock: Update returns ErrNoLock.
func (v *Value[T]) Update(f func(*T)) error {
	if err := v.usable("update"); err != nil {
		return err
	}
	if v.mu == nil {
		return ErrNoLock
	}
	took, err := v.lock()
	if err != nil {
		return err
	}
	if took {
		defer v.mu.Unlock()
	}
	// f gets the handle's working copy, not a local that would escape to
	// the heap: only the lock's holder uses it.
	x := &v.tmp
	if v.w32 == nil && v.w64 == nil {
		*x = v.loadWide()
		f(x)
		v.storeWide(*x)
		return nil
	}
	for {
		old := v.bits()
		*x = mem.FromBits[T](old)
		f(x)
		if v.casBits(old, mem.Bits(*x)) {
			return nil
		}
	}
}

func (v *Value[T]) bits() uint64 {
	if v.w64 != nil {
		return atomic.LoadUint64(v.w64)
	}
	return uint64(atomic.LoadUint32(v.w32))
}

func (v *Value[T]) casBits(old, new uint64) bool {
	if v.w64 != nil {
		return atomic.CompareAndSwapUint64(v.w64, old, new)
	}
	return atomic.CompareAndSwapUint32(v.w32, uint32(old), uint32(new))
}

// mask keeps the bits of a T of 1, 2 or 4 bytes.
func (v *Value[T]) mask() uint64 { return 1<<(8*v.size) - 1 }

func (v *Value[T]) mustBeWord(op string) {
	if v.w32 == nil && v.w64 == nil {
		panic(fmt.Sprintf("value: %s on a Value of %d bytes: only 1, 2, 4 and 8 have atomic operations", op, v.size))
	}
}

// Add adds delta atomically and returns the new value, with no lock. T
// must be an integer or floating-point type (else Add panics); integers
// wrap around as Go's do.
func (v *Value[T]) Add(delta T) T {
	v.mustBeWord("Add")
	d := mem.Bits(delta)
	switch {
	case v.num == integer && v.w64 != nil:
		return mem.FromBits[T](atomic.AddUint64(v.w64, d))
	case v.num == integer && v.size == 4:
		return mem.FromBits[T](uint64(atomic.AddUint32(v.w32, uint32(d))))
	case v.num == notNumber:
		panic(fmt.Sprintf("value: Add on a Value of %s, which is not a number", reflect.TypeFor[T]()))
	}
	for {
		old := v.bits()
		var n uint64
		switch v.num {
		case integer:
			n = (old + d) & v.mask()
		case float32Kind:
			n = uint64(math.Float32bits(math.Float32frombits(uint32(old)) + math.Float32frombits(uint32(d))))
		default:
			n = math.Float64bits(math.Float64frombits(old) + math.Float64frombits(d))
		}
		if v.casBits(old, n) {
			return mem.FromBits[T](n)
		}
	}
}

// Swap stores x and returns the old value, atomically. T must be of 1, 2,
// 4 or 8 bytes (else Swap panics).
func (v *Value[T]) Swap(x T) T {
	v.mustBeWord("Swap")
	if v.w64 != nil {
		return mem.FromBits[T](atomic.SwapUint64(v.w64, mem.Bits(x)))
	}
	return mem.FromBits[T](uint64(atomic.SwapUint32(v.w32, uint32(mem.Bits(x)))))
}

// CompareAndSwap stores new if the value is old, reporting whether it did.
// Values are compared bit by bit (so NaN equals the same NaN, and -0 does
// not equal +0). T must be of 1, 2, 4 or 8 bytes (else it panics).
func (v *Value[T]) CompareAndSwap(old, new T) bool {
	v.mustBeWord("CompareAndSwap")
	return v.casBits(mem.Bits(old), mem.Bits(new))
}

// Lock takes the value's lock (Python's get_lock().acquire()). It returns
// semaphore.ErrOwnerDead, holding the lock, when its last holder died with
// it; ErrNoLock for a raw value.
func (v *Value[T]) Lock() error {
	if err := v.usable("lock"); err != nil {
		return err
	}
	if v.mu == nil {
		return ErrNoLock
	}
	if err := v.mu.Lock(); err != nil {
		return fmt.Errorf("value: %w", err)
	}
	return nil
}

// Unlock releases the lock. It panics on a raw value, or when the lock is
// not held by this process.
func (v *Value[T]) Unlock() {
	if v.mu == nil {
		panic("value: Unlock of a raw value")
	}
	v.mu.Unlock()
}

// Mutex is the value's lock (Python's get_lock()), nil for a raw value.
func (v *Value[T]) Mutex() *semaphore.Mutex { return v.mu }

// Stats reads the counters of the value's lock, over every process: the
// calls that waited for it, their sleeps and wake-ups, and the times it
// was taken from a holder that died (see semaphore.LockStats); zero for a
// raw value. A lock given to NewWithLock
// counts for every object it guards. Loads, stores and the atomic
// operations are not counted: a count would cost them an atomic add.
func (v *Value[T]) Stats() semaphore.LockStats {
	if v.mu == nil {
		return semaphore.LockStats{}
	}
	return v.mu.Stats()
}

// metrics reads a Value's, from its object: its lock's, none for a raw
// one.
func metrics(o *shm.Object) ([]shm.Metric, error) {
	m, err := share.LockMetrics(o, semaphore.OpenMutexAt)
	if err != nil {
		return nil, fmt.Errorf("value: metrics of %q: %w", o.Name(), err)
	}
	return m, nil
}

func init() { shm.RegisterMetrics(shm.KindValue, metrics) }

// Code is T's ctypes type code, 0 when T is not a scalar.
func (v *Value[T]) Code() ctypes.Code { return v.code }

// Handle names the value for another process.
func (v *Value[T]) Handle() shm.Handle { return v.o.Handle() }

// Name is the value's name in its segment, "" when unnamed.
func (v *Value[T]) Name() string { return v.o.Name() }

// MarshalBinary encodes the value's handle, so that encoders carry the
// shared value itself to another process.
func (v *Value[T]) MarshalBinary() ([]byte, error) { return v.o.Handle().MarshalBinary() }

// Close ends this handle: Store, Update and Lock then fail with an error
// matching shm.ErrClosed (and os.ErrClosed). The value and its lock stay
// for the other handles and processes; a lock held through this handle
// stays held. Idempotent.
func (v *Value[T]) Close() error {
	v.closed.Store(true)
	return nil
}

// Free destroys the value for every process: it closes this handle and
// gives the value's memory and its lock's back to their segment (not a
// lock given to NewWithLock, which other objects may share). Every
// process must have stopped using it. A second Free, through any handle
// in any process, fails with shm.ErrStale.
func (v *Value[T]) Free() error {
	v.closed.Store(true)
	own := share.OwnsLock(v.o)
	if err := v.o.Free(); err != nil {
		return fmt.Errorf("value: freeing %q: %w", v.o.Name(), err)
	}
	if v.mu != nil && own {
		if err := v.mu.Free(); err != nil {
			return fmt.Errorf("value: freeing the lock of %q: %w", v.o.Name(), err)
		}
	}
	return nil
}

func (v *Value[T]) usable(what string) error {
	if v.closed.Load() {
		return closed(what)
	}
	return nil
}

// closed is the error of a call through a closed handle, apart from
// usable so that usable stays small enough to inline.
func closed(what string) error { return fmt.Errorf("value: %s: %w", what, shm.ErrClosed) }

// String formats the value v holds, read as Load reads it: Value(3.14).
func (v *Value[T]) String() string { return fmt.Sprintf("Value(%v)", v.Load()) }

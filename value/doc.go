// Package value shares one typed value between processes: Python's
// multiprocessing.Value and RawValue, and sharedctypes structures, as a Go
// generic over shared memory.
//
//	v, err := value.New(0.0)               // Value('d', 0.0): with a lock
//	v.Store(3.1415927)                     // seen by every process
//	x := v.Load()
//	v.Update(func(x *float64) { *x += 1 }) // with v.get_lock(): v.value += 1
//	n, err := value.New[int64](0)
//	n.Add(1)                               // atomic, no lock
//	r, err := value.NewRaw(Point{X: 1})    // RawValue: no lock
//
// T is any plain type: numbers, bools, arrays and structs of them, with no
// pointers, strings, slices or maps (package ctypes decides, and New names
// the offending field: "ctypes: Order.Items: slice is not plain data"). A
// struct Value is Python's Namespace without a server: every process sees
// its fields.
//
// A Value is placed in the default heap, or where shm.In says; other
// processes open it by name with Open[T] (which checks that it holds a T:
// shm.ErrLayout otherwise, and waits, as long as its context allows, for a
// name not made yet) or receive it as a handle (MarshalBinary,
// UnmarshalBinary), as package process does.
//
// # Reads, writes and the lock
//
// Load never takes the lock and never sees a torn value: half of one write
// and half of another. A T of 1, 2, 4 or 8 bytes lives in one word and is
// loaded and stored with one atomic operation; Add, Swap and
// CompareAndSwap work on it without the lock. A wider T is kept twice:
// a write fills the copy not in use and then switches to it with one
// atomic store of the write sequence, and a reader retries when the
// sequence moved while it copied (a seqlock over two copies). Writers of a
// wide T take the lock, so Store of a wide T costs a lock and an unlock.
//
// Update(f) runs f under the lock. The lock is a semaphore.Mutex, robust
// against the death of its holder: a process killed inside Update leaves
// the value as it was or wholly updated, never half (the copy in use is
// never written), and the next Lock reports semaphore.ErrOwnerDead.
//
// Stats reads the counters of the lock (semaphore.LockStats: waits,
// sleeps, wake-ups, owner deaths), and shm.Metrics reads the same from the
// value's object; a raw value has none. Loads and stores are not counted:
// a count would add an atomic operation to each.
//
// # Python
//
// From Python, python/shmkit.py's seg.value(name) gives a Value of a
// scalar type (a T with a ctypes code) as a memoryview of its one item,
// cast to that code: v[0] loads it and v[0] = x stores it, each one machine
// access of the same word Go's atomics use (package array's doc has the
// whole recipe).
//
// # Lifecycle
//
//	        what it does to a Value
//	Close   ends this handle: Store, Update and Lock fail with an error
//	        matching shm.ErrClosed (and os.ErrClosed); the value and its
//	        lock stay for the other handles and processes, and a lock held
//	        through the handle stays held. Idempotent.
//	Free    destroys the value for every process: closes this handle and
//	        gives the value's block and its lock's back to the segment.
//	        Every process must have stopped using it; a second Free,
//	        through any handle in any process, fails with shm.ErrStale.
//
// Errors start with "value: "; those that other packages report too are
// shm's sentinels (ErrInvalid, ErrClosed, ErrCorrupt, ErrNotExist,
// ErrLayout, ErrKind), matched with errors.Is.
//
// # Layout
//
// The payload is a 64-byte header (see internal/share: the ctypes code of
// T, its size, the lock's place, the write sequence at offset 40) and
// then the data at offset 64 (the two copies are internal/seqlock's Pair):
//
//	T of 1, 2, 4, 8 bytes   offset 64: one 8-byte word, the value in its low bytes
//	wider T                 offset 64: copy 0; offset 64+S: copy 1 (S = size rounded up to 64);
//	                        the current copy is the write sequence's low bit
//
// Words are little endian; the layout fingerprint of T is the block's, so
// that attaching with another type fails.
//
// # Caveats
//
//   - A raw Value has no lock: Stores of a wide T from several goroutines or
//     processes at once can mix their bytes; make them one at a time.
//     Loads are still never torn by a single writer.
//   - Update of a T of 1, 2, 4 or 8 bytes commits with a compare-and-swap,
//     so that a lock-free Store or Add landing meanwhile is not lost; f may
//     then run again and must only compute.
//   - Add, Swap and CompareAndSwap panic on a T they cannot handle (Add on a
//     non-number, any of them on a T wider than 8 bytes or of 3, 5, 6 or 7).
//     CompareAndSwap compares bits: NaN equals the same NaN, -0 is not +0.
//   - Close ends a handle: Store, Update and Lock then fail with an error
//     matching shm.ErrClosed, while Load and the atomic operations, which
//     return no error, go on working as long as the segment is mapped.
//   - Only Linux on amd64 and arm64 is implemented; elsewhere constructors
//     return ErrNotSupported.
package value

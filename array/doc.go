// Package array shares a fixed-length typed array between processes:
// Python's multiprocessing.Array and RawArray as a Go generic over shared
// memory.
//
//	a, err := array.From([]int32{0, 1, 2, 3}) // Array('i', range(4)): with a lock
//	a.Set(0, 7)                               // seen by every process
//	a.Update(func(s []int32) {                // with a.get_lock(): ...
//		for i := range s {
//			s[i] = -s[i]
//		}
//	})
//	snapshot, err := a.Copy()                 // a consistent copy, under the lock
//	buf, err = a.CopyInto(buf)                // the same into a buffer kept between calls
//	s := a.Slice()                            // the shared memory itself, zero-copy
//
// T is any plain type (package ctypes decides); an Array of a scalar T
// records T's ctypes type code ('i', 'd', ...), which is what Python needs
// to read it. An Array is placed in the default heap or where shm.In says;
// other processes open it by name with Open[T] (shm.ErrLayout when the
// elements are not T; it waits, as long as its context allows, for a name
// not made yet) or receive it as a handle (MarshalBinary,
// UnmarshalBinary).
//
// # Access and the lock
//
// At and Set take no lock. For elements of 4 or 8 bytes they are one
// atomic load or store, so an element is never torn; wider elements are
// copied as they are. Copy and Update take the lock (a semaphore.Mutex,
// robust against the death of its holder); Slice gives the memory itself
// to callers who synchronise on their own. An index out of range panics,
// as for a slice.
//
// Update runs f on the elements in place. A process killed inside it may
// leave them half-updated: the next Lock, Copy or Update reports
// semaphore.ErrOwnerDead (Update and Copy still do their work), and the
// caller decides what the elements are worth.
//
// # Reading and writing an Array from Python
//
// A named Array of a scalar type is a run of native values in a file
// under /dev/shm. Python 3 opens it with multiprocessing.shared_memory and
// reads it as a memoryview cast to the Array's type code, at the offset
// DataOffset reports (the segment's 64-byte-aligned payload plus the
// 64-byte header); what either side writes, the other reads:
//
//	import struct, sys
//	from multiprocessing import shared_memory, resource_tracker
//
//	if sys.version_info >= (3, 13):
//	    shm = shared_memory.SharedMemory(name=SEGMENT, track=False)
//	else:
//	    shm = shared_memory.SharedMemory(name=SEGMENT)
//	    # Python < 3.13 would unlink the segment when this process exits,
//	    # though it only attached to it: its resource tracker must forget it.
//	    resource_tracker.unregister(shm._name, "shared_memory")
//	a = shm.buf[OFFSET:OFFSET + LENGTH * struct.calcsize(CODE)].cast(CODE)
//	print(a.tolist())  # what Go wrote
//	a[0] = 42          # Go's At(0) returns 42
//	a.release()        # before shm.close(), which fails while views are out
//	shm.close()        # not unlink(): the segment is Go's
//
// with SEGMENT the segment's Name(), OFFSET the Array's DataOffset(),
// LENGTH its Len() and CODE its Code() (TestPythonInterop runs this
// against the real python3). Python's
// access takes no lock: use it for data the Go side does not write at the
// same time, or hand over with an Event.
//
// # Lifecycle
//
//	        what it does to an Array
//	Close   ends this handle: Copy, Update and Lock fail with an error
//	        matching shm.ErrClosed (and os.ErrClosed); the array and its
//	        lock stay for the other handles and processes, and a lock held
//	        through the handle stays held. Idempotent.
//	Free    destroys the array for every process: closes this handle and
//	        gives the array's block and its lock's back to the segment.
//	        Every process must have stopped using it (Slice's memory too);
//	        a second Free, through any handle in any process, fails with
//	        shm.ErrStale.
//
// Errors start with "array: "; those that other packages report too are
// shm's sentinels (ErrInvalid, ErrClosed, ErrCorrupt, ErrNotExist,
// ErrLayout, ErrKind), matched with errors.Is.
//
// # Layout
//
// The payload is a 64-byte header (internal/share: the ctypes code of T,
// its size, the number of elements, the lock's place) followed by the
// elements at offset 64, packed as in a Go array.
//
// # Caveats
//
//   - Slice and At/Set of elements wider than 8 bytes (or of 1, 2, 3, 5, 6
//     or 7 bytes) are plain memory accesses: two processes writing the same
//     element at once can mix its bytes; use Update or the lock.
//   - The length is fixed at creation, as in Python.
//   - Close ends a handle: Copy, Update and Lock then fail with an error
//     matching shm.ErrClosed. At, Set and Slice, which return no error, go
//     on working as long as the segment is mapped.
//   - Only Linux on amd64 and arm64 is implemented; elsewhere constructors
//     return ErrNotSupported.
package array

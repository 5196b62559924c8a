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
// Stats reads the counters of the lock (semaphore.LockStats: waits,
// sleeps, wake-ups, owner deaths), and shm.Metrics reads the same from the
// array's object; a raw array has none. At, Set and Slice are not
// counted: a count would add an atomic operation to each.
//
// # Python, both ways
//
// From Python, python/shmkit.py in this repository (standard library only,
// numpy when it is installed) opens a segment by name, lists its objects,
// and gives a named Array or Value of a scalar type as a memoryview cast
// to its type code, or as a numpy array. The segment's header, its
// directory and the object's own header say where the elements lie and
// what they are, and each is checked; nothing passes out of band:
//
//	import shmkit
//
//	with shmkit.open("orders") as seg:  # shm.Create("orders", ...) in Go
//	    prices = seg.array("prices")    # array.New[float64](n, shm.In(seg, "prices")): format 'd'
//	    prices[0] = 101.5               # Go's At(0) returns 101.5
//	    count = seg.value("count")      # value.New[int64](0, shm.In(seg, "count")): one item
//	    print(count[0], seg.objects())  # a Value of 8 bytes or less: one load, one store
//
// Without the module, Python 3's multiprocessing.shared_memory reads an
// Array at the offset DataOffset reports (the segment's 64-byte-aligned
// payload plus the 64-byte header):
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
// LENGTH its Len() and CODE its Code().
//
// From Go, memory that shmkit did not make (Python's
// SharedMemory(create=True), a numpy array over one, any file under
// /dev/shm, a memfd) has no header to open by: shm.OpenForeign maps it by
// name (shm.ForeignFromFile from an open file) and View reads it as a []T
// of a plain T, checking that the size is a whole number of T's:
//
//	m, err := shm.OpenForeign(ctx, "psm_21467_46075") // Python's mem.name
//	defer m.Close()                                    // m.Free() also removes the name: mem.unlink()
//	xs, err := array.View[float64](m.Bytes())          // ErrInvalid unless the size is a multiple of 8
//	xs[0] = 42                                         // Python's mem.buf.cast("d")[0] reads 42.0
//
// Python's access takes no lock: use it for data the Go side does not
// write at the same time, or hand over with an Event. The tests of
// directory python (TestPythonReadsGo, TestGoReadsPython) and
// TestPythonInterop run these recipes against the real python3.
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

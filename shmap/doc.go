// Package shmap keeps maps and lists in shared memory, which every process
// attached to them reads and changes: Python's Manager().dict() and
// Manager().list(), without a server process or proxies.
//
//	m, err := shmap.New[int64, float64](shm.In(seg, "prices"))
//	err = m.Set(7, 9.5)
//	v, ok, err := m.Get(7)
//	m, err = shmap.Open[int64, float64](seg, "prices") // in another process
//
// Keys, values and elements are plain types (package ctypes), of at most
// MaxItem bytes, stored as their bytes.
//
// # Concurrency and crashes
//
// Every operation takes the collection's lock, a semaphore.Mutex, so each
// is atomic with respect to every other process. A process killed while it
// holds the lock, at any instruction, leaves an intent record saying what it
// was doing; the next process to take the lock repairs the collection
// before its own operation: a completed operation stays, and the
// interrupted one is either applied whole or not at all (an overwrite is
// undone; an insert or a delete stands if it reached its commit store).
//
// # Growth
//
// A Map grows when it is three quarters full (tombstones counted), a List
// when it is full: a new table, twice the size, is filled beside the old
// one and then switched in with one recorded step; the old one is freed.
// Other processes wait for the lock while it happens. The segment bounds
// the growth: ErrFull when there is no room, the collection as it was.
//
// # Caveats
//
//   - A process killed between allocating a new table and recording it in
//     the intent record leaks that table (the collection is whole).
//   - Keys are compared as bytes: a key type with padding bytes (a struct
//     whose fields leave gaps) is refused with ErrInvalid, and a float key
//     is found by its exact bits (-0 and +0 are two keys; NaN is a key).
//   - Range and All yield nothing when the lock cannot be taken (a corrupt
//     collection); Len reports the error.
//   - Only plain keys, values and elements for now.
//   - A Namespace is a value.Value of a struct.
package shmap

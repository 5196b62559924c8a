// Package shmap keeps maps and lists in shared memory, which every process
// attached to them reads and changes: Python's Manager().dict() and
// Manager().list(), without a server process or proxies.
//
//	m, err := shmap.New[int64, float64](shm.In(seg, "prices"))
//	err = m.Set(7, 9.5)
//	v, ok, err := m.Get(7)
//	m, err = shmap.Open[int64, float64](ctx, seg, "prices") // in another process
//
// Open and OpenList wait, as long as their context allows, for a name not
// made yet, so a program may open before another has made the map.
//
// # Keys, values and elements
//
// Plain types (package ctypes) of at most MaxItem bytes are kept as their
// bytes, in the table's slots. Any other type is encoded: strings as their
// bytes, plain types larger than MaxItem (or of no bytes, as struct{}) as
// theirs, and everything else through encoding/gob, as a Queue of package
// ringbuffer does; SetKeyCodec, SetValueCodec and List.SetCodec replace
// the Codec (every process must use the same). An encoding lives in a data
// region after the table's slots, and the slot holds its offset and
// length. So a Map[string, []string] or even a Map[any, any] works, as
// Python's dict does:
//
//	d, err := shmap.New[any, any]()
//	err = d.Set(1, "1")
//	err = d.Set("2", 2)
//	err = d.Set(0.25, nil)
//
// Keys are compared by their bytes or encodings, so their Codec must be
// deterministic (gob is, for the types a key can have); int(1), int64(1)
// and 1.0 are three keys. A key type holding pointers or channels is
// refused: their equality is their address, which no encoding keeps.
//
// # Concurrency and crashes
//
// A Map is made of 8 parts, each with its own lock (a semaphore.Mutex),
// header and table; a key lives in the part its hash names, so processes
// working on different keys seldom meet on one lock. A List is one part.
//
// Every operation that changes a part takes its lock, so each is atomic
// with respect to every other process; so do the reads, except Map.Get of
// a plain key and value. Len, Range and Snapshot of a Map take the locks
// of all its parts (always in the same order), and so see it at one
// instant. That Get reads
// without the lock, as the reader of a seqlock: a word of the header is odd
// while a holder of the lock changes what it reads, and a reading counts
// only when the word was even and unchanged around it (after a few tries,
// Get takes the lock). So readers take no lock and write nothing shared,
// never see a value half written, and read on while a growth fills its
// new table.
//
// A process killed while it holds the lock, at any instruction, leaves an
// intent record saying what it was doing; the next process to take the
// lock repairs the collection before its own operation: a completed
// operation stays, and the interrupted one is either applied whole or not
// at all (an overwrite is undone, or was one atomic store; an insert or a
// delete stands if it reached its commit store). A reader that finds the
// word left odd by a dead writer takes the lock, and so repairs.
//
// Memory that no shmkit process would write (garbage over a header, a lock
// word, a table or the segment under them) gives ErrCorrupt (which is
// shm.ErrCorrupt) from every operation that meets it, never a panic;
// Len, which returns no error, is 0 then. That includes a lock word overwritten while this process holds
// it, which the unlock reports instead of panicking (the operation has
// then taken effect: Pop returns its element with the error), and a lock
// word that names this process when an operation starts, on which Lock
// would otherwise wait for itself. A lock word overwritten while an
// operation here already waits for it can still hold that wait: naming
// this process, for as long as the waiter's context allows; naming
// another live process attached to the segment, for as long as that one
// lives. A map or list whose header has another version than this build's
// (one made by another release of shmkit) is refused with ErrCorrupt and
// shm.ErrVersion.
//
// # Growth
//
// A Map's part grows when it is three quarters full (tombstones counted),
// while the other parts go on; a List when it is full; and an encoded
// collection also when its data region has no room for a new encoding. A
// new table (twice the slots when they are what ran out, and a data region
// of twice the live encodings) is filled beside the old one and then
// switched in with one recorded step; the old one is freed. The encodings that overwrites and deletes left behind are
// dropped then. Writers to that part wait for its lock while it happens,
// for a time that grows with the part; Map.Get of plain types reads the
// old table until the switch.
//
// The segment bounds the growth: ErrFull when it has no room for the new
// table beside the old one, the collection as it was. An empty Map takes
// about 8 KiB (8 headers, locks and tables of 8 slots; 12 KiB with the
// data regions of encoded keys or values). A collection made
// without options lives in a segment of the default heap, 4 MiB at first:
// make a large one in a segment of its own, of the size it needs
// (shm.Create, or shm.Anonymous and shm.DefaultHeap().Add, then shm.In).
//
// # Counters
//
// Stats reads a Map's or a List's figures (MapStats, ListStats): its
// entries and garbage bytes (levels), the growths of its tables, the times
// a lock was taken from a dead holder, and the repairs of what dead
// holders left half done; a Map's are the sums over its parts. shm.Metrics
// reads the same from the object alone, for tools. The counts come from
// words the operations write anyway (the count, the growths, the data
// words) and from the rare events: a takeover is counted by the lock
// (semaphore.LockStats), a repair by one atomic add to the part's header.
// Nothing is added to Get, Set or any other operation.
//
// # Lifecycle
//
//	        what it does to a Map or a List
//	Close   ends this handle: every later call through it fails with an
//	        error matching ErrClosed (shm.ErrClosed, and os.ErrClosed), and
//	        Len is 0; the collection stays for the other handles and
//	        processes. Idempotent.
//	Free    destroys the collection for every process: closes this handle
//	        and gives its memory back to the segment (a Map's root, and
//	        each part's header, lock and table; a List's header, lock and
//	        table). Every process must have stopped using it; a second
//	        Free, through any handle in any process, fails with
//	        shm.ErrStale.
//
// Every error starts with "shmap: " and the call that failed ("shmap:
// set: ..."); the conditions other packages report too are shm's
// sentinels under their own names (ErrInvalid, ErrFull, ErrCorrupt,
// ErrClosed) or shm's (ErrNotExist, ErrLayout, ErrKind), matched with
// errors.Is.
//
// # Caveats
//
//   - A process killed between allocating a new table and recording it in
//     the intent record leaks that table (the collection is whole). One
//     killed inside New leaks what it had placed, which no other process
//     could see yet; one killed inside Free leaves the collection part
//     freed (Free is for when every process has stopped using it).
//   - Get, At, Pop and the snapshots decode after releasing the lock;
//     Update decodes and encodes under it, and Set encodes before taking
//     it.
//   - Keys are compared as bytes: a key type with padding bytes (a struct
//     whose fields leave gaps) is refused with ErrInvalid, and a float key
//     is found by its exact bits (-0 and +0 are two keys; NaN is a key).
//   - Range and All yield nothing when the snapshot fails (a corrupt
//     collection, or an encoding the Codec cannot decode); Snapshot reports
//     the error.
//   - Range and All copy the whole collection (and decode it) first.
//   - A Namespace is a value.Value of a struct.
package shmap

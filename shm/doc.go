// Package shm provides shared-memory segments that check what they hold:
// named segments under /dev/shm that unrelated processes open by name,
// anonymous segments (memfd) that a process family shares through inherited
// file descriptors, and, inside every segment, an allocator and a directory
// so that objects made in one process can be found by name in another.
//
// Higher-level shared types (package value, array, semaphore, ringbuffer)
// are built on it: their constructors take an Option (In) that says where
// the object goes, and use the process's default heap, an anonymous and
// growing set of segments, without one.
//
//	seg, err := shm.Create("orders", 64<<20, nil) // mode 0600; ErrExist if taken
//	defer seg.Close()
//	obj, err := shm.Place(shm.Spec{Kind: shm.KindBytes, Size: 4096}, nil, shm.In(seg, "buf"))
//
//	// In another process, started before or after the first:
//	seg, err := shm.Open(ctx, "orders", nil)   // waits, until ctx ends, for the segment to be made and ready
//	obj, err := seg.Find(ctx, "buf", shm.Spec{Kind: shm.KindBytes}) // waits likewise for the object
//
// A Handle names one object (segment, offset, kind, layout, generation) and
// encodes to bytes, so that an object can be passed to another process and
// re-attached there with Resolve (Unmarshal, for typed objects).
//
// # Opening
//
// Open, OpenOrCreate and Segment.Find wait for what they open, until their
// context ends: a segment or object that does not exist yet (so programs
// started separately need no retry loop), and one whose creator is still
// making it (reporting ErrCreatorDied if that creator dies first). A name
// that never appears fails, when the context ends, with an error matching
// both ErrNotExist and ctx.Err(): give a context with a deadline where a
// typo must not wait for ever. Every typed open of shmkit (OpenQueue,
// OpenMutex, value.Open, ...) is built on Find, and every UnmarshalBinary on
// Unmarshal: the kind, layout fingerprint, size and generation checks are
// these.
//
// # Lifecycle
//
// The same three words mean the same thing for every shared type of
// shmkit:
//
//	call      what it does                                              for whom
//	Close     releases this process's handle; idempotent; later calls   this handle only
//	          through it fail with ErrClosed (os.ErrClosed)
//	Free      destroys the object: a Segment's name is removed (Unlink) every process
//	          and this handle closed; an object's memory goes back to
//	          its segment (a second Free is ErrStale)
//	Shutdown  a queue stops taking messages; Get drains, then           every process
//	          ErrShutdown (package ringbuffer)
//
// For a Segment, Close unmaps it in this process, and Free removes its name:
// processes that have it mapped keep it until they Close, and its memory
// goes back to the system when the last one does. Unlink removes a name
// without opening the segment (for tools); shmctl gc removes the segments
// whose creator died and that no process maps.
//
// # Creation
//
// Create makes the file unnamed (O_TMPFILE) in /dev/shm, reserves its whole
// size with fallocate (a full /dev/shm is ErrNoSpace at Create, never a
// SIGBUS later), writes the header, and only then links it under its name.
// linkat never follows or replaces an existing entry, which gives the
// guarantee of O_CREAT|O_EXCL|O_NOFOLLOW: of two processes creating the same
// name, exactly one succeeds and the other gets ErrExist, and a planted
// symlink is never followed. No process ever sees half a header. The
// segment's state word then stays "creating" while SegmentOptions.Init runs, and
// Open waits for "ready", reporting ErrCreatorDied if the creator dies first
// instead of waiting forever.
//
// # Segment header
//
// Every segment starts with a 256-byte header. Integers are little-endian.
// The first 84 bytes never change after creation and carry a CRC-32C
// (Castagnoli) checksum, computed with the state word taken as zero.
//
//	offset size  field
//	     0    8  magic "shmkitSG"
//	     8    4  version (3)
//	    12    4  state: 0 creating, 1 ready (a futex word)
//	    16    8  size: total bytes, header included
//	    24    8  id: random, never 0, the segment's identity in handles
//	    32    4  creator pid
//	    36    4  flags: 1 anonymous
//	    40    8  creator owner word (see Liveness)
//	    48    4  header size (256)
//	    52    4  directory entries (1 to 65536)
//	    56    8  directory offset (256)
//	    64    8  heap offset: the directory's end, rounded up to 64
//	    72    8  created, Unix nanoseconds
//	    80    4  checksum of bytes 0 to 79
//	   128    8  lock owner: the holder's owner word, 0 when free
//	   136    4  lock sequence, a futex word bumped by every unlock
//	   140    4  lock waiters
//	   144    8  heap top: blocks lie between the heap offset and here
//	   152    8  last generation handed to a block
//	   160    8  lock recoveries: times the lock was taken from a dead owner
//
// The other bytes up to 256 are reserved and must be zero. Open rejects a header
// whose magic, checksum, sizes or offsets are wrong (ErrBadHeader), whose
// version is not this build's (ErrVersion: version 1 left stale block
// headers past the heap top, which version 2 reads as corruption), or whose
// size differs from the file's.
//
// The magic at 0 and the version at 8 keep their places in every format,
// and the version is read before anything else is checked: a segment of a
// newer format is refused with ErrVersion (by Open, OpenOrCreate, FromFile
// and a handle's Resolve alike), whatever the rest of its header holds, and
// never read as this one. The version covers the whole segment: the header,
// the directory, the heap and the layout of every object shmkit places in
// it. A release that changes any of them raises it.
//
// # Directory
//
// The directory is an array of 128-byte entries, one per named object:
//
//	offset size  field
//	     0    4  state: 0 empty, 1 reserved (creator initializing), 2 live (a futex word)
//	     4    4  kind
//	     8    8  fingerprint of the element type's layout (package ctypes)
//	    16    8  payload offset
//	    24    8  payload length
//	    32    8  creator: its owner word
//	    40    8  generation of the block
//	    48    2  name length (1 to 64)
//	    52    4  checksum: CRC-32C of bytes 4 to 51 and the name
//	    64   64  name
//
// # Liveness
//
// Every record of a process in shared memory (a segment's creator, an
// entry's creator, the allocator lock, and the locks, claims and roles of
// the packages above) is an owner word: the process's pid, as it sees it,
// in the high 32 bits, and a random nonce it drew at start in bits 1 to 31.
// The pid is for people to read; the word as a whole is the identity.
//
// Whether that process still runs is not read from /proc, whose pids mean
// nothing across pid namespaces (containers that share /dev/shm but not
// their pids). The kernel keeps it: each process attached to a segment
// holds, on a description of the segment's file opened for that alone and
// never inherited, an OFD write lock (F_OFD_SETLK) on the byte at
// 1<<62 + word>>1, far past the file's end where it takes no room. A
// reader asks with F_OFD_GETLK (about 0.2 µs: BenchmarkAlive in
// internal/owner). The kernel drops the lock as the process dies, however
// it dies and in whatever namespace, so a live process attached to the
// segment is never taken for dead and a dead one is seen as soon as its
// files are closed. A record is judged by the segment it lies in: a
// process that closed that segment is gone from it. shmctl lists the
// attached processes the same way, and gc keeps a segment that any process
// is attached to.
//
// # Containers
//
// Processes in different containers share named segments when they share
// the directory /dev/shm: docker run --ipc=container:NAME beside a
// container run with --ipc=shareable, or an emptyDir of medium Memory
// mounted at /dev/shm in the containers of one Kubernetes pod. Anonymous
// segments, and so the default heap, reach only the children a process
// starts. Liveness (above) holds across their pid namespaces: a live
// process is never taken for dead though both sides are pid 1, and a dead
// one is seen as soon as its files are closed. The pids this package
// reports are as each process saw itself. Create reserves the whole size,
// so /dev/shm (64 MiB by default in Docker: --shm-size; sizeLimit in
// Kubernetes) must hold every segment at its full size: N bytes give a
// heap of N less the header and 128 bytes per directory entry, and each
// object takes its payload and a 64-byte block header, rounded up to 64.
//
// # Heap
//
// The heap is a sequence of blocks from the heap offset to the heap top,
// each a 64-byte header followed by its payload, so every payload is 64-byte
// aligned and two objects never share a cache line:
//
//	offset size  field
//	     0    4  state: "free" (0x65657266) or "used" (0x64657375)
//	     4    4  kind
//	     8    8  block size, header included, a multiple of 64
//	    16    8  fingerprint
//	    24    8  owner: the allocating process's owner word
//	    32    8  generation
//	    40    8  payload length asked for
//	    48    4  directory entry + 1, or 0 for an unnamed block
//
// A block's entry and generation words and its directory entry's offset and
// generation words name each other: Find, Attach and Resolve check both
// ways, so that an entry pointed, even with a valid checksum, at another
// object's block is ErrCorrupt rather than an alias of that object.
//
// The state word at the heap top is zero, whenever the top is below the
// heap's end: every change of the top leaves it so (a process killed while
// lowering the top leaves at worst free blocks there, up to a zero word).
// The allocator checks the top against this, and every block size against
// the top, before it trusts them, so that a top moved back over live
// blocks, into one, or past the real top is ErrCorrupt, never memory
// handed out twice.
//
// Allocation is first fit under a cross-process lock that records its
// owner. Every change commits with one aligned store (a block marked used, a
// size shrunk after the tail's header is written, the top moved), so a
// process killed at any instruction leaves a heap that walks. A process that
// finds the lock's owner dead (or, after waiting a second, finds that the
// live process the lock word names does not map the segment, as only a
// corrupted word could say) takes the lock over and frees any named block
// whose directory entry was never written. Payloads are zeroed when they are
// handed out.
//
// # Handles
//
// A handle encodes (MarshalBinary) to 52 bytes plus the segment name, all
// integers little-endian. UnmarshalBinary accepts exactly this and nothing
// else (ErrBadHandle); Resolve then checks the object itself: its block must
// be used and have the handle's kind, fingerprint and generation.
//
//	offset size  field
//	     0    4  handle magic "shmH"
//	     4    1  handle version (1)
//	     5    1  segment name length n (0 for an anonymous segment)
//	     6    2  zero
//	     8    8  segment id
//	    16    8  payload offset of the object
//	    24    4  kind of the object
//	    28    4  zero
//	    32    8  fingerprint of the object
//	    40    8  generation of the object
//	    48    n  segment name
//	  48+n    4  CRC-32C of the bytes before it
//
// A handle of another version is ErrBadHandle and ErrVersion.
//
// # Foreign memory
//
// OpenForeign and ForeignFromFile map shared memory that shmkit did not
// make (Python's SharedMemory(create=True), a C program's shm_open, a
// memfd) as a Foreign: its bytes as they are, with no header, directory or
// liveness, for package array's View to read as a []T. Close and Free mean
// what they mean for a Segment; Free removes the name only while it still
// names the file that was opened.
//
// # Caveats
//
//   - Close unmaps the segment: memory returned by Object.Bytes must not be
//     touched afterwards, by any goroutine. Closing the handle of an object
//     in it stays safe (Segment.Closed).
//   - An unnamed block belongs to whoever holds its handle. If the process
//     that allocated it dies before handing the handle on, the block stays
//     used until the segment is removed; nothing can tell it from a block
//     that other processes still use. Named objects have no such leak.
//   - Free gives memory back at once. Every process must have stopped
//     using the object; a handle to it then fails with ErrStale.
//   - A named segment can be truncated by any process that may write it,
//     which would make the others fault. Anonymous segments are sealed
//     against that; named ones rely on their file mode (0600 by default).
//   - Open, OpenOrCreate and Find, the calls of this package that wait for
//     another process (for a name to appear, a creator still initializing,
//     or the allocator lock), give up when their context ends. The others
//     wait for the allocator lock as long as its holder lives. A name is
//     looked for every 1 to 16 ms while it does not exist.
//   - The allocator lock is held for one allocation, lookup or removal
//     (under a microsecond each in BenchmarkAllocFree and BenchmarkFind,
//     the latter past 10,000 blocks: a lookup scans the whole directory, so
//     a large one costs more, and reads only the object's block header),
//     but a waiter blocks an OS thread while it waits: it is not for hot
//     paths. Attach and Free walk the heap to the block they are given.
//   - Segments and objects live until freed. Free a named segment when it
//     is no longer wanted; shmctl gc removes those whose creator died and
//     that no process maps.
//   - The default heap reserves memory in chunks (4 MiB, doubling) and
//     keeps it for the life of the process.
//   - A process that closes every handle it has to a segment is gone from
//     it, for the others, even if it runs on: a lock it still held there
//     passes to the next locker with ErrOwnerDead (see Liveness).
//   - Liveness needs /proc/self/fd (to open a segment's file anew); a
//     process without /proc cannot create, open or inherit a segment.
//   - Foreign memory is whatever its maker made it: a file that another
//     program truncates, or whose pages were never reserved (Python's
//     SharedMemory makes a sparse file) on a full /dev/shm, faults when
//     touched, and nothing says what its bytes hold but the agreement
//     with that program.
//   - Only Linux on amd64 and arm64 is implemented; elsewhere every
//     function returns ErrNotSupported.
package shm

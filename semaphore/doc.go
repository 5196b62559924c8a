// Package semaphore gives processes the locks and signals of Python's
// multiprocessing, in shared memory and on futexes, robust against the
// death of any process:
//
//	Python                          shmkit
//	Lock                            Mutex: Lock, LockContext, TryLock, Unlock, Locked
//	RLock                           RLock (re-entrant per process)
//	Semaphore, BoundedSemaphore     New, NewBounded: Acquire(ctx, n), TryAcquire, Release, Value
//	Condition(lock)                 Cond on a Mutex or an RLock: Wait(ctx), WaitFor, Signal, Broadcast, Notify(n)
//	Event                           Event: Set, Clear, IsSet, Wait(ctx)
//	Barrier(parties, action)        Barrier: Wait(ctx) (index), Abort, Reset, SetAction
//	(Go's sync.RWMutex)             RWMutex: RLock, RUnlock, Lock, Unlock, with Context and Try forms
//
// Mutex, RLock and both sides of an RWMutex give a sync.Locker view
// (Locker, RLocker) to APIs that take one: its Lock takes a dead holder's
// lock as Lock does and records the death in LastOwnerDead, and panics on
// a closed handle.
//
// A constructor places the object in the process's default heap, or where
// shm.In says: in a segment, under a name that other processes open it by
// (OpenMutex, OpenEvent, ...). An open waits, as long as its context
// allows, for an object not made yet, so that a program may open before
// another has created. Every object encodes as a handle (MarshalBinary;
// UnmarshalBinary attaches to it), which is how package process passes it
// to a child, and how encoding/gob carries it.
//
// Every blocking call takes a context, and gives up when it ends with
// ctx.Err(), leaving the object as it was: a cancelled Acquire has taken no
// units, a cancelled LockContext holds no lock. Cond.Wait is the exception
// that Python and sync.Cond share: it holds its lock again when it
// returns, whatever it returns. Each Try call is its blocking twin without
// the wait: where the twin would wait, TryLock and TryAcquire return an
// error matching ErrWouldBlock at once (an error, not a bool, so that a
// TryLock can report ErrOwnerDead too).
//
// # Errors
//
// Every error returned here starts with "semaphore: ", but for ctx.Err()
// itself, which a wait that ran out of time returns as it is. Conditions
// that other packages of shmkit report too are the same values as in
// package shm (ErrInvalid is shm.ErrInvalid, ErrClosed is shm.ErrClosed
// and matches os.ErrClosed), so that one errors.Is test holds whichever
// package found them; an open passes on shm's errors (shm.ErrNotExist,
// shm.ErrKind, shm.ErrLayout, shm.ErrStale) wrapped.
//
// # Lifecycle
//
//	type       Close (this handle only)               Free (the object, for every process)
//	Mutex      later calls fail (ErrClosed);          gives the block back; waiters and later
//	           a lock held stays held                 calls through other handles fail (shm.ErrStale)
//	RLock      as Mutex                               as Mutex
//	Semaphore  later calls fail (ErrClosed);          gives the block back
//	           units taken stay taken
//	Event      later calls fail (ErrClosed)           gives the block back
//	Cond       later calls fail (ErrClosed);          gives the block back; its lock stays
//	           its lock stays open
//	Barrier    later calls fail (ErrClosed)           gives the block back
//	RWMutex    as Mutex; the process keeps its        as Mutex
//	           reader slot
//
// Close is idempotent, and touches neither the shared object nor other
// handles or processes. Free closes its handle too; a second Free, through
// any handle in any process, fails with shm.ErrStale. Every process must
// have stopped using an object before it is freed: the segment may give
// its memory to a new object. A process still waiting in Lock on a freed
// Mutex or RLock is woken and fails with shm.ErrStale (so do its later
// Lock and TryLock calls, until the memory is used again; the error
// matches ErrCorrupt too, as a word overwritten with the freed mark would
// look the same), and the holder's Unlock does nothing; a waiter left on any other type goes on
// using memory that is no longer the object's. An object no one frees
// lives as long as its segment.
//
// # When a process dies
//
// A Mutex or RLock records its holder (its owner word) in the same
// compare-and-swap that takes it, so there is no moment when it is held by
// nobody known. A waiter that finds the holder dead takes the lock and gets
// an *OwnerDeadError, which matches ErrOwnerDead and names the dead
// holder (its pid and owner word): it holds the lock, and judges whether
// the data it guards is consistent. Waiters look at the holder's liveness when they arrive and
// after each 25 ms of sleep, so a death is seen within about 40 ms.
//
// An RWMutex records its writer the same way, and each process that reads
// has a slot of its own that counts its reads. A writer that dies holding
// it (or waiting for the readers to leave) is found by the next reader or
// writer, which clears it and gets an *OwnerDeadError (Lock "rwmutex");
// the reads of a process that dies holding some are cleared by the next
// writer, or by a process taking a slot, and the next process to take the
// lock, reading or writing, gets an *OwnerDeadError (Lock "rwmutex
// reader") naming it.
//
// A party that dies inside Barrier.Wait breaks the barrier for the others
// (ErrBrokenBarrier) within the same bound. It had arrived, though: if the
// last party arrives before the death is noticed, the round is released as
// usual, and nobody is left waiting either way. A last party that dies
// inside its action (SetAction) breaks the barrier within the same bound:
// it is counted and recorded before the action runs. A process that dies inside
// Cond.Wait leaves the others waiting as before, and the notifications
// after its death pass over it to live waiters; if it died holding the
// lock (a Mutex or an RLock, whatever its depth), the next locker gets
// ErrOwnerDead, a waiter taking it back in Wait included. Semaphore units and Event
// flags have no owner: see Caveats. Semaphore waiters queue in shared
// memory, each recording itself beside its ticket: one that dies in the
// queue, or gives up, is passed over when its turn comes, by the waiters
// behind it (within the same bound) or by a TryAcquire, so that it never
// holds up the queue. One killed in the few instructions between taking
// its ticket and recording itself is passed over after a second, by
// Acquire and TryAcquire alike. A process killed between changing a word
// and waking its sleepers (inside Set, Release or Signal) delays them by
// at most half a second: every sleep is bounded, and a sleeper that wakes
// on its own sees the change (TestKillWakerBeforeWake); a Signal's sleeper
// then gets ErrOwnerDead, the lock having been held by the dead.
//
// # Waiting
//
// Fast paths make no system call: an uncontended Lock and Unlock are one
// compare-and-swap each, inlined into the caller (the lock word's bits are
// drawn in lockword.go), an Acquire with units to spare and nobody waiting
// is one, a Set with no sleeper is one. A waiter spins briefly, then marks
// the word as having sleepers and sleeps; a waker makes the FUTEX_WAKE
// system call only when that mark is there. A Mutex's or RLock's waiter
// sleeps on a wake sequence beside the lock word, which only a waking
// unlock changes; one woken to find the lock taken again (its holder
// lets go and takes it back at once) sleeps unmarked for 50 us, doubled
// each time up to 1 ms, before it marks the word again: the running
// holder then keeps the lock at the cost of a compare-and-swap per Lock
// and Unlock, as with sync.Mutex, instead of a system call every few
// holds. A Semaphore waiter
// takes a ticket instead and sleeps on its ticket's own word: a Release
// with waiters, or a turn passed on, wakes the head of the queue, and the
// waiter right behind it, which wakes every 25 ms to look whether the
// head still lives; the others look every half second.
// A Cond's waiters all sleep on one word, and a notification wakes them
// all: each looks whether its ticket was notified, and sleeps again if
// not.
//
// Within one process, the goroutines waiting for the same Mutex, RLock or
// Semaphore queue in the Go scheduler, and only the first of them sleeps on
// the shared word: a release wakes one goroutine per process, never a herd.
// Sleeping itself holds no OS thread for long (internal/park): a goroutine
// sleeps in the kernel itself for at most 2 ms, and only two at a time do;
// longer waits hand their word to a dispatcher goroutine that sleeps in
// futex_waitv on up to 127 words for the whole process, four dispatchers at
// most. Ten thousand goroutines parked on four hundred objects hold about
// ten OS threads in all (TestParkedGoroutinesThreads).
//
// # Counters
//
// Every object counts, in its shared memory, the events of its slow paths,
// over every process that uses it: a Lock that had to wait, a sleep in the
// kernel, a wake-up system call, a lock taken from a dead holder, a
// Barrier's rounds and breaks, an Event's Sets. Stats reads them, typed
// (LockStats, RWMutexStats, SemaphoreStats, EventStats, CondStats,
// BarrierStats); shm.Metrics reads the same figures, in the same order,
// from the object's bytes alone, for tools that hold no typed handle
// (shmctl). Each counter is a 64-bit word added to atomically, and only
// where the call is already slow: beside a system call, a sleep, or a
// compare-and-swap other processes contend for. An uncontended Lock and
// Unlock, an Acquire with units to spare and a Wait on a set Event count
// nothing, and cost what they did. Counts start at 0 when the object is
// made and wrap at 2^64; a process killed between its event and its count
// leaves that event uncounted.
//
// # Layout
//
// Each object is one block of a shm segment, of the kind and layout
// fingerprint below, so that attaching to a block of another kind or
// layout fails (shm.ErrKind, shm.ErrLayout). Offsets are in bytes from the
// payload's start; every word is little endian and accessed atomically.
//
//	kind       offset  size  field
//	mutex      0       8     owner word (below)
//	mutex      8       4     wake sequence: its sleepers sleep on it; an unlock that wakes them bumps it
//	mutex      12      4     sleepers on the wake sequence
//	mutex      16      32    counters: waits, sleeps, wakes, owner deaths (see Counters)
//	rlock      0       8     owner word
//	rlock      8       4     depth: how many times the holder entered it
//	rlock      12      4     wake sequence, as a mutex's
//	rlock      16      4     sleepers on the wake sequence
//	rlock      24      32    counters, as a mutex's
//	semaphore  0       8     state: units (bits 0-30), ticket served (32-47), next ticket (48-63)
//	semaphore  8       4     bound (bits 0-30); bit 31: bounded
//	semaphore  16      32    counters: waits, sleeps, wakes, skipped
//	semaphore  64      16*64 per ticket mod 64: owner word (8), tag (4), futex word (4)
//	event      0       4     bits 2-31: Set generation; bit 1: sleepers; bit 0: set
//	event      8       24    counters: sets, sleeps, wakes
//	cond       0       4     next ticket: waiters take one each, in turn
//	cond       4       4     notified: every ticket before it is notified
//	cond       8       4     sequence, bumped by every notify; the futex word
//	cond       12      4     slots in the ring (a power of two, 128)
//	cond       16      8     payload offset of its lock, in the same segment
//	cond       24      8     block generation of its lock
//	cond       32      4     waiters beyond the ring (while it is full)
//	cond       36      4     generation, bumped to wake those
//	cond       40      4     kind of its lock: shm.KindMutex (4) or shm.KindRLock (5)
//	cond       64      40    counters: waits, sleeps, wakes, notified, skipped
//	cond       128     16*n  per ticket mod n: owner word (8), ticket (4), state (4: 1 waiting, 2 gave up)
//	barrier    0       8     state (below)
//	barrier    8       4     parties
//	barrier    16      32    counters: rounds, breaks, sleeps, party deaths
//	barrier    64      16*n  per arrival index: owner word (8), round | 1<<31 (4), unused (4)
//	rwmutex    0       8     writer owner word: the writer holding it, or waiting for readers
//	rwmutex    8       8     dead reader: owner word of a reader that died holding, until told
//	rwmutex    16      4     wake sequence of readers, bumped when a writer lets go; they sleep on it
//	rwmutex    20      4     readers sleeping on the reader sequence
//	rwmutex    24      4     drain sequence, bumped when a process's last read leaves; the writer sleeps on it
//	rwmutex    28      4     slots: how many reader slots (64)
//	rwmutex    32      8     claimed slots: bit i set while slot i is a process's
//	rwmutex    40      4     sleepers on the drain sequence: the writer, and processes waiting for a slot
//	rwmutex    44      4     writers' wake sequence, as a mutex's
//	rwmutex    48      4     writers sleeping on it
//	rwmutex    64      48    counters: waits, sleeps, wakes, owner deaths, read waits, reader deaths
//	rwmutex    128     64*64 per reader slot: owner word (8), reads held (4); one cache line each
//
// The owner word is 0 when the lock is free; else its high 32 bits are the
// holder's pid (as it sees itself), bits 1-31 a random nonce the holder
// drew at start, and bit 0 is set when waiters may sleep. A freed lock's
// word is all ones. Whether the
// holder lives is asked of the kernel, not read from /proc, so it holds
// across pid namespaces (see Liveness in package shm's doc). The futex word is
// its low half. The barrier's state word holds the waiters of this round
// (bits 0-15), broken (bit 16), the round mod 2^15 (bits 17-31), and how
// each of the last 32 rounds ended (bit 32 + round%32: 1 broken or reset, 0
// released); its low half is the futex word. The semaphore's waiters are
// the tickets from the one served up to the next, exclusive; a ticket's
// slot (ticket mod 64) holds its waiter's owner word, a tag (the ticket in
// bits 0-15, bit 31 once written, bit 30 once the waiter gave up) and the
// futex word that waiter sleeps on. Every payload is at least 64 bytes,
// one cache line.
//
// # Caveats
//
//   - Semaphore units are not owned: a process that dies holding some does
//     not give them back. When units stand for a resource that dies with
//     the process, pair each process with a Mutex, or count in a Value.
//   - Semaphore waiters are served first come, first served, as in
//     golang.org/x/sync/semaphore, with one difference: a process (a
//     handle) has one place in the shared queue at a time, and its other
//     goroutines wait in order behind the one holding it; that one takes
//     a place at the tail for the next before it leaves the queue (so
//     that the queue never looks empty while they wait). Goroutines of
//     different processes that wait at the same time are thus served in
//     turn, not strictly by arrival. Beyond 64 waiting processes, the
//     others join as places free up, not in order, looking every 25 ms:
//     a place that frees goes as readily to a process arriving then, so
//     one of them can wait long (over half a second was seen while the
//     others took 137,000 turns).
//   - Semaphore.Release past the bound of a NewBounded semaphore returns
//     ErrOverRelease (x/sync panics, Python raises ValueError); an
//     unbounded one is never over-released, as in Python. An Acquire of
//     more than the bound returns ErrInvalid at once, where x/sync waits
//     for its ctx; on an unbounded semaphore a large Acquire can always be
//     satisfied, and waits its turn at the head of the queue, holding up
//     the others behind it until it is served or gives up.
//   - RLock re-entry is per process: every goroutine of the holding process
//     passes. Go has no goroutine identity to do as Python does per thread.
//     Depth is the holder's depth whoever asks, as Python's repr shows it
//     (its _recursion_count is 0 in threads that do not own the lock).
//   - A Mutex or RLock belongs to the process holding it: another process's
//     Unlock panics and leaves it held, where Python's multiprocessing.Lock
//     lets any process release it. Knowing the holder is what lets the next
//     locker take the lock from a dead one. Unlocking a lock that is not
//     held panics as sync.Mutex does, but with a panic a deferred recover
//     can stop, not sync's unrecoverable fatal error; the lock is left as
//     it was.
//   - Locks are not fair: a running locker may take a lock ahead of a
//     waiter that was just woken for it, as with Python's
//     multiprocessing.Lock (a POSIX semaphore) and pthread mutexes.
//     sync.Mutex instead hands the lock to a waiter that has waited over a
//     millisecond (its starvation mode); here a process that takes a lock
//     again the instant it lets it go can keep other waiters waiting, and
//     a waiter it kept so sleeps up to 1 ms unmarked (see Waiting): a lock
//     let go for good then may stay free that long before it is taken.
//     Leave a lock free between holds (any blocking call does), or take
//     turns with a Cond or a Semaphore.
//   - Signal, Broadcast and Notify need the Cond's lock held by the calling
//     process (ErrNotOwner), as in Python; sync.Cond does not ask for it.
//   - Wait on a Cond over an RLock releases it whatever its depth and takes
//     it back to that depth, as Python's Condition does; but the depth is
//     the process's, not the goroutine's (see RLock re-entry above): the
//     levels other goroutines of the process entered are released with it
//     and taken back by the waiter, so that goroutines of one process must
//     not hold such an RLock at once while one of them waits. Wait takes
//     the RLock back as another process would, waiting while another
//     goroutine here holds it.
//   - Cond.Wait returns nil when it was notified, even if its ctx ended
//     meanwhile (Python's wait returns True then); ctx.Err() means no
//     notification was spent on it. WaitFor looks at its predicate once more
//     when ctx ends, as Python's wait_for does after its timeout.
//   - A Cond queues waiters in a ring of 128 slots. Beyond 128 waiters not
//     yet notified, the others wait unordered until a notification makes
//     room; a Signal or Notify that finds no waiter in the ring wakes all of
//     those (more than asked), and one of them killed while waiting there
//     stays counted by Waiting.
//   - A waiter killed inside Cond.Wait is passed over by the notifications
//     that come after its death; one notified before it died counts as
//     woken. Waiting counts it until a notification passes over it.
//   - Barrier has no default timeout: give every Wait a context with that
//     deadline. Its action is a Go func, which cannot cross processes:
//     each process sets its own on its handle (SetAction), and the one that
//     runs is that of the last party to arrive, as in Python (one of the
//     waiting threads). A panicking action breaks the barrier and goes on
//     panicking in that party, where Python raises in it.
//   - A Locker view has no error to return: a Lock that takes a dead
//     holder's lock holds it and carries on, the death kept in
//     LastOwnerDead for the holder to look at; look there wherever a
//     half-done update would matter, or use Lock and its error.
//   - String shows an object's state in shmkit's form, not Python's repr:
//     a lock's holder is a pid (shmkit knows processes, not threads).
//   - A Barrier remembers how the last 32 rounds ended; a waiter that sleeps
//     through more rounds than that (its wake-up delayed while the others
//     went round 32 times) takes its own round as released. A party killed
//     in the few instructions between taking its arrival index and
//     recording itself is taken for dead after a second.
//   - A holder is named by its pid as it sees itself, which means nothing
//     in another pid namespace: Owner and String show that pid. Whether it
//     lives does not depend on it, and holds across pid namespaces (see
//     Liveness in package shm's doc). A process that closes the segment of
//     a lock it holds is gone from it: the next locker takes the lock.
//   - Close ends a handle, not the object; a lock held through it stays
//     held (see Lifecycle). Closing the segment while goroutines still use
//     an object in it is a bug, as for any shm object.
//   - The race detector does not see atomics on shared memory; under -race
//     these types tell it about the ordering they provide between the
//     goroutines of one process, so that data they guard is not reported.
//   - Sleeping on more than 508 distinct words at once in one process
//     makes further waits poll their word (every 50 us to 4 ms), and a
//     kernel older than Linux 5.16 (no futex_waitv) makes every wait longer
//     than 2 ms poll: slower wake-ups, still no thread per waiter.
//   - Only Linux on amd64 and arm64 is implemented; elsewhere constructors
//     return ErrNotSupported.
package semaphore

// Package ringbuffer moves messages between processes through rings in
// shared memory: Python's Queue, JoinableQueue and Pipe (duplex or
// one-way), without their
// feeder threads, their pickling of plain data, or their failure modes.
//
//	q, _ := ringbuffer.NewQueue[Fancy](64)     // multiprocessing.Queue: any encodable T
//	q.Put(ctx, Fancy{Name: "Fancy Dan"})
//	obj, err := q.Get(ctx)                     // blocks; ctx bounds it
//	q.Shutdown()                               // for all: no more puts; Get drains, then ErrShutdown
//
//	jq, _ := ringbuffer.NewJoinableQueue[Job](64) // TaskDone, Join(ctx)
//	a, b, _ := ringbuffer.Pipe[Msg](16)           // duplex: a.Send(ctx, m), b.Recv(ctx), Poll(ctx)
//	rx, tx, _ := ringbuffer.OneWayPipe[Msg](16)   // Pipe(duplex=False): tx.Send, rx.Recv
//	r, _ := ringbuffer.NewRing[Tick](1<<16)       // plain T only: PushBatch/PopBatch
//	ps, _ := ringbuffer.NewPubSub[Tick](1024, 8, ringbuffer.Lossy) // one publisher, every subscriber sees every message
//
// Every object is made in the process's default heap, or in a segment with
// shm.In(seg, name), where other processes find it by name (OpenQueue,
// OpenRing, OpenPipe, OpenReceiver, OpenSender; shm.ErrLayout when they
// ask for another T). Each one
// also encodes as a handle (MarshalBinary), so that it travels to a child
// process inside its arguments, or inside a message on another queue.
//
// # Which one
//
//   - Ring[T], for plain T (no pointers; package ctypes decides): fixed-size
//     slots, zero copies beyond the slot itself, zero allocations.
//     NewSPSCRing makes a single-producer single-consumer ring: Push and Pop
//     are wait-free (no compare-and-swap, one store of a cursor each, with
//     no fence where the kernel lets a sleeper fence it instead: see
//     Waiting) and each side caches the other's cursor, so a busy ring
//     costs a cache-line transfer per many messages. NewRing makes a multi-producer
//     multi-consumer ring. PushBatch and PopBatch move many slots for one
//     cursor update. Loan and Borrow write and read a slot in place, with
//     no copy at all (see Loans).
//   - PubSub[T], for plain T: publish/subscribe, one publisher and up to
//     a fixed number of subscribers (Subscribe, Recv), each of which
//     receives every message from the point it joined, with up to n
//     messages from before (history). Lossless: Publish waits for the
//     slowest live subscriber. Lossy: Publish never waits, and a
//     subscriber a whole ring behind gets a LappedError saying how many
//     messages it missed.
//   - Queue[T], for any T: plain T goes as raw bytes, one slot per message
//     (the same ring as NewRing); other T go through a Codec (encoding/gob
//     by default, SetCodec to replace it) into length-prefixed frames of
//     64-byte cells, and []byte goes into them as it is. Shutdown ends it for every process: Put fails, Get
//     drains and then reports ErrShutdown. A message that could never fit
//     is ErrTooLarge at Put, never a hang. There is no SimpleQueue: Queue
//     has no feeder thread to flush, so it already is one.
//   - JoinableQueue[T]: a Queue with TaskDone and Join(ctx).
//   - Pipe[T]: two Queues, one each way, as two Conns: Send, Recv, Poll.
//     Once no live process holds an end (every holder closed it, or died),
//     the other end's Recv drains and then returns io.EOF.
//   - OneWayPipe[T]: Python's Pipe(duplex=False), a Receiver that can only
//     Recv and Poll and a Sender that can only Send, held and closed as
//     Conns are; the way back is a ring of one message, so that for large
//     n it is about half a Pipe's size. Between two programs started
//     apart, the one that makes the pipe keeps its own end (NewReceiver,
//     NewSender) and the other opens the other end by name (OpenSender,
//     OpenReceiver); or a third program makes it (CreateOneWayPipe) and
//     both open their ends by name.
//
// # Lifecycle
//
// Every handle is an io.Closer. Close is this handle's alone; Free is the
// object's, for every process; Shutdown, a Queue's, stops it for every
// process and leaves the handles open:
//
//	type           Close                               Free                        Shutdown
//	Ring           this handle: its calls fail with    closes this handle, gives   -
//	               ErrClosed; a single-producer        the memory back
//	               ring's role it held passes on
//	Queue,         this handle: its calls fail with    closes this handle, gives   Put fails with ErrShutdown,
//	JoinableQueue  ErrClosed; other handles and        the memory back             Get drains, then ErrShutdown;
//	               processes go on putting, getting                                every waiting call wakes
//	Conn           this handle; the last handle of a   closes this handle, gives   -
//	               process lets go of the process's    the pipe (both ends) back
//	               hold of its end: with no live
//	               holder left, the other end reads
//	               io.EOF once drained and its Send
//	               fails with io.ErrClosedPipe
//	Receiver,      as Conn's                           as Conn's                   -
//	Sender
//	PubSub         this handle: the publisher's role   closes this handle, gives   -
//	               it held passes on; its              the memory back
//	               Subscribers stay open
//	Subscriber     leaves: its entry is free, and a    -                           -
//	               lossless publisher stops waiting
//	               for it
//
// Close is idempotent, and wakes the calls of its handle that wait. Free
// needs every process to have stopped using the object (Free of a Conn:
// either end); a second Free, through any handle in any process, fails
// with shm.ErrStale.
//
// A Pipe end is held by each process that has a handle to it: the one that
// made the pipe (both ends; NewReceiver and NewSender: the one returned),
// one that opened it by name (both ends with OpenPipe; OpenReceiver and
// OpenSender: the one returned), one that received it as a handle
// (UnmarshalBinary), however many handles the process has. The end that
// NewReceiver or NewSender does not return, and both ends of a pipe that
// CreateOneWayPipe makes, are kept for the next process that opens them
// by name: it counts as held, by no process (no death ends
// it), until that process takes it over; so the reader of a named one-way
// pipe reads io.EOF only after the writer program opened the Sender and
// then closed it or died. An end sent (MarshalBinary) counts as held by its sender
// until a process receives it, so a parent may close its copy of the end
// it passes to a child at once, as Python programs do; an end sent and
// never received stays held until its sender dies. At most MaxHolders
// processes hold an end at once. The peer of an end whose last holder died
// sees it within a recheck of its wait (a few tens of milliseconds) and
// reads io.EOF; a Send sees it once Recv or Poll has, or while it waits
// for room. There is no Shutdown of a pipe: an end that is done sending
// closes, and a stream for many readers is a Queue.
//
// # Waiting
//
// Every blocking call takes a context and, when it ends, returns ctx.Err()
// having taken or added nothing. An empty or full ring is looked at again a
// few times, yielding in between, and then the caller sleeps on a futex
// word through the package's thread-free parking (thousands of waiting
// goroutines do not become thousands of threads). Sleepers announce
// themselves in the word first, and a producer or consumer makes the wake-up
// system call only when someone announced: a busy queue makes no system
// call at all. SetSpin(true) keeps a latency-critical handle spinning
// instead of sleeping (it still sees its context).
//
// On a single-producer ring the sides store their cursors without a
// fence (on amd64; arm64's store is cheap already), and a side that goes
// to sleep pays for it instead: after it announces itself it calls
// membarrier(2), which makes the other processes' running threads go
// through a fence, before it looks at the ring a last time. A process
// that cannot register for membarrier (Linux before 4.16, a seccomp
// filter, the race detector) stores with the fence, as other rings do,
// and so does a side while it finds the other asleep at its stores (64
// stores after each wake-up), so that a ring whose sides sleep at every
// message pays no membarrier. Whether each cursor is stored plainly now
// is in the ring (offsets 344 and 348): a sleeper that finds it is and
// cannot call membarrier sleeps at most 2 ms at a time, so that a
// wake-up it missed costs no more. A PubSub's publisher and lossless
// subscribers store their cursors the same way (see Publish and
// subscribe).
//
// The producers of a multi-producer Ring, or of a Queue of plain T,
// commit their messages the same way, and their consumers pay for it when
// they sleep. Several producers commit at once there, so once one has
// committed without a fence the ring says so for good (offset 344), and
// every consumer's sleep then calls membarrier. A Queue of encoded T
// commits with the fence: its consumers, a Pool's workers among them,
// sleep far more often.
//
// # When a process dies
//
// A message is committed when Put or Push publishes it (one atomic store).
//
// A producer killed at any instruction:
//   - every message it committed is delivered exactly once;
//   - a slot or frame it had claimed but not committed becomes a hole that
//     consumers skip, once they have seen that its process is dead (they
//     look again every 25 ms while they wait behind it); a live producer in
//     any pid namespace is never taken for dead, because liveness is the
//     kernel's (see Liveness in package shm's doc);
//   - no consumer ever receives a torn or partial message: a consumer only
//     reads a frame after its commit;
//   - the queue keeps working for the other producers, who step over the
//     claim at once (the claim records its length);
//   - a single-producer ring's role passes to the next process that pushes.
//
// A consumer killed at any instruction loses at most the message it was
// taking (when it dies after moving the head and before returning it), and
// nothing is ever delivered twice: a consumer copies a message out and then
// takes it with one compare-and-swap of the head, which only one consumer
// can win; a consumer that dies before that leaves the message in place for
// the others.
//
// A waker killed between its change and its wake-up call leaves sleepers
// asleep on a word that changed; every sleep is bounded (500 ms), after
// which they see the change.
//
// A process killed while it holds a Pipe end lets go of it: the other end
// reads io.EOF once no live process holds it (see Lifecycle). A process
// killed while it holds a single-producer ring's role leaves it to the
// next process that pushes (pops).
//
// # Loans
//
// A message can also be written and read in place, without a copy
// (iceoryx2's loan, send and receive; Aeron's tryClaim and commit), so
// that a message of a megabyte costs what one of eight bytes does. A
// writer borrows the next slot (Ring.Loan, TryLoan; the same on a Queue
// of plain T and on a PubSub), fills it through Loan.Value and commits it
// (Loan.Commit: what Push does after its copy) or gives it back
// (Loan.Abort). A reader borrows the oldest message (Ring.Borrow,
// TryBorrow; Subscriber.Borrow), reads it through Borrowed.Value and
// takes it (Borrowed.Release: what Pop does after its copy). Loans are
// small values and allocate nothing. Each ends once: a second Commit,
// Abort or Release fails with ErrInvalid and changes nothing; one after
// its handle's Close fails with ErrClosed, the slot given back or the
// message left for the next reader.
//
// A writer killed while it holds a loan published nothing: in a
// multi-producer ring or a Queue its slot is a claim of a dead producer,
// which becomes a hole, as a Push's does; in a single-producer ring or a
// PubSub the next writer writes the same slot again (in a lossy PubSub
// the message that slot held is lost to slow subscribers, who are told).
// No reader ever sees a half-written slot.
//
// A reader killed while it holds a borrowed message did not take it: the
// next reader gets it, whole and in its place. In a single-producer ring
// and a PubSub the reader's cursor did not move. In a multi-producer ring
// or a Queue, where a message in place must be kept from the other
// consumers, the borrower records its process in the borrower word (at
// 352) and sets bit 63 of the head, which stays where it is: producers
// keep off the slot, and consumers that find the bit wait for its release
// (Release moves the head past it) or, once they see the borrower's
// process dead, clear the bit, under the borrower word, and take the
// message themselves. So a ring or Queue lends one message at a time, and
// its other consumers, in every process, wait while it is borrowed.
//
// Byte messages of varying length travel in a Queue of []byte, which
// frames them raw: a 4-byte length, then the bytes. Its writers borrow
// room for a message of n bytes (Queue.LoanBytes, TryLoanBytes: a
// BytesLoan, whose Bytes are n bytes of the ring) and commit it, its
// readers borrow the oldest message (Queue.BorrowBytes, TryBorrowBytes: a
// BorrowedBytes) and release it, by the same rules and through the same
// lent bit and borrower word, and they mix with Put and Get. A loan's
// room is one slice, never wrapping around the ring's end: when it would,
// the cells up to the end become a hole, as a dead producer's claim does,
// and the room starts at the ring's start. A message that Put wrapped is
// copied into a buffer that the borrowing handle keeps. A Queue of []byte
// whose Codec SetCodec replaced does not lend bytes (ErrInvalid).
//
// # Layout
//
// Every ring (a Ring, a Queue) is one block of a segment (kind ring or
// queue; the fingerprint names T's layout, or, for encoded T, its Go type,
// or, for []byte, raw bytes).
// A Pipe is one block of kind pipe, as large as two Queues of its size: a
// 64-byte header (version 4 at 0, flags at 4: bit 0 one-way, the offsets
// of its rings at 8 and 16, the rest zero), then its two rings, each from a 64-byte boundary, ring 0
// carrying what end 0 sends, and holding, at offset 400, the holders of
// end 0 (MaxHolders owner words; bit 0 set: sent, not yet received; 1:
// kept for the next process that opens it by name). A
// pipe, ring or queue of another version is refused (ErrCorrupt, shm.ErrVersion). A
// OneWayPipe's ring 1 is a ring of one message, which carries nothing and
// holds the Receiver's holders; a Conn does not open a one-way pipe, nor a
// Receiver or Sender a duplex one (shm.ErrKind). Offsets
// are from the ring's start; integers are little-endian:
//
//	offset  size  field
//	0       4     version (1)
//	4       4     mode: 1 single-producer, 2 one cell per message, 3 framed
//	8       4     cell size in bytes
//	12      4     flags: bit 0 joinable
//	16      8     cells: a power of two, at most MaxCells
//	24      8     element size (modes 1 and 2: the cell size; mode 3: 0)
//	32      8     offset of the cell words (modes 2 and 3; 0 in mode 1)
//	40      8     offset of the data
//	48      8     capacity in messages (a Queue; 0: as many as the cells hold)
//	56      8     zero
//	64      8     tail: producers' position in cells; bit 63 set once shut down
//	72      8     calls that waited for room (see Counters)
//	128     8     head: consumers' position in cells; bit 63 set while
//	              the message there is lent (see Loans)
//	136     8     calls that waited for a message
//	192     4     not-empty sleep word: generation<<1 | sleepers
//	200     8     sleeps on it (see Counters)
//	208     8     wake-ups of it, as its sleepers last recorded them
//	216     8     claims of dead producers made holes
//	224     8     dead single consumers' roles taken over
//	256     4     not-full sleep word, the same
//	264     8     sleeps on it
//	272     8     wake-ups of it, as its sleepers last recorded them
//	280     8     dead producers' roles or table slots taken over
//	320     8     joinable: messages taken
//	328     8     joinable: TaskDone calls
//	336     4     joinable: Join's sleep word
//	344     4     single-producer ring: 1 while the tail is stored
//	              without a fence (see Waiting), else 0; ring or queue
//	              of plain T: 1 once a producer committed without one
//	348     4     single-producer ring: the same for the head
//	352     8     modes 2 and 3: the borrower's owner word (see Loans),
//	              (0: no message is lent)
//	384     8     single-producer ring: the producer's owner word
//	392     8     single-producer ring: the consumer's owner word
//	400     48    pipe ring: holders of the end that sends on it
//	448     2048  producer table: MaxProducers owner words (0: free)
//	2496    8*cells  cell words (modes 2 and 3)
//	...     cells*cell size  data, from a 64-byte boundary
//
// Each cursor has a cache line to itself, and each sleep word one that it
// shares only with its counters. An owner word
// is the process's pid<<32 | a random 31-bit nonce<<1 (see Liveness in
// package shm's doc).
//
// In modes 2 and 3 every cell has a 64-bit cell word, apart from the data,
// through which a frame starting at that cell is claimed:
//
//	bits  0-1   state: 0 free, 1 claimed, 2 committed, 3 hole
//	bits  2-9   the claimer's index in the producer table
//	bits 10-31  the frame's length in cells, minus one
//	bits 32-63  the lap of the position: position >> log2(cells)
//
// A producer claims the frame at the tail with one compare-and-swap of the
// cell word (from any word of an older lap, when every consumer has left
// that lap), then moves the tail over it; a producer that finds a claim at
// the tail moves the tail for its owner. It then writes the data and
// commits with one store of the cell word. A consumer reads the committed
// cell word at the head, copies the frame, and takes it by moving the head
// with a compare-and-swap; a claim whose owner is dead becomes a hole that
// the head steps over. In mode 3 a frame's data is the message's length
// (4 bytes) and its encoding; Get checks the length against the frame's
// cells and reports ErrCorrupt for a frame that fails.
//
// The capacity at 48 bounds the cells in use in mode 2. In mode 3 it
// bounds the frames between head and tail (messages, claims and holes):
// a frame takes one cell or more, so a producer that finds fewer cells in
// use than the capacity claims at once, and one that finds more counts
// the frames first, hopping from cell word to cell word. The count is of
// the cells before the tail it claims at, which no producer changes, so a
// handle brings its last count up to date by the frames the head and the
// tail passed since (a queue kept full costs a hop or two a Put). No
// count is kept in shared memory: there is nothing that a process killed
// between two steps could leave wrong.
//
// In mode 1 there are no cell words: the producer writes the slot at the
// tail and stores the tail; the consumer reads the slot at the head and
// stores the head.
//
// # Publish and subscribe
//
// A PubSub is one block of kind pubsub (the fingerprint names T's
// layout): a ring of slots that one publisher writes and every subscriber
// reads, each with its own cursor. Offsets are from the block's start:
//
//	offset  size  field
//	0       4     version (1)
//	4       4     policy: 1 lossless, 2 lossy
//	8       4     element size: T's size
//	12      4     subscribers: the most at once
//	16      8     slots: a power of two, at most MaxCells
//	24      8     slot size: 8 + the element size rounded up to 8
//	32      8     offset of the subscriber table (384)
//	40      8     offset of the slots, a 64-byte boundary
//	48      16    zero
//	64      8     tail: messages published, the next position
//	72      8     calls of the publisher that waited for room
//	128     8     limit (lossless): the publisher writes below it unseen
//	136     8     calls of subscribers that waited for a message
//	192     4     not-empty sleep word: subscribers sleep here
//	200     16    sleeps on it, wake-ups of it (as a ring's)
//	216     8     subscribers lapped (LappedErrors returned)
//	224     8     messages they missed
//	232     8     dead subscribers' entries freed or taken over
//	256     4     not-full sleep word: a lossless publisher sleeps here
//	264     16    sleeps on it, wake-ups of it
//	280     8     dead publishers' roles taken over
//	320     8     publisher's owner word
//	344     4     the tail is stored plainly (see Sleeping)
//	348     4     how many subscribers store their cursors plainly
//	384     64*subscribers  subscriber table, an entry of 64 bytes each:
//	              its owner word (0: free) at 0, its cursor at 8,
//	              at 16 1 while it counts in the word at 348
//	...     slots*slot size  slots: a sequence word, then the value from byte 8
//
// The publisher writes the message of position p in slot p mod slots and
// then stores the tail p+1: a message is published by that store, and a
// subscriber reads position c only while c is below the tail. A
// subscriber copies the slot and then stores its cursor c+1.
//
// Lossless: the publisher writes position p only when every subscriber's
// cursor is past p - slots. It looks at the cursors (the entries with a
// non-zero owner word) only when p reaches the limit, and then stores a
// new limit: a ring past the oldest cursor, and at most half a ring past
// p, so that at least the last half ring stays for a subscriber that
// joins with history. It looks twice around that store: a subscriber
// that joins stores its cursor and then reads the limit, raising its
// cursor to limit - slots if it is lower, so that either the publisher's
// second look sees the cursor or the subscriber sees the new limit. An
// entry whose cursor holds the publisher back is checked for liveness,
// and a dead process's entry is freed (every recheck, 25 ms, while the
// publisher waits).
//
// The tail, and a lossless subscriber's cursor, are stored as a
// single-producer ring's cursors: without a fence where the process may,
// a sleeper on the other side paying for it (see Sleeping). The tail
// has its flag at 344; subscribers, several at once, count themselves in
// the word at 348 instead, each adding itself before its first plain
// store and taking itself out after its last, and an entry's word at 16
// says whether it counts, so that whoever frees a dead subscriber's
// entry takes it out (the publisher holds such an entry under its own
// owner word until then). A lossy subscriber's cursor is for Stats only
// and always stored without a fence.
//
// Lossy: the publisher never looks at the cursors. It stores the slot's
// sequence word 2p+1 (odd: being written), writes the value with 8-byte
// atomic stores, stores 2p+2, then the tail. A subscriber at c loads the
// sequence word, copies the value with 8-byte atomic loads, and loads
// the word again: a copy counts only if both read 2c+2. Otherwise the
// slot holds a later position, and the subscriber goes on from the
// oldest position still in the ring, tail - slots (tail read after the
// slot), reporting the positions it steps over as missed: every position
// below the tail is a message, so the count is exact.
//
// The publisher holds its role as a single-producer ring's producer does
// (its owner word at 320, taken over from a dead process). A publisher
// killed before its store of the tail published nothing: the next one
// reads the tail and writes the same slot again. A subscriber's entry is
// its process's: Close frees it, and a dead process's entry is taken by
// the next Subscribe that finds no free one, or freed by a lossless
// publisher that it holds back.
//
// # Counters
//
// Every ring, queue, pipe and PubSub counts what happens to it in its
// shared memory: the calls of every process that uses it, since it was
// made. Nothing resets a count while the object lives, and no process's
// death does. Stats reads them typed (RingStats; ConnStats, a pipe's two
// rings; PubSubStats), and shm.Metrics reads the same figures by name, in
// a fixed order, from any ring, queue, pipe or PubSub of a segment, for
// tools that have no typed handle (shmctl top, an exporter): this package
// registers the readers of its kinds.
//
// What the rings keep anyway costs nothing to count: the messages in and
// out are the cursors (pushed, popped; published), and what is in a ring
// (len), the subscribers (subscribers) and how far the slowest one is
// behind (max_lag) are read from the cursors and the subscriber table. The
// cursors of a Queue of encoded T count 64-byte cells, one or more a
// message, and holes of dead producers count as pushed and popped.
//
// A blocking call that finds no message, or no room, and waits counts
// once, however long it waits (waits_empty, waits_full; a Try call never
// counts): with an atomic add of a word in the line of the cursor that
// the waiting side writes at every message anyway (the head, the tail; a
// PubSub's subscribers, in the line of its limit word, which only the
// publisher writes, and rarely), so that the other side never reads it.
//
// The rare events are counted where they happen, with one atomic add of a
// word in the header, and only on paths that are slow already: a call
// that goes to sleep on an empty or a full ring, as it is about to make a
// system call (sleeps_empty, sleeps_full); a dead process's place taken
// over (producer_takeovers, consumer_takeovers, publisher_takeovers); a
// dead producer's claim made a hole (holes); a dead subscriber's entry
// freed or taken (dead_subscribers); a subscriber lapped (laps, and the
// messages it missed). The words lie in the cache lines of the sleep
// words, which a Push or Pop only reads (to see whether anyone sleeps) and
// sleepers write anyway: a call that neither waits nor finds what a dead
// process left writes none of them.
//
// The wake-up calls (wakes_empty, wakes_full) cost the waker nothing more:
// each one advances its sleep word's generation by one, so the generation
// counts them, modulo 2^31. A sleeper extends that to 64 bits in the word
// beside it each time it goes to sleep, and a wake-up needs a sleeper to
// have announced itself since the last one, so the record is never more
// than a few wake-ups behind, which the reader adds from the generation.
//
// A process killed between an event and its count leaves it uncounted
// (the event happened: the count is one lower); a count is an add to a
// word of its own, which no algorithm reads, so that no death there can
// leave the ring inconsistent. Counts wrap at 2^64.
//
// # Caveats
//
//   - A single-producer ring's sides belong to one process each, and, in
//     it, to one handle used by one goroutine at a time (the race detector
//     reports a second goroutine; a second handle gets ErrBusy once it sees
//     the cursor move under it).
//   - At most MaxProducers processes push to one multi-producer ring at a
//     time; a dead one's slot is reused.
//   - Laps are kept modulo 2^32. A producer stopped between reading the
//     tail and claiming for a multiple of 2^32 laps of the ring, whose claim
//     then succeeds on a cell word that reads the same as before, finds out
//     (the head is past its position) and withdraws it before writing; other
//     producers may have stepped over it meanwhile, which leaves a hole.
//   - A JoinableQueue whose consumer died while taking a message, or
//     between Get and TaskDone, keeps that message unfinished: Join then
//     waits until its context ends, as Python's does for ever.
//   - A Pipe end held by a process that neither uses it nor closes it (a
//     parent that kept its copy of the end it gave a child) keeps the
//     stream open for the other end after the user of the end died, as in
//     Python: close the copies a process does not use. A program that made
//     a named duplex Pipe for another to open closes the other's end only
//     once that one has it (its first message says so): closed before, the
//     end has no holder, and the stream ends there. A one-way pipe has no
//     such gap: NewReceiver and NewSender keep the other end for its
//     opener.
//   - An end kept for an opener by name is held until a process opens it:
//     if none ever does, the other end waits (Recv until its ctx ends; Send
//     once the pipe is full) and never sees io.EOF or io.ErrClosedPipe.
//     It is kept for one opener: a second process that opens it holds it
//     beside the first.
//   - Each MarshalBinary of a Pipe end holds the end, for its receiver,
//     until a process decodes the bytes or the sender dies; bytes never
//     decoded use up one of the MaxHolders slots meanwhile. Encode an end
//     once for each receiver.
//   - A process holds a producer slot of a multi-producer ring from its
//     first push until it exits or detaches the segment, whatever its
//     handles: Close does not give it back.
//   - A PubSub's Subscriber, like its publishing handle, is for one
//     goroutine at a time. A Subscriber dropped without Close holds its
//     entry, and in a lossless ring holds the publisher back, until its
//     process exits.
//   - A loan is the slot itself: its Value is valid until Commit, Abort
//     or Release, and holds whatever the slot held before (set every
//     field). A loan or borrowed message that its process neither ends
//     nor dies with holds the ring up (the readers after a loaned slot
//     wait for its commit, the other consumers of a multi-producer ring
//     for a borrowed message's release), as a lock never unlocked would.
//   - A lossy subscriber's copy of a slot is checked, not locked: a
//     subscriber a whole ring behind may copy a slot several times, or be
//     lapped again and again, but never returns a torn value.
//
// Where Python's Queue and Connection behave otherwise:
//
//   - Capacity: a Queue holds at most n messages, as Python's maxsize, and
//     one of plain T exactly n. One of encoded T holds them in n*256 bytes:
//     n messages of up to 252 encoded bytes always fit, larger ones may
//     fill the bytes first (TryPut reports ErrFull, Full a ring with no
//     free cell); Python's bounds only the count, and its feeder thread
//     holds the bytes. Len,
//     Empty and Full are snapshots, as Python's qsize, empty and full:
//     other processes put and get meanwhile, so a Put after a false Full
//     may still wait, and a Get after a false Empty.
//   - Shutdown is Python's shutdown(immediate=False): messages put are
//     never discarded (there is no immediate shutdown). Empty and Len keep
//     working after Close and Shutdown (Python's empty raises OSError once
//     its process closed the queue).
//   - A message that cannot be encoded fails at Put, with the Codec's
//     error; Python's put accepts it and its feeder thread prints the error
//     and drops it.
//   - A Recv whose
//     other end's last holder died returns io.EOF (Python's recv waits for
//     ever when another process holds a copy of that end, and so does this
//     one, as long as that process lives).
//   - A message larger than a Pipe's or Queue's ring is ErrTooLarge
//     (Python streams a message of any size): size the ring for the
//     largest message. Conns carry no file descriptors.
package ringbuffer

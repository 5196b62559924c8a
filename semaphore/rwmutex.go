package semaphore

import (
	"context"
	"errors"
	"fmt"
	"math/bits"
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/shmkit/shmkit/internal/hb"
	"github.com/shmkit/shmkit/internal/mem"
	"github.com/shmkit/shmkit/internal/park"
	"github.com/shmkit/shmkit/internal/sys"
	"github.com/shmkit/shmkit/shm"
)

// RWMutex is a reader/writer lock shared between processes, as
// sync.RWMutex is between goroutines: any number of readers, or one
// writer. It survives the death of any holder: a writer or reader that
// dies holding it is released, and the next process to take it (reader or
// writer) is told so with an *OwnerDeadError.
//
// Writers are not starved: once a writer waits, new readers wait behind
// it, and it gets the lock when the readers already in leave. Readers that
// wait for a writer are woken together when it unlocks; a steady stream of
// writers, each arriving before the woken readers run, can keep them
// waiting (sync.RWMutex lets them in first).
//
// Each process that read-locks an RWMutex takes one of its 64 reader slots,
// on a cache line of its own, and keeps it until it exits: a read lock and
// unlock are one atomic add each on that line and a read of the writer's
// word, so readers in different processes do not contend with each other.
// A dead process's slot is taken back by the next process that needs one;
// a 65th live process waits in RLock for a slot. Read locks count per
// process, as RLock's depth does: any goroutine of a process may RUnlock a
// read lock another took. A goroutine that holds a read lock and asks for
// the write lock waits for ever, as with sync.RWMutex; so does one that
// read-locks again while a writer waits (recursive read locking is not
// allowed, as with sync.RWMutex).
type RWMutex struct {
	object
	w       lockWord // the writer word, at offset 0: a robust lock among writers
	dead    *uint64  // a reader that died holding the lock, until the next taker is told
	rseq    *uint32  // bumped when a writer lets go; readers sleep on it
	rsleep  *uint32  // readers sleeping on rseq (one killed asleep stays counted: unlocks then wake for nothing)
	wseq    *uint32  // bumped when a process's last read leaves while a writer waits
	wsleep  *uint32  // processes sleeping on wseq: the writer, and any waiting for a slot
	claimed *uint64  // bit i: reader slot i is some process's
	slots   []byte
	count   atomic.Pointer[uint32] // this process's reads held, once it has a slot
	key     rwKey
}

// Reader slots: 64, one cache line each, after the header line: an owner
// word (8) and the reads that process holds (4).
const (
	rwSlots    = 64
	rwSlotSize = lineSize
	rwSlotsOff = 2 * lineSize
)

// Offsets in an RWMutex's payload; doc.go draws them.
const (
	offRWDead    = 8
	offRWSeq     = 16
	offRWSleep   = 20
	offRWWSeq    = 24
	offRWSlots   = 28
	offRWClaimed = 32
	offRWWSleep  = 40
	offRWWake    = 44
)

// reclaiming marks a slot's owner word while a process takes it back from
// a dead owner (bit 0, which no owner word has).
const reclaiming = 1

// NewRWMutex makes an unlocked RWMutex, in the default heap or where opts
// place it (shm.In).
func NewRWMutex(opts ...shm.Option) (*RWMutex, error) {
	return attach[RWMutex](place(rwmutexInfo, 0, func(b []byte) error {
		*mem.Uint32(b, offRWSlots) = rwSlots
		return nil
	}, opts))
}

// OpenRWMutex opens the RWMutex called name in seg.
// It waits, as long as ctx allows, while the object's creator is still
// making it.
func OpenRWMutex(ctx context.Context, seg *shm.Segment, name string) (*RWMutex, error) {
	return attach[RWMutex](find(ctx, seg, name, rwmutexInfo))
}

// UnmarshalBinary attaches rw to the RWMutex whose handle MarshalBinary
// encoded.
func (rw *RWMutex) UnmarshalBinary(b []byte) error { return unmarshal(rw, b, rwmutexInfo) }

// rwCheck refuses an RWMutex payload whose count of reader slots is not
// this layout's.
func rwCheck(b []byte) error {
	if n := atomic.LoadUint32(mem.Uint32(b, offRWSlots)); n != rwSlots {
		return fmt.Errorf("%d reader slots, want %d: %w", n, rwSlots, ErrCorrupt)
	}
	return nil
}

func (rw *RWMutex) init(o *shm.Object) error {
	b := o.Bytes()
	if err := rwCheck(b); err != nil {
		return fmt.Errorf("semaphore: attaching rwmutex: %w", err)
	}
	if err := initLock(&rw.object, &rw.w, o, offRWWake, &rwmutexCounters, "rwmutex"); err != nil {
		return err
	}
	rw.dead = mem.Uint64(b, offRWDead)
	rw.rseq = mem.Uint32(b, offRWSeq)
	rw.rsleep = mem.Uint32(b, offRWSleep)
	rw.wseq = mem.Uint32(b, offRWWSeq)
	rw.wsleep = mem.Uint32(b, offRWWSleep)
	rw.claimed = mem.Uint64(b, offRWClaimed)
	rw.slots = b[rwSlotsOff : rwSlotsOff+rwSlots*rwSlotSize]
	h := o.Handle()
	rw.key = rwKey{seg: h.Segment, off: h.Offset, gen: h.Generation}
	rw.count.Store(readSlots.of(rw))
	return nil
}

// Close ends this handle, as Mutex.Close does: locks held through it stay
// held, and RUnlock and Unlock still release them. The process keeps its
// reader slot.
func (rw *RWMutex) Close() error {
	rw.w.close()
	return rw.object.Close()
}

// Free destroys the RWMutex for every process, as Mutex.Free does: a
// process waiting in Lock or RLock wakes and fails with shm.ErrStale, and
// the holders' Unlock and RUnlock do nothing.
func (rw *RWMutex) Free() error {
	if err := freeLock(&rw.object, &rw.w); err != nil {
		return err
	}
	readSlots.forget(rw.key)
	rw.wakeReaders()
	atomic.AddUint32(rw.wseq, 1)
	sys.FutexWake(rw.wseq, -1)
	return nil
}

// slot returns reader slot i's owner word and count.
func (rw *RWMutex) slot(i int) (owner *uint64, count *uint32) {
	return mem.Uint64(rw.slots, uintptr(i*rwSlotSize)), mem.Uint32(rw.slots, uintptr(i*rwSlotSize+8))
}

// RLock takes a read lock, waiting as long as it takes. It returns nil,
// or an *OwnerDeadError (matching ErrOwnerDead) when a writer died holding
// the lock, or a reader died holding it since the last taker: the caller
// holds the read lock then too.
func (rw *RWMutex) RLock() error {
	// Fast path: this process has its slot, the handle is open, no writer
	// and no death to report.
	if c := rw.count.Load(); c != nil && rw.w.unheld == 0 {
		atomic.AddUint32(c, 1)
		if atomic.LoadUint64(rw.w.state) == 0 && atomic.LoadUint64(rw.dead) == 0 {
			if hb.Enabled {
				hb.Acquire(rw.w.word)
			}
			return nil
		}
		rw.leave(c)
	}
	return rw.rlockForever()
}

//go:noinline
func (rw *RWMutex) rlockForever() error { return rw.rlockSlow(context.Background(), true) }

// RLockContext is RLock that gives up when ctx ends, returning ctx.Err()
// without the lock.
func (rw *RWMutex) RLockContext(ctx context.Context) error { return rw.rlockSlow(ctx, true) }

// TryRLock takes a read lock if that needs no waiting, and returns nil
// (or an *OwnerDeadError, holding it, as RLock does). While a live writer
// holds or waits for the lock, it returns an error matching ErrWouldBlock.
func (rw *RWMutex) TryRLock() error { return rw.rlockSlow(context.Background(), false) }

// errRLockBusy is TryRLock's error for a lock a writer holds or waits for,
// made once so that a failed TryRLock does not allocate.
var errRLockBusy = fmt.Errorf("semaphore: rwmutex held or awaited by a writer: %w", ErrWouldBlock)

// rlockSlow takes a read lock: waiting for a writer to leave if wait, else
// failing with errRLockBusy.
func (rw *RWMutex) rlockSlow(ctx context.Context, wait bool) error {
	if err := rw.usable("rlock"); err != nil {
		return err
	}
	c, err := rw.readSlot(ctx, wait)
	if err != nil {
		return err
	}
	var dead error // the writer this call found dead and cleared
	// Whether to ask whether the writer lives (a system call): at once for
	// TryRLock, else once spinning is over, then after each full sleep.
	check := !wait
	for i := 0; ; i++ {
		if i == spin {
			check = true
		}
		w := atomic.LoadUint64(rw.w.state)
		switch {
		case w == 0:
			atomic.AddUint32(c, 1)
			if atomic.LoadUint64(rw.w.state) == 0 {
				if dead == nil {
					dead = rw.deadReader()
				}
				hb.Acquire(rw.w.word)
				return dead
			}
			rw.leave(c)
			continue
		case w == freed:
			return rw.w.freedError()
		case check && w&^contended != rw.w.self && !rw.w.live.Alive(w&^contended):
			check = false
			if atomic.CompareAndSwapUint64(rw.w.state, w, 0) {
				dead = rw.w.ownerDead(w)
				rw.w.wakeAll() // writers asleep on the lock look again
				rw.wakeReaders()
			}
			continue
		case !wait:
			return errRLockBusy
		case i < spin:
			runtime.Gosched()
			continue
		case i == spin:
			rw.w.tally.add(cReadWaits)
		}
		err := sleepWhile(ctx, rw.rseq, rw.rsleep, rw.w.tally, func() bool { return atomic.LoadUint64(rw.w.state) != 0 })
		check = errors.Is(err, park.ErrTimeout)
		if err != nil && !check {
			return err
		}
	}
}

// leave takes back a read that found a writer: when it was this process's
// last, a writer waiting for the readers to leave is woken.
func (rw *RWMutex) leave(c *uint32) {
	if atomic.AddUint32(c, ^uint32(0)) == 0 && atomic.LoadUint64(rw.w.state) != 0 {
		rw.wakeWriter()
	}
}

// wakeWriter wakes the writer waiting for readers to leave, and any
// process waiting for a reader slot (they sleep on the same word).
// Only a sleeper needs the bump: the sequence stays untouched, and its
// cache line (the writer's word's, which readers read) unwritten, while
// nobody sleeps. A sleeper counts itself, then reads the sequence, then
// looks at what it waits for: either it sees the change, or the waker
// sees it counted and bumps the sequence after it was read.
func (rw *RWMutex) wakeWriter() {
	if atomic.LoadUint32(rw.wsleep) != 0 {
		atomic.AddUint32(rw.wseq, 1)
		rw.w.tally.add(cWakes)
		sys.FutexWake(rw.wseq, -1)
	}
}

func (rw *RWMutex) wakeReaders() {
	atomic.AddUint32(rw.rseq, 1)
	sys.FutexWake(rw.rseq, -1)
}

// deadReader reports, once, a reader that died holding the lock: the
// *OwnerDeadError for the first taker after its slot was taken back.
func (rw *RWMutex) deadReader() error {
	if atomic.LoadUint64(rw.dead) == 0 {
		return nil
	}
	if w := atomic.SwapUint64(rw.dead, 0); w != 0 {
		return &OwnerDeadError{Pid: pidOf(w), Owner: w, Lock: "rwmutex reader"}
	}
	return nil
}

// RUnlock gives back a read lock this process holds. Giving back more
// than it holds panics, as sync.RWMutex does; after Free it does nothing.
func (rw *RWMutex) RUnlock() {
	if hb.Enabled {
		hb.Release(rw.w.word)
	}
	// Fast path: a read lock left, and, if it was this process's last, no
	// writer waiting for it. The order (the count, then the writer's word)
	// pairs with the writer's (its word, then the counts).
	if c := rw.count.Load(); c != nil {
		n := atomic.AddUint32(c, ^uint32(0))
		if n < 1<<31 && (n != 0 || atomic.LoadUint64(rw.w.state) == 0) {
			return
		}
		rw.runlockSlow(c, n)
		return
	}
	panic("semaphore: runlock of unlocked rwmutex")
}

// runlockSlow is RUnlock's slow path: n is this process's count of reads
// after taking one back.
func (rw *RWMutex) runlockSlow(c *uint32, n uint32) {
	w := atomic.LoadUint64(rw.w.state)
	switch {
	case w == freed:
	case n >= 1<<31:
		atomic.AddUint32(c, 1)
		panic("semaphore: runlock of unlocked rwmutex")
	case w != 0:
		rw.wakeWriter()
	}
}

// Lock takes the write lock, waiting as long as it takes: for the writer
// before it, then for the readers in. It returns nil, or an
// *OwnerDeadError when it took the lock from a writer that died holding
// it, or released the read lock of a reader that died: the caller holds
// the write lock then too.
func (rw *RWMutex) Lock() error { return rw.LockContext(context.Background()) }

// LockContext is Lock that gives up when ctx ends, returning ctx.Err()
// without the lock.
func (rw *RWMutex) LockContext(ctx context.Context) error { return rw.lock(ctx, true) }

// TryLock takes the write lock if that needs no waiting, and returns nil
// (or an *OwnerDeadError, holding it, as Lock does). While a live process
// holds a read or the write lock, it returns an error matching
// ErrWouldBlock.
func (rw *RWMutex) TryLock() error { return rw.lock(context.Background(), false) }

func (rw *RWMutex) lock(ctx context.Context, wait bool) error {
	if err := rw.usable("lock"); err != nil {
		return err
	}
	var err error
	if !atomic.CompareAndSwapUint64(rw.w.state, 0, rw.w.self) {
		if wait {
			err = rw.w.acquire(ctx)
		} else {
			err = rw.w.try()
		}
		if err != nil && !isOwnerDead(err) {
			return err
		}
	}
	if derr := rw.drain(ctx, wait); derr != nil {
		rw.unlockWriter()
		return derr
	}
	if err == nil { // a dead writer's report first; a dead reader's waits for the next taker
		err = rw.deadReader()
	}
	hb.Acquire(rw.w.word)
	return err
}

// errLockReaders is TryLock's error for a lock that readers hold.
var errLockReaders = fmt.Errorf("semaphore: rwmutex held by readers: %w", ErrWouldBlock)

// drain waits, holding the writer's word, until no live process holds a
// read lock, taking back the slots of dead ones. Without wait it fails
// with errLockReaders instead of waiting.
func (rw *RWMutex) drain(ctx context.Context, wait bool) error {
	// Whether to ask whether readers live (a system call each): at once for
	// TryLock, else once spinning is over, then after each full sleep.
	check := !wait
	for i := 0; ; i++ {
		if i == spin {
			check = true
		}
		if !rw.readersIn(check) {
			return nil
		}
		check = false
		if atomic.LoadUint64(rw.w.state) == freed {
			return rw.w.freedError()
		}
		switch {
		case !wait:
			return errLockReaders
		case i < spin:
			runtime.Gosched()
			continue
		}
		err := sleepWhile(ctx, rw.wseq, rw.wsleep, rw.w.tally, func() bool { return rw.readersIn(false) })
		check = errors.Is(err, park.ErrTimeout)
		if err != nil && !check {
			return err
		}
	}
}

// readersIn reports whether a process holds a read lock. With check, it
// takes back the slots of dead processes (and of none, written over) and
// does not count them.
func (rw *RWMutex) readersIn(check bool) bool {
	busy := false
	for set := atomic.LoadUint64(rw.claimed); set != 0; set &= set - 1 {
		s := bits.TrailingZeros64(set)
		owner, count := rw.slot(s)
		if atomic.LoadUint32(count) == 0 {
			continue
		}
		// A slot whose owner died, or that counts reads with no owner
		// (written over: no process could ever give them back).
		if o := atomic.LoadUint64(owner); check && o&^reclaiming != rw.w.self && (o == 0 || !rw.w.live.Alive(o&^reclaiming)) {
			rw.reclaim(s, o)
			continue
		}
		busy = true
	}
	return busy
}

// reclaim takes slot s back from its dead owner o: it clears the reads o
// held (recording the death for the next taker if there were any) and
// frees the slot. A process killed inside reclaim leaves the slot marked
// with its own word and the reclaiming bit; the next process that finds it
// dead takes it from there.
func (rw *RWMutex) reclaim(s int, o uint64) {
	owner, count := rw.slot(s)
	if !atomic.CompareAndSwapUint64(owner, o, rw.w.self|reclaiming) {
		return
	}
	if testHookReclaim != nil {
		testHookReclaim()
	}
	if atomic.SwapUint32(count, 0) != 0 && o != 0 {
		rw.w.tally.add(cReaderDeaths)
		atomic.CompareAndSwapUint64(rw.dead, 0, o&^reclaiming)
	}
	atomic.AndUint64(rw.claimed, ^(uint64(1) << s))
	atomic.StoreUint64(owner, 0)
	rw.wakeWriter()
}

// testHookReclaim, when a test sets it, runs in reclaim once the slot is
// marked as being taken back: where a killed reclaimer leaves it marked.
var testHookReclaim func()

// Unlock releases the write lock, waking the readers and a writer that
// wait. Unlocking an RWMutex that this process does not hold for writing
// panics, as sync.RWMutex does.
func (rw *RWMutex) Unlock() {
	hb.Release(rw.w.word)
	rw.unlockWriter()
}

func (rw *RWMutex) unlockWriter() {
	if !atomic.CompareAndSwapUint64(rw.w.state, rw.w.self, 0) {
		rw.w.release()
	}
	if atomic.LoadUint32(rw.rsleep) != 0 {
		rw.w.tally.add(cWakes)
		rw.wakeReaders()
	}
}

// Owner is the pid of the process holding, or waiting for readers to
// leave, the write lock; 0 when there is none.
func (rw *RWMutex) Owner() int { return rw.w.owner() }

// Readers is how many read locks are held now, in every process: a
// snapshot, stale as soon as it returns.
func (rw *RWMutex) Readers() int {
	n := 0
	for set := atomic.LoadUint64(rw.claimed); set != 0; set &= set - 1 {
		_, c := rw.slot(bits.TrailingZeros64(set))
		n += int(atomic.LoadUint32(c))
	}
	return n
}

// String describes rw for logs and debugging, a snapshot: its handle, the
// writer's pid (0 when there is none) and how many read locks are held.
func (rw *RWMutex) String() string {
	return fmt.Sprintf("RWMutex(%s, writer %d, readers %d)", rw.Handle(), rw.Owner(), rw.Readers())
}

// readSlot returns this process's count of reads, taking a slot for the
// process on its first read lock. With all 64 slots held by live
// processes it waits for one if wait, else fails with errRLockBusy.
func (rw *RWMutex) readSlot(ctx context.Context, wait bool) (*uint32, error) {
	if c := rw.count.Load(); c != nil {
		return c, nil
	}
	for {
		c, err := readSlots.take(rw)
		if c != nil || err != nil {
			return c, err
		}
		if !wait {
			return nil, errRLockBusy
		}
		err = sleepWhile(ctx, rw.wseq, rw.wsleep, rw.w.tally, func() bool {
			c, err = readSlots.take(rw)
			return c == nil && err == nil
		})
		if c != nil {
			return c, nil
		}
		if err != nil && !errors.Is(err, park.ErrTimeout) {
			return nil, err
		}
	}
}

// sleepWhile sleeps on the sequence word seq, for at most recheck, while
// still holds. It counts itself in sleepers first, then reads the
// sequence, then asks still: a waker that changes what still looks at
// after that, and then finds a sleeper counted, bumps the sequence, so the
// sleep ends at once or is woken. It returns park.Wait's error, nil when
// still was false. A sleep counts in t.
func sleepWhile(ctx context.Context, seq, sleepers *uint32, t tally, still func() bool) error {
	atomic.AddUint32(sleepers, 1)
	defer atomic.AddUint32(sleepers, ^uint32(0))
	v := atomic.LoadUint32(seq)
	if !still() {
		return nil
	}
	t.add(cSleeps)
	return park.Wait(ctx, seq, v, recheck)
}

// rwKey names an RWMutex: its handle's segment, offset and generation (a
// freed and reused block is another object).
type rwKey struct{ seg, off, gen uint64 }

// readSlots records the reader slot this process holds in each RWMutex, for
// all its handles.
var readSlots = slotTable{m: map[rwKey]int{}}

type slotTable struct {
	sync.Mutex
	m map[rwKey]int
}

// of is this process's count in rw, nil while it has no slot. A slot that
// no longer names this process (written over) is forgotten: the next
// RLock takes a slot again.
func (t *slotTable) of(rw *RWMutex) *uint32 {
	t.Lock()
	defer t.Unlock()
	s, ok := t.m[rw.key]
	if !ok {
		return nil
	}
	owner, count := rw.slot(s)
	if atomic.LoadUint64(owner) != rw.w.self {
		delete(t.m, rw.key)
		return nil
	}
	return count
}

// forget drops the slot of a freed RWMutex.
func (t *slotTable) forget(k rwKey) {
	t.Lock()
	defer t.Unlock()
	delete(t.m, k)
}

// take gives this process a reader slot in rw, the one it holds if it has
// one already: a free slot, or one taken back from a dead process. It
// returns nil without an error when every slot is a live process's.
func (t *slotTable) take(rw *RWMutex) (*uint32, error) {
	t.Lock()
	defer t.Unlock()
	if s, ok := t.m[rw.key]; ok {
		_, count := rw.slot(s)
		rw.count.Store(count)
		return count, nil
	}
	if atomic.LoadUint64(rw.w.state) == freed {
		return nil, rw.w.freedError()
	}
	for pass := 0; pass < 3; pass++ {
		for s := 0; s < rwSlots; s++ {
			owner, count := rw.slot(s)
			o := atomic.LoadUint64(owner)
			if o == 0 && atomic.CompareAndSwapUint64(owner, 0, rw.w.self) {
				// A slot is freed with no reads counted; one that has some
				// was written over.
				if n := atomic.LoadUint32(count); n != 0 {
					atomic.StoreUint64(owner, 0)
					return nil, fmt.Errorf("semaphore: rwmutex reader slot %d free with %d reads: %w", s, n, ErrCorrupt)
				}
				atomic.OrUint64(rw.claimed, uint64(1)<<s)
				t.m[rw.key] = s
				rw.count.Store(count)
				return count, nil
			}
			// The second pass takes slots back from dead processes, for
			// the third to find.
			if pass == 1 && o != 0 && o&^reclaiming != rw.w.self && !rw.w.live.Alive(o&^reclaiming) {
				rw.reclaim(s, o)
			}
		}
	}
	return nil, nil
}

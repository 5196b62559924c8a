package semaphore

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/shmkit/shmkit/internal/hb"
	"github.com/shmkit/shmkit/internal/mem"
	"github.com/shmkit/shmkit/internal/park"
	"github.com/shmkit/shmkit/shm"
)

// Semaphore is a counting semaphore shared between processes, with the
// semantics of golang.org/x/sync/semaphore: Acquire(ctx, n) takes n units
// or gives up with ctx.Err() and takes none, and waiters are served first
// come, first served: while anyone waits, later Acquires queue behind them
// and TryAcquire fails, so that a large request is never starved by small
// ones (among up to 64 waiting processes: see the package's Caveats).
// Release adds units back; a Bounded one refuses to go past its
// bound (ErrOverRelease), as Python's BoundedSemaphore does.
//
// A waiter that dies or gives up never holds up the queue. Units have no
// owner, though: a process that dies holding some does not give them back
// (see the package's Caveats).
type Semaphore struct {
	object
	state   *uint64 // units, now serving, next ticket (below)
	count   *uint32 // the low half of *state: bits 0-30 the units
	bound   uint32
	bounded bool
	self    uint64 // this process's owner word
	slots   []byte // per ticket mod semQueue: who waits with it
	tally   tally  // its counters (stats.go)
	gate    gate
	local   semLocal
	try     struct { // TryAcquire's watch on the head, kept across calls
		sync.Mutex
		hw headWatch
	}
}

// semLocal is what the goroutines of one handle share about the queue.
// One of them at a time (the gate's holder) waits in the shared queue; so
// that the queue never looks empty while others wait at the gate, the
// holder takes a ticket for the next of them before it leaves the queue
// (handOn), which that one takes up as it passes the gate.
type semLocal struct {
	mu      sync.Mutex
	waiting int    // goroutines at the gate
	handoff bool   // ticket was taken for the next one through the gate
	ticket  uint16 // and recorded as this process's
}

// The state word: bits 0-30 the units (bit 31 is always clear), bits 32-47
// the ticket now served (the head of the queue), bits 48-63 the next
// ticket to hand out. The waiters are the tickets from the one served up
// to the next, exclusive: none when the two are equal. Taking units with
// nobody waiting (the fast path) is one compare-and-swap of this word; the
// head takes its units and passes its turn on in one too.
const (
	maxCount    = 1<<31 - 1
	semServing  = 32
	semNext     = 48
	boundedFlag = 1 << 31 // in the bound word: the semaphore is bounded

	// semQueue is how many tickets may be handed out at once. A process
	// holds one per handle (its goroutines queue in the Go scheduler
	// behind the one that holds it; two for a moment, see semLocal), so
	// that only about semQueue waiting processes fill it; waiters that
	// find it full look again every recheck.
	semQueue    = 64
	semSlotsOff = lineSize
	semSlotSize = 16 // owner word (8), tag (4), futex word (4)
	semSlotTag  = 8
	semSlotSeq  = 12

	// A slot's tag: the ticket (bits 0-15) it was written for, with
	// tagWritten so that a slot never written does not pass for ticket 0,
	// and tagCancelled once its waiter has given up.
	tagWritten   = 1 << 31
	tagCancelled = 1 << 30
)

func units(st uint64) uint32    { return uint32(st) & maxCount }
func serving(st uint64) uint16  { return uint16(st >> semServing) }
func nextTick(st uint64) uint16 { return uint16(st >> semNext) }
func waiting(st uint64) uint16  { return nextTick(st) - serving(st) }

// served is st with ticket t served, the next one now at the head.
func served(st uint64, t uint16) uint64 {
	return st&^(0xffff<<semServing) | uint64(t+1)<<semServing
}

// inQueue reports whether ticket t is among the waiters of st.
func inQueue(st uint64, t uint16) bool { return t-serving(st) < waiting(st) }

// New makes a Semaphore holding n units, in the default heap or where opts
// place it. New(0) is a semaphore that some Release must fill first.
func New(n int, opts ...shm.Option) (*Semaphore, error) { return newSem(n, false, opts) }

// NewBounded makes a Semaphore holding n units that may never hold more.
// NewBounded(0) is valid: it can only ever give Acquire(ctx, 0).
func NewBounded(n int, opts ...shm.Option) (*Semaphore, error) { return newSem(n, true, opts) }

func newSem(n int, bounded bool, opts []shm.Option) (*Semaphore, error) {
	if n < 0 || n > maxCount {
		return nil, fmt.Errorf("semaphore: semaphore of %d units: %w", n, ErrInvalid)
	}
	return attach[Semaphore](place(semInfo, 0, func(b []byte) error {
		*mem.Uint64(b, offCount) = uint64(n)
		if bounded {
			*mem.Uint32(b, offBound) = uint32(n) | boundedFlag
		}
		return nil
	}, opts))
}

// Open opens the Semaphore (bounded or not) called name in seg.
// It waits, as long as ctx allows, while the object's creator is still
// making it.
func Open(ctx context.Context, seg *shm.Segment, name string) (*Semaphore, error) {
	return attach[Semaphore](find(ctx, seg, name, semInfo))
}

// UnmarshalBinary attaches s to the Semaphore whose handle MarshalBinary
// encoded.
func (s *Semaphore) UnmarshalBinary(b []byte) error { return unmarshal(s, b, semInfo) }

func (s *Semaphore) init(o *shm.Object) error {
	self, err := me()
	if err != nil {
		return err
	}
	b := o.Bytes()
	if err := semCheck(b); err != nil {
		return fmt.Errorf("semaphore: %w", err)
	}
	bw := atomic.LoadUint32(mem.Uint32(b, offBound))
	s.o, s.state, s.count, s.self = o, mem.Uint64(b, offCount), mem.Uint32(b, offCount), self
	s.bound, s.bounded = bw&maxCount, bw&boundedFlag != 0
	s.slots = b[semSlotsOff : semSlotsOff+semQueue*semSlotSize]
	s.tally = semCounters.of(b)
	s.gate = newGate()
	s.closed.Store(false)
	return nil
}

// semCheck refuses a Semaphore payload whose bound word is not one.
func semCheck(b []byte) error {
	if bw := atomic.LoadUint32(mem.Uint32(b, offBound)); bw != 0 && bw&boundedFlag == 0 {
		return fmt.Errorf("semaphore bound word %#x: %w", bw, ErrCorrupt)
	}
	return nil
}

// Close ends this handle: later calls through it fail with an error
// matching ErrClosed. Units it took stay taken; other handles and
// processes are untouched.
func (s *Semaphore) Close() error { return s.object.Close() }

// Free destroys the Semaphore for every process: it closes this handle
// and gives its block back to the segment. Every process must have
// stopped using it: a waiter left in Acquire would go on using memory the
// segment may give to a new object. A second Free, through any handle,
// fails with shm.ErrStale.
func (s *Semaphore) Free() error { return s.free() }

func (s *Semaphore) slotOwner(t uint16) *uint64 {
	return mem.Uint64(s.slots, uintptr(t%semQueue)*semSlotSize)
}

func (s *Semaphore) slotTag(t uint16) *uint32 {
	return mem.Uint32(s.slots, uintptr(t%semQueue)*semSlotSize+semSlotTag)
}

func (s *Semaphore) slotSeq(t uint16) *uint32 {
	return mem.Uint32(s.slots, uintptr(t%semQueue)*semSlotSize+semSlotSeq)
}

// testHookSem, when a test sets it, runs at the named points of a waiter's
// way through the queue, where kill tests stop it: "ticket" (it has a
// ticket, not yet recorded in its slot), "queued" (recorded, behind the
// head), "head" (at the head, too few units: about to sleep) and
// "cancelled" (it gave up and marked its slot, before passing its turn on)
// and "served" (it took its units, and still holds the gate).
var testHookSem func(point string)

func semHook(point string) {
	if testHookSem != nil {
		testHookSem(point)
	}
}

// Acquire takes n units, waiting until there are enough and every earlier
// waiter has been served, or until ctx ends. When ctx ends first (or had
// ended already) it returns ctx.Err() and has taken nothing. Acquiring
// more than a Bounded semaphore's bound can never succeed and is
// ErrInvalid.
func (s *Semaphore) Acquire(ctx context.Context, n int) error {
	if err := s.usable("acquire"); err != nil {
		return err
	}
	if err := s.checkN(n); err != nil {
		return err
	}
	if ctxDone(ctx) {
		return ctx.Err()
	}
	if s.take(uint32(n)) { // fast path
		return nil
	}
	for i := 0; i < spin; i++ {
		runtime.Gosched()
		if s.take(uint32(n)) {
			return nil
		}
	}
	return s.acquire(ctx, uint32(n))
}

func ctxDone(ctx context.Context) bool {
	done := ctx.Done()
	if done == nil {
		return false
	}
	select {
	case <-done:
		return true
	default:
		return false
	}
}

// acquire is the slow path: take a ticket at the tail of the queue and
// wait to be its head with enough units there. One goroutine of this
// process holds a ticket at a time; the others queue in order behind it.
func (s *Semaphore) acquire(ctx context.Context, n uint32) error {
	s.tally.add(sWaits)
	t, handed, err := s.enter(ctx)
	if err != nil {
		return err
	}
	defer s.gate.leave()
	if handed {
		again, err := s.wait(ctx, n, t)
		if !again {
			return err
		}
	}
	var hw headWatch
	for {
		if ctxDone(ctx) {
			return ctx.Err()
		}
		st := atomic.LoadUint64(s.state)
		q := waiting(st)
		switch {
		case q == 0 && units(st) >= n:
			if atomic.CompareAndSwapUint64(s.state, st, st-uint64(n)) {
				hb.Acquire(s.count)
				return nil
			}
		case q >= semQueue:
			// Full (or corrupt): look again later, watching the head.
			if hw.gone(s, st) {
				s.skip(serving(st))
				continue
			}
			s.tally.add(sSleeps)
			if err := park.Wait(ctx, s.count, uint32(st), recheck); err != nil && err != park.ErrTimeout {
				return err
			}
		default:
			t := nextTick(st)
			if !atomic.CompareAndSwapUint64(s.state, st, st+1<<semNext) {
				continue
			}
			semHook("ticket")
			s.record(t)
			if again, err := s.wait(ctx, n, t); !again {
				return err
			}
			// Passed over (taken for dead): join again.
		}
	}
}

// enter passes the gate, and takes up the ticket the goroutine before took
// for it, if any (handed). A goroutine that gives up at the gate while a
// ticket waits for it and nobody else is there to take it up gives the
// ticket up.
func (s *Semaphore) enter(ctx context.Context) (t uint16, handed bool, err error) {
	l := &s.local
	l.mu.Lock()
	l.waiting++
	l.mu.Unlock()
	err = s.gate.enter(ctx)
	l.mu.Lock()
	l.waiting--
	t, handed = l.ticket, l.handoff && (err == nil || l.waiting == 0)
	if handed {
		l.handoff = false
	}
	l.mu.Unlock()
	if err != nil {
		if handed {
			s.cancel(t)
		}
		return 0, false, err
	}
	return t, handed, nil
}

// handOn takes a ticket for the next goroutine at the gate, if one waits
// there, before the gate's holder leaves the queue (served or giving up).
// With the queue full it does not: the next one waits for a place.
func (s *Semaphore) handOn() {
	l := &s.local
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.waiting == 0 || l.handoff {
		return
	}
	for {
		st := atomic.LoadUint64(s.state)
		if waiting(st) >= semQueue {
			return
		}
		t := nextTick(st)
		if atomic.CompareAndSwapUint64(s.state, st, st+1<<semNext) {
			s.record(t)
			l.ticket, l.handoff = t, true
			return
		}
	}
}

// record writes this process into ticket t's slot.
func (s *Semaphore) record(t uint16) {
	atomic.StoreUint64(s.slotOwner(t), s.self)
	atomic.StoreUint32(s.slotTag(t), tagWritten|uint32(t))
}

// wait waits with ticket t until it is the head of the queue with n units
// there, and takes them. It gives up when ctx ends, passing its turn on.
// again reports that others passed t over, taking its holder for dead
// (which happens only if it failed to record itself for a second): the
// caller must take another ticket.
func (s *Semaphore) wait(ctx context.Context, n uint32, t uint16) (again bool, err error) {
	seq := s.slotSeq(t)
	var hw headWatch
	check, queued, head := true, false, false // check: look at the head's liveness, on arrival and after each full sleep
	for {
		v := atomic.LoadUint32(seq) // before the state: a change after this read ends the sleep
		st := atomic.LoadUint64(s.state)
		if !inQueue(st, t) {
			return true, nil
		}
		timeout := recheck
		if serving(st) == t {
			if units(st) >= n {
				if ctxDone(ctx) { // ctx ended before the units came: x/sync fails then too
					s.handOn()
					s.cancel(t)
					return false, ctx.Err()
				}
				s.handOn()
				if atomic.CompareAndSwapUint64(s.state, st, served(st, t)-uint64(n)) {
					hb.Acquire(s.count)
					s.passTo(t + 1)
					semHook("served")
					return false, nil
				}
				continue
			}
			if !head {
				head = true
				semHook("head")
			}
			// Only a Release can help now: a releaser killed before its
			// wake-up delays us by lostWake at most.
			timeout = lostWake
		} else {
			if !queued {
				queued = true
				semHook("queued")
			}
			if check && hw.gone(s, st) {
				s.skip(serving(st))
				continue
			}
			// The waiter right behind the head watches it; the others
			// are woken when they come to be right behind it (passTo),
			// and look on their own only now and then.
			if t != serving(st)+1 {
				timeout = lostWake
			}
		}
		s.tally.add(sSleeps)
		err := park.Wait(ctx, seq, v, timeout)
		check = err == park.ErrTimeout
		if err != nil && !check {
			s.handOn()
			s.cancel(t)
			return false, err
		}
	}
}

// headWatch follows the head of the queue for a waiter behind it.
type headWatch struct {
	ticket  uint16
	unknown time.Time // since when the head's slot was found unwritten
}

// gone reports whether the head of st's queue will never take its turn:
// its waiter gave up, died, or has not recorded itself for unwrittenGrace
// (killed between taking its ticket and recording it).
func (hw *headWatch) gone(s *Semaphore, st uint64) bool {
	if waiting(st) == 0 {
		return false
	}
	h := serving(st)
	if hw.ticket != h {
		hw.ticket, hw.unknown = h, time.Time{}
	}
	tag := atomic.LoadUint32(s.slotTag(h))
	if tag&^tagCancelled != tagWritten|uint32(h) {
		if hw.unknown.IsZero() {
			hw.unknown = time.Now()
		}
		return time.Since(hw.unknown) > unwrittenGrace
	}
	hw.unknown = time.Time{}
	return tag&tagCancelled != 0 || !s.alive(atomic.LoadUint64(s.slotOwner(h)))
}

// tryGone is gone for TryAcquire, which does not wait: the grace of a
// head not yet recorded is measured across its calls on this handle, so
// that a waiter killed before recording itself never blocks a program
// that only ever tries.
func (s *Semaphore) tryGone(st uint64) bool {
	s.try.Lock()
	defer s.try.Unlock()
	return s.try.hw.gone(s, st)
}

// skip passes the turn of ticket h on, if h is still the head, and
// reports whether it did.
func (s *Semaphore) skip(h uint16) bool {
	for {
		st := atomic.LoadUint64(s.state)
		if waiting(st) == 0 || serving(st) != h {
			return false
		}
		if atomic.CompareAndSwapUint64(s.state, st, served(st, h)) {
			s.tally.add(sSkipped)
			s.passTo(h + 1)
			return true
		}
	}
}

// passTo runs after ticket u became the head: it skips u if its waiter
// has given up, and wakes it otherwise.
func (s *Semaphore) passTo(u uint16) {
	for {
		st := atomic.LoadUint64(s.state)
		if waiting(st) == 0 || serving(st) != u {
			return // the queue is empty, or moved on without us
		}
		if atomic.LoadUint32(s.slotTag(u)) != tagWritten|tagCancelled|uint32(u) {
			s.wakeSlot(u)
			if waiting(st) > 1 {
				s.wakeSlot(u + 1) // now right behind the head: it watches it
			}
			return
		}
		if atomic.CompareAndSwapUint64(s.state, st, served(st, u)) {
			s.tally.add(sSkipped)
			u++
		}
	}
}

// cancel takes ticket t out of the queue for a waiter that gives up. Its
// slot says so first, so that whoever makes t the head skips it; if t is
// the head already, the waiter passes its turn on itself.
func (s *Semaphore) cancel(t uint16) {
	if !atomic.CompareAndSwapUint32(s.slotTag(t), tagWritten|uint32(t), tagWritten|tagCancelled|uint32(t)) {
		return // the slot holds a later ticket: t was passed over long ago
	}
	semHook("cancelled")
	s.skip(t)
}

// wakeSlot wakes the waiter of ticket t.
func (s *Semaphore) wakeSlot(t uint16) {
	seq := s.slotSeq(t)
	atomic.AddUint32(seq, 1)
	s.tally.add(sWakes)
	wake(seq)
}

// TryAcquire takes n units if there are enough now and nobody waits, and
// returns nil. Where Acquire would wait it returns an error matching
// ErrWouldBlock at once, having taken nothing. A waiter that died or gave
// up at the head of the queue does not count.
func (s *Semaphore) TryAcquire(n int) error {
	if err := s.usable("acquire"); err != nil {
		return err
	}
	if err := s.checkN(n); err != nil {
		return err
	}
	for {
		st := atomic.LoadUint64(s.state)
		if waiting(st) != 0 {
			if waiting(st) > semQueue || !s.tryGone(st) {
				return errQueued
			}
			s.skip(serving(st))
			continue
		}
		if units(st) < uint32(n) {
			return errTooFew
		}
		if atomic.CompareAndSwapUint64(s.state, st, st-uint64(n)) {
			hb.Acquire(s.count)
			return nil
		}
	}
}

// What TryAcquire returns where Acquire would wait, made once so that a
// TryAcquire that fails does not allocate.
var (
	errQueued = fmt.Errorf("semaphore: others wait first: %w", ErrWouldBlock)
	errTooFew = fmt.Errorf("semaphore: too few units: %w", ErrWouldBlock)
)

func (s *Semaphore) checkN(n int) error {
	if n < 0 || n > maxCount || (s.bounded && n > int(s.bound)) {
		return fmt.Errorf("semaphore: acquiring %d units of a semaphore (%s): %w", n, s.boundText(), ErrInvalid)
	}
	return nil
}

// take is the fast path: n units when nobody waits.
func (s *Semaphore) take(n uint32) bool {
	for {
		st := atomic.LoadUint64(s.state)
		if units(st) < n || waiting(st) != 0 {
			return false
		}
		if atomic.CompareAndSwapUint64(s.state, st, st-uint64(n)) {
			hb.Acquire(s.count)
			return true
		}
	}
}

// Release gives back n units and wakes the waiter at the head of the
// queue. Going past a Bounded semaphore's bound (or past 2^31-1 units) is
// ErrOverRelease, and releases nothing.
func (s *Semaphore) Release(n int) error {
	if err := s.usable("release"); err != nil {
		return err
	}
	if n < 0 || n > maxCount {
		return fmt.Errorf("semaphore: releasing %d units: %w", n, ErrInvalid)
	}
	hb.Release(s.count)
	for {
		st := atomic.LoadUint64(s.state)
		v := units(st) + uint32(n)
		if v > maxCount || (s.bounded && v > s.bound) {
			return fmt.Errorf("%w: %d units on top of %d (%s)", ErrOverRelease, n, units(st), s.boundText())
		}
		if atomic.CompareAndSwapUint64(s.state, st, st+uint64(n)) {
			if waiting(st) != 0 {
				s.wakeSlot(serving(st))
			}
			return nil
		}
	}
}

// Value is the number of units the semaphore holds now.
func (s *Semaphore) Value() int { return int(units(atomic.LoadUint64(s.state))) }

// Waiting is the number of tickets in the queue now: one per process (per
// handle) with goroutines waiting, whose others wait behind that one in
// the process (two for a moment, when it takes a ticket for the next).
func (s *Semaphore) Waiting() int { return int(waiting(atomic.LoadUint64(s.state))) }

// Bound is a Bounded semaphore's bound, 0 for an unbounded one.
func (s *Semaphore) Bound() int { return int(s.bound) }

// Bounded reports whether the semaphore was made by NewBounded.
func (s *Semaphore) Bounded() bool { return s.bounded }

func (s *Semaphore) boundText() string {
	if !s.bounded {
		return "unbounded"
	}
	return fmt.Sprintf("bound %d", s.bound)
}

// String describes s for logs and debugging, a snapshot: its handle, its
// value, its bound, and how many wait.
func (s *Semaphore) String() string {
	return fmt.Sprintf("Semaphore(%s, value %d, %s, %d waiting)", s.Handle(), s.Value(), s.boundText(), s.Waiting())
}

package semaphore

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/shmkit/shmkit/internal/hb"

	"github.com/shmkit/shmkit/internal/mem"
	"github.com/shmkit/shmkit/internal/park"
	"github.com/shmkit/shmkit/internal/sys"
	"github.com/shmkit/shmkit/shm"
)

// Barrier makes a fixed number of parties wait for each other (Python's
// Barrier). The last of them to arrive releases them all, and the barrier
// is ready for the next round. Abort, a waiter whose ctx ends, or a party
// that dies inside Wait break it: every waiter, and every later arrival
// until Reset, gets ErrBrokenBarrier.
type Barrier struct {
	object
	state   *uint64
	word    *uint32 // low half of *state: the futex word
	parties int
	slots   []byte // per arrival index: who waits there, in which round
	tally   tally  // its counters (stats.go)
	action  atomic.Pointer[func() error]
}

// The state word: bits 0-15 the waiters of this round, bit 16 broken, bits
// 17-31 the round (mod 2^15), bits 32-63 how each of the last 32 rounds
// ended (bit r%32: 1 broken or reset, 0 released).
const (
	bCount   = 1<<16 - 1
	bBroken  = 1 << 16
	bRound   = 1 << 17
	bRounds  = 1 << 15
	bHistory = 32
	// MaxParties is the most parties a Barrier can have.
	MaxParties = 1<<15 - 1
	slotSize   = 16 // owner word (8), round (4), unused (4)
	slotsOff   = lineSize
	slotRound  = 8
	// slotWritten marks a slot's round as written, so that a slot never
	// written (all zeroes) does not pass for one of round 0.
	slotWritten = 1 << 31
)

func round(st uint64) uint32 { return uint32(st>>17) & (bRounds - 1) }

// NewBarrier makes a Barrier for parties parties, in the default heap or
// where opts place it.
func NewBarrier(parties int, opts ...shm.Option) (*Barrier, error) {
	if parties < 1 || parties > MaxParties {
		return nil, fmt.Errorf("semaphore: barrier of %d parties (1 to %d): %w", parties, MaxParties, ErrInvalid)
	}
	return attach[Barrier](place(barrierInfo, uint64(slotsOff+parties*slotSize), func(b []byte) error {
		*mem.Uint32(b, offParties) = uint32(parties)
		return nil
	}, opts))
}

// OpenBarrier opens the Barrier called name in seg.
// It waits, as long as ctx allows, while the object's creator is still
// making it.
func OpenBarrier(ctx context.Context, seg *shm.Segment, name string) (*Barrier, error) {
	return attach[Barrier](find(ctx, seg, name, barrierInfo))
}

// UnmarshalBinary attaches x to the Barrier whose handle MarshalBinary
// encoded.
func (x *Barrier) UnmarshalBinary(b []byte) error { return unmarshal(x, b, barrierInfo) }

// barrierCheck refuses a Barrier payload whose parties' slots do not fit
// it.
func barrierCheck(b []byte) error {
	n := int(atomic.LoadUint32(mem.Uint32(b, offParties)))
	if n < 1 || n > MaxParties || len(b) < slotsOff+n*slotSize {
		return fmt.Errorf("barrier of %d parties in %d bytes: %w", n, len(b), ErrCorrupt)
	}
	return nil
}

func (x *Barrier) init(o *shm.Object) error {
	b := o.Bytes()
	if err := barrierCheck(b); err != nil {
		return fmt.Errorf("semaphore: %w", err)
	}
	n := int(atomic.LoadUint32(mem.Uint32(b, offParties)))
	x.o, x.state, x.word, x.parties = o, mem.Uint64(b, offBarrier), mem.Uint32(b, offBarrier), n
	x.slots = b[slotsOff : slotsOff+n*slotSize]
	x.tally = barrierCounters.of(b)
	x.closed.Store(false)
	return nil
}

// Close ends this handle: later calls through it fail with an error
// matching ErrClosed. Other handles and processes are untouched.
func (x *Barrier) Close() error { return x.object.Close() }

// Free destroys the Barrier for every process: it closes this handle and
// gives its block back to the segment. Every process must have stopped
// using it: a party left in Wait would go on using memory the segment may
// give to a new object. A second Free, through any handle, fails with
// shm.ErrStale.
func (x *Barrier) Free() error { return x.free() }

// Parties is the number of parties the barrier waits for.
func (x *Barrier) Parties() int { return x.parties }

// Waiting is the number of parties waiting in this round.
func (x *Barrier) Waiting() int {
	st := atomic.LoadUint64(x.state)
	if st&bBroken != 0 {
		return 0
	}
	return int(st & bCount)
}

// Broken reports whether the barrier is broken.
func (x *Barrier) Broken() bool { return atomic.LoadUint64(x.state)&bBroken != 0 }

// Wait waits until all parties have called Wait, and returns this caller's
// arrival index, from 0 for the first to Parties()-1 for the last, which
// releases the others. It returns ErrBrokenBarrier if the barrier is or
// becomes broken; when ctx ends first it breaks the barrier for all and
// returns an error matching both ErrBrokenBarrier and ctx.Err().
func (x *Barrier) Wait(ctx context.Context) (int, error) {
	if err := x.usable("wait"); err != nil {
		return 0, err
	}
	self, err := me()
	if err != nil {
		return 0, err
	}
	hb.Release(x.word)
	var st uint64
	var unknown time.Time // since when an earlier party's slot was found unwritten
	for {
		st = atomic.LoadUint64(x.state)
		if st&bBroken != 0 {
			return 0, ErrBrokenBarrier
		}
		i := int(st & bCount)
		if i > x.parties {
			return 0, fmt.Errorf("semaphore: %d waiting at a barrier of %d: %w", i, x.parties, ErrCorrupt)
		}
		if i == x.parties { // the last party runs its action: wait for the round to end
			x.tally.add(brSleeps)
			switch err := park.Wait(ctx, x.word, uint32(st), recheck); {
			case err == park.ErrTimeout:
				if x.lostParty(st, round(st), &unknown) {
					x.tally.add(brPartyDeaths)
					x.breakRound(round(st))
				}
			case err != nil:
				x.breakRound(round(st))
				return 0, fmt.Errorf("%w: %w", ErrBrokenBarrier, err)
			}
			continue
		}
		if i == x.parties-1 {
			if act := x.action.Load(); act != nil {
				if atomic.CompareAndSwapUint64(x.state, st, st+1) {
					return x.runAction(*act, i, self, round(st))
				}
				continue
			}
		}
		if i == x.parties-1 { // the last: release the round
			r := round(st)
			next := st&^(bCount|bRound*(bRounds-1)|1<<(bHistory+r%bHistory)) | uint64((r+1)%bRounds)<<17
			if atomic.CompareAndSwapUint64(x.state, st, next) {
				x.tally.add(brRounds)
				sys.FutexWake(x.word, -1)
				hb.Acquire(x.word)
				return i, nil
			}
			continue
		}
		if atomic.CompareAndSwapUint64(x.state, st, st+1) {
			x.record(i, self, round(st))
			st++
			break
		}
	}
	i, r := int(st&bCount)-1, round(st)
	unknown = time.Time{}
	for {
		x.tally.add(brSleeps)
		err := park.Wait(ctx, x.word, uint32(st), recheck)
		st = atomic.LoadUint64(x.state)
		if round(st) != r {
			if (round(st)-r)%bRounds < bHistory && st>>(bHistory+r%bHistory)&1 != 0 {
				return i, ErrBrokenBarrier
			}
			hb.Acquire(x.word)
			return i, nil
		}
		if st&bBroken != 0 {
			return i, ErrBrokenBarrier
		}
		switch {
		case err == park.ErrTimeout:
			if x.lostParty(st, r, &unknown) {
				x.tally.add(brPartyDeaths)
				x.breakRound(r)
				return i, fmt.Errorf("%w: a party died waiting", ErrBrokenBarrier)
			}
		case err != nil:
			x.breakRound(r)
			return i, fmt.Errorf("%w: %w", ErrBrokenBarrier, err)
		}
	}
}

// SetAction sets the function that runs, through this handle, when a
// round's last party to arrive is this process's Wait on it: Python's
// Barrier(parties, action). Being a Go func, an action cannot cross
// processes: each process sets its own, and the one that runs in a round
// is that of the last arrival's handle (none if it has none). It runs once
// in that round, in the last arrival's goroutine, after every party has
// arrived and before any is released: what the parties did before Wait
// happens before it, and what it does happens before their Waits return.
//
// If it returns an error, the barrier breaks: the other parties get
// ErrBrokenBarrier, and the last arrival an error matching both
// ErrBrokenBarrier and the action's error. If it panics, the barrier
// breaks likewise and the panic goes on up the last arrival's stack. If
// its process dies inside it, the others take the party for dead, as one
// killed inside Wait, and get ErrBrokenBarrier. While it runs, Waiting is
// Parties, and Abort and Reset break the round: the last arrival then gets
// ErrBrokenBarrier once the action returns. A Wait beyond the parties
// that arrives meanwhile waits for the round to end, and is the first of
// the next. A nil f removes the action.
func (x *Barrier) SetAction(f func() error) {
	if f == nil {
		x.action.Store(nil)
		return
	}
	x.action.Store(&f)
}

// runAction is the end of Wait for the last party i of round r when this
// handle has an action: the state's count is Parties, which holds the
// others and any extra arrival in Wait while it runs.
func (x *Barrier) runAction(act func() error, i int, self uint64, r uint32) (_ int, err error) {
	x.record(i, self, r) // so that the others see it dead if it dies in the action
	hb.Acquire(x.word)
	ok := false
	defer func() {
		if !ok { // the action panicked
			x.breakRound(r)
		}
	}()
	aerr := act()
	ok = true
	if aerr != nil {
		x.breakRound(r)
		return i, fmt.Errorf("%w: action: %w", ErrBrokenBarrier, aerr)
	}
	hb.Release(x.word)
	for {
		st := atomic.LoadUint64(x.state)
		if round(st) != r || st&bBroken != 0 || int(st&bCount) != x.parties {
			return i, fmt.Errorf("%w: broken while the action ran", ErrBrokenBarrier)
		}
		next := st&^(bCount|bRound*(bRounds-1)|1<<(bHistory+r%bHistory)) | uint64((r+1)%bRounds)<<17
		if atomic.CompareAndSwapUint64(x.state, st, next) {
			x.tally.add(brRounds)
			sys.FutexWake(x.word, -1)
			return i, nil
		}
	}
}

// record writes who waits at index i in round r. A party that dies between
// taking its index and recording itself leaves the slot of an older round;
// lostParty gives such a slot a second to be written.
func (x *Barrier) record(i int, self uint64, r uint32) {
	atomic.StoreUint64(mem.Uint64(x.slots, uintptr(i*slotSize)), self)
	atomic.StoreUint32(mem.Uint32(x.slots, uintptr(i*slotSize+slotRound)), r|slotWritten)
}

// unwrittenGrace is how long a slot may stay unwritten before its party is
// taken for dead.
const unwrittenGrace = time.Second

// lostParty reports whether a party waiting in round r has died.
func (x *Barrier) lostParty(st uint64, r uint32, unknown *time.Time) bool {
	n := int(st & bCount)
	gap := false
	for j := 0; j < n && j < x.parties; j++ {
		if atomic.LoadUint32(mem.Uint32(x.slots, uintptr(j*slotSize+slotRound))) != r|slotWritten {
			gap = true
			continue
		}
		if !x.alive(atomic.LoadUint64(mem.Uint64(x.slots, uintptr(j*slotSize)))) {
			return true
		}
	}
	if !gap {
		*unknown = time.Time{}
		return false
	}
	if unknown.IsZero() {
		*unknown = time.Now()
	}
	return time.Since(*unknown) > unwrittenGrace
}

// breakRound breaks the barrier if it is still in round r.
func (x *Barrier) breakRound(r uint32) {
	for {
		st := atomic.LoadUint64(x.state)
		if round(st) != r || st&bBroken != 0 {
			return
		}
		if atomic.CompareAndSwapUint64(x.state, st, st|bBroken) {
			x.tally.add(brBreaks)
			sys.FutexWake(x.word, -1)
			return
		}
	}
}

// Abort breaks the barrier: every waiter returns ErrBrokenBarrier, and so
// does every Wait until Reset.
func (x *Barrier) Abort() error {
	if err := x.usable("abort"); err != nil {
		return err
	}
	x.breakRound(round(atomic.LoadUint64(x.state)))
	return nil
}

// Reset returns the barrier to its empty state for a new round. Parties
// waiting in the current round get ErrBrokenBarrier.
func (x *Barrier) Reset() error {
	if err := x.usable("reset"); err != nil {
		return err
	}
	for {
		st := atomic.LoadUint64(x.state)
		if st&(bCount|bBroken) == 0 {
			return nil
		}
		r := round(st)
		next := st&^(bCount|bBroken|bRound*(bRounds-1)) | 1<<(bHistory+r%bHistory) | uint64((r+1)%bRounds)<<17
		if atomic.CompareAndSwapUint64(x.state, st, next) {
			if st&bBroken == 0 { // parties were waiting: their round breaks
				x.tally.add(brBreaks)
			}
			sys.FutexWake(x.word, -1)
			return nil
		}
	}
}

// String describes x for logs and debugging, a snapshot: its handle,
// the parties waiting over all its parties, and whether it is broken.
func (x *Barrier) String() string {
	return fmt.Sprintf("Barrier(%s, %d/%d waiting, broken %v)", x.Handle(), x.Waiting(), x.parties, x.Broken())
}

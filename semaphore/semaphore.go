package semaphore

import (
	"context"
	"fmt"
	"github.com/shmkit/shmkit/internal/hb"
	"runtime"
	"sync/atomic"

	"github.com/shmkit/shmkit/internal/mem"
	"github.com/shmkit/shmkit/internal/park"
	"github.com/shmkit/shmkit/shm"
)

// Semaphore is a counting semaphore shared between processes, with the
// semantics of golang.org/x/sync/semaphore: Acquire(ctx, n) takes n units
// or gives up with ctx.Err() and takes none. Release adds units back;
// a Bounded one refuses to go past its bound (ErrOverRelease), as Python's
// BoundedSemaphore does.
//
// Units have no owner: a process that dies holding some does not give them
// back (see the package's Caveats).
type Semaphore struct {
	object
	count *uint32 // bit 31: sleepers; bits 0-30: the count
	bound uint32  // 0: unbounded
	gate  gate
}

const (
	sleepers = 1 << 31
	maxCount = sleepers - 1
)

// New makes a Semaphore holding n units, in the default heap or where opts
// place it.
func New(n int, opts ...shm.Option) (*Semaphore, error) { return newSem(n, false, opts) }

// NewBounded makes a Semaphore holding n units that may never hold more.
func NewBounded(n int, opts ...shm.Option) (*Semaphore, error) { return newSem(n, true, opts) }

func newSem(n int, bounded bool, opts []shm.Option) (*Semaphore, error) {
	if n < 0 || n > maxCount || (bounded && n == 0) {
		return nil, fmt.Errorf("%w: semaphore of %d units", ErrInvalid, n)
	}
	return attach[Semaphore](place(semInfo, 0, func(b []byte) error {
		*mem.Uint32(b, offCount) = uint32(n)
		if bounded {
			*mem.Uint32(b, offBound) = uint32(n)
		}
		return nil
	}, opts))
}

// Open opens the Semaphore (bounded or not) called name in seg.
func Open(seg *shm.Segment, name string) (*Semaphore, error) {
	return attach[Semaphore](find(seg, name, semInfo))
}

// UnmarshalBinary attaches s to the Semaphore whose handle MarshalBinary
// encoded.
func (s *Semaphore) UnmarshalBinary(b []byte) error { return unmarshal(s, b, semInfo) }

func (s *Semaphore) init(o *shm.Object) error {
	b := o.Bytes()
	bound := atomic.LoadUint32(mem.Uint32(b, offBound))
	if bound > maxCount {
		return fmt.Errorf("%w: semaphore bound %d", ErrCorrupt, bound)
	}
	s.o, s.count, s.bound, s.gate = o, mem.Uint32(b, offCount), bound, newGate()
	s.closed.Store(false)
	return nil
}

// Acquire takes n units, waiting until there are enough or ctx ends. When
// ctx ends first it returns ctx.Err() and has taken nothing. Acquiring more
// than a Bounded semaphore's bound can never succeed and is ErrInvalid.
func (s *Semaphore) Acquire(ctx context.Context, n int) error {
	if err := s.usable("acquire"); err != nil {
		return err
	}
	if err := s.checkN(n); err != nil {
		return err
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

func (s *Semaphore) acquire(ctx context.Context, n uint32) error {
	// One goroutine of this process sleeps on the word; the others queue
	// behind it in order.
	if err := s.gate.enter(ctx); err != nil {
		return err
	}
	defer s.gate.leave()
	for {
		c := atomic.LoadUint32(s.count)
		if c&maxCount >= n {
			if atomic.CompareAndSwapUint32(s.count, c, c-n) { // keeps the sleepers bit
				hb.Acquire(s.count)
				return nil
			}
			continue
		}
		if c&sleepers == 0 && !atomic.CompareAndSwapUint32(s.count, c, c|sleepers) {
			continue
		}
		if err := park.Wait(ctx, s.count, c|sleepers, lostWake); err != nil && err != park.ErrTimeout {
			return err // Release wakes every sleeper: nothing to pass on
		}
	}
}

// TryAcquire takes n units if there are enough now, reporting whether it
// did.
func (s *Semaphore) TryAcquire(n int) bool {
	if s.usable("acquire") != nil || s.checkN(n) != nil {
		return false
	}
	return s.take(uint32(n))
}

func (s *Semaphore) checkN(n int) error {
	if n < 0 || n > maxCount || (s.bound != 0 && n > int(s.bound)) {
		return fmt.Errorf("%w: acquiring %d units of a semaphore bounded at %d", ErrInvalid, n, s.bound)
	}
	return nil
}

func (s *Semaphore) take(n uint32) bool {
	for {
		c := atomic.LoadUint32(s.count)
		if c&maxCount < n {
			return false
		}
		if atomic.CompareAndSwapUint32(s.count, c, c-n) {
			hb.Acquire(s.count)
			return true
		}
	}
}

// Release gives back n units and wakes the waiters. Going past a Bounded
// semaphore's bound (or past 2^31-1 units) is ErrOverRelease, and releases
// nothing.
func (s *Semaphore) Release(n int) error {
	if err := s.usable("release"); err != nil {
		return err
	}
	if n < 0 || n > maxCount {
		return fmt.Errorf("%w: releasing %d units", ErrInvalid, n)
	}
	hb.Release(s.count)
	for {
		c := atomic.LoadUint32(s.count)
		v := c&maxCount + uint32(n)
		if v > maxCount || (s.bound != 0 && v > s.bound) {
			return fmt.Errorf("%w: %d units on top of %d (bound %d)", ErrOverRelease, n, c&maxCount, s.bound)
		}
		if atomic.CompareAndSwapUint32(s.count, c, v) { // clears the sleepers bit
			if c&sleepers != 0 {
				wake(s.count)
			}
			return nil
		}
	}
}

// Value is the number of units the semaphore holds now.
func (s *Semaphore) Value() int { return int(atomic.LoadUint32(s.count) & maxCount) }

// Bound is a Bounded semaphore's bound, 0 for an unbounded one.
func (s *Semaphore) Bound() int { return int(s.bound) }

func (s *Semaphore) String() string {
	return fmt.Sprintf("Semaphore(%s, value %d, bound %d)", s.Handle(), s.Value(), s.bound)
}

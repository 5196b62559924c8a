package semaphore

import (
	"context"
	"fmt"
	"hash/fnv"
	"io"
	"sync/atomic"
	"time"

	"github.com/shmkit/shmkit/internal/owner"
	"github.com/shmkit/shmkit/internal/sys"
	"github.com/shmkit/shmkit/shm"
)

// object is what every type here shares: its block of shared memory and
// the state of this process's handle to it.
type object struct {
	o      *shm.Object
	closed atomic.Bool
}

// Every type is an io.Closer.
var (
	_ io.Closer = (*Mutex)(nil)
	_ io.Closer = (*RLock)(nil)
	_ io.Closer = (*Semaphore)(nil)
	_ io.Closer = (*Event)(nil)
	_ io.Closer = (*Cond)(nil)
	_ io.Closer = (*Barrier)(nil)
	_ io.Closer = (*RWMutex)(nil)
)

// Handle names the object for another process (see shm.Resolve).
func (x *object) Handle() shm.Handle { return x.o.Handle() }

// Name is the object's name in its segment, "" when it is unnamed.
func (x *object) Name() string { return x.o.Name() }

// MarshalBinary encodes the object's handle, so that encoders (gob among
// them) carry the shared object itself to another process.
func (x *object) MarshalBinary() ([]byte, error) {
	b, err := x.o.Handle().MarshalBinary()
	if err != nil {
		return nil, fmt.Errorf("semaphore: encoding %v handle: %w", x.o.Kind(), err)
	}
	return b, nil
}

// Close ends this handle: later calls through it fail with an error
// matching ErrClosed (and os.ErrClosed). The shared object stays for the
// other handles and processes; a lock held through it stays held. Close
// is idempotent.
func (x *object) Close() error {
	x.closed.Store(true)
	return nil
}

// free closes the handle and gives the object's block back to its
// segment. A block already freed, through any handle, is shm.ErrStale.
func (x *object) free() error {
	x.closed.Store(true)
	if err := x.o.Free(); err != nil {
		return fmt.Errorf("semaphore: freeing %v: %w", x.o.Kind(), err)
	}
	return nil
}

// live fails with shm.ErrStale when the object's block was freed (or
// freed and used again) since this handle attached to it.
func (x *object) live() error {
	if _, err := x.o.Segment().Attach(x.o.Handle()); err != nil {
		return fmt.Errorf("semaphore: freeing %v: %w", x.o.Kind(), err)
	}
	return nil
}

func (x *object) usable(what string) error {
	if x.closed.Load() {
		return fmt.Errorf("semaphore: %v %s: %w", x.o.Kind(), what, ErrClosed)
	}
	return nil
}

// kinds describes each type's block: its kind, layout fingerprint and
// payload size. The fingerprint names the layout version documented in
// doc.go; a process built with another layout fails to attach (ErrLayout).
type kindInfo struct {
	kind shm.Kind
	fp   uint64
	size uint64
}

func info(k shm.Kind, layout string, size uint64) kindInfo {
	h := fnv.New64a()
	h.Write([]byte("shmkit/semaphore/v1 " + layout))
	return kindInfo{kind: k, fp: h.Sum64(), size: size}
}

var (
	mutexInfo   = info(shm.KindMutex, "mutex state:u64@0 wake:u32@8 sleepers:u32@12 stats:4*u64@16", lineSize)
	rlockInfo   = info(shm.KindRLock, "rlock state:u64@0 depth:u32@8 wake:u32@12 sleepers:u32@16 stats:4*u64@24", lineSize)
	semInfo     = info(shm.KindSemaphore, "semaphore state:u64@0 bound:u32@8 stats:4*u64@16 slots:16*64@64", semSlotsOff+semQueue*semSlotSize)
	eventInfo   = info(shm.KindEvent, "event word:u32@0 stats:3*u64@8", lineSize)
	condInfo    = info(shm.KindCond, "cond wait:u32@0 notify:u32@4 seq:u32@8 slots:u32@12 lock:u64@16 lockgen:u64@24 over:u32@32 overgen:u32@36 lockkind:u32@40 stats:5*u64@64 ring:16*slots@128", condRingOff)
	barrierInfo = info(shm.KindBarrier, "barrier state:u64@0 parties:u32@8 stats:4*u64@16 slots:16*parties@64", lineSize)
	rwmutexInfo = info(shm.KindRWMutex, "rwmutex writer:u64@0 dead:u64@8 rseq:u32@16 rsleep:u32@20 wseq:u32@24 slots:u32@28 claimed:u64@32 wsleep:u32@40 wwake:u32@44 wsleepers:u32@48 stats:6*u64@64 slot:64*64@128", rwSlotsOff+rwSlots*rwSlotSize)
)

// lineSize is a cache line: each object's hot words sit alone on one.
const lineSize = 64

// Offsets in each kind's payload; doc.go draws them (TestDocLayout checks).
const (
	offState    = 0  // Mutex, RLock: the owner word
	offWake     = 8  // Mutex: the wake sequence its sleepers sleep on, and their count after it
	offDepth    = 8  // RLock: re-entry depth
	offRWake    = 12 // RLock: the wake sequence, and its sleepers' count after it
	offCount    = 0  // Semaphore: units, now serving, next ticket
	offBound    = 8  // Semaphore: bound, bit 31 set when bounded
	offEvent    = 0  // Event: generation, sleepers, set
	offWait     = 0  // Cond: the next waiter's ticket
	offNotify   = 4  // Cond: tickets below it are notified
	offSeq      = 8  // Cond: the futex word
	offSlots    = 12 // Cond: slots in its ring
	offLock     = 16 // Cond: its lock's payload offset
	offLockGen  = 24 // Cond: its lock's block generation
	offOver     = 32 // Cond: waiters beyond the ring
	offOverGen  = 36 // Cond: bumped to wake them
	offLockKind = 40 // Cond: its lock's kind, shm.KindMutex or shm.KindRLock
	offBarrier  = 0  // Barrier: the state word
	offParties  = 8  // Barrier: number of parties

	// Where each kind keeps its counters (stats.go).
	offMutexStats   = 16
	offRLockStats   = 24
	offSemStats     = 16
	offEventStats   = 8
	offCondStats    = 64
	offBarrierStats = 16
	offRWStats      = 64
)

// spec is the Spec of a new object of k, of size bytes (0: k's least
// size); the Spec a typed open checks with is spec(0).
func (k kindInfo) spec(size uint64) shm.Spec {
	if size == 0 {
		size = k.size
	}
	return shm.Spec{Kind: k.kind, Fingerprint: k.fp, Size: size}
}

// find opens the object called name in seg (shm checks its kind, layout
// and least size), waiting for it as long as ctx allows.
func find(ctx context.Context, seg *shm.Segment, name string, k kindInfo) (*shm.Object, error) {
	o, err := seg.Find(ctx, name, k.spec(0))
	if err != nil {
		return nil, fmt.Errorf("semaphore: opening %v %q: %w", k.kind, name, err)
	}
	return o, nil
}

// place makes the block for a new object, as opts say.
func place(k kindInfo, size uint64, init func([]byte) error, opts []shm.Option) (*shm.Object, error) {
	if _, err := me(); err != nil {
		return nil, err
	}
	o, err := shm.Place(k.spec(size), init, opts...)
	if err != nil {
		return nil, fmt.Errorf("semaphore: making %v: %w", k.kind, err)
	}
	return o, nil
}

// initer is every type here: it takes up the block it was given.
type initer interface{ init(o *shm.Object) error }

// attach makes a T on the block that place or find returned.
func attach[T any, P interface {
	*T
	initer
}](o *shm.Object, err error) (*T, error) {
	if err != nil {
		return nil, err
	}
	x := P(new(T))
	if err := x.init(o); err != nil {
		return nil, err
	}
	return (*T)(x), nil
}

// unmarshal attaches x to the object whose handle b encodes (shm checks
// its kind, layout and least size).
func unmarshal(x initer, b []byte, k kindInfo) error {
	o, err := shm.Unmarshal(b, k.spec(0))
	if err != nil {
		return fmt.Errorf("semaphore: attaching %v: %w", k.kind, err)
	}
	return x.init(o)
}

// me is this process's owner word (contended bit clear).
func me() (uint64, error) {
	w, err := owner.Me()
	if err != nil {
		return 0, fmt.Errorf("semaphore: %w", err)
	}
	return w, nil
}

func pidOf(w uint64) int { return owner.Pid(w) }

// alive reports whether the process an owner word names is still attached
// to the object's segment (package owner).
func (x *object) alive(w uint64) bool { return owner.For(x.o.Bytes()).Alive(w) }

// lostWake bounds the sleeps of waiters that no owner's death can hold up
// (Event, Semaphore, Cond): a waker killed between its change of the word
// and its FUTEX_WAKE leaves them asleep on a word that has changed, and
// they see the change when the bound ends.
const lostWake = 500 * time.Millisecond

// testHookWake, when a test sets it, runs between a waker's change of a
// word and its wake-up call: where a killed waker leaves sleepers behind.
var testHookWake func()

// wake is FUTEX_WAKE of every sleeper on addr, after testHookWake.
func wake(addr *uint32) {
	if testHookWake != nil {
		testHookWake()
	}
	sys.FutexWake(addr, -1)
}

// recheck bounds every sleep of a waiter whose wake-up could depend on a
// process that may die (a lock's owner, a barrier's parties), so that a
// death is seen within recheck (package owner asks the kernel, at once).
const recheck = 25 * time.Millisecond

// gate makes the goroutines of one process wait for a lock or semaphore
// one at a time: one of them sleeps on the shared word, the others in the
// Go scheduler, so that a wake-up never stirs a herd.
type gate chan struct{}

func newGate() gate { return make(gate, 1) }

func (g gate) enter(ctx context.Context) error {
	select {
	case g <- struct{}{}:
		return nil
	default:
	}
	select {
	case g <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (g gate) leave() { <-g }

// spin is how many times a slow path looks again before it sleeps. A
// variable only so that a benchmark can measure sleeping alone.
var spin = 4

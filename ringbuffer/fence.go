package ringbuffer

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/shmkit/shmkit/internal/mem"
	"github.com/shmkit/shmkit/internal/sys"
)

// The asymmetric fence of single-producer rings.
//
// A side that moves its cursor must see a sleeper of the other side
// that announced itself (bit 0 of the sleep word), and a sleeper must see
// the cursor move that it would otherwise sleep through: each side stores
// one word and then loads the other's, a Dekker handshake, which needs a
// full fence between the store and the load on both sides. A sequentially
// consistent store of the cursor is that fence, and on amd64 it costs an
// XCHG per message, most of a Push's time.
//
// So the side that stores, on every message, leaves the fence out: its
// cursor store is a plain release store (mem.StoreRelease), which a later
// load of the sleep word may pass. The side that sleeps, rarely, pays for
// both: after it announces itself and before it looks at the ring again,
// it calls sys.MembarrierGlobal, which makes every running thread of the
// processes that registered for it go through a full fence. Either the
// storer's load of the sleep word came after that fence, and sees the
// announcement (made before the call), or it came before it, and then so
// did the cursor store before it in program order, which the fence made
// visible to the sleeper's look.
//
// A process stores plainly only once it registered for membarrier
// (plainStores). Where it cannot (kernels before 4.16, a seccomp filter
// that refuses the call, the race detector, arm64, whose atomic store is
// cheap already), it stores with the full fence, as before. The sleeper
// may be another process that cannot call membarrier while the storer can,
// so the decision is recorded in the ring: a process sets the ring's plain
// word (with a fenced store) before its first plain store, and the word
// stays set. A sleeper reads it after announcing itself: when it is clear,
// no plain store can have been missed, and it sleeps as ever; when it is
// set, the sleeper calls membarrier, and if that fails it sleeps at most
// unfencedSleep, so that a missed wake-up costs that long, not lostWake.
//
// A process killed at any point leaves the cursors as a fenced store
// would: a store the CPU accepted is not lost with the process.

// unfencedSleep bounds each sleep of a waiter on a ring that has a plain
// storer, when the waiter could not fence it (see above).
var unfencedSleep = 2 * time.Millisecond

// plainStores reports whether this process stores the cursors of single-
// producer rings plainly: where that is a plain store, once the process
// registered as a target of membarrier.
var plainStores = sync.OnceValue(func() bool {
	return mem.PlainRelease && sys.MembarrierSupported() && sys.MembarrierRegister() == nil
})

// canFence reports whether this process may call membarrier.
var canFence = sync.OnceValue(sys.MembarrierSupported)

// lateWakes counts the sleeps of this process that ended by their timeout,
// their sleep word unchanged, and then found what they waited for: the
// wake-up was lost (its waker died, or never saw the sleeper). For tests.
var lateWakes atomic.Int64

// markPlain is called by a handle that takes a role of a single-producer
// ring: it reports whether that side stores its cursor plainly, having
// marked the ring as having a plain storer first.
func (c *core) markPlain() bool {
	if c.plain == nil || !plainStores() {
		return false
	}
	if atomic.LoadUint32(c.plain) == 0 {
		atomic.StoreUint32(c.plain, 1) // fenced: before any plain store
	}
	return true
}

// fenceSleep is a sleeper's half of the fence, called after it announced
// itself and before it looks at the ring again. It reports false when a
// plain store may have been missed, and the sleep must be short.
func (c *core) fenceSleep() bool {
	if c.plain == nil || atomic.LoadUint32(c.plain) == 0 {
		return true
	}
	return canFence() && sys.MembarrierGlobal() == nil
}

// publish stores the cursor of side e, v, at p: plainly when the side
// does (see above), else with sync/atomic's fence.
func (e *spscEnd) publish(p *uint64, v uint64) {
	if e.plain {
		mem.StoreRelease(p, v)
	} else {
		atomic.StoreUint64(p, v)
	}
}

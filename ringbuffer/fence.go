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
// Each cursor has a word in the ring's header that says whether it is
// stored plainly now (plainTail, plainHead). A side sets it, with a
// fenced store, before its first plain store, and a sleeper reads the
// word of the cursor it waits on after announcing itself: when it is
// clear, every store of that cursor was fenced (the fenced clear of the
// word came after the last plain one), and the sleeper skips membarrier;
// when it is set, it calls it. If that call fails (a seccomp filter in
// the sleeper's container), the sleeper sleeps at most unfencedSleep at a
// time, so that a missed wake-up costs that long, not lostWake. A race
// between a sleeper's read and a side setting the word is safe: the
// sleeper's announcement came before its read, which came before the set
// (it read it clear), which came before the side's look at the sleep
// word, which then sees the announcement.
//
// A side stores plainly only where its process registered for membarrier
// (plainStores): not on kernels before 4.16, under a seccomp filter that
// refuses the call, under the race detector, or on arm64, whose atomic
// store is cheap already. And it stops while the other side sleeps
// often: membarrier interrupts other CPUs and costs a microsecond or
// two, which a side that wakes the other at every message would add to
// each round trip. A side that had to wake a sleeper clears its word and
// stores fenced, and takes to plain stores again after calmStores stores
// that found no sleeper.
//
// A process killed at any point leaves the cursors as a fenced store
// would: a store the CPU accepted is not lost with the process.

// Tuning of the fence.
var (
	// unfencedSleep bounds each sleep of a waiter on a cursor stored
	// plainly, when the waiter could not fence the storer (see above).
	unfencedSleep = 2 * time.Millisecond
	// calmStores is how many stores of its cursor that found no sleeper a
	// side makes fenced, after it woke a sleeper, before it stores
	// plainly again; 0: it never stops storing plainly.
	calmStores uint32 = 64
)

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

// startPlain sets up side e, which just took role of c, to store its
// cursor plainly where this process may.
func (e *spscEnd) startPlain(c *core, role int) {
	e.plain, e.calm = false, 0
	if plainStores() {
		e.goPlain(c.plainWord(role))
	}
}

// plainWord is the word that says whether role's cursor is stored
// plainly.
func (c *core) plainWord(role int) *uint32 {
	if role == roleProducer {
		return c.plainTail
	}
	return c.plainHead
}

// goPlain marks the cursor of e as stored plainly, with a fenced store
// that comes before the first plain one, and stores plainly from now on.
func (e *spscEnd) goPlain(flag *uint32) {
	if atomic.LoadUint32(flag) != 1 {
		atomic.StoreUint32(flag, 1)
	}
	e.plain, e.calm = true, 0
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

// notify wakes the sleepers of word after side e published its cursor,
// whose plain word is flag, and moves the side between plain and fenced
// stores (see above). Its fast path, a plain side that finds no sleeper,
// inlines.
func (e *spscEnd) notify(word, flag *uint32) {
	if atomic.LoadUint32(word)&1 != 0 || e.calm != 0 {
		e.notifySlow(word, flag)
	}
}

func (e *spscEnd) notifySlow(word, flag *uint32) {
	if atomic.LoadUint32(word)&1 != 0 {
		wake(word)
		if e.plain && calmStores > 0 {
			e.plain, e.calm = false, calmStores
			atomic.StoreUint32(flag, 0) // fenced: after the last plain store
		}
		return
	}
	if e.calm--; e.calm == 0 {
		e.goPlain(flag)
	}
}

// fenceSleep is a sleeper's half of the fence, called after it announced
// itself on word and before it looks at the ring again. It reports false
// when a plain store may have been missed, and the sleep must be short.
func (c *core) fenceSleep(word *uint32) bool {
	flag := c.plainTail
	if word == c.full {
		flag = c.plainHead
	}
	if flag == nil || atomic.LoadUint32(flag) == 0 {
		return true
	}
	return canFence() && sys.MembarrierGlobal() == nil
}

// The same fence for the commits of a multi-producer ring of plain values
// (Ring, and Queue of plain T): a commit is the store of a cell word,
// which a consumer falling asleep on notEmpty must not miss, and on amd64
// a fenced store of it was most of a Put's time. A producer commits
// plainly once its process registered for membarrier, and a consumer
// that announced its sleep calls membarrier before its last look, as
// above. The ring's plainTail word says so: the first producer to commit
// plainly sets it, with a fenced store before its first plain commit, and
// nobody clears it, since several processes, and goroutines in each,
// commit at once and none can tell that the others' plain stores are
// over. A ring whose producers never stored plainly keeps it clear and
// its sleepers skip membarrier. Framed queues (of encoded T, what Pool
// uses) keep fenced commits: their consumers sleep far more often, and
// each sleep would pay for membarrier.

// startPlainCommits makes this handle's producer commit plainly. It runs
// once, as the handle registers its producer, before it commits anything.
func (c *core) startPlainCommits() {
	if atomic.LoadUint32(c.plainTail) != 1 {
		atomic.StoreUint32(c.plainTail, 1)
	}
	c.plainCommit = true
}

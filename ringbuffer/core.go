package ringbuffer

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/shmkit/shmkit/internal/hb"
	"github.com/shmkit/shmkit/internal/mem"
	"github.com/shmkit/shmkit/internal/owner"
	"github.com/shmkit/shmkit/internal/park"
	"github.com/shmkit/shmkit/internal/sys"
	"github.com/shmkit/shmkit/shm"
)

// core is one ring in shared memory, as one handle of this process sees it:
// the words of the header and the algorithms on them. Ring, Queue and Pipe
// are typed views over it.
type core struct {
	o     *shm.Object
	b     []byte // the ring's payload: o's bytes, or a Pipe's part of them
	l     layout
	tail  *uint64
	head  *uint64
	empty *uint32 // notEmpty: consumers sleep here
	full  *uint32 // notFull: producers sleep here
	table []uint64
	seq   []uint64 // multi-producer modes: one word per cell
	data  []byte
	mask  uint64
	shift uint
	limit uint64 // cells that may be in use at once (layout.capacity)
	// frames is the frames (messages, and holes) a framed queue holds at
	// most (layout.limit; 0: as many as its cells hold).
	frames  uint64
	counted frameCount // frameRoom's last count

	spin      atomic.Bool
	closed    atomic.Bool    // this handle was closed
	headCache atomic.Uint64  // producers: the last head seen
	idx       atomic.Int32   // producers: 1 + our index in the table, 0 until registered
	roles     [2]atomic.Bool // single-producer rings: this handle holds the producer, the consumer role

	borrower *uint64 // multi-producer modes: the borrower word (see loan.go)

	gets *uint64 // joinable queues: messages taken (see release)
	join *uint32 // joinable queues: Join sleeps here

	// plainTail and plainHead are a single-producer ring's words that say
	// whether the tail, the head, is stored plainly (see fence.go). A
	// multi-producer ring of plain values has plainTail only, which says
	// whether cell words may be committed plainly; a framed queue has
	// neither.
	plainTail, plainHead *uint32
	// plainCommit: this handle's producer commits cell words plainly (set
	// once, before idx, by producer).
	plainCommit bool

	cnt ringCounters // the header's counters of rare events (stats.go)
}

// registering serialises the producer registrations of this process, all
// handles together: two handles on one ring registering at once would
// otherwise both miss the other's slot and take one each.
var registering sync.Mutex

// attachCore checks the header of the ring whose payload is b, all or part
// of o's bytes, and maps the ring's words.
func attachCore(o *shm.Object, b []byte) (*core, error) {
	l, err := decodeLayout(b)
	if err != nil {
		return nil, err
	}
	return mapCore(o, b, l), nil
}

func mapCore(o *shm.Object, b []byte, l layout) *core {
	c := &core{
		o:     o,
		b:     b,
		l:     l,
		tail:  mem.Uint64(b, offTail),
		head:  mem.Uint64(b, offHead),
		empty: mem.Uint32(b, offNotEmpty),
		full:  mem.Uint32(b, offNotFull),
		table: mem.Slice[uint64](b, offTable, MaxProducers),
		data:  b[l.dataOff:l.size():l.size()],
		mask:  l.cells - 1,
		limit: l.capacity(),
		shift: l.lapShift(),
		cnt:   mapRingCounters(b),
	}
	if l.mode == modeFramed {
		c.frames = l.limit
	}
	switch l.mode {
	case modeSPSC:
		c.plainTail, c.plainHead = mem.Uint32(b, offPlainTail), mem.Uint32(b, offPlainHead)
	case modeFixed:
		c.plainTail = mem.Uint32(b, offPlainTail)
		fallthrough
	default:
		c.seq = mem.Slice[uint64](b, uintptr(l.seqOff), int(l.cells))
		c.borrower = mem.Uint64(b, offBorrower)
	}
	return c
}

// placeCore makes a new ring of layout l where opts say, with fp as the
// layout fingerprint of what it holds.
func placeCore(kind shm.Kind, fp uint64, l layout, opts []shm.Option) (*core, error) {
	if _, err := owner.Me(); err != nil {
		return nil, fmt.Errorf("ringbuffer: making %v: %w", kind, err)
	}
	o, err := shm.Place(shm.Spec{Kind: kind, Fingerprint: fp, Size: l.size()}, func(b []byte) error {
		l.encode(b)
		return nil
	}, opts...)
	if err != nil {
		return nil, fmt.Errorf("ringbuffer: making %v: %w", kind, err)
	}
	return mapCore(o, o.Bytes(), l), nil
}

// length is the number of cells between head and tail.
func (c *core) length() uint64 {
	for {
		h := atomic.LoadUint64(c.head) &^ lentBit
		t := atomic.LoadUint64(c.tail) &^ shutBit
		if atomic.LoadUint64(c.head)&^lentBit == h {
			if t < h {
				return 0
			}
			return t - h
		}
	}
}

// isShutdown reports whether the ring was shut down for producers.
func (c *core) isShutdown() bool { return atomic.LoadUint64(c.tail)&shutBit != 0 }

// shut shuts the ring down for producers, in every process, and wakes
// everyone.
func (c *core) shut() {
	for {
		t := atomic.LoadUint64(c.tail)
		if t&shutBit != 0 || atomic.CompareAndSwapUint64(c.tail, t, t|shutBit) {
			break
		}
	}
	notify(c.empty)
	notify(c.full)
}

// close ends this handle: its calls fail with errClosed from now on, and
// those of them that wait wake to see it (the other sleepers on the two
// words wake too, and sleep again). It reports whether the handle was
// open.
func (c *core) close() bool {
	if c.closed.Swap(true) {
		return false
	}
	if !c.unmapped() {
		c.wakeAll()
	}
	return true
}

// unmapped reports whether this process closed the ring's segment: its
// memory is gone, and closing the handle must not touch it (the shared
// words this process held are cleared by the others, who see it gone
// from the segment).
func (c *core) unmapped() bool { return c.o.Segment().Closed() }

// free closes this handle and gives the object back to its segment.
func (c *core) free() error {
	c.close()
	forgetHolds(c.o)
	if err := c.o.Free(); err != nil {
		return fmt.Errorf("ringbuffer: freeing %v %q: %w", c.o.Kind(), c.o.Name(), err)
	}
	return nil
}

// wakeAll wakes every sleeper on the ring's two words.
func (c *core) wakeAll() {
	notify(c.empty)
	notify(c.full)
}

// Producer registration.

// producer is this process's index in the producer table, taking a free
// slot, or the slot of a dead process, the first time.
func (c *core) producer() (int, error) {
	if c.closed.Load() {
		return 0, errClosed
	}
	if i := c.idx.Load(); i > 0 {
		return int(i - 1), nil
	}
	registering.Lock()
	defer registering.Unlock()
	if i := c.idx.Load(); i > 0 {
		return int(i - 1), nil
	}
	me, err := owner.Me()
	if err != nil {
		return 0, fmt.Errorf("ringbuffer: registering a producer: %w", err)
	}
	set := func(i int) (int, error) {
		if c.plainTail != nil && plainStores() {
			c.startPlainCommits()
		}
		c.idx.Store(int32(i + 1))
		return i, nil
	}
	for i := range c.table {
		if atomic.LoadUint64(&c.table[i]) == me {
			return set(i)
		}
	}
	for i := range c.table {
		if atomic.CompareAndSwapUint64(&c.table[i], 0, me) {
			return set(i)
		}
	}
	for i := range c.table {
		w := atomic.LoadUint64(&c.table[i])
		if w != 0 && !owner.For(c.b).Alive(w) {
			// Its claims must not pass for ours: skip them first.
			c.skipClaims(i)
			if atomic.CompareAndSwapUint64(&c.table[i], w, me) {
				atomic.AddUint64(c.cnt.takeovers[roleProducer], 1)
				return set(i)
			}
		}
	}
	return 0, fmt.Errorf("%w: all %d slots belong to live processes", ErrTooManyProducers, MaxProducers)
}

// skipClaims marks every claim of producer i that was never committed as a
// hole. Producer i is dead.
func (c *core) skipClaims(i int) {
	for j := range c.seq {
		w := atomic.LoadUint64(&c.seq[j])
		if wordState(w) == stClaimed && wordIdx(w) == i &&
			atomic.CompareAndSwapUint64(&c.seq[j], w, w&^3|stSkipped) {
			atomic.AddUint64(c.cnt.holes, 1)
		}
	}
}

// producerAlive reports whether producer i of the table runs.
func (c *core) producerAlive(i int) bool {
	w := atomic.LoadUint64(&c.table[i])
	return w != 0 && owner.For(c.b).Alive(w)
}

// Claims (multi-producer modes).

// claim reserves k cells at the tail for producer idx and moves the tail
// past them. It returns the position of the first, errFull when there is
// no room now, or errShutdown.
func (c *core) claim(idx int, k uint64) (uint64, error) {
	for {
		t := atomic.LoadUint64(c.tail)
		if t&shutBit != 0 {
			return 0, errShutdown
		}
		if !c.room(t, k) {
			return 0, errFull
		}
		i := t & c.mask
		lap := uint32(t >> c.shift)
		w := atomic.LoadUint64(&c.seq[i])
		switch wl := wordLap(w); {
		case wl == lap && wordState(w) != stFree:
			// Claimed already, and the tail not moved yet: help.
			atomic.CompareAndSwapUint64(c.tail, t, t+wordCells(w))
			continue
		case wl != lap && int32(lap-wl) < 0:
			if atomic.LoadUint64(c.tail) == t {
				// A claim of a later lap where the tail has not been yet:
				// no producer writes that, and waiting for the tail to
				// move would spin for ever.
				return 0, fmt.Errorf("ringbuffer: %w: the cell at position %d holds a claim of lap %d", ErrCorrupt, t, wl)
			}
			continue // t is old news
		}
		if c.frames > 0 {
			if ok, err := c.frameRoom(t); err != nil {
				return 0, err
			} else if !ok {
				return 0, errFull
			}
		}
		if !atomic.CompareAndSwapUint64(&c.seq[i], w, cellWord(lap, stClaimed, idx, k)) {
			continue
		}
		hook(pointClaimed)
		if !atomic.CompareAndSwapUint64(c.tail, t, t+k) {
			if atomic.LoadUint64(c.tail) == t|shutBit {
				// Shut down between our claim and our move of the tail:
				// the claim becomes a hole past the tail.
				atomic.StoreUint64(&c.seq[i], cellWord(lap, stSkipped, idx, k))
				atomic.CompareAndSwapUint64(c.tail, t|shutBit, (t+k)|shutBit)
				return 0, errShutdown
			}
			// Another producer moved the tail for us, or t is from 2^32
			// laps ago and the cell word happened to read the same: then
			// the head is past t, which it never is past a live claim.
			if atomic.LoadUint64(c.head)&^lentBit > t {
				atomic.CompareAndSwapUint64(&c.seq[i], cellWord(lap, stClaimed, idx, k), w)
				continue
			}
		}
		return t, nil
	}
}

// extend claims, for a batch, up to n single cells right after the cell
// just claimed at pos, as long as nobody else claims in between. It does
// not move the tail: the caller does, once (see publishRun).
func (c *core) extend(idx int, pos uint64, n int) int {
	m := 0
	for m < n {
		p := pos + 1 + uint64(m)
		if !c.room(p, 1) {
			break
		}
		lap := uint32(p >> c.shift)
		w := atomic.LoadUint64(&c.seq[p&c.mask])
		// Claimed for this lap already, or we are behind (as in claim); a
		// word of lap 0 that is still free is the fresh ring's first lap.
		if wl := wordLap(w); (wl == lap && wordState(w) != stFree) || int32(lap-wl) < 0 {
			break
		}
		if !atomic.CompareAndSwapUint64(&c.seq[p&c.mask], w, cellWord(lap, stClaimed, idx, 1)) {
			break
		}
		m++
	}
	return m
}

// moveTail moves the tail over the cells claimed in [from, to): those that
// a Shutdown cut off become holes, and their count is returned.
func (c *core) moveTail(from, to uint64, idx int) (cut uint64) {
	for {
		t := atomic.LoadUint64(c.tail)
		pos := t &^ shutBit
		if pos >= to {
			return 0
		}
		if pos < from {
			pos = from // helpers have not caught up with our first claim yet
		}
		if t&shutBit != 0 {
			for p := pos; p < to; p++ {
				atomic.StoreUint64(&c.seq[p&c.mask], cellWord(uint32(p>>c.shift), stSkipped, idx, 1))
			}
			atomic.CompareAndSwapUint64(c.tail, t, to|shutBit)
			return to - pos
		}
		if atomic.CompareAndSwapUint64(c.tail, t, to) {
			return 0
		}
	}
}

// room reports whether k cells from position t are free, that is, every
// consumer has left the lap before, and within the limit: a Queue of
// plain T holds its capacity exactly, however many cells its ring has.
// Positions count the holes of dead producers too, which the consumers
// skip: a producer's death costs no capacity for longer than that.
func (c *core) room(t, k uint64) bool {
	if t+k <= c.headCache.Load()+c.limit {
		return true
	}
	h := atomic.LoadUint64(c.head) &^ lentBit
	c.headCache.Store(h)
	return t+k <= h+c.limit
}

// frameCount is a handle's last count of the frames of a framed queue:
// n frames from position h to position t.
type frameCount struct {
	sync.Mutex
	h, t, n uint64
}

// frameRoom reports whether a framed queue has room for one more frame at
// position t, the tail: whether fewer than c.frames frames lie between
// the head and t. Every frame takes one cell or more, so that only a queue
// with c.frames cells in use counts its frames, hopping from cell word to
// cell word; a queue of small messages never does until it is full.
//
// The count is exact for t: a claim at t must win the cell word at t,
// which a concurrent claim changes first, so no two producers claim on
// the same count; a consumer meanwhile only takes frames away. Frames
// that the head passes while the count runs are counted again from the
// new head.
//
// The frames before the tail never change (claims are made at the tail
// only, and a claim turned into a hole keeps its length), so the handle
// keeps its last count and brings it up to date: less the frames the head
// has passed since, plus those the tail has. A queue kept full then costs
// a hop or two per Put, not a count of all its frames.
func (c *core) frameRoom(t uint64) (bool, error) {
	if h := c.headCache.Load(); t < h+c.frames {
		return true, nil // headCache is never past the head
	}
	fc := &c.counted
	fc.Lock()
	defer fc.Unlock()
	for {
		h := atomic.LoadUint64(c.head) &^ lentBit
		c.headCache.Store(h)
		if t < h+c.frames {
			return true, nil
		}
		n, ok := uint64(0), false
		if fc.h <= h && h <= fc.t && fc.t <= t && fc.t > fc.h {
			// Up to date from the last count. The cells the head passed
			// may have been claimed again meanwhile: hop then fails.
			gone, ok1 := c.hop(fc.h, h)
			added, ok2 := c.hop(fc.t, t)
			if ok = ok1 && ok2 && gone <= fc.n; ok {
				n = fc.n - gone + added
			}
		}
		if !ok {
			n, ok = c.hop(h, t)
		}
		if atomic.LoadUint64(c.head)&^lentBit != h {
			continue // frames were taken meanwhile: count from the new head
		}
		if !ok || n > c.frames {
			// The tail moves past a cell only after its claim, and
			// the head did not move: every cell word it passed shows it.
			return false, fmt.Errorf("ringbuffer: %w: the frames from position %d to the tail at %d do not add up", ErrCorrupt, h, t)
		}
		fc.h, fc.t, fc.n = h, t, n
		return n < c.frames, nil
	}
}

// hop counts the frames from position from to position to, hopping from
// cell word to cell word. It reports false when a cell word on the way is
// not a frame's of that lap (its cell was claimed again since, or never)
// or the hops do not land on to.
func (c *core) hop(from, to uint64) (uint64, bool) {
	n, p := uint64(0), from
	for p < to {
		w := atomic.LoadUint64(&c.seq[p&c.mask])
		if wordLap(w) != uint32(p>>c.shift) || wordState(w) == stFree || n >= c.l.cells {
			return n, false
		}
		n++
		p += wordCells(w)
	}
	return n, p == to
}

// commit publishes the frame claimed at pos.
func (c *core) commit(pos, k uint64, idx int) {
	hook(pointPublish)
	w := cellWord(uint32(pos>>c.shift), stFull, idx, k)
	if c.plainCommit {
		mem.StoreRelease(&c.seq[pos&c.mask], w)
	} else {
		atomic.StoreUint64(&c.seq[pos&c.mask], w)
	}
}

// Taking (multi-producer modes).

// front finds the committed frame at the head, skipping the holes of dead
// producers on the way. It returns the head position and the frame's cell
// word, or errEmpty, errPending, errShutdown, or errClosed once this handle
// is closed.
func (c *core) front() (h, w uint64, err error) {
	if c.closed.Load() {
		return 0, 0, errClosed
	}
	for {
		h = atomic.LoadUint64(c.head)
		if h&lentBit != 0 {
			// Lent to a borrower: wait for it, or hand the message on
			// from a dead one.
			if err := c.handOn(h); err != nil {
				return h &^ lentBit, 0, err
			}
			continue
		}
		i := h & c.mask
		lap := uint32(h >> c.shift)
		w = atomic.LoadUint64(&c.seq[i])
		if wordLap(w) != lap || wordState(w) == stFree {
			t := atomic.LoadUint64(c.tail)
			if atomic.LoadUint64(c.head) != h {
				continue
			}
			if t&^shutBit <= h {
				if t&shutBit != 0 {
					return h, 0, errShutdown
				}
				return h, 0, errEmpty
			}
			// The tail moves past a cell only after its claim: a cell
			// word read after the tail must show the claim.
			if w2 := atomic.LoadUint64(&c.seq[i]); atomic.LoadUint64(c.head) == h &&
				(wordLap(w2) != lap || wordState(w2) == stFree) {
				return h, 0, fmt.Errorf("ringbuffer: %w: the cell at position %d was never claimed, yet the tail is at %d", ErrCorrupt, h, t&^shutBit)
			}
			continue
		}
		switch wordState(w) {
		case stFull:
			return h, w, nil
		case stSkipped:
			k := wordCells(w)
			if k > c.l.cells {
				return h, 0, fmt.Errorf("ringbuffer: %w: a hole of %d cells at position %d", ErrCorrupt, k, h)
			}
			// The dead claimer may not have moved the tail.
			if !atomic.CompareAndSwapUint64(c.tail, h, h+k) {
				atomic.CompareAndSwapUint64(c.tail, h|shutBit, (h+k)|shutBit)
			}
			if atomic.CompareAndSwapUint64(c.head, h, h+k) {
				notify(c.full)
			}
		case stClaimed:
			if atomic.LoadUint64(c.tail) == h|shutBit {
				return h, 0, errShutdown // a claim the Shutdown cut off
			}
			if !c.producerAlive(wordIdx(w)) {
				if atomic.CompareAndSwapUint64(&c.seq[i], w, w&^3|stSkipped) {
					atomic.AddUint64(c.cnt.holes, 1)
				}
				continue
			}
			return h, 0, errPending
		}
	}
}

// next looks at the frame after one of k cells at position h, for a
// batch: it reports whether that one is committed too (and its word).
func (c *core) next(h uint64) (uint64, bool) {
	w := atomic.LoadUint64(&c.seq[h&c.mask])
	return w, wordLap(w) == uint32(h>>c.shift) && wordState(w) == stFull && wordCells(w) == 1
}

// release moves the head from h over k cells, which the caller has copied:
// it reports whether the copy was the caller's to keep. A joinable queue
// counts the message as taken before the head moves: Join must never see
// it neither in the ring nor counted.
func (c *core) release(h, k uint64) bool {
	if c.gets != nil {
		atomic.AddUint64(c.gets, 1)
	}
	if !atomic.CompareAndSwapUint64(c.head, h, h+k) {
		if c.gets != nil {
			atomic.AddUint64(c.gets, ^uint64(0))
			notify(c.join)
		}
		return false
	}
	hook(pointTaken)
	notify(c.full)
	if c.join != nil {
		notify(c.join) // messages marked done before they were taken
	}
	return true
}

// Bytes in the data area, for framed queues. Positions are cells.

func (c *core) cellOff(pos uint64) int { return int((pos & c.mask) * c.l.cellSize) }

// writeAt copies b into the ring from byte off of the data area, wrapping.
func (c *core) writeAt(off int, b []byte) {
	n := copy(c.data[off:], b)
	copy(c.data, b[n:])
}

// readAt fills b from byte off of the data area, wrapping.
func (c *core) readAt(off int, b []byte) {
	n := copy(b, c.data[off:])
	copy(b[n:], c.data)
}

// Roles (single-producer rings).

// The roles of a single-producer ring, and the words that record their
// holders.
const (
	roleProducer = 0
	roleConsumer = 1
)

var roleWords = [2]uintptr{offProducer, offConsumer}

// takeRole records this process in the word of role r: free, ours
// already, or held by a dead process. The handle then holds the role
// until it closes; the process, while any of its handles does.
func (c *core) takeRole(r int) error {
	if c.roles[r].Load() {
		return nil
	}
	role := mem.Uint64(c.b, roleWords[r])
	_, err := hold(holdKeyOf(c.o, roleWords[r]), func(me uint64) (*uint64, error) {
		for {
			w := atomic.LoadUint64(role)
			switch {
			case w == me:
				return role, nil
			case w != 0 && owner.For(c.b).Alive(w):
				return nil, fmt.Errorf("%w: the %s is pid %d", ErrBusy, [2]string{"producer", "consumer"}[r], owner.Pid(w))
			case atomic.CompareAndSwapUint64(role, w, me):
				if w != 0 {
					atomic.AddUint64(c.cnt.takeovers[r], 1)
				}
				return role, nil
			}
		}
	})
	if err != nil {
		return err
	}
	c.roles[r].Store(true)
	return nil
}

// dropRoles lets go of the roles this handle holds: the last handle of
// this process to hold one clears its word, for another process to take.
func (c *core) dropRoles() {
	if c.unmapped() {
		return
	}
	for r := range c.roles {
		if c.roles[r].Swap(false) {
			unhold(holdKeyOf(c.o, roleWords[r]))
		}
	}
}

// Sleeping.
//
// A sleep word (notEmpty, notFull) is a generation counter times two, plus
// bit 0 when some process may sleep on it. A sleeper sets the bit, looks at
// the ring again, and sleeps if nothing changed; a waker that finds the bit
// set clears it, bumps the generation and makes the FUTEX_WAKE call. A
// waker that finds it clear makes no system call at all.

func notify(word *uint32) {
	if atomic.LoadUint32(word)&1 != 0 {
		wake(word)
	}
}

// wake is notify's slow path, apart so that notify inlines.
func wake(word *uint32) {
	for {
		w := atomic.LoadUint32(word)
		if w&1 == 0 {
			return
		}
		if atomic.CompareAndSwapUint32(word, w, (w&^1)+2) {
			hook(pointWake)
			sys.FutexWake(word, -1)
			return
		}
	}
}

// Tuning of waits.
var (
	// spinTries is how often a blocking call looks again, yielding in
	// between, before it sleeps.
	spinTries = 4
	// recheck bounds a sleep behind a claim whose producer may die.
	recheck = 25 * time.Millisecond
	// lostWake bounds every other sleep: a waker killed between its change
	// and its wake-up leaves sleepers on a word that has changed.
	lostWake = 500 * time.Millisecond
	// spinIdle is how many tries a spinning wait makes between two calls
	// of its idle function.
	spinIdle = 1024
)

// await calls try until it returns something other than errEmpty, errFull
// or errPending: spinning when the handle says so, otherwise spinning
// briefly and then sleeping on word.
//
// idle, when not nil, is for a wait that ends when another process dies
// (a pipe's peer): it is called before each sleep, which it then bounds by
// recheck, and, when spinning, every spinIdle tries; it returns as try
// does.
func (c *core) await(ctx context.Context, word *uint32, try, idle func() error) error {
	n := c.cnt.empty
	if word == c.full {
		n = c.cnt.full
	}
	return awaitWord(ctx, word, n, &c.spin, c, try, idle)
}

// awaitWord is await for any object that sleeps on a word: n are the
// word's counters, spin says whether to spin, and fc, when not nil, is the
// ring whose plain stores a sleeper must fence (see fence.go).
func awaitWord(ctx context.Context, word *uint32, n sleepCounts, spin *atomic.Bool, fc *core, try, idle func() error) error {
	done := ctx.Done()
	late := false // the last sleep ended by its timeout, the word unchanged
	for i := 0; ; i++ {
		err := try()
		if !again(err) {
			if late && err == nil {
				lateWakes.Add(1)
			}
			return err
		}
		late = false
		if i == 0 && n.waits != nil {
			atomic.AddUint64(n.waits, 1)
		}
		if spin.Load() {
			if i&63 == 63 {
				select {
				case <-done:
					return ctx.Err()
				default:
				}
			}
			if idle != nil && i%spinIdle == spinIdle-1 {
				if err := idle(); !again(err) {
					return err
				}
			}
			continue
		}
		select {
		case <-done:
			return ctx.Err()
		default:
		}
		if i < spinTries {
			runtime.Gosched()
			continue
		}
		w := atomic.LoadUint32(word)
		if w&1 == 0 && !atomic.CompareAndSwapUint32(word, w, w|1) {
			continue
		}
		fenced := fc == nil || fc.fenceSleep(word)
		if err = try(); !again(err) {
			return err
		}
		timeout := lostWake
		if idle != nil {
			if err = idle(); !again(err) {
				return err
			}
			timeout = recheck
		}
		if err == errPending {
			timeout = recheck
		}
		if !fenced {
			timeout = min(timeout, unfencedSleep)
		}
		n.slept(w | 1)
		if err := park.Wait(ctx, word, w|1, timeout); err == park.ErrTimeout {
			late = atomic.LoadUint32(word) == w|1 // and no waker came
		} else if err != nil {
			return err
		}
	}
}

func again(err error) bool { return err == errEmpty || err == errFull || err == errPending }

// Race detector: a push releases, a pop acquires, through the tail word.
func (c *core) released() { hb.Release(c.tail) }
func (c *core) acquired() { hb.Acquire(c.tail) }

// Kill points, for tests: where a producer or consumer may die.
const (
	pointClaimed = "claimed" // producer: cells claimed, nothing written
	pointWriting = "writing" // producer: half the message written
	pointPublish = "publish" // producer: written, not yet committed
	pointTaken   = "taken"   // consumer: head moved, message not yet returned
	pointReading = "reading" // consumer: message copied, head not yet moved
	pointWake    = "wake"    // waker: word changed, FUTEX_WAKE not yet made
	pointPadding = "padding" // byte loan: cells up to the ring's end claimed, not yet a hole
)

// testHook, set by tests, runs at each kill point.
var testHook func(point string)

func hook(point string) {
	if testHook != nil {
		testHook(point)
	}
}

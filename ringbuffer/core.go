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

	spin      atomic.Bool
	headCache atomic.Uint64 // producers: the last head seen
	idx       atomic.Int32  // producers: 1 + our index in the table, 0 until registered

	gets *uint64 // joinable queues: messages taken (see release)
	join *uint32 // joinable queues: Join sleeps here
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
		shift: l.lapShift(),
	}
	if l.mode != modeSPSC {
		c.seq = mem.Slice[uint64](b, uintptr(l.seqOff), int(l.cells))
	}
	return c
}

// placeCore makes a new ring of layout l where opts say, with fp as the
// layout fingerprint of what it holds.
func placeCore(kind shm.Kind, fp uint64, l layout, opts []shm.Option) (*core, error) {
	if _, err := owner.Me(); err != nil {
		return nil, err
	}
	o, err := shm.Place(shm.Spec{Kind: kind, Fingerprint: fp, Size: l.size()}, func(b []byte) error {
		l.encode(b)
		return nil
	}, opts...)
	if err != nil {
		return nil, fmt.Errorf("making %v: %w", kind, err)
	}
	return mapCore(o, o.Bytes(), l), nil
}

// length is the number of cells between head and tail.
func (c *core) length() uint64 {
	for {
		h := atomic.LoadUint64(c.head)
		t := atomic.LoadUint64(c.tail) &^ closedBit
		if atomic.LoadUint64(c.head) == h {
			if t < h {
				return 0
			}
			return t - h
		}
	}
}

// isClosed reports whether the ring was closed for producers.
func (c *core) isClosed() bool { return atomic.LoadUint64(c.tail)&closedBit != 0 }

// shut closes the ring for producers and wakes everyone.
func (c *core) shut() {
	for {
		t := atomic.LoadUint64(c.tail)
		if t&closedBit != 0 || atomic.CompareAndSwapUint64(c.tail, t, t|closedBit) {
			break
		}
	}
	notify(c.empty)
	notify(c.full)
}

// Producer registration.

// producer is this process's index in the producer table, taking a free
// slot, or the slot of a dead process, the first time.
func (c *core) producer() (int, error) {
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
		return 0, err
	}
	set := func(i int) (int, error) {
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
		if wordState(w) == stClaimed && wordIdx(w) == i {
			atomic.CompareAndSwapUint64(&c.seq[j], w, w&^3|stSkipped)
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
// past them. It returns the position of the first, ErrFull when there is
// no room now, or ErrClosed.
func (c *core) claim(idx int, k uint64) (uint64, error) {
	for {
		t := atomic.LoadUint64(c.tail)
		if t&closedBit != 0 {
			return 0, ErrClosed
		}
		if !c.room(t, k) {
			return 0, ErrFull
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
				return 0, fmt.Errorf("%w: the cell at position %d holds a claim of lap %d", ErrCorrupt, t, wl)
			}
			continue // t is old news
		}
		if !atomic.CompareAndSwapUint64(&c.seq[i], w, cellWord(lap, stClaimed, idx, k)) {
			continue
		}
		hook(pointClaimed)
		if !atomic.CompareAndSwapUint64(c.tail, t, t+k) {
			if atomic.LoadUint64(c.tail) == t|closedBit {
				// Closed between our claim and our move of the tail: the
				// claim becomes a hole past the closed tail.
				atomic.StoreUint64(&c.seq[i], cellWord(lap, stSkipped, idx, k))
				atomic.CompareAndSwapUint64(c.tail, t|closedBit, (t+k)|closedBit)
				return 0, ErrClosed
			}
			// Another producer moved the tail for us, or t is from 2^32
			// laps ago and the cell word happened to read the same: then
			// the head is past t, which it never is past a live claim.
			if atomic.LoadUint64(c.head) > t {
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
// a Close cut off become holes, and their count is returned.
func (c *core) moveTail(from, to uint64, idx int) (cut uint64) {
	for {
		t := atomic.LoadUint64(c.tail)
		pos := t &^ closedBit
		if pos >= to {
			return 0
		}
		if pos < from {
			pos = from // helpers have not caught up with our first claim yet
		}
		if t&closedBit != 0 {
			for p := pos; p < to; p++ {
				atomic.StoreUint64(&c.seq[p&c.mask], cellWord(uint32(p>>c.shift), stSkipped, idx, 1))
			}
			atomic.CompareAndSwapUint64(c.tail, t, to|closedBit)
			return to - pos
		}
		if atomic.CompareAndSwapUint64(c.tail, t, to) {
			return 0
		}
	}
}

// room reports whether k cells from position t are free, that is, every
// consumer has left the lap before.
func (c *core) room(t, k uint64) bool {
	if t+k <= c.headCache.Load()+c.l.cells {
		return true
	}
	h := atomic.LoadUint64(c.head)
	c.headCache.Store(h)
	return t+k <= h+c.l.cells
}

// commit publishes the frame claimed at pos.
func (c *core) commit(pos, k uint64, idx int) {
	hook(pointPublish)
	atomic.StoreUint64(&c.seq[pos&c.mask], cellWord(uint32(pos>>c.shift), stFull, idx, k))
}

// Taking (multi-producer modes).

// errPending: the frame at the head is claimed by a live producer that
// has not committed it yet.
var errPending = fmt.Errorf("ringbuffer: %w (a message is being written)", ErrEmpty)

// front finds the committed frame at the head, skipping the holes of dead
// producers on the way. It returns the head position and the frame's cell
// word, or ErrEmpty, errPending or ErrClosed.
func (c *core) front() (h, w uint64, err error) {
	for {
		h = atomic.LoadUint64(c.head)
		i := h & c.mask
		lap := uint32(h >> c.shift)
		w = atomic.LoadUint64(&c.seq[i])
		if wordLap(w) != lap || wordState(w) == stFree {
			t := atomic.LoadUint64(c.tail)
			if atomic.LoadUint64(c.head) != h {
				continue
			}
			if t&^closedBit <= h {
				if t&closedBit != 0 {
					return h, 0, ErrClosed
				}
				return h, 0, ErrEmpty
			}
			// The tail moves past a cell only after its claim: a cell
			// word read after the tail must show the claim.
			if w2 := atomic.LoadUint64(&c.seq[i]); atomic.LoadUint64(c.head) == h &&
				(wordLap(w2) != lap || wordState(w2) == stFree) {
				return h, 0, fmt.Errorf("%w: the cell at position %d was never claimed, yet the tail is at %d", ErrCorrupt, h, t&^closedBit)
			}
			continue
		}
		switch wordState(w) {
		case stFull:
			return h, w, nil
		case stSkipped:
			k := wordCells(w)
			if k > c.l.cells {
				return h, 0, fmt.Errorf("%w: a hole of %d cells at position %d", ErrCorrupt, k, h)
			}
			// The dead claimer may not have moved the tail.
			if !atomic.CompareAndSwapUint64(c.tail, h, h+k) {
				atomic.CompareAndSwapUint64(c.tail, h|closedBit, (h+k)|closedBit)
			}
			if atomic.CompareAndSwapUint64(c.head, h, h+k) {
				notify(c.full)
			}
		case stClaimed:
			if atomic.LoadUint64(c.tail) == h|closedBit {
				return h, 0, ErrClosed // a claim the Close cut off
			}
			if !c.producerAlive(wordIdx(w)) {
				atomic.CompareAndSwapUint64(&c.seq[i], w, w&^3|stSkipped)
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

// takeRole records this process in the role word at off: free, ours
// already, or held by a dead process.
func (c *core) takeRole(off uintptr, what string) error {
	me, err := owner.Me()
	if err != nil {
		return err
	}
	role := mem.Uint64(c.o.Bytes(), off)
	for {
		w := atomic.LoadUint64(role)
		switch {
		case w == me:
			return nil
		case w != 0 && owner.For(c.b).Alive(w):
			return fmt.Errorf("%w: the %s is pid %d", ErrBusy, what, owner.Pid(w))
		case atomic.CompareAndSwapUint64(role, w, me):
			return nil
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
	if atomic.LoadUint32(word)&1 == 0 {
		return
	}
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
)

// await calls try until it returns something other than ErrEmpty, ErrFull
// or errPending: spinning when the handle says so, otherwise spinning
// briefly and then sleeping on word.
func (c *core) await(ctx context.Context, word *uint32, try func() error) error {
	done := ctx.Done()
	for i := 0; ; i++ {
		err := try()
		if !again(err) {
			return err
		}
		if c.spin.Load() {
			if i&63 == 63 {
				select {
				case <-done:
					return ctx.Err()
				default:
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
		if err = try(); !again(err) {
			return err
		}
		timeout := lostWake
		if err == errPending {
			timeout = recheck
		}
		if err := park.Wait(ctx, word, w|1, timeout); err != nil && err != park.ErrTimeout {
			return err
		}
	}
}

func again(err error) bool { return err == ErrEmpty || err == ErrFull || err == errPending }

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
)

// testHook, set by tests, runs at each kill point.
var testHook func(point string)

func hook(point string) {
	if testHook != nil {
		testHook(point)
	}
}

package ringbuffer

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/bits"
	"reflect"
	"sync/atomic"

	"github.com/shmkit/shmkit/ctypes"
	"github.com/shmkit/shmkit/internal/hb"
	"github.com/shmkit/shmkit/internal/mem"
	"github.com/shmkit/shmkit/internal/owner"
	"github.com/shmkit/shmkit/internal/seqlock"
	"github.com/shmkit/shmkit/shm"
)

// Policy says what the publisher of a PubSub does when a subscriber is a
// whole ring behind.
type Policy uint32

const (
	// Lossless: Publish waits, bounded by its context, for the slowest
	// live subscriber; a dead one stops holding it back.
	Lossless Policy = 1
	// Lossy: Publish never waits; a subscriber that falls a whole ring
	// behind misses the oldest messages and is told how many (LappedError).
	Lossy Policy = 2
)

// String is "lossless", "lossy", or Policy(N).
func (p Policy) String() string {
	switch p {
	case Lossless:
		return "lossless"
	case Lossy:
		return "lossy"
	}
	return fmt.Sprintf("Policy(%d)", uint32(p))
}

// MaxSubscribers bounds the subscribers that a PubSub holds at once.
const MaxSubscribers = 256

// The payload of a PubSub; doc.go draws it.
const (
	psOffVersion  = 0
	psOffPolicy   = 4
	psOffElemSize = 8
	psOffSubs     = 12
	psOffSlots    = 16
	psOffSlotSize = 24
	psOffTableOff = 32
	psOffDataOff  = 40
	psHeaderEnd   = 48 // zero from here to psHeaderSize
	psHeaderSize  = 64

	psOffTail      = 64  // messages published: the next position
	psOffLimit     = 128 // lossless: the publisher writes below it without a look at the cursors
	psOffNotEmpty  = 192 // subscribers sleep here
	psOffNotFull   = 256 // a lossless publisher sleeps here
	psOffPublisher = 320 // the publisher's owner word
	psOffPlainTail = 344 // the tail is stored plainly (see fence.go)
	psOffPlainSubs = 348 // subscribers storing their cursors plainly now
	psOffTable     = 384 // subscribers: psEntrySize bytes each

	psEntrySize   = 64
	psEntryOwner  = 0  // in an entry: the subscriber's owner word, 0 when free
	psEntryCursor = 8  // the position it reads next
	psEntryPlain  = 16 // 1 while it stores its cursor plainly

	psVersion = 1
)

// pointJoined is a kill point of Subscribe: the subscriber holds its
// entry, with its cursor stored, and has received nothing.
const pointJoined = "joined"

// psEntry is a subscriber's entry in the table, a cache line to itself.
type psEntry struct {
	owner  uint64
	cursor uint64
	plain  uint32
	_      [11]uint32
}

// psSlot is one slot: its sequence word (lossy rings: 2*pos+1 while
// position pos is written there, 2*pos+2 once it is whole), then the
// value.
type psSlot[T any] struct {
	seq uint64
	v   T
}

// psLayout is what a PubSub's header says.
type psLayout struct {
	policy   Policy
	elemSize uint64
	subs     uint64
	slots    uint64
	slotSize uint64
	tableOff uint64
	dataOff  uint64
}

func newPSLayout(p Policy, n, subs int, elemSize uint64) (psLayout, error) {
	if p != Lossless && p != Lossy {
		return psLayout{}, fmt.Errorf("%w: policy %v", ErrInvalid, p)
	}
	if n <= 0 || n > MaxCells {
		return psLayout{}, fmt.Errorf("%w: a ring of %d slots, want 1 to %d", ErrInvalid, n, MaxCells)
	}
	if subs <= 0 || subs > MaxSubscribers {
		return psLayout{}, fmt.Errorf("%w: %d subscribers, want 1 to %d", ErrInvalid, subs, MaxSubscribers)
	}
	if elemSize == 0 || elemSize > 1<<30 {
		return psLayout{}, fmt.Errorf("%w: elements of %d bytes", ErrInvalid, elemSize)
	}
	l := psLayout{policy: p, elemSize: elemSize, subs: uint64(subs), tableOff: psOffTable}
	l.slots = 1 << bits.Len64(uint64(n)-1)
	l.slotSize = 8 + (elemSize+7)&^7
	l.dataOff = align64(psOffTable + psEntrySize*l.subs)
	if l.slotSize > (1<<40)/l.slots {
		return psLayout{}, fmt.Errorf("%w: %d slots of %d bytes", ErrInvalid, l.slots, l.slotSize)
	}
	return l, nil
}

func (l psLayout) size() uint64 { return l.dataOff + l.slots*l.slotSize }

func (l psLayout) encode(b []byte) {
	clear(b[:psHeaderSize])
	le.PutUint32(b[psOffVersion:], psVersion)
	le.PutUint32(b[psOffPolicy:], uint32(l.policy))
	le.PutUint32(b[psOffElemSize:], uint32(l.elemSize))
	le.PutUint32(b[psOffSubs:], uint32(l.subs))
	le.PutUint64(b[psOffSlots:], l.slots)
	le.PutUint64(b[psOffSlotSize:], l.slotSize)
	le.PutUint64(b[psOffTableOff:], l.tableOff)
	le.PutUint64(b[psOffDataOff:], l.dataOff)
}

// decodePSLayout reads and checks the header at the start of b, a payload
// of len(b) bytes: every field in range and consistent with the others and
// with the payload's size, reserved bytes zero.
func decodePSLayout(b []byte) (psLayout, error) {
	if len(b) < psOffTable {
		return psLayout{}, fmt.Errorf("%w: payload of %d bytes", ErrCorrupt, len(b))
	}
	if v := le.Uint32(b[psOffVersion:]); v != psVersion {
		return psLayout{}, fmt.Errorf("%w: header version %d, this build reads %d: %w", ErrCorrupt, v, psVersion, shm.ErrVersion)
	}
	for _, c := range b[psHeaderEnd:psHeaderSize] {
		if c != 0 {
			return psLayout{}, fmt.Errorf("%w: reserved header bytes are not zero", ErrCorrupt)
		}
	}
	l := psLayout{
		policy:   Policy(le.Uint32(b[psOffPolicy:])),
		elemSize: uint64(le.Uint32(b[psOffElemSize:])),
		subs:     uint64(le.Uint32(b[psOffSubs:])),
		slots:    le.Uint64(b[psOffSlots:]),
		slotSize: le.Uint64(b[psOffSlotSize:]),
		tableOff: le.Uint64(b[psOffTableOff:]),
		dataOff:  le.Uint64(b[psOffDataOff:]),
	}
	if l.slots == 0 || l.slots > MaxCells || l.slots&(l.slots-1) != 0 {
		return psLayout{}, fmt.Errorf("%w: %d slots", ErrCorrupt, l.slots)
	}
	want, err := newPSLayout(l.policy, int(l.slots), int(l.subs), l.elemSize)
	if err != nil {
		return psLayout{}, fmt.Errorf("%w: %v", ErrCorrupt, err)
	}
	if l != want {
		return psLayout{}, fmt.Errorf("%w: slot size %d, offsets %d/%d, want %d, %d/%d",
			ErrCorrupt, l.slotSize, l.tableOff, l.dataOff, want.slotSize, want.tableOff, want.dataOff)
	}
	if l.size() > uint64(len(b)) {
		return psLayout{}, fmt.Errorf("%w: %d slots of %d bytes need %d bytes, the payload has %d",
			ErrCorrupt, l.slots, l.slotSize, l.size(), len(b))
	}
	return l, nil
}

// PubSub is a publish/subscribe ring of plain values of type T (see
// package ctypes), shared between processes: one publisher at a time, and
// up to a fixed number of subscribers, in any processes, that join and
// leave while it runs. Each subscriber receives every message published
// from the point it joined (or from up to n messages before it, see
// Subscribe), in order; its own cursor says where it is, so that one
// message, written once, reaches all of them.
//
// The Policy, chosen when it is made, says what happens when a subscriber
// is a whole ring behind: the publisher waits for it (Lossless), or
// overwrites the oldest message and the subscriber learns how many it
// missed (Lossy).
//
// The publisher's role belongs to one process at a time, as a
// single-producer Ring's: the first handle that publishes takes it (ErrBusy
// in another process while it holds it), and it passes on when that
// handle's process closes its last handle that published, or dies. One
// publisher, not several, because a single writer needs no claims: a
// message is written in place and made visible by one store of the tail,
// Publish is wait-free in the lossy policy, and a publisher killed at any
// instruction leaves nothing for the next one to repair (it writes the
// same slot again). Several sources publish through one process that
// takes from a Queue, or through a PubSub each.
type PubSub[T any] struct {
	o      *shm.Object
	l      psLayout
	tail   *uint64
	limit  *uint64
	empty  *uint32
	full   *uint32
	pubW   *uint64
	plainT *uint32 // the tail is stored plainly
	plainS *uint32 // how many subscribers store their cursors plainly
	fc     *core   // the words above, for a sleeper's fence (fence.go)
	table  []psEntry
	slots  []psSlot[T]
	mask   uint64
	closed atomic.Bool
	spin   atomic.Bool

	// The publisher's side, for one goroutine at a time.
	role bool    // this handle counts in this process's hold of the role
	ok   bool    // pos is the tail as this handle last stored it
	pos  uint64  // the next position to publish
	lim  uint64  // lossless: positions below it are free to write
	lent bool    // a Loan of the slot at pos is out
	end  spscEnd // how the tail is stored: plainly or fenced (fence.go)

	cnt psCounters // the header's counters of rare events (stats.go)
}

// NewPubSub makes a PubSub of at least n slots (rounded up to a power of
// two) for up to subscribers subscribers at once (at most MaxSubscribers),
// with the given policy, in the default heap or where opts place it.
func NewPubSub[T any](n, subscribers int, policy Policy, opts ...shm.Option) (*PubSub[T], error) {
	tl, err := ringType[T]()
	if err != nil {
		return nil, err
	}
	l, err := newPSLayout(policy, n, subscribers, uint64(tl.Size))
	if err != nil {
		return nil, fmt.Errorf("ringbuffer: making a pubsub: %w", err)
	}
	if err := psSlotFits[T](l); err != nil {
		return nil, err
	}
	if _, err := owner.Me(); err != nil {
		return nil, fmt.Errorf("ringbuffer: making a pubsub: %w", err)
	}
	o, err := shm.Place(shm.Spec{Kind: shm.KindPubSub, Fingerprint: tl.Fingerprint, Size: l.size()}, func(b []byte) error {
		l.encode(b)
		return nil
	}, opts...)
	if err != nil {
		return nil, fmt.Errorf("ringbuffer: making a pubsub: %w", err)
	}
	return mapPubSub[T](o, l), nil
}

// psSlotFits checks that a psSlot[T] is laid out as l says: T's value
// from byte 8, in a slot of l.slotSize bytes.
func psSlotFits[T any](l psLayout) error {
	st := reflect.TypeFor[psSlot[T]]()
	if uint64(st.Size()) != l.slotSize || st.Field(1).Offset != 8 || st.Align() > 8 {
		return fmt.Errorf("ringbuffer: %w: %s takes a slot of %d bytes, the layout %d", ErrInvalid, reflect.TypeFor[T](), st.Size(), l.slotSize)
	}
	return nil
}

// OpenPubSub opens the PubSub called name in seg (shm.ErrLayout if it holds
// another type than T). It waits, until ctx ends, for one that does not
// exist yet or whose creator is still making it.
func OpenPubSub[T any](ctx context.Context, seg *shm.Segment, name string) (*PubSub[T], error) {
	tl, err := ringType[T]()
	if err != nil {
		return nil, err
	}
	o, err := seg.Find(ctx, name, shm.Spec{Kind: shm.KindPubSub, Fingerprint: tl.Fingerprint})
	if err != nil {
		return nil, fmt.Errorf("ringbuffer: opening pubsub %q: %w", name, err)
	}
	return attachPubSub[T](o, tl)
}

// UnmarshalBinary attaches p to the PubSub whose handle MarshalBinary
// encoded (how a PubSub reaches a child process).
func (p *PubSub[T]) UnmarshalBinary(b []byte) error {
	tl, err := ringType[T]()
	if err != nil {
		return err
	}
	o, err := shm.Unmarshal(b, shm.Spec{Kind: shm.KindPubSub, Fingerprint: tl.Fingerprint})
	if err != nil {
		return fmt.Errorf("ringbuffer: attaching a pubsub: %w", err)
	}
	x, err := attachPubSub[T](o, tl)
	if err != nil {
		return err
	}
	*p = PubSub[T]{}
	p.o, p.l, p.tail, p.limit, p.empty, p.full = x.o, x.l, x.tail, x.limit, x.empty, x.full
	p.pubW, p.table, p.slots, p.mask = x.pubW, x.table, x.slots, x.mask
	p.plainT, p.plainS, p.fc = x.plainT, x.plainS, x.fc
	p.cnt = x.cnt
	return nil
}

func attachPubSub[T any](o *shm.Object, tl ctypes.Layout) (*PubSub[T], error) {
	l, err := decodePSLayout(o.Bytes())
	if err != nil {
		return nil, fmt.Errorf("ringbuffer: pubsub %q: %w", o.Name(), err)
	}
	if l.elemSize != uint64(tl.Size) {
		return nil, fmt.Errorf("ringbuffer: pubsub %q holds %d-byte elements, not %d-byte %v: %w", o.Name(), l.elemSize, tl.Size, tl, shm.ErrLayout)
	}
	if err := psSlotFits[T](l); err != nil {
		return nil, err
	}
	return mapPubSub[T](o, l), nil
}

func mapPubSub[T any](o *shm.Object, l psLayout) *PubSub[T] {
	b := o.Bytes()
	p := &PubSub[T]{
		o:      o,
		l:      l,
		tail:   mem.Uint64(b, psOffTail),
		limit:  mem.Uint64(b, psOffLimit),
		empty:  mem.Uint32(b, psOffNotEmpty),
		full:   mem.Uint32(b, psOffNotFull),
		pubW:   mem.Uint64(b, psOffPublisher),
		plainT: mem.Uint32(b, psOffPlainTail),
		plainS: mem.Uint32(b, psOffPlainSubs),
		cnt:    mapPSCounters(b),
		table:  mem.Slice[psEntry](b, uintptr(l.tableOff), int(l.subs)),
		slots:  mem.Slice[psSlot[T]](b, uintptr(l.dataOff), int(l.slots)),
		mask:   l.slots - 1,
	}
	// A sleeper fences as a single-producer ring's does: subscribers on
	// the tail's word, the publisher on the count of plain cursors.
	p.fc = &core{empty: p.empty, full: p.full, plainTail: p.plainT, plainHead: p.plainS}
	return p
}

// MarshalBinary encodes the PubSub's handle.
func (p *PubSub[T]) MarshalBinary() ([]byte, error) { return p.o.Handle().MarshalBinary() }

// Handle names the PubSub for another process (see shm.Resolve).
func (p *PubSub[T]) Handle() shm.Handle { return p.o.Handle() }

// Name is the PubSub's name in its segment, "" when it has none.
func (p *PubSub[T]) Name() string { return p.o.Name() }

// Cap is the number of slots: how many messages the ring holds.
func (p *PubSub[T]) Cap() int { return int(p.l.slots) }

// Policy is the policy the PubSub was made with.
func (p *PubSub[T]) Policy() Policy { return p.l.policy }

// MaxSubscribers is how many subscribers the PubSub holds at once.
func (p *PubSub[T]) MaxSubscribers() int { return int(p.l.subs) }

// Published is how many messages were published so far: a snapshot.
func (p *PubSub[T]) Published() uint64 { return atomic.LoadUint64(p.tail) }

// SetSpin makes this handle's Publish spin on a full lossless ring
// instead of sleeping (it still sees its context). Subscribers have their
// own SetSpin.
func (p *PubSub[T]) SetSpin(on bool) { p.spin.Store(on) }

// String describes p for logs and debugging, a snapshot: its handle,
// policy, messages published and capacity.
func (p *PubSub[T]) String() string {
	return fmt.Sprintf("PubSub(%s, %v, %d published, %d slots)", p.Handle(), p.l.policy, p.Published(), p.Cap())
}

var _ io.Closer = (*PubSub[int])(nil)

// Close releases this handle: later calls through it fail with ErrClosed,
// and a Publish of it that waits returns. The publisher's role, if it
// held it, passes to the next handle, of any process, that publishes,
// once no other handle of this process holds it. Subscribers made through
// the handle stay open: each has its own Close. Close is idempotent.
func (p *PubSub[T]) Close() error {
	if p.closed.Swap(true) {
		return nil
	}
	if p.o.Segment().Closed() {
		return nil
	}
	notify(p.full)
	if p.role {
		p.role = false
		unhold(holdKeyOf(p.o, psOffPublisher))
	}
	return nil
}

// Free destroys the PubSub for every process: it closes this handle and
// gives the ring's memory back to its segment. Every process must have
// stopped using it, subscribers included; a second Free, through any
// handle, fails with shm.ErrStale.
func (p *PubSub[T]) Free() error {
	p.closed.Store(true)
	forgetHolds(p.o)
	if err := p.o.Free(); err != nil {
		return fmt.Errorf("ringbuffer: freeing pubsub %q: %w", p.o.Name(), err)
	}
	return nil
}

// TryPublish publishes v if it can now: in a lossless ring, an error
// matching ErrFull when the slowest live subscriber is a whole ring
// behind. In a lossy ring it never fails for want of room.
func (p *PubSub[T]) TryPublish(v T) error { return p.publish(&v) }

// Publish publishes v to every subscriber: in a lossless ring it waits,
// until ctx ends, for the slowest live subscriber to leave room; in a
// lossy ring it never waits.
func (p *PubSub[T]) Publish(ctx context.Context, v T) error {
	if err := p.publish(&v); err != errFull {
		return err
	}
	// The publisher looks at the subscribers holding it back in publish:
	// an idle that only bounds each sleep by recheck.
	return awaitWord(ctx, p.full, p.cnt.full, &p.spin, p.fc, func() error { return p.publish(&v) }, func() error { return errFull })
}

// publisher makes sure this handle holds the publisher's role, taking it
// the first time (or from a dead publisher), and that no other handle
// published since.
func (p *PubSub[T]) publisher() error {
	if p.closed.Load() {
		return errClosed
	}
	if p.lent {
		return errLoanOut
	}
	if !p.role {
		_, err := hold(holdKeyOf(p.o, psOffPublisher), func(me uint64) (*uint64, error) {
			for {
				w := atomic.LoadUint64(p.pubW)
				switch {
				case w == me:
					return p.pubW, nil
				case w != 0 && owner.For(p.o.Bytes()).Alive(w):
					return nil, fmt.Errorf("%w: the publisher is pid %d", ErrBusy, owner.Pid(w))
				case atomic.CompareAndSwapUint64(p.pubW, w, me):
					if w != 0 {
						atomic.AddUint64(p.cnt.takeovers, 1)
					}
					return p.pubW, nil
				}
			}
		})
		if err != nil {
			return err
		}
		p.role = true
	}
	if !p.ok {
		// The tail as the last publisher left it: a message it had not
		// published yet (killed, or stopped by its context) is written
		// again in the same slot.
		p.pos, p.lim, p.ok = atomic.LoadUint64(p.tail), 0, true
		p.end.plain, p.end.calm = false, 0
		if plainStores() {
			p.end.goPlain(p.plainT)
		}
	}
	if atomic.LoadUint64(p.tail) != p.pos {
		p.ok = false
		return fmt.Errorf("%w: another handle published to this pubsub", ErrBusy)
	}
	return nil
}

func (p *PubSub[T]) publish(v *T) error {
	if !p.ok || p.closed.Load() || atomic.LoadUint64(p.tail) != p.pos {
		if err := p.publisher(); err != nil {
			return err
		}
	}
	pos := p.pos
	s := &p.slots[pos&p.mask]
	if p.l.policy == Lossless {
		if pos >= p.lim {
			if err := p.room(pos); err != nil {
				return err
			}
		}
		hook(pointClaimed)
		if testHook != nil {
			b := mem.Bytes(v)
			copy(mem.Bytes(&s.v)[:len(b)/2], b)
			hook(pointWriting)
		}
		s.v = *v
	} else {
		atomic.StoreUint64(&s.seq, 2*pos+1) // odd: being written
		hook(pointClaimed)
		dst := mem.Bytes(s)[8:]
		src := mem.Bytes(v)
		if testHook != nil {
			half := (len(src) / 2) &^ 7
			seqlock.Store(dst, src[:half])
			hook(pointWriting)
		}
		seqlock.Store(dst, src)
		atomic.StoreUint64(&s.seq, 2*pos+2)
	}
	hook(pointPublish)
	hb.Release(p.tail)
	p.pos = pos + 1
	p.end.publish(p.tail, p.pos)
	p.end.notify(p.empty, p.plainT)
	return nil
}

// room makes sure, in a lossless ring, that every live subscriber has read
// the message that position pos overwrites, and records in the limit word
// how far the publisher may go without another look: up to a ring past
// the oldest cursor, and at most half a ring past pos, so that the last
// half ring stays for a subscriber that joins with history (see doc.go,
// Publish and subscribe). Subscribers that hold it back and whose process
// is dead lose their entries.
func (p *PubSub[T]) room(pos uint64) error {
	n := p.l.slots
	ahead := pos + (n+1)/2 // the half of the ring kept for history
	for {
		old := p.oldest(pos)
		lim := min(old+n, ahead)
		atomic.StoreUint64(p.limit, lim)
		// A subscriber that joined while we looked, and read the limit
		// before that store, has its cursor stored by now.
		if o2 := p.oldest(pos); o2 < old {
			old = o2
			if l2 := min(old+n, ahead); l2 < lim {
				lim = l2
				atomic.StoreUint64(p.limit, lim)
			}
		}
		p.lim = lim
		if pos < lim {
			return nil
		}
		dropped := false
		for i := range p.table {
			e := &p.table[i]
			w := atomic.LoadUint64(&e.owner)
			if w == 0 || atomic.LoadUint64(&e.cursor)+n > pos {
				continue
			}
			// Held by this process until the entry is clean, so that no
			// subscriber takes it meanwhile.
			if me := atomic.LoadUint64(p.pubW); !owner.For(p.o.Bytes()).Alive(w) && atomic.CompareAndSwapUint64(&e.owner, w, me) {
				p.unplain(e)
				atomic.StoreUint64(&e.owner, 0)
				atomic.AddUint64(p.cnt.deadSubs, 1)
				dropped = true
			}
		}
		if !dropped {
			return errFull
		}
	}
}

// unplain takes entry e, whose owner left or died, out of the count of
// subscribers that store their cursors plainly, if it counted there.
func (p *PubSub[T]) unplain(e *psEntry) {
	if atomic.SwapUint32(&e.plain, 0) != 0 {
		atomic.AddUint32(p.plainS, ^uint32(0))
	}
}

// oldest is the lowest cursor of the subscribers in the table, pos when
// there is none lower.
func (p *PubSub[T]) oldest(pos uint64) uint64 {
	m := pos
	for i := range p.table {
		e := &p.table[i]
		if atomic.LoadUint64(&e.owner) == 0 {
			continue
		}
		if c := atomic.LoadUint64(&e.cursor); c < m {
			m = c
		}
	}
	return m
}

// Subscriber receives the messages of a PubSub, each once, in order, from
// the point it joined. It is one handle, for one goroutine at a time, and
// holds an entry of the PubSub's table until it closes or its process
// dies.
type Subscriber[T any] struct {
	p      *PubSub[T]
	e      *psEntry
	me     uint64
	pos    uint64 // the next position to read
	seen   uint64 // the last tail seen
	lent   bool   // a Borrowed of the message at pos is out
	plain  bool   // lossless: its cursor stores are plain now (see fence.go)
	calm   uint32 // lossless: fenced for now: stores without a sleeper left before they are plain again
	closed atomic.Bool
	spin   atomic.Bool
}

// Subscribe joins the PubSub as a new subscriber, which receives the
// messages published from now on, preceded by up to history of the last
// messages published before (iceoryx2's history): as many of those as the
// ring still holds. A lossy ring holds the last Cap() (a message
// overwritten meanwhile is reported, see Recv); a lossless one the last Cap()/2 at least, and back to the oldest message
// that a live subscriber has not read, up to Cap(). It fails with an error matching
// ErrFull when MaxSubscribers live subscribers hold every entry; the
// entries of dead processes are taken over.
func (p *PubSub[T]) Subscribe(history int) (*Subscriber[T], error) {
	if p.closed.Load() {
		return nil, errClosed
	}
	me, err := owner.Me()
	if err != nil {
		return nil, fmt.Errorf("ringbuffer: subscribing: %w", err)
	}
	e := p.takeEntry(me)
	if e == nil {
		return nil, fmt.Errorf("ringbuffer: subscribing: %w: all %d subscribers are live", ErrFull, p.l.subs)
	}
	s := &Subscriber[T]{p: p, e: e, me: me}
	h := uint64(max(history, 0))
	n := p.l.slots
	if p.l.policy == Lossy {
		t := atomic.LoadUint64(p.tail)
		s.pos = t - min(h, n, t)
		atomic.StoreUint64(&e.cursor, s.pos)
		hook(pointJoined)
		return s, nil
	}
	// Lossless: the publisher writes below the limit without looking at
	// the cursors; ours must not be below what that overwrites. We store
	// it, then read the limit: a publisher that looked at the cursors
	// before our store stores the limit after it, and looks again.
	t := atomic.LoadUint64(p.tail)
	c := t - min(h, t)
	for {
		atomic.StoreUint64(&e.cursor, c)
		l := atomic.LoadUint64(p.limit)
		if l <= c+n {
			break
		}
		c = l - n
	}
	if t2 := atomic.LoadUint64(p.tail); c > t2 {
		// Only a corrupt limit is past the tail: start with the tail.
		c = t2
		atomic.StoreUint64(&e.cursor, c)
	}
	s.pos = c
	if plainStores() {
		s.goPlain()
	}
	hook(pointJoined)
	return s, nil
}

// takeEntry takes a free entry of the table, or one whose process is
// dead, for this process: nil when every entry is live.
func (p *PubSub[T]) takeEntry(me uint64) *psEntry {
	for i := range p.table {
		e := &p.table[i]
		if atomic.CompareAndSwapUint64(&e.owner, 0, me) {
			return e
		}
	}
	for i := range p.table {
		e := &p.table[i]
		w := atomic.LoadUint64(&e.owner)
		if w != 0 && w != me && !owner.For(p.o.Bytes()).Alive(w) && atomic.CompareAndSwapUint64(&e.owner, w, me) {
			p.unplain(e)
			atomic.AddUint64(p.cnt.deadSubs, 1)
			return e
		}
	}
	return nil
}

// SetSpin makes this subscriber's Recv spin on an empty ring instead of
// sleeping: the lowest latency, for the price of a core. Context
// cancellation is still seen.
func (s *Subscriber[T]) SetSpin(on bool) { s.spin.Store(on) }

// Close leaves the PubSub: the subscriber's entry is free for another,
// and a lossless publisher no longer waits for it. Later calls fail with
// ErrClosed; Close is idempotent.
func (s *Subscriber[T]) Close() error {
	if s.closed.Swap(true) || s.p.o.Segment().Closed() {
		return nil
	}
	if atomic.LoadUint64(&s.e.owner) == s.me {
		s.p.unplain(s.e) // fenced: after its last plain store
	}
	atomic.CompareAndSwapUint64(&s.e.owner, s.me, 0)
	notify(s.p.full)
	notify(s.p.empty) // a Recv of this subscriber that sleeps
	return nil
}

// Pending is how many messages were published that this subscriber has
// not received: a snapshot; in a lossy ring, those it will miss count too.
func (s *Subscriber[T]) Pending() uint64 {
	t := atomic.LoadUint64(s.p.tail)
	if t < s.pos {
		return 0
	}
	return t - s.pos
}

// TryRecv returns the next message if there is one, or an error matching
// ErrEmpty. In a lossy ring, a subscriber that was lapped gets a
// *LappedError (matching ErrLapped) that says how many messages it
// missed; the next call returns the oldest message still in the ring.
func (s *Subscriber[T]) TryRecv() (T, error) {
	var v T
	err := s.recv(&v)
	return v, err
}

// Recv returns the next message, waiting for one until ctx ends. In a
// lossy ring, a subscriber that was lapped gets a *LappedError (matching
// ErrLapped) that says how many messages it missed; the next call returns
// the oldest message still in the ring.
func (s *Subscriber[T]) Recv(ctx context.Context) (T, error) {
	var v T
	err := s.recv(&v)
	if err == errEmpty {
		err = awaitWord(ctx, s.p.empty, s.p.cnt.empty, &s.spin, s.p.fc, func() error { return s.recv(&v) }, nil)
	}
	return v, err
}

func (s *Subscriber[T]) recv(v *T) error {
	if s.closed.Load() {
		return errClosed
	}
	if s.lent {
		return errBorrowOut
	}
	p, c := s.p, s.pos
	if c >= s.seen {
		s.seen = atomic.LoadUint64(p.tail)
		if c >= s.seen {
			if c > s.seen {
				return fmt.Errorf("ringbuffer: %w: the tail at %d is behind a subscriber at %d", ErrCorrupt, s.seen, c)
			}
			return errEmpty
		}
		hb.Acquire(p.tail)
	}
	sl := &p.slots[c&p.mask]
	if p.l.policy == Lossless {
		*v = sl.v
	} else {
		want := 2*c + 2
		e := atomic.LoadUint64(&sl.seq)
		if e == want {
			seqlock.Load(mem.Bytes(v), mem.Bytes(sl)[8:])
		}
		if e != want || atomic.LoadUint64(&sl.seq) != e {
			return s.lapped(sl, c)
		}
	}
	hook(pointReading)
	s.pos = c + 1
	s.moved()
	return nil
}

// moved stores the subscriber's cursor, which it just moved on, and wakes
// a lossless publisher that waits for it. A lossy publisher never looks
// at the cursors (they are for Stats), and they are stored plainly; a
// lossless one sleeps on them, and they are stored as a single-producer
// ring's cursors (see fence.go), but counted in the PubSub's word of
// plain cursors rather than flagged, since several subscribers store
// theirs at once: a subscriber adds itself, fenced, before its first
// plain store, and takes itself out, fenced, after its last one (Close,
// or when it woke the publisher), and its entry says whether it counts,
// for the next owner of the entry of a dead one to take it out.
func (s *Subscriber[T]) moved() {
	p := s.p
	if p.l.policy == Lossy {
		mem.StoreRelease(&s.e.cursor, s.pos)
		return
	}
	if !s.plain {
		atomic.StoreUint64(&s.e.cursor, s.pos)
		if s.calm == 0 {
			notify(p.full)
			return
		}
	} else {
		mem.StoreRelease(&s.e.cursor, s.pos)
	}
	if atomic.LoadUint32(p.full)&1 != 0 || s.calm != 0 {
		s.notifySlow()
	}
}

// notifySlow is moved's slow path: it wakes the publisher, and moves the
// subscriber between plain and fenced stores as fence.go's notifySlow.
func (s *Subscriber[T]) notifySlow() {
	p := s.p
	if atomic.LoadUint32(p.full)&1 != 0 {
		wake(p.full)
		if s.plain && calmStores > 0 {
			s.plain, s.calm = false, calmStores
			p.unplain(s.e) // fenced: after the last plain store
		}
		return
	}
	if s.calm--; s.calm == 0 {
		s.goPlain()
	}
}

// goPlain counts the subscriber among those that store their cursors
// plainly, with a fenced store before its first plain one.
func (s *Subscriber[T]) goPlain() {
	if s.p.l.policy == Lossless && atomic.CompareAndSwapUint32(&s.e.plain, 0, 1) {
		atomic.AddUint32(s.p.plainS, 1)
	}
	s.plain, s.calm = true, 0
}

// lapped handles a slot of a lossy ring that no longer holds position c:
// the subscriber moves on to the oldest message still there and reports
// how many it missed.
func (s *Subscriber[T]) lapped(sl *psSlot[T], c uint64) error {
	p := s.p
	e := atomic.LoadUint64(&sl.seq)
	t := atomic.LoadUint64(p.tail)
	if e < 2*c+2 || (e-1)/2 > t {
		// The publisher writes the slot of c before it moves the tail
		// past c, and of no position past the tail.
		return fmt.Errorf("ringbuffer: %w: the slot of position %d reads %#x with the tail at %d", ErrCorrupt, c, e, t)
	}
	// The oldest message still there is t - Cap(), unless the publisher
	// is writing t over it now: then the next read finds out.
	next := t - p.l.slots
	if t < p.l.slots || next <= c {
		next = c + 1
	}
	s.pos, s.seen = next, t
	atomic.StoreUint64(&s.e.cursor, next)
	atomic.AddUint64(p.cnt.laps, 1)
	atomic.AddUint64(p.cnt.missed, next-c)
	return &LappedError{Missed: next - c}
}

// ErrLapped: a subscriber of a lossy PubSub fell a whole ring behind and
// missed messages; the error is a *LappedError, which says how many.
var ErrLapped = errors.New("ringbuffer: lapped by the publisher")

// LappedError is what Recv and TryRecv return to a subscriber of a lossy
// PubSub whose next message was overwritten: Missed messages were
// published that it will never receive, and its next Recv returns the
// oldest message still in the ring. It matches ErrLapped.
type LappedError struct {
	Missed uint64 // messages skipped, exactly
}

// Error says how many messages were missed.
func (e *LappedError) Error() string {
	return fmt.Sprintf("ringbuffer: lapped by the publisher: %d messages missed", e.Missed)
}

// Is makes errors.Is(err, ErrLapped) hold.
func (e *LappedError) Is(target error) bool { return target == ErrLapped }

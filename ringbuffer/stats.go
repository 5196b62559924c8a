package ringbuffer

import (
	"fmt"
	"sync/atomic"

	"github.com/shmkit/shmkit/internal/mem"
	"github.com/shmkit/shmkit/shm"
)

// Counters in shared memory (see Counters in doc.go). What the cursors
// say already (messages in and out, what is in the ring) is read from
// them; the rare events are counted in words of the header's sleep-word
// lines, with an atomic add where they happen, never on a path that moves
// a message without waiting.

func init() {
	shm.RegisterMetrics(shm.KindRing, ringMetrics)
	shm.RegisterMetrics(shm.KindQueue, ringMetrics)
	shm.RegisterMetrics(shm.KindPipe, pipeMetrics)
	shm.RegisterMetrics(shm.KindPubSub, pubSubMetrics)
}

// genMask is the generation part of a sleep word, shifted down: each
// wake-up that clears the sleepers' bit advances it by one (see wake).
const genMask = 1<<31 - 1

// sleepCounts are the counters of one sleep word, in its line: sleeps on
// it, and the wake-ups made on it as the sleepers last recorded them.
//
// Wake-ups cost the waker nothing more: the word's generation counts them
// already, modulo 2^31, and a sleeper extends that to 64 bits in the word
// beside it (record) each time it goes to sleep. A wake-up needs a sleeper
// that announced itself since the last one, and that sleeper records the
// generation before it sleeps, so the record is never far behind;
// wakesOf adds what is missing.
type sleepCounts struct {
	waits  *uint64 // calls that had to wait (see awaitWord), in another line
	sleeps *uint64
	wakes  *uint64
}

// sleepCountsOf maps the counters of the two sleep words of a header,
// a ring's or a PubSub's.
func sleepCountsOf(b []byte) (empty, full sleepCounts) {
	return sleepCounts{waits: mem.Uint64(b, offWaitsEmpty), sleeps: mem.Uint64(b, offSleepsEmpty), wakes: mem.Uint64(b, offWakesEmpty)},
		sleepCounts{waits: mem.Uint64(b, offWaitsFull), sleeps: mem.Uint64(b, offSleepsFull), wakes: mem.Uint64(b, offWakesFull)}
}

// slept counts a sleep on the word, whose value the sleeper announced
// itself in is w, and records its wake-ups.
func (n sleepCounts) slept(w uint32) {
	atomic.AddUint64(n.sleeps, 1)
	for {
		b := atomic.LoadUint64(n.wakes)
		d := (w>>1 - uint32(b)) & genMask
		if d == 0 || d > genMask/2 {
			return // up to date, or w is older than the record
		}
		if atomic.CompareAndSwapUint64(n.wakes, b, b+uint64(d)) {
			return
		}
	}
}

// wakesOf is how many wake-ups were made on word: the record brought up
// to the generation the word shows now (read after the record).
func wakesOf(word *uint32, n sleepCounts) uint64 {
	b := atomic.LoadUint64(n.wakes)
	return b + uint64((atomic.LoadUint32(word)>>1-uint32(b))&genMask)
}

// ringCounters are the counters of a ring's header.
type ringCounters struct {
	empty, full sleepCounts
	holes       *uint64
	takeovers   [2]*uint64 // by role: roleProducer, roleConsumer
}

func mapRingCounters(b []byte) ringCounters {
	n := ringCounters{
		holes:     mem.Uint64(b, offHoles),
		takeovers: [2]*uint64{mem.Uint64(b, offProducerTakeovers), mem.Uint64(b, offConsumerTakeovers)},
	}
	n.empty, n.full = sleepCountsOf(b)
	return n
}

// RingStats are the counters of a Ring, a Queue, or one direction of a
// Pipe, as its shared memory holds them: every process's calls count,
// since the ring was made, and no process's death resets them. Counts
// only grow; Len goes up and down. Each figure is read on its own, while
// other processes go on: the set is not one instant's.
type RingStats struct {
	// Pushed is the producers' position: how many slots were taken at
	// the tail, holes of dead producers included. For a Queue of encoded
	// T it counts 64-byte cells, of which a message takes one or more.
	Pushed uint64
	// Popped is the consumers' position, in the same units as Pushed.
	Popped uint64
	// Len is the number of messages in the ring, as Len reports it.
	Len uint64
	// WaitsEmpty counts the blocking calls that found no message and
	// waited for one (Pop, Get, Recv, Borrow), spinning, yielding or
	// sleeping: one a call, however long it waited.
	WaitsEmpty uint64
	// WaitsFull counts the blocking calls that found no room and waited
	// for it (Push, Put, Send, Loan).
	WaitsFull uint64
	// SleepsEmpty counts the sleeps of calls that waited for a message
	// (Pop, Get, Recv, Poll): one for each time a caller went to sleep,
	// so a long wait may count several. A wait that found a message while
	// it spun or yielded is not counted.
	SleepsEmpty uint64
	// SleepsFull counts the sleeps of calls that waited for room (Push,
	// Put, Send).
	SleepsFull uint64
	// WakesEmpty counts the wake-up calls (FUTEX_WAKE system calls) made
	// for sleepers on an empty ring: a producer makes one only when a
	// consumer announced that it sleeps.
	WakesEmpty uint64
	// WakesFull counts the wake-up calls made for sleepers on a full ring.
	WakesFull uint64
	// Holes counts the claims of dead producers that were skipped: slots
	// claimed and never committed, which consumers step over.
	Holes uint64
	// ProducerTakeovers counts the times a dead producer's place was taken
	// over: the single producer's role of a single-producer ring, a slot
	// of the producer table otherwise.
	ProducerTakeovers uint64
	// ConsumerTakeovers counts the times a dead single consumer's role
	// (a single-producer ring's) was taken over.
	ConsumerTakeovers uint64
}

// stats reads the ring's counters.
func (c *core) stats() RingStats {
	s := RingStats{
		Popped: atomic.LoadUint64(c.head) &^ lentBit, // before the tail: Popped <= Pushed
		Pushed: atomic.LoadUint64(c.tail) &^ shutBit,
		Len:    c.messages(),

		WaitsEmpty:        atomic.LoadUint64(c.cnt.empty.waits),
		WaitsFull:         atomic.LoadUint64(c.cnt.full.waits),
		SleepsEmpty:       atomic.LoadUint64(c.cnt.empty.sleeps),
		SleepsFull:        atomic.LoadUint64(c.cnt.full.sleeps),
		WakesEmpty:        wakesOf(c.empty, c.cnt.empty),
		WakesFull:         wakesOf(c.full, c.cnt.full),
		Holes:             atomic.LoadUint64(c.cnt.holes),
		ProducerTakeovers: atomic.LoadUint64(c.cnt.takeovers[roleProducer]),
		ConsumerTakeovers: atomic.LoadUint64(c.cnt.takeovers[roleConsumer]),
	}
	return s
}

// metrics are s as shm.Metrics reports them, their names prefixed.
func (s RingStats) metrics(prefix, help string) []shm.Metric {
	m := []shm.Metric{
		{Name: "pushed", Help: "slots taken at the tail (cells for encoded messages), holes included", Value: s.Pushed},
		{Name: "popped", Help: "slots taken at the head (cells for encoded messages), holes included", Value: s.Popped},
		{Name: "len", Help: "messages in the ring", Value: s.Len, Gauge: true},
		{Name: "waits_empty", Help: "blocking calls that waited for a message", Value: s.WaitsEmpty},
		{Name: "waits_full", Help: "blocking calls that waited for room", Value: s.WaitsFull},
		{Name: "sleeps_empty", Help: "sleeps of calls waiting for a message", Value: s.SleepsEmpty},
		{Name: "sleeps_full", Help: "sleeps of calls waiting for room", Value: s.SleepsFull},
		{Name: "wakes_empty", Help: "wake-up calls made for sleepers on an empty ring", Value: s.WakesEmpty},
		{Name: "wakes_full", Help: "wake-up calls made for sleepers on a full ring", Value: s.WakesFull},
		{Name: "holes", Help: "claims of dead producers skipped", Value: s.Holes},
		{Name: "producer_takeovers", Help: "dead producers' roles or slots taken over", Value: s.ProducerTakeovers},
		{Name: "consumer_takeovers", Help: "dead single consumers' roles taken over", Value: s.ConsumerTakeovers},
	}
	for i := range m {
		m[i].Name = prefix + m[i].Name
		m[i].Help = help + m[i].Help
	}
	return m
}

// messages is the number of messages in the ring: the cells between head
// and tail, or, in a framed queue, the frames there less the holes.
func (c *core) messages() uint64 {
	if c.l.mode != modeFramed {
		return c.length()
	}
	h := atomic.LoadUint64(c.head) &^ lentBit
	t := atomic.LoadUint64(c.tail) &^ shutBit
	n := uint64(0)
	for p := h; p < t && p-h < c.l.cells; {
		w := atomic.LoadUint64(&c.seq[p&c.mask])
		if wordLap(w) != uint32(p>>c.shift) || wordState(w) == stFree {
			break // moved on meanwhile
		}
		if wordState(w) != stSkipped {
			n++
		}
		p += wordCells(w)
	}
	return n
}

// Stats reads the ring's counters (see RingStats): those of every
// process, since it was made. It works after Close, as Len does.
func (r *Ring[T]) Stats() RingStats { return r.c.stats() }

// Stats reads the queue's counters (see RingStats): those of every
// process, since it was made. It works after Close and Shutdown, as Len
// does.
func (q *Queue[T]) Stats() RingStats { return q.c.stats() }

// ConnStats are the counters of a Pipe's two rings, as one end sees
// them.
type ConnStats struct {
	// Out is the ring this end sends on, which the other end receives
	// from.
	Out RingStats
	// In is the ring this end receives from. A one-way pipe's way back
	// (a Sender's In, a Receiver's Out) carries nothing.
	In RingStats
}

// Stats reads the counters of both directions of the pipe (see
// ConnStats): those of every process, since it was made.
func (c *Conn[T]) Stats() ConnStats {
	return ConnStats{Out: c.out.c.stats(), In: c.in.c.stats()}
}

// Stats reads the counters of the pipe, as Conn.Stats does.
func (e *oneWayEnd[T]) Stats() ConnStats { return e.c.Stats() }

// ringMetrics reads the metrics of a Ring or a Queue, without a typed
// handle: RingStats, in its order.
func ringMetrics(o *shm.Object) ([]shm.Metric, error) {
	m, err := ringMetricsOf(o.Bytes())
	if err != nil {
		return nil, fmt.Errorf("ringbuffer: metrics of %v %q: %w", o.Kind(), o.Name(), err)
	}
	return m, nil
}

// ringMetricsOf reads the metrics of the ring whose payload is b.
func ringMetricsOf(b []byte) ([]shm.Metric, error) {
	l, err := decodeLayout(b)
	if err != nil {
		return nil, err
	}
	return mapCore(nil, b, l).stats().metrics("", ""), nil
}

// pipeMetrics reads the metrics of a Pipe: those of ring 0, which carries
// what end 0 sends (names prefixed ring0_), then ring 1's.
func pipeMetrics(o *shm.Object) ([]shm.Metric, error) {
	b := o.Bytes()
	at0, at1, _, err := decodePipeHeader(b)
	var ls [2]layout
	if err == nil {
		ls[0], err = decodeLayout(b[at0:at1])
	}
	if err == nil {
		ls[1], err = decodeLayout(b[at1:])
	}
	if err != nil {
		return nil, fmt.Errorf("ringbuffer: metrics of pipe %q: %w", o.Name(), err)
	}
	m := mapCore(o, b[at0:at1:at1], ls[0]).stats().metrics("ring0_", "end 0 to end 1: ")
	return append(m, mapCore(o, b[at1:], ls[1]).stats().metrics("ring1_", "end 1 to end 0: ")...), nil
}

// The counters of a PubSub, in its sleep words' lines. Its sleep words
// are at a ring's offsets, and their counters too (offSleepsEmpty...).
const (
	psOffLaps      = 216 // LappedErrors returned
	psOffMissed    = 224 // messages they reported missed
	psOffDeadSubs  = 232 // entries of dead subscribers freed or taken over
	psOffTakeovers = 280 // a dead publisher's role taken over
)

var (
	_ = [1]struct{}{}[psOffNotEmpty-offNotEmpty]
	_ = [1]struct{}{}[psOffNotFull-offNotFull]
	_ = [1]struct{}{}[psOffDeadSubs/64-psOffNotEmpty/64]
	_ = [1]struct{}{}[psOffTakeovers/64-psOffNotFull/64]
)

// psCounters are the counters of a PubSub's header.
type psCounters struct {
	empty, full sleepCounts
	laps        *uint64
	missed      *uint64
	deadSubs    *uint64
	takeovers   *uint64
}

func mapPSCounters(b []byte) psCounters {
	n := psCounters{
		laps:      mem.Uint64(b, psOffLaps),
		missed:    mem.Uint64(b, psOffMissed),
		deadSubs:  mem.Uint64(b, psOffDeadSubs),
		takeovers: mem.Uint64(b, psOffTakeovers),
	}
	n.empty, n.full = sleepCountsOf(b)
	return n
}

// PubSubStats are the counters of a PubSub, as its shared memory holds
// them: every process's calls count, since it was made, and no process's
// death resets them. Counts only grow; Subscribers and MaxLag go up and
// down. Each figure is read on its own, while other processes go on.
type PubSubStats struct {
	// Published is how many messages were published, as Published.
	Published uint64
	// Subscribers is how many entries of the subscriber table are held:
	// the subscribers that joined and have not left, a dead process's
	// until its entry is freed or taken over.
	Subscribers uint64
	// MaxLag is how far the furthest subscriber is behind: the messages
	// published that it has not received (its Pending), 0 with none.
	MaxLag uint64
	// Laps counts the LappedErrors returned to subscribers of a lossy
	// ring.
	Laps uint64
	// Missed counts the messages those errors reported missed.
	Missed uint64
	// WaitsEmpty counts the blocking calls of subscribers that found no
	// message and waited (Recv, Borrow): one a call.
	WaitsEmpty uint64
	// WaitsFull counts the blocking calls of a lossless publisher that
	// waited for a slow subscriber (Publish, Loan).
	WaitsFull uint64
	// SleepsEmpty counts the sleeps of subscribers waiting for a message
	// (Recv).
	SleepsEmpty uint64
	// SleepsFull counts the sleeps of a lossless publisher waiting for a
	// slow subscriber (Publish).
	SleepsFull uint64
	// WakesEmpty counts the wake-up calls (FUTEX_WAKE system calls) made
	// for sleeping subscribers.
	WakesEmpty uint64
	// WakesFull counts the wake-up calls made for a sleeping publisher.
	WakesFull uint64
	// DeadSubscribers counts the entries of dead subscribers that were
	// freed (by a lossless publisher they held back) or taken over (by a
	// Subscribe that found no free one).
	DeadSubscribers uint64
	// PublisherTakeovers counts the times a dead publisher's role was
	// taken over.
	PublisherTakeovers uint64
}

// Stats reads the PubSub's counters (see PubSubStats): those of every
// process, since it was made. It works after Close.
func (p *PubSub[T]) Stats() PubSubStats { return psStats(p.o.Bytes(), p.l) }

// psStats reads the counters of the PubSub whose payload b has layout l.
func psStats(b []byte, l psLayout) PubSubStats {
	n := mapPSCounters(b)
	tail := mem.Uint64(b, psOffTail)
	table := mem.Slice[psEntry](b, uintptr(l.tableOff), int(l.subs))
	s := PubSubStats{
		Laps:               atomic.LoadUint64(n.laps),
		Missed:             atomic.LoadUint64(n.missed),
		WaitsEmpty:         atomic.LoadUint64(n.empty.waits),
		WaitsFull:          atomic.LoadUint64(n.full.waits),
		SleepsEmpty:        atomic.LoadUint64(n.empty.sleeps),
		SleepsFull:         atomic.LoadUint64(n.full.sleeps),
		WakesEmpty:         wakesOf(mem.Uint32(b, psOffNotEmpty), n.empty),
		WakesFull:          wakesOf(mem.Uint32(b, psOffNotFull), n.full),
		DeadSubscribers:    atomic.LoadUint64(n.deadSubs),
		PublisherTakeovers: atomic.LoadUint64(n.takeovers),
	}
	oldest := ^uint64(0) // the cursors are read before the tail: no lag below 0
	for i := range table {
		e := &table[i]
		if atomic.LoadUint64(&e.owner) != 0 {
			s.Subscribers++
			oldest = min(oldest, atomic.LoadUint64(&e.cursor))
		}
	}
	s.Published = atomic.LoadUint64(tail)
	if oldest < s.Published {
		s.MaxLag = s.Published - oldest
	}
	return s
}

// metrics are s as shm.Metrics reports them.
func (s PubSubStats) metrics() []shm.Metric {
	return []shm.Metric{
		{Name: "published", Help: "messages published", Value: s.Published},
		{Name: "subscribers", Help: "entries of the subscriber table held", Value: s.Subscribers, Gauge: true},
		{Name: "max_lag", Help: "messages the furthest subscriber has not received", Value: s.MaxLag, Gauge: true},
		{Name: "laps", Help: "subscribers lapped by the publisher (lossy)", Value: s.Laps},
		{Name: "missed", Help: "messages lapped subscribers missed (lossy)", Value: s.Missed},
		{Name: "waits_empty", Help: "blocking calls of subscribers that waited for a message", Value: s.WaitsEmpty},
		{Name: "waits_full", Help: "blocking calls of the publisher that waited for a slow subscriber (lossless)", Value: s.WaitsFull},
		{Name: "sleeps_empty", Help: "sleeps of subscribers waiting for a message", Value: s.SleepsEmpty},
		{Name: "sleeps_full", Help: "sleeps of the publisher waiting for a slow subscriber (lossless)", Value: s.SleepsFull},
		{Name: "wakes_empty", Help: "wake-up calls made for sleeping subscribers", Value: s.WakesEmpty},
		{Name: "wakes_full", Help: "wake-up calls made for a sleeping publisher", Value: s.WakesFull},
		{Name: "dead_subscribers", Help: "entries of dead subscribers freed or taken over", Value: s.DeadSubscribers},
		{Name: "publisher_takeovers", Help: "dead publishers' roles taken over", Value: s.PublisherTakeovers},
	}
}

// pubSubMetrics reads the metrics of a PubSub, without a typed handle:
// PubSubStats, in its order.
func pubSubMetrics(o *shm.Object) ([]shm.Metric, error) {
	b := o.Bytes()
	l, err := decodePSLayout(b)
	if err != nil {
		return nil, fmt.Errorf("ringbuffer: metrics of pubsub %q: %w", o.Name(), err)
	}
	return psStats(b, l).metrics(), nil
}

//go:build linux && (amd64 || arm64)

package ringbuffer

// The counters in shared memory (stats.go): what a ring, a pipe and a
// PubSub count while processes use them and die, and that the typed Stats
// and the tools' shm.Metrics read the same figures.

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shmkit/shmkit/internal/owner"
	"github.com/shmkit/shmkit/internal/shmtest"
	"github.com/shmkit/shmkit/internal/testproc"
	"github.com/shmkit/shmkit/shm"
)

// pipeMetricNames and psMetricNames are the names of a pipe's and a
// PubSub's metrics, in their order.
var (
	pipeMetricNames = append(prefixed("ring0_", ringMetricNames), prefixed("ring1_", ringMetricNames)...)
	psMetricNames   = []string{"published", "subscribers", "max_lag", "laps", "missed", "waits_empty", "waits_full",
		"sleeps_empty", "sleeps_full", "wakes_empty", "wakes_full", "dead_subscribers", "publisher_takeovers"}
)

func prefixed(p string, names []string) []string {
	var out []string
	for _, n := range names {
		out = append(out, p+n)
	}
	return out
}

// statsAgree checks that shm.Metrics reads o's figures as want, the
// metrics of its typed Stats, and that their names are names.
func statsAgree(t testing.TB, o *shm.Object, want []shm.Metric, names []string) {
	t.Helper()
	got, err := shm.Metrics(o)
	if err != nil {
		t.Fatalf("shm.Metrics: %v", err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("shm.Metrics reads\n%v\nStats says\n%v", got, want)
	}
	for i, m := range got {
		if m.Name != names[i] {
			t.Fatalf("metric %d is %q, want %q", i, m.Name, names[i])
		}
		if m.Gauge != (m.Name == "len" || m.Name == "subscribers" || m.Name == "max_lag" ||
			m.Name == "ring0_len" || m.Name == "ring1_len") {
			t.Fatalf("metric %q: gauge %v", m.Name, m.Gauge)
		}
	}
}

// stRing is a ring of the stats tests, of kind spsc (NewSPSCRing), ring
// (NewRing), queue (a Queue of plain T) or gob (a Queue of encoded T).
type stRing struct {
	c     *core
	push  func(ctx context.Context, i int) error
	pop   func(ctx context.Context) (int, error)
	stats func() RingStats
	close func() error
}

func stOpen(seg *shm.Segment, kind string, create bool) (*stRing, error) {
	ctx := context.Background()
	switch kind {
	case "spsc", "ring":
		var r *Ring[uint64]
		var err error
		switch {
		case !create:
			r, err = OpenRing[uint64](ctx, seg, "st")
		case kind == "spsc":
			r, err = NewSPSCRing[uint64](1, shm.In(seg, "st"))
		default:
			r, err = NewRing[uint64](1, shm.In(seg, "st"))
		}
		if err != nil {
			return nil, err
		}
		return &stRing{c: r.c, stats: r.Stats, close: r.Close,
			push: func(ctx context.Context, i int) error { return r.Push(ctx, uint64(i)) },
			pop: func(ctx context.Context) (int, error) {
				v, err := r.Pop(ctx)
				return int(v), err
			}}, nil
	case "queue":
		var q *Queue[uint64]
		var err error
		if create {
			q, err = NewQueue[uint64](1, shm.In(seg, "st"))
		} else {
			q, err = OpenQueue[uint64](ctx, seg, "st")
		}
		if err != nil {
			return nil, err
		}
		return &stRing{c: q.c, stats: q.Stats, close: q.Close,
			push: func(ctx context.Context, i int) error { return q.Put(ctx, uint64(i)) },
			pop: func(ctx context.Context) (int, error) {
				v, err := q.Get(ctx)
				return int(v), err
			}}, nil
	case "gob":
		var q *Queue[string]
		var err error
		if create {
			q, err = NewQueue[string](1, shm.In(seg, "st"))
		} else {
			q, err = OpenQueue[string](ctx, seg, "st")
		}
		if err != nil {
			return nil, err
		}
		return &stRing{c: q.c, stats: q.Stats, close: q.Close,
			push: func(ctx context.Context, i int) error { return q.Put(ctx, strconv.Itoa(i)) },
			pop: func(ctx context.Context) (int, error) {
				v, err := q.Get(ctx)
				if err != nil {
					return 0, err
				}
				return strconv.Atoi(v)
			}}, nil
	}
	return nil, fmt.Errorf("unknown kind %q", kind)
}

// awaitAnnounced waits until a process announced a sleep on word, and a
// little more, so that it is asleep by then (or about to be: a sleep not
// taken only makes a count lower, which the tests allow for).
func awaitAnnounced(ctx context.Context, word *uint32) error {
	for atomic.LoadUint32(word)&1 == 0 {
		if ctx.Err() != nil {
			return errors.New("nobody announced a sleep")
		}
		time.Sleep(100 * time.Microsecond)
	}
	time.Sleep(time.Millisecond)
	return nil
}

// stProducer pushes messages 0 to n-1 to the ring of kind in the
// segment: with mode "after", each only once the consumer announced that
// it sleeps for it; with "push", at once, waiting for room.
var stProducer = testproc.Register("ringbuffer-stats-producer", func(c *testproc.Child) error {
	seg, f, err := shmtest.OpenArgs(c)
	if err != nil {
		return err
	}
	defer seg.Close()
	kind, mode := f[0], f[1]
	n, err := strconv.Atoi(f[2])
	if err != nil {
		return err
	}
	r, err := stOpen(seg, kind, false)
	if err != nil {
		return err
	}
	defer r.close() // a single producer's role passes on: not a takeover
	ctx, cancel := context.WithTimeout(context.Background(), killGuard)
	defer cancel()
	for i := range n {
		if mode == "after" {
			if err := awaitAnnounced(ctx, r.c.empty); err != nil {
				return fmt.Errorf("message %d: %w", i, err)
			}
		}
		if err := r.push(ctx, i); err != nil {
			return fmt.Errorf("message %d: %w", i, err)
		}
	}
	return nil
})

// TestStatsMultiProc passes messages from a producer process to this one
// through a ring of one slot, first with the consumer asleep before each
// message, then with the producer asleep before each: the counters show
// the messages in and out, the sleeps on both sides, and exactly the
// wake-up calls made, and shm.Metrics reads what Stats does.
func TestStatsMultiProc(t *testing.T) {
	for _, kind := range []string{"spsc", "ring", "queue", "gob"} {
		t.Run(kind, func(t *testing.T) {
			const n = 20
			seg := testSeg(t)
			r, err := stOpen(seg, kind, true)
			if err != nil {
				t.Fatal(err)
			}
			ctx := killContext(t)
			if s := r.stats(); s != (RingStats{}) {
				t.Fatalf("a new ring's counters: %+v", s)
			}
			// The consumer waits for every message.
			p := shmtest.Start(t, killChildTimeout, stProducer, seg.Name(), kind, "after", strconv.Itoa(n))
			for i := range n {
				if v, err := r.pop(ctx); err != nil || v != i {
					t.Fatalf("message %d: %v, %v", i, v, err)
				}
			}
			p.Succeed()
			a := r.stats()
			// The producer waits for room for every message but the first.
			p = shmtest.Start(t, killChildTimeout, stProducer, seg.Name(), kind, "push", strconv.Itoa(n))
			for i := range n {
				if i == n-1 {
					p.Succeed() // the last message is in: its Pop does not wait
				} else if err := awaitAnnounced(ctx, r.c.full); err != nil {
					t.Fatal(err)
				}
				if v, err := r.pop(ctx); err != nil || v != i {
					t.Fatalf("message %d: %v, %v", i, v, err)
				}
			}
			s := r.stats()
			cells := uint64(1) // a message's
			if kind == "gob" {
				cells = r.c.l.cellsFor(len(encodeGob(t, strconv.Itoa(n-1))))
			}
			want := RingStats{Pushed: 2 * n * cells, Popped: 2 * n * cells, WakesEmpty: n, WakesFull: n - 1,
				WaitsEmpty: n, WaitsFull: n - 1, SleepsEmpty: s.SleepsEmpty, SleepsFull: s.SleepsFull}
			if s != want {
				t.Fatalf("after %d messages each way:\n%+v, want\n%+v", n, s, want)
			}
			if a.SleepsEmpty == 0 || a.SleepsFull != 0 || a.WakesEmpty != n || a.WakesFull != 0 {
				t.Fatalf("after the consumer slept for each message: %+v", a)
			}
			if s.SleepsEmpty != a.SleepsEmpty || s.SleepsFull == 0 {
				t.Fatalf("after the producer slept for each message: %+v", s)
			}
			statsAgree(t, r.c.o, s.metrics("", ""), ringMetricNames)
		})
	}
}

// encodeGob is the encoding of v in a Queue of encoded strings.
func encodeGob(t testing.TB, v string) []byte {
	b, err := Gob[string]{}.Append(nil, &v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestStatsTakeovers kills producers and consumers (SIGKILL) where they
// hold what the next process takes over: a single-producer ring's roles
// count one takeover each, a dead producer's claim that a consumer steps
// over counts one hole, and a dead producer's table slot taken over
// counts one takeover and one hole (its claim), which the consumer then
// steps over without counting it again.
func TestStatsTakeovers(t *testing.T) {
	a := killLiveID
	check := func(t *testing.T, q *killQ, want RingStats) {
		t.Helper()
		s := q.core().stats()
		if s != want {
			t.Fatalf("counters\n%+v, want\n%+v", s, want)
		}
		statsAgree(t, q.core().o, s.metrics("", ""), ringMetricNames)
	}
	t.Run("spsc producer", func(t *testing.T) {
		seg := testSeg(t)
		q := newKillQ(t, seg, "spsc", "q", 8)
		p := killStart(t, seg, killSpec{Role: "producer", Kind: "spsc", Name: "q", Point: pointWriting, N: 2, Prod: 1, Count: 3})
		killMustDie(t, p, "a producer killed while it wrote")
		killUnbusy(t, "taking the producer role over", func() error { return q.tryPush(a(0)) })
		killExpect(t, q, "from both producers", killID{1, 0}, a(0))
		check(t, q, RingStats{Pushed: 2, Popped: 2, ProducerTakeovers: 1})
	})
	t.Run("spsc consumer", func(t *testing.T) {
		seg := testSeg(t)
		q := newKillQ(t, seg, "spsc", "q", 8)
		for seq := range uint32(3) {
			if err := q.tryPush(a(seq)); err != nil {
				t.Fatal(err)
			}
		}
		p := killStart(t, seg, killSpec{Role: "consumer", Kind: "spsc", Name: "q", Point: pointReading, N: 2, Count: 2})
		killMustDie(t, p, "a consumer killed while it read")
		var id killID
		killUnbusy(t, "taking the consumer role over", func() (err error) { id, err = q.tryPop(); return err })
		if id != a(1) {
			t.Fatalf("the new consumer got %v, want %v", id, a(1))
		}
		check(t, q, RingStats{Pushed: 3, Popped: 2, Len: 1, ConsumerTakeovers: 1})
	})
	for _, kind := range []string{"ring", "gob"} {
		t.Run(kind+" hole", func(t *testing.T) {
			seg := testSeg(t)
			q := newKillQ(t, seg, kind, "q", 8)
			p := killStart(t, seg, killSpec{Role: "producer", Kind: kind, Name: "q", Point: pointClaimed, N: 2, Prod: 1, Count: 3})
			killMustDie(t, p, "a producer killed with a claim pending")
			killExpect(t, q, "the dead producer's first message", killID{1, 0})
			if id, err := q.tryPop(); err != errEmpty {
				t.Fatalf("past the dead producer's claim: %v, %v", id, err)
			}
			want := q.core().stats()
			if want.Holes != 1 || want.Pushed != want.Popped || want.ProducerTakeovers != 0 {
				t.Fatalf("after a dead producer's claim was skipped: %+v", want)
			}
			check(t, q, want)
		})
		t.Run(kind+" slot", func(t *testing.T) {
			seg := testSeg(t)
			q := newKillQ(t, seg, kind, "q", 8)
			c := q.core()
			p := killStart(t, seg, killSpec{Role: "producer", Kind: kind, Name: "q", Point: pointClaimed, N: 2, Prod: 1, Count: 3})
			killMustDie(t, p, "a producer killed with a claim pending")
			dead := atomic.LoadUint64(&c.table[0])
			if owner.Pid(dead) != p.Pid() {
				t.Fatalf("slot 0 holds %#x, not the dead producer %d", dead, p.Pid())
			}
			for i := 1; i < len(c.table); i++ { // only the dead producer's slot is left
				atomic.StoreUint64(&c.table[i], dead)
			}
			if err := q.tryPush(a(0)); err != nil {
				t.Fatalf("pushing with every slot held by the dead: %v", err)
			}
			if s := c.stats(); s.ProducerTakeovers != 1 || s.Holes != 1 {
				t.Fatalf("after taking the dead producer's slot: %+v", s)
			}
			killExpect(t, q, "past the hole", killID{1, 0}, a(0))
			want := c.stats()
			if want.Holes != 1 || want.ProducerTakeovers != 1 || want.Pushed != want.Popped || want.Len != 0 {
				t.Fatalf("after the consumer stepped over the hole: %+v", want)
			}
			check(t, q, want)
		})
	}
}

// TestStatsPubSub: a lossless publisher process that waits for this
// process's subscriber before each message but the first, a subscriber
// process killed while it holds the publisher back, a publisher process
// that exits without closing its handle and one killed while it
// publishes, a subscriber process killed holding the last free entry:
// the PubSub counts the publisher's sleeps and exactly the
// wake-ups made, the dead subscribers dropped or taken over, and the
// publisher's role taken over from each dead process.
func TestStatsPubSub(t *testing.T) {
	const n = 20
	seg := testSeg(t)
	ps, err := NewPubSub[killMsg](1, 2, Lossless, shm.In(seg, "ps"))
	if err != nil {
		t.Fatal(err)
	}
	ctx := killContext(t)
	sub, err := ps.Subscribe(0)
	if err != nil {
		t.Fatal(err)
	}
	p := psStart(t, seg, psSpec{Role: "publisher", Name: "ps", Prod: 1, Count: n})
	for i := range n {
		if i == n-1 {
			p.Succeed()
		} else if err := awaitAnnounced(ctx, ps.full); err != nil {
			t.Fatal(err)
		}
		if m, err := sub.Recv(ctx); err != nil || m != makeKillMsg(killID{1, uint32(i)}) {
			t.Fatalf("message %d: %v, %v", i, m, err)
		}
	}
	s := ps.Stats()
	if s.SleepsFull == 0 {
		t.Fatalf("the publisher never slept: %+v", s)
	}
	want := PubSubStats{Published: n, Subscribers: 1, WakesFull: n - 1, WaitsFull: n - 1, SleepsFull: s.SleepsFull}
	if s != want {
		t.Fatalf("after %d messages:\n%+v, want\n%+v", n, s, want)
	}
	statsAgree(t, ps.o, s.metrics(), psMetricNames)

	// A subscriber process joins and dies; this process publishes until
	// it finds that one holding it back.
	p = psStart(t, seg, psSpec{Role: "subscriber", Name: "ps", Idle: true})
	p.WaitPoint("idle")
	if s := ps.Stats(); s.Subscribers != 2 || s.MaxLag != 0 {
		t.Fatalf("with two subscribers: %+v", s)
	}
	p.Kill()
	killMustDie(t, p, "an idle subscriber")
	// Through a handle of its own, which takes the role over from the
	// first publisher: that one exited without closing its handle.
	pub, err := OpenPubSub[killMsg](ctx, seg, "ps")
	if err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		if err := pub.Publish(ctx, makeKillMsg(killLiveID(uint32(i)))); err != nil {
			t.Fatal(err)
		}
		if _, err := sub.Recv(ctx); err != nil {
			t.Fatal(err)
		}
	}
	pub.Close() // the role passes on: not a takeover
	if s := ps.Stats(); s.DeadSubscribers != 1 || s.Subscribers != 1 || s.Published != n+2 || s.PublisherTakeovers != 1 {
		t.Fatalf("after the dead subscriber was dropped: %+v", s)
	}

	// A publisher process dies in Publish; this process takes over.
	p = psStart(t, seg, psSpec{Role: "publisher", Name: "ps", Prod: 2, Count: 3, Point: pointWriting, N: 1})
	killMustDie(t, p, "a publisher killed while it wrote")
	killUnbusy(t, "taking the publisher's role over", func() error { return ps.TryPublish(makeKillMsg(killLiveID(2))) })
	if m, err := sub.Recv(ctx); err != nil || m != makeKillMsg(killLiveID(2)) {
		t.Fatalf("after the takeover: %v, %v", m, err)
	}
	s = ps.Stats()
	if s.PublisherTakeovers != 2 || s.DeadSubscribers != 1 || s.Published != n+3 || s.Laps != 0 {
		t.Fatalf("after the publisher's role was taken over: %+v", s)
	}
	statsAgree(t, ps.o, s.metrics(), psMetricNames)

	// A subscriber process dies holding the last free entry, which a
	// Subscribe of this process then takes over.
	p = psStart(t, seg, psSpec{Role: "subscriber", Name: "ps", Idle: true})
	p.WaitPoint("idle")
	p.Kill()
	killMustDie(t, p, "an idle subscriber")
	sub2, err := ps.Subscribe(0)
	if err != nil {
		t.Fatalf("subscribing with the dead holding the last entry: %v", err)
	}
	if s := ps.Stats(); s.DeadSubscribers != 2 || s.Subscribers != 2 {
		t.Fatalf("after a dead subscriber's entry was taken over: %+v", s)
	}
	sub2.Close()
	sub.Close()
	if s := ps.Stats(); s.Subscribers != 0 || s.MaxLag != 0 {
		t.Fatalf("with no subscriber: %+v", s)
	}
}

// TestStatsLapped: a lossy subscriber six messages behind a ring of four
// counts one lap and the messages it missed; MaxLag is how far behind it
// was.
func TestStatsLapped(t *testing.T) {
	ps := mustPubSub[uint64](t, 4, 2, Lossy)
	sub, err := ps.Subscribe(0)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	for i := range 10 {
		if err := ps.TryPublish(uint64(i)); err != nil {
			t.Fatal(err)
		}
	}
	if s := ps.Stats(); s.MaxLag != 10 || s.Laps != 0 {
		t.Fatalf("ten messages behind: %+v", s)
	}
	var lap *LappedError
	if _, err := sub.TryRecv(); !errors.As(err, &lap) || lap.Missed != 6 {
		t.Fatalf("a subscriber ten messages behind a ring of four: %v", err)
	}
	if v, err := sub.TryRecv(); err != nil || v != 6 {
		t.Fatalf("after the lap: %v, %v", v, err)
	}
	s := ps.Stats()
	if want := (PubSubStats{Published: 10, Subscribers: 1, MaxLag: 3, Laps: 1, Missed: 6}); s != want {
		t.Fatalf("after a lap:\n%+v, want\n%+v", s, want)
	}
	statsAgree(t, ps.o, s.metrics(), psMetricNames)
}

func mustPubSub[T any](t testing.TB, n, subs int, p Policy) *PubSub[T] {
	t.Helper()
	ps, err := NewPubSub[T](n, subs, p)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ps.Free() })
	return ps
}

// TestStatsPipe: a Conn's Stats are its two rings', seen from its end,
// and shm.Metrics reads them as ring0 (what end 0 sends) and ring1.
func TestStatsPipe(t *testing.T) {
	a, b, err := Pipe[string](4)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Free()
	ctx := killContext(t)
	for _, m := range []string{"one", "two", "three"} {
		if err := a.Send(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := b.Recv(ctx); err != nil {
		t.Fatal(err)
	}
	if err := b.Send(ctx, "back"); err != nil {
		t.Fatal(err)
	}
	sa, sb := a.Stats(), b.Stats()
	if sa.Out != sb.In || sa.In != sb.Out {
		t.Fatalf("end 0 sees %+v, end 1 %+v", sa, sb)
	}
	if o := sa.Out; o.Len != 2 || o.Pushed != 3 || o.Popped != 1 || sa.In.Len != 1 || sa.In.Pushed != 1 {
		t.Fatalf("three messages sent, one received, one back: %+v", sa)
	}
	statsAgree(t, a.pipe, append(sa.Out.metrics("ring0_", "end 0 to end 1: "), sa.In.metrics("ring1_", "end 1 to end 0: ")...), pipeMetricNames)

	rx, tx, err := OneWayPipe[uint64](2)
	if err != nil {
		t.Fatal(err)
	}
	defer rx.Free()
	if err := tx.Send(ctx, 7); err != nil {
		t.Fatal(err)
	}
	if s := rx.Stats(); s.In.Len != 1 || s.In != tx.Stats().Out {
		t.Fatalf("a one-way pipe with a message: %+v, %+v", s, tx.Stats())
	}
}

// TestStatsWakes checks the wake-up count past the sleep word's 31-bit
// generation: wake-ups made across its wrap, with sleepers recording
// them at some of the sleeps only, and a sleeper that records a value
// older than the record, are counted exactly.
func TestStatsWakes(t *testing.T) {
	r := mustNew(t, NewRing[uint64], 1)
	c := r.c
	const start = 5<<31 + genMask - 6 // the generation wraps after 7 wake-ups
	atomic.StoreUint32(c.empty, uint32(start&genMask)<<1)
	atomic.StoreUint64(c.cnt.empty.wakes, start)
	old := uint32(start&genMask)<<1 | 1
	for i := range 20 {
		w := atomic.LoadUint32(c.empty)
		if !atomic.CompareAndSwapUint32(c.empty, w, w|1) {
			t.Fatal("the sleep word moved")
		}
		switch i % 3 {
		case 0:
			c.cnt.empty.slept(w | 1)
		case 1:
			c.cnt.empty.slept(old) // a sleeper that read the word long ago
		}
		wake(c.empty)
		if got := r.Stats().WakesEmpty; got != start+uint64(i)+1 {
			t.Fatalf("after %d wake-ups from %d: %d", i+1, uint64(start), got)
		}
	}
	if got := atomic.LoadUint64(c.cnt.empty.sleeps); got != 14 {
		t.Fatalf("%d sleeps counted, want 14", got)
	}
	// Many wake-ups at a time, as if each sleeper slept through 2^29 of
	// them: eight times round the generation's 31 bits.
	want := uint64(start) + 20
	for i := range 8 {
		w := atomic.LoadUint32(c.empty)
		atomic.StoreUint32(c.empty, w|1)
		c.cnt.empty.slept(w | 1)
		atomic.StoreUint32(c.empty, w+1<<30) // 2^29 wake-ups
		if want += 1 << 29; r.Stats().WakesEmpty != want {
			t.Fatalf("after %d times 2^29 more wake-ups: %d, want %d", i+1, r.Stats().WakesEmpty, want)
		}
	}
}

// TestStatsWhileBorrowed: a message borrowed in place (the head marked
// lent) counts as in the queue, not yet popped, in Stats and the metrics.
func TestStatsWhileBorrowed(t *testing.T) {
	q, err := NewQueue[uint64](4, shm.In(testSeg(t), "q"))
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	for i := range uint64(3) {
		if err := q.TryPut(i); err != nil {
			t.Fatal(err)
		}
	}
	b, err := q.TryBorrow()
	if err != nil {
		t.Fatal(err)
	}
	if s := q.Stats(); s.Pushed != 3 || s.Popped != 0 || s.Len != 3 {
		t.Fatalf("borrowed: %+v, want 3 pushed, 0 popped, 3 in the queue", s)
	}
	if err := b.Release(); err != nil {
		t.Fatal(err)
	}
	if s := q.Stats(); s.Popped != 1 || s.Len != 2 {
		t.Fatalf("released: %+v, want 1 popped, 2 in the queue", s)
	}
}

//go:build linux && (amd64 || arm64)

package ringbuffer

// Publish/subscribe between processes: subscribers that join (with and
// without history), leave and lag, and publishers and subscribers killed
// by SIGKILL at chosen points. Messages are killMsgs: a torn one fails its
// checksum.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shmkit/shmkit/internal/mem"
	"github.com/shmkit/shmkit/internal/shmtest"
	"github.com/shmkit/shmkit/internal/testproc"
	"github.com/shmkit/shmkit/shm"
)

// psSpec is what a pubsub child does.
type psSpec struct {
	Role    string // "publisher" or "subscriber"
	Name    string
	Prod    uint32 // publisher: the messages' producer id
	Count   int    // publisher: messages to publish; subscriber: to receive (0: until End)
	End     uint32 // subscriber: stop after message End-1
	Pause   int    // publisher: stop at point "paused" after this many
	Pace    bool   // publisher: sleep a little every 64 messages
	History int    // subscriber: Subscribe's history
	Joined  bool   // subscriber: stop at point "joined" once subscribed
	Idle    bool   // subscriber: once subscribed, stop at point "idle" and receive nothing
	Slow    bool   // subscriber: sleep a little every 64 messages
	Point   string // a kill point, "" for none
	N       int    // die at the Nth arrival there
	Loan    bool   // publish through loans, receive through borrows
}

var psChild = testproc.Register("ringbuffer-pubsub", func(c *testproc.Child) error {
	seg, f, err := shmtest.OpenArgs(c)
	if err != nil {
		return err
	}
	defer seg.Close()
	var s psSpec
	if err := json.Unmarshal([]byte(strings.Join(f, " ")), &s); err != nil {
		return fmt.Errorf("argument %q: %v", f, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), killChildTimeout)
	defer cancel()
	ps, err := OpenPubSub[killMsg](ctx, seg, s.Name)
	if err != nil {
		return err
	}
	if s.Point != "" {
		killHook(c, s.Point, s.N, false)
	}
	switch s.Role {
	case "publisher":
		for seq := 0; seq < s.Count; {
			if seq == s.Pause && s.Pause > 0 {
				c.Point("paused")
			}
			if s.Pace && seq%64 == 0 {
				time.Sleep(100 * time.Microsecond)
			}
			var err error
			if s.Loan {
				err = psLoanPublish(ctx, ps, makeKillMsg(killID{s.Prod, uint32(seq)}))
			} else {
				err = ps.Publish(ctx, makeKillMsg(killID{s.Prod, uint32(seq)}))
			}
			if errors.Is(err, ErrBusy) && ctx.Err() == nil {
				time.Sleep(100 * time.Microsecond) // the last publisher has yet to die
				continue
			}
			if err != nil {
				return fmt.Errorf("publisher %d, message %d: %w", s.Prod, seq, err)
			}
			seq++
		}
		return nil
	case "subscriber":
		sub, err := ps.Subscribe(s.History)
		if err != nil {
			return err
		}
		if s.Joined {
			c.Point("joined")
		}
		if s.Idle {
			c.Point("idle")
			return errors.New("an idle subscriber was to be killed")
		}
		// first is where the subscriber started: its first message, less
		// the messages it missed before it; next is the one expected next.
		first, next, got, missed := int64(-1), int64(-1), 0, uint64(0)
		for s.Count == 0 || got < s.Count {
			var m killMsg
			if s.Loan {
				m, err = psBorrowRecv(ctx, sub)
			} else {
				m, err = sub.Recv(ctx)
			}
			var lap *LappedError
			if errors.As(err, &lap) {
				missed += lap.Missed
				if next >= 0 {
					next += int64(lap.Missed)
				}
				continue
			}
			if err != nil {
				return fmt.Errorf("subscriber, before %d: %w", next, err)
			}
			id, err := m.check()
			if err != nil {
				return fmt.Errorf("before %d: %w", next, err)
			}
			if first < 0 {
				first, next = int64(id.Seq)-int64(missed), int64(id.Seq)
			}
			if int64(id.Seq) != next {
				return fmt.Errorf("message %v, want %d (%d missed in all)", id, next, missed)
			}
			next++
			got++
			if s.Slow && got%64 == 0 {
				time.Sleep(200 * time.Microsecond)
			}
			if s.Count == 0 && uint32(next) == s.End {
				break
			}
		}
		last := next - 1
		fmt.Printf("RESULT %d %d %d %d\n", first, last, got, missed)
		return sub.Close()
	}
	return fmt.Errorf("unknown role %q", s.Role)
})

// psLoanPublish publishes m through a loan: half of it written, then kill
// point pointWriting, then the rest and Commit.
func psLoanPublish(ctx context.Context, ps *PubSub[killMsg], m killMsg) error {
	l, err := ps.Loan(ctx)
	if err != nil {
		return err
	}
	b := mem.Bytes(&m)
	copy(mem.Bytes(l.Value())[:len(b)/2], b)
	hook(pointWriting)
	*l.Value() = m
	return l.Commit()
}

// psBorrowRecv receives a message through a borrow: a copy of it, then
// kill point pointReading, then Release.
func psBorrowRecv(ctx context.Context, sub *Subscriber[killMsg]) (killMsg, error) {
	b, err := sub.Borrow(ctx)
	if err != nil {
		return killMsg{}, err
	}
	m := *b.Value()
	hook(pointReading)
	return m, b.Release()
}

func psStart(t testing.TB, seg *shm.Segment, s psSpec) *testproc.Proc {
	t.Helper()
	b, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	return testproc.Start(t, psChild, testproc.Arg(seg.Name()+" "+string(b)), testproc.Timeout(killChildTimeout))
}

// TestMultiProcPubSub runs a publisher process and subscriber processes
// that join before it starts (with histories of 4, 0 and 100), one that
// leaves after 200 messages, a slow one, and one that joins while it runs:
// each receives every message from where it joined, in order, none torn;
// in a lossy ring the messages a subscriber misses are exactly those its
// LappedErrors count.
func TestMultiProcPubSub(t *testing.T) {
	for _, policy := range []Policy{Lossless, Lossy} {
		t.Run(policy.String(), func(t *testing.T) {
			t.Parallel()
			const total, paused = 20000, 10
			seg := testSeg(t)
			ps, err := NewPubSub[killMsg](16, 8, policy, shm.In(seg, "ps"))
			if err != nil {
				t.Fatal(err)
			}
			pub := psStart(t, seg, psSpec{Role: "publisher", Name: "ps", Prod: 1, Count: total, Pause: paused, Pace: true})
			pub.WaitPoint("paused")
			subs := []struct {
				name string
				s    psSpec
				// the first message it must receive (-1: any up to
				// firstMax), and its last
				first, firstMax, last int64
			}{
				{"history 4", psSpec{History: 4}, paused - 4, 0, total - 1},
				{"history 0", psSpec{History: 0}, paused, 0, total - 1},
				{"history 100", psSpec{History: 100}, -1, 0, total - 1},
				{"leaves", psSpec{Count: 200}, paused, 0, paused + 199},
				{"slow", psSpec{Slow: true}, paused, 0, total - 1},
			}
			if policy == Lossless {
				// A lossless ring keeps half a ring for history at least.
				subs[2].firstMax = paused - int64(ps.Cap()/2)
			} else {
				subs[2].first = 0
			}
			var procs []*testproc.Proc
			for _, s := range subs {
				s.s.Role, s.s.Name, s.s.End, s.s.Joined = "subscriber", "ps", total, true
				p := psStart(t, seg, s.s)
				p.WaitPoint("joined")
				procs = append(procs, p)
			}
			for _, p := range procs {
				p.Continue()
			}
			pub.Continue()
			late := psStart(t, seg, psSpec{Role: "subscriber", Name: "ps", History: 5, End: total})
			pub.Succeed()
			for i, s := range subs {
				r := xpUints(t, xpResult(t, procs[i]))
				first, last, got, missed := int64(r[0]), int64(r[1]), int64(r[2]), int64(r[3])
				t.Logf("%s: %d to %d, %d received, %d missed", s.name, first, last, got, missed)
				if policy == Lossy && s.s.Count > 0 {
					// Its 200 messages may spread over more positions.
					s.last = max(s.last, last)
					if got != int64(s.s.Count) {
						t.Errorf("%s: received %d, want %d", s.name, got, s.s.Count)
					}
				}
				if (s.first >= 0 && first != s.first) || (s.first < 0 && first > s.firstMax) || last != s.last {
					t.Errorf("%s: received %d to %d, want %d (at most %d) to %d", s.name, first, last, s.first, s.firstMax, s.last)
				}
				if got+missed != last-first+1 || (policy == Lossless && missed != 0) {
					t.Errorf("%s: %d received and %d missed from %d to %d", s.name, got, missed, first, last)
				}
			}
			r := xpUints(t, xpResult(t, late))
			t.Logf("late: %d to %d, %d received, %d missed", r[0], r[1], r[2], r[3])
			if r[1] != total-1 || r[2]+r[3] != r[1]-r[0]+1 || (policy == Lossless && r[3] != 0) {
				t.Errorf("late subscriber: %v", r)
			}
			if err := ps.Free(); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// psCollect is a subscriber of this process that receives until stopped:
// ids, in order, with a LappedError's count as killID{Prod: 0, Seq: n};
// or, when it does not keep them, the messages of one producer, which it
// checks as they come.
type psCollect struct {
	cancel context.CancelFunc
	done   chan struct{} // closed when it stops
	err    error         // why it stopped, once done is closed
	keep   bool
	mu     sync.Mutex
	ids    []killID // under mu until stopped
	next   uint32   // not kept: the message expected next
	missed uint64   // not kept: the messages its LappedErrors counted
}

func (c *psCollect) add(id killID) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.keep {
		c.ids = append(c.ids, id)
		return nil
	}
	if id.Prod == 0 {
		c.next += id.Seq
		c.missed += uint64(id.Seq)
		return nil
	}
	if id.Seq != c.next {
		return fmt.Errorf("message %v, want %d", id, c.next)
	}
	c.next++
	return nil
}

// await waits until the collector received id.
func (c *psCollect) await(t testing.TB, id killID) {
	t.Helper()
	ctx := killContext(t)
	for {
		c.mu.Lock()
		n := len(c.ids)
		last := killID{}
		if n > 0 {
			last = c.ids[n-1]
		}
		if !c.keep && c.next > 0 {
			last = killID{id.Prod, c.next - 1}
		}
		c.mu.Unlock()
		if last == id {
			return
		}
		select {
		case <-c.done:
			t.Fatalf("the subscriber stopped before %v (its last: %v): %v", id, last, c.err)
		default:
		}
		if ctx.Err() != nil {
			t.Fatalf("the subscriber never received %v (its last: %v)", id, last)
		}
		time.Sleep(time.Millisecond)
	}
}

func psCollector(t testing.TB, ps *PubSub[killMsg], keep bool) *psCollect {
	t.Helper()
	sub, err := ps.Subscribe(0)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	c := &psCollect{cancel: cancel, done: make(chan struct{}), keep: keep}
	go func() {
		defer close(c.done)
		defer sub.Close()
		for {
			m, err := sub.Recv(ctx)
			var lap *LappedError
			switch {
			case errors.As(err, &lap):
				if c.err = c.add(killID{0, uint32(lap.Missed)}); c.err != nil {
					return
				}
				continue
			case err == ctx.Err() && err != nil:
				return
			case err != nil:
				c.err = err
				return
			}
			id, err := m.check()
			if err != nil {
				c.err = err
				return
			}
			if c.err = c.add(id); c.err != nil {
				return
			}
		}
	}()
	t.Cleanup(func() { c.stop() })
	return c
}

func (c *psCollect) stop() error {
	if c.cancel == nil {
		return nil
	}
	c.cancel()
	c.cancel = nil
	<-c.done
	return c.err
}

// psCheckLaps checks what a subscriber received against what was
// published: equal, but for runs that its LappedErrors count exactly.
func psCheckLaps(t testing.TB, got, want []killID) (missed int) {
	t.Helper()
	i := 0
	for j, id := range got {
		if id.Prod == 0 {
			i += int(id.Seq)
			missed += int(id.Seq)
			continue
		}
		if i >= len(want) || want[i] != id {
			t.Fatalf("message %d received is %v, want %v (after %d missed)", j, id, want[min(i, len(want)-1)], missed)
		}
		i++
	}
	if i != len(want) {
		t.Fatalf("%d messages received or missed, %d published", i, len(want))
	}
	return missed
}

// The publisher's kill points, in the order a publish meets them.
var psPubPoints = []string{pointClaimed, pointWriting, pointPublish}

// TestKillPubSubPublisher kills publishers at each of their points (the
// slot begun, half written, whole but not published), at every position
// of the ring in turn: the next publisher process takes the role over and
// goes on, and a subscriber receives exactly the messages published
// before each kill, none torn (in a lossy ring, less those its
// LappedErrors count).
func TestKillPubSubPublisher(t *testing.T) {
	for _, policy := range []Policy{Lossless, Lossy} {
		t.Run(policy.String(), func(t *testing.T) {
			t.Parallel()
			rounds := killRounds(250, 60)
			seg := testSeg(t)
			ps, err := NewPubSub[killMsg](8, 2, policy, shm.In(seg, "ps"))
			if err != nil {
				t.Fatal(err)
			}
			col := psCollector(t, ps, true)
			var want []killID
			killPipeline(rounds, 1, func(i int) *testproc.Proc {
				n := 1 + (i*5)%19 // up to 2.3 laps
				s := psSpec{Role: "publisher", Name: "ps", Prod: uint32(i + 1), Point: psPubPoints[i%3], N: n, Count: n + 3}
				if i == rounds-1 {
					s.Point, s.Count = "", 5 // the last one lives
				}
				for seq := range s.Count {
					if s.Point == "" || seq < n-1 {
						want = append(want, killID{s.Prod, uint32(seq)})
					}
				}
				return psStart(t, seg, s)
			}, func(i int, p *testproc.Proc) {
				if i < rounds-1 {
					killMustDie(t, p, fmt.Sprintf("publisher %d at %q", i+1, psPubPoints[i%3]))
				} else {
					p.Succeed()
				}
			})
			// Wait for the last message, then stop.
			ctx := killContext(t)
			for ps.Published() < uint64(len(want)) && ctx.Err() == nil {
				time.Sleep(time.Millisecond)
			}
			sub, err := ps.Subscribe(1)
			if err != nil {
				t.Fatal(err)
			}
			if m, err := sub.Recv(ctx); err != nil || m != makeKillMsg(want[len(want)-1]) {
				t.Fatalf("the last message: %v, %v", m, err)
			}
			sub.Close()
			col.await(t, want[len(want)-1])
			if err := col.stop(); err != nil {
				t.Fatal(err)
			}
			missed := psCheckLaps(t, col.ids, want)
			if policy == Lossless && missed != 0 {
				t.Fatalf("a lossless subscriber missed %d", missed)
			}
			t.Logf("%d publishers killed, %d messages, %d missed", rounds-1, len(want), missed)
		})
	}
}

// TestKillPubSubSubscriber kills subscriber processes while they read
// (between copying a message and moving their cursor), just as they
// joined, and while they sit idle, registered: the publisher of a
// lossless ring, which waits for them, goes on within a liveness recheck
// of each death, the entries of the dead are reused (there are two for
// children), and a subscriber of this process receives every message.
func TestKillPubSubSubscriber(t *testing.T) {
	for _, policy := range []Policy{Lossless, Lossy} {
		t.Run(policy.String(), func(t *testing.T) {
			t.Parallel()
			rounds := killRounds(250, 60)
			seg := testSeg(t)
			ps, err := NewPubSub[killMsg](8, 3, policy, shm.In(seg, "ps"))
			if err != nil {
				t.Fatal(err)
			}
			col := psCollector(t, ps, false)
			ctx, cancel := context.WithCancel(context.Background())
			var published uint32
			var pubErr error
			var wg sync.WaitGroup
			wg.Add(1)
			t.Cleanup(func() { cancel(); wg.Wait() }) // before the segment goes
			go func() {
				defer wg.Done()
				for ; ctx.Err() == nil; published++ {
					if published%64 == 0 {
						time.Sleep(100 * time.Microsecond) // a lossy publisher would take a core
					}
					if err := ps.Publish(ctx, makeKillMsg(killID{killLive, published})); err != nil {
						if err != ctx.Err() {
							pubErr = err
						}
						return
					}
				}
			}()
			var stall time.Duration
			kinds := []string{"reading", "joined", "idle"}
			killPipeline(rounds, 1, func(i int) *testproc.Proc {
				s := psSpec{Role: "subscriber", Name: "ps", History: i % 9}
				switch kinds[i%3] {
				case "reading":
					s.Point, s.N = pointReading, 1+(i*7)%23
				case "joined":
					s.Point, s.N = pointJoined, 1
				case "idle":
					s.Idle = true
				}
				return psStart(t, seg, s)
			}, func(i int, p *testproc.Proc) {
				if kinds[i%3] == "idle" {
					p.WaitPoint("idle")
					p.Kill()
				}
				killMustDie(t, p, fmt.Sprintf("subscriber %d (%s)", i, kinds[i%3]))
				// The publisher goes on past a ring beyond where it is.
				dead := time.Now()
				target := ps.Published() + 2*uint64(ps.Cap())
				guard := killContext(t)
				for ps.Published() < target {
					if guard.Err() != nil {
						t.Fatalf("subscriber %d (%s) died; the publisher stays at %d", i, kinds[i%3], ps.Published())
					}
					time.Sleep(100 * time.Microsecond)
				}
				stall = max(stall, time.Since(dead))
			})
			cancel()
			wg.Wait()
			if pubErr != nil {
				t.Fatal(pubErr)
			}
			col.await(t, killID{killLive, published - 1})
			if err := col.stop(); err != nil {
				t.Fatal(err)
			}
			if col.next != published || (policy == Lossless && col.missed != 0) {
				t.Fatalf("%d messages received or missed, %d of them missed; %d published", col.next, col.missed, published)
			}
			// Every subscriber has left or died, and the publisher freed
			// the entries of the dead: none counts among the plain ones.
			if n := atomic.LoadUint32(ps.plainS); n != 0 {
				t.Errorf("%d subscribers still count as storing their cursors plainly", n)
			}
			missed := col.missed
			t.Logf("%d subscribers killed; %d messages, %d missed here; the publisher went on at most %v after a death",
				rounds, published, missed, stall)
		})
	}
}

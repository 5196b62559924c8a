//go:build linux && (amd64 || arm64)

package ringbuffer

// Loans between processes, and processes killed by SIGKILL while they
// hold one: a writer killed with a slot half written publishes nothing
// and the ring goes on; a reader killed with a message borrowed leaves it,
// whole, for the next reader. The children use the loan paths of killQ
// and psChild, which stop at the kill points of core.go: pointWriting,
// half the loaned slot written; pointReading, the borrowed message read
// and not yet released.
//
//	test                     kills (without -race; -race and -short: fewer)
//	TestKillLoanWriter       3 kinds x 59 at pointWriting
//	TestKillLoanReader       3 kinds x 60 at pointReading
//	TestKillLoanPublisher    2 policies x 59, at the publisher's points
//	TestKillLoanSubscriber   2 policies x 50 at pointReading

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/shmkit/shmkit/internal/testproc"
	"github.com/shmkit/shmkit/shm"
)

// loanKinds are the rings that lend: single-producer, multi-producer, and
// a Queue of plain T.
var loanKinds = []string{"spsc", "ring", "queue"}

// TestKillLoanWriter kills producer processes that hold a loan, with half
// the slot written, again and again: this process, which takes messages
// by Pop and Borrow in turn (and pushes by Push and Loan in turn, in the
// multi-producer kinds), receives each dead producer's first N-1 messages
// and no other, untorn and in order, and the ring works at full capacity
// afterwards.
func TestKillLoanWriter(t *testing.T) {
	for _, kind := range loanKinds {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			rounds := killRounds(60, 16)
			seg := testSeg(t)
			q := newKillQ(t, seg, kind, "q", 8)
			q.loans = 2
			if _, err := q.tryPop(); err != errEmpty { // takes the consumer role
				t.Fatal(err)
			}
			sink := killSink(t, q, 0)
			var live *killWorker
			if kind != "spsc" {
				live = killSource(t, q, killLive, 500*time.Microsecond)
			}
			want := map[uint32][]killID{}
			after := 0
			ahead := killAhead
			if kind == "spsc" {
				ahead = 1 // one producer at a time, each after the one before
			}
			killPipeline(rounds, ahead, func(i int) *testproc.Proc {
				n := 1 + (i*5)%19 // up to 2.3 laps
				s := killSpec{Role: "producer", Kind: kind, Name: "q", Point: pointWriting, N: n, How: "kill",
					Prod: uint32(i + 1), Count: n + 3, Loans: 1}
				if kind == "spsc" {
					s.After = after
				}
				if i == rounds-1 {
					s.Point, s.Count = "", 5 // the last one lives
				}
				for seq := range s.Count {
					if s.Point == "" || seq < n-1 {
						want[s.Prod] = append(want[s.Prod], killID{s.Prod, uint32(seq)})
					}
				}
				p := killStart(t, seg, s)
				after = p.Pid()
				return p
			}, func(i int, p *testproc.Proc) {
				if i < rounds-1 {
					killMustDie(t, p, fmt.Sprintf("producer %d", i+1))
				} else {
					p.Succeed()
				}
				killHealthy(t, sink)
			})
			if live != nil {
				killStop(t, live, "this process's producer")
			}
			// Every producer is gone: wait until the sink took everything
			// (and stepped over the holes), then stop it.
			guard := killContext(t)
			for q.core().length() > 0 {
				if guard.Err() != nil {
					t.Fatalf("the ring still holds %d cells", q.core().length())
				}
				killHealthy(t, sink)
				time.Sleep(time.Millisecond)
			}
			killStop(t, sink, "this process's consumer")
			got := append(sink.ids, killDrain(t, q)...)
			killExactlyOnce(t, got)
			killInOrder(t, "this process", got)
			byProd := map[uint32][]killID{}
			for _, id := range got {
				if id.Prod != killLive {
					byProd[id.Prod] = append(byProd[id.Prod], id)
				}
			}
			for prod, ids := range want {
				if !slices.Equal(byProd[prod], ids) {
					t.Errorf("producer %d: received %v, want %v", prod, byProd[prod], ids)
				}
			}
			if len(byProd) > len(want) {
				t.Errorf("messages of %d producers, %d wrote", len(byProd), len(want))
			}
			t.Logf("%d producers killed holding a loan, %d messages", rounds-1, len(got))
			killCheckAfter(t, q)
			// The whole capacity is back: no slot stays with the dead.
			for i := range q.ring.Cap() {
				if err := q.tryPush(killID{killAfter, uint32(1000 + i)}); err != nil {
					t.Fatalf("push %d of %d after the kills: %v", i+1, q.ring.Cap(), err)
				}
			}
			if err := q.tryPush(killID{killAfter, 0}); err != errFull {
				t.Fatalf("push past the capacity after the kills: %v", err)
			}
			if ids := killDrain(t, q); len(ids) != q.ring.Cap() {
				t.Fatalf("drained %d messages after filling the ring, want %d", len(ids), q.ring.Cap())
			}
		})
	}
}

// TestKillLoanReader kills consumer processes that hold a borrowed
// message, read and not yet released, again and again, while this
// process pushes (by Push and Loan in turn): each such message goes to
// the next reader, whole, so that the consumers together, this process
// draining last, receive every message pushed exactly once, none lost,
// each consumer in order.
func TestKillLoanReader(t *testing.T) {
	for _, kind := range loanKinds {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			rounds := killRounds(60, 16)
			seg := testSeg(t)
			q := newKillQ(t, seg, kind, "q", 8)
			q.loans = 2
			dir := t.TempDir()
			src := killSource(t, q, killLive, 0)
			logs := make([][]killID, rounds)
			after := 0
			ahead := killAhead
			if kind == "spsc" {
				ahead = 1
			}
			killPipeline(rounds, ahead, func(i int) *testproc.Proc {
				s := killSpec{Role: "consumer", Kind: kind, Name: "q", Point: pointReading, N: 1 + (i*5)%19,
					How: "kill", Log: filepath.Join(dir, strconv.Itoa(i)), Loans: 1}
				if kind == "spsc" {
					s.After = after
				}
				p := killStart(t, seg, s)
				after = p.Pid()
				return p
			}, func(i int, p *testproc.Proc) {
				killMustDie(t, p, fmt.Sprintf("consumer %d", i))
				logs[i] = killReadLog(t, filepath.Join(dir, strconv.Itoa(i)))
				killHealthy(t, src)
			})
			pushed := killStop(t, src, "this process's producer").n
			drained := killDrain(t, q)
			for i, l := range logs {
				killInOrder(t, fmt.Sprintf("consumer %d", i), l)
			}
			killInOrder(t, "this process", drained)
			seen := killExactlyOnce(t, append(logs, drained)...)
			missing := 0
			for seq := range pushed {
				if !seen[killID{killLive, uint32(seq)}] {
					if missing++; missing <= 5 {
						t.Errorf("message %d/%d lost", killLive, seq)
					}
				}
			}
			if len(seen) != pushed || missing > 0 {
				t.Errorf("%d messages pushed, %d received, %d lost", pushed, len(seen), missing)
			}
			if kind == "spsc" {
				var all []killID
				for _, l := range append(logs, drained) {
					all = append(all, l...)
				}
				killInOrder(t, "the consumers one after the other", all)
			}
			t.Logf("%d consumers killed holding a borrowed message, %d messages", rounds, pushed)
			killCheckAfter(t, q)
		})
	}
}

// TestKillLoanPublisher kills PubSub publishers that hold a loan, at each
// of their points (the slot lent, half written, written and not yet
// committed), at every position of the ring in turn: the next publisher
// process goes on, and a subscriber receives exactly the messages
// committed before each kill, none torn (in a lossy ring, less those its
// LappedErrors count).
func TestKillLoanPublisher(t *testing.T) {
	for _, policy := range []Policy{Lossless, Lossy} {
		t.Run(policy.String(), func(t *testing.T) {
			t.Parallel()
			rounds := killRounds(60, 12)
			seg := testSeg(t)
			ps, err := NewPubSub[killMsg](8, 2, policy, shm.In(seg, "ps"))
			if err != nil {
				t.Fatal(err)
			}
			col := psCollector(t, ps, true)
			var want []killID
			killPipeline(rounds, 1, func(i int) *testproc.Proc {
				n := 1 + (i*5)%19
				s := psSpec{Role: "publisher", Name: "ps", Prod: uint32(i + 1), Point: psPubPoints[i%3], N: n, Count: n + 3, Loan: true}
				if i == rounds-1 {
					s.Point, s.Count = "", 5
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
			col.await(t, want[len(want)-1])
			if err := col.stop(); err != nil {
				t.Fatal(err)
			}
			missed := psCheckLaps(t, col.ids, want)
			if policy == Lossless && missed != 0 {
				t.Fatalf("a lossless subscriber missed %d", missed)
			}
			t.Logf("%d publishers killed holding a loan, %d messages, %d missed", rounds-1, len(want), missed)
		})
	}
}

// TestKillLoanSubscriber kills subscriber processes that hold a borrowed
// message: the publisher of this process, which publishes by Publish and
// Loan in turn, goes on within a liveness recheck of each death (in a
// lossless ring the dead subscriber's cursor held it back), and a
// subscriber of this process receives every message.
func TestKillLoanSubscriber(t *testing.T) {
	for _, policy := range []Policy{Lossless, Lossy} {
		t.Run(policy.String(), func(t *testing.T) {
			t.Parallel()
			rounds := killRounds(50, 8)
			seg := testSeg(t)
			ps, err := NewPubSub[killMsg](8, 3, policy, shm.In(seg, "ps"))
			if err != nil {
				t.Fatal(err)
			}
			col := psCollector(t, ps, false)
			pub := psPublisher(t, ps)
			var stall time.Duration
			killPipeline(rounds, 1, func(i int) *testproc.Proc {
				return psStart(t, seg, psSpec{Role: "subscriber", Name: "ps", History: i % 9, Point: pointReading, N: 1 + (i*7)%23, Loan: true})
			}, func(i int, p *testproc.Proc) {
				killMustDie(t, p, fmt.Sprintf("subscriber %d", i))
				dead := time.Now()
				target := ps.Published() + 2*uint64(ps.Cap())
				guard := killContext(t)
				for ps.Published() < target {
					if guard.Err() != nil {
						t.Fatalf("subscriber %d died holding a borrow; the publisher stays at %d", i, ps.Published())
					}
					time.Sleep(100 * time.Microsecond)
				}
				stall = max(stall, time.Since(dead))
			})
			published := pub.stop(t)
			col.await(t, killID{killLive, published - 1})
			if err := col.stop(); err != nil {
				t.Fatal(err)
			}
			if col.next != published || (policy == Lossless && col.missed != 0) {
				t.Fatalf("%d messages received or missed, %d of them missed; %d published", col.next, col.missed, published)
			}
			t.Logf("%d subscribers killed holding a borrow; %d messages; the publisher went on at most %v after a death",
				rounds, published, stall)
		})
	}
}

// psPub is a goroutine of this process that publishes killLive messages,
// by Publish and Loan in turn, until stopped.
type psPub struct {
	cancel context.CancelFunc
	done   chan struct{}
	n      uint32
	err    error
}

func psPublisher(t testing.TB, ps *PubSub[killMsg]) *psPub {
	ctx, cancel := context.WithCancel(context.Background())
	p := &psPub{cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(p.done)
		for ; ctx.Err() == nil; p.n++ {
			if p.n%64 == 0 {
				time.Sleep(100 * time.Microsecond) // a lossy publisher would take a core
			}
			m := makeKillMsg(killID{killLive, p.n})
			var err error
			if p.n%2 == 0 {
				err = ps.Publish(ctx, m)
			} else {
				var l Loan[killMsg]
				if l, err = ps.Loan(ctx); err == nil {
					*l.Value() = m
					err = l.Commit()
				}
			}
			if err != nil {
				if err != ctx.Err() {
					p.err = err
				}
				return
			}
		}
	}()
	t.Cleanup(func() { cancel(); <-p.done }) // before the segment goes
	return p
}

// stop stops the publisher and returns how many it published.
func (p *psPub) stop(t testing.TB) uint32 {
	t.Helper()
	p.cancel()
	<-p.done
	if p.err != nil {
		t.Fatal(p.err)
	}
	return p.n
}

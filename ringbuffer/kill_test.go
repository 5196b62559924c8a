//go:build linux && (amd64 || arm64)

package ringbuffer

// Crash consistency: producers and consumers die by SIGKILL at chosen
// points of the algorithms (the kill points of core.go), or at random
// moments, and the survivors must receive exactly the committed messages,
// none torn, each once, and go on using the ring.
//
// A child dies at a point by itself: testHook counts its arrivals at the
// point and, at the Nth, sends SIGKILL to its own process, which lands
// exactly there; the parent checks that the child was killed. N varies
// with the round, so that the kills land at every position of the ring,
// across its wrap-around. A few tests freeze a child at a point instead
// (testproc Point/WaitPoint) and act while it is stopped there.
//
// Every message names its producer and its number and carries a checksum
// (killMsg for the plain-struct rings, killFrame, gob-encoded in frames of
// several 64-byte cells, for Queue), so that a torn message cannot pass.
// What was committed is known exactly: a producer killed at its Nth
// arrival at pointClaimed, pointWriting or pointPublish has committed its
// first N-1 messages and no other; a consumer killed at pointReading loses
// nothing, one killed at pointTaken loses at most the message it took.
//
// Counts (one child process per kill). A child start costs about 8 ms of
// wall time and 16 ms of CPU, 36 ms and 90 ms under -race, on the 2-core
// machine these were tuned on; the file takes about 40 s, and 80 s under
// -race, there. The race detector run keeps 500 kills per role, spread
// over the role's points.
//
//	test                       without -race            with -race
//	TestKillProducerPoints     750 per point (250 Ring, 176 per point (528
//	                           250 gob Queue, 250 raw   for the producer role)
//	                           Queue, for claimed/
//	                           writing/publish)
//	TestKillConsumerPoints     750 per point (250 per   252 per point (504
//	                           kind, for reading/taken) for the consumer role)
//	TestKillSPSCProducer       199 at writing           49
//	TestKillSPSCConsumer       200 at reading/taken     50
//	TestKillRandomMoments      2 x 44 random kills      2 x 24
//	TestKillWaker              24 at pointWake          24
//	TestKillFrozen*            22 frozen children       22
//	TestKillSlotTakeover       2                        2
//
// -short divides the large counts by ten. The waits are bounded (contexts,
// testproc timeouts), so that a bug fails a test instead of hanging it,
// and no check depends on speed.

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc64"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/shmkit/shmkit/internal/mem"
	"github.com/shmkit/shmkit/internal/owner"
	"github.com/shmkit/shmkit/internal/rawq"
	"github.com/shmkit/shmkit/internal/shmtest"
	"github.com/shmkit/shmkit/internal/testproc"
	"github.com/shmkit/shmkit/shm"
)

// Rounds of the kill tests (see the table above).
func killRounds(normal, race int) int {
	n := normal
	if raceEnabled {
		n = race
	}
	if testing.Short() {
		n = max(n/10, 6)
	}
	return n
}

const (
	// killAhead is how many children a kill test keeps running at once, so
	// that start-ups overlap.
	killAhead = 3
	// killGuard bounds each wait of the kill tests: a hang detector.
	killGuard = time.Minute
	// killChildTimeout is the testproc timeout of each child.
	killChildTimeout = 3 * time.Minute
)

// Producer ids: children count from 1, the parent's producers use these.
const (
	killLive     = 1 << 28 // the parent's producer during the kills
	killAfter    = 1<<28 + 1
	killFixedPad = 1 << 27 // frames of one size (see killPadLen)
)

// killID names a message: its producer and its number.
type killID struct{ Prod, Seq uint32 }

func (id killID) String() string { return fmt.Sprintf("%d/%d", id.Prod, id.Seq) }

// killMsg is the message of the plain-struct rings: 64 bytes, so that a
// write stopped half way (pointWriting) leaves the id of the new message
// and the body and sum of an old one.
type killMsg struct {
	Prod, Seq uint32
	Body      [6]uint64
	Sum       uint64
}

func (m *killMsg) sum() uint64 {
	h := shmtest.Mix(uint64(m.Prod)<<32 | uint64(m.Seq))
	for _, b := range m.Body {
		h = shmtest.Mix(h ^ b)
	}
	return h
}

func makeKillMsg(id killID) killMsg {
	m := killMsg{Prod: id.Prod, Seq: id.Seq}
	x := uint64(id.Prod)<<32 | uint64(id.Seq)
	for i := range m.Body {
		m.Body[i] = shmtest.Mix(x + uint64(i+1)*0x9e3779b97f4a7c15)
	}
	m.Sum = m.sum()
	return m
}

var errKillTorn = errors.New("torn or corrupt message")

func (m *killMsg) check() (killID, error) {
	id := killID{m.Prod, m.Seq}
	if m.Sum != m.sum() || *m != makeKillMsg(id) {
		return id, fmt.Errorf("%w: %+v", errKillTorn, *m)
	}
	return id, nil
}

// killFrame is the message of the gob Queues: 20 to 320 bytes of padding
// make frames of 2 to 7 cells.
type killFrame struct {
	Prod, Seq uint32
	Pad       []byte
	Sum       uint64
}

var killCRC = crc64.MakeTable(crc64.ECMA)

// killPadLen is the padding of message id: of one length for the
// producers marked killFixedPad, so that their frames all take the same
// cells (numbers 1 to 127 encode in one byte, and Sum in nine).
func killPadLen(id killID) int {
	if id.Prod&killFixedPad != 0 {
		return 150
	}
	return 20 + int(shmtest.Mix(uint64(id.Prod)<<32|uint64(id.Seq))%301)
}

func makeKillFrame(id killID) killFrame {
	f := killFrame{Prod: id.Prod, Seq: id.Seq, Pad: make([]byte, killPadLen(id))}
	x := shmtest.Mix(uint64(id.Prod)<<32 | uint64(id.Seq))
	for i := range f.Pad {
		if i%8 == 0 {
			x = shmtest.Mix(x + 1)
		}
		f.Pad[i] = byte(x >> (8 * (i % 8)))
	}
	f.Sum = f.sum()
	return f
}

func (f *killFrame) sum() uint64 {
	return crc64.Checksum(f.Pad, killCRC) ^ shmtest.Mix(uint64(f.Prod)<<32|uint64(f.Seq)) | 1<<63
}

func (f *killFrame) check() (killID, error) {
	id := killID{f.Prod, f.Seq}
	want := makeKillFrame(id)
	if f.Sum != f.sum() || f.Sum != want.Sum || string(f.Pad) != string(want.Pad) {
		return id, fmt.Errorf("%w: frame %v with %d bytes of padding", errKillTorn, id, len(f.Pad))
	}
	return id, nil
}

// killQ is the ring under test: a multi-producer Ring of killMsg
// ("ring"), a single-producer one ("spsc"), or a gob Queue of killFrame
// ("gob", or "raw": its messages put and taken through rawq, gob-encoded
// by the caller, the halves of each from two buffers).
type killQ struct {
	kind string
	ring *Ring[killMsg]
	gob  *Queue[killFrame]
	raw  rawq.Queue
	// loans, for a ring: 0 pushes and pops, 1 loans and borrows, 2
	// alternates between the two.
	loans int
	turn  atomic.Uint32
}

// loan reports whether q's next push or pop is a loan.
func (q *killQ) loan() bool {
	switch q.loans {
	case 0:
		return false
	case 1:
		return true
	}
	return q.turn.Add(1)%2 == 0
}

// loanPush pushes message id through a loan of the next slot: half of it
// written, then kill point pointWriting, then the rest and Commit.
func (q *killQ) loanPush(ctx context.Context, id killID, wait bool) error {
	var l Loan[killMsg]
	var err error
	if wait {
		l, err = q.ring.Loan(ctx)
	} else {
		l, err = q.ring.TryLoan()
	}
	if err != nil {
		return err
	}
	m := makeKillMsg(id)
	b := mem.Bytes(&m)
	copy(mem.Bytes(l.Value())[:len(b)/2], b)
	hook(pointWriting)
	*l.Value() = m
	return l.Commit()
}

// loanPop pops a message through a borrow: a copy of it, then kill point
// pointReading, then Release.
func (q *killQ) loanPop(ctx context.Context, wait bool) (killID, error) {
	var b Borrowed[killMsg]
	var err error
	if wait {
		b, err = q.ring.Borrow(ctx)
	} else {
		b, err = q.ring.TryBorrow()
	}
	if err != nil {
		return killID{}, err
	}
	m := *b.Value()
	hook(pointReading)
	if err := b.Release(); err != nil {
		return killID{}, err
	}
	return m.check()
}

// newKillQ makes the ring of kind called name in seg: of size slots, or
// for "gob" and "raw" of size*4 cells of 64 bytes.
func newKillQ(t testing.TB, seg *shm.Segment, kind, name string, size int) *killQ {
	t.Helper()
	q := &killQ{kind: kind}
	var err error
	switch kind {
	case "ring":
		q.ring, err = NewRing[killMsg](size, shm.In(seg, name))
	case "spsc":
		q.ring, err = NewSPSCRing[killMsg](size, shm.In(seg, name))
	case "queue": // a Queue of plain T, through its ring's view
		var x *Queue[killMsg]
		if x, err = NewQueue[killMsg](size, shm.In(seg, name)); err == nil {
			q.ring = x.ring
		}
	case "gob", "raw":
		if q.gob, err = NewQueue[killFrame](size, shm.In(seg, name)); err == nil && kind == "raw" {
			q.raw, err = rawq.Of(q.gob)
		}
	default:
		err = fmt.Errorf("unknown kind %q", kind)
	}
	if err != nil {
		t.Fatal(err)
	}
	return q
}

func openKillQ(seg *shm.Segment, kind, name string) (*killQ, error) {
	q := &killQ{kind: kind}
	var err error
	switch kind {
	case "ring", "spsc":
		q.ring, err = OpenRing[killMsg](context.Background(), seg, name)
		if err == nil && q.ring.SingleProducer() != (kind == "spsc") {
			err = fmt.Errorf("ring %q: single producer %v", name, q.ring.SingleProducer())
		}
	case "queue":
		var x *Queue[killMsg]
		if x, err = OpenQueue[killMsg](context.Background(), seg, name); err == nil {
			q.ring = x.ring
		}
	case "gob", "raw":
		if q.gob, err = OpenQueue[killFrame](context.Background(), seg, name); err == nil && kind == "raw" {
			q.raw, err = rawq.Of(q.gob)
		}
	default:
		err = fmt.Errorf("unknown kind %q", kind)
	}
	return q, err
}

func (q *killQ) core() *core {
	if q.ring != nil {
		return q.ring.c
	}
	return q.gob.c
}

func (q *killQ) free() error {
	if q.ring != nil {
		return q.ring.Free()
	}
	return q.gob.Free()
}

func (q *killQ) push(ctx context.Context, id killID) error {
	switch {
	case q.ring != nil && q.loan():
		return q.loanPush(ctx, id, true)
	case q.ring != nil:
		return q.ring.Push(ctx, makeKillMsg(id))
	case q.raw != nil:
		b := killRawBytes(id)
		return q.raw.Put(ctx, b[:len(b)/2], b[len(b)/2:])
	}
	return q.gob.Put(ctx, makeKillFrame(id))
}

func (q *killQ) tryPush(id killID) error {
	switch {
	case q.ring != nil && q.loan():
		return q.loanPush(context.Background(), id, false)
	case q.ring != nil:
		return q.ring.TryPush(makeKillMsg(id))
	case q.raw != nil:
		b := killRawBytes(id)
		return q.raw.TryPut(b[:len(b)/2], b[len(b)/2:])
	}
	return q.gob.TryPut(makeKillFrame(id))
}

// killRawBytes is the encoding of message id in a "raw" queue.
func killRawBytes(id killID) []byte {
	f := makeKillFrame(id)
	b, err := Gob[killFrame]{}.Append(nil, &f)
	if err != nil {
		panic(err)
	}
	return b
}

// killRawReader decodes a message of a "raw" queue where it lies.
type killRawReader struct{ f killFrame }

func (r *killRawReader) Read(b []byte) error {
	r.f = killFrame{}
	return Gob[killFrame]{}.Decode(b, &r.f)
}

// pushBatch pushes ids with PushBatch (Ring) or one by one (Queue).
func (q *killQ) pushBatch(ctx context.Context, ids []killID) (int, error) {
	if q.ring == nil {
		for i, id := range ids {
			if err := q.push(ctx, id); err != nil {
				return i, err
			}
		}
		return len(ids), nil
	}
	ms := make([]killMsg, len(ids))
	for i, id := range ids {
		ms[i] = makeKillMsg(id)
	}
	return q.ring.PushBatch(ctx, ms)
}

func (q *killQ) pop(ctx context.Context) (killID, error) {
	if q.ring != nil && q.loan() {
		return q.loanPop(ctx, true)
	}
	if q.ring != nil {
		m, err := q.ring.Pop(ctx)
		if err != nil {
			return killID{}, err
		}
		return m.check()
	}
	if q.raw != nil {
		var r killRawReader
		if err := q.raw.Get(ctx, &r); err != nil {
			return killID{}, err
		}
		return r.f.check()
	}
	f, err := q.gob.Get(ctx)
	if err != nil {
		return killID{}, err
	}
	return f.check()
}

func (q *killQ) tryPop() (killID, error) {
	if q.ring != nil && q.loan() {
		return q.loanPop(context.Background(), false)
	}
	if q.ring != nil {
		m, err := q.ring.TryPop()
		if err != nil {
			return killID{}, err
		}
		return m.check()
	}
	if q.raw != nil {
		var r killRawReader
		if err := q.raw.TryGet(&r); err != nil {
			return killID{}, err
		}
		return r.f.check()
	}
	f, err := q.gob.TryGet()
	if err != nil {
		return killID{}, err
	}
	return f.check()
}

// popSome pops up to n messages (PopBatch on a Ring when n > 1), at least
// one.
func (q *killQ) popSome(ctx context.Context, n int) ([]killID, error) {
	if n <= 1 || q.ring == nil {
		id, err := q.pop(ctx)
		if err != nil {
			return nil, err
		}
		return []killID{id}, nil
	}
	ms := make([]killMsg, n)
	k, err := q.ring.PopBatch(ctx, ms)
	if err != nil {
		return nil, err
	}
	ids := make([]killID, k)
	for i := range k {
		if ids[i], err = ms[i].check(); err != nil {
			return nil, err
		}
	}
	return ids, nil
}

// killSpec is what a child does, passed as JSON after the segment's name.
type killSpec struct {
	Role  string // "producer" or "consumer"
	Kind  string // of killQ
	Name  string
	Point string // a kill point, "" for none
	N     int    // die (or freeze) at the Nth arrival there
	How   string // "kill" or "freeze"
	Prod  uint32 // producer id
	Count int    // messages to push or pop, 0 for no end
	Batch int    // push or pop in batches of this many
	Log   string // file to log to: consumers every id, producers their count
	Ready bool   // stop at point "running" before the first message
	Sleep bool   // wait for a sleeper on the word this child wakes first
	After int    // single-producer rings: wait until this process has held the role
	Loans int    // rings: killQ.loans
}

func killStart(t testing.TB, seg *shm.Segment, s killSpec) *testproc.Proc {
	t.Helper()
	b, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	return testproc.Start(t, killChild, testproc.Arg(seg.Name()+" "+string(b)), testproc.Timeout(killChildTimeout))
}

// killHook makes this process die by SIGKILL, or freeze at a testproc
// point of the same name, at its nth arrival at point.
func killHook(c *testproc.Child, point string, n int, freeze bool) {
	arrivals := 0
	testHook = func(p string) {
		if p != point {
			return
		}
		if arrivals++; arrivals != n {
			return
		}
		if freeze {
			c.Point(p)
			return
		}
		syscall.Kill(os.Getpid(), syscall.SIGKILL)
		for {
			time.Sleep(time.Hour)
		}
	}
}

var killChild = testproc.Register("ringbuffer-kill", func(c *testproc.Child) error {
	seg, f, err := shmtest.OpenArgs(c)
	if err != nil {
		return err
	}
	defer seg.Close()
	var s killSpec
	if err := json.Unmarshal([]byte(strings.Join(f, " ")), &s); err != nil {
		return fmt.Errorf("argument %q: %v", f, err)
	}
	q, err := openKillQ(seg, s.Kind, s.Name)
	if err != nil {
		return err
	}
	q.loans = s.Loans
	var log *os.File
	if s.Log != "" {
		if log, err = os.OpenFile(s.Log, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600); err != nil {
			return err
		}
		defer log.Close()
	}
	ctx, cancel := context.WithTimeout(context.Background(), killChildTimeout)
	defer cancel()
	if s.Point != "" {
		killHook(c, s.Point, s.N, s.How == "freeze")
	}
	if s.Ready {
		c.Point("running")
	}
	if s.After != 0 {
		// Take the role only after the process before has held it (the
		// role is then taken over once that one is dead).
		off := uintptr(offProducer)
		if s.Role == "consumer" {
			off = offConsumer
		}
		w := mem.Uint64(q.core().o.Bytes(), off)
		for owner.Pid(atomic.LoadUint64(w)) != s.After {
			if ctx.Err() != nil {
				return fmt.Errorf("process %d never held the %s role", s.After, s.Role)
			}
			time.Sleep(100 * time.Microsecond)
		}
	}
	if s.Sleep {
		// Wait until the other process sleeps (or is about to) on the word
		// that this child's first operation wakes.
		w := q.core().empty
		if s.Role == "consumer" {
			w = q.core().full
		}
		for atomic.LoadUint32(w)&1 == 0 {
			if ctx.Err() != nil {
				return errors.New("nobody went to sleep")
			}
			time.Sleep(100 * time.Microsecond)
		}
		time.Sleep(2 * time.Millisecond)
	}
	busy := func(err error) bool {
		if !errors.Is(err, ErrBusy) {
			return false
		}
		time.Sleep(100 * time.Microsecond) // the role's holder has yet to die
		return ctx.Err() == nil
	}
	switch s.Role {
	case "producer":
		for seq := 0; s.Count == 0 || seq < s.Count; {
			n := 1
			if s.Batch > 1 {
				ids := make([]killID, s.Batch)
				if s.Count > 0 {
					ids = ids[:min(s.Batch, s.Count-seq)]
				}
				for i := range ids {
					ids[i] = killID{s.Prod, uint32(seq + i)}
				}
				n, err = q.pushBatch(ctx, ids)
			} else {
				err = q.push(ctx, killID{s.Prod, uint32(seq)})
			}
			if busy(err) {
				continue
			}
			if err != nil {
				return fmt.Errorf("producer %d, message %d: %w", s.Prod, seq, err)
			}
			seq += n
			if log != nil {
				if _, err := log.Write(binary.LittleEndian.AppendUint32(nil, uint32(seq))); err != nil {
					return err
				}
			}
		}
	case "consumer":
		for got := 0; s.Count == 0 || got < s.Count; {
			ids, err := q.popSome(ctx, s.Batch)
			if busy(err) {
				continue
			}
			if err != nil {
				return fmt.Errorf("consumer: %w", err)
			}
			if log != nil {
				var b []byte
				for _, id := range ids {
					b = binary.LittleEndian.AppendUint32(b, id.Prod)
					b = binary.LittleEndian.AppendUint32(b, id.Seq)
				}
				if _, err := log.Write(b); err != nil {
					return err
				}
			}
			got += len(ids)
		}
	default:
		return fmt.Errorf("unknown role %q", s.Role)
	}
	return nil
})

// killReadLog reads a consumer's log: the ids it received, in order.
func killReadLog(t testing.TB, path string) []killID {
	t.Helper()
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	if len(b)%8 != 0 {
		t.Fatalf("%s: %d bytes", path, len(b))
	}
	var ids []killID
	for ; len(b) > 0; b = b[8:] {
		ids = append(ids, killID{binary.LittleEndian.Uint32(b), binary.LittleEndian.Uint32(b[4:])})
	}
	return ids
}

// killReadCount reads a producer's log: how many pushes it saw return.
func killReadCount(t testing.TB, path string) int {
	t.Helper()
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return 0
	}
	if err != nil {
		t.Fatal(err)
	}
	if len(b)%4 != 0 {
		t.Fatalf("%s: %d bytes", path, len(b))
	}
	if len(b) == 0 {
		return 0
	}
	return int(binary.LittleEndian.Uint32(b[len(b)-4:]))
}

// killMustDie waits for a child that was to die by SIGKILL.
func killMustDie(t testing.TB, p *testproc.Proc, what string) {
	t.Helper()
	if res := p.Wait(); !res.Killed() {
		t.Fatalf("%s: child %d was to die by SIGKILL, ended with exit code %d:\n%s", what, p.Pid(), res.ExitCode, res.Output)
	}
}

// killPipeline runs the children of rounds rounds, ahead at a time:
// start starts the child of round i, done waits for it.
func killPipeline(rounds, ahead int, start func(i int) *testproc.Proc, done func(i int, p *testproc.Proc)) {
	var running []*testproc.Proc
	next := 0
	for i := range rounds {
		for next < rounds && next-i < ahead {
			running = append(running, start(next))
			next++
		}
		done(i, running[0])
		running = running[1:]
	}
}

// killContext is a context for a short test, or a step of one: a hang
// guard.
func killContext(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), killGuard)
	t.Cleanup(cancel)
	return ctx
}

// killRand is a random source whose seed the test logs.
func killRand(t testing.TB) *rand.Rand {
	seed := uint64(time.Now().UnixNano())
	if s, err := strconv.ParseUint(os.Getenv("RINGBUFFER_KILL_SEED"), 10, 64); err == nil {
		seed = s
	}
	t.Logf("random seed %d (set RINGBUFFER_KILL_SEED to repeat)", seed)
	return rand.New(rand.NewPCG(seed, 0x6b696c6c))
}

// killWorker is a goroutine of the parent that pushes or pops until
// stopped. It stops before the test's segment goes away.
type killWorker struct {
	cancel context.CancelFunc
	done   chan struct{}
	ids    []killID // a consumer: what it popped, in order
	n      int      // a producer: how many it pushed
	mu     sync.Mutex
	errs   []error // the first few errors it met
}

func (w *killWorker) fail(err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.errs) < 10 {
		w.errs = append(w.errs, err)
	}
}

func (w *killWorker) err() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return errors.Join(w.errs...)
}

func (w *killWorker) stop() *killWorker {
	w.cancel()
	<-w.done
	return w
}

// killStop stops w and fails the test if it failed.
func killStop(t testing.TB, w *killWorker, what string) *killWorker {
	t.Helper()
	if err := w.stop().err(); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	return w
}

// killHealthy fails the test at once if a worker failed, rather than
// when the children it leaves stuck time out.
func killHealthy(t testing.TB, ws ...*killWorker) {
	t.Helper()
	for _, w := range ws {
		if err := w.err(); err != nil {
			t.Fatalf("this process's producer or consumer failed: %v", err)
		}
	}
}

func killLanesHealthy(t testing.TB, lanes []*killLane) {
	t.Helper()
	for _, l := range lanes {
		killHealthy(t, l.sink, l.live)
	}
}

// killSink pops from q into its ids, pausing pace after each message.
func killSink(t testing.TB, q *killQ, pace time.Duration) *killWorker {
	ctx, cancel := context.WithCancel(context.Background())
	w := &killWorker{cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(w.done)
		for ctx.Err() == nil { // Pop returns what is there without looking
			id, err := q.pop(ctx)
			if errors.Is(err, errKillTorn) {
				w.fail(err) // and go on: the ring must
				continue
			}
			if err != nil {
				if ctx.Err() == nil || !errors.Is(err, ctx.Err()) {
					w.fail(err)
				}
				return
			}
			w.ids = append(w.ids, id)
			if pace > 0 {
				time.Sleep(pace)
			}
		}
	}()
	t.Cleanup(func() { w.stop() })
	return w
}

// killSource pushes prod's messages 0, 1, ... into q, pausing pace after
// each; n is how many it pushed.
func killSource(t testing.TB, q *killQ, prod uint32, pace time.Duration) *killWorker {
	ctx, cancel := context.WithCancel(context.Background())
	w := &killWorker{cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(w.done)
		for ctx.Err() == nil { // Push adds where there is room without looking
			if err := q.push(ctx, killID{prod, uint32(w.n)}); err != nil {
				if ctx.Err() == nil {
					w.fail(err)
				}
				return
			}
			w.n++
			if pace > 0 {
				time.Sleep(pace)
			}
		}
	}()
	t.Cleanup(func() { w.stop() })
	return w
}

// killDrain takes what is left in q once every producer is dead or done:
// holes of dead producers are skipped, and it ends at ErrEmpty.
func killDrain(t testing.TB, q *killQ) []killID {
	t.Helper()
	var ids []killID
	deadline := time.Now().Add(killGuard)
	for {
		id, err := q.tryPop()
		switch {
		case err == nil:
			ids = append(ids, id)
		case err == errEmpty:
			return ids
		case errors.Is(err, ErrEmpty):
			// A claim whose producer is being found dead.
			if time.Now().After(deadline) {
				t.Fatalf("draining: still %v after %v", err, killGuard)
			}
			time.Sleep(time.Millisecond)
		default:
			t.Fatalf("draining after %d messages: %v", len(ids), err)
		}
	}
}

// killExactlyOnce counts the deliveries of every id, failing the test on
// one delivered twice.
func killExactlyOnce(t testing.TB, lists ...[]killID) map[killID]bool {
	t.Helper()
	seen := map[killID]bool{}
	twice := 0
	for _, l := range lists {
		for _, id := range l {
			if seen[id] {
				if twice++; twice <= 10 {
					t.Errorf("message %v delivered twice", id)
				}
			}
			seen[id] = true
		}
	}
	if twice > 10 {
		t.Errorf("%d messages delivered twice in all", twice)
	}
	return seen
}

// killInOrder checks that ids hold every producer's messages in
// increasing order, as one consumer must receive them.
func killInOrder(t testing.TB, what string, ids []killID) {
	t.Helper()
	last := map[uint32]uint32{}
	for _, id := range ids {
		if l, ok := last[id.Prod]; ok && id.Seq <= l {
			t.Errorf("%s: message %v after %d/%d", what, id, id.Prod, l)
			return
		}
		last[id.Prod] = id.Seq
	}
}

// killCheckAfter makes sure q works after the kills: from this process,
// which takes over any role a dead child held, it pushes and pops
// messages past several wrap-arounds, in small groups, and checks them.
func killCheckAfter(t testing.TB, q *killQ) {
	t.Helper()
	ctx := killContext(t)
	if id, err := q.tryPop(); err != errEmpty {
		t.Fatalf("before the check after the kills: %v, %v (want empty)", id, err)
	}
	group := 4
	if q.gob != nil {
		group = min(group, int(q.gob.c.l.cells)/7) // frames of up to 7 cells
	}
	seq := uint32(0)
	for round := range 24 {
		k := 1 + round%group
		for i := range k {
			if err := q.push(ctx, killID{killAfter, seq + uint32(i)}); err != nil {
				t.Fatalf("pushing after the kills: %v", err)
			}
		}
		for i := range k {
			id, err := q.pop(ctx)
			if want := (killID{killAfter, seq + uint32(i)}); err != nil || id != want {
				t.Fatalf("popping after the kills: %v, %v, want %v", id, err, want)
			}
		}
		seq += uint32(k)
	}
	if id, err := q.tryPop(); err != errEmpty {
		t.Fatalf("after the check: %v, %v (want empty)", id, err)
	}
}

// killLane is one ring of a kill test, with this process's producer and
// consumer on it; the children of the test take turns among the lanes, so
// that the waits of one ring (a consumer sleeping until a dead producer's
// claim can be skipped) overlap with the work on the others.
type killLane struct {
	kind, name string
	point      string // consumer lanes: where the children die
	q          *killQ
	sink, live *killWorker
	rounds     []int // the children of this lane, by round
}

func killLanes(t *testing.T, seg *shm.Segment, kinds, points []string, sinkPace, livePace time.Duration) []*killLane {
	var lanes []*killLane
	for i, kind := range kinds {
		l := &killLane{kind: kind, name: "q" + strconv.Itoa(i), point: points[i]}
		size := 8 // Ring: 8 slots of 64 bytes; Queue: 16 cells of 64 bytes
		if kind == "gob" || kind == "raw" {
			size = 4
		}
		l.q = newKillQ(t, seg, kind, l.name, size)
		l.sink = killSink(t, l.q, sinkPace)
		l.live = killSource(t, l.q, killLive, livePace)
		lanes = append(lanes, l)
	}
	return lanes
}

// TestKillProducerPoints kills producer processes at their Nth arrival at
// pointClaimed, pointWriting and pointPublish, in turn, while this
// process pushes too and pops everything: each killed producer's first
// N-1 messages, and no other, must arrive, once, in order, untorn; all of
// this process's too. Hundreds of producers pass through each ring, so
// the producer table also fills with dead processes and their slots are
// taken over (without -race: 375 producers per ring, for 256 slots).
func TestKillProducerPoints(t *testing.T) {
	rounds := killRounds(750, 176) * 3 // 3 kinds
	seg := testSeg(t)
	lanes := killLanes(t, seg, []string{"ring", "ring", "gob", "gob", "raw", "raw"}, make([]string, 6), 0, 500*time.Microsecond)
	points := []string{pointClaimed, pointWriting, pointPublish}
	committed := make([]int, rounds+1) // by producer id
	point := make([]string, rounds+1)
	batches := 0
	killPipeline(rounds, 2*killAhead, func(i int) *testproc.Proc {
		l, j := lanes[i%len(lanes)], i/len(lanes)
		l.rounds = append(l.rounds, i)
		point[i+1] = points[j%3]
		n := 1 + (j/3*7+j%3*5)%29 // 1 to 29: up to 3.6 laps of the Ring, 8 of the Queue
		s := killSpec{Role: "producer", Kind: l.kind, Name: l.name, Point: point[i+1], N: n, How: "kill",
			Prod: uint32(i + 1), Count: n + 5}
		if l.kind == "ring" && point[i+1] == pointPublish && j/3%2 == 1 {
			// PushBatch commits message by message: the first n-1 are in.
			s.Batch = 3
			batches++
		}
		committed[i+1] = n - 1
		return killStart(t, seg, s)
	}, func(i int, p *testproc.Proc) {
		killMustDie(t, p, fmt.Sprintf("producer %d at its arrival %d at %q", i+1, committed[i+1]+1, point[i+1]))
		killLanesHealthy(t, lanes)
	})
	for _, l := range lanes {
		pushed := killStop(t, l.live, "this process's producer").n
		killStop(t, l.sink, "this process's consumer")
		got := append(l.sink.ids, killDrain(t, l.q)...)
		killInOrder(t, l.name+": the consumer", got)
		seen := killExactlyOnce(t, got)
		perProd := map[uint32]int{}
		for id := range seen {
			switch {
			case id.Prod == killLive:
				if int(id.Seq) >= pushed {
					t.Errorf("%s: message %v of %d pushed", l.name, id, pushed)
				}
			case id.Prod >= 1 && int(id.Prod) <= rounds && int(id.Prod-1)%len(lanes) == slices.Index(lanes, l):
				if int(id.Seq) >= committed[id.Prod] {
					t.Errorf("%s: message %v delivered, yet producer %d died at its arrival %d at %q",
						l.name, id, id.Prod, committed[id.Prod]+1, point[id.Prod])
				}
			default:
				t.Errorf("%s: message %v from nowhere", l.name, id)
			}
			perProd[id.Prod]++
		}
		if perProd[killLive] != pushed {
			t.Errorf("%s: %d of the %d messages of the live producer delivered", l.name, perProd[killLive], pushed)
		}
		wrong := 0
		for _, i := range l.rounds {
			if perProd[uint32(i+1)] != committed[i+1] {
				if wrong++; wrong <= 10 {
					t.Errorf("%s: producer %d killed at its arrival %d at %q: %d of its %d committed messages delivered",
						l.name, i+1, committed[i+1]+1, point[i+1], perProd[uint32(i+1)], committed[i+1])
				}
			}
		}
		t.Logf("%s (%s): %d producers killed, %d of their messages and %d of this process's delivered",
			l.name, l.kind, len(l.rounds), len(seen)-pushed, pushed)
		killCheckAfter(t, l.q)
	}
	t.Logf("%d producers killed, %d at each point, %d of them in PushBatch", rounds, rounds/3, batches)
}

// TestKillConsumerPoints kills consumer processes at their Nth arrival at
// pointReading or pointTaken, while this process pushes and also pops: a
// consumer killed at pointReading loses nothing, one killed at pointTaken
// at most the message it took; nothing arrives twice. Each lane (a ring)
// has its kind and its point.
func TestKillConsumerPoints(t *testing.T) {
	rounds := killRounds(250, 84) * 6 // 6 lanes
	seg := testSeg(t)
	dir := t.TempDir()
	lanes := killLanes(t, seg, []string{"ring", "ring", "gob", "gob", "raw", "raw"},
		[]string{pointReading, pointTaken, pointReading, pointTaken, pointReading, pointTaken}, 500*time.Microsecond, 0)
	logs := make([][]killID, rounds)
	batches := 0
	killPipeline(rounds, 2*killAhead, func(i int) *testproc.Proc {
		l, j := lanes[i%len(lanes)], i/len(lanes)
		l.rounds = append(l.rounds, i)
		s := killSpec{Role: "consumer", Kind: l.kind, Name: l.name, Point: l.point, N: 1 + (j*7)%23, How: "kill",
			Log: filepath.Join(dir, strconv.Itoa(i))}
		if l.kind == "ring" && l.point == pointReading && j%3 == 2 {
			s.Batch = 4 // PopBatch: a batch read and not taken is not lost either
			batches++
		}
		return killStart(t, seg, s)
	}, func(i int, p *testproc.Proc) {
		killMustDie(t, p, fmt.Sprintf("consumer %d at %q", i, lanes[i%len(lanes)].point))
		logs[i] = killReadLog(t, filepath.Join(dir, strconv.Itoa(i)))
		killLanesHealthy(t, lanes)
	})
	for _, l := range lanes {
		pushed := killStop(t, l.live, "this process's producer").n
		killStop(t, l.sink, "this process's consumer")
		drained := killDrain(t, l.q)
		killInOrder(t, l.name+": this process's consumer", append(slices.Clip(l.sink.ids), drained...))
		lists := [][]killID{l.sink.ids, drained}
		for _, i := range l.rounds {
			killInOrder(t, fmt.Sprintf("%s: consumer %d", l.name, i), logs[i])
			lists = append(lists, logs[i])
		}
		seen := killExactlyOnce(t, lists...)
		missing := 0
		for seq := range pushed {
			if !seen[killID{killLive, uint32(seq)}] {
				missing++
			}
		}
		for id := range seen {
			if id.Prod != killLive || int(id.Seq) >= pushed {
				t.Errorf("%s: message %v delivered, %d pushed", l.name, id, pushed)
			}
		}
		allowed := 0
		if l.point == pointTaken {
			allowed = len(l.rounds)
		}
		if missing > allowed {
			t.Errorf("%s: %d of %d messages lost by %d consumers killed at %q (at most %d may be)",
				l.name, missing, pushed, len(l.rounds), l.point, allowed)
		}
		t.Logf("%s (%s): %d consumers killed at %q, %d messages, %d lost with them, %d taken by this process",
			l.name, l.kind, len(l.rounds), l.point, pushed, missing, len(l.sink.ids)+len(drained))
		killCheckAfter(t, l.q)
	}
	t.Logf("%d consumers killed, %d at each point, %d of them in PopBatch", rounds, rounds/2, batches)
}

// TestKillSPSCProducer kills the producer of a single-producer ring in
// the middle of a push (pointWriting: half the slot written, the tail not
// moved), again and again: each time a new producer process takes the
// role over, and this process, the consumer, receives exactly the
// messages pushed before each death, in order.
func TestKillSPSCProducer(t *testing.T) {
	t.Parallel()
	rounds := killRounds(200, 50)
	seg := testSeg(t)
	q := newKillQ(t, seg, "spsc", "q", 8)
	if _, err := q.tryPop(); err != errEmpty { // takes the consumer role
		t.Fatal(err)
	}
	sink := killSink(t, q, 0)
	var want []killID
	after := 0 // each producer takes the role over from the one before
	killPipeline(rounds, killAhead, func(i int) *testproc.Proc {
		n := 1 + (i*5)%19 // up to 2.3 laps
		s := killSpec{Role: "producer", Kind: "spsc", Name: "q", Point: pointWriting, N: n, How: "kill",
			Prod: uint32(i + 1), Count: n + 3, After: after}
		if i == rounds-1 {
			s.Point, s.Count = "", 5 // the last one lives
		}
		for seq := range s.Count {
			if s.Point == "" || seq < n-1 {
				want = append(want, killID{s.Prod, uint32(seq)})
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
	killStop(t, sink, "this process's consumer")
	got := append(sink.ids, killDrain(t, q)...)
	if !slices.Equal(got, want) {
		killDiff(t, got, want)
	}
	t.Logf("%d producers killed at %q, %d messages", rounds-1, pointWriting, len(got))
	killCheckAfter(t, q)
}

// killDiff reports where got and want part.
func killDiff(t testing.TB, got, want []killID) {
	t.Helper()
	i := 0
	for i < len(got) && i < len(want) && got[i] == want[i] {
		i++
	}
	t.Errorf("%d messages received, %d expected; they part at %d: got %v, want %v",
		len(got), len(want), i, got[i:min(i+5, len(got))], want[i:min(i+5, len(want))])
}

// TestKillSPSCConsumer kills the consumer of a single-producer ring again
// and again, at pointReading (two rounds in three) or pointTaken: the next
// consumer process takes the role over and starts with the message the
// dead one was reading, or the one after the message it took.
func TestKillSPSCConsumer(t *testing.T) {
	t.Parallel()
	rounds := killRounds(200, 50)
	seg := testSeg(t)
	q := newKillQ(t, seg, "spsc", "q", 8)
	dir := t.TempDir()
	src := killSource(t, q, killLive, 0)
	points := make([]string, rounds)
	logs := make([][]killID, rounds)
	after := 0 // each consumer takes the role over from the one before
	killPipeline(rounds, killAhead, func(i int) *testproc.Proc {
		points[i] = pointReading
		if i%3 == 2 {
			points[i] = pointTaken
		}
		p := killStart(t, seg, killSpec{Role: "consumer", Kind: "spsc", Name: "q", Point: points[i], N: 1 + (i*5)%19,
			How: "kill", Log: filepath.Join(dir, strconv.Itoa(i)), After: after})
		after = p.Pid()
		return p
	}, func(i int, p *testproc.Proc) {
		killMustDie(t, p, fmt.Sprintf("consumer %d at %q", i, points[i]))
		logs[i] = killReadLog(t, filepath.Join(dir, strconv.Itoa(i)))
		killHealthy(t, src)
	})
	pushed := killStop(t, src, "this process's producer").n
	drained := killDrain(t, q) // this process takes the consumer role over
	// The messages arrive in order; a gap may only follow consumers killed
	// at pointTaken, one message at most for each.
	next, lost, allowed := uint32(0), 0, 0
	check := func(what string, l []killID) {
		for _, id := range l {
			if id.Prod != killLive || id.Seq < next || int(id.Seq-next) > allowed {
				t.Fatalf("%s: message %v after %d/%d, with %d consumers killed at %q in between",
					what, id, killLive, int(next)-1, allowed, pointTaken)
			}
			lost += int(id.Seq - next)
			next, allowed = id.Seq+1, 0
		}
	}
	for i, l := range logs {
		check(fmt.Sprintf("consumer %d", i), l)
		if points[i] == pointTaken {
			allowed++
		}
	}
	check("this process", drained)
	if int(next) > pushed || pushed-int(next) > allowed {
		t.Errorf("the last message received is %d/%d, %d were pushed", killLive, int(next)-1, pushed)
	}
	taken := 0
	for _, p := range points {
		if p == pointTaken {
			taken++
		}
	}
	t.Logf("%d consumers killed (%d at %q), %d messages, %d lost with them", rounds, taken, pointTaken, pushed, lost)
	killCheckAfter(t, q)
}

// TestKillSlotTakeover kills a producer with a claim pending and then
// makes this process take its slot in the producer table (the other slots
// are given to dead processes, as after MaxProducers producers died): the
// dead claim must not pass for a claim of the new, live holder of the
// slot. It is skipped at once, and the queue goes on.
func TestKillSlotTakeover(t *testing.T) {
	for _, kind := range []string{"ring", "gob"} {
		t.Run(kind, func(t *testing.T) {
			seg := testSeg(t)
			q := newKillQ(t, seg, kind, "q", 8)
			c := q.core()
			p := killStart(t, seg, killSpec{Role: "producer", Kind: kind, Name: "q", Point: pointClaimed, N: 2, How: "kill",
				Prod: 1, Count: 3})
			killMustDie(t, p, "a producer killed with a claim pending")
			dead := atomic.LoadUint64(&c.table[0])
			if owner.Pid(dead) != p.Pid() {
				t.Fatalf("slot 0 of the producer table holds %#x, not the dead producer %d", dead, p.Pid())
			}
			for i := 1; i < len(c.table); i++ {
				if !atomic.CompareAndSwapUint64(&c.table[i], 0, dead) {
					t.Fatalf("slot %d of the producer table is taken", i)
				}
			}
			if err := q.tryPush(killID{killLive, 0}); err != nil {
				t.Fatalf("pushing with every slot held by the dead: %v", err)
			}
			if i := c.idx.Load(); i != 1 {
				t.Fatalf("this process took slot %d, want 0 (the first dead producer's)", i-1)
			}
			for _, want := range []killID{{1, 0}, {killLive, 0}} {
				if id, err := q.tryPop(); err != nil || id != want {
					t.Fatalf("popped %v, %v, want %v", id, err, want)
				}
			}
			killCheckAfter(t, q)
		})
	}
}

// killGo runs f in a goroutine that is cancelled and waited for before the
// test's segment goes away; the channel gets its result.
func killGo[T any](t testing.TB, f func(ctx context.Context) T) <-chan T {
	ctx, cancel := context.WithTimeout(context.Background(), killGuard)
	ch := make(chan T, 1)
	done := make(chan struct{})
	go func() {
		defer close(done)
		ch <- f(ctx)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	return ch
}

// killRecv waits for what killGo's goroutine returns.
func killRecv[T any](t testing.TB, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(killGuard):
		t.Fatalf("%s: still blocked after %v", what, killGuard)
		panic("unreachable")
	}
}

type killPopped struct {
	id  killID
	err error
}

// killExpect pops want from q, in order.
func killExpect(t testing.TB, q *killQ, what string, want ...killID) {
	t.Helper()
	ctx := killContext(t)
	for _, w := range want {
		if id, err := q.pop(ctx); err != nil || id != w {
			t.Fatalf("%s: popped %v, %v, want %v", what, id, err, w)
		}
	}
}

// killUnbusy retries f while it fails with ErrBusy: a role's holder that
// was just killed is seen dead once the kernel has closed its files.
func killUnbusy(t testing.TB, what string, f func() error) {
	t.Helper()
	deadline := time.Now().Add(killGuard)
	for {
		err := f()
		if err == nil {
			return
		}
		if !errors.Is(err, ErrBusy) || time.Now().After(deadline) {
			t.Fatalf("%s: %v", what, err)
		}
		time.Sleep(time.Millisecond)
	}
}

// TestKillFrozenProducer stops a producer process at each producer point
// (testproc Point) and, while it is stopped there, pushes from this
// process (which moves the tail past a claim left at pointClaimed) and
// checks that no consumer gets past the pending claim. Then it either
// kills the producer, after which a consumer already waiting receives
// what this process pushed, or lets it go on, after which its message
// arrives first.
func TestKillFrozenProducer(t *testing.T) {
	killFrozenRuns(t, []string{pointClaimed, pointWriting, pointPublish}, killFrozenProducer)
}

// killFrozenRuns runs f for either kind of queue, each of points, and both
// outcomes of the frozen process: killed, or let go.
func killFrozenRuns(t *testing.T, points []string, f func(t *testing.T, kind, point, outcome string)) {
	for _, kind := range []string{"ring", "gob"} {
		for _, point := range points {
			for _, outcome := range []string{"kill", "continue"} {
				t.Run(kind+"/"+point+"/"+outcome, func(t *testing.T) { f(t, kind, point, outcome) })
			}
		}
	}
}

// killLiveID is message seq of this process.
func killLiveID(seq uint32) killID { return killID{killLive, seq} }

// killFrozenQ makes a queue of kind "q" of 16 slots in a fresh segment
// and puts this process's messages 0 to n-1 in it.
func killFrozenQ(t *testing.T, kind string, n uint32) (*shm.Segment, *killQ, context.Context) {
	t.Helper()
	seg := testSeg(t)
	q := newKillQ(t, seg, kind, "q", 16)
	ctx := killContext(t)
	for seq := range n {
		if err := q.push(ctx, killLiveID(seq)); err != nil {
			t.Fatal(err)
		}
	}
	return seg, q, ctx
}

func killFrozenProducer(t *testing.T, kind, point, outcome string) {
	seg, q, ctx := killFrozenQ(t, kind, 2)
	a := killLiveID
	p := killStart(t, seg, killSpec{Role: "producer", Kind: kind, Name: "q", Point: point, N: 1, How: "freeze", Prod: 1, Count: 1})
	p.WaitPoint(point)
	for seq := uint32(2); seq < 4; seq++ {
		if err := q.push(ctx, a(seq)); err != nil {
			t.Fatalf("pushing past a pending claim: %v", err)
		}
	}
	killExpect(t, q, "before the pending claim", a(0), a(1))
	if id, err := q.tryPop(); err != errPending {
		t.Fatalf("at a pending claim of a live producer: %v, %v (want the error of a message being written)", id, err)
	}
	popped := killGo(t, func(ctx context.Context) killPopped {
		id, err := q.pop(ctx)
		return killPopped{id, err}
	})
	time.Sleep(30 * time.Millisecond) // time for the consumer to go wrong, if it will
	select {
	case r := <-popped:
		t.Fatalf("a consumer got past the pending claim of a live producer: %v, %v", r.id, r.err)
	default:
	}
	want := []killID{a(2), a(3)}
	if outcome == "kill" {
		p.Kill()
		killMustDie(t, p, "frozen producer")
	} else {
		p.Succeed()
		want = append([]killID{{1, 0}}, want...)
	}
	if r := killRecv(t, popped, "a consumer waiting behind the claim"); r.err != nil || r.id != want[0] {
		t.Fatalf("the waiting consumer got %v, %v, want %v", r.id, r.err, want[0])
	}
	killExpect(t, q, "after the claim", want[1:]...)
	killCheckAfter(t, q)
}

// TestKillFrozenConsumer stops a consumer process at pointReading or
// pointTaken and, while it is stopped there, takes a message from this
// process. Killed at pointReading, the consumer loses nothing; let go, it
// finds that this process took its message and takes the next. Killed at
// pointTaken, its message is the only one lost; let go, it returns it.
func TestKillFrozenConsumer(t *testing.T) {
	killFrozenRuns(t, []string{pointReading, pointTaken}, killFrozenConsumer)
}

func killFrozenConsumer(t *testing.T, kind, point, outcome string) {
	seg, q, _ := killFrozenQ(t, kind, 4)
	a := killLiveID
	log := filepath.Join(t.TempDir(), "log")
	p := killStart(t, seg, killSpec{Role: "consumer", Kind: kind, Name: "q", Point: point, N: 1, How: "freeze", Count: 1, Log: log})
	p.WaitPoint(point)
	var mine, theirs []killID // taken by this process while it is frozen, by the child
	switch {
	case point == pointReading && outcome == "kill":
	case point == pointReading:
		mine, theirs = []killID{a(0)}, []killID{a(1)}
	case outcome == "kill":
		mine = []killID{a(1)} // a(0) is gone with the child
	default:
		mine, theirs = []killID{a(1)}, []killID{a(0)}
	}
	killExpect(t, q, "while a consumer is frozen at "+point, mine...)
	if outcome == "kill" {
		p.Kill()
		killMustDie(t, p, "frozen consumer")
	} else {
		p.Succeed()
	}
	if got := killReadLog(t, log); !slices.Equal(got, theirs) {
		t.Fatalf("the consumer received %v, want %v", got, theirs)
	}
	var rest []killID
	for seq := range uint32(4) {
		if id := a(seq); !slices.Contains(mine, id) && !slices.Contains(theirs, id) && (point == pointReading || seq > 0) {
			rest = append(rest, id)
		}
	}
	killExpect(t, q, "after the consumer", rest...)
	killCheckAfter(t, q)
}

// TestKillFrozenSPSC stops the producer of a single-producer ring in the
// middle of a push, and its consumer in the middle of a pop: the role is
// the stopped process's (ErrBusy) until it is killed, and is then taken
// over by this process, with nothing committed lost and nothing half
// written seen.
func TestKillFrozenSPSC(t *testing.T) {
	a := killLiveID
	t.Run("producer", func(t *testing.T) {
		seg := testSeg(t)
		q := newKillQ(t, seg, "spsc", "q", 8)
		if _, err := q.tryPop(); err != errEmpty {
			t.Fatal(err)
		}
		p := killStart(t, seg, killSpec{Role: "producer", Kind: "spsc", Name: "q", Point: pointWriting, N: 3, How: "freeze", Prod: 1, Count: 3})
		p.WaitPoint(pointWriting)
		if err := q.tryPush(a(0)); !errors.Is(err, ErrBusy) {
			t.Fatalf("pushing while the producer is frozen: %v, want ErrBusy", err)
		}
		killExpect(t, q, "from the frozen producer", killID{1, 0}, killID{1, 1})
		if id, err := q.tryPop(); err != errEmpty {
			t.Fatalf("a message half written: %v, %v", id, err)
		}
		p.Kill()
		killMustDie(t, p, "frozen producer")
		killUnbusy(t, "taking the producer role over", func() error { return q.tryPush(a(0)) })
		killExpect(t, q, "from the new producer", a(0))
		killCheckAfter(t, q)
	})
	t.Run("consumer", func(t *testing.T) {
		seg := testSeg(t)
		q := newKillQ(t, seg, "spsc", "q", 8)
		for seq := range uint32(3) {
			if err := q.tryPush(a(seq)); err != nil {
				t.Fatal(err)
			}
		}
		log := filepath.Join(t.TempDir(), "log")
		p := killStart(t, seg, killSpec{Role: "consumer", Kind: "spsc", Name: "q", Point: pointReading, N: 2, How: "freeze", Count: 2, Log: log})
		p.WaitPoint(pointReading)
		if id, err := q.tryPop(); !errors.Is(err, ErrBusy) {
			t.Fatalf("popping while the consumer is frozen: %v, %v, want ErrBusy", id, err)
		}
		p.Kill()
		killMustDie(t, p, "frozen consumer")
		if got := killReadLog(t, log); !slices.Equal(got, []killID{a(0)}) {
			t.Fatalf("the consumer received %v, want %v", got, a(0))
		}
		var id killID
		killUnbusy(t, "taking the consumer role over", func() (err error) { id, err = q.tryPop(); return err })
		if id != a(1) {
			t.Fatalf("the new consumer got %v, want %v (the message the dead one was reading)", id, a(1))
		}
		killExpect(t, q, "the new consumer", a(2))
		killCheckAfter(t, q)
	})
}

// TestKillRandomMoments runs two producer and two consumer processes on
// one ring, with a producer and a consumer in this process, and kills a
// random child at a random moment, tens of times, starting another in its
// place. Producers log how many pushes returned, consumers what they
// received: every message a producer saw pushed must arrive, once, unless
// a consumer died with it (one at most per consumer killed), and no
// message a producer never started may.
func TestKillRandomMoments(t *testing.T) {
	for _, kind := range []string{"ring", "gob"} {
		t.Run(kind, func(t *testing.T) { killRandom(t, kind, killRounds(40, 20)) })
	}
}

func killRandom(t *testing.T, kind string, kills int) {
	seg := testSeg(t)
	size := 8
	if kind == "gob" {
		size = 4
	}
	q := newKillQ(t, seg, kind, "q", size)
	dir := t.TempDir()
	rng := killRand(t)
	sink := killSink(t, q, 0)
	live := killSource(t, q, killLive, 200*time.Microsecond)
	var specs []killSpec
	// A spare child of each role waits at point "running", started
	// ahead, and replaces the next one killed.
	spares := map[string]*testproc.Proc{}
	spare := func(role string) {
		s := killSpec{Role: role, Kind: kind, Name: "q", Prod: uint32(len(specs) + 1), Ready: true,
			Log: filepath.Join(dir, strconv.Itoa(len(specs)))}
		specs = append(specs, s)
		spares[role] = killStart(t, seg, s)
	}
	next := func(role string) *testproc.Proc {
		p := spares[role]
		p.WaitPoint("running")
		p.Continue()
		spare(role)
		return p
	}
	spare("producer")
	spare("consumer")
	type slot struct {
		role string
		p    *testproc.Proc
	}
	slots := []slot{{"producer", nil}, {"producer", nil}, {"consumer", nil}, {"consumer", nil}}
	for i := range slots {
		slots[i].p = next(slots[i].role)
	}
	consumerKills := 0
	kill := func(s slot) {
		s.p.Kill()
		killMustDie(t, s.p, "a "+s.role+" killed at random")
		if s.role == "consumer" {
			consumerKills++
		}
	}
	for range kills {
		time.Sleep(time.Duration(rng.IntN(20_000)) * time.Microsecond)
		i := rng.IntN(len(slots))
		kill(slots[i])
		killHealthy(t, sink, live)
		slots[i].p = next(slots[i].role)
	}
	for _, s := range slots {
		kill(s)
	}
	for _, p := range spares {
		p.Kill() // never let go: it did nothing
		killMustDie(t, p, "a spare")
	}
	pushed := killStop(t, live, "this process's producer").n
	killStop(t, sink, "this process's consumer")
	lists := [][]killID{append(sink.ids, killDrain(t, q)...)}
	killInOrder(t, "this process's consumer", lists[0])
	limit := map[uint32][2]int{killLive: {pushed, pushed}} // producer: committed for sure, at most
	for i, s := range specs {
		if s.Role == "consumer" {
			l := killReadLog(t, s.Log)
			killInOrder(t, fmt.Sprintf("consumer %d", i), l)
			lists = append(lists, l)
		} else {
			// It logs after each push that returned: one more may have
			// been committed, and the log may miss the last one.
			n := killReadCount(t, s.Log)
			limit[s.Prod] = [2]int{n, n + 2}
		}
	}
	seen := killExactlyOnce(t, lists...)
	for id := range seen {
		if l, ok := limit[id.Prod]; !ok || int(id.Seq) >= l[1] {
			t.Errorf("message %v delivered, its producer pushed %v", id, l)
		}
	}
	missing, total := 0, 0
	for prod, l := range limit {
		for seq := range l[0] {
			if !seen[killID{prod, uint32(seq)}] {
				missing++
			}
		}
		total += l[0]
	}
	if missing > consumerKills {
		t.Errorf("%d messages pushed for sure were lost, %d consumers were killed", missing, consumerKills)
	}
	t.Logf("%s: %d kills (%d consumers), %d messages pushed for sure, %d delivered, %d lost with consumers",
		kind, kills+len(slots), consumerKills, total, len(seen), missing)
	killCheckAfter(t, q)
}

// TestKillWaker kills a process between its change of a sleep word and
// its FUTEX_WAKE (pointWake): a producer that has just pushed to a
// consumer asleep in this process, or a consumer that has just made room
// for a producer asleep here. The sleeper must still wake (its sleeps are
// bounded) and get its message or its room. The rounds run four at a
// time, each on its own ring: this process sleeps in FUTEX_WAIT itself for
// two of them, and in its sleeping goroutines' dispatcher (package park)
// for the others.
func TestKillWaker(t *testing.T) {
	t.Parallel()
	rounds := killRounds(24, 24)
	seg := testSeg(t)
	woke := map[string][]time.Duration{}
	for first := 0; first < rounds; first += 4 {
		var finish []func()
		for j := first; j < min(first+4, rounds); j++ {
			finish = append(finish, killWaker(t, seg, j, woke))
		}
		for _, f := range finish {
			f()
		}
	}
	for what, ds := range woke {
		slices.Sort(ds)
		t.Logf("%s woke %v to %v (median %v) after its waker died", what, ds[0], ds[len(ds)-1], ds[len(ds)/2])
	}
}

// killWaker starts round j and returns the function that finishes it.
func killWaker(t *testing.T, seg *shm.Segment, j int, woke map[string][]time.Duration) func() {
	kind := []string{"ring", "gob"}[j%2]
	name := "w" + strconv.Itoa(j)
	q := newKillQ(t, seg, kind, name, 4)
	prod := uint32(j + 1)
	if j/2%2 == 0 {
		// A consumer asleep here, a producer killed waking it.
		popped := killGo(t, func(ctx context.Context) killPopped {
			id, err := q.pop(ctx)
			return killPopped{id, err}
		})
		p := killStart(t, seg, killSpec{Role: "producer", Kind: kind, Name: name, Point: pointWake, N: 1, How: "kill",
			Prod: prod, Count: 1, Sleep: true})
		return func() {
			killMustDie(t, p, "a producer killed waking a consumer")
			died := time.Now()
			if r := killRecv(t, popped, "a consumer whose waker died"); r.err != nil || r.id != (killID{prod, 0}) {
				t.Fatalf("%s: the consumer whose waker died got %v, %v, want %v", kind, r.id, r.err, killID{prod, 0})
			}
			what := kind + ": a consumer"
			woke[what] = append(woke[what], time.Since(died).Round(time.Millisecond))
			killCheckAfter(t, q)
			q.free()
		}
	}
	// A producer asleep here on a full ring, a consumer killed waking it.
	// Its messages are all of one size, so that the room of the one taken
	// is room for the one waiting.
	prod |= killFixedPad
	n := uint32(0)
	for q.tryPush(killID{prod, n + 1}) == nil {
		n++
	}
	pushed := killGo(t, func(ctx context.Context) error { return q.push(ctx, killID{prod, n + 1}) })
	p := killStart(t, seg, killSpec{Role: "consumer", Kind: kind, Name: name, Point: pointWake, N: 1, How: "kill",
		Count: 1, Sleep: true})
	return func() {
		killMustDie(t, p, "a consumer killed waking a producer")
		died := time.Now()
		if err := killRecv(t, pushed, "a producer whose waker died"); err != nil {
			t.Fatalf("%s: the producer whose waker died: %v", kind, err)
		}
		what := kind + ": a producer"
		woke[what] = append(woke[what], time.Since(died).Round(time.Millisecond))
		// The dead consumer took message 1.
		for seq := uint32(2); seq <= n+1; seq++ {
			killExpect(t, q, "after the waker died", killID{prod, seq})
		}
		killCheckAfter(t, q)
		q.free()
	}
}

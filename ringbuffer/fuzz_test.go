//go:build linux && (amd64 || arm64)

package ringbuffer

// Fuzz tests of what a process reads from shared memory that another one
// wrote: the header of a ring (decodeLayout), the pipe object (attachConn),
// a PubSub's header and words (FuzzPubSub), the metrics that tools read
// from each of them (shm.Metrics),
// and a frame at the head of a framed queue (layout.frame, and a Get or a
// byte borrow over a frame whose cell word or length prefix was
// overwritten, behind frames of byte loans and their holes). Whatever the
// bytes, the answer is a correct result or an error wrapping ErrCorrupt:
// never a panic, a hang or a wrong message that the bytes do not describe.
//
// Without -fuzz only the seeds run, in milliseconds.

import (
	"bytes"
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shmkit/shmkit/ctypes"
	"github.com/shmkit/shmkit/internal/mem"
	"github.com/shmkit/shmkit/internal/owner"
	"github.com/shmkit/shmkit/shm"
)

// fuzzPayloadMax bounds the payload FuzzDecodeLayout makes, so that a
// size from the fuzzer does not allocate gigabytes.
const fuzzPayloadMax = 1 << 20

// fuzzGuard bounds one input's run: a loop fails it instead of hanging.
const fuzzGuard = 10 * time.Second

func FuzzDecodeLayout(f *testing.F) {
	type spec struct {
		m              mode
		cells, cs, es  uint64
		joinable, drop bool
	}
	for _, s := range []spec{
		{modeSPSC, 8, 8, 8, false, false},
		{modeSPSC, 1, 1, 1, false, false},
		{modeFixed, 4, 16, 16, false, false},
		{modeFixed, 64, 24, 24, true, false},
		{modeFramed, 32, encodedCell, 0, false, false},
		{modeFramed, 16, encodedCell, 0, true, false},
		{modeFramed, 2, 8, 0, false, false},
	} {
		l, err := newLayout(s.m, s.cells, s.cs, s.es, s.joinable)
		if err != nil {
			f.Fatal(err)
		}
		b := make([]byte, headerSize)
		l.encode(b)
		f.Add(b, uint32(l.size()))
		f.Add(b, uint32(l.size()-1))
		f.Add(b, uint32(0))
		whole := make([]byte, l.size())
		copy(whole, b)
		f.Add(whole, uint32(0))
	}
	f.Add([]byte{}, uint32(fuzzPayloadMax))
	f.Add(bytes.Repeat([]byte{0xff}, headerSize), uint32(fuzzPayloadMax))
	f.Fuzz(func(t *testing.T, hdr []byte, size uint32) {
		// The bytes as they come, and as the header of a payload of size
		// bytes (decodeLayout reads the header and the payload's length).
		fuzzCheckLayout(t, hdr)
		n := max(int(size%(fuzzPayloadMax+1)), len(hdr))
		b := fuzzZeros[:min(n, len(fuzzZeros))]
		if n > len(fuzzZeros) {
			b = make([]byte, n)
		}
		copy(b, hdr)
		defer clear(b[:len(hdr)])
		fuzzCheckLayout(t, b)
	})
}

// fuzzZeros is the payload FuzzDecodeLayout lends each input, its header
// written over the start and cleared after: inputs run one at a time.
var fuzzZeros = make([]byte, fuzzPayloadMax)

func fuzzCheckLayout(t *testing.T, b []byte) {
	t.Helper()
	l, err := decodeLayout(b)
	m, merr := ringMetricsOf(b)
	if (err == nil) != (merr == nil) || (merr != nil && !errors.Is(merr, ErrCorrupt)) {
		t.Fatalf("decodeLayout: %v; the metrics: %v", err, merr)
	}
	if merr == nil {
		fuzzCheckMetrics(t, m, ringMetricNames)
	}
	if err != nil {
		if !errors.Is(err, ErrCorrupt) {
			t.Fatalf("decodeLayout: %v, not ErrCorrupt", err)
		}
		return
	}
	if l.size() > uint64(len(b)) {
		t.Fatalf("accepted a layout of %d bytes in %d", l.size(), len(b))
	}
	if l.cells == 0 || l.cells > MaxCells || l.cells&(l.cells-1) != 0 || l.cellSize == 0 {
		t.Fatalf("accepted %d cells of %d bytes", l.cells, l.cellSize)
	}
	if l.dataOff%64 != 0 || l.dataOff < offCellsArr || (l.mode != modeSPSC && l.seqOff+8*l.cells > l.dataOff) {
		t.Fatalf("accepted offsets %d/%d", l.seqOff, l.dataOff)
	}
	want, err := newLayout(l.mode, l.cells, l.cellSize, l.elemSize, l.joinable)
	if err != nil || want != l {
		t.Fatalf("decoded %+v, newLayout of its fields gives %+v, %v", l, want, err)
	}
	enc := make([]byte, headerSize)
	want.encode(enc)
	if !bytes.Equal(enc, b[:headerSize]) {
		t.Fatalf("the header\n%x\nre-encodes as\n%x", b[:headerSize], enc)
	}
}

// ringMetricNames are the names of a ring's metrics, in their order.
var ringMetricNames = []string{"pushed", "popped", "len", "waits_empty", "waits_full", "sleeps_empty", "sleeps_full",
	"wakes_empty", "wakes_full", "holes", "producer_takeovers", "consumer_takeovers"}

// fuzzCheckMetrics checks that m are the metrics named names, in order.
func fuzzCheckMetrics(t *testing.T, m []shm.Metric, names []string) {
	t.Helper()
	if len(m) != len(names) {
		t.Fatalf("%d metrics, want %d", len(m), len(names))
	}
	for i, x := range m {
		if x.Name != names[i] || x.Help == "" {
			t.Fatalf("metric %d is %q (%q), want %q", i, x.Name, x.Help, names[i])
		}
	}
}

// metricsOrCorrupt reads the metrics of o: an error wrapping ErrCorrupt,
// or the metrics named names. An object whose header failed its checks
// (bad) has no metrics; one that attached (good) has them.
func metricsOrCorrupt(t *testing.T, o *shm.Object, bad, good bool, names []string) {
	t.Helper()
	m, err := shm.Metrics(o)
	if err != nil {
		if good || !errors.Is(err, ErrCorrupt) {
			t.Fatalf("the metrics: %v (it attached: %v)", err, good)
		}
		return
	}
	if bad {
		t.Fatalf("the metrics of a corrupt header: %v", m)
	}
	fuzzCheckMetrics(t, m, names)
}

// FuzzLayoutFrame checks layout.frame, for any cell word and length
// prefix, against its contract: the frame's length in cells is the word's
// bits 10-31 plus one, at most the ring's; a framed ring's message of n
// bytes fills that many cells with its 4-byte prefix (no cell more, none
// empty); any other ring's frames are one cell of one element. Producers
// size frames with cellsFor: every message that fits is accepted.
func FuzzLayoutFrame(f *testing.F) {
	f.Add(uint8(modeFramed), uint8(3), uint32(encodedCell), cellWord(0, stFull, 0, 1), uint32(60))
	f.Add(uint8(modeFramed), uint8(3), uint32(encodedCell), cellWord(0, stFull, 0, 2), uint32(61))
	f.Add(uint8(modeFramed), uint8(3), uint32(encodedCell), cellWord(7, stFull, 3, 8), uint32(8*64-4))
	f.Add(uint8(modeFramed), uint8(3), uint32(encodedCell), cellWord(7, stFull, 3, 9), uint32(8*64))
	f.Add(uint8(modeFramed), uint8(0), uint32(8), ^uint64(0), ^uint32(0))
	f.Add(uint8(modeFixed), uint8(4), uint32(8), cellWord(1, stFull, 0, 1), uint32(0))
	f.Add(uint8(modeFixed), uint8(4), uint32(8), cellWord(1, stFull, 0, 2), uint32(0))
	f.Add(uint8(modeSPSC), uint8(22), uint32(3), uint64(0), uint32(5))
	f.Fuzz(func(t *testing.T, m, cellsLog uint8, cellSize uint32, w uint64, n uint32) {
		md := mode(m%3 + 1)
		cells := uint64(1) << (cellsLog % 23)
		cs, es := uint64(cellSize%4096+1), uint64(0)
		if md == modeFramed {
			cs = (cs%512 + 1) * 8
		} else {
			es = cs
		}
		l, err := newLayout(md, cells, cs, es, false)
		if err != nil {
			return
		}
		k, size, err := l.frame(w, n)
		wantK := (w>>10)%(1<<22) + 1
		ok, wantSize := false, 0
		switch {
		case wantK > cells:
		case md != modeFramed:
			ok, wantSize = wantK == 1, int(es)
		default:
			// The cells that n bytes and their prefix need, rounding up.
			ok, wantSize = (uint64(n)+4+cs-1)/cs == wantK, int(n)
		}
		if ok {
			if err != nil || k != wantK || size != wantSize {
				t.Fatalf("%+v: frame(%#x, %d) = %d, %d, %v; want %d, %d", l, w, n, k, size, err, wantK, wantSize)
			}
		} else if !errors.Is(err, ErrCorrupt) || k != 0 || size != 0 {
			t.Fatalf("%+v: frame(%#x, %d) = %d, %d, %v; want ErrCorrupt", l, w, n, k, size, err)
		}
		// What a producer writes for a message of n bytes, a consumer takes.
		if need := l.cellsFor(int(n)); need <= cells {
			pw := cellWord(wordLap(w), stFull, wordIdx(w), need)
			if k, size, err := l.frame(pw, n); err != nil || k != need || (md == modeFramed && size != int(n)) {
				t.Fatalf("%+v: a producer's frame of %d bytes in %d cells: frame = %d, %d, %v", l, n, need, k, size, err)
			}
		}
	})
}

// FuzzFrame overwrites the cell word (all but its lap) and the length
// prefix of the frame at the head of a framed queue holding three
// messages, and checks what Gets make of it against a model of the
// consumer's contract:
//
//   - state free: ErrCorrupt, the head stays;
//   - state claimed by a live producer (this process): nothing yet
//     (ErrEmpty), the head stays; by a dead one: a hole, as skipped;
//   - skipped: the head moves over the hole's cells and the next message
//     comes; a hole longer than the ring is ErrCorrupt and the head stays;
//   - committed: the message its prefix says, read from the data, if the
//     prefix fits the frame's cells; ErrCorrupt otherwise, the frame
//     dropped; a frame longer than the ring is ErrCorrupt and stays.
//
// When the head moved by the frame's real length in cells, the two
// messages behind it come intact, then ErrEmpty. Otherwise Gets may fail
// with ErrCorrupt or ErrEmpty, never panic, loop or return another error.
func FuzzFrame(f *testing.F) {
	frame := func(state uint64, idx int, k uint64) uint32 { return uint32(cellWord(0, state, idx, k)) }
	f.Add(uint8(0), uint8(10), uint8(70), uint8(0), false, uint32(0), false, uint32(0))
	f.Add(uint8(5), uint8(130), uint8(1), uint8(100), false, uint32(0), true, uint32(120))
	f.Add(uint8(5), uint8(130), uint8(1), uint8(100), false, uint32(0), true, uint32(2000))
	f.Add(uint8(15), uint8(120), uint8(61), uint8(5), true, frame(stSkipped, 0, 2), false, uint32(0))
	f.Add(uint8(15), uint8(120), uint8(61), uint8(5), true, frame(stSkipped, 0, 3), false, uint32(0))
	f.Add(uint8(14), uint8(59), uint8(61), uint8(5), true, frame(stClaimed, 7, 1), false, uint32(0))
	f.Add(uint8(14), uint8(59), uint8(61), uint8(5), true, frame(stClaimed, 0, 1), false, uint32(0))
	f.Add(uint8(3), uint8(59), uint8(61), uint8(5), true, frame(stFree, 0, 1), false, uint32(0))
	f.Add(uint8(3), uint8(59), uint8(61), uint8(5), true, frame(stFull, 0, 17), false, uint32(0))
	f.Add(uint8(9), uint8(140), uint8(0), uint8(0), true, frame(stFull, 0, 16), true, uint32(16*64-4))
	f.Add(uint8(9), uint8(140), uint8(0), uint8(0), true, frame(stFull, 0, 1), true, uint32(60))
	f.Add(uint8(9), uint8(140), uint8(0), uint8(0), true, ^uint32(0), true, ^uint32(0))
	f.Fuzz(func(t *testing.T, pre, l0, l1, l2 uint8, setWord bool, low uint32, setPrefix bool, prefix uint32) {
		done := make(chan struct{})
		go func() {
			defer close(done)
			fuzzFrame(t, pre, [3]uint8{l0, l1, l2}, setWord, low, setPrefix, prefix, false)
		}()
		select {
		case <-done:
		case <-time.After(fuzzGuard):
			t.Fatalf("still running after %v", fuzzGuard)
		}
	})
}

// FuzzByteLoanFrame is FuzzFrame with byte loans: the three messages
// are put by loans, which leave a hole before the ring's end when a frame
// would wrap, and the first message is taken by a borrow, which must
// answer as Get does (the same model).
func FuzzByteLoanFrame(f *testing.F) {
	frame := func(state uint64, idx int, k uint64) uint32 { return uint32(cellWord(0, state, idx, k)) }
	f.Add(uint8(0), uint8(10), uint8(70), uint8(0), false, uint32(0), false, uint32(0))
	f.Add(uint8(14), uint8(10), uint8(140), uint8(130), false, uint32(0), false, uint32(0))
	f.Add(uint8(13), uint8(140), uint8(130), uint8(5), false, uint32(0), false, uint32(0))
	f.Add(uint8(5), uint8(130), uint8(1), uint8(100), false, uint32(0), true, uint32(2000))
	f.Add(uint8(15), uint8(120), uint8(61), uint8(5), true, frame(stSkipped, 0, 2), false, uint32(0))
	f.Add(uint8(14), uint8(59), uint8(61), uint8(5), true, frame(stClaimed, 7, 1), false, uint32(0))
	f.Add(uint8(3), uint8(59), uint8(61), uint8(5), true, frame(stFree, 0, 1), false, uint32(0))
	f.Add(uint8(3), uint8(59), uint8(61), uint8(5), true, frame(stFull, 0, 17), false, uint32(0))
	f.Add(uint8(9), uint8(140), uint8(0), uint8(0), true, frame(stFull, 0, 1), true, uint32(60))
	f.Add(uint8(9), uint8(140), uint8(0), uint8(0), true, ^uint32(0), true, ^uint32(0))
	f.Fuzz(func(t *testing.T, pre, l0, l1, l2 uint8, setWord bool, low uint32, setPrefix bool, prefix uint32) {
		done := make(chan struct{})
		go func() {
			defer close(done)
			fuzzFrame(t, pre, [3]uint8{l0, l1, l2}, setWord, low, setPrefix, prefix, true)
		}()
		select {
		case <-done:
		case <-time.After(fuzzGuard):
			t.Fatalf("still running after %v", fuzzGuard)
		}
	})
}

// fuzzRawQueue is a new queue of n raw byte messages, or nil, the test
// failed, if none can be made.
func fuzzRawQueue(t *testing.T, n int) *Queue[[]byte] {
	t.Helper()
	q, err := NewQueue[[]byte](n)
	if err != nil {
		t.Error(err)
		return nil
	}
	return q
}

// fuzzFrame is FuzzFrame's run; with loans, FuzzByteLoanFrame's.
func fuzzFrame(t *testing.T, pre uint8, lens [3]uint8, setWord bool, low uint32, setPrefix bool, prefix uint32, loans bool) {
	q := fuzzRawQueue(t, 4)
	if q == nil {
		return
	}
	defer q.Free()
	c := q.c
	cells := c.l.cells // 16
	for range uint64(pre) % cells {
		q.TryPut(nil)
		q.TryGet()
	}
	var msgs [3][]byte
	var ends [3]uint64 // the tail after each
	for i, n := range lens {
		msgs[i] = edgeMsg(int(n)%150, i+1) // at most 3 cells each
		if !loans {
			if err := q.TryPut(msgs[i]); err != nil {
				t.Error(err)
				return
			}
		} else if l, err := q.TryLoanBytes(len(msgs[i])); err != nil {
			t.Error(err)
			return
		} else {
			copy(l.Bytes(), msgs[i])
			if err := l.Commit(); err != nil {
				t.Error(err)
				return
			}
		}
		ends[i] = atomic.LoadUint64(c.tail)
	}
	if loans {
		c.front() // over a hole that the first loan left
	}
	h := atomic.LoadUint64(c.head)
	i := h & c.mask
	w := atomic.LoadUint64(&c.seq[i])
	trueK := wordCells(w)
	off := c.cellOff(h)
	if setWord {
		w = w&^0xffffffff | uint64(low)
		atomic.StoreUint64(&c.seq[i], w)
	}
	n := le.Uint32(c.data[off:])
	if setPrefix {
		n = prefix
		le.PutUint32(c.data[off:], n)
	}
	data := bytes.Clone(c.data)

	// The model: what the first Get returns (a message, or an error that
	// wraps want), and how far the head moves (-1: unknown).
	state := w & 3
	k := (w>>10)%(1<<22) + 1
	idx := int(w>>2) % MaxProducers
	me, _ := owner.Me()
	var want error
	var wantMsg []byte
	move := int64(0)
	if state == stClaimed && atomic.LoadUint64(&c.table[idx]) != me {
		state = stSkipped // its producer is dead (never was)
	}
	switch {
	case state == stFree:
		want = ErrCorrupt
	case state == stClaimed:
		want = ErrEmpty
	case k > cells:
		want = ErrCorrupt
	case state == stSkipped:
		if k == trueK {
			wantMsg, move = msgs[1], int64(ends[1]-h)
		} else {
			want, move = errUnknown, -1
		}
	case (k-1)*c.l.cellSize < uint64(n)+4 && uint64(n)+4 <= k*c.l.cellSize:
		wantMsg, move = make([]byte, n), int64(k)
		from := (off + 4) % len(data)
		copy(wantMsg[copy(wantMsg, data[from:]):], data)
	default:
		want, move = ErrCorrupt, int64(k)
	}

	get := q.TryGet
	if loans {
		get = func() ([]byte, error) {
			b, err := q.TryBorrowBytes()
			if err != nil {
				return nil, err
			}
			m := bytes.Clone(b.Bytes())
			return m, b.Release()
		}
	}
	got, err := get()
	switch {
	case want == errUnknown:
		if err != nil && !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrEmpty) {
			t.Errorf("word %#x, prefix %d: Get: %v", w, n, err)
			return
		}
	case want != nil:
		if !errors.Is(err, want) {
			t.Errorf("word %#x, prefix %d (frame of %d cells): Get = %d bytes, %v; want %v", w, n, trueK, len(got), err, want)
			return
		}
	case err != nil || !bytes.Equal(got, wantMsg):
		t.Errorf("word %#x, prefix %d (frame of %d cells): Get = %d bytes, %v; want %d bytes", w, n, trueK, len(got), err, len(wantMsg))
		return
	}
	if move >= 0 {
		if hd := atomic.LoadUint64(c.head); hd != h+uint64(move) {
			t.Errorf("word %#x, prefix %d: the head moved by %d, want %d", w, n, hd-h, move)
			return
		}
	}
	// Sane: the head moved over exactly the frame that was there.
	var rest [][]byte
	switch {
	case state == stSkipped && k == trueK:
		rest = [][]byte{msgs[2]}
	case state == stFull && k == trueK:
		rest = [][]byte{msgs[1], msgs[2]}
	default:
		// The head stayed, or landed where no frame may start: no promise
		// but errors of the two kinds, and no loop.
		for range 8 {
			if _, err := q.TryGet(); err != nil && !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrEmpty) {
				t.Errorf("word %#x, prefix %d: a later Get: %v", w, n, err)
				return
			}
		}
		q.TryPut([]byte("after"))
		q.TryGet()
		q.Len()
		q.Empty()
		return
	}
	for _, m := range rest {
		if got, err := q.TryGet(); err != nil || !bytes.Equal(got, m) {
			t.Errorf("word %#x, prefix %d: after the first frame, Get = %d bytes, %v; want %d bytes", w, n, len(got), err, len(m))
			return
		}
	}
	if _, err := q.TryGet(); err != errEmpty {
		t.Errorf("word %#x, prefix %d: Get of the emptied queue: %v", w, n, err)
		return
	}
	// And it goes on.
	if err := q.Put(context.Background(), msgs[0]); err != nil {
		t.Error(err)
		return
	}
	if got, err := q.TryGet(); err != nil || !bytes.Equal(got, msgs[0]) {
		t.Errorf("Get after the corrupt frame = %d bytes, %v", len(got), err)
	}
}

// errUnknown: the model makes no promise but ErrCorrupt or ErrEmpty.
var errUnknown = errors.New("ErrCorrupt or ErrEmpty")

// FuzzPipeHeader overwrites a pipe object's header (its version and the
// places of its two rings) and attaches to it: an error or two working
// queues, never a panic.
func FuzzPipeHeader(f *testing.F) {
	a, _, err := Pipe[string](1)
	if err != nil {
		f.Fatal(err)
	}
	good := bytes.Clone(a.pipe.Bytes()[:pipeHeader])
	freeConn(a)
	f.Add(good)
	f.Add(make([]byte, pipeHeader))
	for _, at := range []int{0, 4, offPipeQ0, offPipeQ1, offPipeQ1 + 1, offPipeQ1 + 8} {
		b := bytes.Clone(good)
		b[at] ^= 1
		f.Add(b)
	}
	swapped := bytes.Clone(good)
	copy(swapped[offPipeQ0:offPipeQ1], good[offPipeQ1:offPipeQ1+8])
	copy(swapped[offPipeQ1:offPipeQ1+8], good[offPipeQ0:offPipeQ1])
	f.Add(swapped)
	f.Fuzz(func(t *testing.T, hdr []byte) {
		a, _ := newPipe[string](t, 1)
		defer freeConn(a)
		head := a.pipe.Bytes()[:pipeHeader]
		saved := bytes.Clone(head)
		copy(head, hdr)
		_, _, _, herr := decodePipeHeader(a.pipe.Bytes())
		_, err1 := checkPipe[string](a.pipe, true)
		c, err := attachConn[string](a.pipe, 1, false)
		metricsOrCorrupt(t, a.pipe, herr != nil, err == nil || err1 == nil, pipeMetricNames)
		if err != nil {
			return
		}
		// It attached: both queues must be real queues of this pipe.
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		for _, q := range []*Queue[string]{c.in, c.out} {
			if q.TryPut("x") == nil {
				if v, err := q.TryGet(); err != nil || v != "x" {
					t.Fatalf("a queue of an attached pipe gave back %q, %v", v, err)
				}
			}
		}
		c.Poll(ctx)
		copy(head, saved)
	})
}

// FuzzConnHandle decodes bytes as a pipe end (UnmarshalBinary): the
// pipe's handle, the end, the holder slot its sender took and the word it
// wrote there. Whatever the bytes, an error or a working end that this
// process holds, and no holder slot of the pipe taken for good.
func FuzzConnHandle(f *testing.F) {
	a, b, err := Pipe[string](2)
	if err != nil {
		f.Fatal(err)
	}
	defer a.Free()
	for _, c := range []*Conn[string]{a, b} {
		h, err := c.MarshalBinary()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(h)
		f.Add(h[:len(h)-connTail])
		f.Add(append(bytes.Clone(h[:len(h)-connTail]), 1, MaxHolders-1, 1, 0, 0, 0, 0, 0, 0, 0))
	}
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, h []byte) {
		before := [2]int{lcHolders(a.mine), lcHolders(b.mine)}
		var c Conn[string]
		if c.UnmarshalBinary(h) != nil {
			return
		}
		defer c.Close()
		ctx, cancel := context.WithTimeout(context.Background(), fuzzGuard)
		defer cancel()
		if err := c.Send(ctx, "x"); err != nil {
			t.Fatalf("Send through a decoded end: %v", err)
		}
		other := map[int]*Conn[string]{0: b, 1: a}[c.end]
		if v, err := other.Recv(ctx); v != "x" || err != nil {
			t.Fatalf("Recv of what a decoded end sent: %q, %v", v, err)
		}
		c.Close()
		if n := lcHolders(c.mine); n > before[c.end] {
			t.Fatalf("%d holder slots taken once the decoded end closed, %d before", n, before[c.end])
		}
	})
}

// freeConn frees a pipe made by Pipe (one block: its header and its two
// rings).
func freeConn[T any](c *Conn[T]) { c.pipe.Free() }

// FuzzTailWord overwrites the cell word where the next claim goes (the
// tail's cell: a word of an older lap is a free cell, one of the tail's lap
// a claim to step over, one of a later lap impossible) and puts and gets:
// Put succeeds, finds the ring full or reports ErrCorrupt, and returns;
// the message before the tail comes out intact, and so does the one put
// after it when the word was of an older lap.
func FuzzTailWord(f *testing.F) {
	f.Add(uint8(0), false, int8(-1), uint32(0))
	f.Add(uint8(3), true, int8(-1), uint32(cellWord(0, stFull, 0, 1)))
	f.Add(uint8(7), false, int8(0), uint32(cellWord(0, stFree, 0, 1)))
	f.Add(uint8(9), false, int8(0), uint32(cellWord(0, stSkipped, 3, 2)))
	f.Add(uint8(9), true, int8(0), uint32(cellWord(0, stClaimed, 0, 1)))
	// A later lap's word used to make Put spin for ever: see
	// testdata/fuzz/FuzzTailWord.
	f.Fuzz(func(t *testing.T, pre uint8, plain bool, lapDelta int8, low uint32) {
		done := make(chan struct{})
		go func() {
			defer close(done)
			fuzzTailWord(t, pre, plain, lapDelta, low)
		}()
		select {
		case <-done:
		case <-time.After(fuzzGuard):
			t.Fatalf("still running after %v", fuzzGuard)
		}
	})
}

func fuzzTailWord(t *testing.T, pre uint8, plain bool, lapDelta int8, low uint32) {
	var put func(i int) error
	var get func() (int, error)
	var c *core
	if plain {
		q, err := NewQueue[uint64](8)
		if err != nil {
			t.Error(err)
			return
		}
		defer q.Free()
		put = func(i int) error { return q.TryPut(uint64(i)) }
		get = func() (int, error) { v, err := q.TryGet(); return int(v), err }
		c = q.c
	} else {
		q := fuzzRawQueue(t, 2)
		if q == nil {
			return
		}
		defer q.Free()
		put = func(i int) error { return q.TryPut(edgeMsg(i, i)) }
		get = func() (int, error) {
			v, err := q.TryGet()
			if err == nil && !bytes.Equal(v, edgeMsg(len(v), len(v))) {
				return -1, nil
			}
			return len(v), err
		}
		c = q.c
	}
	for range int(pre) {
		put(1)
		get()
	}
	if err := put(60); err != nil { // one cell
		t.Error(err)
		return
	}
	tail := atomic.LoadUint64(c.tail)
	lap := uint32(tail>>c.shift) + uint32(int32(lapDelta))
	w := uint64(lap)<<32 | uint64(low)
	atomic.StoreUint64(&c.seq[tail&c.mask], w)

	err := put(100) // two cells, framed
	if err != nil && err != errFull && !errors.Is(err, ErrCorrupt) {
		t.Errorf("word %#x at the tail: Put: %v", w, err)
		return
	}
	if v, err := get(); v != 60 || err != nil {
		t.Errorf("word %#x at the tail: Get of the message before it = %d, %v", w, v, err)
		return
	}
	if lapDelta < 0 {
		// An older lap's word is a free cell.
		if err != nil {
			t.Errorf("word %#x at the tail, of an older lap: Put: %v", w, err)
			return
		}
		if v, err := get(); v != 100 || err != nil {
			t.Errorf("word %#x at the tail, of an older lap: Get = %d, %v", w, v, err)
		}
		return
	}
	if lapDelta > 0 {
		// A later lap's word: corrupt, and nothing was added.
		if !errors.Is(err, ErrCorrupt) {
			t.Errorf("word %#x at the tail, of a later lap: Put: %v, want ErrCorrupt", w, err)
		}
		if _, err := get(); err != errEmpty {
			t.Errorf("word %#x at the tail, of a later lap: Get after the failed Put: %v", w, err)
		}
		return
	}
	for range 8 {
		if _, err := get(); err != nil && !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrEmpty) {
			t.Errorf("word %#x at the tail: a later Get: %v", w, err)
			return
		}
	}
	c.length()
}

// FuzzPubSub overwrites a PubSub's header and shared words (the tail, the
// limit, the publisher's word, a subscriber's entry and the sequence words
// of two slots) and uses it: attaching gives an error wrapping ErrCorrupt
// (shm.ErrLayout for another element size) or a PubSub on which Subscribe, TryRecv and TryPublish return a message
// or one of their errors, never a panic or a hang.
func FuzzPubSub(f *testing.F) {
	for _, policy := range []Policy{Lossless, Lossy} {
		l, err := newPSLayout(policy, 4, 2, 8)
		if err != nil {
			f.Fatal(err)
		}
		b := make([]byte, psHeaderSize)
		l.encode(b)
		f.Add(b, uint64(6), uint64(8), uint64(0), uint64(0), uint64(5), uint64(14), uint64(10), uint8(3))
		f.Add(b, uint64(6), uint64(100), uint64(1), uint64(1<<32|2), uint64(0), uint64(9), uint64(0), uint8(0))
		f.Add(b, uint64(1<<63), uint64(1<<63), uint64(0), uint64(3<<32|6), uint64(1<<62), uint64(^uint64(0)), uint64(1), uint8(255))
		bad := bytes.Clone(b)
		bad[psOffSubs] = 0
		f.Add(bad, uint64(0), uint64(0), uint64(0), uint64(0), uint64(0), uint64(0), uint64(0), uint8(1))
		bad = bytes.Clone(b)
		bad[psOffTableOff+2] = 1 // a table past the payload
		f.Add(bad, uint64(0), uint64(0), uint64(0), uint64(0), uint64(0), uint64(0), uint64(0), uint8(1))
	}
	me, err := owner.Me()
	if err != nil {
		f.Skip(err)
	}
	f.Fuzz(func(t *testing.T, hdr []byte, tail, limit, pub, sub, cursor, seq0, seq1 uint64, ops uint8) {
		policy := Lossless
		if len(hdr) > psOffPolicy && hdr[psOffPolicy] == byte(Lossy) {
			policy = Lossy
		}
		p, err := NewPubSub[uint64](4, 2, policy)
		if err != nil {
			t.Fatal(err)
		}
		defer p.Free()
		b := p.o.Bytes()
		copy(b[:psHeaderSize], hdr)
		if ops&1 != 0 {
			pub = me // this process publishes already
		}
		if ops&2 != 0 && sub != 0 {
			sub = me // a live subscriber of this process
		}
		for off, v := range map[uintptr]uint64{psOffTail: tail, psOffLimit: limit, psOffPublisher: pub} {
			*mem.Uint64(b, off) = v
		}
		*mem.Uint64(b, psOffTable+psEntryOwner) = sub
		*mem.Uint64(b, psOffTable+psEntryCursor) = cursor
		dataOff := uintptr(align64(psOffTable + psEntrySize*2))
		*mem.Uint64(b, dataOff) = seq0
		*mem.Uint64(b, dataOff+16) = seq1
		_, lerr := decodePSLayout(b)
		metricsOrCorrupt(t, p.o, lerr != nil, lerr == nil, psMetricNames)
		q, err := attachPubSub[uint64](p.o, mustLayout[uint64](t))
		if err != nil {
			if !errors.Is(err, ErrCorrupt) && !errors.Is(err, shm.ErrLayout) {
				t.Fatalf("attaching: %v, not ErrCorrupt or shm.ErrLayout", err)
			}
			return
		}
		done := make(chan struct{})
		go func() {
			defer close(done)
			s, err := q.Subscribe(int(ops >> 4))
			if err != nil {
				if !errors.Is(err, ErrFull) {
					t.Errorf("Subscribe: %v", err)
				}
				return
			}
			defer s.Close()
			for i := range 4 + int(ops>>5) {
				if i%2 == 0 || ops&4 != 0 {
					err := q.TryPublish(uint64(i))
					if err != nil && !errors.Is(err, ErrFull) && !errors.Is(err, ErrBusy) {
						t.Errorf("TryPublish: %v", err)
					}
				}
				_, err := s.TryRecv()
				if err != nil && !errors.Is(err, ErrEmpty) && !errors.Is(err, ErrLapped) && !errors.Is(err, ErrCorrupt) {
					t.Errorf("TryRecv: %v", err)
				}
			}
		}()
		select {
		case <-done:
		case <-time.After(fuzzGuard):
			t.Fatal("hung")
		}
	})
}

func mustLayout[T any](t *testing.T) ctypes.Layout {
	l, err := ringType[T]()
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// FuzzLentHead overwrites the words of a lent message (the head, with or
// without its lent bit, and the borrower word) of a Queue of plain T and
// of a Queue of []byte (byte borrows), and then uses the queue: every call
// returns, with a message or an error matching ErrEmpty, ErrFull, ErrBusy
// or ErrCorrupt. When the head stays where it was, the message there is
// handed on to the next Get, or Borrow, whole, and the head moves on
// without the lent bit: a borrower word that names no live process is a
// dead borrower's.
func FuzzLentHead(f *testing.F) {
	f.Add(false, true, int8(0), uint64(0), uint8(0))
	f.Add(true, true, int8(0), uint64(1), uint8(3))
	f.Add(true, false, int8(0), uint64(0xdeadbeef00000002), uint8(1))
	f.Add(true, true, int8(3), uint64(0), uint8(9))
	f.Add(true, true, int8(-2), ^uint64(0), uint8(2))
	f.Add(false, false, int8(-1), uint64(0x0000000100000000), uint8(5))
	f.Fuzz(func(t *testing.T, plain, lent bool, delta int8, borrower uint64, pre uint8) {
		done := make(chan struct{})
		go func() {
			defer close(done)
			fuzzLentHead(t, plain, lent, delta, borrower, pre)
		}()
		select {
		case <-done:
		case <-time.After(fuzzGuard):
			t.Fatalf("still running after %v", fuzzGuard)
		}
	})
}

func fuzzLentHead(t *testing.T, plain, lent bool, delta int8, borrower uint64, pre uint8) {
	var put func(i int) error
	var get func() (int, error)
	var borrow func() (int, error)
	var c *core
	if plain {
		q, err := NewQueue[uint64](8)
		if err != nil {
			t.Error(err)
			return
		}
		defer q.Free()
		put = func(i int) error { return q.TryPut(uint64(i)) }
		get = func() (int, error) { v, err := q.TryGet(); return int(v), err }
		borrow = func() (int, error) {
			b, err := q.TryBorrow()
			if err != nil {
				return 0, err
			}
			v := int(*b.Value())
			return v, b.Release()
		}
		c = q.c
	} else {
		q := fuzzRawQueue(t, 2)
		if q == nil {
			return
		}
		defer q.Free()
		put = func(i int) error { return q.TryPut(edgeMsg(i, i)) }
		get = func() (int, error) {
			v, err := q.TryGet()
			if err == nil && !bytes.Equal(v, edgeMsg(len(v), len(v))) {
				return -1, nil
			}
			return len(v), err
		}
		borrow = func() (int, error) {
			b, err := q.TryBorrowBytes()
			if err != nil {
				return 0, err
			}
			v := len(b.Bytes())
			if !bytes.Equal(b.Bytes(), edgeMsg(v, v)) {
				v = -1
			}
			return v, b.Release()
		}
		c = q.c
	}
	for range int(pre) {
		put(1)
		get()
	}
	put(60)
	put(61)
	end := atomic.LoadUint64(c.tail) // where the head is after the two
	h := atomic.LoadUint64(c.head) + uint64(int64(delta))
	if lent {
		h |= lentBit
	}
	atomic.StoreUint64(c.head, h)
	me, _ := owner.Me()
	atomic.StoreUint64(mem.Uint64(c.b, offBorrower), borrower)

	allowed := func(err error) bool {
		return err == nil || errors.Is(err, ErrEmpty) || errors.Is(err, ErrFull) ||
			errors.Is(err, ErrBusy) || errors.Is(err, ErrCorrupt) || errors.Is(err, ErrInvalid)
	}
	ok := delta == 0 && (borrower != me || !lent)
	v, err := get()
	if ok && (v != 60 || err != nil) {
		t.Errorf("head %#x, borrower %#x: Get = %d, %v, want 60", h, borrower, v, err)
		return
	}
	if !allowed(err) {
		t.Errorf("head %#x, borrower %#x: Get: %v", h, borrower, err)
	}
	v, err = borrow()
	if ok && (v != 61 || err != nil) {
		t.Errorf("head %#x, borrower %#x: Borrow = %d, %v, want 61", h, borrower, v, err)
		return
	}
	if !allowed(err) {
		t.Errorf("head %#x, borrower %#x: Borrow: %v", h, borrower, err)
	}
	if now := atomic.LoadUint64(c.head); ok && now != end {
		t.Errorf("head %#x, borrower %#x: the head is %#x after two messages taken, want %#x", h, borrower, now, end)
		return
	}
	for i := range 12 {
		if err := put(70 + i); !allowed(err) {
			t.Errorf("head %#x, borrower %#x: Put: %v", h, borrower, err)
		}
		for range 2 {
			if _, err := borrow(); !allowed(err) {
				t.Errorf("head %#x, borrower %#x: a later Borrow: %v", h, borrower, err)
			}
		}
	}
	c.length()
}

//go:build linux && (amd64 || arm64)

package ringbuffer

// The lifecycle of every type: Close of a handle leaves the others
// working, in this process and in others; Shutdown stops a queue for
// everyone; Free destroys; a pipe end closes for its peer when no live
// process holds it, whether its holders closed it or were killed; an open
// started before the create waits for it; every error says it is this
// package's and matches its sentinel.

import (
	"context"
	"encoding"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shmkit/shmkit/internal/mem"
	"github.com/shmkit/shmkit/internal/owner"
	"github.com/shmkit/shmkit/internal/shmtest"
	"github.com/shmkit/shmkit/internal/testproc"
	"github.com/shmkit/shmkit/shm"
)

// lcChild is the child of the lifecycle tests. Its argument: the segment
// and a mode, then the mode's fields.
//
//	getclose         open Queue[int64] "q", Get one message, print it,
//	                 Close the handle, stop at point "closed"
//	openlate         stop at point "opening", then open Queue[int64] "late"
//	                 with no deadline and print the first message Get takes
//	takerole         open the single-producer Ring[uint64] "r", push 1
//	                 (the producer role), Close, stop at point "closed"
//	sendwait HEX N   receive the pipe end HEX, send "m0".."m(N-1)", stop at
//	                 point "sent", then Recv for ever
//	relay HEX        receive the pipe end HEX, encode it again, print the
//	                 bytes (HANDLE hex), Close, stop at point "sent"
//	hello HEX        receive the pipe end HEX, send "hi", Close
//	viaqueue         take a pipe end from Queue[lcEndMsg] "q", send the
//	                 message's Text on it, print what comes back, Close
var lcChild = xpChild("rb-lifecycle", func(c *testproc.Child, ctx context.Context, seg *shm.Segment, f xpArgs) error {
	var out []string
	switch mode := f.str(0); mode {
	case "getclose":
		q, v, err := lcGetFirst[int64](ctx, seg)
		if err != nil {
			return err
		}
		if err := q.Close(); err != nil {
			return err
		}
		c.Point("closed")
		out = append(out, fmt.Sprint(v))
	case "openlate":
		c.Point("opening")
		q, err := OpenQueue[int64](context.Background(), seg, "late")
		if err != nil {
			return err
		}
		v, err := q.Get(ctx)
		if err != nil {
			return err
		}
		out = append(out, fmt.Sprint(v))
	case "takerole":
		r, err := OpenRing[uint64](ctx, seg, "r")
		if err != nil {
			return err
		}
		if err := r.TryPush(1); err != nil {
			return err
		}
		r.Close()
		c.Point("closed")
	case "sendwait", "relay", "hello", "sendfrozen":
		end, err := endFromHex[string](f.str(1))
		if err != nil {
			return err
		}
		switch mode {
		case "sendwait":
			for i := range f.int(2) {
				if err := end.Send(ctx, fmt.Sprint("m", i)); err != nil {
					return err
				}
			}
			c.Point("sent")
			_, err := end.Recv(ctx)
			return fmt.Errorf("Recv: %v", err)
		case "relay":
			again, err := end.MarshalBinary()
			if err != nil {
				return err
			}
			end.Close()
			fmt.Println("HANDLE", hex.EncodeToString(again))
			c.Point("sent")
		case "hello":
			if err := end.Send(ctx, "hi"); err != nil {
				return err
			}
			end.Close()
		case "sendfrozen":
			for i := range f.int(2) {
				if err := end.Send(ctx, fmt.Sprint("m", i)); err != nil {
					return err
				}
			}
			// The next Send stops where the parent kills it: at a claim of
			// cells (or half a message written) not yet committed.
			at := f.str(3)
			testHook = func(p string) {
				if p == at {
					c.Point("frozen")
				}
			}
			return end.Send(ctx, "torn")
		}
	case "viaqueue":
		_, m, err := lcGetFirst[lcEndMsg](ctx, seg)
		if err != nil {
			return err
		}
		if err := m.End.Send(ctx, m.Text); err != nil {
			return err
		}
		v, err := m.End.Recv(ctx)
		if err != nil {
			return err
		}
		m.End.Close()
		out = append(out, v)
	default:
		return fmt.Errorf("unknown mode %q", mode)
	}
	fmt.Println("RESULT", strings.Join(append([]string{"ok"}, out...), " "))
	return nil
})

// lcGetFirst opens Queue[T] "q" in seg and takes one message from it.
func lcGetFirst[T any](ctx context.Context, seg *shm.Segment) (*Queue[T], T, error) {
	q, err := OpenQueue[T](ctx, seg, "q")
	if err != nil {
		var zero T
		return nil, zero, err
	}
	v, err := q.Get(ctx)
	return q, v, err
}

// lcEndMsg carries a pipe end through a Queue (gob, which encodes the end
// with its MarshalBinary).
type lcEndMsg struct {
	Text string
	End  *Conn[string]
}

func lcStart(t *testing.T, seg *shm.Segment, args ...string) *testproc.Proc {
	t.Helper()
	return shmtest.Start(t, xpShortTimeout, lcChild, append([]string{seg.Name()}, args...)...)
}

// lcEnd is the bytes of end c, in hex, for a child.
func lcEnd[T any](t *testing.T, c *Conn[T]) string {
	t.Helper()
	h, err := c.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(h)
}

// endFromHex is the pipe end whose handle is the hex bytes s, as a child
// receives it.
func endFromHex[T any](s string) (*Conn[T], error) {
	h, err := hex.DecodeString(s)
	if err != nil {
		return nil, err
	}
	end := new(Conn[T])
	if err := end.UnmarshalBinary(h); err != nil {
		return nil, err
	}
	return end, nil
}

// handleOf is a second handle of x, made from its bytes as another
// process would.
func handleOf[T any, P interface {
	*T
	encoding.BinaryUnmarshaler
}](t *testing.T, x encoding.BinaryMarshaler) P {
	t.Helper()
	h, err := x.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	p := P(new(T))
	if err := p.UnmarshalBinary(h); err != nil {
		t.Fatal(err)
	}
	return p
}

// mustNew is what place makes of n slots where opts say, failing t on an
// error.
func mustNew[P any](t testing.TB, place func(int, ...shm.Option) (P, error), n int, opts ...shm.Option) P {
	t.Helper()
	o, err := place(n, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return o
}

// newPipe makes a pipe of T of n slots, where opts place it.
func newPipe[T any](t testing.TB, n int, opts ...shm.Option) (*Conn[T], *Conn[T]) {
	t.Helper()
	a, b, err := Pipe[T](n, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return a, b
}

// lcWantClosed checks that every call of errs, made through a closed
// handle, failed with ErrClosed (and so os.ErrClosed).
func lcWantClosed(t *testing.T, errs map[string]error) {
	t.Helper()
	for what, err := range errs {
		if !errors.Is(err, ErrClosed) || !errors.Is(err, os.ErrClosed) {
			t.Errorf("%s through a closed handle: %v, want ErrClosed", what, err)
		}
	}
}

// A consumer's Close of its handle (as a deferred Close does when it
// returns) leaves the queue working for the producer in another process:
// Put goes on, and nothing is shut down.
func TestLifecycleQueueConsumerClose(t *testing.T) {
	seg := testSeg(t)
	q := mustNew(t, NewQueue[int64], 4, shm.In(seg, "q"))
	ctx := xpContext(t)
	if err := q.Put(ctx, 1); err != nil {
		t.Fatal(err)
	}
	p := lcStart(t, seg, "getclose")
	p.WaitPoint("closed") // the consumer lives on, its handle closed
	if q.IsShutdown() {
		t.Fatal("the consumer's Close shut the queue down")
	}
	for i := int64(2); i < 4; i++ {
		if err := q.Put(ctx, i); err != nil {
			t.Fatalf("Put after the consumer closed its handle: %v", err)
		}
	}
	if out := xpResult(t, p); strings.Join(out, " ") != "ok 1" {
		t.Fatalf("consumer: %q", out)
	}
	if err := q.Put(ctx, 4); err != nil {
		t.Fatalf("Put after the consumer exited: %v", err)
	}
	for i := int64(2); i <= 4; i++ {
		if v, err := q.Get(ctx); v != i || err != nil {
			t.Fatalf("Get: %d, %v; want %d", v, err, i)
		}
	}
}

// The same in one process, for every operation: a closed handle fails with
// ErrClosed (os.ErrClosed too) and its blocked calls wake; another handle
// of the same queue goes on.
func TestLifecycleQueueCloseHandle(t *testing.T) {
	ctx := xpContext(t)
	q := mustNew(t, NewJoinableQueue[string], 4)
	defer q.Free()
	other := handleOf[JoinableQueue[string]](t, q)
	blocked := make(chan error, 1)
	go func() { _, err := other.Get(ctx); blocked <- err }()
	if err := other.Close(); err != nil {
		t.Fatal(err)
	}
	if err := shmtest.Within(t, edgeGuard, "Get blocked on a handle that closed", func() error { return <-blocked }); !errors.Is(err, ErrClosed) {
		t.Fatalf("a Get blocked when its handle closed: %v, want ErrClosed", err)
	}
	lcWantClosed(t, map[string]error{
		"Put":      other.Put(ctx, "x"),
		"TryPut":   other.TryPut("x"),
		"Get":      second(other.Get(ctx)),
		"TryGet":   second(other.TryGet()),
		"TaskDone": other.TaskDone(),
		"Join":     other.Join(ctx),
		"Shutdown": other.Shutdown(),
	})
	if err := other.Close(); err != nil {
		t.Errorf("a second Close: %v", err)
	}
	if q.IsShutdown() {
		t.Fatal("Close of a handle shut the queue down")
	}
	if err := q.Put(ctx, "still"); err != nil {
		t.Fatal(err)
	}
	if v, err := q.Get(ctx); v != "still" || err != nil || q.TaskDone() != nil || q.Join(ctx) != nil {
		t.Fatalf("the other handle after Close: %q, %v", v, err)
	}
}

// An open started in another process before the create, with no
// deadline, waits for the queue and gets it.
func TestLifecycleOpenBeforeCreate(t *testing.T) {
	seg := testSeg(t)
	p := lcStart(t, seg, "openlate")
	p.WaitPoint("opening")
	p.Continue()
	time.Sleep(20 * time.Millisecond) // most likely waiting in OpenQueue by now; either way must work
	q := mustNew(t, NewQueue[int64], 4, shm.In(seg, "late"))
	if err := q.Put(xpContext(t), 42); err != nil {
		t.Fatal(err)
	}
	if out := xpResult(t, p); strings.Join(out, " ") != "ok 42" {
		t.Fatalf("child: %q", out)
	}
}

// Close of a single-producer ring's handle gives its role back: another
// process may take it while the closer lives on.
func TestLifecycleRingCloseGivesRole(t *testing.T) {
	seg := testSeg(t)
	r := mustNew(t, NewSPSCRing[uint64], 8, shm.In(seg, "r"))
	p := lcStart(t, seg, "takerole")
	p.WaitPoint("closed")
	if err := r.TryPush(2); err != nil {
		t.Fatalf("push after the producer closed its handle (alive): %v", err)
	}
	for want := uint64(1); want <= 2; want++ {
		if v, err := r.TryPop(); v != want || err != nil {
			t.Fatalf("Pop: %d, %v; want %d", v, err, want)
		}
	}
	xpResult(t, p)
	// In one process, the role is the process's while any of its handles
	// holds it.
	other := handleOf[Ring[uint64]](t, r)
	if err := other.TryPush(3); err != nil {
		t.Fatal(err)
	}
	if err := r.TryPush(9); !errors.Is(err, ErrBusy) {
		t.Fatalf("push through a handle another pushed under: %v, want ErrBusy", err)
	}
	me, _ := owner.Me()
	role := mem.Uint64(r.c.b, offProducer)
	r.Close()
	if w := atomic.LoadUint64(role); w != me {
		t.Fatalf("producer word %#x with a handle of this process holding the role, want %#x", w, me)
	}
	if err := other.TryPush(4); err != nil {
		t.Fatalf("push through a second handle once the first closed: %v", err)
	}
	lcWantClosed(t, map[string]error{
		"TryPush":     r.TryPush(4),
		"TryPop":      second(r.TryPop()),
		"PushBatch":   second(r.PushBatch(context.Background(), []uint64{4})),
		"TryPopBatch": second(r.TryPopBatch(make([]uint64, 2))),
	})
	other.Close()
	if w := atomic.LoadUint64(role); w != 0 {
		t.Fatalf("producer word %#x once every handle closed, want 0", w)
	}
	if err := other.Free(); err != nil {
		t.Fatal(err)
	}
	if err := other.Free(); !errors.Is(err, shm.ErrStale) {
		t.Fatalf("a second Free: %v, want shm.ErrStale", err)
	}
}

// The holder slots lie in a part of a ring's header that rings and
// queues neither use nor check: a queue works with them written over, and
// never writes them.
func TestLifecycleHolderWordsUnused(t *testing.T) {
	ctx := xpContext(t)
	q := mustNew(t, NewQueue[string], 4)
	defer q.Free()
	r := mustNew(t, NewSPSCRing[uint64], 4)
	defer r.Free()
	for i := range 100 {
		q.Put(ctx, "x")
		q.Get(ctx)
		r.Push(ctx, uint64(i))
		r.Pop(ctx)
	}
	for _, b := range [][]byte{q.c.b, r.c.b} {
		for i, c := range b[offHolders : offHolders+8*MaxHolders] {
			if c != 0 {
				t.Fatalf("byte %d of the holder slots of a ring: %#x", offHolders+i, c)
			}
		}
		for i := range MaxHolders * 8 {
			b[offHolders+i] = 0xa5
		}
	}
	q2 := handleOf[Queue[string]](t, q)
	if err := q2.Put(ctx, "y"); err != nil {
		t.Fatal(err)
	}
	if v, err := q.Get(ctx); v != "y" || err != nil {
		t.Fatal(v, err)
	}
	if err := r.Push(ctx, 7); err != nil {
		t.Fatal(err)
	}
	if v, err := r.Pop(ctx); v != 7 || err != nil {
		t.Fatal(v, err)
	}
}

// Two handles of one end in one process: the end is held until both are
// closed.
func TestLifecyclePipeHandlesOfOneProcess(t *testing.T) {
	ctx := xpContext(t)
	a, b := newPipe[string](t, 4)
	defer a.Free()
	b2 := handleOf[Conn[string]](t, b)
	if n := lcHolders(b.mine); n != 1 {
		t.Fatalf("%d holder slots of end b taken, want 1 for this process", n)
	}
	b.Close()
	if err := a.Send(ctx, "to b2"); err != nil {
		t.Fatalf("Send with one handle of the other end left: %v", err)
	}
	if v, err := b2.Recv(ctx); v != "to b2" || err != nil {
		t.Fatal(v, err)
	}
	if ok, err := a.Poll(pyEnded()); ok || err == nil {
		t.Fatalf("Poll with the other end held: %v, %v", ok, err)
	}
	b2.Send(ctx, "last")
	b2.Close()
	if v, err := a.Recv(ctx); v != "last" || err != nil {
		t.Fatal(v, err)
	}
	if _, err := a.Recv(ctx); err != io.EOF {
		t.Fatalf("Recv once both handles closed: %v, want io.EOF", err)
	}
	if err := a.Send(ctx, "x"); !errors.Is(err, io.ErrClosedPipe) {
		t.Fatalf("Send once both handles closed: %v, want io.ErrClosedPipe", err)
	}
}

// lcHolders is how many of the holder slots are taken.
func lcHolders(slots []uint64) int {
	n := 0
	for i := range slots {
		if atomic.LoadUint64(&slots[i]) != 0 {
			n++
		}
	}
	return n
}

// An end has at most MaxHolders holders, ends sent and not received
// counting as their senders': past that, MarshalBinary and OpenPipe fail
// with ErrFull; a receipt frees the slot its sender took.
func TestLifecyclePipeTooManyHolders(t *testing.T) {
	seg := testSeg(t)
	a, b := newPipe[string](t, 4, shm.In(seg, "p"))
	var sent [][]byte
	for range MaxHolders - 1 { // slot 0 is this process's own
		h, err := b.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		sent = append(sent, h)
	}
	_, err := b.MarshalBinary()
	if !errors.Is(err, ErrFull) || !strings.HasPrefix(err.Error(), "ringbuffer: ") {
		t.Fatalf("MarshalBinary with every holder slot taken: %v, want ErrFull", err)
	}
	var b2 Conn[string]
	if err := b2.UnmarshalBinary(sent[0]); err != nil { // held already: frees its slot
		t.Fatal(err)
	}
	if _, err := b.MarshalBinary(); err != nil {
		t.Fatalf("MarshalBinary after a receipt: %v", err)
	}
	// OpenPipe needs a slot of each end this process does not hold.
	a.Close()
	me, _ := owner.Me()
	for i := range a.mine {
		atomic.CompareAndSwapUint64(&a.mine[i], 0, me|1) // sent, by a live sender
	}
	if _, _, err := OpenPipe[string](xpContext(t), seg, "p"); !errors.Is(err, ErrFull) || !strings.HasPrefix(err.Error(), "ringbuffer: ") {
		t.Fatalf("OpenPipe with every holder slot of an end taken: %v, want ErrFull", err)
	}
	if err := b.Free(); err != nil {
		t.Fatal(err)
	}
}

// test (b): the child, sole holder of its end, is killed. Once the test
// has what the child sent, its Recv returns io.EOF, whether it was already
// waiting when the child died or came after; Send fails with
// io.ErrClosedPipe.
func TestLifecyclePipeHolderKilled(t *testing.T) {
	for _, waiting := range []bool{true, false} {
		seg := testSeg(t)
		a, b := newPipe[string](t, 8, shm.In(seg, ""))
		p := lcStart(t, seg, "sendwait", lcEnd(t, b), "3")
		b.Close()
		p.WaitPoint("sent")
		ctx := xpContext(t)
		recv := func() { // what the child sent
			for i := range 3 {
				if v, err := a.Recv(ctx); v != fmt.Sprint("m", i) || err != nil {
					t.Fatalf("Recv: %q, %v; want m%d", v, err, i)
				}
			}
		}
		if waiting {
			recv()
		}
		eof := make(chan error, 1)
		start := time.Now()
		if waiting {
			go func() { _, err := a.Recv(ctx); eof <- err }()
		}
		p.Kill()
		if res := p.Wait(); !res.Killed() {
			t.Fatalf("the child was not killed: %+v", res)
		}
		if !waiting {
			recv()
			go func() { _, err := a.Recv(ctx); eof <- err }()
		}
		if err := <-eof; err != io.EOF {
			t.Fatalf("waiting %v: Recv after the holder was killed: %v, want io.EOF", waiting, err)
		}
		t.Logf("waiting %v: io.EOF %v after the kill", waiting, time.Since(start))
		if _, err := a.Recv(ctx); err != io.EOF {
			t.Fatalf("a second Recv: %v, want io.EOF", err)
		}
		if err := a.Send(ctx, "x"); !errors.Is(err, io.ErrClosedPipe) {
			t.Fatalf("Send to the killed holder's end: %v, want io.ErrClosedPipe", err)
		}
		if ok, err := a.Poll(pyEnded()); !ok || err != nil {
			t.Fatalf("Poll at the end of the stream: %v, %v", ok, err)
		}
		if err := a.Free(); err != nil {
			t.Fatal(err)
		}
	}
}

// The last holder of an end killed in the middle of a Send (cells claimed,
// or half a message written, nothing committed): the peer reads what was
// committed, then io.EOF, never the torn message and never a wait for ever.
func TestLifecyclePipeHolderKilledInSend(t *testing.T) {
	for _, at := range []string{pointClaimed, pointWriting} {
		seg := testSeg(t)
		a, b := newPipe[string](t, 8, shm.In(seg, ""))
		p := lcStart(t, seg, "sendfrozen", lcEnd(t, b), "2", at)
		b.Close()
		p.WaitPoint("frozen")
		p.Kill()
		if res := p.Wait(); !res.Killed() {
			t.Fatalf("%s: the child was not killed: %+v", at, res)
		}
		ctx := xpContext(t)
		for i := range 2 {
			if v, err := a.Recv(ctx); v != fmt.Sprint("m", i) || err != nil {
				t.Fatalf("%s: Recv: %q, %v; want m%d", at, v, err, i)
			}
		}
		if v, err := a.Recv(ctx); err != io.EOF {
			t.Fatalf("%s: Recv after the kill: %q, %v; want io.EOF", at, v, err)
		}
		if err := a.Free(); err != nil {
			t.Fatal(err)
		}
	}
}

// A Send waiting for room sees the death of the end's last holder.
func TestLifecyclePipeSendWaitingHolderKilled(t *testing.T) {
	seg := testSeg(t)
	a, b := newPipe[string](t, 1, shm.In(seg, ""))
	defer a.Free()
	p := lcStart(t, seg, "sendwait", lcEnd(t, b), "0")
	b.Close()
	p.WaitPoint("sent") // the child holds its end, and reads nothing
	ctx := xpContext(t)
	var err2 error
	for err2 == nil { // fill the ring
		err2 = a.Send(pyEnded(), "fill")
	}
	if err2 != context.Canceled {
		t.Fatalf("Send to a full ring, looking only: %v", err2)
	}
	sent := make(chan error, 1)
	go func() { sent <- a.Send(ctx, "more") }()
	p.Kill()
	p.Wait()
	if err := <-sent; !errors.Is(err, io.ErrClosedPipe) {
		t.Fatalf("a Send waiting for room when the other end's holder died: %v, want io.ErrClosedPipe", err)
	}
}

// An end sent and never received is held by its sender while the sender
// lives: here a child receives the end, sends it on (as bytes that no one
// receives yet), closes its own copy and is killed. The stream then ends;
// and a process that receives the bytes later holds the end again, and
// talks through it.
func TestLifecyclePipeSenderKilledInFlight(t *testing.T) {
	seg := testSeg(t)
	a, b := newPipe[string](t, 4, shm.In(seg, ""))
	defer a.Free()
	relay := lcStart(t, seg, "relay", lcEnd(t, b))
	b.Close()
	relay.WaitPoint("sent")
	// The relay closed its copy: only its hold for the receiver is left.
	ended, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := a.Recv(ended); err != context.DeadlineExceeded {
		t.Fatalf("Recv with the end in flight from a live sender: %v, want to wait", err)
	}
	relay.Kill()
	res := relay.Wait()
	var handle string
	for _, line := range strings.Split(res.Output, "\n") {
		if rest, ok := strings.CutPrefix(line, "HANDLE "); ok {
			handle = rest
		}
	}
	if !res.Killed() || handle == "" {
		t.Fatalf("relay: %+v", res)
	}
	ctx := xpContext(t)
	if _, err := a.Recv(ctx); err != io.EOF {
		t.Fatalf("Recv once the sender of the end in flight died: %v, want io.EOF", err)
	}
	xpResult(t, lcStart(t, seg, "hello", handle))
	if v, err := a.Recv(ctx); v != "hi" || err != nil {
		t.Fatalf("Recv from the late receiver: %q, %v", v, err)
	}
	if _, err := a.Recv(ctx); err != io.EOF {
		t.Fatalf("Recv once the late receiver closed: %v, want io.EOF", err)
	}
}

// test (c): an end passed through a Queue, its sender closing its copy
// right after the Put, works for the process that takes it.
func TestLifecyclePipeEndThroughQueue(t *testing.T) {
	seg := testSeg(t)
	q := mustNew(t, NewQueue[lcEndMsg], 4, shm.In(seg, "q"))
	a, b := newPipe[string](t, 4, shm.In(seg, ""))
	defer a.Free()
	ctx := xpContext(t)
	if err := q.Put(ctx, lcEndMsg{Text: "via queue", End: b}); err != nil {
		t.Fatal(err)
	}
	b.Close()
	p := lcStart(t, seg, "viaqueue")
	if v, err := a.Recv(ctx); v != "via queue" || err != nil {
		t.Fatalf("Recv: %q, %v", v, err)
	}
	if err := a.Send(ctx, "back"); err != nil {
		t.Fatal(err)
	}
	if out := xpResult(t, p); strings.Join(out, " ") != "ok back" {
		t.Fatalf("child: %q", out)
	}
	if _, err := a.Recv(ctx); err != io.EOF {
		t.Fatalf("Recv once the child closed: %v, want io.EOF", err)
	}
}

// A pipe of the header version before the holder slots is refused, never
// misread.
func TestLifecyclePipeOldVersion(t *testing.T) {
	seg := testSeg(t)
	a, _ := newPipe[string](t, 4, shm.In(seg, "p"))
	defer a.Free()
	h, err := a.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	atomic.StoreUint32(mem.Uint32(a.pipe.Bytes(), 0), 2)
	var c Conn[string]
	for what, err := range map[string]error{
		"OpenPipe":        third(OpenPipe[string](xpContext(t), seg, "p")),
		"UnmarshalBinary": c.UnmarshalBinary(h),
	} {
		if !errors.Is(err, ErrCorrupt) || !errors.Is(err, shm.ErrVersion) {
			t.Errorf("%s of a version 2 pipe: %v, want ErrCorrupt and shm.ErrVersion", what, err)
		}
	}
	atomic.StoreUint32(mem.Uint32(a.pipe.Bytes(), 0), pipeVersion)
}

// Every error of the package says so, and matches its sentinel.
func TestLifecycleErrors(t *testing.T) {
	ctx := xpContext(t)
	seg := testSeg(t)
	errsOf := map[string][2]error{} // what: the error, the sentinel it must match
	add := func(what string, err, want error) { errsOf[what] = [2]error{err, want} }

	add("NewRing(0)", second(NewRing[int64](0)), ErrInvalid)
	add("NewQueue(0)", second(NewQueue[string](0)), ErrInvalid)
	add("NewJoinableQueue(-1)", second(NewJoinableQueue[int64](-1)), ErrInvalid)
	add("Pipe(0)", third(Pipe[int64](0)), ErrInvalid)
	add("NewRing of too many", second(NewRing[int64](MaxCells+1)), ErrInvalid)
	add("NewRing of a pointer", second(NewRing[*int](4)), ErrInvalid)
	add("OpenQueue(nil)", second(OpenQueue[int64](ctx, nil, "q")), ErrInvalid)

	r, _ := NewRing[int64](1, shm.In(seg, "r"))
	q, _ := NewQueue[string](1, shm.In(seg, "q"))
	sp, _ := NewSPSCRing[int64](4)
	jq, _ := NewJoinableQueue[int64](1)
	a, b, _ := Pipe[string](1)
	r.TryPush(1)
	for q.TryPut("x") == nil {
	}
	add("Ring.TryPush, full", r.TryPush(2), ErrFull)
	add("Queue.TryPut, full", q.TryPut("y"), ErrFull)
	add("SPSC TryPop, empty", second(sp.TryPop()), ErrEmpty)
	add("JoinableQueue.TryGet, empty", second(jq.TryGet()), ErrEmpty)
	add("TaskDone without Get", jq.TaskDone(), ErrNegativeTaskDone)
	add("Put too large", q.Put(ctx, strings.Repeat("x", 1<<12)), ErrTooLarge)
	h, _ := sp.MarshalBinary()
	var sp2 Ring[int64]
	sp2.UnmarshalBinary(h)
	sp2.TryPush(1)
	sp.TryPush(2)
	add("SPSC push, pushed under", sp2.TryPush(3), ErrBusy)

	jq.Shutdown()
	add("Put after Shutdown", jq.Put(ctx, 1), ErrShutdown)
	add("Get after Shutdown", second(jq.Get(ctx)), ErrShutdown)
	sp.Close()
	add("SPSC Push, closed", sp.Push(ctx, 1), ErrClosed)
	add("SPSC Pop, closed", second(sp.Pop(ctx)), ErrClosed)
	jq.Close()
	add("Get, closed", second(jq.Get(ctx)), ErrClosed)
	add("Join, closed", jq.Join(ctx), ErrClosed)
	b.Close()
	add("Send to a closed end", a.Send(ctx, "x"), io.ErrClosedPipe)
	add("Send, closed", b.Send(ctx, "x"), ErrClosed)
	add("Recv, closed", second(b.Recv(ctx)), ErrClosed)
	add("Poll, closed", second(b.Poll(ctx)), ErrClosed)
	add("MarshalBinary, closed", second(b.MarshalBinary()), ErrClosed)

	short, cancel := context.WithTimeout(ctx, 30*time.Millisecond)
	defer cancel()
	add("OpenRing, no such name", second(OpenRing[int64](short, seg, "nothing")), shm.ErrNotExist)
	add("OpenPipe, no such name", third(OpenPipe[int64](short, seg, "nothing")), shm.ErrNotExist)
	add("OpenRing of another type", second(OpenRing[int32](ctx, seg, "r")), shm.ErrLayout)
	add("OpenQueue of a ring", second(OpenQueue[int64](ctx, seg, "r")), shm.ErrKind)
	add("OpenJoinableQueue of a queue", second(OpenJoinableQueue[string](ctx, seg, "q")), shm.ErrKind)
	add("Queue.UnmarshalBinary of garbage", new(Queue[string]).UnmarshalBinary([]byte("garbage")), shm.ErrBadHandle)
	add("Conn.UnmarshalBinary of garbage", new(Conn[string]).UnmarshalBinary([]byte("garbage garbage")), shm.ErrBadHandle)
	add("Ring.UnmarshalBinary of garbage", new(Ring[int64]).UnmarshalBinary(nil), shm.ErrBadHandle)

	// Corrupt memory: a ring's header, and a cell word at the head.
	q.c.b[offVersion] = 9
	add("OpenQueue of a corrupt header", second(OpenQueue[string](ctx, seg, "q")), ErrCorrupt)
	q.c.b[offVersion] = version
	atomic.StoreUint64(&q.c.seq[atomic.LoadUint64(q.c.head)&q.c.mask], cellWord(0, stFull, 0, 3))
	add("Get of a corrupt frame", second(q.TryGet()), ErrCorrupt)

	add("Free", r.Free(), nil)
	add("Free, again", r.Free(), shm.ErrStale)
	add("Conn.Free", a.Free(), nil)
	add("Conn.Free, again", a.Free(), shm.ErrStale)

	for what, e := range errsOf {
		err, want := e[0], e[1]
		if want == nil {
			if err != nil {
				t.Errorf("%s: %v", what, err)
			}
			continue
		}
		if !errors.Is(err, want) {
			t.Errorf("%s: %v, want an error matching %v", what, err, want)
			continue
		}
		if !strings.HasPrefix(err.Error(), "ringbuffer: ") {
			t.Errorf("%s: %q does not start with \"ringbuffer: \"", what, err)
		}
	}
	q.Free()
	sp.Free()
	jq.Free()
}

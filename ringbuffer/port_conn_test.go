//go:build linux && (amd64 || arm64)

package ringbuffer

// The behavioural cases of CPython's multiprocessing connection tests
// (Lib/test/_test_multiprocessing.py, classes _TestConnection, _TestPoll
// and _TestListenerClient), as shmkit's own tests, with child processes
// where the original has them. Python's API maps onto shmkit's as
// follows:
//
//	Pipe()                     Pipe[T](n): always duplex
//	Pipe(duplex=False)         OneWayPipe[T](n): a Receiver, a Sender
//	send, send_bytes           Send(ctx, v) (bytes: a Pipe[[]byte])
//	recv, recv_bytes           Recv(ctx)
//	EOFError                   io.EOF, once no process holds the other end
//	                           and what it sent is drained
//	OSError on a closed handle ErrClosed
//	poll(), poll(t)            Poll(ctx): an ended ctx only looks
//	Listener/Client(address)   a Pipe named in a segment, OpenPipe
//
// Cases with no counterpart: the fd transfers (test_fd_transfer,
// test_large_fd_transfer, test_missing_fd_transfer: file descriptors do
// not travel through shared memory), recv_bytes_into and BufferTooShort,
// fileno, readable and writable, send_bytes's offset and size (a slice
// expression; a bad one is Go's panic), _TestListener (sockets, authkeys),
// _TestPicklingConnections. Where shmkit differs on purpose, the package's
// Caveats say so.

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/shmkit/shmkit/internal/shmtest"
	"github.com/shmkit/shmkit/internal/testproc"
	"github.com/shmkit/shmkit/shm"
)

// pyStrings are the messages of test_strings, empty ones among them.
var pyStrings = []string{"hello", "", "a", "b", "", "bye", "", "lop"}

// pyChildConn is the child of the connection tests. Its argument: the
// segment, the pipe's name (a Pipe[[]byte] unless said otherwise), and a
// mode:
//
//	echo      as end 1, send back every message until an empty one, then
//	          Close; print how many it echoed
//	strings   as end 1, send pyStrings, then Close
//	poll      as end 0, stop at point "polling", Poll, print "ready"
//	dontmerge as end 1, send "a", "b", "cd"
//	hello     open the Pipe[string], as end 1 send "hello", then Close
//
// The child opens the pipe by name, and closes the end it does not use,
// but with mode echo and, in place of the name, an end of the pipe as
// MarshalBinary bytes in hex.
var pyChildConn = xpChild("rb-py-conn", func(c *testproc.Child, ctx context.Context, seg *shm.Segment, f xpArgs) error {
	name, mode := f.str(0), f.str(1)
	var out []string
	if mode == "hello" {
		a, b, err := OpenPipe[string](context.Background(), seg, name)
		if err != nil {
			return err
		}
		a.Close()
		if err := b.Send(ctx, "hello"); err != nil {
			return err
		}
		b.Close()
		fmt.Println("RESULT ok")
		return nil
	}
	var a, b *Conn[[]byte]
	if h, err := hex.DecodeString(name); err == nil && len(h) > connTail {
		b = new(Conn[[]byte])
		if err := b.UnmarshalBinary(h); err != nil {
			return err
		}
	} else {
		var err error
		if a, b, err = OpenPipe[[]byte](context.Background(), seg, name); err != nil {
			return err
		}
		if mode == "poll" {
			b.Close()
		} else {
			a.Close()
		}
	}
	switch mode {
	case "echo":
		n := 0
		for {
			v, err := b.Recv(ctx)
			if err != nil {
				return err
			}
			if len(v) == 0 {
				break
			}
			if err := b.Send(ctx, v); err != nil {
				return err
			}
			n++
		}
		b.Close()
		out = append(out, strconv.Itoa(n))
	case "strings":
		for _, s := range pyStrings {
			if err := b.Send(ctx, []byte(s)); err != nil {
				return err
			}
		}
		b.Close()
	case "poll":
		c.Point("polling")
		ok, err := a.Poll(ctx)
		if !ok || err != nil {
			return fmt.Errorf("Poll: %v, %v", ok, err)
		}
		out = append(out, "ready")
	case "dontmerge":
		for _, s := range []string{"a", "b", "cd"} {
			if err := b.Send(ctx, []byte(s)); err != nil {
				return err
			}
		}
	default:
		return fmt.Errorf("unknown mode %q", mode)
	}
	fmt.Println("RESULT", strings.Join(append([]string{"ok"}, out...), " "))
	return nil
})

func pyStartConn(t *testing.T, seg *shm.Segment, name, mode string) *testproc.Proc {
	t.Helper()
	return shmtest.Start(t, xpShortTimeout, pyChildConn, seg.Name(), name, mode)
}

// pyRecv receives the next message and checks it is want.
func pyRecv(t *testing.T, ctx context.Context, c *Conn[[]byte], want string) {
	t.Helper()
	v, err := c.Recv(ctx)
	if err != nil || string(v) != want {
		t.Fatalf("Recv: %q, %v; want %q", v, err, want)
	}
}

// pyPoll polls c and checks the answer.
func pyPoll[T any](t *testing.T, ctx context.Context, c *Conn[T], want bool) {
	t.Helper()
	ok, err := c.Poll(ctx)
	if ok != want || (ok && err != nil) || (!ok && err == nil) {
		t.Fatalf("Poll: %v, %v; want %v", ok, err, want)
	}
}

// pyAtEOF checks that c's stream ended: Recv reports io.EOF, again, and
// Send io.ErrClosedPipe.
func pyAtEOF[T any](t *testing.T, ctx context.Context, c *Conn[T], v T) {
	t.Helper()
	for range 2 {
		if got, err := c.Recv(ctx); err != io.EOF {
			t.Fatalf("Recv at the end: %v, %v; want io.EOF", got, err)
		}
	}
	if err := c.Send(ctx, v); !errors.Is(err, io.ErrClosedPipe) {
		t.Fatalf("Send at the end: %v; want io.ErrClosedPipe", err)
	}
}

// test_connection: messages echoed by a child, Poll on nothing (looking
// only, then with a timeout) and on a message on its way, a message of a
// megabyte, one too large for the ring, and the end of the stream once
// the child closed.
func TestPyConnConnection(t *testing.T) {
	const ring = 8192 // messages of 256 bytes a direction: 2 MiB
	seg := xpSeg(t, 16<<20)
	conn, childConn := newPipe[[]byte](t, ring, shm.In(seg, "p"))
	p := pyStartConn(t, seg, "p", "echo")
	ctx := xpContext(t)
	msg := []byte("hello world")
	for _, m := range [][]byte{msg, bytes.Repeat(msg, 10)} {
		if err := conn.Send(ctx, m); err != nil {
			t.Fatal(err)
		}
		pyRecv(t, ctx, conn, string(m))
	}

	pyPoll(t, pyEnded(), conn, false)
	start := time.Now()
	pyPoll(t, pyTimeout(t, pyShort), conn, false)
	if d := time.Since(start); d < pyShort {
		t.Errorf("Poll with a timeout of %v gave up after %v", pyShort, d)
	}
	if err := conn.Send(ctx, []byte("x")); err != nil {
		t.Fatal(err)
	}
	pyPoll(t, ctx, conn, true)
	pyPoll(t, pyEnded(), conn, true) // Poll takes nothing
	pyRecv(t, ctx, conn, "x")

	big := bytes.Repeat([]byte("X"), 1<<20)
	if err := conn.Send(ctx, big); err != nil {
		t.Fatal(err)
	}
	pyRecv(t, ctx, conn, string(big))
	// Python streams a message of any size; one larger than the ring is
	// refused at once, and the pipe goes on.
	if err := conn.Send(ctx, bytes.Repeat([]byte("X"), ring*encodedRoom*encodedCell)); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("Send of a message larger than the ring: %v, want ErrTooLarge", err)
	}

	if err := conn.Send(ctx, nil); err != nil { // tells the child to close
		t.Fatal(err)
	}
	childConn.Close()
	pyAtEOF(t, ctx, conn, msg)
	if out := xpResult(t, p); strings.Join(out, " ") != "ok 4" {
		t.Errorf("child: %q, want it to have echoed 4", out)
	}
}

// test_duplex_false: the writer's message reaches the reader, in this
// process and from a child that holds the writer; the reader cannot send,
// the writer cannot receive or poll. Differs: Python's OSError at run
// time is a method the type lacks; readable and writable have no
// counterpart.
func TestPyConnDuplexFalse(t *testing.T) {
	ctx := xpContext(t)
	reader, writer := newOneWay[int](t, 4)
	defer reader.Free()
	if err := writer.Send(ctx, 1); err != nil {
		t.Fatal(err)
	}
	if v, err := reader.Recv(ctx); v != 1 || err != nil {
		t.Fatalf("Recv: %v, %v; want 1", v, err)
	}
	type (
		sender interface {
			Send(context.Context, int) error
		}
		receiver interface {
			Recv(context.Context) (int, error)
		}
		poller interface {
			Poll(context.Context) (bool, error)
		}
	)
	if _, ok := any(reader).(sender); ok {
		t.Error("the reader can send")
	}
	if _, ok := any(writer).(receiver); ok {
		t.Error("the writer can receive")
	}
	if _, ok := any(writer).(poller); ok {
		t.Error("the writer can poll")
	}

	rx, _, p := owGive(t, "send", false, "1")
	defer rx.Free()
	if v, err := rx.Recv(ctx); v != "m0" || err != nil {
		t.Fatalf("Recv from the child's writer: %q, %v; want m0", v, err)
	}
	owKill(t, p, "sent")
	if v, err := rx.Recv(ctx); err != io.EOF {
		t.Fatalf("Recv once the writer's only holder died: %q, %v; want io.EOF", v, err)
	}
}

// test_spawn_close: the parent closes its copy of the child's end right
// after starting the child, maybe before the child has its own copy; the
// child's end works, and its Close ends the stream for the parent.
func TestPyConnSpawnClose(t *testing.T) {
	seg := testSeg(t)
	conn, childConn := newPipe[[]byte](t, 4, shm.In(seg, ""))
	defer conn.Free()
	p := pyStartConn(t, seg, lcEnd(t, childConn), "echo")
	childConn.Close() // this might complete before the child starts
	ctx := xpContext(t)
	if err := conn.Send(ctx, []byte("hello")); err != nil {
		t.Fatal(err)
	}
	pyRecv(t, ctx, conn, "hello")
	if err := conn.Send(ctx, nil); err != nil {
		t.Fatal(err)
	}
	pyAtEOF(t, ctx, conn, nil)
	xpResult(t, p)
}

// test_sendbytes: parts of a message, empty ones included, arrive as sent.
func TestPyConnSendBytes(t *testing.T) {
	a, b := newPipe[[]byte](t, 8)
	defer freeConn(a)
	ctx := xpContext(t)
	msg := []byte("abcdefghijklmnopqrstuvwxyz")
	for _, part := range [][]byte{msg, msg[5:], msg[7 : 7+8], msg[26:], msg[26:26]} {
		if err := a.Send(ctx, part); err != nil {
			t.Fatal(err)
		}
		pyRecv(t, ctx, b, string(part))
	}
}

// test_context: after the with block closed both ends, using either fails
// (Python's OSError: ErrClosed).
func TestPyConnContext(t *testing.T) {
	a, b := newPipe[int64](t, 4)
	defer freeConn(a)
	ctx := xpContext(t)
	func() {
		defer a.Close()
		defer b.Close()
		if err := a.Send(ctx, 1729); err != nil {
			t.Fatal(err)
		}
		if v, err := b.Recv(ctx); v != 1729 || err != nil {
			t.Fatalf("Recv: %d, %v", v, err)
		}
	}()
	for _, c := range []*Conn[int64]{a, b} {
		if _, err := c.Recv(ctx); !errors.Is(err, ErrClosed) {
			t.Errorf("Recv through a closed handle: %v, want ErrClosed", err)
		}
		if err := c.Send(ctx, 1); !errors.Is(err, ErrClosed) {
			t.Errorf("Send through a closed handle: %v, want ErrClosed", err)
		}
	}
}

// test_listener_client, and test_issue14725 (the client sent and closed
// before the server looked): a pipe named in a segment is the address; a
// child opens it by name, sends "hello" and closes.
func TestPyConnListenerClient(t *testing.T) {
	for _, late := range []bool{false, true} {
		seg := testSeg(t)
		server, client := newPipe[string](t, 4, shm.In(seg, "listener"))
		p := pyStartConn(t, seg, "listener", "hello")
		if late {
			xpResult(t, p) // the client is gone before the first Recv
		}
		ctx := xpContext(t)
		if v, err := server.Recv(ctx); v != "hello" || err != nil {
			t.Fatalf("late %v: Recv: %q, %v", late, v, err)
		}
		client.Close() // the client has the pipe: the server lets go of its end
		pyAtEOF(t, ctx, server, "")
		xpResult(t, p)
	}
}

// test_issue16955: Poll sees a message sent before it.
func TestPyConnPollAfterSend(t *testing.T) {
	a, c := newPipe[[]byte](t, 4)
	defer freeConn(a)
	if err := a.Send(xpContext(t), []byte("hello")); err != nil {
		t.Fatal(err)
	}
	pyPoll(t, pyTimeout(t, time.Minute), c, true)
}

// Poll waiting on an empty pipe returns, true, when the other end closes:
// the end of the stream is something to receive (Python's poll is true at
// EOF too).
func TestPyPollAtClose(t *testing.T) {
	a, b := newPipe[[]byte](t, 4)
	defer freeConn(a)
	ctx := xpContext(t)
	polled := make(chan bool, 1)
	go func() { ok, _ := a.Poll(ctx); polled <- ok }()
	b.Close()
	if !<-polled {
		t.Fatal("Poll waiting when the other end closed: false")
	}
	pyAtEOF(t, ctx, a, nil)
}

// _TestPoll.test_empty_string: an empty message makes Poll true, and Poll
// takes nothing.
func TestPyPollEmptyString(t *testing.T) {
	a, b := newPipe[[]byte](t, 4)
	defer freeConn(a)
	ctx := xpContext(t)
	pyPoll(t, pyEnded(), a, false)
	if err := b.Send(ctx, []byte{}); err != nil {
		t.Fatal(err)
	}
	pyPoll(t, pyEnded(), a, true)
	pyPoll(t, pyEnded(), a, true)
	pyRecv(t, ctx, a, "")
	pyPoll(t, pyEnded(), a, false)
}

// _TestPoll.test_strings: a child sends messages, empty ones among them,
// and closes; the parent polls with short timeouts until each is there.
func TestPyPollStrings(t *testing.T) {
	seg := testSeg(t)
	a, b := newPipe[[]byte](t, 4, shm.In(seg, "p"))
	p := pyStartConn(t, seg, "p", "strings")
	ctx := xpContext(t)
	for i, s := range pyStrings {
		if i == 1 {
			b.Close() // the child has the pipe
		}
		for {
			ok, err := a.Poll(pyTimeout(t, 10*time.Millisecond))
			if ok {
				break
			}
			if err != context.DeadlineExceeded {
				t.Fatalf("Poll: %v", err)
			}
			if ctx.Err() != nil {
				t.Fatalf("no message %q within %v", s, xpTimeout)
			}
		}
		pyRecv(t, ctx, a, s)
	}
	pyPoll(t, ctx, a, true) // the end of the stream is ready too
	pyAtEOF(t, ctx, a, nil)
	xpResult(t, p)
}

// _TestPoll.test_boundaries: a child polling the receiving end does not
// take part of a message (or any of it): after it returned, the parent
// receives both messages whole from the same end.
func TestPyPollBoundaries(t *testing.T) {
	seg := testSeg(t)
	r, w := newPipe[[]byte](t, 4, shm.In(seg, "p"))
	p := pyStartConn(t, seg, "p", "poll")
	p.WaitPoint("polling")
	p.Continue()
	ctx := xpContext(t)
	for _, s := range []string{"first", "second"} {
		if err := w.Send(ctx, []byte(s)); err != nil {
			t.Fatal(err)
		}
	}
	w.Close()
	if out := xpResult(t, p); strings.Join(out, " ") != "ok ready" {
		t.Errorf("child: %q", out)
	}
	pyRecv(t, ctx, r, "first")
	pyRecv(t, ctx, r, "second")
	pyAtEOF(t, ctx, r, nil)
}

// _TestPoll.test_dont_merge: messages sent one after another by a child
// arrive one by one, never merged; Poll between them takes nothing.
func TestPyPollDontMerge(t *testing.T) {
	seg := testSeg(t)
	a, _ := newPipe[[]byte](t, 4, shm.In(seg, "p"))
	pyPoll(t, pyEnded(), a, false)
	pyPoll(t, pyTimeout(t, pyShort), a, false)
	p := pyStartConn(t, seg, "p", "dontmerge")
	ctx := xpContext(t)
	pyRecv(t, ctx, a, "a")
	pyPoll(t, ctx, a, true)
	pyPoll(t, ctx, a, true)
	pyRecv(t, ctx, a, "b")
	pyPoll(t, ctx, a, true)
	pyPoll(t, ctx, a, true)
	pyPoll(t, pyEnded(), a, true)
	pyRecv(t, ctx, a, "cd")
	xpResult(t, p)
}

// test_boundaries, the other half: Poll does not report a message that is
// only partly there. A Send stopped before it committed its message (as a
// sender that is slow, or dead, would be) leaves Recv nothing to take: Poll,
// only looking, says so, and a Poll that waits returns once the message
// is whole.
func TestPyPollPartialMessage(t *testing.T) {
	ctx := xpContext(t)
	for _, plain := range []bool{true, false} {
		var send func() error
		var poll func(context.Context) (bool, error)
		var recv func() (string, error)
		var free func()
		if plain {
			a, b := newPipe[int64](t, 4)
			send = func() error { return a.Send(ctx, 42) }
			poll = b.Poll
			recv = func() (string, error) { v, err := b.Recv(ctx); return strconv.FormatInt(v, 10), err }
			free = func() { freeConn(a) }
		} else {
			a, b := newPipe[string](t, 4)
			send = func() error { return a.Send(ctx, "42") }
			poll = b.Poll
			recv = func() (string, error) { return b.Recv(ctx) }
			free = func() { freeConn(a) }
		}
		writing, goOn := make(chan struct{}), make(chan struct{})
		testHook = func(p string) {
			if p == pointPublish {
				close(writing)
				<-goOn
			}
		}
		sent := make(chan error, 1)
		go func() { sent <- send() }()
		<-writing
		if ok, err := poll(pyEnded()); ok {
			t.Errorf("plain %v: Poll with a message written, not committed: true, %v; want false", plain, err)
		}
		polled := make(chan bool, 1)
		go func() { ok, _ := poll(ctx); polled <- ok }()
		close(goOn)
		err := <-sent
		testHook = nil
		if err != nil {
			t.Fatal(err)
		}
		if !<-polled {
			t.Errorf("plain %v: Poll waiting for the message: false", plain)
		}
		if v, err := recv(); v != "42" || err != nil {
			t.Errorf("plain %v: Recv: %q, %v", plain, v, err)
		}
		free()
	}
}

//go:build linux && (amd64 || arm64)

package ringbuffer

import (
	"context"
	"encoding"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/shmkit/shmkit/internal/shmtest"
	"github.com/shmkit/shmkit/internal/testproc"
	"github.com/shmkit/shmkit/shm"
)

// owChild is the child of the one-way pipe tests. Its argument: the
// segment, a mode, then the mode's fields.
//
//	send HEX N   receive the Sender HEX, send "m0".."m(N-1)", stop at
//	             point "sent", then wait to be killed
//	recv HEX     receive the Receiver HEX, print the first message, Close
//	hold HEX     receive the Receiver HEX, stop at point "held", then wait
//	             to be killed
var owChild = xpChild("rb-oneway", func(c *testproc.Child, ctx context.Context, seg *shm.Segment, f xpArgs) error {
	h, err := hex.DecodeString(f.str(1))
	if err != nil {
		return err
	}
	switch mode := f.str(0); mode {
	case "send":
		var tx Sender[string]
		if err := tx.UnmarshalBinary(h); err != nil {
			return err
		}
		for i := range f.int(2) {
			if err := tx.Send(ctx, fmt.Sprint("m", i)); err != nil {
				return err
			}
		}
		c.Point("sent")
		<-ctx.Done()
		return ctx.Err()
	case "recv", "hold":
		var rx Receiver[string]
		if err := rx.UnmarshalBinary(h); err != nil {
			return err
		}
		if mode == "hold" {
			c.Point("held")
			<-ctx.Done()
			return ctx.Err()
		}
		v, err := rx.Recv(ctx)
		if err != nil {
			return err
		}
		rx.Close()
		fmt.Println("RESULT ok", v)
		return nil
	default:
		return fmt.Errorf("unknown mode %q", mode)
	}
})

func owStart(t *testing.T, seg *shm.Segment, args ...string) *testproc.Proc {
	t.Helper()
	return shmtest.Start(t, xpShortTimeout, owChild, append([]string{seg.Name()}, args...)...)
}

func owHex(t *testing.T, m encoding.BinaryMarshaler) string {
	t.Helper()
	h, err := m.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(h)
}

func newOneWay[T any](t *testing.T, n int, opts ...shm.Option) (*Receiver[T], *Sender[T]) {
	t.Helper()
	rx, tx, err := OneWayPipe[T](n, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return rx, tx
}

// In one process: messages go one way, in order, n of them before Send
// waits; the Sender's Close ends the stream for the Receiver once drained,
// the Receiver's Close fails the Sender's Send.
func TestOneWayPipe(t *testing.T) {
	ctx := xpContext(t)
	for _, plain := range []bool{true, false} {
		rx, tx := newOneWay[string](t, 4)
		if plain {
			rx2, tx2 := newOneWay[int64](t, 4)
			for i := range int64(4) {
				if err := tx2.Send(ctx, i); err != nil {
					t.Fatal(err)
				}
			}
			short, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
			if err := tx2.Send(short, 4); err != context.DeadlineExceeded {
				t.Errorf("a 5th Send on a one-way pipe of 4: %v, want it to wait", err)
			}
			cancel()
			for i := range int64(4) {
				if v, err := rx2.Recv(ctx); v != i || err != nil {
					t.Fatalf("Recv: %v, %v, want %d", v, err, i)
				}
			}
			rx2.Free()
		}
		for _, m := range []string{"a", "b"} {
			if err := tx.Send(ctx, m); err != nil {
				t.Fatal(err)
			}
		}
		if ok, err := rx.Poll(ctx); !ok || err != nil {
			t.Fatalf("Poll with messages sent: %v, %v", ok, err)
		}
		tx.Close()
		if err := tx.Send(ctx, "c"); !errors.Is(err, ErrClosed) {
			t.Fatalf("Send through a closed Sender: %v, want ErrClosed", err)
		}
		for _, m := range []string{"a", "b"} {
			if v, err := rx.Recv(ctx); v != m || err != nil {
				t.Fatalf("Recv: %q, %v, want %q", v, err, m)
			}
		}
		if _, err := rx.Recv(ctx); err != io.EOF {
			t.Fatalf("Recv with the Sender closed and drained: %v, want io.EOF", err)
		}
		if err := rx.Free(); err != nil {
			t.Fatal(err)
		}

		rx, tx = newOneWay[string](t, 4)
		rx.Close()
		if err := tx.Send(ctx, "x"); !errors.Is(err, io.ErrClosedPipe) {
			t.Fatalf("Send with the Receiver closed: %v, want io.ErrClosedPipe", err)
		}
		if err := tx.Free(); err != nil {
			t.Fatal(err)
		}
	}
}

// The ends refuse each other's bytes, a duplex pipe's, and the other way
// round: each type can only be its half.
func TestOneWayPipeKinds(t *testing.T) {
	rx, tx := newOneWay[string](t, 4)
	defer rx.Free()
	a, b := newPipe[string](t, 4)
	defer a.Free()
	defer b.Close()
	rxb, _ := rx.MarshalBinary()
	txb, _ := tx.MarshalBinary()
	ab, _ := a.MarshalBinary()
	bb, _ := b.MarshalBinary()
	for _, c := range []struct {
		what string
		err  error
	}{
		{"a Receiver from a Sender's bytes", new(Receiver[string]).UnmarshalBinary(txb)},
		{"a Sender from a Receiver's bytes", new(Sender[string]).UnmarshalBinary(rxb)},
		{"a Receiver from a Conn's bytes", new(Receiver[string]).UnmarshalBinary(bb)},
		{"a Sender from a Conn's bytes", new(Sender[string]).UnmarshalBinary(ab)},
		{"a Conn from a Sender's bytes", new(Conn[string]).UnmarshalBinary(txb)},
		{"a Conn from a Receiver's bytes", new(Conn[string]).UnmarshalBinary(rxb)},
	} {
		if !errors.Is(c.err, shm.ErrKind) {
			t.Errorf("%s: %v, want shm.ErrKind", c.what, c.err)
		}
	}
	var rx2 Receiver[string]
	if err := rx2.UnmarshalBinary(rxb); err != nil {
		t.Fatalf("a Receiver from its bytes: %v", err)
	}
	rx2.Close()
	if err := new(Receiver[int64]).UnmarshalBinary(rxb); !errors.Is(err, shm.ErrLayout) {
		t.Errorf("a Receiver of another T: %v, want shm.ErrLayout", err)
	}
	// The way back is a ring of one message: a one-way pipe of n is about
	// half a duplex one, once the ring's data outweighs its header.
	big, _ := newOneWay[string](t, 256)
	defer big.Free()
	bigA, bigB := newPipe[string](t, 256)
	defer bigA.Free()
	defer bigB.Close()
	if one, two := len(big.c.pipe.Bytes()), len(bigA.pipe.Bytes()); one > two*6/10 {
		t.Errorf("a one-way pipe of 256 takes %d bytes, a duplex one %d", one, two)
	}
}

// owGive makes a one-way pipe of 8 in a new segment, starts the child in
// mode with the Receiver (or the Sender) as its argument, and closes this
// process's copy of that end, as a Python parent does.
func owGive(t *testing.T, mode string, receiver bool, args ...string) (*Receiver[string], *Sender[string], *testproc.Proc) {
	seg := testSeg(t)
	rx, tx := newOneWay[string](t, 8, shm.In(seg, ""))
	var give interface {
		io.Closer
		encoding.BinaryMarshaler
	} = tx
	if receiver {
		give = rx
	}
	p := owStart(t, seg, append([]string{mode, owHex(t, give)}, args...)...)
	give.Close()
	return rx, tx, p
}

// owKill SIGKILLs p once it is at point.
func owKill(t *testing.T, p *testproc.Proc, point string) {
	p.WaitPoint(point)
	p.Kill()
	if res := p.Wait(); !res.Killed() {
		t.Fatalf("the child was not killed: %+v", res)
	}
}

// The Sender, held only by a child, is SIGKILLed: the Receiver gets what
// the child sent, then io.EOF. The Receiver, held only by a child, is
// SIGKILLed, or closed: the Sender's Send fails.
func TestOneWayPipeAcrossProcesses(t *testing.T) {
	ctx := xpContext(t)
	t.Run("sender killed", func(t *testing.T) {
		rx, _, p := owGive(t, "send", false, "3")
		defer rx.Free()
		owKill(t, p, "sent")
		for i := range 3 {
			if v, err := rx.Recv(ctx); v != fmt.Sprint("m", i) || err != nil {
				t.Fatalf("Recv: %q, %v, want m%d", v, err, i)
			}
		}
		if _, err := rx.Recv(ctx); err != io.EOF {
			t.Fatalf("Recv after the Sender's holder was killed: %v, want io.EOF", err)
		}
	})
	t.Run("receiver killed", func(t *testing.T) {
		_, tx, p := owGive(t, "hold", true)
		defer tx.Free()
		owKill(t, p, "held")
		// The death shows once Send waits for room: the pipe fills, and
		// the next Send fails instead of waiting for ever.
		var err error
		for i := 0; err == nil && i < 10000; i++ {
			err = tx.Send(ctx, "x")
		}
		if !errors.Is(err, io.ErrClosedPipe) {
			t.Fatalf("Send with the Receiver's holder killed: %v, want io.ErrClosedPipe", err)
		}
	})
	t.Run("receiver closed", func(t *testing.T) {
		_, tx, p := owGive(t, "recv", true)
		defer tx.Free()
		if err := tx.Send(ctx, "hello"); err != nil {
			t.Fatal(err)
		}
		if res := p.Wait(); res.ExitCode != 0 {
			t.Fatalf("child: %+v", res)
		}
		if err := tx.Send(ctx, "again"); !errors.Is(err, io.ErrClosedPipe) {
			t.Fatalf("Send once the child closed the Receiver: %v, want io.ErrClosedPipe", err)
		}
	})
}

//go:build linux && (amd64 || arm64)

package ringbuffer

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/shmkit/shmkit/internal/shmtest"
	"github.com/shmkit/shmkit/internal/testproc"
	"github.com/shmkit/shmkit/shm"
)

// owNamedChild is a program of its own that opens an end of a one-way pipe
// by name: it is handed no handle, only the segment and the pipe's name.
//
//	write NAME N      open the Sender, send "m0".."m(N-1)", stop at point
//	                  "sent", then wait to be killed
//	write-close NAME N  the same, then Close and exit
//	read NAME         open the Receiver, receive until io.EOF, print them
//	hold NAME WANT    open the Receiver, receive one message (WANT, or
//	                  fail), stop at point "held", then wait to be killed
var owNamedChild = xpChild("rb-oneway-named", func(c *testproc.Child, ctx context.Context, seg *shm.Segment, f xpArgs) error {
	name := f.str(1)
	switch mode := f.str(0); mode {
	case "write", "write-close":
		tx, err := OpenSender[string](ctx, seg, name)
		if err != nil {
			return err
		}
		for i := range f.int(2) {
			if err := tx.Send(ctx, fmt.Sprint("m", i)); err != nil {
				return err
			}
		}
		if mode == "write-close" {
			return tx.Close()
		}
		c.Point("sent")
		<-ctx.Done()
		return ctx.Err()
	case "read":
		rx, err := OpenReceiver[string](ctx, seg, name)
		if err != nil {
			return err
		}
		defer rx.Close()
		var got []string
		for {
			v, err := rx.Recv(ctx)
			if err == io.EOF {
				break
			}
			if err != nil {
				return err
			}
			got = append(got, v)
		}
		fmt.Println("RESULT", strings.Join(got, " "))
		return nil
	case "hold":
		rx, err := OpenReceiver[string](ctx, seg, name)
		if err != nil {
			return err
		}
		if v, err := rx.Recv(ctx); v != f.str(2) || err != nil {
			return fmt.Errorf("Recv: %q, %v, want %q", v, err, f.str(2))
		}
		c.Point("held")
		<-ctx.Done()
		return ctx.Err()
	default:
		return fmt.Errorf("unknown mode %q", mode)
	}
})

func owNamedStart(t *testing.T, seg *shm.Segment, args ...string) *testproc.Proc {
	t.Helper()
	return shmtest.Start(t, xpShortTimeout, owNamedChild, append([]string{seg.Name()}, args...)...)
}

// owNotEnded checks that rx's stream has not ended: Poll waits (it would
// report true at once for io.EOF).
func owNotEnded(t *testing.T, rx *Receiver[string], when string) {
	t.Helper()
	short, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if ok, err := rx.Poll(short); ok || err != context.DeadlineExceeded {
		t.Fatalf("%s: Poll: %v, %v, want it to wait (the writer has not opened the pipe)", when, ok, err)
	}
}

// A reader program makes the pipe and keeps the Receiver; a writer
// program, started apart, opens the Sender by name.
func TestOneWayPipeByName(t *testing.T) {
	ctx := xpContext(t)
	// The writer opens the Sender, sends, and is SIGKILLed: the reader,
	// which saw no end of the stream before the writer opened it, gets
	// what was sent and then io.EOF.
	t.Run("writer killed", func(t *testing.T) {
		seg := testSeg(t)
		rx, err := NewReceiver[string](8, shm.In(seg, "p"))
		if err != nil {
			t.Fatal(err)
		}
		defer rx.Free()
		owNotEnded(t, rx, "before the writer started")
		p := owNamedStart(t, seg, "write", "p", "3")
		owKill(t, p, "sent")
		for i := range 3 {
			if v, err := rx.Recv(ctx); v != fmt.Sprint("m", i) || err != nil {
				t.Fatalf("Recv: %q, %v, want m%d", v, err, i)
			}
		}
		if _, err := rx.Recv(ctx); err != io.EOF {
			t.Fatalf("Recv after the writer was killed: %v, want io.EOF", err)
		}
	})
	// The writer starts first and waits for the pipe in OpenSender; it
	// sends and closes: the reader gets it all, then io.EOF.
	t.Run("writer first, closes", func(t *testing.T) {
		seg := testSeg(t)
		p := owNamedStart(t, seg, "write-close", "p", "5")
		time.Sleep(20 * time.Millisecond) // most often, the writer waits by now
		rx, err := NewReceiver[string](2, shm.In(seg, "p"))
		if err != nil {
			t.Fatal(err)
		}
		defer rx.Free()
		for i := range 5 {
			if v, err := rx.Recv(ctx); v != fmt.Sprint("m", i) || err != nil {
				t.Fatalf("Recv: %q, %v, want m%d", v, err, i)
			}
		}
		if _, err := rx.Recv(ctx); err != io.EOF {
			t.Fatalf("Recv after the writer closed: %v, want io.EOF", err)
		}
		p.Succeed()
	})
	// A writer program makes the pipe and keeps the Sender: it sends
	// before the reader opened it; the reader opens the Receiver by name,
	// receives, and is SIGKILLed: Send fails with io.ErrClosedPipe.
	t.Run("reader killed", func(t *testing.T) {
		seg := testSeg(t)
		tx, err := NewSender[string](8, shm.In(seg, "p"))
		if err != nil {
			t.Fatal(err)
		}
		defer tx.Free()
		if err := tx.Send(ctx, "before"); err != nil {
			t.Fatalf("Send before the reader opened the pipe: %v", err)
		}
		p := owNamedStart(t, seg, "hold", "p", "before")
		owKill(t, p, "held")
		var err2 error
		for i := 0; err2 == nil && i < 10000; i++ {
			err2 = tx.Send(ctx, "x")
		}
		if !errors.Is(err2, io.ErrClosedPipe) {
			t.Fatalf("Send with the reader killed: %v, want io.ErrClosedPipe", err2)
		}
	})
	// A third program makes the pipe and keeps no end: the reader and the
	// writer both open by name, the reader first; the writer sends and is
	// SIGKILLed: the reader gets every message, then io.EOF.
	t.Run("maker keeps no end", func(t *testing.T) {
		seg := testSeg(t)
		if err := CreateOneWayPipe[string](8, shm.In(seg, "p")); err != nil {
			t.Fatal(err)
		}
		r := owNamedStart(t, seg, "read", "p")
		time.Sleep(20 * time.Millisecond) // most often, the reader waits in Recv by now
		w := owNamedStart(t, seg, "write", "p", "3")
		owKill(t, w, "sent")
		if got := xpResult(t, r); strings.Join(got, " ") != "m0 m1 m2" {
			t.Fatalf("the reader got %q, want m0 m1 m2", got)
		}
		rx, err := OpenReceiver[string](ctx, seg, "p")
		if err != nil {
			t.Fatal(err)
		}
		if err := rx.Free(); err != nil {
			t.Fatal(err)
		}
	})
	// Both programs open by name, the writer before the reader: the reader
	// gets every message and io.EOF.
	t.Run("reader opens after the writer closed", func(t *testing.T) {
		seg := testSeg(t)
		tx, err := NewSender[string](8, shm.In(seg, "p"))
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range []string{"a", "b"} {
			if err := tx.Send(ctx, m); err != nil {
				t.Fatal(err)
			}
		}
		tx.Close()
		p := owNamedStart(t, seg, "read", "p")
		if got := xpResult(t, p); strings.Join(got, " ") != "a b" {
			t.Fatalf("the reader got %q, want a b", got)
		}
	})
}

// The opens check what they find, as every typed open: another T, a duplex
// pipe, a name that never comes; a kept end needs a name.
func TestOneWayPipeOpenChecks(t *testing.T) {
	seg := testSeg(t)
	rx, err := NewReceiver[string](4, shm.In(seg, "one"))
	if err != nil {
		t.Fatal(err)
	}
	defer rx.Free()
	a, b, err := Pipe[string](4, shm.In(seg, "two"))
	if err != nil {
		t.Fatal(err)
	}
	defer a.Free()
	defer b.Close()
	ctx := context.Background()
	if _, err := OpenSender[int64](ctx, seg, "one"); !errors.Is(err, shm.ErrLayout) {
		t.Errorf("OpenSender of another T: %v, want shm.ErrLayout", err)
	}
	if _, err := OpenReceiver[string](ctx, seg, "two"); !errors.Is(err, shm.ErrKind) {
		t.Errorf("OpenReceiver of a duplex pipe: %v, want shm.ErrKind", err)
	}
	if _, _, err := OpenPipe[string](ctx, seg, "one"); !errors.Is(err, shm.ErrKind) {
		t.Errorf("OpenPipe of a one-way pipe: %v, want shm.ErrKind", err)
	}
	short, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel()
	if _, err := OpenSender[string](short, seg, "none"); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("OpenSender of a pipe never made: %v, want context.DeadlineExceeded", err)
	}
	for _, opts := range [][]shm.Option{nil, {shm.In(seg, "")}} {
		if _, err := NewReceiver[string](4, opts...); !errors.Is(err, ErrInvalid) {
			t.Errorf("NewReceiver with no name: %v, want ErrInvalid", err)
		}
		if _, err := NewSender[string](4, opts...); !errors.Is(err, ErrInvalid) {
			t.Errorf("NewSender with no name: %v, want ErrInvalid", err)
		}
		if err := CreateOneWayPipe[string](4, opts...); !errors.Is(err, ErrInvalid) {
			t.Errorf("CreateOneWayPipe with no name: %v, want ErrInvalid", err)
		}
	}
	// Bytes of an end whose hold is the kept word are no handle: only an
	// opener by name takes a kept end over.
	b0, err := rx.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	var rx0 Receiver[string]
	if err := rx0.UnmarshalBinary(b0); err != nil { // and let go of its hold
		t.Fatal(err)
	}
	rx0.Close()
	b0 = append(b0[:len(b0)-8:len(b0)-8], 1, 0, 0, 0, 0, 0, 0, 0)
	if err := new(Receiver[string]).UnmarshalBinary(b0); !errors.Is(err, shm.ErrBadHandle) {
		t.Errorf("a Receiver's bytes holding the kept word: %v, want shm.ErrBadHandle", err)
	}
	// The opener takes over the kept Sender: once it closes, the stream
	// ends.
	tx1, err := OpenSender[string](ctx, seg, "one")
	if err != nil {
		t.Fatal(err)
	}
	if n := owKeptSlots(rx.c.peer); n != 0 {
		t.Fatalf("after OpenSender, %d kept slots left", n)
	}
	tx1.Close()
	if _, err := rx.Recv(ctx); err != io.EOF {
		t.Fatalf("Recv once the opener closed: %v, want io.EOF", err)
	}
}

func owKeptSlots(w []uint64) int {
	n := 0
	for _, x := range w {
		if x == kept {
			n++
		}
	}
	return n
}

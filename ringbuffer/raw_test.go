//go:build linux && (amd64 || arm64)

package ringbuffer

// The byte-level access of package internal/rawq, in one process: a
// message put from two buffers is the message a Queue's Get decodes, and
// the other way round, at every position of the ring (wrapped messages
// included); Ready; the errors. Its crash guarantees are the kill tests'
// "raw" lanes.

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"github.com/shmkit/shmkit/internal/rawq"
)

// copyCodec is a Codec of []byte: a message is its bytes.
type copyCodec struct{}

func (copyCodec) Append(b []byte, v *[]byte) ([]byte, error) { return append(b, *v...), nil }
func (copyCodec) Decode(b []byte, v *[]byte) error           { *v = append((*v)[:0], b...); return nil }

// rawCopy keeps a copy of each message it reads.
type rawCopy struct{ got []byte }

func (r *rawCopy) Read(b []byte) error {
	r.got = append(r.got[:0], b...)
	return nil
}

func TestRawQueue(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	q, err := NewQueue[[]byte](4) // 16 cells of 64 bytes
	if err != nil {
		t.Fatal(err)
	}
	defer q.Free()
	q.SetCodec(copyCodec{})
	r, err := rawq.Of(q)
	if err != nil {
		t.Fatal(err)
	}
	if r.Ready() {
		t.Fatal("Ready on an empty queue")
	}
	var rc rawCopy
	if err := r.TryGet(&rc); !errors.Is(err, ErrEmpty) {
		t.Fatalf("TryGet of an empty queue: %v", err)
	}
	msg := func(i, n int) []byte {
		b := make([]byte, n)
		for j := range b {
			b[j] = byte(i*31 + j)
		}
		return b
	}
	// Sizes of 1 to 5 cells, so that messages start, end and wrap at
	// every cell of the ring.
	for i := range 200 {
		m := msg(i, 1+(i*53)%300)
		split := i % (len(m) + 1)
		if i%2 == 0 { // raw in, Get out
			if err := r.Put(ctx, m[:split], m[split:]); err != nil {
				t.Fatalf("message %d: Put: %v", i, err)
			}
			if !r.Ready() {
				t.Fatalf("message %d: not Ready after Put", i)
			}
			got, err := q.Get(ctx)
			if err != nil || !bytes.Equal(got, m) {
				t.Fatalf("message %d of %d bytes (split at %d): Get %d bytes, %v", i, len(m), split, len(got), err)
			}
		} else { // Put in, raw out
			if err := q.Put(ctx, m); err != nil {
				t.Fatalf("message %d: Put: %v", i, err)
			}
			if err := r.Get(ctx, &rc); err != nil || !bytes.Equal(rc.got, m) {
				t.Fatalf("message %d of %d bytes: raw Get %d bytes, %v", i, len(m), len(rc.got), err)
			}
		}
	}
	// Read's error is TryGet's, and the message is gone all the same.
	if err := r.TryPut([]byte("x"), nil); err != nil {
		t.Fatal(err)
	}
	bad := errors.New("bad")
	if err := r.TryGet(readFunc(func([]byte) error { return bad })); err != bad {
		t.Fatalf("TryGet with a failing Read: %v", err)
	}
	if n := q.Len(); n != 0 {
		t.Fatalf("%d messages left after a failed Read", n)
	}
	// Full, too large, shut down.
	for i := 0; ; i++ {
		err := r.TryPut(msg(i, 100), nil)
		if errors.Is(err, ErrFull) {
			break
		}
		if err != nil || i > 16 {
			t.Fatalf("filling: message %d: %v", i, err)
		}
	}
	if err := r.TryPut(make([]byte, 600), make([]byte, 600)); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("a message larger than the ring: %v", err)
	}
	q.Shutdown()
	if err := r.TryPut(nil, []byte("x")); !errors.Is(err, ErrShutdown) {
		t.Fatalf("TryPut after Shutdown: %v", err)
	}
	for r.TryGet(&rc) == nil {
	}
	if !r.Ready() {
		t.Fatal("not Ready once shut down")
	}
	if err := r.Get(ctx, &rc); !errors.Is(err, ErrShutdown) {
		t.Fatalf("Get of a drained queue shut down: %v", err)
	}
	plain, err := NewQueue[int64](4)
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Free()
	if _, err := rawq.Of(plain); !errors.Is(err, ErrInvalid) {
		t.Fatalf("rawq.Of a Queue of plain values: %v", err)
	}
}

type readFunc func([]byte) error

func (f readFunc) Read(b []byte) error { return f(b) }

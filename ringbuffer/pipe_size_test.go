//go:build linux && (amd64 || arm64)

package ringbuffer

// A Pipe of n messages is two Queues of n messages: wherever two Queues
// fit, a Pipe fits, in a segment of the caller's or in the default heap.

import (
	"context"
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

// sizeCase is one element type and capacity of TestPipeFitsWhereQueuesFit.
type sizeCase struct {
	what string
	n    int
	// queues places two Queues of n in seg; pipe places a Pipe of n and
	// sends a message each way.
	queues func(seg *shm.Segment) error
	pipe   func(seg *shm.Segment) error
}

func sizeCaseOf[T any](what string, n int, v T) sizeCase {
	return sizeCase{
		what: what, n: n,
		queues: func(seg *shm.Segment) error {
			for _, name := range []string{"q0", "q1"} {
				if _, err := NewQueue[T](n, shm.In(seg, name)); err != nil {
					return err
				}
			}
			return nil
		},
		pipe: func(seg *shm.Segment) error {
			a, b, err := Pipe[T](n, shm.In(seg, "p"))
			if err != nil {
				return err
			}
			return pipeWorks(a, b, v)
		},
	}
}

// pipeWorks sends v each way through the pipe and closes it.
func pipeWorks[T any](a, b *Conn[T], v T) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, ends := range [][2]*Conn[T]{{a, b}, {b, a}} {
		if err := ends[0].Send(ctx, v); err != nil {
			return fmt.Errorf("send: %w", err)
		}
		if _, err := ends[1].Recv(ctx); err != nil {
			return fmt.Errorf("recv: %w", err)
		}
	}
	a.Close()
	if _, err := b.Recv(ctx); err != io.EOF {
		return fmt.Errorf("recv after close: %v", err)
	}
	return nil
}

// fitsIn runs place in a fresh anonymous segment of size bytes: true if it
// succeeded, false if it found the segment full (or the size too small for
// a segment at all).
func fitsIn(t *testing.T, size int64, place func(*shm.Segment) error) bool {
	t.Helper()
	seg, err := shm.Anonymous(size)
	if errors.Is(err, shm.ErrSize) {
		return false
	}
	if err != nil {
		t.Fatal(err)
	}
	defer seg.Close()
	err = place(seg)
	if errors.Is(err, shm.ErrFull) {
		return false
	}
	if err != nil {
		t.Fatalf("segment of %d bytes: %v", size, err)
	}
	return true
}

func TestPipeFitsWhereQueuesFit(t *testing.T) {
	cases := []sizeCase{
		sizeCaseOf("uint64", 1, uint64(7)),
		sizeCaseOf("uint64", 1000, uint64(7)),
		sizeCaseOf("uint64", 1<<16, uint64(7)),
		sizeCaseOf("[3]byte", 5, [3]byte{1, 2, 3}), // rings not a whole number of cache lines
		sizeCaseOf("[3]byte", 1<<15, [3]byte{1, 2, 3}),
		sizeCaseOf("Record", 100, shmtest.Record{ID: 1}),
		sizeCaseOf("uint16", MaxCells, uint16(7)), // the largest ring there is
		sizeCaseOf("string", 1, "x"),
		sizeCaseOf("fancy", 300, fancy{Name: "f"}),
		sizeCaseOf("[]byte", MaxCells/encodedRoom/16, []byte("x")),
	}
	for _, c := range cases {
		t.Run(c.what+"/"+strconv.Itoa(c.n), func(t *testing.T) {
			// The smallest segment, to 64 bytes, where the two queues fit:
			// bracket it, then halve the bracket.
			lo, hi := int64(0), int64(4096)
			for !fitsIn(t, hi, c.queues) {
				lo, hi = hi, hi*2
			}
			for hi-lo > 64 {
				mid := (lo + hi) / 2 &^ 63
				if fitsIn(t, mid, c.queues) {
					hi = mid
				} else {
					lo = mid
				}
			}
			seg, err := shm.Anonymous(hi)
			if err != nil {
				t.Fatal(err)
			}
			defer seg.Close()
			if err := c.pipe(seg); err != nil {
				t.Errorf("two queues fit a segment of %d bytes, a pipe does not: %v", hi, err)
			}
		})
	}
}

// TestPipeInDefaultHeap makes pipes whose directions are larger than the
// default heap's first segment, or than what is left of it, in a child
// whose default heap is fresh: each must be made, as two queues would be.
func TestPipeInDefaultHeap(t *testing.T) {
	// Cells of uint64 per direction: a quarter, a half, and more than the
	// whole of the heap's first 4 MiB segment.
	for _, n := range []int{1 << 16, 1 << 17, 1 << 18} {
		p := testproc.Start(t, childPipeDefaultHeap, testproc.Arg(strconv.Itoa(n)), testproc.Timeout(xpShortTimeout))
		if res := p.Wait(); res.ExitCode != 0 || !strings.Contains(res.Output, "RESULT ok") {
			t.Errorf("n=%d: exit code %d\n%s", n, res.ExitCode, res.Output)
		}
	}
}

var childPipeDefaultHeap = testproc.Register("rb-pipe-default-heap", func(c *testproc.Child) error {
	n, err := strconv.Atoi(c.Arg())
	if err != nil {
		return err
	}
	a, b, err := Pipe[uint64](n)
	if err != nil {
		return fmt.Errorf("Pipe[uint64](%d) in a fresh default heap: %w", n, err)
	}
	if err := pipeWorks(a, b, 7); err != nil {
		return err
	}
	// And two queues, as a check of the test itself.
	for range 2 {
		if _, err := NewQueue[uint64](n); err != nil {
			return fmt.Errorf("NewQueue[uint64](%d): %w", n, err)
		}
	}
	fmt.Println("RESULT ok")
	return nil
})

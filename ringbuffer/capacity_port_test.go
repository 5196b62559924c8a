//go:build linux && (amd64 || arm64)

package ringbuffer

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/shmkit/shmkit/internal/shmtest"
	"github.com/shmkit/shmkit/internal/testproc"
	"github.com/shmkit/shmkit/shm"
)

// The capacity cases of CPython's Lib/test/test_queue.py
// (BaseQueueTestMixin.simple_queue_test, on a Queue(QUEUE_SIZE)), for a
// Queue of encoded T, with other processes putting, getting and looking at
// full and qsize. Python's put(v, block=0) is TryPut, put(v, timeout=t) a
// Put whose ctx ends after t, qsize Len; pyqueue.Full and Empty are
// ErrFull, ErrEmpty, or the ctx's error after a wait.

// capQueueSize is test_queue's QUEUE_SIZE.
const capQueueSize = 5

// capMsg is message v of the capacity tests: encoded, with pad bytes of
// padding (frames of one cell without, of three with 150).
func capMsg(v, pad int) string { return strconv.Itoa(v) + ":" + strings.Repeat("x", pad) }

// capVal is the number of a capMsg.
func capVal(m string) string { v, _, _ := strings.Cut(m, ":"); return v }

// capChild opens the Queue[string] called q in its segment. Its argument:
// the segment, the padding, a mode, and the mode's fields:
//
//	put V...  Put the messages V..., print nothing
//	state     print Len, Full, Empty, the class of TryPut's error and of
//	          a Put's that waits 10 ms
//	get       Get one message, print its number
var capChild = xpChild("rb-capacity", func(c *testproc.Child, ctx context.Context, seg *shm.Segment, f xpArgs) error {
	q, err := OpenQueue[string](ctx, seg, "q")
	if err != nil {
		return err
	}
	defer q.Close()
	pad := f.int(0)
	var out []string
	switch mode := f.str(1); mode {
	case "put":
		for i := 2; i < len(f); i++ {
			if err := q.Put(ctx, capMsg(f.int(i), pad)); err != nil {
				return err
			}
		}
	case "state":
		short, cancel := context.WithTimeout(ctx, 10*time.Millisecond)
		defer cancel()
		class := func(err error) string {
			switch {
			case errors.Is(err, ErrFull):
				return "full"
			case err == context.DeadlineExceeded:
				return "timeout"
			}
			return xpErrClass(err)
		}
		out = append(out, strconv.Itoa(q.Len()), strconv.FormatBool(q.Full()), strconv.FormatBool(q.Empty()),
			class(q.TryPut(capMsg(99, pad))), class(q.Put(short, capMsg(99, pad))))
	case "get":
		m, err := q.Get(ctx)
		if err != nil {
			return err
		}
		out = append(out, capVal(m))
	default:
		return fmt.Errorf("unknown mode %q", mode)
	}
	fmt.Println("RESULT", strings.Join(append([]string{"ok"}, out...), " "))
	return nil
})

func capRun(t *testing.T, seg *shm.Segment, pad int, mode string, args ...int) string {
	t.Helper()
	fields := []string{seg.Name(), strconv.Itoa(pad), mode}
	for _, a := range args {
		fields = append(fields, strconv.Itoa(a))
	}
	res := xpResult(t, shmtest.Start(t, xpShortTimeout, capChild, fields...))
	if len(res) == 0 || res[0] != "ok" {
		t.Fatalf("child %s: %q", mode, res)
	}
	return strings.Join(res[1:], " ")
}

// capBlocks runs block, which must wait until trigger, run in another
// process, lets it go (test_queue's do_blocking_test): it checks that
// block has not returned a while after it started, then runs trigger and
// returns block's result.
func capBlocks[R any](t *testing.T, block func(ctx context.Context) (R, error), trigger func()) R {
	t.Helper()
	type result struct {
		r   R
		err error
	}
	done := make(chan result, 1)
	go func() {
		r, err := block(xpContext(t))
		done <- result{r, err}
	}()
	select {
	case r := <-done:
		t.Fatalf("the blocking call returned before its trigger: %v, %v", r.r, r.err)
	case <-time.After(50 * time.Millisecond):
	}
	trigger()
	r := <-done
	if r.err != nil {
		t.Fatalf("the blocking call, once triggered: %v", r.err)
	}
	return r.r
}

func TestPyQueueEncodedCapacity(t *testing.T) {
	for _, pad := range []int{0, 150} {
		t.Run(fmt.Sprintf("pad %d", pad), func(t *testing.T) { capSimpleQueueTest(t, pad) })
	}
}

func capSimpleQueueTest(t *testing.T, pad int) {
	seg := testSeg(t)
	q, err := NewQueue[string](capQueueSize, shm.In(seg, "q"))
	if err != nil {
		t.Fatal(err)
	}
	defer q.Free()
	ctx := xpContext(t)
	msg := func(v int) string { return capMsg(v, pad) }
	get := func() string {
		t.Helper()
		m, err := q.Get(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return capVal(m)
	}
	if !q.Empty() || q.Full() || q.Cap() != capQueueSize {
		t.Fatalf("a new queue: Empty %v, Full %v, Cap %d", q.Empty(), q.Full(), q.Cap())
	}
	// Things actually queue correctly, from another process.
	capRun(t, seg, pad, "put", 111, 333, 222)
	if got := []string{get(), get(), get()}; strings.Join(got, " ") != "111 333 222" {
		t.Fatalf("got %q, want 111 333 222 (FIFO)", got)
	}
	for i := range capQueueSize - 1 {
		if err := q.Put(ctx, msg(i)); err != nil {
			t.Fatal(err)
		}
		if q.Len() == 0 {
			t.Fatal("Queue should not be empty")
		}
	}
	if q.Full() {
		t.Fatal("Queue should not be full")
	}
	last, full := 2*capQueueSize, 3*2*capQueueSize
	capRun(t, seg, pad, "put", last)
	if !q.Full() || q.Empty() || q.Len() != capQueueSize {
		t.Fatalf("Queue should be full: Full %v, Empty %v, Len %d", q.Full(), q.Empty(), q.Len())
	}
	// As another process sees it: full, and every put refused.
	if got, want := capRun(t, seg, pad, "state"), fmt.Sprint(capQueueSize, " true false full timeout"); got != want {
		t.Fatalf("another process sees Len, Full, Empty, TryPut, Put(10ms): %s, want %s", got, want)
	}
	if err := q.TryPut(msg(full)); !errors.Is(err, ErrFull) {
		t.Fatalf("put(full, block=0): %v, want ErrFull", err)
	}
	short, cancel := context.WithTimeout(ctx, 10*time.Millisecond)
	err = q.Put(short, msg(full))
	cancel()
	if err != context.DeadlineExceeded {
		t.Fatalf("put(full, timeout=0.01): %v, want context.DeadlineExceeded", err)
	}
	// Blocking puts, each let go by a get in another process.
	for _, want := range []string{"0", "1"} {
		capBlocks(t, func(ctx context.Context) (struct{}, error) { return struct{}{}, q.Put(ctx, msg(full)) }, func() {
			if got := capRun(t, seg, pad, "get"); got != want {
				t.Errorf("the other process got %s, want %s", got, want)
			}
		})
		if !q.Full() || q.Len() != capQueueSize {
			t.Fatalf("after a blocking put: Full %v, Len %d", q.Full(), q.Len())
		}
	}
	// Empty it.
	var got []string
	for range capQueueSize {
		got = append(got, get())
	}
	if want := fmt.Sprint("2 3 ", last, " ", full, " ", full); strings.Join(got, " ") != want {
		t.Fatalf("emptied %q, want %s", got, want)
	}
	if q.Len() != 0 || !q.Empty() || q.Full() {
		t.Fatalf("Queue should be empty: Len %d, Empty %v, Full %v", q.Len(), q.Empty(), q.Full())
	}
	if _, err := q.TryGet(); !errors.Is(err, ErrEmpty) {
		t.Fatalf("get(block=0): %v, want ErrEmpty", err)
	}
	short, cancel = context.WithTimeout(ctx, 10*time.Millisecond)
	_, err = q.Get(short)
	cancel()
	if err != context.DeadlineExceeded {
		t.Fatalf("get(timeout=0.01): %v, want context.DeadlineExceeded", err)
	}
	// A blocking get, let go by a put in another process.
	m := capBlocks(t, q.Get, func() { capRun(t, seg, pad, "put", 7) })
	if capVal(m) != "7" {
		t.Fatalf("the blocking get: %q, want 7", m)
	}
}

//go:build linux && (amd64 || arm64)

package ringbuffer

// The behavioural cases of CPython's multiprocessing queue tests
// (Lib/test/_test_multiprocessing.py, class _TestQueue), as shmkit's own
// tests, with child processes where the original has them. Python's API
// maps onto shmkit's as follows:
//
//	put(v) / put(v, True, t)   Put(ctx, v), ctx bounding the wait
//	put(v, False), put_nowait  TryPut(v): ErrFull
//	get() / get(True, t)       Get(ctx)
//	get(False), get_nowait     TryGet(): ErrEmpty
//	qsize, empty, full         Len, Empty, Full
//	pyqueue.Full / Empty       ErrFull, ErrEmpty; context.DeadlineExceeded
//	                           after a bounded wait
//	close()                    Close: this process's handle only; calls
//	                           through it fail (ErrClosed)
//	shutdown()                 Shutdown: for every process, Put fails, Get
//	                           drains and then fails (ErrShutdown)
//	task_done, join            TaskDone (ErrNegativeTaskDone), Join(ctx)
//
// Cases with no counterpart: test_no_import_lock_contention (Python's
// import lock), test_queue_feeder_on_queue_feeder_error (there is no
// feeder thread: Put returns the error), test_shutdown_immediate and
// test_shutdown_immediate_with_unfinished (Shutdown never discards
// messages).
// Where shmkit differs on purpose, the package's Caveats say so.

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shmkit/shmkit/internal/shmtest"
	"github.com/shmkit/shmkit/internal/testproc"
	"github.com/shmkit/shmkit/shm"
)

// pyShort is a wait that must time out: long enough to be a real wait,
// short enough to keep the tests quick. Only lower bounds are asserted on
// it (a wait never ends before its deadline), never upper ones.
const pyShort = 50 * time.Millisecond

// pyTimeout is a context that ends after d.
func pyTimeout(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// pyEnded is a context that has ended already: a blocking call given it
// only looks (Python's block=False, or timeout=0).
func pyEnded() context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	return ctx
}

// pyChildQueue is the child of the queue tests. Its argument: the
// segment, the queue's name, and a mode:
//
//	get N      open Queue[int64], stop at point "start", Get N messages,
//	           print them
//	put A B    open Queue[int64], stop at point "start", Put A..B-1
//	puts A B   open Queue[string], Put the decimal strings of A..B-1
//	work       open JoinableQueue[int64], Get and TaskDone until -1,
//	           print how many it handled
//	join       open JoinableQueue[string], Join, print "joined"
//	getstr     open JoinableQueue[string], Get one message, print it
//	closed     open JoinableQueue[string], stop at point "start", Get and
//	           print its error's class (it must fail: closed meanwhile)
//	empties    open Queue[bool], stop at point "start", put what Empty
//	           says, twice
var pyChildQueue = xpChild("rb-py-queue", func(c *testproc.Child, ctx context.Context, seg *shm.Segment, f xpArgs) error {
	name, mode := f.str(0), f.str(1)
	var out []string
	switch mode {
	case "get", "put":
		q, err := OpenQueue[int64](context.Background(), seg, name)
		if err != nil {
			return err
		}
		c.Point("start")
		if mode == "put" {
			for i := f.int(2); i < f.int(3); i++ {
				if err := q.Put(ctx, int64(i)); err != nil {
					return err
				}
			}
			break
		}
		for range f.int(2) {
			v, err := q.Get(ctx)
			if err != nil {
				return err
			}
			out = append(out, strconv.FormatInt(v, 10))
		}
	case "puts":
		q, err := OpenQueue[string](context.Background(), seg, name)
		if err != nil {
			return err
		}
		for i := f.int(2); i < f.int(3); i++ {
			if err := q.Put(ctx, strconv.Itoa(i)); err != nil {
				return err
			}
		}
	case "work":
		q, err := OpenJoinableQueue[int64](context.Background(), seg, name)
		if err != nil {
			return err
		}
		n := 0
		for {
			v, err := q.Get(ctx)
			if err != nil {
				return err
			}
			if v == -1 {
				break
			}
			if err := q.TaskDone(); err != nil {
				return err
			}
			n++
		}
		out = append(out, strconv.Itoa(n))
	case "join":
		q, err := OpenJoinableQueue[string](context.Background(), seg, name)
		if err != nil {
			return err
		}
		if err := q.Join(ctx); err != nil {
			return err
		}
		out = append(out, "joined")
	case "getstr":
		q, err := OpenJoinableQueue[string](context.Background(), seg, name)
		if err != nil {
			return err
		}
		v, err := q.Get(ctx)
		if err != nil {
			return err
		}
		out = append(out, v)
	case "shut":
		q, err := OpenJoinableQueue[string](context.Background(), seg, name)
		if err != nil {
			return err
		}
		c.Point("start")
		v, err := q.Get(ctx)
		if !errors.Is(err, ErrShutdown) {
			return fmt.Errorf("Get on a shut-down queue: %q, %v; want ErrShutdown", v, err)
		}
		out = append(out, "shut")
	case "empties":
		q, err := OpenQueue[bool](context.Background(), seg, name)
		if err != nil {
			return err
		}
		c.Point("start")
		for range 2 {
			if err := q.Put(ctx, q.Empty()); err != nil {
				return err
			}
		}
	default:
		return fmt.Errorf("unknown mode %q", mode)
	}
	fmt.Println("RESULT", strings.Join(append([]string{"ok"}, out...), " "))
	return nil
})

// pyStartQueue starts pyChildQueue on the queue name of seg.
func pyStartQueue(t *testing.T, seg *shm.Segment, name string, mode ...string) *testproc.Proc {
	t.Helper()
	return shmtest.Start(t, xpShortTimeout, pyChildQueue, append([]string{seg.Name(), name}, mode...)...)
}

// pyChildOut is what a pyChildQueue child printed after "ok".
func pyChildOut(t *testing.T, p *testproc.Proc) []string {
	t.Helper()
	res := xpResult(t, p)
	if len(res) == 0 || res[0] != "ok" {
		t.Fatalf("child result %q", res)
	}
	return res[1:]
}

// test_put: a bounded queue filled by the parent, every form of put on the
// full queue failing without waiting (or after its timeout) and adding
// nothing, then emptied by a child.
func TestPyQueuePut(t *testing.T) {
	const size = 6 // Python's MAXSIZE: the capacity of a plain queue is exact
	seg := testSeg(t)
	q := mustNew(t, NewQueue[int64], size, shm.In(seg, "q"))
	p := pyStartQueue(t, seg, "q", "get", strconv.Itoa(size))
	p.WaitPoint("start")
	if !q.Empty() || q.Full() {
		t.Fatalf("new queue: Empty %v, full %v", q.Empty(), q.Full())
	}
	ctx := xpContext(t)
	for i := 1; i <= size; i++ {
		var err error
		if i%2 == 0 {
			err = q.TryPut(int64(i))
		} else {
			err = q.Put(ctx, int64(i))
		}
		if err != nil {
			t.Fatalf("put %d: %v", i, err)
		}
	}
	if q.Empty() || !q.Full() {
		t.Fatalf("filled queue: Empty %v, full %v", q.Empty(), q.Full())
	}
	if err := q.TryPut(7); err != errFull {
		t.Errorf("TryPut on a full queue: %v, want ErrFull", err)
	}
	if err := q.Put(pyEnded(), 7); err != context.Canceled {
		t.Errorf("Put on a full queue with an ended context: %v, want context.Canceled", err)
	}
	start := time.Now()
	if err := q.Put(pyTimeout(t, pyShort), 7); err != context.DeadlineExceeded {
		t.Errorf("Put on a full queue with a timeout: %v, want context.DeadlineExceeded", err)
	}
	if d := time.Since(start); d < pyShort {
		t.Errorf("Put with a timeout of %v gave up after %v", pyShort, d)
	}
	if q.Len() != size {
		t.Errorf("failed puts changed the queue: Len %d, want %d", q.Len(), size)
	}
	p.Continue()
	got := pyChildOut(t, p)
	if want := "1 2 3 4 5 6"; strings.Join(got, " ") != want {
		t.Errorf("the child got %q, want %q", got, want)
	}
	if !q.Empty() || q.Full() {
		t.Errorf("emptied queue: Empty %v, full %v", q.Empty(), q.Full())
	}
}

// test_get: a child puts while the parent waits; then every form of get,
// on the messages and on the empty queue.
func TestPyQueueGet(t *testing.T) {
	seg := testSeg(t)
	q := mustNew(t, NewQueue[int64], 16, shm.In(seg, "q"))
	p := pyStartQueue(t, seg, "q", "put", "2", "6")
	p.WaitPoint("start")
	if !q.Empty() {
		t.Fatal("new queue not empty")
	}
	p.Continue()
	pyChildOut(t, p) // the child has put them all
	if q.Empty() || q.Len() != 4 {
		t.Fatalf("after the child's puts: Empty %v, Len %d", q.Empty(), q.Len())
	}
	ctx := xpContext(t)
	for i, get := range []func() (int64, error){
		func() (int64, error) { return q.Get(ctx) },
		func() (int64, error) { return q.Get(ctx) },
		func() (int64, error) { return q.Get(pyTimeout(t, time.Minute)) },
		q.TryGet,
	} {
		if v, err := get(); v != int64(i+2) || err != nil {
			t.Fatalf("get %d: %d, %v; want %d", i, v, err, i+2)
		}
	}
	if !q.Empty() {
		t.Fatal("queue not empty after four gets")
	}
	if _, err := q.TryGet(); err != errEmpty {
		t.Errorf("TryGet on an empty queue: %v, want ErrEmpty", err)
	}
	if _, err := q.Get(pyEnded()); err != context.Canceled {
		t.Errorf("Get on an empty queue with an ended context: %v, want context.Canceled", err)
	}
	start := time.Now()
	if _, err := q.Get(pyTimeout(t, pyShort)); err != context.DeadlineExceeded {
		t.Errorf("Get on an empty queue with a timeout: %v, want context.DeadlineExceeded", err)
	}
	if d := time.Since(start); d < pyShort {
		t.Errorf("Get with a timeout of %v gave up after %v", pyShort, d)
	}
}

// test_fork: the parent puts 0..9, then a child puts 10..19 on the same
// queue (of encoded messages); the parent gets all twenty in order.
func TestPyQueueFork(t *testing.T) {
	seg := testSeg(t)
	q := mustNew(t, NewQueue[string], 32, shm.In(seg, "q"))
	ctx := xpContext(t)
	for i := range 10 {
		if err := q.Put(ctx, strconv.Itoa(i)); err != nil {
			t.Fatal(err)
		}
	}
	pyChildOut(t, pyStartQueue(t, seg, "q", "puts", "10", "20"))
	for i := range 20 {
		if v, err := q.Get(ctx); v != strconv.Itoa(i) || err != nil {
			t.Fatalf("get %d: %q, %v", i, v, err)
		}
	}
	if _, err := q.TryGet(); err != errEmpty {
		t.Errorf("TryGet after all twenty: %v, want ErrEmpty", err)
	}
}

// test_qsize, on a queue of plain and one of encoded messages.
func TestPyQueueQsize(t *testing.T) {
	ctx := xpContext(t)
	plain := mustNew(t, NewQueue[int64], 4)
	defer plain.Free()
	enc := mustNew(t, NewQueue[string], 4)
	defer enc.Free()
	for what, q := range map[string]interface {
		Len() int
		put() error
		get() error
	}{"plain": pyQ[int64]{plain, ctx, 5}, "encoded": pyQ[string]{enc, ctx, "5"}} {
		for i, step := range []func() error{nil, q.put, q.put, q.get, q.get} {
			if step != nil {
				if err := step(); err != nil {
					t.Fatal(what, err)
				}
			}
			if want := []int{0, 1, 2, 1, 0}[i]; q.Len() != want {
				t.Errorf("%s queue, step %d: Len %d, want %d", what, i, q.Len(), want)
			}
		}
	}
}

// pyQ puts v and gets on q, for tests that run on queues of several T.
type pyQ[T any] struct {
	*Queue[T]
	ctx context.Context
	v   T
}

func (q pyQ[T]) put() error { return q.Put(q.ctx, q.v) }
func (q pyQ[T]) get() error { _, err := q.Get(q.ctx); return err }

// test_task_done: four worker processes take messages and mark each done;
// Join returns once all ten are; a further TaskDone is refused.
func TestPyQueueTaskDone(t *testing.T) {
	const workers, tasks = 4, 10
	seg := testSeg(t)
	q := mustNew(t, NewJoinableQueue[int64], 16, shm.In(seg, "jq"))
	if err := q.TryPut(0); err != nil {
		t.Fatal(err)
	}
	// TaskDone counts against puts, as Python's task_done: a message put
	// and not yet taken may be marked done, once.
	if err := q.TaskDone(); err != nil {
		t.Errorf("TaskDone with a message put, none taken: %v", err)
	}
	if err := q.TaskDone(); err != ErrNegativeTaskDone {
		t.Errorf("a second TaskDone with one message put: %v, want ErrNegativeTaskDone", err)
	}
	if n := q.Unfinished(); n != 0 {
		t.Errorf("Unfinished %d with the one message put marked done, want 0", n)
	}
	done, cancel := context.WithCancel(context.Background())
	cancel()
	if err := q.Join(done); err != nil {
		t.Errorf("Join with the one message put marked done: %v", err)
	}
	if v, err := q.TryGet(); v != 0 || err != nil { // done already: not for the workers
		t.Fatalf("TryGet: %v, %v", v, err)
	}
	ps := make([]*testproc.Proc, workers)
	for i := range ps {
		ps[i] = pyStartQueue(t, seg, "jq", "work")
	}
	ctx := xpContext(t)
	for i := 1; i < tasks; i++ {
		if err := q.Put(ctx, int64(i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := q.Join(ctx); err != nil {
		t.Fatalf("Join: %v", err)
	}
	if n := q.Unfinished(); n != 0 {
		t.Errorf("Join returned with %d unfinished", n)
	}
	if err := q.TaskDone(); err != ErrNegativeTaskDone {
		t.Errorf("TaskDone with nothing taken: %v, want ErrNegativeTaskDone", err)
	}
	for range workers {
		if err := q.Put(ctx, -1); err != nil {
			t.Fatal(err)
		}
	}
	total := 0
	for _, p := range ps {
		out := pyChildOut(t, p)
		n, _ := strconv.Atoi(out[0])
		total += n
	}
	if total != tasks-1 { // the first, taken above
		t.Errorf("the workers handled %d tasks, want %d", total, tasks-1)
	}
}

// test_timeout: Get on an empty queue with a 200 ms timeout waits at least
// that long (Python allows 100 ms for coarse clocks; so does this test).
func TestPyQueueTimeout(t *testing.T) {
	q := mustNew(t, NewQueue[int64], 4)
	defer q.Free()
	start := time.Now()
	if _, err := q.Get(pyTimeout(t, 200*time.Millisecond)); err != context.DeadlineExceeded {
		t.Fatalf("Get: %v, want context.DeadlineExceeded", err)
	}
	if d := time.Since(start); d < 100*time.Millisecond {
		t.Errorf("Get with a timeout of 200ms gave up after %v", d)
	}
}

// pyUnencodable fails to encode when Bad is set. The string makes it a
// type that is encoded (plain types travel as raw bytes).
type pyUnencodable struct {
	Bad  bool
	Note string
}

var errPyUnencodable = errors.New("this message cannot be encoded")

func (u pyUnencodable) GobEncode() ([]byte, error) {
	if u.Bad {
		return nil, errPyUnencodable
	}
	return []byte{0}, nil
}

func (u *pyUnencodable) GobDecode(b []byte) error { u.Bad = false; return nil }

// test_queue_feeder_donot_stop_onexc: a message that cannot be encoded
// does not stop the queue, and does not count. Python's put accepts it and
// its feeder thread reports the error; Put reports it to its caller.
func TestPyQueueUnencodable(t *testing.T) {
	ctx := xpContext(t)
	for _, size := range []int{1, 16} {
		q := mustNew(t, NewQueue[pyUnencodable], size)
		if err := q.Put(ctx, pyUnencodable{Bad: true}); !errors.Is(err, errPyUnencodable) {
			t.Errorf("Put of an unencodable message: %v, want its encoding error", err)
		}
		if err := q.TryPut(pyUnencodable{Bad: true}); !errors.Is(err, errPyUnencodable) {
			t.Errorf("TryPut of an unencodable message: %v, want its encoding error", err)
		}
		if err := q.Put(ctx, pyUnencodable{}); err != nil {
			t.Fatalf("Put after a failed one: %v", err)
		}
		if q.Len() != 1 {
			t.Errorf("Len %d, want 1", q.Len())
		}
		if _, err := q.Get(ctx); err != nil {
			t.Errorf("Get: %v", err)
		}
		if !q.Empty() {
			t.Error("queue not empty after the one message was taken")
		}
		q.Free()
	}
}

// pyJoinableOrNot is a new queue of 4 strings, joinable or not.
func pyJoinableOrNot(t *testing.T, joinable bool) *Queue[string] {
	t.Helper()
	q, err := newQueue[string](4, joinable, nil)
	if err != nil {
		t.Fatal(err)
	}
	return q
}

// test_closed_queue_empty_exceptions: Empty works on a closed handle, of
// a queue used or not (Python's empty raises OSError on a used queue its
// process closed; Empty has no error to return). Close is this handle's:
// what is in the queue is there for another.
func TestPyQueueClosedEmpty(t *testing.T) {
	ctx := xpContext(t)
	for _, joinable := range []bool{false, true} {
		for _, used := range []bool{false, true} {
			q := pyJoinableOrNot(t, joinable)
			other := handleOf[Queue[string]](t, q)
			if used {
				if err := q.Put(ctx, "foo"); err != nil {
					t.Fatal(err)
				}
			}
			q.Close()
			if q.Empty() == used {
				t.Errorf("joinable %v, used %v: Empty %v after Close", joinable, used, q.Empty())
			}
			if used {
				if v, err := other.Get(ctx); v != "foo" || err != nil {
					t.Errorf("Get through another handle after Close: %q, %v; want the message put before", v, err)
				}
				if !q.Empty() {
					t.Error("queue not empty once drained")
				}
			}
			other.Free()
		}
	}
}

// test_closed_queue_put_get_exceptions: once closed, a handle refuses
// every put and get (Python's ValueError), even on a message that is
// there, and get fails instead of waiting.
func TestPyQueueClosedPutGet(t *testing.T) {
	ctx := xpContext(t)
	for _, joinable := range []bool{false, true} {
		q := pyJoinableOrNot(t, joinable)
		if err := q.Put(ctx, "there"); err != nil {
			t.Fatal(err)
		}
		q.Close()
		pyRefusedBoth(t, q, ErrClosed)
		if err := q.Shutdown(); !errors.Is(err, ErrClosed) {
			t.Errorf("joinable %v: Shutdown after Close: %v, want ErrClosed", joinable, err)
		}
		if q.IsShutdown() {
			t.Errorf("joinable %v: a closed handle's Shutdown shut the queue down", joinable)
		}
		q.Free()
	}
}

// pyRefusedBoth checks that q refuses puts and gets with errors matching
// want.
func pyRefusedBoth(t *testing.T, q *Queue[string], want error) {
	t.Helper()
	ctx := xpContext(t)
	if err := q.Put(ctx, "data"); !errors.Is(err, want) {
		t.Errorf("Put: %v, want %v", err, want)
	}
	if err := q.TryPut("data"); !errors.Is(err, want) {
		t.Errorf("TryPut: %v, want %v", err, want)
	}
	if _, err := q.Get(ctx); !errors.Is(err, want) {
		t.Errorf("Get: %v, want %v", err, want)
	}
	if _, err := q.TryGet(); !errors.Is(err, want) {
		t.Errorf("TryGet: %v, want %v", err, want)
	}
}

// test_shutdown_empty: shutting an empty JoinableQueue down lets a Join in
// another process return; the queue then refuses puts and gets.
func TestPyQueueShutdownEmpty(t *testing.T) {
	seg := testSeg(t)
	q := mustNew(t, NewJoinableQueue[string], 4, shm.In(seg, "jq"))
	joiner := pyStartQueue(t, seg, "jq", "join")
	getter := pyStartQueue(t, seg, "jq", "shut")
	getter.WaitPoint("start")
	getter.Continue() // Get in the child, very likely waiting when Shutdown comes
	ctx := xpContext(t)
	got := make(chan error, 1)
	go func() { _, err := q.Get(ctx); got <- err }()
	q.Shutdown()
	if err := <-got; !errors.Is(err, ErrShutdown) {
		t.Errorf("a Get waiting when Shutdown came: %v, want ErrShutdown", err)
	}
	if q.Len() != 0 {
		t.Errorf("Len %d after Shutdown", q.Len())
	}
	if out := pyChildOut(t, joiner); len(out) != 1 || out[0] != "joined" {
		t.Errorf("joiner: %q", out)
	}
	if out := pyChildOut(t, getter); len(out) != 1 || out[0] != "shut" {
		t.Errorf("Get in a child: %q, want it to fail with ErrShutdown", out)
	}
	pyRefusedBoth(t, q.Queue, ErrShutdown)
}

// test_shutdown_nonempty: a message put before Shutdown is still there
// for a Get in another process; Join (here and in another process) waits
// until it is marked done; puts and gets are refused once it is gone.
func TestPyQueueShutdownNonEmpty(t *testing.T) {
	seg := testSeg(t)
	q := mustNew(t, NewJoinableQueue[string], 1, shm.In(seg, "jq"))
	ctx := xpContext(t)
	if err := q.Put(ctx, "data"); err != nil {
		t.Fatal(err)
	}
	joiner := pyStartQueue(t, seg, "jq", "join")
	joined := make(chan error, 1)
	go func() { joined <- q.Join(ctx) }()
	put := make(chan error, 1)
	go func() { put <- q.Put(ctx, "more") }() // the queue is full
	q.Shutdown()
	if err := <-put; !errors.Is(err, ErrShutdown) {
		t.Errorf("a Put waiting for room when Shutdown came: %v, want ErrShutdown", err)
	}
	if q.Len() != 1 {
		t.Errorf("Len %d after Shutdown, want 1", q.Len())
	}
	if out := pyChildOut(t, pyStartQueue(t, seg, "jq", "getstr")); len(out) != 1 || out[0] != "data" {
		t.Errorf("Get in a child after Shutdown: %q, want data", out)
	}
	if q.Unfinished() != 1 {
		t.Errorf("Unfinished %d, want 1: taken, not done", q.Unfinished())
	}
	select {
	case err := <-joined:
		t.Fatalf("Join returned (%v) with a message not done", err)
	default:
	}
	pyRefusedBoth(t, q.Queue, ErrShutdown)
	if err := q.TaskDone(); err != nil {
		t.Fatalf("TaskDone: %v", err)
	}
	if err := <-joined; err != nil {
		t.Errorf("Join: %v", err)
	}
	if out := pyChildOut(t, joiner); len(out) != 1 || out[0] != "joined" {
		t.Errorf("joiner: %q", out)
	}
	if err := q.TaskDone(); err != ErrNegativeTaskDone {
		t.Errorf("a second TaskDone: %v, want ErrNegativeTaskDone", err)
	}
}

// _TestSimpleQueue (Queue is SimpleQueue too). test_empty: a child sees
// the queue empty, then not; the parent sees it empty, not empty, and
// empty again. test_close: Close twice.
func TestPySimpleQueueEmpty(t *testing.T) {
	seg := testSeg(t)
	q := mustNew(t, NewQueue[bool], 4, shm.In(seg, "q"))
	p := pyStartQueue(t, seg, "q", "empties")
	p.WaitPoint("start")
	if !q.Empty() {
		t.Fatal("new queue not empty")
	}
	p.Continue()
	pyChildOut(t, p)
	if q.Empty() {
		t.Fatal("empty after the child's puts")
	}
	ctx := xpContext(t)
	for _, want := range []bool{true, false} {
		if v, err := q.Get(ctx); v != want || err != nil {
			t.Fatalf("Get: %v, %v; want %v", v, err, want)
		}
	}
	if !q.Empty() {
		t.Error("not empty after both were taken")
	}
	for range 2 {
		if err := q.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	}
}

// Lib/test/test_queue.py, BaseQueueTestMixin: test_queue_task_done (a
// TaskDone with nothing put is refused) and test_queue_join (two workers
// add up 100 messages, twice over; Join returns only once all are done; a
// further TaskDone is refused), on a queue of plain T and one of encoded T.
func TestPyQueueJoin(t *testing.T) {
	t.Run("plain", func(t *testing.T) { pyQueueJoin(t, intsQ{mustNew(t, NewJoinableQueue[int64], 128)}) })
	t.Run("encoded", func(t *testing.T) { pyQueueJoin(t, stringsQ{mustNew(t, NewJoinableQueue[string], 128)}) })
}

// joinQ is what pyQueueJoin needs of a JoinableQueue.
type joinQ interface {
	put(ctx context.Context, v int64) error
	get(ctx context.Context) (int64, error)
	TaskDone() error
	Join(ctx context.Context) error
	Free() error
}

type intsQ struct{ *JoinableQueue[int64] }

func (q intsQ) put(ctx context.Context, v int64) error { return q.Put(ctx, v) }
func (q intsQ) get(ctx context.Context) (int64, error) { return q.Get(ctx) }

type stringsQ struct{ *JoinableQueue[string] }

func (q stringsQ) put(ctx context.Context, v int64) error {
	return q.Put(ctx, strconv.FormatInt(v, 10))
}

func (q stringsQ) get(ctx context.Context) (int64, error) {
	s, err := q.Get(ctx)
	if err != nil {
		return 0, err
	}
	return strconv.ParseInt(s, 10, 64)
}

func pyQueueJoin(t *testing.T, q joinQ) {
	defer q.Free()
	if err := q.TaskDone(); err != ErrNegativeTaskDone {
		t.Fatalf("TaskDone with nothing put: %v, want ErrNegativeTaskDone", err)
	}
	ctx := xpContext(t)
	for range 2 {
		var cum atomic.Int64
		errs := make(chan error, 2)
		for range 2 {
			go func() {
				for {
					x, err := q.get(ctx)
					if err == nil && x >= 0 {
						cum.Add(x)
					}
					if err == nil {
						err = q.TaskDone()
					}
					if err != nil || x < 0 {
						errs <- err
						return
					}
				}
			}()
		}
		for i := range int64(100) {
			if err := q.put(ctx, i); err != nil {
				t.Fatal(err)
			}
		}
		if err := q.Join(ctx); err != nil {
			t.Fatalf("Join: %v", err)
		}
		if got := cum.Load(); got != 4950 {
			t.Fatalf("Join returned with a sum of %d, want 4950: it did not wait for every TaskDone", got)
		}
		for range 2 {
			if err := q.put(ctx, -1); err != nil {
				t.Fatal(err)
			}
		}
		if err := q.Join(ctx); err != nil {
			t.Fatalf("a second Join: %v", err)
		}
		for range 2 {
			if err := <-errs; err != nil {
				t.Fatalf("worker: %v", err)
			}
		}
	}
	if err := q.TaskDone(); err != ErrNegativeTaskDone {
		t.Errorf("TaskDone after all were done: %v, want ErrNegativeTaskDone", err)
	}
}

package ringbuffer

import (
	"context"
	"fmt"
	"hash/fnv"
	"io"
	"reflect"
	"sync/atomic"
	"time"

	"github.com/shmkit/shmkit/ctypes"
	"github.com/shmkit/shmkit/internal/codec"
	"github.com/shmkit/shmkit/internal/mem"
	"github.com/shmkit/shmkit/internal/park"
	"github.com/shmkit/shmkit/shm"
)

// Queue is a multi-producer multi-consumer queue of messages of type T
// between processes: Python's multiprocessing.Queue. Plain T (see package
// ctypes) travels as its raw bytes, one ring slot per message; any other T
// goes through a Codec (encoding/gob unless SetCodec says otherwise) into
// length-prefixed frames of 64-byte cells, and []byte goes into them as it
// is, so that its bytes can be lent in place (LoanBytes, BorrowBytes).
//
// Python's SimpleQueue has no counterpart: Queue has no feeder thread and
// nothing to flush, so it is already as simple.
type Queue[T any] struct {
	c     *core
	ring  *Ring[T] // plain T: the slots
	codec Codec[T]
	gets  *uint64 // joinable: messages taken
	dones *uint64 // joinable: TaskDone calls
	join  *uint32 // joinable: Join sleeps here

	// A Queue of []byte with its raw Codec (loan_bytes.go): putRaw puts
	// a message straight into the ring, wrap holds a borrowed message
	// that wraps around the ring's end.
	putRaw func(v T) error
	wrap   []byte
}

// Codec turns messages into bytes and back, for a Queue of a T that is not
// plain. Both methods may be called from many goroutines at once. It is
// the same type as shmap.Codec.
type Codec[T any] = codec.Codec[T]

// Gob is the default Codec: encoding/gob, one self-contained stream per
// message (so any consumer can decode any message). Shared objects of
// shmkit in T travel as handles (they implement encoding.BinaryMarshaler).
type Gob[T any] = codec.Gob[T]

// encodedCell is the cell size of queues of encoded messages, and
// encodedRoom how many cells NewQueue gives such a queue per message asked.
const (
	encodedCell = 64
	encodedRoom = 4
)

// NewQueue makes a Queue in the default heap or where opts place it. It
// holds at most n messages (Python's maxsize): with n in it, a Put waits
// and a TryPut fails with ErrFull, though its ring may have more slots (a
// power of two). For plain T that is exactly n. Encoded T also needs room
// for the bytes: the ring gets n*256 bytes (rounded up to a power of two),
// so that n messages of up to 252 encoded bytes each always fit, and fewer
// larger ones; a message longer than the whole ring fails with
// ErrTooLarge.
func NewQueue[T any](n int, opts ...shm.Option) (*Queue[T], error) {
	return newQueue[T](n, false, opts)
}

func newQueue[T any](n int, joinable bool, opts []shm.Option) (*Queue[T], error) {
	if n <= 0 {
		return nil, fmt.Errorf("ringbuffer: %w: a queue of %d messages", ErrInvalid, n)
	}
	fp, l, err := queueLayout[T](n, joinable)
	if err != nil {
		return nil, fmt.Errorf("ringbuffer: making a queue: %w", err)
	}
	c, err := placeCore(shm.KindQueue, fp, l, opts)
	if err != nil {
		return nil, err
	}
	return newQueueOn[T](c), nil
}

// queueLayout is the layout of the ring of a Queue of n messages of T (a
// Pipe's direction too), and the fingerprint of T.
func queueLayout[T any](n int, joinable bool) (fp uint64, l layout, err error) {
	fp, plain := queueType[T]()
	if plain > 0 {
		l, err = newLayout(modeFixed, uint64(n), plain, plain, joinable)
		l.limit = uint64(n)
	} else {
		l, err = newLayout(modeFramed, uint64(n)*encodedRoom, encodedCell, 0, joinable)
		l.limit = uint64(n)
	}
	return fp, l, err
}

// queueType is the layout fingerprint of a Queue of T, and T's size when T
// is plain (0 otherwise). A Queue of another T fails to open (ErrLayout).
func queueType[T any]() (fp, plain uint64) {
	if l, err := ctypes.LayoutOf[T](); err == nil && l.Size > 0 {
		return l.Fingerprint, uint64(l.Size)
	}
	h := fnv.New64a()
	if isBytes[T]() {
		h.Write([]byte("shmkit/ringbuffer raw []byte"))
		return h.Sum64(), 0
	}
	h.Write([]byte("shmkit/ringbuffer encoded " + reflect.TypeFor[T]().String()))
	return h.Sum64(), 0
}

// OpenQueue opens the Queue called name in seg (shm.ErrLayout if it holds
// another type than T). It waits, until ctx ends, for a queue that does
// not exist yet or whose creator is still making it.
func OpenQueue[T any](ctx context.Context, seg *shm.Segment, name string) (*Queue[T], error) {
	fp, _ := queueType[T]()
	o, err := seg.Find(ctx, name, shm.Spec{Kind: shm.KindQueue, Fingerprint: fp})
	if err != nil {
		return nil, fmt.Errorf("ringbuffer: opening queue %q: %w", name, err)
	}
	return attachQueue[T](o)
}

// UnmarshalBinary attaches q to the Queue whose handle MarshalBinary
// encoded (how a Queue reaches a child process, or travels in a message).
func (q *Queue[T]) UnmarshalBinary(b []byte) error {
	fp, _ := queueType[T]()
	o, err := shm.Unmarshal(b, shm.Spec{Kind: shm.KindQueue, Fingerprint: fp})
	if err != nil {
		return fmt.Errorf("ringbuffer: attaching a queue of %s: %w", reflect.TypeFor[T](), err)
	}
	x, err := attachQueue[T](o)
	if err != nil {
		return err
	}
	*q = *x
	return nil
}

func attachQueue[T any](o *shm.Object) (*Queue[T], error) {
	c, err := attachCore(o, o.Bytes())
	if err == nil {
		err = checkQueueCore[T](c)
	}
	if err != nil {
		return nil, fmt.Errorf("ringbuffer: queue %q: %w", o.Name(), err)
	}
	return newQueueOn[T](c), nil
}

// checkQueueCore checks that the ring c is one of a Queue of T.
func checkQueueCore[T any](c *core) error {
	_, plain := queueType[T]()
	switch {
	case c.l.mode == modeSPSC:
		return fmt.Errorf("%w: a single-producer ring", ErrCorrupt)
	case plain > 0 && (c.l.mode != modeFixed || c.l.elemSize != plain),
		plain == 0 && c.l.mode != modeFramed:
		return fmt.Errorf("it does not hold %d-byte %s: %w", plain, reflect.TypeFor[T](), shm.ErrLayout)
	}
	return nil
}

func newQueueOn[T any](c *core) *Queue[T] {
	q := &Queue[T]{c: c, codec: Gob[T]{}}
	if c.l.mode == modeFixed {
		q.ring = newRingOn[T](c)
	}
	if isBytes[T]() {
		q.codec = any(rawBytes{}).(Codec[T])
		q.putRaw = any(func(v []byte) error { return rawQueue{c}.TryPut(nil, v) }).(func(T) error)
	}
	if c.l.joinable {
		b := c.b
		q.gets, q.dones, q.join = mem.Uint64(b, offGets), mem.Uint64(b, offDones), mem.Uint32(b, offJoinWord)
		c.gets, c.join = q.gets, q.join // counted by release
	}
	return q
}

// MarshalBinary encodes the Queue's handle.
func (q *Queue[T]) MarshalBinary() ([]byte, error) { return q.c.o.Handle().MarshalBinary() }

// Handle names the Queue for another process (see shm.Resolve).
func (q *Queue[T]) Handle() shm.Handle { return q.c.o.Handle() }

// Name is the Queue's name in its segment, "" when it has none.
func (q *Queue[T]) Name() string { return q.c.o.Name() }

var _ io.Closer = (*Queue[int])(nil)

// Free destroys the Queue for every process: it closes this handle and
// gives the queue's memory back to its segment. Every process must have
// stopped using it; a second Free, through any handle, fails with
// shm.ErrStale.
func (q *Queue[T]) Free() error { return q.c.free() }

// SetCodec replaces this handle's Codec (Gob by default; a Queue of
// []byte frames its messages' bytes as they are). Every process must use
// the same one. A Queue of plain T ignores it. A Queue of []byte whose
// Codec was replaced no longer lends bytes (LoanBytes, BorrowBytes).
func (q *Queue[T]) SetCodec(c Codec[T]) { q.codec, q.putRaw = c, nil }

// SetSpin makes this handle's blocking calls spin instead of sleeping, as
// Ring.SetSpin does.
func (q *Queue[T]) SetSpin(on bool) { q.c.spin.Store(on) }

// Close releases this handle: later calls through it fail with ErrClosed,
// and calls of it that wait return. The queue stays for the other handles
// and processes, which go on putting and getting: a consumer's deferred
// Close leaves its producers working. Close is idempotent. To stop the
// queue for everyone, use Shutdown.
func (q *Queue[T]) Close() error {
	if q.c.close() && q.join != nil && !q.c.unmapped() {
		notify(q.join)
	}
	return nil
}

// Shutdown stops the queue for every process (Python 3.13's
// Queue.shutdown, Go's close of a channel): later Puts fail with
// ErrShutdown, Gets take what is there and then fail with ErrShutdown.
// Every blocked call wakes. A Put that claimed its place before Shutdown
// still delivers its message. Shutdown is idempotent; the handle stays
// open.
func (q *Queue[T]) Shutdown() error {
	if q.c.closed.Load() {
		return fmt.Errorf("ringbuffer: shutdown: %w", ErrClosed)
	}
	q.c.shut()
	if q.join != nil {
		notify(q.join)
	}
	return nil
}

// IsShutdown reports whether the queue was shut down.
func (q *Queue[T]) IsShutdown() bool { return q.c.isShutdown() }

// Cap is the queue's capacity in messages, n of NewQueue (Python's
// maxsize).
func (q *Queue[T]) Cap() int {
	if q.c.frames > 0 {
		return int(q.c.frames)
	}
	return int(q.c.limit)
}

// Full reports whether the queue has no room for a message (Python's
// full): whether it holds Cap messages, or, for encoded T, whether its
// ring has no free cell (a large message may find no room while Full
// reports false). Like Len it is a snapshot: a Put that follows a false
// Full may still wait, and a TryPut fail with ErrFull.
func (q *Queue[T]) Full() bool {
	c := q.c
	if c.frames == 0 {
		return c.length() >= c.limit
	}
	if c.length() >= c.l.cells {
		return true
	}
	ok, err := c.frameRoom(atomic.LoadUint64(c.tail) &^ shutBit)
	return err == nil && !ok
}

// Len is the number of messages in the queue, those being written
// included: a snapshot, stale as soon as it returns (Python's qsize), as
// other processes put and get at the same time. For plain T it also counts
// the slot of a producer that died while it wrote, until a Get skips it.
func (q *Queue[T]) Len() int { return int(q.c.messages()) }

// Empty reports whether the queue holds no message (Python's empty): a
// snapshot, as Len; a Get that follows a false Empty may still wait.
func (q *Queue[T]) Empty() bool { return q.c.length() == 0 }

// TryPut adds v if there is room now, or returns an error matching ErrFull
// (ErrShutdown after Shutdown, ErrTooLarge for a message that could never
// fit).
func (q *Queue[T]) TryPut(v T) error {
	if q.ring != nil {
		return q.ring.pushShared(&v)
	}
	if q.putRaw != nil {
		return q.putRaw(v)
	}
	frame, err := q.encode(v)
	if err != nil {
		return err
	}
	return q.putFrame(frame)
}

// Put adds v, waiting for room until ctx ends. On any error the message
// was not added.
func (q *Queue[T]) Put(ctx context.Context, v T) error {
	if q.ring != nil {
		if err := q.ring.pushShared(&v); err != errFull {
			return err
		}
		return q.c.await(ctx, q.c.full, func() error { return q.ring.pushShared(&v) }, nil)
	}
	if q.putRaw != nil {
		if err := q.putRaw(v); err != errFull {
			return err
		}
		return q.c.await(ctx, q.c.full, func() error { return q.putRaw(v) }, nil)
	}
	frame, err := q.encode(v)
	if err != nil {
		return err
	}
	if err := q.putFrame(frame); err != errFull {
		return err
	}
	return q.c.await(ctx, q.c.full, func() error { return q.putFrame(frame) }, nil)
}

// TryGet takes the oldest message if there is one, or returns an error
// matching ErrEmpty (ErrShutdown once the queue is shut down and drained).
func (q *Queue[T]) TryGet() (T, error) {
	var v T
	err := q.get(&v)
	return v, err
}

// Get takes the oldest message, waiting for one until ctx ends; after
// Shutdown it drains the queue and then returns ErrShutdown.
func (q *Queue[T]) Get(ctx context.Context) (T, error) {
	var v T
	err := q.get(&v)
	if again(err) {
		err = q.c.await(ctx, q.c.empty, func() error { return q.get(&v) }, nil)
	}
	return v, err
}

func (q *Queue[T]) get(v *T) error {
	var err error
	if q.ring != nil {
		err = q.ring.popShared(v)
	} else {
		err = q.getFrame(v)
	}
	return err // a joinable queue's gets counts what release took
}

// uncount takes back release's count of a message that the caller does
// not get: a frame dropped as corrupt, or one that failed to decode.
func (q *Queue[T]) uncount() {
	if q.gets != nil {
		atomic.AddUint64(q.gets, ^uint64(0))
		notify(q.join)
	}
}

// encode makes the frame of a message: its length, then its encoding. It
// takes v by value: the Codec's call through an interface makes its
// argument escape, and only this copy, on this path, may go to the heap;
// the callers' v stays on the stack for plain T.
func (q *Queue[T]) encode(v T) ([]byte, error) {
	b, err := q.codec.Append(make([]byte, 4, 256), &v)
	if err != nil {
		return nil, fmt.Errorf("ringbuffer: encoding %s: %w", reflect.TypeFor[T](), err)
	}
	n := len(b) - 4
	if k := q.c.l.cellsFor(n); k > q.c.l.cells || n > 1<<31 {
		return nil, fmt.Errorf("%w: a message of %d bytes needs %d cells of %d bytes, the ring has %d",
			ErrTooLarge, n, k, q.c.l.cellSize, q.c.l.cells)
	}
	le.PutUint32(b, uint32(n))
	return b, nil
}

func (q *Queue[T]) putFrame(frame []byte) error {
	c := q.c
	idx, err := c.producer()
	if err != nil {
		return err
	}
	k := c.l.cellsFor(len(frame) - 4)
	pos, err := c.claim(idx, k)
	if err != nil {
		return err
	}
	off := c.cellOff(pos)
	half := len(frame) / 2
	c.writeAt(off, frame[:half])
	hook(pointWriting)
	c.writeAt((off+half)%len(c.data), frame[half:])
	c.released()
	c.commit(pos, k, idx)
	notify(c.empty)
	return nil
}

func (q *Queue[T]) getFrame(v *T) error {
	c := q.c
	var prefix [4]byte
	for {
		h, w, err := c.front()
		if err != nil {
			return err
		}
		off := c.cellOff(h)
		copy(prefix[:], c.data[off:])
		k, n, ferr := c.l.frame(w, le.Uint32(prefix[:]))
		if ferr != nil {
			if atomic.LoadUint64(c.head) != h || atomic.LoadUint64(&c.seq[h&c.mask]) != w {
				continue // read while the frame was taken and reused
			}
			return q.dropCorrupt(h, w, ferr)
		}
		b := make([]byte, n)
		c.readAt((off+4)%len(c.data), b)
		hook(pointReading)
		if !c.release(h, k) {
			continue
		}
		c.acquired()
		// Decode into a local: the call through an interface makes its
		// argument escape, and v must not (Get's result, on the stack).
		var x T
		if err := q.codec.Decode(b, &x); err != nil {
			q.uncount()
			return fmt.Errorf("ringbuffer: decoding %s: %w", reflect.TypeFor[T](), err)
		}
		*v = x
		return nil
	}
}

// dropCorrupt takes a frame that failed its checks off the queue, so that
// the queue goes on, and reports it.
func (q *Queue[T]) dropCorrupt(h, w uint64, err error) error {
	if k := wordCells(w); k <= q.c.l.cells && q.c.release(h, k) {
		q.uncount()
	}
	return fmt.Errorf("ringbuffer: position %d: %w", h, err)
}

// String describes q for logs and debugging, a snapshot: its handle,
// how many messages it holds, and whether it is shut down.
func (q *Queue[T]) String() string {
	return fmt.Sprintf("Queue(%s, %d messages, shut down %v)", q.Handle(), q.Len(), q.IsShutdown())
}

// JoinableQueue is a Queue whose consumers say when they are done with
// each message (TaskDone), so that a producer can wait until every message
// was handled (Join): Python's JoinableQueue.
type JoinableQueue[T any] struct {
	*Queue[T]
}

// NewJoinableQueue makes a JoinableQueue with room for n messages (see
// NewQueue).
func NewJoinableQueue[T any](n int, opts ...shm.Option) (*JoinableQueue[T], error) {
	q, err := newQueue[T](n, true, opts)
	if err != nil {
		return nil, err
	}
	return &JoinableQueue[T]{q}, nil
}

// OpenJoinableQueue opens the JoinableQueue called name in seg. It waits,
// until ctx ends, for a queue that does not exist yet or whose creator is
// still making it.
func OpenJoinableQueue[T any](ctx context.Context, seg *shm.Segment, name string) (*JoinableQueue[T], error) {
	q, err := OpenQueue[T](ctx, seg, name)
	if err != nil {
		return nil, err
	}
	return joinable(q)
}

// UnmarshalBinary attaches q to the JoinableQueue whose handle
// MarshalBinary encoded.
func (q *JoinableQueue[T]) UnmarshalBinary(b []byte) error {
	x := new(Queue[T])
	if err := x.UnmarshalBinary(b); err != nil {
		return err
	}
	j, err := joinable(x)
	if err != nil {
		return err
	}
	*q = *j
	return nil
}

func joinable[T any](q *Queue[T]) (*JoinableQueue[T], error) {
	if q.join == nil {
		return nil, fmt.Errorf("ringbuffer: queue %q is not joinable: %w", q.Name(), shm.ErrKind)
	}
	return &JoinableQueue[T]{q}, nil
}

// TaskDone says that a message put on the queue has been handled, as
// Python's task_done: it counts against Puts, so a message put and not yet
// taken may be marked done too. Called more often than messages were put
// (in all processes together), it fails with ErrNegativeTaskDone. The
// count of messages put is taken as those taken (Get) plus those in the
// queue at that moment: with Gets running at once it is a snapshot, as
// Len is.
func (q *JoinableQueue[T]) TaskDone() error {
	if q.c.closed.Load() {
		return fmt.Errorf("ringbuffer: TaskDone: %w", ErrClosed)
	}
	for {
		d, put := atomic.LoadUint64(q.dones), q.put()
		if d >= put {
			return ErrNegativeTaskDone
		}
		if atomic.CompareAndSwapUint64(q.dones, d, d+1) {
			if d+1 >= q.put() {
				notify(q.join)
			}
			return nil
		}
	}
}

// put is the number of messages put: those taken and those in the queue.
// The queue is read before the count of those taken, so that a message
// taken in between is counted (twice) rather than missed.
func (q *JoinableQueue[T]) put() uint64 {
	n := uint64(q.Len())
	return n + atomic.LoadUint64(q.gets)
}

// Unfinished is the number of messages put and not yet marked done (its
// put less TaskDone calls): in the queue, being written, or taken and not
// yet TaskDone. A snapshot, as Len; never below 0 (a message marked done
// and then lost with a producer that died writing it counts as finished).
func (q *JoinableQueue[T]) Unfinished() int {
	d := atomic.LoadUint64(q.dones)
	if put := q.put(); put > d {
		return int(put - d)
	}
	return 0
}

// Join waits until every message put has been marked done (TaskDone), or
// ctx ends. A consumer that dies between Get and TaskDone leaves its
// message unfinished for good: Join then waits until ctx ends.
func (q *JoinableQueue[T]) Join(ctx context.Context) error {
	for {
		if q.c.closed.Load() {
			return fmt.Errorf("ringbuffer: Join: %w", ErrClosed)
		}
		w := atomic.LoadUint32(q.join)
		if atomic.LoadUint64(q.dones) >= q.put() {
			return nil
		}
		if w&1 == 0 && !atomic.CompareAndSwapUint32(q.join, w, w|1) {
			continue
		}
		if atomic.LoadUint64(q.dones) >= q.put() {
			return nil
		}
		if err := park.Wait(ctx, q.join, w|1, joinPoll); err != nil && err != park.ErrTimeout {
			return err
		}
	}
}

// joinPoll bounds Join's sleeps: the queue can also empty without a
// TaskDone (a dead producer's hole skipped), and a waker can die.
const joinPoll = 100 * time.Millisecond

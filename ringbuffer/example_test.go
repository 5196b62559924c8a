//go:build linux && (amd64 || arm64)

package ringbuffer_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/shmkit/shmkit/ringbuffer"
	"github.com/shmkit/shmkit/shm"
)

// Fancy is not plain (it holds a string): a Queue of it encodes its
// messages with encoding/gob.
type Fancy struct {
	Name string
}

func ExampleNewQueue() {
	ctx := context.Background()
	q, err := ringbuffer.NewQueue[Fancy](64) // multiprocessing.Queue: any encodable T
	if err != nil {
		fmt.Println(err)
		return
	}
	defer q.Free()

	q.Put(ctx, Fancy{Name: "Fancy Dan"})
	obj, err := q.Get(ctx) // blocks; ctx bounds it
	fmt.Println(obj.Name, err)

	q.Put(ctx, Fancy{Name: "Fancy Nancy"})
	q.Shutdown() // for every process: no more puts; Get drains, then ErrShutdown
	fmt.Println(errors.Is(q.Put(ctx, Fancy{}), ringbuffer.ErrShutdown))
	obj, err = q.Get(ctx)
	fmt.Println(obj.Name, err)
	_, err = q.Get(ctx)
	fmt.Println(errors.Is(err, ringbuffer.ErrShutdown))
	// Output:
	// Fancy Dan <nil>
	// true
	// Fancy Nancy <nil>
	// true
}

func ExampleNewJoinableQueue() {
	ctx := context.Background()
	jq, err := ringbuffer.NewJoinableQueue[string](16)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer jq.Free()

	for _, job := range []string{"wash", "dry", "fold"} {
		jq.Put(ctx, job)
	}
	worker := make(chan struct{})
	go func() { // usually another process
		defer close(worker)
		for {
			job, err := jq.Get(ctx)
			if err != nil {
				return // shut down and drained
			}
			fmt.Println("done:", job)
			jq.TaskDone()
		}
	}()
	if err := jq.Join(ctx); err != nil { // every job taken and marked done
		fmt.Println(err)
	}
	fmt.Println("unfinished:", jq.Unfinished())
	jq.Shutdown()
	<-worker
	// Output:
	// done: wash
	// done: dry
	// done: fold
	// unfinished: 0
}

func ExamplePipe() {
	ctx := context.Background()
	a, b, err := ringbuffer.Pipe[string](16) // duplex: each end sends and receives
	if err != nil {
		fmt.Println(err)
		return
	}

	a.Send(ctx, "ping")
	ready, _ := b.Poll(ctx)
	msg, _ := b.Recv(ctx)
	fmt.Println(ready, msg)

	b.Send(ctx, "pong")
	b.Close() // no process holds end b any more
	msg, _ = a.Recv(ctx)
	fmt.Println(msg)
	_, err = a.Recv(ctx) // drained: the end of the stream
	fmt.Println(err == io.EOF)
	fmt.Println(errors.Is(a.Send(ctx, "more"), io.ErrClosedPipe))
	// Output:
	// true ping
	// pong
	// true
	// true
}

// Tick is plain: a Ring of it copies its bytes, no encoding.
type Tick struct {
	Seq   uint64
	Price float64
}

func ExampleNewRing() {
	ctx := context.Background()
	r, err := ringbuffer.NewRing[Tick](1000) // any number of producers and consumers
	if err != nil {
		fmt.Println(err)
		return
	}
	defer r.Free()
	fmt.Println(r.Cap()) // a power of two

	n, err := r.PushBatch(ctx, []Tick{{1, 10.5}, {2, 10.25}, {3, 10.75}})
	fmt.Println(n, err, r.Len())

	dst := make([]Tick, 8)
	n, err = r.PopBatch(ctx, dst) // waits for one, takes what is there
	fmt.Println(n, err, dst[:n])
	// Output:
	// 1024
	// 3 <nil> 3
	// 3 <nil> [{1 10.5} {2 10.25} {3 10.75}]
}

func ExampleNewSPSCRing() {
	ctx := context.Background()
	r, err := ringbuffer.NewSPSCRing[int64](4) // one producer, one consumer
	if err != nil {
		fmt.Println(err)
		return
	}
	defer r.Free()
	fmt.Println(r.SingleProducer(), r.Cap())

	producer := make(chan struct{})
	go func() { // the producer: usually another process
		defer close(producer)
		for i := range int64(10) {
			r.Push(ctx, i*i) // waits while the ring is full
		}
	}()
	var got []int64
	for range 10 {
		v, _ := r.Pop(ctx)
		got = append(got, v)
	}
	fmt.Println(got)

	<-producer // one goroutine at a time on each side
	for r.TryPush(-1) == nil {
	}
	fmt.Println(r.Len(), errors.Is(r.TryPush(-1), ringbuffer.ErrFull))
	// Output:
	// true 4
	// [0 1 4 9 16 25 36 49 64 81]
	// 4 true
}

func ExampleJoinableQueue_TaskDone() {
	ctx := context.Background()
	jq, err := ringbuffer.NewJoinableQueue[int64](4)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer jq.Free()

	// TaskDone counts against Puts, as Python's task_done: a message put
	// and not yet taken may be marked done, but only once per Put.
	jq.Put(ctx, 1)
	fmt.Println(jq.TaskDone(), jq.Unfinished())
	fmt.Println(jq.TaskDone() == ringbuffer.ErrNegativeTaskDone)
	fmt.Println(jq.Join(ctx)) // every message put is done
	// Output:
	// <nil> 0
	// true
	// <nil>
}

func ExampleQueue_Full() {
	q, err := ringbuffer.NewQueue[int64](6) // Python's Queue(maxsize=6)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer q.Free()

	for i := range int64(6) {
		q.TryPut(i)
	}
	// Exactly 6, though the ring inside has 8 slots. Len, Empty and Full
	// are snapshots: other processes may put and get meanwhile.
	fmt.Println(q.Cap(), q.Len(), q.Full(), q.Empty())
	fmt.Println(errors.Is(q.TryPut(6), ringbuffer.ErrFull))
	q.TryGet()
	fmt.Println(q.Full())
	// Output:
	// 6 6 true false
	// true
	// false
}

func ExampleOneWayPipe() {
	ctx := context.Background()
	// Python's r, w = Pipe(duplex=False): the reader first.
	rx, tx, err := ringbuffer.OneWayPipe[string](16)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer rx.Free()

	done := make(chan struct{})
	go func() { // usually a child process, given tx as a handle
		defer close(done)
		tx.Send(ctx, "hello")
		tx.Close() // the last holder of the Sender: the stream ends
	}()
	for {
		m, err := rx.Recv(ctx)
		if err == io.EOF {
			fmt.Println("EOF")
			break
		}
		fmt.Println(m, err)
	}
	<-done // the writer is out of Close before the pipe is freed
	// Output:
	// hello <nil>
	// EOF
}

// A reader program makes a named one-way pipe and keeps its Receiver; a
// writer program, started apart, opens the Sender by name. The Receiver
// reads io.EOF only once the writer has opened the Sender and closed it (or
// died), never before. Here one process plays both programs.
func ExampleNewReceiver() {
	ctx := context.Background()
	name := fmt.Sprintf("example-pipe-%d", os.Getpid())
	seg, err := shm.Create(name, 1<<20, nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer seg.Free()
	rx, err := ringbuffer.NewReceiver[string](16, shm.In(seg, "log"))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer rx.Free()

	// The writer program:
	go func() {
		seg, err := shm.Open(ctx, name, nil)
		if err != nil {
			return
		}
		defer seg.Close()
		tx, err := ringbuffer.OpenSender[string](ctx, seg, "log")
		if err != nil {
			return
		}
		tx.Send(ctx, "started")
		tx.Close() // the stream ends here, and not before
	}()
	for {
		m, err := rx.Recv(ctx)
		if err == io.EOF {
			fmt.Println("EOF")
			break
		}
		fmt.Println(m, err)
	}
	// Output:
	// started <nil>
	// EOF
}

func ExampleNewPubSub() {
	ctx := context.Background()
	// 8 slots, up to 4 subscribers; Publish waits for the slowest.
	ps, err := ringbuffer.NewPubSub[Tick](8, 4, ringbuffer.Lossless)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer ps.Free()

	a, _ := ps.Subscribe(0) // from now on
	defer a.Close()
	for i := range 3 {
		ps.Publish(ctx, Tick{Seq: uint64(i), Price: 100 + float64(i)})
	}
	b, _ := ps.Subscribe(2) // the last two, then what comes
	defer b.Close()
	ps.Publish(ctx, Tick{Seq: 3, Price: 103})

	for range 4 {
		t, _ := a.Recv(ctx)
		fmt.Print(t.Seq, " ")
	}
	fmt.Println("(a)")
	for range 3 {
		t, _ := b.Recv(ctx)
		fmt.Print(t.Seq, " ")
	}
	fmt.Println("(b)")
	// Output:
	// 0 1 2 3 (a)
	// 1 2 3 (b)
}

func ExampleNewPubSub_lossy() {
	ctx := context.Background()
	// Publish never waits: a subscriber a whole ring behind misses the
	// oldest messages, and is told how many.
	ps, err := ringbuffer.NewPubSub[Tick](4, 1, ringbuffer.Lossy)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer ps.Free()
	sub, _ := ps.Subscribe(0)
	defer sub.Close()
	for i := range 10 {
		ps.Publish(ctx, Tick{Seq: uint64(i)})
	}
	for sub.Pending() > 0 {
		t, err := sub.Recv(ctx)
		var lapped *ringbuffer.LappedError
		if errors.As(err, &lapped) {
			fmt.Println("missed", lapped.Missed)
			continue
		}
		fmt.Println(t.Seq)
	}
	// Output:
	// missed 6
	// 6
	// 7
	// 8
	// 9
}

func ExampleOpenPubSub() {
	ctx := context.Background()
	name := fmt.Sprintf("example-pubsub-%d", os.Getpid())
	seg, err := shm.Create(name, 1<<20, nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer seg.Free()
	ps, err := ringbuffer.NewPubSub[Tick](64, 8, ringbuffer.Lossless, shm.In(seg, "ticks"))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer ps.Free()

	// A subscriber program:
	got := make(chan string)
	go func() {
		seg, err := shm.Open(ctx, name, nil)
		if err != nil {
			got <- err.Error()
			return
		}
		defer seg.Close()
		ps, err := ringbuffer.OpenPubSub[Tick](ctx, seg, "ticks")
		if err != nil {
			got <- err.Error()
			return
		}
		defer ps.Close()
		sub, err := ps.Subscribe(10) // what was published before it came, too
		if err != nil {
			got <- err.Error()
			return
		}
		defer sub.Close()
		for {
			t, err := sub.Recv(ctx)
			if err != nil || t.Seq == 2 {
				got <- fmt.Sprint(t.Seq, err)
				return
			}
		}
	}()
	for i := range 3 {
		ps.Publish(ctx, Tick{Seq: uint64(i)})
	}
	fmt.Println(<-got)
	// Output:
	// 2 <nil>
}

func ExamplePubSub_Subscribe() {
	ctx := context.Background()
	ps, err := ringbuffer.NewPubSub[uint32](16, 2, ringbuffer.Lossless)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer ps.Free()
	for i := range uint32(5) {
		ps.Publish(ctx, i)
	}
	late, _ := ps.Subscribe(3) // iceoryx2's history: up to 3 of the last messages
	defer late.Close()
	for late.Pending() > 0 {
		v, _ := late.Recv(ctx)
		fmt.Print(v, " ")
	}
	fmt.Println()
	// Output:
	// 2 3 4
}

func ExampleRing_Stats() {
	ctx := context.Background()
	seg, err := shm.Create(fmt.Sprintf("example-stats-%d", os.Getpid()), 1<<20, nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer seg.Free()
	r, err := ringbuffer.NewSPSCRing[int64](8, shm.In(seg, "ticks"))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer r.Free()

	for i := range int64(5) {
		r.Push(ctx, i)
	}
	r.Pop(ctx)
	s := r.Stats() // every process's counts, since the ring was made
	fmt.Println(s.Pushed, s.Popped, s.Len, s.SleepsEmpty)

	// A tool reads the same figures by name, from every object of a
	// segment, without knowing their types.
	objs, err := seg.Objects()
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, info := range objs {
		o, err := seg.Find(ctx, info.Name, shm.Spec{Kind: info.Kind, Fingerprint: info.Fingerprint})
		if err != nil {
			fmt.Println(err)
			return
		}
		m, err := shm.Metrics(o)
		if err != nil {
			fmt.Println(err)
			return
		}
		for _, x := range m[:3] {
			fmt.Println(info.Kind, info.Name, x.Name, x.Value, x.Gauge)
		}
	}
	// Output:
	// 5 1 4 0
	// ring ticks pushed 5 false
	// ring ticks popped 1 false
	// ring ticks len 4 true
}

// Frame is a video frame: 64 KiB that a Loan writes in place and a
// Borrowed reads in place, with no copy of the pixels.
type Frame struct {
	Seq    uint64
	Pixels [64 << 10]byte
}

func ExampleRing_Loan() {
	ctx := context.Background()
	r, err := ringbuffer.NewSPSCRing[Frame](4)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer r.Free()

	// The writer: fill the next slot where it lies, then commit it.
	for i := range 3 {
		l, err := r.Loan(ctx) // waits for room, as Push does
		if err != nil {
			fmt.Println(err)
			return
		}
		f := l.Value() // the slot itself, in shared memory
		f.Seq = uint64(i)
		f.Pixels[0] = byte(10 * i)
		if err := l.Commit(); err != nil { // publishes it, as Push does
			fmt.Println(err)
		}
	}

	// The reader (usually another process): look at the oldest frame
	// where it lies, then release it.
	for range 3 {
		b, err := r.Borrow(ctx)
		if err != nil {
			fmt.Println(err)
			return
		}
		f := b.Value()
		fmt.Println("frame", f.Seq, "first pixel", f.Pixels[0])
		b.Release() // the slot may be reused from now on
	}
	// Output:
	// frame 0 first pixel 0
	// frame 1 first pixel 10
	// frame 2 first pixel 20
}

func ExamplePubSub_Loan() {
	ctx := context.Background()
	ps, err := ringbuffer.NewPubSub[Frame](8, 2, ringbuffer.Lossless)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer ps.Free()
	a, _ := ps.Subscribe(0)
	b, _ := ps.Subscribe(0)

	l, err := ps.Loan(ctx) // the slot of the next message
	if err != nil {
		fmt.Println(err)
		return
	}
	l.Value().Seq = 42
	l.Value().Pixels[1] = 7
	l.Commit() // one write in place, for every subscriber

	for _, s := range []*ringbuffer.Subscriber[Frame]{a, b} {
		m, err := s.Borrow(ctx)
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Println("frame", m.Value().Seq, "pixel", m.Value().Pixels[1])
		// In a lossy ring Release reports a frame overwritten while it
		// was borrowed (ErrLapped): what Value showed may then be torn.
		if err := m.Release(); err != nil {
			fmt.Println(err)
		}
	}
	// Output:
	// frame 42 pixel 7
	// frame 42 pixel 7
}

func ExampleQueue_LoanBytes() {
	ctx := context.Background()
	q, err := ringbuffer.NewQueue[[]byte](64) // 16 KiB of frames
	if err != nil {
		fmt.Println(err)
		return
	}
	defer q.Free()

	// The writer: room for a message of n bytes, filled where it lies.
	for _, s := range []string{"a byte message", "of any length"} {
		l, err := q.LoanBytes(ctx, len(s)) // waits for room, as Put does
		if err != nil {
			fmt.Println(err)
			return
		}
		copy(l.Bytes(), s) // len(l.Bytes()) == len(s), in shared memory
		if err := l.Commit(); err != nil {
			fmt.Println(err)
		}
	}
	q.Put(ctx, []byte("or put")) // loans and Put, borrows and Get, mix

	// The reader (usually another process): the oldest message where it
	// lies, then released.
	for range 3 {
		b, err := q.BorrowBytes(ctx)
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Printf("%q\n", b.Bytes())
		b.Release() // its cells may be reused from now on
	}
	// Output:
	// "a byte message"
	// "of any length"
	// "or put"
}

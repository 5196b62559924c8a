package process

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"runtime"
	"runtime/debug"
	"sync/atomic"
	"time"

	"github.com/shmkit/shmkit/internal/rawq"
	"github.com/shmkit/shmkit/ringbuffer"
)

// workerArg is what a pool worker process starts with: its two queues,
// the initializer, and how many tasks it runs before it exits.
type workerArg struct {
	Tasks, Results *ringbuffer.Queue[[]byte]
	Init           string
	InitArg        []byte
	MaxTasks       int
}

// poolWorker is the function pool worker processes run.
var poolWorker = func() Target[workerArg] {
	t := Register("shmkit.process.PoolWorker", runWorker)
	t.prefix = "PoolWorker"
	return t
}()

// raw is the Codec of the pool's queues: a message is its bytes.
type raw struct{}

func (raw) Append(b []byte, v *[]byte) ([]byte, error) { return append(b, *v...), nil }
func (raw) Decode(b []byte, v *[]byte) error           { *v = append((*v)[:0], b...); return nil }

func runWorker(ctx context.Context, a workerArg) error {
	if a.Tasks == nil || a.Results == nil {
		return errors.New("pool worker started without its queues")
	}
	a.Tasks.SetCodec(raw{})
	a.Results.SetCodec(raw{})
	tasks, err := rawq.Of(a.Tasks)
	if err != nil {
		return err
	}
	results, err := rawq.Of(a.Results)
	if err != nil {
		return err
	}
	if a.Init != "" {
		if err := runInit(ctx, a.Init, a.InitArg); err != nil {
			te := taskError(a.Init, err)
			msg := appendResult(nil, msgInitFailed, 0, 0, 1, []itemErr{{panic: te.Panic, msg: te.Message, stack: te.Stack}})
			results.Put(ctx, msg, nil)
			return err
		}
	}
	if err := results.Put(ctx, appendResult(nil, msgReady, 0, 0, 0, nil), nil); err != nil {
		return nil // terminated
	}
	var spin spinner
	var t taskReader
	for done := 0; a.MaxTasks <= 0 || done < a.MaxTasks; done++ {
		err := spin.get(ctx, tasks, &t, nil)
		if errors.Is(err, ringbuffer.ErrShutdown) || ctx.Err() != nil {
			return nil // the pool closed, or terminated this worker
		}
		if err != nil {
			return err
		}
		if err := t.run(ctx, results); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
	}
	return nil
}

// taskReader reads a task message where it lies in the worker's queue:
// it finds the task's function and has it take the arguments out.
type taskReader struct {
	name   []byte   // of the function looked up last
	runner runChunk // its runner
	t      taskMsg  // the task read, its payload left out
	err    error    // the arguments failed to decode
}

func (r *taskReader) Read(b []byte) error {
	t, name, err := parseTaskName(b)
	if err != nil {
		return err
	}
	if r.runner == nil || !bytes.Equal(name, r.name) {
		e, ok := lookup(string(name))
		if !ok || e.chunk == nil {
			return fmt.Errorf("%w: task function %q", ErrNotRegistered, name)
		}
		r.runner, r.name = e.chunk, append(r.name[:0], name...)
	}
	r.err = r.runner.decode(t.count, t.payload)
	t.payload = nil // the queue's bytes, valid only during Read
	r.t = t
	return nil
}

// run runs the items of the task read last and sends their results.
func (r *taskReader) run(ctx context.Context, results rawq.Queue) error {
	if r.err != nil { // arguments this worker cannot decode: every item fails
		return sendFailed(ctx, results, r.t.id, r.t.off, 0, r.t.count, r.err.Error())
	}
	return r.runner.run(ctx, results, r.t.id, r.t.off)
}

// runInit runs the pool's initializer, turning a panic into an error.
func runInit(ctx context.Context, name string, arg []byte) (err error) {
	e, ok := lookup(name)
	if !ok {
		return fmt.Errorf("%w: initializer %q", ErrNotRegistered, name)
	}
	defer func() {
		if v := recover(); v != nil {
			err = &panicError{value: fmt.Sprint(v), stack: string(debug.Stack())}
		}
	}()
	return e.run(ctx, arg)
}

// sendFailed sends items lo..hi as failed with text.
func sendFailed(ctx context.Context, q rawq.Queue, id uint64, off, lo, hi int, text string) error {
	errs := make([]itemErr, hi-lo)
	for i := range errs {
		errs[i] = itemErr{index: i, msg: text}
	}
	return q.Put(ctx, appendResult(nil, msgResult, id, off+lo, hi-lo, errs), nil)
}

// spinner polls a queue for a little while before its Get goes to sleep,
// for as long as polling pays: a worker whose next task, or a pool whose
// next result, comes within microseconds saves two wake-ups per task. A
// poll is a few loads (rawq.Queue.Ready), with no clock read and no
// yield but every spinCheck polls. A wait that found nothing in spinFor
// turns polling off for the next waits, 1 after the first such wait, then
// twice as many after each other in a row, up to spinSkip. A wait given
// soon polls only while soon says the message is near.
type spinner struct{ skip, missed int }

const (
	spinFor   = 50 * time.Microsecond
	spinSkip  = 16
	spinCheck = 256
)

func (s *spinner) get(ctx context.Context, q rawq.Queue, r rawq.Reader, soon *atomic.Bool) error {
	if s.skip > 0 {
		s.skip--
		return q.Get(ctx, r)
	}
	var start time.Time
	for i := 1; !q.Ready(); i++ {
		if i%spinCheck != 0 {
			continue
		}
		if soon != nil && !soon.Load() {
			return q.Get(ctx, r) // far off: sleep, and spin again next time
		}
		if i == spinCheck {
			start = time.Now()
		} else if time.Since(start) > spinFor || ctx.Err() != nil {
			s.missed = min(max(2*s.missed, 1), spinSkip)
			s.skip = s.missed
			return q.Get(ctx, r)
		}
		runtime.Gosched() // for the other goroutines, with GOMAXPROCS 1
	}
	s.missed = 0
	return q.Get(ctx, r)
}

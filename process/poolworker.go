package process

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"runtime/debug"
	"time"

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
	if a.Init != "" {
		if err := runInit(ctx, a.Init, a.InitArg); err != nil {
			te := taskError(a.Init, err)
			msg := appendResult(nil, msgInitFailed, 0, 0, 1, []itemErr{{panic: te.Panic, msg: te.Message, stack: te.Stack}})
			a.Results.Put(ctx, msg)
			return err
		}
	}
	if err := a.Results.Put(ctx, appendResult(nil, msgReady, 0, 0, 0, nil)); err != nil {
		return nil // terminated
	}
	var spin spinner
	for done := 0; a.MaxTasks <= 0 || done < a.MaxTasks; done++ {
		m, err := spin.get(ctx, a.Tasks)
		if errors.Is(err, ringbuffer.ErrShutdown) || ctx.Err() != nil {
			return nil // the pool closed, or terminated this worker
		}
		if err != nil {
			return err
		}
		if err := runTask(ctx, a.Results, m); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
	}
	return nil
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

// runTask runs the items of one task message and sends their results.
func runTask(ctx context.Context, results *ringbuffer.Queue[[]byte], m []byte) error {
	t, err := parseTask(m)
	if err != nil {
		return err
	}
	e, ok := lookup(t.fn)
	if !ok || e.chunk == nil {
		return fmt.Errorf("%w: task function %q", ErrNotRegistered, t.fn)
	}
	r, err := e.chunk(ctx, t.count, t.payload)
	if err != nil { // arguments this worker cannot decode: every item fails
		errs := make([]itemErr, t.count)
		for i := range errs {
			errs[i] = itemErr{index: i, msg: err.Error()}
		}
		r = chunkResult{errs: errs}
	}
	return sendResults(ctx, results, t.id, t.off, r, 0, t.count)
}

// sendResults sends the results of items lo..hi, in one message or, when
// that is too large for the queue, in halves, in order. A single result
// too large for the queue fails that item.
func sendResults(ctx context.Context, q *ringbuffer.Queue[[]byte], id uint64, off int, r chunkResult, lo, hi int) error {
	var errs []itemErr
	for _, e := range r.errs {
		if e.index >= lo && e.index < hi {
			e.index -= lo
			errs = append(errs, e)
		}
	}
	msg := appendResult(nil, msgResult, id, off+lo, hi-lo, errs)
	if len(errs) < hi-lo {
		var err error
		if msg, err = r.encode(msg, lo, hi); err != nil {
			return sendFailed(ctx, q, id, off, lo, hi, fmt.Sprintf("encoding the result: %v", err))
		}
	}
	err := q.Put(ctx, msg)
	if !errors.Is(err, ringbuffer.ErrTooLarge) {
		return err
	}
	if hi-lo == 1 {
		return sendFailed(ctx, q, id, off, lo, hi, fmt.Sprintf("the result (%d bytes) is larger than the pool's queue (PoolOptions.QueueBytes)", len(msg)))
	}
	mid := lo + (hi-lo)/2
	if err := sendResults(ctx, q, id, off, r, lo, mid); err != nil {
		return err
	}
	return sendResults(ctx, q, id, off, r, mid, hi)
}

// sendFailed sends items lo..hi as failed with text.
func sendFailed(ctx context.Context, q *ringbuffer.Queue[[]byte], id uint64, off, lo, hi int, text string) error {
	errs := make([]itemErr, hi-lo)
	for i := range errs {
		errs[i] = itemErr{index: i, msg: text}
	}
	return q.Put(ctx, appendResult(nil, msgResult, id, off+lo, hi-lo, errs))
}

// spinner polls a queue for a little while before its Get goes to sleep,
// for as long as polling pays: a worker whose next task, or a pool whose
// next result, comes within microseconds saves two wake-ups per task. A
// poll that found nothing turns polling off for the next spinSkip waits.
type spinner struct{ skip int }

const (
	spinFor  = 50 * time.Microsecond
	spinSkip = 16
)

func (s *spinner) get(ctx context.Context, q *ringbuffer.Queue[[]byte]) ([]byte, error) {
	if s.skip > 0 {
		s.skip--
		return q.Get(ctx)
	}
	start := time.Now()
	for ctx.Err() == nil && time.Since(start) < spinFor {
		m, err := q.TryGet()
		if !errors.Is(err, ringbuffer.ErrEmpty) {
			return m, err
		}
		runtime.Gosched()
	}
	s.skip = spinSkip
	return q.Get(ctx)
}

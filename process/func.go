package process

import (
	"bytes"
	"context"
	"encoding/gob"
	"errors"
	"fmt"
	"reflect"
	"runtime/debug"

	"github.com/shmkit/shmkit/ctypes"
	"github.com/shmkit/shmkit/internal/mem"
	"github.com/shmkit/shmkit/internal/rawq"
	"github.com/shmkit/shmkit/ringbuffer"
)

// Func names a function registered to run as pool tasks (RegisterFunc):
// it takes an A and gives an R.
type Func[A, R any] struct {
	name string
	fn   func(ctx context.Context, arg A) (R, error)
	ac   codec[A]
	rc   codec[R]
}

// Name is the name the function was registered under.
func (f Func[A, R]) Name() string { return f.name }

// Target is the same function as a Process target, its result dropped.
func (f Func[A, R]) Target() Target[A] { return Target[A]{name: f.name} }

// RegisterFunc registers fn under name, so that pool workers can run it:
// Map, Imap, Apply and the rest take the Func it returns. As with
// Register, call it in a package-level variable; an empty or duplicate
// name (the names are shared with Register), or an A or R holding funcs
// or channels, panics before any child runs.
func RegisterFunc[A, R any](name string, fn func(ctx context.Context, arg A) (R, error)) Func[A, R] {
	if fn == nil {
		panic("process: RegisterFunc with a nil function")
	}
	for _, t := range []reflect.Type{reflect.TypeFor[A](), reflect.TypeFor[R]()} {
		if err := encodable(t, map[reflect.Type]bool{}); err != nil {
			panic(fmt.Sprintf("process: RegisterFunc %q: %s cannot travel between processes: %v", name, t, err))
		}
	}
	f := Func[A, R]{name: name, fn: fn, ac: codecFor[A](), rc: codecFor[R]()}
	add(name, entry{
		argType: reflect.TypeFor[A](),
		run: decoding(name, func(ctx context.Context, a A) error {
			_, err := fn(ctx, a)
			return err
		}),
		chunk: &funcRunner[A, R]{f: f},
	})
	return f
}

// TaskError is a task's failure as its caller sees it: the error its
// function returned, or the value it panicked with and the stack.
type TaskError struct {
	Func    string // the registered name
	Message string // the error's text, or the panic's value
	Panic   bool   // the function panicked
	Stack   string // of a panic, as the worker printed it
	err     error  // the error itself, when the task ran in this process
}

// Error is the function's registered name with its error's text or its
// panic's value.
func (e *TaskError) Error() string {
	if e.Panic {
		return fmt.Sprintf("process: %s panicked: %s", e.Func, e.Message)
	}
	return fmt.Sprintf("process: %s: %s", e.Func, e.Message)
}

// Unwrap is the function's own error in an InProcess pool. Across
// processes only its text travels, and Unwrap is nil.
func (e *TaskError) Unwrap() error { return e.err }

// panicError carries a recovered panic to a TaskError.
type panicError struct {
	value string
	stack string
}

func (e *panicError) Error() string { return "panic: " + e.value }

func taskError(fn string, err error) *TaskError {
	var pe *panicError
	if errors.As(err, &pe) {
		return &TaskError{Func: fn, Message: pe.value, Panic: true, Stack: pe.stack}
	}
	return &TaskError{Func: fn, Message: err.Error(), err: err}
}

// callItem runs fn on one argument, turning a panic into an error.
func callItem[A, R any](ctx context.Context, fn func(context.Context, A) (R, error), a A) (r R, err error) {
	defer func() {
		if v := recover(); v != nil {
			err = &panicError{value: fmt.Sprint(v), stack: string(debug.Stack())}
		}
	}()
	return fn(ctx, a)
}

// runChunk runs the tasks of a Func in a pool worker, one at a time:
// decode takes a task's arguments out of its message, which may then
// leave the queue, and run calls the function on each and sends the
// results.
type runChunk interface {
	decode(count int, payload []byte) error
	run(ctx context.Context, q rawq.Queue, id uint64, off int) error
}

// funcRunner is a Func's runChunk. It keeps its buffers from task to
// task: a worker runs one task at a time.
type funcRunner[A, R any] struct {
	f    Func[A, R]
	args []A
	out  []R
	errs []itemErr // of the items of the task that failed, in order
	sub  []itemErr // those of the part being sent
	head []byte    // a result's header
	body []byte    // encoded results (not plain R)
}

func (r *funcRunner[A, R]) decode(count int, payload []byte) error {
	r.args = resize(r.args, count)
	if err := r.f.ac.decode(payload, r.args); err != nil {
		return fmt.Errorf("decoding the arguments of %q: %w", r.f.name, err)
	}
	return nil
}

func (r *funcRunner[A, R]) run(ctx context.Context, q rawq.Queue, id uint64, off int) error {
	r.out = resize(r.out, len(r.args))
	r.errs = r.errs[:0]
	for i := 0; i < len(r.args); {
		i = r.callFrom(ctx, i)
	}
	err := r.send(ctx, q, id, off, 0, len(r.args))
	if r.f.ac.size == 0 || r.f.rc.size == 0 { // let go of what the values point to
		clear(r.args)
		clear(r.out)
	}
	return err
}

// callFrom calls the function on the arguments from i on, and returns
// the index of the first it has not called: len(r.args), or the one
// after the item that panicked. One deferred recover serves a whole task
// rather than one per item.
func (r *funcRunner[A, R]) callFrom(ctx context.Context, i int) (next int) {
	defer func() {
		if v := recover(); v != nil {
			var zero R
			r.out[next] = zero
			r.errs = append(r.errs, itemErr{index: next, panic: true, msg: fmt.Sprint(v), stack: string(debug.Stack())})
			next++
		}
	}()
	for next = i; next < len(r.args); next++ {
		v, err := r.f.fn(ctx, r.args[next])
		if err != nil {
			var zero R
			r.out[next] = zero
			te := taskError(r.f.name, err)
			r.errs = append(r.errs, itemErr{index: next, panic: te.Panic, msg: te.Message, stack: te.Stack})
			continue
		}
		r.out[next] = v
	}
	return next
}

// send sends the results of items lo..hi, in one message or, when that
// is too large for the queue, in halves, in order. A single result too
// large for the queue fails that item.
func (r *funcRunner[A, R]) send(ctx context.Context, q rawq.Queue, id uint64, off, lo, hi int) error {
	r.sub = r.sub[:0]
	for _, e := range r.errs {
		if e.index >= lo && e.index < hi {
			e.index -= lo
			r.sub = append(r.sub, e)
		}
	}
	r.head = appendResult(r.head[:0], msgResult, id, off+lo, hi-lo, r.sub)
	var body []byte
	if len(r.sub) < hi-lo {
		var err error
		if body, err = r.f.rc.body(r.body[:0], r.out[lo:hi]); err != nil {
			return sendFailed(ctx, q, id, off, lo, hi, fmt.Sprintf("encoding the result: %v", err))
		}
		if r.f.rc.size == 0 && cap(body) <= maxKeptBuffer {
			r.body = body
		}
	}
	size := len(r.head) + len(body)
	err := q.Put(ctx, r.head, body)
	if !errors.Is(err, ringbuffer.ErrTooLarge) {
		return err
	}
	if hi-lo == 1 {
		return sendFailed(ctx, q, id, off, lo, hi, fmt.Sprintf("the result (%d bytes) is larger than the pool's queue (PoolOptions.QueueBytes)", size))
	}
	mid := lo + (hi-lo)/2
	if err := r.send(ctx, q, id, off, lo, mid); err != nil {
		return err
	}
	return r.send(ctx, q, id, off, mid, hi)
}

// maxKeptBuffer bounds the buffers a worker keeps from one task to the
// next.
const maxKeptBuffer = 4 << 20

// resize is s with n elements, its array reused when it has room.
func resize[T any](s []T, n int) []T {
	if cap(s) < n {
		return make([]T, n)
	}
	return s[:n]
}

// codec encodes runs of values for tasks and results: plain values (see
// package ctypes) as their bytes, anything else with encoding/gob.
type codec[T any] struct {
	size int // of a plain T; 0 for gob
}

func codecFor[T any]() codec[T] {
	if l, err := ctypes.LayoutOf[T](); err == nil && l.Size > 0 {
		return codec[T]{size: int(l.Size)}
	}
	return codec[T]{}
}

func (c codec[T]) append(b []byte, vs []T) ([]byte, error) {
	if c.size > 0 {
		return append(b, mem.SliceBytes(vs)...), nil
	}
	ws := make([]wire[T], len(vs)) // in a struct each, so that nil pointers travel
	for i := range vs {
		ws[i].Arg = vs[i]
	}
	buf := bytes.NewBuffer(b)
	if err := gob.NewEncoder(buf).Encode(ws); err != nil {
		return b, fmt.Errorf("encoding %s: %w", reflect.TypeFor[T](), err)
	}
	return buf.Bytes(), nil
}

// body is the encoding of vs: for plain T the values' own memory, no
// copy; otherwise appended to b.
func (c codec[T]) body(b []byte, vs []T) ([]byte, error) {
	if c.size > 0 {
		return mem.SliceBytes(vs), nil
	}
	return c.append(b, vs)
}

func (c codec[T]) decode(b []byte, out []T) error {
	if c.size > 0 {
		if len(b) != len(out)*c.size {
			return fmt.Errorf("%w: %d bytes for %d values of %d", errBadMessage, len(b), len(out), c.size)
		}
		copy(mem.SliceBytes(out), b)
		return nil
	}
	var ws []wire[T]
	if err := gob.NewDecoder(bytes.NewReader(b)).Decode(&ws); err != nil {
		return fmt.Errorf("decoding %s: %w", reflect.TypeFor[T](), err)
	}
	if len(ws) != len(out) {
		return fmt.Errorf("%w: %d values for %d", errBadMessage, len(ws), len(out))
	}
	for i := range ws {
		out[i] = ws[i].Arg
	}
	return nil
}

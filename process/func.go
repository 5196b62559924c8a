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
		chunk: f.runChunk,
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

// runChunk runs the items of a task in a worker: it decodes count
// arguments from payload, calls the function on each, and returns what
// encodes the results.
type runChunk func(ctx context.Context, count int, payload []byte) (chunkResult, error)

type chunkResult struct {
	errs   []itemErr                                  // by item, in order
	encode func(b []byte, lo, hi int) ([]byte, error) // appends the results lo..hi
}

func (f Func[A, R]) runChunk(ctx context.Context, count int, payload []byte) (chunkResult, error) {
	args := make([]A, count)
	if err := f.ac.decode(payload, args); err != nil {
		return chunkResult{}, fmt.Errorf("decoding the arguments of %q: %w", f.name, err)
	}
	out := make([]R, count)
	var errs []itemErr
	for i := range args {
		r, err := callItem(ctx, f.fn, args[i])
		if err != nil {
			te := taskError(f.name, err)
			errs = append(errs, itemErr{index: i, panic: te.Panic, msg: te.Message, stack: te.Stack})
			continue
		}
		out[i] = r
	}
	return chunkResult{errs: errs, encode: func(b []byte, lo, hi int) ([]byte, error) {
		return f.rc.append(b, out[lo:hi])
	}}, nil
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

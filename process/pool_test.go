//go:build linux && (amd64 || arm64)

package process

// Functional tests of Pool. Each runs for a pool of processes and for an
// InProcess pool (a subtest per mode) wherever the two are meant to behave
// the same. Every pool is Terminated and Joined when its test ends, and
// every worker pid it had must be gone by then. Waits are bounded by the
// hang guard; nothing checks how long anything took.

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"maps"
	"os"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/shmkit/shmkit/ringbuffer"
	"github.com/shmkit/shmkit/semaphore"
	"github.com/shmkit/shmkit/value"
)

// The registered functions of these tests.

var errPtSentinel = errors.New("pt sentinel")

// ptPlain is plain data: it travels as its bytes.
type ptPlain struct {
	A int32
	B float64
	C [3]uint16
	D bool
}

// ptRec is not plain: it travels with gob. Nil pointers, nil slices and nil
// maps must come back nil.
type ptRec struct {
	Name  string
	Tags  []string
	Attrs map[string]int
	Ptr   *int
	Inner *ptInner
}

type ptInner struct {
	Vals []float64
	Note string
}

// ptRecDo is what pt.rec computes; the tests compute it locally too. Its
// results hold no empty slice or map and no pointer to a zero value (gob
// sends those as absent, so they come back nil).
func ptRecDo(r ptRec) ptRec {
	out := ptRec{Name: strings.ToUpper(r.Name)}
	for i := len(r.Tags) - 1; i >= 0; i-- {
		out.Tags = append(out.Tags, r.Tags[i])
	}
	if r.Attrs != nil {
		out.Attrs = map[string]int{"n": len(r.Attrs) + 1}
		for k, v := range r.Attrs {
			out.Attrs[k] = v * 2
		}
	}
	if r.Ptr != nil {
		v := *r.Ptr * 10
		out.Ptr = &v
	}
	if r.Inner != nil {
		out.Inner = &ptInner{Vals: append([]float64{0.5}, r.Inner.Vals...), Note: r.Inner.Note + "!"}
	}
	return out
}

// ptBlob asks pt.blob for N bytes back; Data only travels.
type ptBlob struct {
	N    int
	Data []byte
}

type ptBlobOut struct {
	Got  int // len(Data)
	Sum  int // of Data
	Data []byte
}

func ptPattern(n, seed int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + seed)
	}
	return b
}

// ptBlockArg drives pt.block: it counts itself in Started, then waits for
// Release (or its context) and returns X*10.
type ptBlockArg struct {
	Started *value.Value[int64]
	Release *semaphore.Event
	X       int
}

// ptShared is an argument holding shared objects.
type ptShared struct {
	V *value.Value[int64]
	Q *ringbuffer.Queue[int]
	X int
}

// ptQueues is the initializer argument of seed 002.
type ptQueues = struct{ In, Out *ringbuffer.Queue[int] }

var (
	ptSquare = RegisterFunc("pt.square", func(ctx context.Context, x int) (int, error) { return x * x, nil })
	ptInc    = RegisterFunc("pt.inc", func(ctx context.Context, x int) (int, error) { return x + 1, nil })
	ptLinear = RegisterFunc("pt.linear", func(ctx context.Context, x int) (int, error) { return 3*x + 1, nil })
	// ptCheck: a negative x returns an error wrapping errPtSentinel; an x
	// of a million or more panics.
	ptCheck = RegisterFunc("pt.check", func(ctx context.Context, x int) (int, error) {
		switch {
		case x < 0:
			return 0, fmt.Errorf("negative %d: %w", x, errPtSentinel)
		case x >= 1_000_000:
			panic(fmt.Sprintf("pt panic %d", x))
		}
		return 2 * x, nil
	})
	ptUpper = RegisterFunc("pt.upper", func(ctx context.Context, s string) (string, error) {
		return strings.ToUpper(s) + "|" + fmt.Sprint(len(s)), nil
	})
	ptRecF   = RegisterFunc("pt.rec", func(ctx context.Context, r ptRec) (ptRec, error) { return ptRecDo(r), nil })
	ptPlainF = RegisterFunc("pt.plain", func(ctx context.Context, v ptPlain) (ptPlain, error) {
		return ptPlain{A: v.A * 2, B: v.B / 2, C: [3]uint16{v.C[2], v.C[1], v.C[0]}, D: !v.D}, nil
	})
	ptPid   = RegisterFunc("pt.pid", func(ctx context.Context, x int) (int, error) { return os.Getpid(), nil })
	ptBlobF = RegisterFunc("pt.blob", func(ctx context.Context, b ptBlob) (ptBlobOut, error) {
		s := 0
		for _, c := range b.Data {
			s += int(c)
		}
		return ptBlobOut{Got: len(b.Data), Sum: s, Data: ptPattern(b.N, b.N)}, nil
	})
	ptBlock = RegisterFunc("pt.block", func(ctx context.Context, a ptBlockArg) (int, error) {
		a.Started.Add(1)
		if err := a.Release.Wait(ctx); err != nil {
			return 0, err
		}
		return a.X * 10, nil
	})
	// ptUntilCtx runs until its context ends (the pool's Terminate).
	ptUntilCtx = RegisterFunc("pt.untilctx", func(ctx context.Context, started *value.Value[int64]) (int, error) {
		started.Add(1)
		life, cancel := context.WithTimeout(ctx, childLife)
		defer cancel()
		<-life.Done()
		return 0, ctx.Err()
	})
	ptStarStr = RegisterFunc("pt.starstr", func(ctx context.Context, p Pair[int, string]) (string, error) {
		return fmt.Sprintf("%d:%s", p.First, p.Second), nil
	})
	ptStarMap = RegisterFunc("pt.starmap", func(ctx context.Context, p Pair[string, int]) (string, error) {
		return fmt.Sprintf("%s=%d", p.First, p.Second), nil
	})
	ptStarMul = RegisterFunc("pt.starmul", func(ctx context.Context, p Pair[int, int]) (int, error) { return p.First * p.Second, nil })
	ptSharedF = RegisterFunc("pt.shared", func(ctx context.Context, a ptShared) (*value.Value[int64], error) {
		a.V.Add(int64(a.X))
		if err := a.Q.Put(ctx, a.X); err != nil {
			return nil, err
		}
		return a.V, nil
	})
	ptValueAdd = RegisterFunc("pt.valueadd", func(ctx context.Context, v *value.Value[int64]) (int64, error) { return v.Add(1), nil })

	// Initializers.
	ptSeedInit = Register("pt.seedinit", func(ctx context.Context, q ptQueues) error {
		for {
			v, err := q.In.TryGet()
			if errors.Is(err, ringbuffer.ErrEmpty) {
				return nil
			}
			if err != nil {
				return err
			}
			if err := q.Out.Put(ctx, v+1); err != nil {
				return err
			}
		}
	})
	ptCountInit = Register("pt.countinit", func(ctx context.Context, v *value.Value[int64]) error {
		v.Add(1)
		return nil
	})
	errPtInit = errors.New("pt init sentinel")
	ptErrInit = Register("pt.errinit", func(ctx context.Context, msg string) error {
		return fmt.Errorf("init failed: %s: %w", msg, errPtInit)
	})
	ptPanicInit = Register("pt.panicinit", func(ctx context.Context, msg string) error { panic("init panic " + msg) })
	ptExitInit  = Register("pt.exitinit", func(ctx context.Context, code int) error {
		os.Exit(code)
		return nil
	})
)

// Helpers.

// ptModes runs f for a pool of processes and for an InProcess pool.
func ptModes(t *testing.T, f func(t *testing.T, local bool)) {
	t.Helper()
	for _, local := range []bool{false, true} {
		name := "process"
		if local {
			name = "inprocess"
		}
		t.Run(name, func(t *testing.T) { f(t, local) })
	}
}

// ptTracked are the worker pids a pool had, seen by the tests.
type ptTracked struct {
	p    *Pool
	pids []int
}

// ptPool makes a pool that is Terminated and Joined when the test ends;
// every worker pid it had (Pids now and then, and those added with see)
// must be gone after that Join.
func ptPool(t *testing.T, n int, o PoolOptions) (*Pool, *ptTracked) {
	t.Helper()
	p, err := NewPool(n, &o)
	if err != nil {
		t.Fatalf("NewPool(%d, %+v): %v", n, o, err)
	}
	tr := &ptTracked{p: p, pids: p.Pids()}
	if o.InProcess && len(tr.pids) != 0 {
		t.Errorf("InProcess pool has pids %v", tr.pids)
	}
	if !o.InProcess && len(tr.pids) != p.Size() {
		t.Errorf("Pids() = %v after NewPool of %d workers", tr.pids, p.Size())
	}
	t.Cleanup(func() {
		tr.pids = append(tr.pids, p.Pids()...)
		p.Terminate()
		ctx, cancel := context.WithTimeout(context.Background(), hangGuard)
		defer cancel()
		if err := p.Join(ctx); err != nil {
			t.Errorf("cleanup: Join after Terminate: %v", err)
			return
		}
		ptGone(t, tr.pids)
	})
	return p, tr
}

// see records pids that ran in the pool.
func (tr *ptTracked) see(pids ...int) { tr.pids = append(tr.pids, pids...) }

// ptGone fails the test for a pid still alive (a Joined pool's workers are
// reaped: not even zombies).
func ptGone(t *testing.T, pids []int) {
	t.Helper()
	for _, pid := range pids {
		if pid == os.Getpid() {
			continue
		}
		if err := syscall.Kill(pid, 0); err != syscall.ESRCH {
			t.Errorf("worker pid %d still exists after Join (kill 0: %v)", pid, err)
		}
	}
}

// ptJoin closes p and joins it, and checks that its workers are gone.
func ptJoin(t *testing.T, tr *ptTracked) {
	t.Helper()
	tr.see(tr.p.Pids()...)
	if err := tr.p.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := tr.p.Join(guard(t)); err != nil {
		t.Fatalf("Join after Close: %v", err)
	}
	if pids := tr.p.Pids(); len(pids) != 0 {
		t.Errorf("Pids() = %v after Join", pids)
	}
	ptGone(t, tr.pids)
}

func ptRange(n int) []int {
	xs := make([]int, n)
	for i := range xs {
		xs[i] = i
	}
	return xs
}

// ptEndless yields 0, 1, 2, ... until the loop stops it; *made counts what
// it yielded, *stopped says it returned.
func ptEndless(made *int, stopped *bool) iter.Seq[int] {
	return func(yield func(int) bool) {
		defer func() { *stopped = true }()
		for i := 0; ; i++ {
			*made = i + 1
			if !yield(i) {
				return
			}
		}
	}
}

func ptValue(t *testing.T) *value.Value[int64] {
	t.Helper()
	v, err := value.New[int64](0)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func ptQueue(t *testing.T, n int) *ringbuffer.Queue[int] {
	t.Helper()
	q, err := ringbuffer.NewQueue[int](n)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { q.Free() })
	return q
}

// ptWaitCount waits until v reaches n.
func ptWaitCount(t *testing.T, v *value.Value[int64], n int64, what string) {
	t.Helper()
	ctx := guard(t)
	for v.Load() < n {
		select {
		case <-ctx.Done():
			t.Fatalf("waiting for %s: %d of %d", what, v.Load(), n)
		case <-time.After(time.Millisecond):
		}
	}
}

// ptTaskError checks that err holds a *TaskError of fn and returns it.
func ptTaskError(t *testing.T, err error, fn string) *TaskError {
	t.Helper()
	var te *TaskError
	if !errors.As(err, &te) {
		t.Fatalf("error %v (%T) holds no *TaskError", err, err)
	}
	if te.Func != fn {
		t.Errorf("TaskError.Func = %q, want %q", te.Func, fn)
	}
	return te
}

// 1. The seed examples.

// TestPoolSeedMap: Python's p = Pool(5); p.map(f, [1, 2, 3]) with
// f(x) = x*x gives [1, 4, 9].
func TestPoolSeedMap(t *testing.T) {
	ptModes(t, func(t *testing.T, local bool) {
		p, tr := ptPool(t, 5, PoolOptions{InProcess: local})
		got, err := Map(guard(t), p, ptSquare, []int{1, 2, 3})
		if err != nil || !slices.Equal(got, []int{1, 4, 9}) {
			t.Fatalf("Map(square, [1 2 3]) = %v, %v; want [1 4 9]", got, err)
		}
		if p.Size() != 5 {
			t.Errorf("Size() = %d, want 5", p.Size())
		}
		ptJoin(t, tr)
	})
}

// TestPoolSeed002Map: pool = Pool(4); b = pool.map(f, range(10));
// pool.close(); pool.join() with f(x) = x+1 gives [1..10].
func TestPoolSeed002Map(t *testing.T) {
	ptModes(t, func(t *testing.T, local bool) {
		p, tr := ptPool(t, 4, PoolOptions{InProcess: local})
		b, err := Map(guard(t), p, ptInc, ptRange(10))
		if err != nil {
			t.Fatal(err)
		}
		ptJoin(t, tr)
		if want := []int{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}; !slices.Equal(b, want) {
			t.Fatalf("Map(inc, range(10)) = %v, want %v", b, want)
		}
	})
}

// TestPoolSeed002Initializer: Pool(4, f, (in_queue, out_queue)), f moving
// in_queue's items + 1 to out_queue until in_queue is empty; the parent
// collects 10 results (any order) and then terminates the pool.
func TestPoolSeed002Initializer(t *testing.T) {
	ptModes(t, func(t *testing.T, local bool) {
		ctx := guard(t)
		in, out := ptQueue(t, 16), ptQueue(t, 16)
		for i := range 10 {
			if err := in.Put(ctx, i); err != nil {
				t.Fatal(err)
			}
		}
		p, tr := ptPool(t, 4, PoolOptions{InProcess: local, Initializer: Init(ptSeedInit, ptQueues{In: in, Out: out})})
		var got []int
		for range 10 {
			v, err := out.Get(ctx)
			if err != nil {
				t.Fatalf("out.Get after %v: %v", got, err)
			}
			got = append(got, v)
		}
		tr.see(p.Pids()...)
		if err := p.Terminate(); err != nil {
			t.Fatal(err)
		}
		if err := p.Join(ctx); err != nil {
			t.Fatalf("Join after Terminate: %v", err)
		}
		ptGone(t, tr.pids)
		slices.Sort(got)
		if want := []int{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}; !slices.Equal(got, want) {
			t.Fatalf("collected %v, want %v", got, want)
		}
		if v, err := out.TryGet(); err == nil {
			t.Errorf("an 11th result %d", v)
		}
	})
}

// 2. Map.

// TestPoolMapOrder: 100k items come back in order whatever the chunk
// size (10k with chunks of 1 item in processes), and an empty input gives
// an empty result.
func TestPoolMapOrder(t *testing.T) {
	xs := ptRange(100_000)
	ptModes(t, func(t *testing.T, local bool) {
		for _, cs := range []int{0, 1, 7, 100_000} {
			t.Run(fmt.Sprint("chunk", cs), func(t *testing.T) {
				p, tr := ptPool(t, 2, PoolOptions{InProcess: local, ChunkSize: cs})
				ctx := guard(t)
				xs := xs
				if cs == 1 && !local {
					xs = xs[:10_000] // a task per item costs a round trip: keep the run time modest
				}
				got, err := Map(ctx, p, ptLinear, xs)
				if err != nil {
					t.Fatal(err)
				}
				if len(got) != len(xs) {
					t.Fatalf("%d results for %d items", len(got), len(xs))
				}
				for i, v := range got {
					if v != 3*i+1 {
						t.Fatalf("item %d: %d, want %d", i, v, 3*i+1)
					}
				}
				for _, empty := range [][]int{nil, {}} {
					got, err = Map(ctx, p, ptLinear, empty)
					if err != nil || len(got) != 0 {
						t.Fatalf("Map of %#v = %v, %v", empty, got, err)
					}
				}
				ptJoin(t, tr)
			})
		}
	})
}

// TestPoolMapTypes: strings, structs with slices, maps and pointers (nil
// ones included), and plain structs.
func TestPoolMapTypes(t *testing.T) {
	if ptPlainF.ac.size == 0 || ptRecF.ac.size != 0 {
		t.Fatalf("codecs: ptPlain size %d (want plain), ptRec size %d (want gob)", ptPlainF.ac.size, ptRecF.ac.size)
	}
	strs := []string{"", "a", "héllo wörld", strings.Repeat("x", 3000), "日本語", "\x00bin\xff"}
	var recs []ptRec
	for i := range 300 {
		r := ptRec{Name: fmt.Sprint("rec-", i)}
		if i%2 == 0 {
			r.Tags = []string{fmt.Sprint("t", i), "u", ""}
		}
		if i%3 == 0 {
			r.Attrs = map[string]int{"a": i, "b": -i, "z": 0}
		}
		if i%5 != 0 {
			v := i
			r.Ptr = &v
		}
		if i%7 == 1 {
			r.Inner = &ptInner{Vals: []float64{float64(i), -1.5}, Note: "in"}
		}
		recs = append(recs, r)
	}
	var plains []ptPlain
	for i := range 1000 {
		plains = append(plains, ptPlain{A: int32(i - 500), B: float64(i) * 1.25, C: [3]uint16{uint16(i), 2, 65535}, D: i%3 == 0})
	}
	ptModes(t, func(t *testing.T, local bool) {
		ctx := guard(t)
		p, tr := ptPool(t, 2, PoolOptions{InProcess: local, ChunkSize: 7})
		gs, err := Map(ctx, p, ptUpper, strs)
		if err != nil {
			t.Fatal(err)
		}
		for i, s := range strs {
			if want := strings.ToUpper(s) + "|" + fmt.Sprint(len(s)); gs[i] != want {
				t.Errorf("string %d: %q, want %q", i, gs[i], want)
			}
		}
		gr, err := Map(ctx, p, ptRecF, recs)
		if err != nil {
			t.Fatal(err)
		}
		for i, r := range recs {
			want := ptRecDo(r)
			g := gr[i]
			if g.Name != want.Name || !slices.Equal(g.Tags, want.Tags) || !maps.Equal(g.Attrs, want.Attrs) ||
				(g.Tags == nil) != (want.Tags == nil) || (g.Attrs == nil) != (want.Attrs == nil) {
				t.Fatalf("rec %d: %+v, want %+v", i, g, want)
			}
			if (g.Ptr == nil) != (want.Ptr == nil) || (g.Ptr != nil && *g.Ptr != *want.Ptr) {
				t.Fatalf("rec %d: Ptr %v, want %v", i, g.Ptr, want.Ptr)
			}
			if (g.Inner == nil) != (want.Inner == nil) ||
				(g.Inner != nil && (g.Inner.Note != want.Inner.Note || !slices.Equal(g.Inner.Vals, want.Inner.Vals))) {
				t.Fatalf("rec %d: Inner %+v, want %+v", i, g.Inner, want.Inner)
			}
		}
		gp, err := Map(ctx, p, ptPlainF, plains)
		if err != nil {
			t.Fatal(err)
		}
		for i, v := range plains {
			want := ptPlain{A: v.A * 2, B: v.B / 2, C: [3]uint16{v.C[2], v.C[1], v.C[0]}, D: !v.D}
			if gp[i] != want {
				t.Fatalf("plain %d: %+v, want %+v", i, gp[i], want)
			}
		}
		ptJoin(t, tr)
	})
}

// TestPoolMapErrors: Map returns the error of the first failed item (by
// index, not by time) with its index; a returned error is a TaskError with
// its Message; a panic is one with Panic, the panic's text and a stack.
// InProcess, the function's own error is reachable through Unwrap.
func TestPoolMapErrors(t *testing.T) {
	ptModes(t, func(t *testing.T, local bool) {
		ctx := guard(t)
		for _, cs := range []int{0, 1, 7} {
			p, _ := ptPool(t, 2, PoolOptions{InProcess: local, ChunkSize: cs})
			// An error at 37 and a panic at 900 (its chunk may well fail first).
			xs := ptRange(1000)
			xs[37], xs[900] = -37, 1_000_900
			_, err := Map(ctx, p, ptCheck, xs)
			if err == nil {
				t.Fatalf("chunk %d: Map with failing items succeeded", cs)
			}
			if !strings.HasPrefix(err.Error(), "item 37: ") {
				t.Errorf("chunk %d: error %q, want it to start with \"item 37: \"", cs, err)
			}
			te := ptTaskError(t, err, "pt.check")
			if te.Panic || te.Message != "negative -37: pt sentinel" || te.Stack != "" {
				t.Errorf("chunk %d: TaskError %+v, want the returned error's message", cs, te)
			}
			if got := errors.Is(err, errPtSentinel); got != local {
				t.Errorf("chunk %d: errors.Is(err, sentinel) = %v, want %v (the error itself only InProcess)", cs, got, local)
			}
			if !strings.Contains(err.Error(), "negative -37") {
				t.Errorf("chunk %d: error text %q", cs, err)
			}

			// A panic alone.
			xs[37] = 37
			_, err = Map(ctx, p, ptCheck, xs)
			if err == nil || !strings.HasPrefix(err.Error(), "item 900: ") {
				t.Fatalf("chunk %d: panic at 900: %v", cs, err)
			}
			te = ptTaskError(t, err, "pt.check")
			if !te.Panic || te.Message != "pt panic 1000900" {
				t.Errorf("chunk %d: TaskError %+v, want the panic", cs, te)
			}
			if te.Stack == "" || !strings.Contains(te.Stack, "pool_test.go") {
				t.Errorf("chunk %d: panic stack %q, want one through pool_test.go", cs, te.Stack)
			}
			if !strings.Contains(err.Error(), "panicked: pt panic 1000900") {
				t.Errorf("chunk %d: error text %q", cs, err)
			}

			// The pool goes on.
			xs[900] = 900
			got, err := Map(ctx, p, ptCheck, xs)
			if err != nil || len(got) != 1000 || got[999] != 1998 {
				t.Fatalf("chunk %d: Map after failures: %v", cs, err)
			}
		}
	})
}

// TestPoolMapAllOneChunk: in one chunk, items fail side by side and at
// both ends, by panics and by errors, and every other item still has its
// result: a panic ends only its own item, whatever comes after it.
func TestPoolMapAllOneChunk(t *testing.T) {
	ptModes(t, func(t *testing.T, local bool) {
		ctx := guard(t)
		p, tr := ptPool(t, 1, PoolOptions{InProcess: local})
		args := ptRange(20)
		bad := []int{0, 1, 2, 9, 10, 19}
		for _, i := range bad {
			args[i] = 1_000_000 + i // a panic
			if i%3 == 1 {
				args[i] = -i - 1 // an error
			}
		}
		for round := range 2 { // the second on buffers the first used
			got, errs, err := MapAll(ctx, p, ptCheck, args, Chunk(len(args)))
			if err != nil || len(got) != len(args) || len(errs) != len(args) {
				t.Fatalf("round %d: MapAll: %d results, %d errors, %v", round, len(got), len(errs), err)
			}
			for i, x := range args {
				switch {
				case !slices.Contains(bad, i):
					if got[i] != 2*x || errs[i] != nil {
						t.Errorf("round %d: item %d: %d, %v; want %d", round, i, got[i], errs[i], 2*x)
					}
				case x < 0:
					if te := ptTaskError(t, errs[i], "pt.check"); te.Panic || got[i] != 0 {
						t.Errorf("round %d: item %d: %d, %+v; want the error", round, i, got[i], te)
					}
				default:
					if te := ptTaskError(t, errs[i], "pt.check"); !te.Panic || te.Message != fmt.Sprintf("pt panic %d", x) || got[i] != 0 {
						t.Errorf("round %d: item %d: %d, %+v; want the panic", round, i, got[i], te)
					}
				}
			}
			args = args[:15] // a shorter chunk, its last item a success
		}
		ptJoin(t, tr)
	})
}

// 3. Imap and ImapUnordered.

// TestPoolImap: Imap yields in order and ImapUnordered the same multiset,
// over iter.Seq inputs, with chunks of 1 and of 5.
func TestPoolImap(t *testing.T) {
	xs := ptRange(1500)
	ptModes(t, func(t *testing.T, local bool) {
		for _, cs := range []int{0, 5} {
			ctx := guard(t)
			p, tr := ptPool(t, 2, PoolOptions{InProcess: local, ChunkSize: cs})
			var got []int
			for v, err := range Imap(ctx, p, ptSquare, slices.Values(xs)) {
				if err != nil {
					t.Fatalf("chunk %d: Imap item %d: %v", cs, len(got), err)
				}
				got = append(got, v)
			}
			want := make([]int, len(xs))
			for i, x := range xs {
				want[i] = x * x
			}
			if !slices.Equal(got, want) {
				t.Fatalf("chunk %d: Imap results out of order or wrong (%d of %d)", cs, len(got), len(want))
			}
			got = got[:0]
			for v, err := range ImapUnordered(ctx, p, ptSquare, slices.Values(xs)) {
				if err != nil {
					t.Fatalf("chunk %d: ImapUnordered: %v", cs, err)
				}
				got = append(got, v)
			}
			slices.Sort(got)
			if !slices.Equal(got, want) {
				t.Fatalf("chunk %d: ImapUnordered gave another multiset (%d of %d)", cs, len(got), len(want))
			}
			// Other sequences: a map's keys, and an empty one.
			m := map[int]bool{4: true, 9: true, 16: true}
			got = got[:0]
			for v, err := range Imap(ctx, p, ptSquare, maps.Keys(m)) {
				if err != nil {
					t.Fatal(err)
				}
				got = append(got, v)
			}
			slices.Sort(got)
			if !slices.Equal(got, []int{16, 81, 256}) {
				t.Fatalf("Imap over maps.Keys: %v", got)
			}
			for v, err := range ImapUnordered(ctx, p, ptSquare, slices.Values([]int(nil))) {
				t.Fatalf("ImapUnordered of nothing yielded %v, %v", v, err)
			}
			ptJoin(t, tr)
		}
	})
}

// TestPoolImapBreak: leaving an Imap loop over an endless generator stops
// the generator (having taken only a bounded number of items ahead), and
// the pool goes on working, and closes and joins.
func TestPoolImapBreak(t *testing.T) {
	ptModes(t, func(t *testing.T, local bool) {
		for _, unordered := range []bool{false, true} {
			for _, cs := range []int{1, 3} {
				ctx := guard(t)
				p, tr := ptPool(t, 2, PoolOptions{InProcess: local, ChunkSize: cs})
				imap := Imap[int, int]
				if unordered {
					imap = ImapUnordered[int, int]
				}
				var made int
				var stopped bool
				taken := 0
				_, err := returns(t, "an Imap loop over an endless generator", func() error {
					for v, err := range imap(ctx, p, ptSquare, ptEndless(&made, &stopped)) {
						if err != nil {
							return err
						}
						if !unordered && v != taken*taken {
							return fmt.Errorf("item %d: %d", taken, v)
						}
						if taken++; taken == 500 {
							break
						}
					}
					return nil
				})
				if err != nil {
					t.Fatalf("unordered %v chunk %d: %v", unordered, cs, err)
				}
				if !stopped {
					t.Fatalf("unordered %v chunk %d: the generator still runs after the loop", unordered, cs)
				}
				// Taken ahead: at most 4 chunks per worker, and the chunk being filled.
				if ahead := made - taken; ahead > (4*p.Size()+1)*cs {
					t.Errorf("unordered %v chunk %d: the generator made %d items for %d taken", unordered, cs, made, taken)
				}
				got, err := Map(ctx, p, ptSquare, []int{5, 6, 7})
				if err != nil || !slices.Equal(got, []int{25, 36, 49}) {
					t.Fatalf("Map after leaving Imap: %v, %v", got, err)
				}
				ptJoin(t, tr)
			}
		}
	})
}

// TestPoolImapItemErrors: a failed item yields its error in its place, and
// the loop goes on.
func TestPoolImapItemErrors(t *testing.T) {
	in := []int{1, -2, 3, 1_000_004, 5, -6, 7}
	ptModes(t, func(t *testing.T, local bool) {
		for _, cs := range []int{0, 3} {
			ctx := guard(t)
			p, _ := ptPool(t, 2, PoolOptions{InProcess: local, ChunkSize: cs})
			i := 0
			for v, err := range Imap(ctx, p, ptCheck, slices.Values(in)) {
				x := in[i]
				switch {
				case x < 0:
					te := ptTaskError(t, err, "pt.check")
					if te.Panic || te.Message != fmt.Sprintf("negative %d: pt sentinel", x) {
						t.Errorf("item %d: %+v", i, te)
					}
				case x >= 1_000_000:
					te := ptTaskError(t, err, "pt.check")
					if !te.Panic || te.Message != fmt.Sprint("pt panic ", x) || te.Stack == "" {
						t.Errorf("item %d: %+v", i, te)
					}
				default:
					if err != nil || v != 2*x {
						t.Errorf("item %d: %d, %v; want %d", i, v, err, 2*x)
					}
				}
				i++
			}
			if i != len(in) {
				t.Fatalf("Imap yielded %d of %d", i, len(in))
			}
			var vals []int
			nerr := 0
			for v, err := range ImapUnordered(ctx, p, ptCheck, slices.Values(in)) {
				if err != nil {
					ptTaskError(t, err, "pt.check")
					nerr++
					continue
				}
				vals = append(vals, v)
			}
			slices.Sort(vals)
			if nerr != 3 || !slices.Equal(vals, []int{2, 6, 10, 14}) {
				t.Fatalf("ImapUnordered: %v and %d errors", vals, nerr)
			}
		}
	})
}

// TestPoolImapCancel: ctx cancelled in the middle of a loop over an endless
// generator: the loop gets ctx.Err() once, as its last item, and stops;
// the pool goes on. The generator is slow after the cancel, so that the
// workers keep up with it and results are always ready: the loop must stop
// all the same.
func TestPoolImapCancel(t *testing.T) {
	ptModes(t, func(t *testing.T, local bool) {
		for _, unordered := range []bool{false, true} {
			p, tr := ptPool(t, 2, PoolOptions{InProcess: local})
			imap := Imap[int, int]
			if unordered {
				imap = ImapUnordered[int, int]
			}
			ctx, cancel := context.WithCancel(guard(t))
			var made int
			var stopped bool
			var errs []error
			vals, after := 0, 0
			const limit = 200 // far more than the pool holds ahead
			returns(t, "an Imap loop whose ctx was cancelled", func() error {
				slow := func(yield func(int) bool) { // a generator that takes a while (after the cancel): the workers keep up
					for x := range ptEndless(&made, &stopped) {
						if ctx.Err() != nil {
							time.Sleep(100 * time.Microsecond)
						}
						if !yield(x) {
							return
						}
					}
				}
				for _, err := range imap(ctx, p, ptSquare, slow) {
					if err != nil {
						errs = append(errs, err)
						continue
					}
					if len(errs) > 0 {
						t.Errorf("unordered %v: a value after the error %v", unordered, errs[0])
					}
					if vals++; vals == 100 {
						cancel()
					} else if vals > 100 {
						after++
					}
					if vals == 100+limit {
						break
					}
				}
				return nil
			})
			cancel()
			if len(errs) != 1 || !errors.Is(errs[0], context.Canceled) {
				t.Errorf("unordered %v: errors %v after %d values (%d after cancel); want context.Canceled once", unordered, errs, vals, after)
			}
			if !stopped {
				t.Errorf("unordered %v: the generator still runs", unordered)
			}
			// Only what the pool had taken ahead may come after the cancel.
			if after > 4*p.Size()+1 {
				t.Errorf("unordered %v: %d values after ctx was cancelled", unordered, after)
			}
			got, err := Apply(guard(t), p, ptSquare, 12)
			if err != nil || got != 144 {
				t.Fatalf("Apply after a cancelled Imap: %v, %v", got, err)
			}
			ptJoin(t, tr)
		}
	})
}

// 4. Starmap.

// TestPoolStarmap: Starmap over slices.All (in order) and maps.All, plain
// and not.
func TestPoolStarmap(t *testing.T) {
	ptModes(t, func(t *testing.T, local bool) {
		ctx := guard(t)
		p, tr := ptPool(t, 3, PoolOptions{InProcess: local})
		got, err := Starmap(ctx, p, ptStarStr, slices.All([]string{"a", "b", "c", "d"}))
		if err != nil || !slices.Equal(got, []string{"0:a", "1:b", "2:c", "3:d"}) {
			t.Fatalf("Starmap over slices.All: %v, %v", got, err)
		}
		xs := ptRange(500)
		gm, err := Starmap(ctx, p, ptStarMul, slices.All(xs))
		if err != nil || len(gm) != len(xs) {
			t.Fatalf("Starmap(mul): %d results, %v", len(gm), err)
		}
		for i, v := range gm {
			if v != i*i {
				t.Fatalf("Starmap(mul) item %d: %d", i, v)
			}
		}
		m := map[string]int{"x": 1, "y": 2, "z": 3, "w": 0}
		gs, err := Starmap(ctx, p, ptStarMap, maps.All(m))
		if err != nil {
			t.Fatal(err)
		}
		slices.Sort(gs)
		if want := []string{"w=0", "x=1", "y=2", "z=3"}; !slices.Equal(gs, want) {
			t.Fatalf("Starmap over maps.All: %v, want %v", gs, want)
		}
		gs, err = Starmap(ctx, p, ptStarMap, maps.All(map[string]int{}))
		if err != nil || len(gs) != 0 {
			t.Fatalf("Starmap over nothing: %v, %v", gs, err)
		}
		ptJoin(t, tr)
	})
}

// 5. Apply and ApplyAsync.

// TestPoolApply: Apply; ApplyAsync's Get, Wait and Ready; 1000 at once.
func TestPoolApply(t *testing.T) {
	ptModes(t, func(t *testing.T, local bool) {
		ctx := guard(t)
		p, tr := ptPool(t, 2, PoolOptions{InProcess: local})
		if v, err := Apply(ctx, p, ptSquare, 9); v != 81 || err != nil {
			t.Fatalf("Apply(square, 9) = %d, %v", v, err)
		}
		_, err := Apply(ctx, p, ptCheck, -3)
		if te := ptTaskError(t, err, "pt.check"); te.Message != "negative -3: pt sentinel" || errors.Is(err, errPtSentinel) != local {
			t.Fatalf("Apply of a failing item: %v", err)
		}
		rs := make([]*AsyncResult[int], 1000)
		for i := range rs {
			rs[i] = ApplyAsync(p, ptLinear, i)
		}
		for i := len(rs) - 1; i >= 0; i-- { // the last first
			r := rs[i]
			if err := r.Wait(ctx); err != nil {
				t.Fatalf("Wait %d: %v", i, err)
			}
			if !r.Ready() {
				t.Fatalf("result %d not Ready after Wait", i)
			}
			for range 2 { // Get again gives the same
				if v, err := r.Get(ctx); v != 3*i+1 || err != nil {
					t.Fatalf("Get %d: %d, %v", i, v, err)
				}
			}
		}
		ptJoin(t, tr)
	})
}

// TestPoolApplyAsyncCtx: Get and Wait with an expired ctx return its
// error and leave the task running; Get later returns its result.
func TestPoolApplyAsyncCtx(t *testing.T) {
	ptModes(t, func(t *testing.T, local bool) {
		ctx := guard(t)
		p, tr := ptPool(t, 2, PoolOptions{InProcess: local})
		a := ptBlockArg{Started: ptValue(t), Release: newEvent(t), X: 4}
		r := ApplyAsync(p, ptBlock, a)
		ptWaitCount(t, a.Started, 1, "the task to start")
		if r.Ready() {
			t.Fatal("Ready while the task waits")
		}
		expired, cancel := context.WithTimeout(ctx, -time.Second)
		defer cancel()
		if v, err := r.Get(expired); !errors.Is(err, context.DeadlineExceeded) || v != 0 {
			t.Fatalf("Get with an expired ctx: %v, %v", v, err)
		}
		if err := r.Wait(expired); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Wait with an expired ctx: %v", err)
		}
		short, cancel2 := context.WithTimeout(ctx, 20*time.Millisecond)
		defer cancel2()
		if err := r.Wait(short); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Wait with a short ctx: %v", err)
		}
		if r.Ready() {
			t.Fatal("Ready while the task waits")
		}
		if err := a.Release.Set(); err != nil {
			t.Fatal(err)
		}
		if v, err := r.Get(ctx); v != 40 || err != nil {
			t.Fatalf("Get after the release: %v, %v", v, err)
		}
		if !r.Ready() {
			t.Fatal("not Ready after Get")
		}
		if a.Started.Load() != 1 {
			t.Fatalf("the task ran %d times", a.Started.Load())
		}
		ptJoin(t, tr)
	})
}

// 6. Close, Join, Terminate.

// TestPoolClose: Join before Close fails with ErrPoolRunning; after Close
// new tasks fail with ErrPoolClosed, while those given before (more than
// the workers can hold) finish; Join then returns and the workers are gone.
func TestPoolClose(t *testing.T) {
	ptModes(t, func(t *testing.T, local bool) {
		ctx := guard(t)
		p, tr := ptPool(t, 2, PoolOptions{InProcess: local})
		if err := p.Join(ctx); !errors.Is(err, ErrPoolRunning) {
			t.Fatalf("Join before Close: %v, want ErrPoolRunning", err)
		}
		a := ptBlockArg{Started: ptValue(t), Release: newEvent(t)}
		var rs []*AsyncResult[int]
		for i := range 9 {
			a.X = i
			rs = append(rs, ApplyAsync(p, ptBlock, a))
		}
		ptWaitCount(t, a.Started, 2, "both workers to run a task")
		tr.see(p.Pids()...)
		if err := p.Close(); err != nil {
			t.Fatal(err)
		}
		if _, err := Apply(ctx, p, ptSquare, 2); !errors.Is(err, ErrPoolClosed) {
			t.Errorf("Apply after Close: %v, want ErrPoolClosed", err)
		}
		if r := ApplyAsync(p, ptSquare, 2); !r.Ready() {
			t.Errorf("ApplyAsync after Close not Ready at once")
		} else if _, err := r.Get(ctx); !errors.Is(err, ErrPoolClosed) {
			t.Errorf("ApplyAsync after Close: %v, want ErrPoolClosed", err)
		}
		if _, err := Map(ctx, p, ptSquare, []int{1, 2}); !errors.Is(err, ErrPoolClosed) {
			t.Errorf("Map after Close: %v, want ErrPoolClosed", err)
		}
		n := 0
		for _, err := range Imap(ctx, p, ptSquare, slices.Values([]int{1, 2})) {
			if n++; !errors.Is(err, ErrPoolClosed) {
				t.Errorf("Imap after Close: %v, want ErrPoolClosed", err)
			}
		}
		if n != 1 {
			t.Errorf("Imap after Close yielded %d times, want once (the error)", n)
		}
		short, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
		defer cancel()
		if err := p.Join(short); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Join while closed tasks wait: %v, want the ctx's error", err)
		}
		if err := a.Release.Set(); err != nil {
			t.Fatal(err)
		}
		for i, r := range rs {
			if v, err := r.Get(ctx); v != 10*i || err != nil {
				t.Errorf("task %d given before Close: %d, %v", i, v, err)
			}
		}
		if _, err := returns(t, "Join after Close", func() error { return p.Join(ctx) }); err != nil {
			t.Fatalf("Join after Close: %v", err)
		}
		ptGone(t, tr.pids)
		if err := p.Close(); err != nil {
			t.Errorf("a second Close: %v", err)
		}
		if err := p.Join(ctx); err != nil {
			t.Errorf("a second Join: %v", err)
		}
	})
}

// TestPoolTerminate: Terminate while tasks run (until their ctx ends) and
// wait: every one fails with ErrPoolTerminated, a Map in progress too;
// Join returns, and the workers are gone.
func TestPoolTerminate(t *testing.T) {
	ptModes(t, func(t *testing.T, local bool) {
		ctx := guard(t)
		p, tr := ptPool(t, 2, PoolOptions{InProcess: local})
		started := ptValue(t)
		var rs []*AsyncResult[int]
		for range 6 {
			rs = append(rs, ApplyAsync(p, ptUntilCtx, started))
		}
		mapped := make(chan error, 1)
		go func() {
			_, err := Map(ctx, p, ptUntilCtx, []*value.Value[int64]{started, started, started})
			mapped <- err
		}()
		ptWaitCount(t, started, 2, "both workers to run a task")
		tr.see(p.Pids()...)
		if err := p.Terminate(); err != nil {
			t.Fatal(err)
		}
		for i, r := range rs {
			if _, err := r.Get(ctx); !errors.Is(err, ErrPoolTerminated) {
				t.Errorf("task %d: %v, want ErrPoolTerminated", i, err)
			}
		}
		select {
		case err := <-mapped:
			if !errors.Is(err, ErrPoolTerminated) {
				t.Errorf("Map: %v, want ErrPoolTerminated", err)
			}
		case <-ctx.Done():
			t.Fatal("Map still waits after Terminate")
		}
		if _, err := returns(t, "Join after Terminate", func() error { return p.Join(ctx) }); err != nil {
			t.Fatalf("Join after Terminate: %v", err)
		}
		ptGone(t, tr.pids)
		if _, err := Apply(ctx, p, ptSquare, 2); !errors.Is(err, ErrPoolTerminated) {
			t.Errorf("Apply after Terminate: %v, want ErrPoolTerminated", err)
		}
		if err := p.Terminate(); err != nil {
			t.Errorf("a second Terminate: %v", err)
		}
		if err := p.Close(); err != nil {
			t.Errorf("Close after Terminate: %v", err)
		}
		if err := p.Join(ctx); err != nil {
			t.Errorf("a second Join: %v", err)
		}
	})
}

// TestPoolTerminateAfterJoin: Terminate after Close and Join (Python's
// `with Pool() as p:` does that) changes nothing, and in particular
// touches no shared memory the pool gave back: objects made since stay
// as they are.
func TestPoolTerminateAfterJoin(t *testing.T) {
	ptModes(t, func(t *testing.T, local bool) {
		ctx := guard(t)
		p, tr := ptPool(t, 1, PoolOptions{InProcess: local})
		if v, err := Apply(ctx, p, ptSquare, 3); v != 9 || err != nil {
			t.Fatal(v, err)
		}
		ptJoin(t, tr)
		// Objects like the pool's queues, likely where those were.
		var qs []*ringbuffer.Queue[[]byte]
		for range 4 {
			q, err := ringbuffer.NewQueue[[]byte]((defaultQueueBytes + 255) / 256)
			if err != nil {
				t.Fatal(err)
			}
			defer q.Free()
			qs = append(qs, q)
		}
		if err := p.Terminate(); err != nil {
			t.Fatal(err)
		}
		for i, q := range qs {
			if q.IsShutdown() {
				t.Errorf("queue %d made after the pool's Join was shut down by its Terminate", i)
			}
		}
		if err := p.Join(ctx); err != nil {
			t.Errorf("Join after Terminate after Join: %v", err)
		}
	})
}

// 7. Options.

// TestPoolMaxTasksPerChild: with MaxTasksPerChild 1 and ChunkSize 1, each
// worker process runs one task, and each replacement runs the initializer
// again.
func TestPoolMaxTasksPerChild(t *testing.T) {
	const items = 20
	ptModes(t, func(t *testing.T, local bool) {
		ctx := guard(t)
		inits := ptValue(t)
		p, tr := ptPool(t, 2, PoolOptions{InProcess: local, MaxTasksPerChild: 1, ChunkSize: 1, Initializer: Init(ptCountInit, inits)})
		pids, err := Map(ctx, p, ptPid, ptRange(items))
		if err != nil {
			t.Fatal(err)
		}
		tr.see(pids...)
		count := map[int]int{}
		for _, pid := range pids {
			count[pid]++
		}
		if local {
			if count[os.Getpid()] != items {
				t.Errorf("InProcess tasks ran in pids %v", count)
			}
		} else {
			for pid, n := range count {
				if n > 1 || pid == os.Getpid() {
					t.Errorf("pid %d ran %d tasks", pid, n)
				}
			}
			if len(count) != items {
				t.Errorf("%d pids ran %d tasks", len(count), items)
			}
		}
		if n := inits.Load(); n < items {
			t.Errorf("the initializer ran %d times for %d workers", n, items)
		}
		// And again, as Apply.
		if v, err := Apply(ctx, p, ptSquare, 5); v != 25 || err != nil {
			t.Fatalf("Apply: %v, %v", v, err)
		}
		ptJoin(t, tr)
		if n := inits.Load(); n < items+1 || n > items+1+int64(p.Size()) {
			t.Errorf("the initializer ran %d times for %d tasks in %d workers", n, items+1, p.Size())
		}
	})
}

// TestPoolQueueBytes: with small queues, chunks of large arguments and
// results are split and all arrive; a single argument or result larger
// than the queue fails only its item, with an error that says so (in a
// pool of processes; InProcess nothing travels and everything works).
func TestPoolQueueBytes(t *testing.T) {
	const size = 700
	ptModes(t, func(t *testing.T, local bool) {
		ctx := guard(t)
		p, tr := ptPool(t, 2, PoolOptions{InProcess: local, QueueBytes: 4096, ChunkSize: 10})
		args := make([]ptBlob, 60)
		for i := range args {
			args[i] = ptBlob{N: size + i, Data: ptPattern(size+i, i)}
		}
		check := func(i int, g ptBlobOut, err error) {
			t.Helper()
			a := args[i]
			s := 0
			for _, c := range a.Data {
				s += int(c)
			}
			if err != nil || g.Got != len(a.Data) || g.Sum != s || !slices.Equal(g.Data, ptPattern(a.N, a.N)) {
				t.Errorf("item %d: got %d bytes (sum %d), %d back, %v; want %d (sum %d), %d", i, g.Got, g.Sum, len(g.Data), err, len(a.Data), s, a.N)
			}
		}
		got, err := Map(ctx, p, ptBlobF, args)
		if err != nil {
			t.Fatalf("Map of chunks larger than the queues: %v", err)
		}
		for i, g := range got {
			check(i, g, nil)
		}
		// One argument and one result too large for a queue.
		const bigArg, bigResult = 13, 27
		args[bigArg].Data = ptPattern(3*4096, 1)
		args[bigResult].N = 3 * 4096
		i := 0
		for g, err := range Imap(ctx, p, ptBlobF, slices.Values(args)) {
			switch {
			case local || (i != bigArg && i != bigResult):
				check(i, g, err)
			case err == nil:
				t.Errorf("item %d, too large for the queue, succeeded", i)
			case !strings.Contains(err.Error(), "larger than the pool's queue"):
				t.Errorf("item %d, too large for the queue: %v", i, err)
			case i == bigArg && !strings.Contains(err.Error(), "argument"):
				t.Errorf("item %d, an argument too large: %v", i, err)
			case i == bigResult && !strings.Contains(err.Error(), "result"):
				t.Errorf("item %d, a result too large: %v", i, err)
			default:
				t.Logf("item %d: %v", i, err)
			}
			i++
		}
		if i != len(args) {
			t.Fatalf("Imap yielded %d of %d", i, len(args))
		}
		_, err = Map(ctx, p, ptBlobF, args)
		if local && err != nil {
			t.Fatalf("InProcess Map of large items: %v", err)
		}
		if !local && (err == nil || !strings.HasPrefix(err.Error(), fmt.Sprintf("item %d: ", bigArg))) {
			t.Fatalf("Map with an argument too large at %d: %v", bigArg, err)
		}
		// The pool goes on.
		if v, err := Apply(ctx, p, ptBlobF, ptBlob{N: 3, Data: []byte{1, 2}}); err != nil || v.Got != 2 || v.Sum != 3 || len(v.Data) != 3 {
			t.Fatalf("Apply after: %+v, %v", v, err)
		}
		ptJoin(t, tr)
	})
}

// 8. Initializer failures and unregistered functions.

// TestPoolInitializerFails: an initializer that returns an error or
// panics fails every task with ErrInitializer, holding the initializer's
// TaskError; the pool can still be closed and joined.
func TestPoolInitializerFails(t *testing.T) {
	ptModes(t, func(t *testing.T, local bool) {
		for _, how := range []string{"error", "panic"} {
			ctx := guard(t)
			init := Init(ptErrInit, "arg-"+how)
			fn := "pt.errinit"
			if how == "panic" {
				init, fn = Init(ptPanicInit, "arg-"+how), "pt.panicinit"
			}
			p, tr := ptPool(t, 2, PoolOptions{InProcess: local, Initializer: init})
			checkErr := func(what string, err error) {
				t.Helper()
				if !errors.Is(err, ErrInitializer) {
					t.Fatalf("%s: %s: %v, want ErrInitializer", how, what, err)
				}
				te := ptTaskError(t, err, fn)
				switch how {
				case "error":
					if te.Panic || te.Message != "init failed: arg-error: pt init sentinel" {
						t.Errorf("%s: %s: %+v", how, what, te)
					}
					if got := errors.Is(err, errPtInit); got != local {
						t.Errorf("%s: %s: errors.Is(err, the initializer's error) = %v", how, what, got)
					}
				case "panic":
					if !te.Panic || te.Message != "init panic arg-panic" || !strings.Contains(te.Stack, "pool_test.go") {
						t.Errorf("%s: %s: %+v", how, what, te)
					}
				}
			}
			_, err := Map(ctx, p, ptSquare, ptRange(10))
			checkErr("Map", err)
			_, err = Apply(ctx, p, ptSquare, 1)
			checkErr("Apply", err)
			_, err = ApplyAsync(p, ptSquare, 1).Get(ctx)
			checkErr("ApplyAsync", err)
			n := 0
			for _, err := range Imap(ctx, p, ptSquare, slices.Values([]int{1, 2, 3})) {
				n++
				checkErr("Imap", err)
			}
			if n == 0 {
				t.Errorf("%s: Imap yielded nothing", how)
			}
			ptJoin(t, tr)
		}
	})
}

// TestPoolInitializerExits: workers whose initializer always exits (3)
// end the pool with ErrInitializer, after a few deaths; nothing hangs.
func TestPoolInitializerExits(t *testing.T) {
	ctx := guard(t)
	p, tr := ptPool(t, 2, PoolOptions{Initializer: Init(ptExitInit, 3)})
	var err error
	if ok, _ := returns(t, "Map in a pool whose workers exit", func() error {
		_, err = Map(ctx, p, ptSquare, ptRange(10))
		return nil
	}); !ok {
		return
	}
	if !errors.Is(err, ErrInitializer) || !errors.Is(err, ErrWorkerDied) || !strings.Contains(err.Error(), "exit code 3") {
		t.Fatalf("Map: %v, want ErrInitializer after workers died with exit code 3", err)
	}
	if _, err := Apply(ctx, p, ptSquare, 1); !errors.Is(err, ErrInitializer) {
		t.Fatalf("Apply: %v, want ErrInitializer", err)
	}
	ptJoin(t, tr)
}

// TestPoolNotRegistered: an initializer of an unregistered or zero Target,
// and a zero Func, fail with ErrNotRegistered.
func TestPoolNotRegistered(t *testing.T) {
	for _, local := range []bool{false, true} {
		for what, init := range map[string]Initializer{
			"unregistered": Init(Target[int]{name: "pt.nowhere"}, 1),
			"zero":         Init(Target[int]{}, 1),
		} {
			p, err := NewPool(1, &PoolOptions{InProcess: local, Initializer: init})
			if !errors.Is(err, ErrNotRegistered) {
				t.Errorf("InProcess %v: NewPool with the initializer of a %s Target: %v, want ErrNotRegistered", local, what, err)
			}
			if p != nil {
				p.Terminate()
				p.Join(guard(t))
			}
		}
	}
	ptModes(t, func(t *testing.T, local bool) {
		ctx := guard(t)
		p, tr := ptPool(t, 1, PoolOptions{InProcess: local})
		var zero Func[int, int]
		if _, err := Map(ctx, p, zero, []int{1}); !errors.Is(err, ErrNotRegistered) {
			t.Errorf("Map: %v", err)
		}
		if _, err := Apply(ctx, p, zero, 1); !errors.Is(err, ErrNotRegistered) {
			t.Errorf("Apply: %v", err)
		}
		if _, err := ApplyAsync(p, zero, 1).Get(ctx); !errors.Is(err, ErrNotRegistered) {
			t.Errorf("ApplyAsync: %v", err)
		}
		for _, imap := range []func(context.Context, *Pool, Func[int, int], iter.Seq[int], ...CallOption) iter.Seq2[int, error]{Imap[int, int], ImapUnordered[int, int]} {
			n := 0
			for _, err := range imap(ctx, p, zero, slices.Values([]int{1, 2})) {
				if n++; !errors.Is(err, ErrNotRegistered) {
					t.Errorf("Imap: %v", err)
				}
			}
			if n != 1 {
				t.Errorf("Imap with a zero Func yielded %d times, want once", n)
			}
		}
		if _, err := Starmap(ctx, p, Func[Pair[int, int], int]{}, slices.All([]int{1})); !errors.Is(err, ErrNotRegistered) {
			t.Errorf("Starmap: %v", err)
		}
		// The pool is fine.
		if v, err := Apply(ctx, p, ptSquare, 3); v != 9 || err != nil {
			t.Fatalf("Apply after: %v, %v", v, err)
		}
		ptJoin(t, tr)
	})
}

// 9. Shared objects as arguments and results.

// TestPoolSharedObjects: a Value and a Queue inside a task's argument
// reach the worker as the same objects, and a Value returned comes back as
// a handle of the same object.
func TestPoolSharedObjects(t *testing.T) {
	ptModes(t, func(t *testing.T, local bool) {
		ctx := guard(t)
		p, tr := ptPool(t, 2, PoolOptions{InProcess: local, ChunkSize: 4})
		v, q := ptValue(t), ptQueue(t, 64)
		var args []ptShared
		sum := int64(0)
		for x := 1; x <= 50; x++ {
			args = append(args, ptShared{V: v, Q: q, X: x})
			sum += int64(x)
		}
		got, err := Map(ctx, p, ptSharedF, args)
		if err != nil {
			t.Fatal(err)
		}
		if v.Load() != sum {
			t.Fatalf("the Value holds %d, want %d", v.Load(), sum)
		}
		for i, r := range got {
			if r == nil || r.Load() != sum {
				t.Fatalf("result %d: %v, want the Value (%d)", i, r, sum)
			}
		}
		got[0].Add(1) // a returned handle writes the same object
		if v.Load() != sum+1 {
			t.Fatalf("through a returned handle: %d, want %d", v.Load(), sum+1)
		}
		var xs []int
		for range 50 {
			x, err := q.Get(ctx)
			if err != nil {
				t.Fatal(err)
			}
			xs = append(xs, x)
		}
		slices.Sort(xs)
		if !slices.Equal(xs, ptRange(51)[1:]) {
			t.Fatalf("the Queue got %v", xs)
		}
		// A Value as the whole argument.
		for i := range 3 {
			if n, err := Apply(ctx, p, ptValueAdd, v); err != nil || n != sum+2+int64(i) {
				t.Fatalf("Apply(valueadd): %d, %v; want %d", n, err, sum+2+int64(i))
			}
		}
		ptJoin(t, tr)
	})
}

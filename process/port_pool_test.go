//go:build linux && (amd64 || arm64)

package process

// Ports of CPython's Lib/test/_test_multiprocessing.py cases for pools
// (_TestPool, _TestPoolWorkerErrors, _TestPoolWorkerLifetime). Each test
// names the cases it ports, what is not applicable and what differs. Each
// runs on a pool of processes and, where Python runs it on a ThreadPool
// too, on an InProcess pool.

import (
	"context"
	"encoding/gob"
	"errors"
	"slices"
	"strconv"
	"strings"
	"testing"
)

var (
	// portAtoi is Python's int(s), as a pool function.
	portAtoi = RegisterFunc("port.atoi", func(ctx context.Context, s string) (int, error) { return strconv.Atoi(s) })
	// portRaising is _TestPoolWorkerErrors' raising: raise KeyError("key").
	portRaising = RegisterFunc("port.raising", func(ctx context.Context, _ int) (int, error) {
		return 0, errors.New("KeyError: key")
	})
	// portUnpicklableArg takes an argument that cannot be encoded.
	portUnpicklableArg = RegisterFunc("port.unpicklablearg", func(ctx context.Context, a portUnpicklable) (int, error) {
		return len(a.S), nil
	})
	// portUnpicklableResult returns a result that cannot be encoded:
	// Python's unpickleable_result, which returns a lambda.
	portUnpicklableResult = RegisterFunc("port.unpicklableresult", func(ctx context.Context, _ int) (portUnpicklable, error) {
		return portUnpicklable{S: "lambda: 42"}, nil
	})
)

// errCannotPickle is what encoding a portUnpicklable fails with.
var errCannotPickle = errors.New("cannot pickle")

// portUnpicklable is Python's class A whose __reduce__ raises: gob calls
// its GobEncode, which fails. (Its string field keeps it from being plain
// data, which would travel as its bytes without encoding.)
type portUnpicklable struct{ S string }

func (portUnpicklable) GobEncode() ([]byte, error) { return nil, errCannotPickle }
func (*portUnpicklable) GobDecode([]byte) error    { return errCannotPickle }

var _ gob.GobEncoder = portUnpicklable{}

// portSquares is list(map(sqr, range(n))).
func portSquares(n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = i * i
	}
	return out
}

// portZip is zip(range(n), range(n-1, -1, -1)), and portMuls what
// itertools.starmap(mul, ...) gives for it.
func portZip(n int) func(func(int, int) bool) {
	return func(yield func(int, int) bool) {
		for i := range n {
			if !yield(i, n-1-i) {
				return
			}
		}
	}
}

func portMuls(n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = i * (n - 1 - i)
	}
	return out
}

// TestPortPoolMap ports _TestPool's test_map, test_starmap (both with and
// without chunksize=20), test_map_async, test_starmap_async,
// test_map_chunksize (map_async of nothing with chunksize=1 does not
// stall) and test_empty_iterable (map, imap, imap_unordered and map_async
// of nothing, on a pool of 1). Differs: chunksize is the Chunk option.
func TestPortPoolMap(t *testing.T) {
	ptModes(t, func(t *testing.T, local bool) {
		ctx := guard(t)
		p, tr := ptPool(t, 4, PoolOptions{InProcess: local})
		for _, opts := range [][]CallOption{nil, {Chunk(20)}} {
			n := 10
			if opts != nil {
				n = 100
			}
			if got, err := Map(ctx, p, ptSquare, ptRange(n), opts...); err != nil || !slices.Equal(got, portSquares(n)) {
				t.Errorf("test_map, %d items, chunks %v: %v, %v", n, opts != nil, got, err)
			}
			if got, err := Starmap(ctx, p, ptStarMul, portZip(n), opts...); err != nil || !slices.Equal(got, portMuls(n)) {
				t.Errorf("test_starmap, %d items, chunks %v: %v, %v", n, opts != nil, got, err)
			}
		}
		if got, err := MapAsync(p, ptSquare, ptRange(10)).Get(ctx); err != nil || !slices.Equal(got, portSquares(10)) {
			t.Errorf("test_map_async: %v, %v", got, err)
		}
		if got, err := StarmapAsync(p, ptStarMul, portZip(100)).Get(ctx); err != nil || !slices.Equal(got, portMuls(100)) {
			t.Errorf("test_starmap_async: %v, %v", got, err)
		}
		// mul over zip(range(n), reversed(range(n))) gives the same
		// results in reverse order: the pairs' order, with a function
		// that tells them apart.
		words, want := []string{"a", "b", "c", "d", "e"}, []string{"0:a", "1:b", "2:c", "3:d", "4:e"}
		if got, err := Starmap(ctx, p, ptStarStr, slices.All(words), Chunk(2)); err != nil || !slices.Equal(got, want) {
			t.Errorf("starmap, in order: %v, %v", got, err)
		}
		if got, err := StarmapAsync(p, ptStarStr, slices.All(words)).Get(ctx); err != nil || !slices.Equal(got, want) {
			t.Errorf("starmap_async, in order: %v, %v", got, err)
		}
		if ok, err := returns(t, "MapAsync of nothing, Chunk(1)", func() error {
			got, err := MapAsync(p, ptSquare, nil, Chunk(1)).Get(ctx)
			if err == nil && len(got) != 0 {
				err = errors.New("results of nothing: " + strconvInts(got))
			}
			return err
		}); !ok || err != nil {
			t.Errorf("test_map_chunksize: %v", err)
		}
		ptJoin(t, tr)

		one, tr1 := ptPool(t, 1, PoolOptions{InProcess: local})
		if got, err := Map(ctx, one, ptSquare, []int{}); err != nil || len(got) != 0 {
			t.Errorf("test_empty_iterable, map: %v, %v", got, err)
		}
		for name, seq := range map[string]func(func(int, error) bool){
			"imap":           Imap(ctx, one, ptSquare, slices.Values([]int{})),
			"imap_unordered": ImapUnordered(ctx, one, ptSquare, slices.Values([]int{})),
		} {
			if got, err := ptCollect(seq); err != nil || len(got) != 0 {
				t.Errorf("test_empty_iterable, %s: %v, %v", name, got, err)
			}
		}
		if got, err := MapAsync(one, ptSquare, []int{}).Get(ctx); err != nil || len(got) != 0 {
			t.Errorf("test_empty_iterable, map_async: %v, %v", got, err)
		}
		ptJoin(t, tr1)
	})
}

func strconvInts(xs []int) string {
	s := make([]string, len(xs))
	for i, x := range xs {
		s[i] = strconv.Itoa(x)
	}
	return strings.Join(s, " ")
}

// TestPortPoolMapAsyncCallbacks ports _TestPool.test_map_async_callbacks:
// map_async(int, ['1']) with a callback and an error callback that both
// append to one list calls the callback with [1]; map_async(int, ['a'])
// calls the error callback with the conversion's error. Here the test
// waits for each callback through a channel. Python checks the
// error's type (ValueError); across processes the error is a *TaskError
// with the text of strconv's. TestPortPoolCallbacksBeforeWait ports it
// with wait() as Python has it.
func TestPortPoolMapAsyncCallbacks(t *testing.T) {
	ptModes(t, func(t *testing.T, local bool) {
		ctx := guard(t)
		p, tr := ptPool(t, 2, PoolOptions{InProcess: local})
		r := MapAsync(p, portAtoi, []string{"1"})
		o := ptCallback(t, ptThen(r))
		if err := r.Wait(ctx); err != nil {
			t.Fatal(err)
		}
		if !o.ok || !slices.Equal(o.v, []int{1}) {
			t.Errorf("map_async(int, ['1']): callback %+v, want [1]", o)
		}
		r = MapAsync(p, portAtoi, []string{"a"})
		o = ptCallback(t, ptThen(r))
		if o.ok {
			t.Fatalf("map_async(int, ['a']): the callback ran with %v", o.v)
		}
		if te := ptTaskError(t, o.err, "port.atoi"); !strings.Contains(te.Message, strconv.ErrSyntax.Error()) {
			t.Errorf("map_async(int, ['a']): error callback given %v", o.err)
		}
		if local && !errors.Is(o.err, strconv.ErrSyntax) {
			t.Errorf("InProcess: error callback given %v, not strconv's error", o.err)
		}
		if _, err := r.Get(ctx); err == nil || err.Error() != o.err.Error() {
			t.Errorf("Get %v, the error callback %v", err, o.err)
		}
		ptJoin(t, tr)
	})
}

// TestPortPoolCallbacksBeforeWait ports test_map_async_callbacks as
// Python writes it: the callbacks append to one list, and the list is read
// right after wait() returns, with no other synchronisation: Then's result
// is ready only once its callback has returned (-race checks the
// ordering, the lengths that it ran).
func TestPortPoolCallbacksBeforeWait(t *testing.T) {
	ptModes(t, func(t *testing.T, local bool) {
		ctx := guard(t)
		p, tr := ptPool(t, 2, PoolOptions{InProcess: local})
		var calls []any
		onOK := func(v []int) { calls = append(calls, v) }
		onErr := func(err error) { calls = append(calls, err) }
		if err := MapAsync(p, portAtoi, []string{"1"}).Then(onOK, onErr).Wait(ctx); err != nil {
			t.Fatal(err)
		}
		if len(calls) != 1 || !slices.Equal(calls[0].([]int), []int{1}) {
			t.Fatalf("after wait: callbacks %v, want [[1]]", calls)
		}
		if _, err := MapAsync(p, portAtoi, []string{"a"}).Then(onOK, onErr).Get(ctx); err == nil {
			t.Fatal("map_async(int, ['a']): Get gave no error")
		}
		if len(calls) != 2 {
			t.Fatalf("after get: callbacks %v, want two", calls)
		}
		if _, ok := calls[1].(error); !ok {
			t.Fatalf("map_async(int, ['a']): error callback given %v", calls[1])
		}
		ptJoin(t, tr)
	})
}

// TestPortPoolAsyncErrorCallback ports
// _TestPoolWorkerErrors.test_async_error_callback: apply_async of a
// function that raises, with an error callback: get raises, and the
// callback was given the error. Differs: a Go function returns its error
// (Python raises KeyError).
func TestPortPoolAsyncErrorCallback(t *testing.T) {
	ctx := guard(t)
	p, tr := ptPool(t, 2, PoolOptions{})
	errc := make(chan error, 1)
	res := ApplyAsync(p, portRaising, 0).Then(nil, func(err error) { errc <- err })
	_, err := res.Get(ctx)
	if te := ptTaskError(t, err, "port.raising"); te.Message != "KeyError: key" {
		t.Fatalf("Get: %v", err)
	}
	select {
	case got := <-errc:
		if got != err {
			t.Errorf("the error callback was given %v, Get %v", got, err)
		}
	case <-ctx.Done():
		t.Fatal("the error callback never ran")
	}
	ptJoin(t, tr)
}

// TestPortPoolUnpicklable ports _TestPool.test_map_unplicklable (a map
// over items that cannot be pickled fails with the pickling error, and
// does not hang) and _TestPoolWorkerErrors.test_unpickleable_result (a
// result that cannot be pickled fails its apply_async, given to the error
// callback, twenty times over, and the pool keeps its workers). Processes
// only, as in Python: an InProcess pool encodes nothing.
func TestPortPoolUnpicklable(t *testing.T) {
	ctx := guard(t)
	p, tr := ptPool(t, 4, PoolOptions{})
	items := slices.Repeat([]portUnpicklable{{S: "A()"}}, 10)
	ok, err := returns(t, "Map of items that cannot be encoded", func() error {
		_, err := Map(ctx, p, portUnpicklableArg, items)
		return err
	})
	if !ok {
		t.FailNow()
	}
	if err == nil || !strings.Contains(err.Error(), errCannotPickle.Error()) {
		t.Fatalf("test_map_unplicklable: Map = %v, want the encoding's error", err)
	}
	workers := p.Pids()
	for i := range 20 {
		errc := make(chan error, 1)
		res := ApplyAsync(p, portUnpicklableResult, i).Then(nil, func(err error) { errc <- err })
		ok, err := returns(t, "Get of a result that cannot be encoded", func() error {
			_, err := res.Get(ctx)
			return err
		})
		if !ok {
			t.FailNow()
		}
		if err == nil || !strings.Contains(err.Error(), errCannotPickle.Error()) {
			t.Fatalf("test_unpickleable_result, round %d: Get = %v, want the encoding's error", i, err)
		}
		select {
		case got := <-errc:
			if got != err {
				t.Fatalf("round %d: the error callback was given %v, Get %v", i, got, err)
			}
		case <-ctx.Done():
			t.Fatalf("round %d: the error callback never ran", i)
		}
	}
	if got := p.Pids(); !slices.Equal(got, workers) || len(got) != 4 {
		t.Errorf("workers %v after the failed encodings, before %v", got, workers)
	}
	if got, err := Map(ctx, p, ptSquare, ptRange(10)); err != nil || !slices.Equal(got, portSquares(10)) {
		t.Errorf("Map after the failed encodings: %v, %v", got, err)
	}
	ptJoin(t, tr)
}

// TestPortPoolMake ports _TestPool.test_make_pool and
// _TestPoolWorkerLifetime.test_pool_maxtasksperchild_invalid: Pool(-1)
// and maxtasksperchild=-1 are refused (ErrInvalid, Python's ValueError);
// Pool(3) has 3 workers. Differs: Pool(0) and maxtasksperchild=0, which
// Python refuses, are CPUCount workers and no limit (PoolOptions' zero
// values). Not applicable: maxtasksperchild 0.5 and "12" (the type
// system refuses them).
func TestPortPoolMake(t *testing.T) {
	for _, c := range []struct {
		n    int
		opts PoolOptions
	}{{-1, PoolOptions{}}, {3, PoolOptions{MaxTasksPerChild: -1}}} {
		if p, err := NewPool(c.n, &c.opts); !errors.Is(err, ErrInvalid) || p != nil {
			t.Errorf("NewPool(%d, %+v) = %v, %v; want ErrInvalid", c.n, c.opts, p, err)
		}
	}
	p, tr := ptPool(t, 3, PoolOptions{})
	if p.Size() != 3 || len(p.Pids()) != 3 {
		t.Errorf("Pool(3): Size %d, Pids %v", p.Size(), p.Pids())
	}
	ptJoin(t, tr)
}

//go:build linux && (amd64 || arm64)

package process

import (
	"context"
	"errors"
	"maps"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/shmkit/shmkit/shm"
)

// TestPoolNewInvalid: a negative size or a negative option is
// ErrInvalid (shm's sentinel), and no pool is made; 0 keeps its meaning
// (CPUCount workers, no task limit, the default chunk and queue size).
func TestPoolNewInvalid(t *testing.T) {
	for _, local := range []bool{false, true} {
		for _, c := range []struct {
			n    int
			opts PoolOptions
		}{
			{-1, PoolOptions{}},
			{1, PoolOptions{MaxTasksPerChild: -1}},
			{1, PoolOptions{ChunkSize: -2}},
			{1, PoolOptions{QueueBytes: -1}},
		} {
			c.opts.InProcess = local
			p, err := NewPool(c.n, &c.opts)
			if !errors.Is(err, ErrInvalid) || !errors.Is(err, shm.ErrInvalid) {
				t.Errorf("NewPool(%d, %+v): %v, want ErrInvalid", c.n, c.opts, err)
			}
			if p != nil {
				t.Errorf("NewPool(%d, %+v) made a pool", c.n, c.opts)
				p.Terminate()
				p.Join(guard(t))
			}
		}
	}
	ptModes(t, func(t *testing.T, local bool) {
		p, tr := ptPool(t, 0, PoolOptions{InProcess: local, MaxTasksPerChild: 0})
		if p.Size() != CPUCount() {
			t.Errorf("NewPool(0): Size %d, want CPUCount %d", p.Size(), CPUCount())
		}
		if got, err := Map(guard(t), p, ptSquare, ptRange(50)); err != nil || len(got) != 50 || got[49] != 49*49 {
			t.Errorf("Map in a pool of size 0: %v, %v", got, err)
		}
		ptJoin(t, tr)
	})
}

var ptPairPid = RegisterFunc("pt.pairpid", func(ctx context.Context, p Pair[int, int]) (int, error) { return os.Getpid(), nil })

// ptChunkCalls are Map, Imap, ImapUnordered and Starmap over 0..n-1, each
// returning what ptPid (or ptPairPid) gave for the items, in any order.
var ptChunkCalls = map[string]func(ctx context.Context, p *Pool, n int, opts ...CallOption) ([]int, error){
	"Map": func(ctx context.Context, p *Pool, n int, opts ...CallOption) ([]int, error) {
		return Map(ctx, p, ptPid, ptRange(n), opts...)
	},
	"Starmap": func(ctx context.Context, p *Pool, n int, opts ...CallOption) ([]int, error) {
		return Starmap(ctx, p, ptPairPid, slices.All(ptRange(n)), opts...)
	},
	"Imap": func(ctx context.Context, p *Pool, n int, opts ...CallOption) ([]int, error) {
		return ptCollect(Imap(ctx, p, ptPid, slices.Values(ptRange(n)), opts...))
	},
	"ImapUnordered": func(ctx context.Context, p *Pool, n int, opts ...CallOption) ([]int, error) {
		return ptCollect(ImapUnordered(ctx, p, ptPid, slices.Values(ptRange(n)), opts...))
	},
}

func ptCollect(seq func(func(int, error) bool)) ([]int, error) {
	var out []int
	for v, err := range seq {
		if err != nil {
			return out, err
		}
		out = append(out, v)
	}
	return out, nil
}

// TestPoolChunk: Chunk(n) on a call sends its items n to a task, over the
// pool's ChunkSize; Chunk(0) keeps the pool's. With MaxTasksPerChild 1 each
// task has a worker of its own, whose initializer counts it: a pool of
// processes shows each task as a pid that ran exactly n items.
func TestPoolChunk(t *testing.T) {
	const items, chunk, workers = 20, 5, 2
	ptModes(t, func(t *testing.T, local bool) {
		for name, run := range ptChunkCalls {
			for _, c := range []struct {
				pool, call, want int // chunk sizes
			}{
				{1, chunk, chunk}, // the call's over the pool's
				{chunk, 0, chunk}, // Chunk(0): the pool's
			} {
				ctx := guard(t)
				inits := ptValue(t)
				p, tr := ptPool(t, workers, PoolOptions{InProcess: local, MaxTasksPerChild: 1, ChunkSize: c.pool, Initializer: Init(ptCountInit, inits)})
				pids, err := run(ctx, p, items, Chunk(c.call))
				if err != nil || len(pids) != items {
					t.Fatalf("%s with Chunk(%d): %d results, %v", name, c.call, len(pids), err)
				}
				tr.see(pids...)
				ptJoin(t, tr)
				tasks := items / c.want
				// Each task ends its worker, and a fresh one is started
				// while there is work; a few more may start at the end.
				if n := inits.Load(); n < int64(tasks) || n > int64(tasks+workers) {
					t.Errorf("%s, pool ChunkSize %d, Chunk(%d): %d workers ran for %d items, want %d..%d (%d tasks)",
						name, c.pool, c.call, n, items, tasks, tasks+workers, tasks)
				}
				if local {
					continue
				}
				count := map[int]int{}
				for _, pid := range pids {
					count[pid]++
				}
				if len(count) != tasks {
					t.Errorf("%s, pool ChunkSize %d, Chunk(%d): %d pids ran tasks, want %d", name, c.pool, c.call, len(count), tasks)
				}
				for pid, n := range count {
					if n != c.want {
						t.Errorf("%s, pool ChunkSize %d, Chunk(%d): pid %d ran %d items, want %d", name, c.pool, c.call, pid, n, c.want)
					}
				}
			}
		}
		p, tr := ptPool(t, 1, PoolOptions{InProcess: local})
		for name, run := range ptChunkCalls {
			if _, err := run(guard(t), p, 3, Chunk(-1)); !errors.Is(err, ErrInvalid) {
				t.Errorf("%s with Chunk(-1): %v, want ErrInvalid", name, err)
			}
		}
		ptJoin(t, tr)
	})
}

// TestPoolMapAll: every item's outcome: the results of those that
// succeeded, in order, and the error of each that failed (an error and a
// panic), where Map gives only the first error.
func TestPoolMapAll(t *testing.T) {
	ptModes(t, func(t *testing.T, local bool) {
		ctx := guard(t)
		p, tr := ptPool(t, 2, PoolOptions{InProcess: local})
		args := []int{1, -2, 3, 1_000_000, 5, 6, 7}
		got, errs, err := MapAll(ctx, p, ptCheck, args, Chunk(2))
		if err != nil {
			t.Fatal(err)
		}
		if want := []int{2, 0, 6, 0, 10, 12, 14}; !slices.Equal(got, want) {
			t.Errorf("MapAll results %v, want %v", got, want)
		}
		if len(errs) != len(args) {
			t.Fatalf("MapAll gave %d errors for %d items", len(errs), len(args))
		}
		for i, e := range errs {
			switch i {
			case 1:
				if te := ptTaskError(t, e, "pt.check"); te.Panic || te.Message != "negative -2: pt sentinel" {
					t.Errorf("item 1: %+v", te)
				}
			case 3:
				if te := ptTaskError(t, e, "pt.check"); !te.Panic || te.Message != "pt panic 1000000" {
					t.Errorf("item 3: %+v", te)
				}
			default:
				if e != nil {
					t.Errorf("item %d: %v", i, e)
				}
			}
		}
		got, errs, err = MapAll(ctx, p, ptSquare, ptRange(10))
		if err != nil || errs != nil || len(got) != 10 || got[9] != 81 {
			t.Errorf("MapAll with no failure: %v, %v, %v", got, errs, err)
		}
		got, errs, err = MapAll(ctx, p, ptSquare, nil)
		if err != nil || errs != nil || len(got) != 0 {
			t.Errorf("MapAll of nothing: %v, %v, %v", got, errs, err)
		}
		ptJoin(t, tr)
		if got, errs, err := MapAll(ctx, p, ptSquare, []int{1}); !errors.Is(err, ErrPoolClosed) || got != nil || errs != nil {
			t.Errorf("MapAll after Close: %v, %v, %v", got, errs, err)
		}
	})
}

// TestPoolMapAsync: MapAsync returns before the items run; its result is
// what Map gives, the results or the first failed item's error.
func TestPoolMapAsync(t *testing.T) {
	ptModes(t, func(t *testing.T, local bool) {
		ctx := guard(t)
		// Made before the pool: a worker may not map an anonymous segment
		// made after it started.
		started, release := ptValue(t), newEvent(t)
		p, tr := ptPool(t, 2, PoolOptions{InProcess: local})
		args := []ptBlockArg{{started, release, 1}, {started, release, 2}, {started, release, 3}}
		r := MapAsync(p, ptBlock, args, Chunk(1))
		ptWaitCount(t, started, 2, "two items to start")
		short, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
		defer cancel()
		if v, err := r.Get(short); !errors.Is(err, context.DeadlineExceeded) || v != nil {
			t.Fatalf("Get while the items wait: %v, %v", v, err)
		}
		if r.Ready() {
			t.Fatal("Ready while the items wait")
		}
		if err := release.Set(); err != nil {
			t.Fatal(err)
		}
		if v, err := r.Get(ctx); err != nil || !slices.Equal(v, []int{10, 20, 30}) {
			t.Fatalf("Get after the release: %v, %v", v, err)
		}
		if !r.Ready() {
			t.Fatal("not Ready after Get")
		}
		if v, err := MapAsync(p, ptCheck, []int{1, 2, -3, 4}).Get(ctx); v != nil || errors.Is(err, errPtSentinel) != local {
			t.Errorf("MapAsync with a failed item: %v, %v", v, err)
		} else if te := ptTaskError(t, err, "pt.check"); te.Message != "negative -3: pt sentinel" {
			t.Errorf("MapAsync with a failed item: %+v", te)
		}
		if v, err := MapAsync(p, ptSquare, []int{1}, Chunk(-1)).Get(ctx); !errors.Is(err, ErrInvalid) || v != nil {
			t.Errorf("MapAsync with Chunk(-1): %v, %v", v, err)
		}
		ptJoin(t, tr)
		if _, err := MapAsync(p, ptSquare, []int{1}).Get(ctx); !errors.Is(err, ErrPoolClosed) {
			t.Errorf("MapAsync after Close: %v", err)
		}
	})
}

// TestPoolStarmapAsync: StarmapAsync reads its pairs before it returns,
// and its result is what Starmap gives.
func TestPoolStarmapAsync(t *testing.T) {
	ptModes(t, func(t *testing.T, local bool) {
		ctx := guard(t)
		p, tr := ptPool(t, 2, PoolOptions{InProcess: local})
		words := []string{"a", "b", "c", "d"}
		r := StarmapAsync(p, ptStarStr, slices.All(words))
		words[0] = "changed" // after the call: not seen
		if v, err := r.Get(ctx); err != nil || !slices.Equal(v, []string{"0:a", "1:b", "2:c", "3:d"}) {
			t.Fatalf("StarmapAsync over slices.All: %v, %v", v, err)
		}
		xs := ptRange(500)
		gm, err := StarmapAsync(p, ptStarMul, slices.All(xs), Chunk(7)).Get(ctx)
		if err != nil || len(gm) != len(xs) {
			t.Fatalf("StarmapAsync(mul): %d results, %v", len(gm), err)
		}
		for i, v := range gm {
			if v != i*i {
				t.Fatalf("StarmapAsync(mul) item %d: %d", i, v)
			}
		}
		if v, err := StarmapAsync(p, ptStarMap, maps.All(map[string]int{})).Get(ctx); err != nil || len(v) != 0 {
			t.Errorf("StarmapAsync over nothing: %v, %v", v, err)
		}
		if v, err := StarmapAsync(p, ptStarMul, slices.All(xs), Chunk(-1)).Get(ctx); !errors.Is(err, ErrInvalid) || v != nil {
			t.Errorf("StarmapAsync with Chunk(-1): %v, %v", v, err)
		}
		if v, err := StarmapAsync(p, Func[Pair[int, int], int]{}, slices.All(xs)).Get(ctx); !errors.Is(err, ErrNotRegistered) || v != nil {
			t.Errorf("StarmapAsync of a zero Func: %v, %v", v, err)
		}
		ptJoin(t, tr)
		if _, err := StarmapAsync(p, ptStarMul, slices.All(xs)).Get(ctx); !errors.Is(err, ErrPoolClosed) {
			t.Errorf("StarmapAsync after Close: %v", err)
		}
	})
}

// ptOutcome is what a Then callback was given, and whether its result
// was Ready then.
type ptOutcome[R any] struct {
	v         R
	err       error
	ok, ready bool
}

// ptThen sets callbacks on r that report to the channel.
func ptThen[R any](r *AsyncResult[R]) <-chan ptOutcome[R] {
	ch := make(chan ptOutcome[R], 2)
	r.Then(func(v R) { ch <- ptOutcome[R]{v: v, ok: true, ready: r.Ready()} },
		func(err error) { ch <- ptOutcome[R]{err: err, ready: r.Ready()} })
	return ch
}

// ptCallback waits for the one callback of ptThen, and checks that it
// ran after Ready and that no other runs.
func ptCallback[R any](t *testing.T, ch <-chan ptOutcome[R]) ptOutcome[R] {
	t.Helper()
	var o ptOutcome[R]
	select {
	case o = <-ch:
	case <-guard(t).Done():
		t.Fatal("no callback ran")
	}
	if !o.ready {
		t.Error("a callback ran before Ready")
	}
	select {
	case o2 := <-ch:
		t.Errorf("a second callback ran: %+v after %+v", o2, o)
	case <-time.After(20 * time.Millisecond):
	}
	return o
}

// TestPoolAsyncThen: Then runs the success or the error callback once,
// after Ready, for ApplyAsync, MapAsync and StarmapAsync, and also when
// set after the result was ready.
func TestPoolAsyncThen(t *testing.T) {
	ptModes(t, func(t *testing.T, local bool) {
		ctx := guard(t)
		started, release := ptValue(t), newEvent(t)
		p, tr := ptPool(t, 2, PoolOptions{InProcess: local})
		blocked := ApplyAsync(p, ptBlock, ptBlockArg{started, release, 4})
		ch := ptThen(blocked)
		ptWaitCount(t, started, 1, "the item to start")
		select {
		case o := <-ch:
			t.Fatalf("a callback ran while the item waits: %+v", o)
		case <-time.After(20 * time.Millisecond):
		}
		if err := release.Set(); err != nil {
			t.Fatal(err)
		}
		if o := ptCallback(t, ch); !o.ok || o.v != 40 {
			t.Errorf("ApplyAsync callback: %+v, want 40", o)
		}

		o := ptCallback(t, ptThen(ApplyAsync(p, ptCheck, -3)))
		if o.ok {
			t.Fatalf("ApplyAsync of a failing item ran onOK: %+v", o)
		}
		if te := ptTaskError(t, o.err, "pt.check"); te.Message != "negative -3: pt sentinel" {
			t.Errorf("ApplyAsync error callback: %+v", te)
		}
		if o := ptCallback(t, ptThen(MapAsync(p, ptSquare, []int{1, 2, 3}))); !o.ok || !slices.Equal(o.v, []int{1, 4, 9}) {
			t.Errorf("MapAsync callback: %+v", o)
		}
		if o := ptCallback(t, ptThen(MapAsync(p, ptCheck, []int{1, -2}))); o.ok || errors.Is(o.err, errPtSentinel) != local {
			t.Errorf("MapAsync error callback: %+v", o)
		}
		if o := ptCallback(t, ptThen(StarmapAsync(p, ptStarMul, slices.All([]int{5, 6})))); !o.ok || !slices.Equal(o.v, []int{0, 6}) {
			t.Errorf("StarmapAsync callback: %+v", o)
		}
		if o := ptCallback(t, ptThen(MapAsync(p, ptSquare, []int{1}, Chunk(-1)))); o.ok || !errors.Is(o.err, ErrInvalid) {
			t.Errorf("MapAsync with Chunk(-1) error callback: %+v", o)
		}

		// Set after the result is ready: still runs, with what Get gave.
		r := ApplyAsync(p, ptSquare, 7)
		if v, err := r.Get(ctx); v != 49 || err != nil {
			t.Fatalf("Get: %d, %v", v, err)
		}
		if o := ptCallback(t, ptThen(r)); !o.ok || o.v != 49 {
			t.Errorf("callback set after Ready: %+v", o)
		}
		if o := ptCallback(t, ptThen(r)); !o.ok || o.v != 49 {
			t.Errorf("second Then on the same result: %+v", o)
		}
		// A nil callback is skipped; the other still runs.
		done := make(chan error, 1)
		ApplyAsync(p, ptCheck, -1).Then(nil, func(err error) { done <- err })
		MapAsync(p, ptSquare, []int{2}).Then(nil, func(err error) { done <- err })
		if err := <-done; err == nil {
			t.Error("Then(nil, onErr) on a failure: no error")
		}
		ptJoin(t, tr)
		if o := ptCallback(t, ptThen(ApplyAsync(p, ptSquare, 2))); o.ok || !errors.Is(o.err, ErrPoolClosed) {
			t.Errorf("ApplyAsync after Close error callback: %+v", o)
		}
	})
}

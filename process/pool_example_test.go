//go:build linux && (amd64 || arm64)

package process_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/shmkit/shmkit/process"
	"github.com/shmkit/shmkit/ringbuffer"
)

// Functions that pool workers run are registered with RegisterFunc, in
// package-level variables.
var square = process.RegisterFunc("example.square", func(ctx context.Context, x int) (int, error) {
	return x * x, nil
})

// Python's `Pool(5).map(f, [1, 2, 3])`.
func ExampleMap() {
	ctx := context.Background()
	pool, err := process.NewPool(5, nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer pool.Join(ctx)
	defer pool.Close()
	out, err := process.Map(ctx, pool, square, []int{1, 2, 3})
	fmt.Println(out, err)
	// Output: [1 4 9] <nil>
}

// Results in order as they come, from a sequence of arguments.
func ExampleImap() {
	ctx := context.Background()
	pool, err := process.NewPool(2, nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer pool.Join(ctx)
	defer pool.Terminate()
	for v, err := range process.Imap(ctx, pool, square, slices.Values([]int{4, 5, 6})) {
		fmt.Println(v, err)
	}
	// Output:
	// 16 <nil>
	// 25 <nil>
	// 36 <nil>
}

var slow = process.RegisterFunc("example.slow", func(ctx context.Context, d time.Duration) (string, error) {
	select {
	case <-time.After(d):
		return "done", nil
	case <-ctx.Done(): // the pool was terminated
		return "", ctx.Err()
	}
})

// Python's `apply_async(f, ...).get(timeout=1)`: a context bounds the wait.
func ExampleApplyAsync() {
	pool, err := process.NewPool(1, nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer pool.Join(context.Background())
	defer pool.Terminate() // slow's context is cancelled
	res := process.ApplyAsync(pool, slow, time.Minute)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	_, err = res.Get(ctx)
	fmt.Println(errors.Is(err, context.DeadlineExceeded), res.Ready())
	// Output: true false
}

// Queues is the initializer's argument: two queues, which travel to each
// worker as handles to the same shared memory.
type Queues struct {
	In, Out *ringbuffer.Queue[int]
}

// addOne moves numbers from In to Out, plus one, until In is empty.
var addOne = process.Register("example.addOne", func(ctx context.Context, q Queues) error {
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

// Python's `Pool(4, f, (in_queue, out_queue))`: the initializer, run
// once by each worker, does the work, and the parent collects the results
// from a queue and then terminates the pool.
func ExampleInit() {
	ctx := context.Background()
	in, _ := ringbuffer.NewQueue[int](16)
	out, _ := ringbuffer.NewQueue[int](16)
	defer in.Free()
	defer out.Free()
	for i := range 10 {
		in.Put(ctx, i)
	}
	pool, err := process.NewPool(4, &process.PoolOptions{Initializer: process.Init(addOne, Queues{in, out})})
	if err != nil {
		fmt.Println(err)
		return
	}
	var b []int
	for len(b) < 10 {
		v, err := out.Get(ctx)
		if err != nil {
			fmt.Println(err)
			return
		}
		b = append(b, v)
	}
	pool.Terminate()
	pool.Join(ctx)
	slices.Sort(b) // the workers finish in any order
	fmt.Println(b)
	// Output: [1 2 3 4 5 6 7 8 9 10]
}

// multiprocessing.dummy: the same API on goroutines.
func ExamplePoolOptions_inProcess() {
	ctx := context.Background()
	pool, _ := process.NewPool(4, &process.PoolOptions{InProcess: true})
	defer pool.Join(ctx)
	defer pool.Close()
	out, err := process.Map(ctx, pool, square, []int{1, 2, 3})
	fmt.Println(out, err)
	// Output: [1 4 9] <nil>
}

// Python's `pool.imap(f, items, chunksize=100)`: many small items travel
// 100 to a task, whatever the pool's ChunkSize.
func ExampleChunk() {
	ctx := context.Background()
	pool, err := process.NewPool(2, nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer pool.Join(ctx)
	defer pool.Close()
	sum := 0
	for v, err := range process.Imap(ctx, pool, square, slices.Values(make([]int, 1000)), process.Chunk(100)) {
		if err != nil {
			fmt.Println(err)
			return
		}
		sum += v + 1
	}
	fmt.Println(sum)
	// Output: 1000
}

var half = process.RegisterFunc("example.half", func(ctx context.Context, x int) (int, error) {
	if x%2 != 0 {
		return 0, fmt.Errorf("%d is odd", x)
	}
	return x / 2, nil
})

// Every item's outcome, where Map stops at the first failure.
func ExampleMapAll() {
	ctx := context.Background()
	pool, err := process.NewPool(2, nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer pool.Join(ctx)
	defer pool.Close()
	out, errs, err := process.MapAll(ctx, pool, half, []int{4, 5, 6, 7})
	if err != nil {
		fmt.Println(err)
		return
	}
	for i, v := range out {
		if errs != nil && errs[i] != nil {
			fmt.Println(i, errs[i])
			continue
		}
		fmt.Println(i, v)
	}
	// Output:
	// 0 2
	// 1 process: example.half: 5 is odd
	// 2 3
	// 3 process: example.half: 7 is odd
}

// Python's `pool.map_async(f, items).get()`.
func ExampleMapAsync() {
	ctx := context.Background()
	pool, err := process.NewPool(2, nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer pool.Join(ctx)
	defer pool.Close()
	res := process.MapAsync(pool, square, []int{1, 2, 3})
	// ... other work while the workers run ...
	fmt.Println(res.Get(ctx))
	// Output: [1 4 9] <nil>
}

var area = process.RegisterFunc("example.area", func(ctx context.Context, wh process.Pair[int, int]) (int, error) {
	return wh.First * wh.Second, nil
})

// Python's `pool.starmap_async(f, zip(ws, hs)).get()`.
func ExampleStarmapAsync() {
	ctx := context.Background()
	pool, err := process.NewPool(2, nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer pool.Join(ctx)
	defer pool.Close()
	ws, hs := []int{2, 3, 4}, []int{5, 6, 7}
	zip := func(yield func(int, int) bool) {
		for i := range ws {
			if !yield(ws[i], hs[i]) {
				return
			}
		}
	}
	res := process.StarmapAsync(pool, area, zip)
	// ... other work while the workers run ...
	fmt.Println(res.Get(ctx))
	// Output: [10 18 28] <nil>
}

// Python's callback= and error_callback=: one of the two runs, in this
// process, once the result is ready.
func ExampleAsyncResult_Then() {
	ctx := context.Background()
	pool, err := process.NewPool(2, nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer pool.Join(ctx)
	defer pool.Close()
	said := make(chan string)
	onOK := func(v []int) { said <- fmt.Sprint("ok: ", v) }
	onErr := func(err error) { said <- fmt.Sprint("failed: ", err) }
	process.MapAsync(pool, half, []int{2, 4}).Then(onOK, onErr)
	fmt.Println(<-said)
	process.MapAsync(pool, half, []int{2, 3}).Then(onOK, onErr)
	fmt.Println(<-said)
	// Output:
	// ok: [1 2]
	// failed: item 1: process: example.half: 3 is odd
}

// NewPool(n, nil) starts n workers; 0 means CPUCount of them, and a
// negative size, as Python's Pool(-1), is ErrInvalid.
func ExampleNewPool() {
	ctx := context.Background()
	pool, err := process.NewPool(3, nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(pool.Size(), len(pool.Pids()))
	pool.Close()
	pool.Join(ctx)

	_, err = process.NewPool(-1, nil)
	fmt.Println(errors.Is(err, process.ErrInvalid))
	_, err = process.NewPool(2, &process.PoolOptions{MaxTasksPerChild: -1})
	fmt.Println(errors.Is(err, process.ErrInvalid))
	// Output:
	// 3 3
	// true
	// true
}

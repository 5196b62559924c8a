package main

// The demos of seed 002, "Python的多进程编程技巧": Pool.map, and a pool
// whose initializer does the work through two queues.

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/shmkit/shmkit/process"
	"github.com/shmkit/shmkit/ringbuffer"
)

// addOneSlowly: def f(x): time.sleep(1); print x+1; return x+1
var addOneSlowly = process.RegisterFunc("mpdemo.add_one_slowly", func(ctx context.Context, x int) (int, error) {
	if err := sleep(ctx, second); err != nil {
		return 0, err
	}
	fmt.Println(x + 1)
	return x + 1, nil
})

// demoPoolSleep: pool = Pool(4); b = pool.map(f, range(10)); pool.close();
// pool.join(); print b. The workers print in the order they finish; the
// result is in the order of the arguments.
func demoPoolSleep(ctx context.Context, w io.Writer) error {
	a := []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}
	pool, err := process.NewPool(4, nil)
	if err != nil {
		return err
	}
	b, err := process.Map(ctx, pool, addOneSlowly, a)
	if err != nil {
		pool.Terminate()
		return err
	}
	if err := pool.Close(); err != nil {
		return err
	}
	if err := pool.Join(ctx); err != nil {
		return err
	}
	fmt.Fprintln(w, b)
	return nil
}

// queues is the initializer's argument: Python's initargs (in_queue,
// out_queue). The queues travel to each worker as handles to the same
// shared memory.
type queues struct {
	In, Out *ringbuffer.Queue[int]
}

// drain: def f(in_queue, out_queue): while not in_queue.empty():
// time.sleep(1); out_queue.put(in_queue.get()+1). Between Empty and the
// get another worker may take the last number, which TryGet tells (where
// Python's get would block for ever).
var drain = process.Register("mpdemo.pool_queues_f", func(ctx context.Context, q queues) error {
	for !q.In.Empty() {
		if err := sleep(ctx, second); err != nil {
			return nil // terminated
		}
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
	return nil
})

// demoPoolQueues: Pool(4, f, (in_queue, out_queue)). The initializer,
// which each worker runs once as it starts, does the work; the main takes
// the results as they come and then terminates the pool. (Python writes it
// as a method, to show that Pool cannot pickle a function nested in it; a
// Go target is registered at package level, and needs no class.)
func demoPoolQueues(ctx context.Context, w io.Writer) error {
	a := []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}
	in, err := ringbuffer.NewQueue[int](16)
	if err != nil {
		return err
	}
	out, err := ringbuffer.NewQueue[int](16)
	if err != nil {
		return err
	}
	for _, i := range a {
		if err := in.Put(ctx, i); err != nil {
			return err
		}
	}
	pool, err := process.NewPool(4, &process.PoolOptions{Initializer: process.Init(drain, queues{in, out})})
	if err != nil {
		return err
	}
	var b []int
	for len(b) < len(a) {
		t, err := out.Get(ctx)
		if err != nil {
			pool.Terminate()
			return err
		}
		fmt.Fprintln(w, t)
		b = append(b, t)
	}
	if err := pool.Terminate(); err != nil {
		return err
	}
	if err := pool.Join(ctx); err != nil {
		return err
	}
	fmt.Fprintln(w, b)
	return nil
}

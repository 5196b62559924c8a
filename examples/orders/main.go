// Command orders is two programs started separately that share a queue
// and a counter by name: a shop that puts orders and a worker that takes
// them. Run each in its own terminal, in either order:
//
//	go run ./examples/orders worker
//	go run ./examples/orders shop -n 20
//
// The shop owns the segment: it creates it with its objects (or opens the
// one an earlier run left), puts its orders, waits until they are served,
// shuts the queue down so that the workers end, and removes the segment.
// A worker only opens: it waits for the segment and its objects to appear,
// as long as -wait allows, then takes orders until the queue is shut down.
// Start as many workers as you like.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"time"

	"github.com/shmkit/shmkit/ringbuffer"
	"github.com/shmkit/shmkit/shm"
	"github.com/shmkit/shmkit/value"
)

// Order is what the shop puts and the workers take: a plain struct, so it
// travels as its bytes.
type Order struct {
	ID  int64
	Qty int32
}

// setup places the segment's objects. As SegmentOptions.Init, it runs in
// the process that creates the segment, before any other can open it.
func setup(seg *shm.Segment) error {
	q, err := ringbuffer.NewJoinableQueue[Order](64, shm.In(seg, "orders"))
	if err != nil {
		return err
	}
	q.Close() // the objects stay; only this handle goes
	served, err := value.New(int64(0), shm.In(seg, "served"))
	if err != nil {
		return err
	}
	return served.Close()
}

// shop puts n orders, waits until the workers have served them all, and
// then ends the queue and removes the segment.
func shop(ctx context.Context, name string, n int, out io.Writer) error {
	seg, err := openShop(ctx, name, out)
	if err != nil {
		return err
	}
	defer seg.Close()
	if err := sell(ctx, seg, n, out); err != nil {
		return err // the segment stays, for the next run
	}
	return seg.Free() // the name goes now; the memory once every process closed it
}

// sell puts n orders, waits until they are served, and ends the queue.
func sell(ctx context.Context, seg *shm.Segment, n int, out io.Writer) error {
	q, err := ringbuffer.OpenJoinableQueue[Order](ctx, seg, "orders")
	if err != nil {
		return err
	}
	defer q.Close()
	served, err := value.Open[int64](ctx, seg, "served")
	if err != nil {
		return err
	}
	defer served.Close()

	for i := range n {
		if err := q.Put(ctx, Order{ID: int64(i + 1), Qty: int32(i%3 + 1)}); err != nil {
			return err
		}
	}
	fmt.Fprintf(out, "shop: put %d orders; waiting for them to be served\n", n)
	if err := q.Join(ctx); err != nil { // every order put, by this run or an earlier one, served
		return err
	}
	fmt.Fprintf(out, "shop: %d orders served in all\n", served.Load())
	return q.Shutdown() // the workers drain the queue, then end
}

// openShop opens the shop's segment, or creates it with its objects.
func openShop(ctx context.Context, name string, out io.Writer) (*shm.Segment, error) {
	for {
		seg, err := shm.OpenOrCreate(ctx, name, 1<<20, &shm.SegmentOptions{Init: setup})
		switch {
		case errors.Is(err, shm.ErrCreatorDied):
			// A run died while creating it: remove the half-made segment.
			if err := shm.Unlink(name); err != nil && !errors.Is(err, shm.ErrNotExist) {
				return nil, err
			}
			continue
		case err != nil:
			return nil, err
		case seg.Created():
			fmt.Fprintln(out, "shop: created", name)
			return seg, nil
		}
		// An earlier run left it: its orders are still there, and are served
		// with ours. A run that ended the queue but died before removing the
		// segment leaves it shut down: remove it and start afresh.
		q, err := ringbuffer.OpenJoinableQueue[Order](ctx, seg, "orders")
		if err != nil {
			seg.Close()
			return nil, err
		}
		done, unfinished := q.IsShutdown(), q.Unfinished()
		q.Close()
		if !done {
			fmt.Fprintf(out, "shop: opened %s, left by an earlier run with %d orders unfinished\n", name, unfinished)
			return seg, nil
		}
		if err := seg.Free(); err != nil && !errors.Is(err, shm.ErrNotExist) {
			return nil, err
		}
	}
}

// worker takes orders until the shop shuts the queue down. It waits for
// the shop's segment and objects as long as wait allows.
func worker(ctx context.Context, name string, wait time.Duration, out io.Writer) error {
	openCtx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	seg, err := shm.Open(openCtx, name, nil) // waits for the shop to create it
	if err != nil {
		return err
	}
	defer seg.Close()
	q, err := ringbuffer.OpenJoinableQueue[Order](openCtx, seg, "orders")
	if err != nil {
		return err
	}
	defer q.Close()
	served, err := value.Open[int64](openCtx, seg, "served")
	if err != nil {
		return err
	}
	defer served.Close()

	taken := 0
	for {
		o, err := q.Get(ctx) // an order, or ErrShutdown once none is left
		if errors.Is(err, ringbuffer.ErrShutdown) {
			fmt.Fprintf(out, "worker: the shop closed; took %d orders\n", taken)
			return nil
		}
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "worker: order %d, %d items\n", o.ID, o.Qty)
		taken++
		served.Add(1)
		q.TaskDone()
	}
}

func main() {
	fs := flag.NewFlagSet("orders", flag.ExitOnError)
	name := fs.String("seg", "shmkit-example-orders", "the segment's name in /dev/shm")
	n := fs.Int("n", 10, "shop: how many orders to put")
	wait := fs.Duration("wait", time.Minute, "worker: how long to wait for the shop")
	fs.Usage = func() {
		fmt.Fprintln(os.Stderr, "usage: orders shop [-n N] [-seg NAME] | orders worker [-wait D] [-seg NAME]")
		fs.PrintDefaults()
	}
	if len(os.Args) < 2 {
		fs.Usage()
		os.Exit(2)
	}
	role := os.Args[1]
	fs.Parse(os.Args[2:])
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	var err error
	switch role {
	case "shop":
		err = shop(ctx, *name, *n, os.Stdout)
	case "worker":
		err = worker(ctx, *name, *wait, os.Stdout)
	default:
		fs.Usage()
		os.Exit(2)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "orders:", err)
		os.Exit(1)
	}
}

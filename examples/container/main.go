package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/shmkit/shmkit/ringbuffer"
	"github.com/shmkit/shmkit/semaphore"
	"github.com/shmkit/shmkit/shm"
	"github.com/shmkit/shmkit/value"
)

// Order is one message of the queue: a plain struct, so it travels as its
// bytes.
type Order struct {
	Seq    int64 // 0, 1, ... within one producer's run
	Amount int64 // amount(Seq)
	Total  int64 // the shared total once this order was added
}

// amount is what order seq is worth: a function of seq alone, so that the
// consumer can check it.
func amount(seq int64) int64 { return seq%97 + 1 }

// queueLen is how many orders the queue holds before Put waits.
const queueLen = 256

// books is what the two programs share, by name, in one segment.
type books struct {
	seg   *shm.Segment
	q     *ringbuffer.Queue[Order]
	mu    *semaphore.Mutex
	total *value.Value[int64] // guarded by mu
}

// place makes the objects in a new segment: SegmentOptions.Init, so that
// no process sees the segment without them.
func place(seg *shm.Segment) error {
	if _, err := ringbuffer.NewQueue[Order](queueLen, shm.In(seg, "orders")); err != nil {
		return err
	}
	if _, err := semaphore.NewMutex(shm.In(seg, "books")); err != nil {
		return err
	}
	_, err := value.NewRaw[int64](0, shm.In(seg, "total"))
	return err
}

// openBooks opens the segment name and its objects, waiting for them until
// ctx ends. With size > 0 it creates the segment if it does not exist.
func openBooks(ctx context.Context, name string, size int64) (*books, error) {
	var seg *shm.Segment
	var err error
	if size > 0 {
		seg, err = shm.OpenOrCreate(ctx, name, size, &shm.SegmentOptions{Init: place})
	} else {
		seg, err = shm.Open(ctx, name, nil)
	}
	if err != nil {
		return nil, err
	}
	b := &books{seg: seg}
	if b.q, err = ringbuffer.OpenQueue[Order](ctx, seg, "orders"); err == nil {
		if b.mu, err = semaphore.OpenMutex(ctx, seg, "books"); err == nil {
			b.total, err = value.Open[int64](ctx, seg, "total")
		}
	}
	if err != nil {
		b.Close(false)
		return nil, err
	}
	return b, nil
}

// Close releases this process's handles; with free it also removes the
// segment's name, for every process. The objects are closed first: their
// handles point into the segment's mapping.
func (b *books) Close(free bool) error {
	for _, c := range []io.Closer{b.q, b.mu, b.total} {
		if c != nil {
			c.Close()
		}
	}
	if free {
		return b.seg.Free()
	}
	return b.seg.Close()
}

// lock takes the Mutex, refusing a total that a dead holder may have left
// half updated.
func (b *books) lock(ctx context.Context) error {
	err := b.mu.LockContext(ctx)
	if errors.Is(err, semaphore.ErrOwnerDead) {
		b.mu.Unlock()
		return fmt.Errorf("a process died holding the books, the total cannot be trusted: %w", err)
	}
	return err
}

// produce puts n orders, each under the Mutex.
func (b *books) produce(ctx context.Context, n int) error {
	for seq := range int64(n) {
		if err := b.lock(ctx); err != nil {
			return err
		}
		o := Order{Seq: seq, Amount: amount(seq), Total: b.total.Load() + amount(seq)}
		err := b.q.Put(ctx, o)
		if err == nil {
			b.total.Store(o.Total)
		}
		b.mu.Unlock()
		if err != nil {
			return err
		}
	}
	return nil
}

// consume takes n orders and checks them, then checks the shared total
// against their sum, which it returns.
func (b *books) consume(ctx context.Context, n int) (int64, error) {
	var sum int64
	for range n {
		o, err := b.q.Get(ctx)
		if err != nil {
			return sum, err
		}
		if o.Amount != amount(o.Seq) {
			return sum, fmt.Errorf("order %d: amount %d, want %d", o.Seq, o.Amount, amount(o.Seq))
		}
		sum += o.Amount
		if o.Total != sum {
			return sum, fmt.Errorf("order %d: total %d, want %d (the sum of the amounts taken)", o.Seq, o.Total, sum)
		}
	}
	if err := b.lock(ctx); err != nil {
		return sum, err
	}
	defer b.mu.Unlock()
	if t := b.total.Load(); t != sum {
		return sum, fmt.Errorf("shared total %d after %d orders, want %d", t, n, sum)
	}
	return sum, nil
}

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "container:", err)
		os.Exit(1)
	}
}

func run(args []string, out io.Writer) error {
	if len(args) == 0 || (args[0] != "produce" && args[0] != "consume") {
		return errors.New("usage: container produce|consume [-seg NAME] [-n N] [-size BYTES] [-timeout D]")
	}
	fs := flag.NewFlagSet(args[0], flag.ContinueOnError)
	name := fs.String("seg", "shmkit-orders", "segment name under /dev/shm")
	n := fs.Int("n", 1000, "orders to put or take")
	size := fs.Int64("size", 1<<20, "segment size in bytes, if produce creates it")
	timeout := fs.Duration("timeout", time.Minute, "how long to wait for the other program")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	if args[0] == "produce" {
		b, err := openBooks(ctx, *name, *size)
		if err != nil {
			return err
		}
		defer b.Close(false)
		if err := b.produce(ctx, *n); err != nil {
			return err
		}
		fmt.Fprintf(out, "put %d orders in %s (pid %d)\n", *n, *name, os.Getpid())
		return nil
	}
	b, err := openBooks(ctx, *name, 0)
	if err != nil {
		return err
	}
	sum, err := b.consume(ctx, *n)
	if err != nil {
		b.Close(false)
		return err
	}
	fmt.Fprintf(out, "took %d orders from %s, total %d (pid %d)\n", *n, *name, sum, os.Getpid())
	return b.Close(true)
}

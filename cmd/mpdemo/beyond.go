package main

import (
	"context"
	"fmt"
	"io"

	"github.com/shmkit/shmkit/process"
	"github.com/shmkit/shmkit/ringbuffer"
	"github.com/shmkit/shmkit/semaphore"
)

// The topics of subject "beyond python": what shmkit has that Python's
// multiprocessing has not.

// feed is what a reader of demoPubSub is given: the feed, the barrier it
// waits at once subscribed, and the queue it reports on.
type feed struct {
	Reader  int
	Feed    *ringbuffer.PubSub[int64]
	Ready   *semaphore.Barrier
	Reports *ringbuffer.Queue[report]
}

// report is what one reader of the feed received.
type report struct {
	Reader int
	Got    []int64
}

// readFeed subscribes to the feed, says so at the barrier, then reads five
// messages and reports them.
var readFeed = process.Register("mpdemo.read_feed", func(ctx context.Context, f feed) error {
	sub, err := f.Feed.Subscribe(0)
	if err != nil {
		return err
	}
	defer sub.Close()
	if _, err := f.Ready.Wait(ctx); err != nil {
		return err
	}
	got := make([]int64, 0, 5)
	for range 5 {
		v, err := sub.Recv(ctx)
		if err != nil {
			return err
		}
		got = append(got, v)
	}
	return f.Reports.Put(ctx, report{f.Reader, got})
})

// demoPubSub: one publisher, two reader processes that each see every
// message (a Queue gives each message to one consumer), then a reader
// that joins late and asks for the last two.
func demoPubSub(ctx context.Context, w io.Writer) error {
	ps, err := ringbuffer.NewPubSub[int64](8, 4, ringbuffer.Lossless)
	if err != nil {
		return err
	}
	defer ps.Free()
	ready, err := semaphore.NewBarrier(3)
	if err != nil {
		return err
	}
	defer ready.Free()
	reports, err := ringbuffer.NewQueue[report](2)
	if err != nil {
		return err
	}
	defer reports.Free()
	var readers []*process.Process
	for i := 1; i <= 2; i++ {
		p := process.New(readFeed, feed{i, ps, ready, reports})
		if err := p.Start(); err != nil {
			return err
		}
		readers = append(readers, p)
	}
	if _, err := ready.Wait(ctx); err != nil { // both have subscribed
		return err
	}
	for i := int64(1); i <= 5; i++ {
		if err := ps.Publish(ctx, i*i); err != nil {
			return err
		}
	}
	got := make([][]int64, 2)
	for range 2 {
		r, err := reports.Get(ctx)
		if err != nil {
			return err
		}
		got[r.Reader-1] = r.Got
	}
	for _, p := range readers {
		if err := p.Join(ctx); err != nil {
			return err
		}
	}
	for i, g := range got {
		fmt.Fprintf(w, "reader %d got %v\n", i+1, g)
	}
	late, err := ps.Subscribe(2)
	if err != nil {
		return err
	}
	defer late.Close()
	var last []int64
	for late.Pending() > 0 {
		v, err := late.Recv(ctx)
		if err != nil {
			return err
		}
		last = append(last, v)
	}
	fmt.Fprintf(w, "a reader joining late, with a history of 2, got %v\n", last)
	return nil
}

// fill pushes 100 messages on the ring, taking its producer's role, and
// then waits to be killed while it holds it.
var fill = process.Register("mpdemo.fill", func(ctx context.Context, r *ringbuffer.Ring[int64]) error {
	for i := range int64(100) {
		if err := r.Push(ctx, i); err != nil {
			return err
		}
	}
	<-ctx.Done()
	return ctx.Err()
})

// demoCounters: the counters a ring keeps in its shared memory, which
// outlive the processes that moved them: a producer killed while it holds
// its role, whose role the next producer takes over.
func demoCounters(ctx context.Context, w io.Writer) error {
	r, err := ringbuffer.NewSPSCRing[int64](128)
	if err != nil {
		return err
	}
	defer r.Free()
	p := process.New(fill, r)
	if err := p.Start(); err != nil {
		return err
	}
	for r.Len() < 100 {
		if err := sleep(ctx, second/100); err != nil {
			return err
		}
	}
	if err := p.Kill(); err != nil {
		return err
	}
	if err := p.Join(ctx); err == nil {
		return fmt.Errorf("the killed producer exited cleanly")
	}
	code, _ := p.ExitCode()
	fmt.Fprintln(w, "the producer was killed holding its role, exit code", code)
	if err := r.Push(ctx, 100); err != nil { // takes the dead producer's role over
		return err
	}
	for range 101 {
		if _, err := r.Pop(ctx); err != nil {
			return err
		}
	}
	s := r.Stats()
	fmt.Fprintf(w, "pushed %d, popped %d, in the ring %d\n", s.Pushed, s.Popped, s.Len)
	fmt.Fprintln(w, "producer roles taken over from dead processes:", s.ProducerTakeovers)
	return nil
}

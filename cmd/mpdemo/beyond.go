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

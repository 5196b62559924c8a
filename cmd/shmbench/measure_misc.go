//go:build linux

package main

// What is not a rate or a time: the OS threads that 10,000 parked
// goroutines hold, and the allocations of the hot paths.

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shmkit/shmkit/process"
	"github.com/shmkit/shmkit/ringbuffer"
	"github.com/shmkit/shmkit/semaphore"
	"github.com/shmkit/shmkit/shm"
	"github.com/shmkit/shmkit/value"
)

// The parked goroutines: parkEvents Events with parkPerEvent goroutines in
// Wait each, parkQueues empty Queues with parkPerQueue in Get each, and
// parkMutexes Mutexes, held by another process, with parkPerMutex in Lock
// each: enough distinct words to fill every dispatcher of internal/park.
const (
	parkEvents   = 200
	parkPerEvent = 20
	parkQueues   = 100
	parkPerQueue = 30
	parkMutexes  = 100
	parkPerMutex = 30
	parked       = parkEvents*parkPerEvent + parkQueues*parkPerQueue + parkMutexes*parkPerMutex
	// parkSettle is how long the goroutines are left parked, once all
	// started, before they are released.
	parkSettle = 200 * time.Millisecond
)

func init() {
	register(measure{label: "10,000 goroutines parked on shared objects",
		names: []string{"parked_goroutines_threads"},
		run:   parkedThreads})
	register(measure{label: "allocations on ring, lock and value hot paths",
		names: []string{"hot_path_allocs_per_op"},
		run:   hotPathAllocs})
}

// parkArg is the argument of the process whose goroutines park. It reports
// in Words: slot 0 word 0, the most threads it had from before the first
// parked to when they are released; word 1, how many returned without
// error.
type parkArg struct {
	Events  []*semaphore.Event
	Queues  []*ringbuffer.Queue[uint64]
	Mutexes []*semaphore.Mutex
	Sync    *semaphore.Barrier
	Words   shm.Handle
}

var parkChild = process.Register("shmbench.parked", func(ctx context.Context, a parkArg) error {
	words, err := resolve(a.Words)
	if err != nil {
		return err
	}
	var peak atomic.Int64
	sample := func() {
		if n := int64(threads()); n > peak.Load() {
			peak.Store(n)
		}
	}
	stop, sampled := make(chan struct{}), make(chan struct{})
	go func() { // from before the first goroutine parks to their release
		defer close(sampled)
		t := time.NewTicker(time.Millisecond)
		defer t.Stop()
		for {
			sample()
			select {
			case <-stop:
				return
			case <-t.C:
			}
		}
	}()
	bg := context.Background()
	var wg sync.WaitGroup
	var entered, ok atomic.Int64
	run := func(f func() error) {
		wg.Go(func() {
			entered.Add(1)
			if err := f(); err != nil {
				fmt.Fprintln(os.Stderr, "parked goroutine:", err)
				return
			}
			ok.Add(1)
		})
	}
	for _, ev := range a.Events {
		for range parkPerEvent {
			run(func() error { return ev.Wait(bg) })
		}
	}
	for _, q := range a.Queues {
		for range parkPerQueue {
			run(func() error {
				_, err := q.Get(bg)
				return err
			})
		}
	}
	for _, mu := range a.Mutexes {
		for range parkPerMutex {
			run(func() error {
				if err := mu.Lock(); err != nil {
					return err
				}
				mu.Unlock()
				return nil
			})
		}
	}
	for entered.Load() < parked {
		time.Sleep(time.Millisecond)
	}
	time.Sleep(parkSettle) // the last ones reach their sleep, and stay there
	close(stop)
	<-sampled
	sample()
	atomic.StoreUint64(word(words, 0, 0), uint64(peak.Load()))
	if _, err := a.Sync.Wait(ctx); err != nil { // the parent releases them all
		return err
	}
	all := make(chan struct{})
	go func() {
		wg.Wait()
		close(all)
	}()
	select {
	case <-all:
	case <-time.After(joinGuard):
		return fmt.Errorf("%d of %d goroutines had not returned %v after their release", parked-ok.Load(), parked, joinGuard)
	}
	atomic.StoreUint64(word(words, 0, 1), uint64(ok.Load()))
	return nil
})

// threads is the number of OS threads of this process.
func threads() int {
	d, err := os.Open("/proc/self/task")
	if err != nil {
		return -1
	}
	defer d.Close()
	names, err := d.Readdirnames(-1)
	if err != nil {
		return -1
	}
	return len(names)
}

// parkedThreads parks 10,000 goroutines of a child on Events, empty Queues
// and Mutexes that this process holds, then sets, fills and unlocks them,
// and checks that every goroutine returned; the figure is the most OS
// threads the child had while they were parked.
func parkedThreads(ctx context.Context, cfg config) (figures, error) {
	var a parkArg
	defer func() {
		for _, ev := range a.Events {
			ev.Free()
		}
		for _, q := range a.Queues {
			q.Free()
		}
		for _, mu := range a.Mutexes {
			mu.Free()
		}
	}()
	for range parkEvents {
		ev, err := semaphore.NewEvent()
		if err != nil {
			return nil, err
		}
		a.Events = append(a.Events, ev)
	}
	for range parkQueues {
		q, err := ringbuffer.NewQueue[uint64](parkPerQueue)
		if err != nil {
			return nil, err
		}
		a.Queues = append(a.Queues, q)
	}
	locked := 0
	defer func() {
		for _, mu := range a.Mutexes[:locked] {
			mu.Unlock()
		}
	}()
	for range parkMutexes {
		mu, err := semaphore.NewMutex()
		if err != nil {
			return nil, err
		}
		a.Mutexes = append(a.Mutexes, mu)
		if err := mu.Lock(); err != nil {
			return nil, err
		}
		locked++
	}
	words, bar, g, done, err := newRig(ctx, 1, 2)
	if err != nil {
		return nil, err
	}
	defer done()
	a.Sync, a.Words = bar, words.Handle()
	if err := start(g, parkChild, a); err != nil {
		return nil, err
	}
	wctx, cancel := context.WithTimeout(g.ctx, joinGuard)
	defer cancel()
	if _, err := bar.Wait(wctx); err != nil { // all parked, their threads counted
		return nil, g.why(err)
	}
	for _, ev := range a.Events {
		if err := ev.Set(); err != nil {
			return nil, err
		}
	}
	for _, q := range a.Queues {
		for i := range parkPerQueue {
			if err := q.Put(wctx, uint64(i)); err != nil {
				return nil, g.why(err)
			}
		}
	}
	for _, mu := range a.Mutexes[:locked] {
		mu.Unlock()
	}
	locked = 0
	if err := g.join(); err != nil {
		return nil, err
	}
	if n := atomic.LoadUint64(word(words, 0, 1)); n != parked {
		return nil, fmt.Errorf("%d of %d parked goroutines returned without error", n, parked)
	}
	for _, q := range a.Queues {
		if n := q.Len(); n != 0 {
			return nil, fmt.Errorf("a queue holds %d messages after its %d getters returned", n, parkPerQueue)
		}
	}
	for _, mu := range a.Mutexes {
		if o := mu.Owner(); o != 0 {
			return nil, fmt.Errorf("a mutex is held by %d after its lockers returned", o)
		}
	}
	n := float64(atomic.LoadUint64(word(words, 0, 0)))
	return figures{"parked_goroutines_threads": cfg.note("parked_goroutines_threads", []float64{n})}, nil
}

// allocRuns is how many times each hot path runs for testing.AllocsPerRun.
const allocRuns = 1000

// hotPathAllocs counts the allocations of each hot path with
// testing.AllocsPerRun (an average over allocRuns calls, rounded down, as
// go test -benchmem reports them); the figure is the highest.
func hotPathAllocs(ctx context.Context, cfg config) (figures, error) {
	// The objects live in a segment of their own, which goes when the
	// measure ends (a Value has no Free).
	seg, err := shm.Anonymous(1 << 20)
	if err != nil {
		return nil, err
	}
	defer seg.Close()
	bg := context.Background()
	spsc, err := ringbuffer.NewSPSCRing[uint64](64, shm.In(seg, "spsc"))
	if err != nil {
		return nil, err
	}
	mpmc, err := ringbuffer.NewRing[uint64](64, shm.In(seg, "mpmc"))
	if err != nil {
		return nil, err
	}
	q, err := ringbuffer.NewQueue[msg64](64, shm.In(seg, "queue"))
	if err != nil {
		return nil, err
	}
	mu, err := semaphore.NewMutex(shm.In(seg, "mutex"))
	if err != nil {
		return nil, err
	}
	v, err := value.New[int64](0, shm.In(seg, "int64"))
	if err != nil {
		return nil, err
	}
	wide, err := value.New(msg64{}, shm.In(seg, "wide"))
	if err != nil {
		return nil, err
	}
	var errs []error
	check := func(err error) {
		if err != nil {
			errs = append(errs, err)
		}
	}
	var i uint64
	paths := []struct {
		name string
		f    func()
	}{
		{"SPSC Ring Push+Pop", func() {
			check(spsc.Push(bg, i))
			_, err := spsc.Pop(bg)
			check(err)
			i++
		}},
		{"MPMC Ring Push+Pop", func() {
			check(mpmc.Push(bg, i))
			_, err := mpmc.Pop(bg)
			check(err)
			i++
		}},
		{"Queue of 64 B Put+Get", func() {
			check(q.Put(bg, msg64{Seq: i}))
			_, err := q.Get(bg)
			check(err)
			i++
		}},
		{"Mutex Lock+Unlock", func() {
			check(mu.Lock())
			mu.Unlock()
		}},
		{"Value[int64] Store+Load", func() {
			check(v.Store(int64(i)))
			_ = v.Load()
			i++
		}},
		{"Value[int64] Update", func() {
			check(v.Update(func(x *int64) { *x++ }))
		}},
		{"Value of 64 B Store+Load", func() {
			check(wide.Store(msg64{Seq: i}))
			_ = wide.Load()
			i++
		}},
	}
	most := 0.0
	for _, p := range paths {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		n := testing.AllocsPerRun(allocRuns, p.f)
		if len(errs) > 0 {
			return nil, fmt.Errorf("%s: %w", p.name, errors.Join(errs...))
		}
		most = max(most, n)
	}
	return figures{"hot_path_allocs_per_op": cfg.note("hot_path_allocs_per_op", []float64{most})}, nil
}

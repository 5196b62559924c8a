//go:build linux && (amd64 || arm64)

package semaphore

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/shmkit/shmkit/internal/park"
	"github.com/shmkit/shmkit/internal/testproc"
	"github.com/shmkit/shmkit/shm"
)

// The thread bound: 10,000 goroutines of one process parked on shared
// Events, Semaphores and Mutexes, on enough distinct objects to fill every
// dispatcher, hold at most maxThreads OS threads.
const (
	parkedEvents     = 200 // 20 goroutines each
	parkedSemaphores = 100 // 30 each
	parkedMutexes    = 100 // 30 each
	parkedGoroutines = parkedEvents*20 + parkedSemaphores*30 + parkedMutexes*30
	maxThreads       = 16
)

func threads() int {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return -1
	}
	_, v, _ := bytes.Cut(b, []byte("\nThreads:"))
	v, _, _ = bytes.Cut(v, []byte("\n"))
	n, _ := strconv.Atoi(string(bytes.TrimSpace(v)))
	return n
}

func monotonic() int64 {
	var ts unix.Timespec
	unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts)
	return ts.Nano()
}

var childParked = testproc.Register("sem-parked", func(c *testproc.Child) error {
	seg, err := shm.Open(context.Background(), c.Arg(), nil)
	if err != nil {
		return err
	}
	defer seg.Close()
	ctx := context.Background()
	var (
		wg      sync.WaitGroup
		entered atomic.Int32
		errs    = make(chan error, parkedGoroutines)
	)
	run := func(f func() error) {
		wg.Go(func() {
			entered.Add(1)
			if err := f(); err != nil {
				errs <- err
			}
		})
	}
	for i := 0; i < parkedEvents; i++ {
		ev, err := OpenEvent(context.Background(), seg, fmt.Sprint("ev", i))
		if err != nil {
			return err
		}
		for g := 0; g < 20; g++ {
			run(func() error { return ev.Wait(ctx) })
		}
	}
	for i := 0; i < parkedSemaphores; i++ {
		s, err := Open(context.Background(), seg, fmt.Sprint("sem", i))
		if err != nil {
			return err
		}
		for g := 0; g < 30; g++ {
			run(func() error { return s.Acquire(ctx, 1) })
		}
	}
	for i := 0; i < parkedMutexes; i++ {
		mu, err := OpenMutex(context.Background(), seg, fmt.Sprint("mu", i))
		if err != nil {
			return err
		}
		for g := 0; g < 30; g++ {
			run(func() error {
				if err := mu.Lock(); err != nil {
					return err
				}
				mu.Unlock()
				return nil
			})
		}
	}
	var peak atomic.Int32
	stop := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		for {
			if n := int32(threads()); n > peak.Load() {
				peak.Store(n)
			}
			select {
			case <-stop:
				return
			case <-time.After(time.Millisecond):
			}
		}
	}()
	for entered.Load() < parkedGoroutines {
		time.Sleep(time.Millisecond)
	}
	time.Sleep(200 * time.Millisecond) // let the last ones reach their sleep
	fmt.Printf("parked: %+v, threads %d (peak %d)\n", park.Snapshot(), threads(), peak.Load())
	c.Point("parked") // the parent sets, releases and unlocks everything
	wg.Wait()
	done := monotonic()
	close(stop)
	<-sampled
	close(errs)
	for err := range errs {
		return err
	}
	fmt.Printf("RESULT %d %d\n", done, peak.Load())
	return nil
})

func TestParkedGoroutinesThreads(t *testing.T) {
	seg, err := shm.Create(testproc.ShmName(t), 4<<20, &shm.SegmentOptions{MaxObjects: 512})
	if err != nil {
		t.Fatal(err)
	}
	defer seg.Close()
	var (
		evs  []*Event
		sems []*Semaphore
		mus  []*Mutex
	)
	for i := 0; i < parkedEvents; i++ {
		ev := mustEvent(t, shm.In(seg, fmt.Sprint("ev", i)))
		evs = append(evs, ev)
	}
	for i := 0; i < parkedSemaphores; i++ {
		s, err := New(0, shm.In(seg, fmt.Sprint("sem", i)))
		if err != nil {
			t.Fatal(err)
		}
		sems = append(sems, s)
	}
	for i := 0; i < parkedMutexes; i++ {
		mu := mustMutex(t, shm.In(seg, fmt.Sprint("mu", i)))
		if err := mu.Lock(); err != nil {
			t.Fatal(err)
		}
		mus = append(mus, mu)
	}
	p := testproc.Start(t, childParked, testproc.Arg(seg.Name()))
	p.WaitPoint("parked")
	start := monotonic()
	for _, ev := range evs {
		if err := ev.Set(); err != nil {
			t.Fatal(err)
		}
	}
	for _, s := range sems {
		if err := s.Release(30); err != nil {
			t.Fatal(err)
		}
	}
	for _, mu := range mus {
		mu.Unlock()
	}
	res := p.Succeed()
	var done int64
	var peak int
	for _, line := range strings.Split(res.Output, "\n") {
		if strings.HasPrefix(line, "RESULT ") {
			fmt.Sscan(line[len("RESULT "):], &done, &peak)
		}
	}
	if done == 0 {
		t.Fatalf("no result:\n%s", res.Output)
	}
	t.Logf("%s", strings.TrimSpace(res.Output))
	t.Logf("%d goroutines woken %v after the first Set; peak %d OS threads", parkedGoroutines, time.Duration(done-start), peak)
	if peak > maxThreads {
		t.Fatalf("%d OS threads with %d parked goroutines, at most %d allowed", peak, parkedGoroutines, maxThreads)
	}
	for _, s := range sems {
		if v := s.Value(); v != 0 {
			t.Errorf("semaphore holds %d, want 0", v)
		}
	}
	for _, mu := range mus {
		if o := mu.Owner(); o != 0 {
			t.Errorf("mutex held by %d after all unlocked", o)
		}
	}
}

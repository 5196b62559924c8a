//go:build linux && (amd64 || arm64)

package semaphore_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/shmkit/shmkit/semaphore"
	"github.com/shmkit/shmkit/shm"
)

// A Mutex guards data that several processes share. Here goroutines stand
// in for the processes; see OpenMutex for a second process.
func ExampleNewMutex() {
	mu, err := semaphore.NewMutex()
	if err != nil {
		fmt.Println(err)
		return
	}
	counter := 0
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range 1000 {
				if err := mu.Lock(); errors.Is(err, semaphore.ErrOwnerDead) {
					// We hold the lock; its last holder died inside it.
					// Check or repair the data here.
				}
				counter++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	fmt.Println(counter)
	// Output: 4000
}

// Another process finds a named Mutex in a segment it opens by name. The
// segment stands in for one made by another process.
func ExampleOpenMutex() {
	name := fmt.Sprintf("example-mutex-%d", os.Getpid())
	seg, err := shm.Create(name, 1<<20, nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer seg.Free()
	if _, err := semaphore.NewMutex(shm.In(seg, "printing")); err != nil {
		fmt.Println(err)
		return
	}

	// In the other process:
	other, err := shm.Open(context.Background(), name, nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer other.Close()
	mu, err := semaphore.OpenMutex(context.Background(), other, "printing")
	if err != nil {
		fmt.Println(err)
		return
	}
	mu.Lock()
	fmt.Println("hello world")
	mu.Unlock()
	// Output: hello world
}

func ExampleNewRLock() {
	rl, _ := semaphore.NewRLock()
	rl.Lock()
	rl.Lock() // the holding process may enter again
	fmt.Println("depth", rl.Depth())
	rl.Unlock()
	rl.Unlock()
	fmt.Println("owner", rl.Owner())
	// Output:
	// depth 2
	// owner 0
}

// A Semaphore limits how many workers use a resource at once.
func ExampleNew() {
	sem, _ := semaphore.New(3)
	ctx := context.Background()
	if err := sem.Acquire(ctx, 2); err != nil {
		fmt.Println(err)
	}
	err := sem.TryAcquire(2)
	fmt.Println("left", sem.Value(), "try 2 would block:", errors.Is(err, semaphore.ErrWouldBlock))
	sem.Release(2)
	fmt.Println("left", sem.Value())

	// A cancelled Acquire takes nothing.
	ctx, cancel := context.WithTimeout(ctx, 10*time.Millisecond)
	defer cancel()
	fmt.Println(sem.Acquire(ctx, 4), sem.Value())
	// Output:
	// left 1 try 2 would block: true
	// left 3
	// context deadline exceeded 3
}

func ExampleNewBounded() {
	sem, _ := semaphore.NewBounded(2)
	err := sem.Release(1)
	fmt.Println(errors.Is(err, semaphore.ErrOverRelease), sem.Value())
	// Output: true 2
}

// An Event wakes every waiter, in every process.
func ExampleNewEvent() {
	ev, _ := semaphore.NewEvent()
	var wg sync.WaitGroup
	for i := range 3 {
		wg.Go(func() {
			ev.Wait(context.Background())
			_ = i
		})
	}
	ev.Set()
	wg.Wait()
	fmt.Println("all woke; set:", ev.IsSet())

	ev.Clear()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	fmt.Println(ev.Wait(ctx)) // Python's wait(timeout) returning False
	// Output:
	// all woke; set: true
	// context deadline exceeded
}

// A Cond lets consumers wait for a condition on shared state.
func ExampleNewCond() {
	mu, _ := semaphore.NewMutex()
	cond, _ := semaphore.NewCond(mu)
	items := 0
	done := make(chan struct{})
	go func() {
		defer close(done)
		mu.Lock()
		defer mu.Unlock()
		cond.WaitFor(context.Background(), func() bool { return items > 0 })
		fmt.Println("consumed", items)
	}()
	mu.Lock()
	items = 1
	cond.Broadcast()
	mu.Unlock()
	<-done
	// Output: consumed 1
}

// A Cond on an RLock is Python's default Condition(): code holding the
// lock may call helpers that take it again, and Wait, at any depth,
// releases it for the others and takes it back at that depth.
func ExampleNewCond_rlock() {
	rl, _ := semaphore.NewRLock()
	cond, _ := semaphore.NewCond(rl)
	rl.Lock()
	rl.Lock() // a helper entering it again
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	err := cond.Wait(ctx) // nobody signals: it gives up, holding rl again
	fmt.Println(err, rl.Depth(), cond.L() == rl)
	rl.Unlock()
	rl.Unlock()
	fmt.Println(rl.Locked())
	// Output:
	// context deadline exceeded 2 true
	// false
}

// A Barrier holds its parties until all have arrived.
func ExampleNewBarrier() {
	bar, _ := semaphore.NewBarrier(3)
	var wg sync.WaitGroup
	seen := make([]bool, 3)
	var mu sync.Mutex
	for range 3 {
		wg.Go(func() {
			i, err := bar.Wait(context.Background())
			if err != nil {
				fmt.Println(err)
				return
			}
			mu.Lock()
			seen[i] = true
			mu.Unlock()
		})
	}
	wg.Wait()
	fmt.Println(seen)

	bar.Abort()
	_, err := bar.Wait(context.Background())
	fmt.Println(err)
	bar.Reset()
	fmt.Println("broken:", bar.Broken())
	// Output:
	// [true true true]
	// semaphore: broken barrier
	// broken: false
}

// Locked tells whether some process holds a lock now, without taking it.
func ExampleMutex_Locked() {
	mu, err := semaphore.NewMutex()
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(mu.Locked())
	_ = mu.Lock()
	fmt.Println(mu.Locked())
	mu.Unlock()
	fmt.Println(mu.Locked())
	// Output:
	// false
	// true
	// false
}

// An RLock stays locked until its holder has left every level.
func ExampleRLock_Locked() {
	r, err := semaphore.NewRLock()
	if err != nil {
		fmt.Println(err)
		return
	}
	_ = r.Lock()
	_ = r.Lock()
	r.Unlock()
	fmt.Println(r.Locked(), r.Depth())
	r.Unlock()
	fmt.Println(r.Locked(), r.Depth())
	// Output:
	// true 1
	// false 0
}

// A Locker view passes a Mutex to an API that takes a sync.Locker, here a
// sync.Cond of this process. A Lock that took the lock from a dead holder
// leaves the death in LastOwnerDead for the holder to look at.
func ExampleMutex_Locker() {
	mu, err := semaphore.NewMutex()
	if err != nil {
		fmt.Println(err)
		return
	}
	k := mu.Locker()
	ready := false
	c := sync.NewCond(k)
	go func() {
		k.Lock()
		ready = true
		k.Unlock()
		c.Signal()
	}()
	k.Lock()
	if err := k.LastOwnerDead(); err != nil {
		// We hold the lock; its last holder died inside it.
		fmt.Println("repairing after", err)
	}
	for !ready {
		c.Wait()
	}
	k.Unlock()
	fmt.Println(ready)
	// Output: true
}

// The Locker view of an RLock enters it again in the process holding it.
func ExampleRLock_Locker() {
	r, err := semaphore.NewRLock()
	if err != nil {
		fmt.Println(err)
		return
	}
	var k sync.Locker = r.Locker()
	k.Lock()
	k.Lock()
	fmt.Println(r.Depth())
	k.Unlock()
	k.Unlock()
	fmt.Println(r.Locked())
	// Output:
	// 2
	// false
}

// An action runs once a round, in the last party to arrive, before any
// party is released. Each process sets its own action on its handle; here
// goroutines stand in for the processes, sharing one handle.
func ExampleBarrier_SetAction() {
	x, err := semaphore.NewBarrier(3)
	if err != nil {
		fmt.Println(err)
		return
	}
	var mu sync.Mutex
	results := []int{}
	x.SetAction(func() error {
		fmt.Println("all 3 arrived:", len(results))
		return nil
	})
	var wg sync.WaitGroup
	for i := range 3 {
		wg.Go(func() {
			mu.Lock()
			results = append(results, i)
			mu.Unlock()
			if _, err := x.Wait(context.Background()); err != nil {
				fmt.Println(err)
			}
		})
	}
	wg.Wait()

	// An action's error breaks the barrier: the party that ran it gets
	// the error, the others ErrBrokenBarrier.
	x.SetAction(func() error { return errors.New("bad round") })
	for range 3 {
		wg.Go(func() {
			_, err := x.Wait(context.Background())
			fmt.Println(err)
		})
	}
	wg.Wait()
	// Unordered output:
	// all 3 arrived: 3
	// semaphore: broken barrier
	// semaphore: broken barrier
	// semaphore: broken barrier: action: bad round
}

// An RWMutex lets many readers in at once, in any processes, or one
// writer. Here goroutines stand in for the processes.
func ExampleNewRWMutex() {
	rw, err := semaphore.NewRWMutex()
	if err != nil {
		fmt.Println(err)
		return
	}
	config := map[string]int{"workers": 4}
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			if err := rw.RLock(); errors.Is(err, semaphore.ErrOwnerDead) {
				// We hold a read lock; a writer died inside the lock
				// (or a reader holding it). The data may be half written.
			}
			_ = config["workers"]
			rw.RUnlock()
		})
	}
	if err := rw.Lock(); err != nil && !errors.Is(err, semaphore.ErrOwnerDead) {
		fmt.Println(err)
		return
	}
	config["workers"] = 8
	rw.Unlock()
	wg.Wait()

	if err := rw.RLock(); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(config["workers"], rw.Readers())
	rw.RUnlock()
	// Output: 8 1
}

// RLocker gives the read side of an RWMutex to an API that takes a
// sync.Locker.
func ExampleRWMutex_RLocker() {
	rw, err := semaphore.NewRWMutex()
	if err != nil {
		fmt.Println(err)
		return
	}
	var l sync.Locker = rw.RLocker()
	l.Lock()
	l.Lock() // readers share it
	fmt.Println(rw.Readers(), rw.TryLock() != nil)
	l.Unlock()
	l.Unlock()
	fmt.Println(rw.Readers(), rw.TryLock())
	rw.Unlock()
	// Output:
	// 2 true
	// 0 <nil>
}

// Every object counts the events of its slow paths in its shared memory;
// Stats reads them, and shm.Metrics reads the same from the object alone,
// as a monitoring tool does. Here two goroutines stand in for the parties
// of a Barrier.
func ExampleBarrier_Stats() {
	b, err := semaphore.NewBarrier(2)
	if err != nil {
		fmt.Println(err)
		return
	}
	ctx := context.Background()
	var wg sync.WaitGroup
	for range 2 {
		wg.Go(func() {
			for range 3 {
				b.Wait(ctx)
			}
		})
	}
	wg.Wait()
	b.Abort()
	st := b.Stats()
	fmt.Printf("rounds %d, breaks %d\n", st.Rounds, st.Breaks)

	o, err := shm.Resolve(b.Handle())
	if err != nil {
		fmt.Println(err)
		return
	}
	ms, err := shm.Metrics(o)
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, m := range ms[:2] {
		fmt.Println(m.Name, m.Value)
	}
	// Output:
	// rounds 3, breaks 1
	// rounds 3
	// breaks 1
}

//go:build linux

package park

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/shmkit/shmkit/internal/sys"
)

// direct counts the goroutines sleeping in FUTEX_WAIT themselves.
var direct atomic.Int32

func wait(ctx context.Context, addr *uint32, val uint32, timeout time.Duration) error {
	if atomic.LoadUint32(addr) != val {
		return nil
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	var deadline time.Time
	if timeout >= 0 {
		deadline = time.Now().Add(timeout)
	}
	if direct.Add(1) <= MaxDirect {
		slice := DirectSlice
		if timeout >= 0 && timeout < slice {
			slice = timeout
		}
		var stop func() bool
		if ctx.Done() != nil {
			// A cancellation wakes every sleeper on the word, here and in
			// other processes; the others take it as a spurious wake-up.
			stop = context.AfterFunc(ctx, func() { sys.FutexWake(addr, -1) })
		}
		err := sys.FutexWait(addr, val, slice)
		direct.Add(-1)
		if stop != nil {
			stop()
		}
		if cerr := ctx.Err(); cerr != nil {
			return cerr
		}
		if !errors.Is(err, sys.ErrTimedOut) {
			return nil
		}
		if timeout >= 0 && timeout <= slice {
			return ErrTimeout
		}
	} else {
		direct.Add(-1)
	}
	return dispatch(ctx, addr, val, deadline)
}

// The dispatchers' state, all under mu.
var (
	mu          sync.Mutex
	entries     = map[key]*entry{}
	dispatchers []*dispatcher
	waiting     int
	polling     atomic.Int32
)

type key struct {
	addr *uint32 // into a shared mapping, never into Go memory
	val  uint32
}

// entry is one word a dispatcher sleeps on, with the goroutines waiting for
// it to change.
type entry struct {
	key
	d       *dispatcher
	i       int // index in d.entries
	waiters []*waiter
}

type waiter struct {
	ch chan struct{} // capacity 1: a wake-up never blocks the dispatcher
	e  *entry
	i  int // index in e.waiters
}

var waiters = sync.Pool{New: func() any { return &waiter{ch: make(chan struct{}, 1)} }}

// perDispatcher is futex_waitv's limit of 128 words, less the control word.
const perDispatcher = 127

type dispatcher struct {
	// ctl is the control word: registering a new word bumps it and wakes
	// the dispatcher so that it sleeps on the new set. It lives in Go memory
	// that dispatchers keeps alive, and the garbage collector never moves.
	ctl     uint32
	entries []*entry
}

func dispatch(ctx context.Context, addr *uint32, val uint32, deadline time.Time) error {
	w := waiters.Get().(*waiter)
	mu.Lock()
	if atomic.LoadUint32(addr) != val {
		mu.Unlock()
		waiters.Put(w)
		return nil
	}
	k := key{addr, val}
	e := entries[k]
	var kick *dispatcher
	if e == nil {
		d := dispatcherWithRoom()
		if d == nil {
			mu.Unlock()
			waiters.Put(w)
			return poll(ctx, addr, val, deadline)
		}
		e = &entry{key: k, d: d, i: len(d.entries)}
		d.entries = append(d.entries, e)
		entries[k] = e
		atomic.AddUint32(&d.ctl, 1)
		kick = d
	}
	w.e, w.i = e, len(e.waiters)
	e.waiters = append(e.waiters, w)
	waiting++
	mu.Unlock()
	if kick != nil {
		sys.FutexWake(&kick.ctl, 1)
	}

	var timer <-chan time.Time
	if !deadline.IsZero() {
		t := time.NewTimer(time.Until(deadline))
		defer t.Stop()
		timer = t.C
	}
	var err error
	select {
	case <-w.ch:
		waiters.Put(w)
		return nil
	case <-ctx.Done():
		err = ctx.Err()
	case <-timer:
		err = ErrTimeout
	}
	mu.Lock()
	var idle *dispatcher
	if e := w.e; e != nil {
		d := e.d
		e.remove(w)
		if len(d.entries) == 0 {
			// Let it see it has nothing left, so that it can end.
			atomic.AddUint32(&d.ctl, 1)
			idle = d
		}
	}
	mu.Unlock()
	if idle != nil {
		sys.FutexWake(&idle.ctl, 1)
	}
	select { // a wake-up that raced with the give-up
	case <-w.ch:
	default:
	}
	waiters.Put(w)
	return err
}

// dispatcherWithRoom returns a dispatcher that can take another word,
// starting one if there is room for it, or nil. Called with mu held.
func dispatcherWithRoom() *dispatcher {
	for _, d := range dispatchers {
		if len(d.entries) < perDispatcher {
			return d
		}
	}
	if len(dispatchers) == MaxDispatchers {
		return nil
	}
	d := &dispatcher{}
	dispatchers = append(dispatchers, d)
	go d.run()
	return d
}

// remove takes w off e, and e off its dispatcher when no one is left. The
// dispatcher may go on sleeping on the word until its next wake-up; that
// costs nothing. Called with mu held.
func (e *entry) remove(w *waiter) {
	last := e.waiters[len(e.waiters)-1]
	e.waiters[w.i], last.i = last, w.i
	e.waiters = e.waiters[:len(e.waiters)-1]
	w.e = nil
	waiting--
	if len(e.waiters) == 0 {
		e.drop()
	}
}

// drop takes e off its dispatcher and the index. Called with mu held.
func (e *entry) drop() {
	d := e.d
	last := d.entries[len(d.entries)-1]
	d.entries[e.i], last.i = last, e.i
	d.entries = d.entries[:len(d.entries)-1]
	delete(entries, e.key)
	e.d = nil
}

// fire wakes every goroutine waiting on e and drops it. Called with mu held.
func (e *entry) fire() {
	for _, w := range e.waiters {
		w.e = nil
		select {
		case w.ch <- struct{}{}:
		default:
		}
	}
	waiting -= len(e.waiters)
	e.waiters = nil
	e.drop()
}

// idleExit is how long a dispatcher with no words stays before it ends.
const idleExit = time.Second

func (d *dispatcher) run() {
	var (
		vs   []sys.Waitv
		snap []*entry
	)
	for {
		mu.Lock()
		vs, snap = vs[:0], snap[:0]
		vs = append(vs, sys.Waitv{})
		vs[0].Set(&d.ctl, atomic.LoadUint32(&d.ctl))
		for _, e := range d.entries {
			var v sys.Waitv
			v.Set(e.addr, e.val)
			vs = append(vs, v)
			snap = append(snap, e)
		}
		mu.Unlock()

		var deadline time.Time
		if len(snap) == 0 {
			deadline = time.Now().Add(idleExit)
		}
		i, err := sys.FutexWaitv(vs, deadline)

		mu.Lock()
		if len(snap) == 0 && len(d.entries) == 0 && errors.Is(err, sys.ErrTimedOut) {
			// Idle for idleExit: end, and give the thread back.
			for j, x := range dispatchers {
				if x == d {
					dispatchers = append(dispatchers[:j], dispatchers[j+1:]...)
					break
				}
			}
			mu.Unlock()
			return
		}
		if i > 0 && i <= len(snap) && snap[i-1].d == d {
			snap[i-1].fire()
		}
		bad := err != nil && !errors.Is(err, sys.ErrTimedOut)
		for j := 0; j < len(d.entries); {
			e := d.entries[j]
			if bad || atomic.LoadUint32(e.addr) != e.val {
				e.fire() // moves the last entry to j
				continue
			}
			j++
		}
		mu.Unlock()
		if bad {
			// A word's memory went away under a waiter (EFAULT), or the
			// kernel lacks futex_waitv: its goroutines were woken to see for
			// themselves; do not spin on the error.
			time.Sleep(PollMax)
		}
	}
}

// poll waits by looking at the word with a growing interval, for when the
// dispatchers are full. It returns nil when the word changed or after
// PollMax without change (a spurious wake-up, so that callers re-check).
func poll(ctx context.Context, addr *uint32, val uint32, deadline time.Time) error {
	polling.Add(1)
	defer polling.Add(-1)
	t := time.NewTimer(50 * time.Microsecond)
	defer t.Stop()
	for d := 50 * time.Microsecond; ; {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
		if atomic.LoadUint32(addr) != val || d >= PollMax {
			return nil
		}
		if !deadline.IsZero() && !time.Now().Before(deadline) {
			return ErrTimeout
		}
		d = min(2*d, PollMax)
		t.Reset(d)
	}
}

func snapshot() Stats {
	mu.Lock()
	defer mu.Unlock()
	return Stats{Direct: int(direct.Load()), Dispatchers: len(dispatchers), Words: len(entries),
		Waiters: waiting, Polling: int(polling.Load())}
}

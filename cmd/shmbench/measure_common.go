//go:build linux

package main

// What the measures share: the children of a measure and the watch kept on
// them, the shared words children report through, and the repetitions of a
// timed loop.
//
// A measure that runs across processes starts its children with package
// process (registered at package level, named "shmbench.*"), hands them its
// shared objects inside the argument, and meets them at a Barrier before
// and after each repetition (the round trips end theirs with a marked
// round instead), so that the clock runs only while the messages move:
// start-up, the taking of roles and the exit of the children are not
// timed. Every wait of the measure's process ends when a child exits
// before its time (the group's context), and every child is reaped before
// the measure returns, killed if it outstays joinGuard. Everything shared
// lives in the default heap (memfd segments, nothing under /dev/shm) and
// is freed when the measure ends.

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/shmkit/shmkit/internal/mem"
	"github.com/shmkit/shmkit/process"
	"github.com/shmkit/shmkit/semaphore"
	"github.com/shmkit/shmkit/shm"
)

const (
	// rateReps is how many repetitions of cfg.dur a measure makes
	// (quickReps in a quick run); its figure is their median. A pair of
	// measures makes as many, each.
	rateReps = 9
	// quickReps is how many repetitions every measure makes in a quick
	// run, and every pair: enough to show how much a ratio moves.
	quickReps = 7
	// joinGuard bounds how long a child may take to exit once its work is
	// done, and every other wait that no timed loop bounds.
	joinGuard = 20 * time.Second
	// endMark ends a repetition's stream of numbered messages.
	endMark = ^uint64(0)
)

// group is the children of one measure.
type group struct {
	// ctx ends when a child exits before the measure let it (or when the
	// measure's own context ends): every wait of the measure's process
	// on its children takes it.
	ctx     context.Context
	cancel  context.CancelFunc
	procs   []*process.Process
	ending  atomic.Bool                     // the children may exit now
	early   atomic.Pointer[process.Process] // the first that exited before that
	stop    context.CancelFunc              // ends the watchers
	stopCtx context.Context
	wg      sync.WaitGroup
}

func newGroup(ctx context.Context) *group {
	g := &group{}
	g.ctx, g.cancel = context.WithCancel(ctx)
	g.stopCtx, g.stop = context.WithCancel(context.Background())
	return g
}

// start starts a daemon child running t with arg (it dies with this
// process, whatever happens to it), and watches it.
func start[A any](g *group, t process.Target[A], arg A) error {
	p := process.New(t, arg, process.Daemon(true), process.Name(t.Name()))
	if err := p.Start(); err != nil {
		return err
	}
	g.procs = append(g.procs, p)
	g.wg.Go(func() {
		var ee *process.ExitError // Join's answer for a child that exited, as nil is
		if err := p.Join(g.stopCtx); (err == nil || errors.As(err, &ee)) && !g.ending.Load() {
			g.early.CompareAndSwap(nil, p)
			g.cancel()
		}
	})
	return nil
}

// why explains err, which a wait on a child returned: which child exited
// before its time, with what code, when one did. A pipe or socket fails as
// soon as the child's end closes, before the child is reaped: why waits a
// little for that.
func (g *group) why(err error) error {
	if g.early.Load() == nil && !g.ending.Load() {
		select {
		case <-g.ctx.Done():
		case <-time.After(time.Second):
		}
	}
	if p := g.early.Load(); p != nil {
		code, _ := p.ExitCode()
		return fmt.Errorf("%s exited with code %d before the measure ended (its stderr says why): %w", p.Name(), code, err)
	}
	return err
}

// join lets the children exit, waits for each (killing one that takes more
// than joinGuard), and reports the first that failed.
func (g *group) join() error {
	g.ending.Store(true)
	ctx, cancel := context.WithTimeout(context.Background(), joinGuard)
	defer cancel()
	var first error
	for _, p := range g.procs {
		if err := p.Join(ctx); err != nil {
			p.Kill()
			first = firstErr(first, fmt.Errorf("%s had not exited %v after its work was done", p.Name(), joinGuard))
			continue
		}
		if code, _ := p.ExitCode(); code != 0 {
			first = firstErr(first, fmt.Errorf("%s exited with code %d (its stderr says why)", p.Name(), code))
		}
	}
	g.close()
	return first
}

// kill ends the children that are still there and reaps them: how a
// measure that failed cleans up. After join it does nothing.
func (g *group) kill() {
	g.ending.Store(true)
	for _, p := range g.procs {
		p.Kill()
	}
	ctx, cancel := context.WithTimeout(context.Background(), joinGuard)
	defer cancel()
	for _, p := range g.procs {
		p.Join(ctx)
	}
	g.close()
}

func (g *group) close() {
	g.stop()
	g.wg.Wait()
	g.cancel()
}

func firstErr(first, err error) error {
	if first != nil {
		return first
	}
	return err
}

// newWords places in the default heap a block of shared 64-bit words,
// through which children report counts and sums: slot i is the cache line
// at 64*i, and word j of it is at 64*i + 8*j (see word).
// newRig makes what a measure across processes shares besides its ring or
// queue: words for counts and sums, a barrier of parties that brackets
// each repetition, and the group of its children. done kills the children
// and frees the words and the barrier.
func newRig(ctx context.Context, slots, parties int) (words *shm.Object, bar *semaphore.Barrier, g *group, done func(), err error) {
	words, err = newWords(slots)
	if err != nil {
		return nil, nil, nil, nil, err
	}
	bar, err = semaphore.NewBarrier(parties)
	if err != nil {
		words.Free()
		return nil, nil, nil, nil, err
	}
	g = newGroup(ctx)
	return words, bar, g, func() {
		g.kill()
		bar.Free()
		words.Free()
	}, nil
}

// childReps is a child's side of a measure's repetitions: reps times, it
// meets the parent at bar, runs rep (which reports through the shared
// words), and meets the parent at bar again.
func childReps(ctx context.Context, bar *semaphore.Barrier, reps int, rep func() error) error {
	for range reps {
		if _, err := bar.Wait(ctx); err != nil {
			return err
		}
		if err := rep(); err != nil {
			return err
		}
		if _, err := bar.Wait(ctx); err != nil {
			return err
		}
	}
	return nil
}

// parentRep is this process's side of one repetition of a measure across
// processes: it meets the children of g at bar, runs mine, and meets them
// at bar again; it returns mine's count and the time from the first
// meeting to the second.
func parentRep(g *group, bar *semaphore.Barrier, mine func() (uint64, error)) (uint64, time.Duration, error) {
	if _, err := bar.Wait(g.ctx); err != nil {
		return 0, 0, g.why(err)
	}
	t0 := time.Now()
	n, err := mine()
	if err != nil {
		return 0, 0, err
	}
	if _, err := bar.Wait(g.ctx); err != nil {
		return 0, 0, g.why(err)
	}
	return n, time.Since(t0), nil
}

// registerOne registers a measure that gives one figure, name, from the
// repetitions f returns.
func registerOne(label, name string, f func(context.Context, config) ([]float64, error)) {
	register(measure{label: label, names: []string{name}, pairable: true, run: func(ctx context.Context, cfg config) (figures, error) {
		xs, err := f(ctx, cfg)
		if err != nil {
			return nil, err
		}
		return figures{name: cfg.note(name, xs)}, nil
	}})
}

func newWords(slots int) (*shm.Object, error) {
	return shm.Place(shm.Spec{Kind: shm.KindBytes, Size: uint64(64 * slots)}, nil)
}

func word(o *shm.Object, slot, j int) *uint64 {
	return mem.Uint64(o.Bytes(), uintptr(64*slot+8*j))
}

// resolve attaches a child to the words its parent handed it.
func resolve(h shm.Handle) (*shm.Object, error) {
	o, err := shm.Resolve(h)
	if err != nil {
		return nil, fmt.Errorf("the shared words: %w", err)
	}
	return o, nil
}

// repeat runs rep n times and returns what each repetition measured, in
// order. It stops at the first error, or when ctx ends.
func repeat(ctx context.Context, n int, rep func() (float64, error)) ([]float64, error) {
	xs := make([]float64, 0, n)
	for range n {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		x, err := rep()
		if err != nil {
			return nil, err
		}
		xs = append(xs, x)
	}
	return xs, nil
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// repeat is repeat for a measure of cfg: when the measure is paired with
// another, its repetitions alternate with the other's (see pairing), and
// there are as many as the pairing says, which reps gives too.
func (cfg config) repeat(ctx context.Context, n int, rep func() (float64, error)) ([]float64, error) {
	if cfg.turn != nil {
		return cfg.turn.repeat(ctx, rep)
	}
	return repeat(ctx, n, rep)
}

// reps is how many repetitions of cfg.dur each a measure makes: n, or
// quickReps in a quick run, or the pairing's count when the measure is
// paired.
func reps(cfg config, n int) int {
	if cfg.turn != nil {
		return cfg.turn.p.n
	}
	if cfg.quick {
		return quickReps
	}
	return n
}

// timer ends a timed loop: over, called once an iteration, reports true
// once d has passed since newTimer, or ctx has ended (the loop then ends as
// if in time, and what follows it fails on the context). A timer of the
// runtime raises a flag, so that an iteration pays one atomic load, not a
// look at the clock, and a loop whose iterations slow down to milliseconds
// (a round trip the scheduler delays) still ends in time. A loop that ends
// early calls stop.
type timer struct {
	up   atomic.Bool
	t    *time.Timer
	done func() bool
}

func newTimer(ctx context.Context, d time.Duration) *timer {
	t := &timer{}
	t.t = time.AfterFunc(d, func() { t.up.Store(true) })
	t.done = context.AfterFunc(ctx, func() { t.up.Store(true) })
	return t
}

func (t *timer) over() bool {
	if !t.up.Load() {
		return false
	}
	t.stop()
	return true
}

// stop releases the timer; over calls it when it reports true.
func (t *timer) stop() {
	t.t.Stop()
	t.done()
}

// procFD is the path through which another process opens this process's
// file descriptor fd: for a pipe, a new open file of the same pipe.
func procFD(pid int, fd uintptr) string {
	return "/proc/" + strconv.Itoa(pid) + "/fd/" + strconv.FormatUint(uint64(fd), 10)
}

// rawFD is f's descriptor, without making it blocking as f.Fd does.
func rawFD(f *os.File) (uintptr, error) {
	sc, err := f.SyscallConn()
	if err != nil {
		return 0, err
	}
	var fd uintptr
	if err := sc.Control(func(x uintptr) { fd = x }); err != nil {
		return 0, err
	}
	return fd, nil
}

// errLost: a check on what was delivered failed.
var errLost = errors.New("messages lost or duplicated")

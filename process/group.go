package process

import (
	"context"
	"fmt"
	"sync"
)

// Group is a group of processes started together and waited for together,
// errgroup's shape: Start each, then Wait, which returns the first
// failure.
//
// The first child that fails (Join's *ExitError), a Start that fails, or
// the end of the context given to NewGroup stops the group: every child
// still running is terminated (Terminate: its context is cancelled, then
// it dies of SIGTERM after a grace), and later Starts fail. This is what
// errgroup.WithContext does with its context, and for the same reason: the
// usual group is N workers on one job, which is lost when one fails, and a
// worker the group did not stop would hold Wait until its work is done for
// nothing. Processes that must run on whatever the others do are started
// on their own and joined one by one.
//
// A Group must not be copied. Start and Processes may be called from
// several goroutines; every Start comes before Wait, which ends the group.
type Group struct {
	ctx    context.Context
	cancel context.CancelCauseFunc
	stop   func() bool // unregisters the AfterFunc that terminates
	wg     sync.WaitGroup

	mu    sync.Mutex
	procs []*Process
	err   error // the first failure
}

// NewGroup makes an empty Group, stopped when ctx ends.
func NewGroup(ctx context.Context) *Group {
	g := &Group{}
	g.ctx, g.cancel = context.WithCancelCause(ctx)
	g.stop = context.AfterFunc(g.ctx, g.terminate)
	return g
}

// Start starts p as a member of the group. It fails, without starting p,
// once the group was stopped; a p that fails to start stops the group
// (Wait returns that error unless another came first), so that a loop of
// Starts may give up at the first error and still Wait for those started.
func (g *Group) Start(p *Process) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.ctx.Err() != nil {
		return fmt.Errorf("process: group stopped, %s not started: %w", p.Name(), context.Cause(g.ctx))
	}
	if err := p.Start(); err != nil {
		g.failLocked(err)
		return err
	}
	g.procs = append(g.procs, p)
	g.wg.Go(func() {
		if err := p.Join(context.Background()); err != nil {
			g.mu.Lock()
			g.failLocked(err)
			g.mu.Unlock()
		}
	})
	return nil
}

// failLocked records err unless a failure came first, and stops the group.
// A child that fails once the group's context ended (terminated with the
// others) is no first failure: the context's end is.
func (g *Group) failLocked(err error) {
	if g.err != nil {
		return
	}
	if g.ctx.Err() != nil {
		err = context.Cause(g.ctx)
	}
	g.err = err
	g.cancel(err)
}

// terminate ends every child of the group still running.
func (g *Group) terminate() {
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, p := range g.procs {
		p.Terminate()
	}
}

// Wait waits until every child started in the group has exited, and
// returns the first failure: a child's *ExitError (match it with
// errors.As), a Start's error, or the end of NewGroup's context (ctx.Err()
// or its cause). A group whose children all exited cleanly returns nil.
// Wait does not give up when the context ends: it terminates the
// children and waits for them to be gone, so that none is left behind.
func (g *Group) Wait() error {
	g.wg.Wait()
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.err == nil && g.ctx.Err() != nil {
		g.err = context.Cause(g.ctx)
	}
	g.stop()
	g.cancel(nil) // releases the context; later Starts fail
	return g.err
}

// Processes lists the children started in the group, in the order they
// were started.
func (g *Group) Processes() []*Process {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]*Process(nil), g.procs...)
}

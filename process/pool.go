package process

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/shmkit/shmkit/internal/rawq"
	"github.com/shmkit/shmkit/ringbuffer"
)

var (
	// ErrWorkerDied: the pool worker running the task ended before it
	// returned the task's result (it was killed, or called os.Exit). The
	// pool replaces the worker; only the tasks it held fail.
	ErrWorkerDied = errors.New("process: pool worker died during the task")
	// ErrPoolClosed: a task given to a pool after Close.
	ErrPoolClosed = errors.New("process: pool closed")
	// ErrPoolTerminated: the pool was terminated before the task finished.
	ErrPoolTerminated = errors.New("process: pool terminated")
	// ErrPoolRunning: Join before Close or Terminate.
	ErrPoolRunning = errors.New("process: pool still running: Close or Terminate it before Join")
	// ErrInitializer: the pool's initializer failed in a worker; the pool
	// ends, and every task fails with this error.
	ErrInitializer = errors.New("process: pool initializer failed")
)

// PoolOptions configure a Pool. The zero value is a pool of processes
// without an initializer.
type PoolOptions struct {
	// Initializer runs first in each worker (Python's initializer and
	// initargs); see Init.
	Initializer Initializer
	// MaxTasksPerChild ends a worker after that many tasks (a task is a
	// chunk of items) and starts a fresh one; 0 is no limit.
	MaxTasksPerChild int
	// ChunkSize is how many items travel to a worker as one task. 0: Map
	// takes len/(4 × workers), at most 4096; Imap and ImapUnordered take 1.
	// Chunk overrides it for one call.
	ChunkSize int
	// InProcess runs the workers as goroutines of this process, with the
	// same API (Python's multiprocessing.dummy): no encoding, no children.
	InProcess bool
	// QueueBytes is the size of each worker's task and result queues
	// (default 1 MiB). A task or result too large for it is split; a
	// single argument or result too large fails its item.
	QueueBytes int
}

// Initializer is a registered function and its argument, for
// PoolOptions.Initializer.
type Initializer struct {
	name string
	arg  []byte
	err  error
}

// Init makes an Initializer: each worker runs t(ctx, arg) before its
// first task. When it returns an error or panics, the pool fails with
// ErrInitializer. A worker whose initializer is still running takes no
// tasks.
func Init[A any](t Target[A], arg A) Initializer {
	if t.name == "" {
		return Initializer{err: fmt.Errorf("%w: a zero Target", ErrNotRegistered)}
	}
	b, err := encodeArg(arg)
	return Initializer{name: t.name, arg: b, err: err}
}

const (
	defaultQueueBytes = 1 << 20
	maxDefaultChunk   = 4096
	credit            = 2 // pieces a worker holds at most: one running, one waiting in its queue
	maxInitDeaths     = 8 // workers in a row that die before they are ready
)

type poolState int

const (
	running poolState = iota
	closing
	ended // terminated, or broken (p.err says which)
)

// Pool is a fixed number of worker processes that run registered
// functions (RegisterFunc) on the items given to Map, Imap, ImapUnordered,
// Starmap, Apply and ApplyAsync, as Python's multiprocessing.Pool.
//
// Arguments and results travel through two queues per worker in shared
// memory, in chunks. A worker that dies fails exactly the items it held
// with ErrWorkerDied and is replaced; the others go on. Workers are
// daemons: they end with the pool's process.
type Pool struct {
	n    int
	opts PoolOptions

	mu      sync.Mutex
	state   poolState
	err     error    // why the pool ended: ErrPoolTerminated or a failure
	pending []*piece // not yet given to a worker, in order
	spare   []*piece // an array for pending, kept from call to call
	nextID  uint64
	buf     []byte // a task being encoded
	sweep   uint64 // dispatch calls, for worker.full
	workers []*worker
	live    int // workers running
	deaths  int // workers in a row that died before they were ready
	done    chan struct{}

	// InProcess
	cond    *sync.Cond
	ctx     context.Context
	cancel  context.CancelFunc
	running map[*piece]bool
}

// worker is one slot of a process pool: its queues, and the process
// serving them now (a replacement takes over the same queues).
type worker struct {
	tasks, results *ringbuffer.Queue[[]byte]
	tq, rq         rawq.Queue // the same, their messages' bytes in place
	proc           *Process
	held           []*piece // sent to the worker, results not all back
	assigned       int      // tasks sent to this process
	ready          bool
	gone           bool   // no process serves the slot any more
	full           uint64 // the dispatch that found its queue full
	// short: the items held are few, their results microseconds away
	// (spinItems at most): the collector polls for them rather than
	// sleeping. It alone is read without p.mu.
	short atomic.Bool
}

// spinItems is how many items a worker may hold for its collector to poll
// for their results: a few calls of a function each, a round trip's time
// away. A chunk of more runs long enough that a wake-up costs little
// beside it, and a collector that polls meanwhile takes a CPU that the
// workers need.
const spinItems = 64

// counted counts the items w holds again. p.mu is held.
func (w *worker) counted() {
	n := 0
	for _, pc := range w.held {
		n += pc.n - pc.got
	}
	w.short.Store(n <= spinItems)
}

// piece is items off..off+n of a chunk: what one task message carries.
type piece struct {
	c      chunk
	id     uint64
	off, n int
	got    int // results received, in order from off
}

// chunk is the items of a call that travel together; part[A, R]
// implements it.
type chunk interface {
	call() caller
	encode(b []byte, off, n int) (head, body []byte, err error) // b appended, then the rest
	deliver(off, n int, payload []byte, errs []itemErr) error
	fail(off, n int, err error)
	run(ctx context.Context, off, n int) (commit func()) // InProcess; commit under p.mu
	finish(n int)                                        // n more items are settled
}

// caller is a call's side of the pool: whether it still wants results.
type caller interface {
	stopped() bool
	funcName() string
}

// NewPool starts a pool of n workers (CPUCount when n is 0). opts may be
// nil. The workers are started before it returns. A negative n, or a
// negative field of opts, fails with ErrInvalid.
func NewPool(n int, opts *PoolOptions) (*Pool, error) {
	var o PoolOptions
	if opts != nil {
		o = *opts
	}
	switch {
	case n < 0:
		return nil, fmt.Errorf("process: NewPool with %d workers: %w", n, ErrInvalid)
	case o.MaxTasksPerChild < 0 || o.ChunkSize < 0 || o.QueueBytes < 0:
		return nil, fmt.Errorf("process: NewPool: negative PoolOptions (MaxTasksPerChild %d, ChunkSize %d, QueueBytes %d): %w",
			o.MaxTasksPerChild, o.ChunkSize, o.QueueBytes, ErrInvalid)
	case o.Initializer.err != nil:
		return nil, fmt.Errorf("process: the pool's initializer: %w", o.Initializer.err)
	}
	if n == 0 {
		n = CPUCount()
	}
	if o.QueueBytes == 0 {
		o.QueueBytes = defaultQueueBytes
	}
	if o.Initializer.name != "" {
		if e, ok := lookup(o.Initializer.name); !ok || e.run == nil {
			return nil, fmt.Errorf("%w: initializer %q", ErrNotRegistered, o.Initializer.name)
		}
	}
	p := &Pool{n: n, opts: o, done: make(chan struct{})}
	p.cond = sync.NewCond(&p.mu)
	if o.InProcess {
		p.ctx, p.cancel = context.WithCancel(context.Background())
		p.running = map[*piece]bool{}
		p.live = n
		for range n {
			go p.localWorker()
		}
		return p, nil
	}
	if os.Getenv(envFunc) != "" {
		return nil, ErrNoMain
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for range n {
		w := &worker{}
		var err error
		if w.tasks, err = ringbuffer.NewQueue[[]byte]((o.QueueBytes + 255) / 256); err == nil {
			w.results, err = ringbuffer.NewQueue[[]byte]((o.QueueBytes + 255) / 256)
		}
		if err == nil {
			p.workers = append(p.workers, w)
			w.tasks.SetCodec(raw{})
			w.results.SetCodec(raw{})
			if w.tq, err = rawq.Of(w.tasks); err == nil {
				w.rq, err = rawq.Of(w.results)
			}
			if err == nil {
				err = p.startWorker(w)
			}
		} else if w.tasks != nil {
			w.tasks.Free()
		}
		if err != nil {
			p.end(err)
			if p.live == 0 {
				p.release()
			}
			return nil, fmt.Errorf("process: starting the pool: %w", err)
		}
	}
	return p, nil
}

// startWorker starts a process serving w's queues. p.mu is held.
func (p *Pool) startWorker(w *worker) error {
	proc := New(poolWorker, workerArg{
		Tasks: w.tasks, Results: w.results,
		Init: p.opts.Initializer.name, InitArg: p.opts.Initializer.arg,
		MaxTasks: p.opts.MaxTasksPerChild,
	}, Daemon(true))
	if err := proc.Start(); err != nil {
		w.gone = true
		return err
	}
	w.proc, w.held, w.assigned, w.ready, w.gone = proc, nil, 0, false, false
	w.counted()
	p.live++
	logger().Debug("added worker " + proc.Name())
	go p.collect(w, proc)
	return nil
}

// collect receives w's results while proc serves it, and then what proc
// sent before it ended.
func (p *Pool) collect(w *worker, proc *Process) {
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		<-proc.done
		cancel()
	}()
	var spin spinner
	r := &resultReader{p, w, proc}
	for {
		if err := spin.get(ctx, w.rq, r, &w.short); err != nil {
			if ctx.Err() == nil { // the queue itself failed: stop its worker
				logger().Error(fmt.Sprintf("pool worker %s: %v", proc.Name(), err))
				proc.Kill()
				<-proc.done
			}
			break
		}
		// The caller that waits for this result runs next on this thread,
		// rather than after a wake-up of another.
		runtime.Gosched()
	}
	for w.rq.TryGet(r) == nil {
	}
	p.workerEnded(w, proc)
}

// resultReader hands the messages of w's worker to the pool where they
// lie in its results queue.
type resultReader struct {
	p    *Pool
	w    *worker
	proc *Process
}

func (r *resultReader) Read(b []byte) error {
	r.p.receive(r.w, r.proc, b)
	return nil
}

// taskID reads the id of a task message, for the pool to take back the
// tasks a worker that ended left in its queue.
type taskID struct {
	id  uint64
	err error
}

func (t *taskID) Read(b []byte) error {
	m, _, err := parseTaskName(b)
	t.id, t.err = m.id, err
	return nil
}

// receive handles one message from w's worker. m is valid only during
// the call.
func (p *Pool) receive(w *worker, proc *Process, m []byte) {
	p.mu.Lock()
	defer p.mu.Unlock()
	r, err := parseResult(m)
	if err == nil {
		err = p.apply(w, r)
	}
	if err != nil { // a worker that sends what no worker sends is stopped
		logger().Error(fmt.Sprintf("pool worker %s: %v", proc.Name(), err))
		proc.Kill()
	}
	p.dispatch()
	p.closeIfIdle()
}

func (p *Pool) apply(w *worker, r resultMsg) error {
	if p.state == ended { // every task was settled already
		return nil
	}
	switch r.kind {
	case msgReady:
		w.ready, p.deaths = true, 0
		return nil
	case msgInitFailed:
		e := r.errs[0]
		te := &TaskError{Func: p.opts.Initializer.name, Message: e.msg, Panic: e.panic, Stack: e.stack}
		p.end(fmt.Errorf("%w: %w", ErrInitializer, te))
		return nil
	}
	i := 0
	for i < len(w.held) && w.held[i].id != r.id {
		i++
	}
	if i == len(w.held) {
		return fmt.Errorf("%w: a result for task %d, which it does not hold", errBadMessage, r.id)
	}
	pc := w.held[i]
	if r.off != pc.off+pc.got || r.count > pc.n-pc.got {
		return fmt.Errorf("%w: results %d..%d of a task of %d..%d with %d back", errBadMessage, r.off, r.off+r.count, pc.off, pc.off+pc.n, pc.got)
	}
	if !pc.c.call().stopped() {
		if err := pc.c.deliver(r.off, r.count, r.payload, r.errs); err != nil {
			pc.c.fail(r.off, r.count, fmt.Errorf("process: %s: the results: %w", pc.c.call().funcName(), err))
		}
		pc.c.finish(r.count)
	}
	pc.got += r.count
	if pc.got == pc.n {
		w.held = append(w.held[:i], w.held[i+1:]...)
	}
	w.counted()
	return nil
}

// workerEnded takes the tasks of a worker that ended back: those still in
// its queue go back to the pending ones, those it had taken fail with
// ErrWorkerDied. A replacement is started while there is work.
func (p *Pool) workerEnded(w *worker, proc *Process) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.live--
	code, _ := proc.ExitCode()
	var back []*piece
	var t taskID
	for w.tq.TryGet(&t) == nil {
		if t.err != nil {
			continue
		}
		for i, pc := range w.held {
			if pc.id == t.id {
				back = append(back, pc)
				w.held = append(w.held[:i], w.held[i+1:]...)
				break
			}
		}
	}
	if len(w.held) > 0 {
		logger().Warn(fmt.Sprintf("pool worker %s (pid %d) ended with exit code %d holding %d tasks", proc.Name(), proc.Pid(), code, len(w.held)))
	}
	died := fmt.Errorf("%w: %s (pid %d) ended with exit code %d", ErrWorkerDied, proc.Name(), proc.Pid(), code)
	for _, pc := range w.held {
		p.settle(pc, died)
	}
	w.held = nil
	old := p.pending
	p.pending = append(back, p.pending...)
	clear(old) // which may be p.spare
	w.gone = true
	if !w.ready && code != 0 && p.state != ended {
		if p.deaths++; p.deaths >= maxInitDeaths {
			p.end(fmt.Errorf("%w: %d workers in a row died before their initializer returned; the last: %w", ErrInitializer, p.deaths, died))
		}
	}
	if p.state == running || (p.state == closing && p.hasWork()) {
		if err := p.startWorker(w); err != nil {
			p.end(fmt.Errorf("process: replacing a pool worker: %w", err))
		}
	}
	p.dispatch()
	p.closeIfIdle()
	if p.live == 0 && p.state != running {
		p.release()
	}
}

// settle fails what is left of a piece with err.
func (p *Pool) settle(pc *piece, err error) {
	if left := pc.n - pc.got; left > 0 && !pc.c.call().stopped() {
		pc.c.fail(pc.off+pc.got, left, err)
		pc.c.finish(left)
	}
	pc.got = pc.n
}

// hasWork reports whether tasks are pending or held. p.mu is held.
func (p *Pool) hasWork() bool {
	for _, pc := range p.pending {
		if !pc.c.call().stopped() {
			return true
		}
	}
	for _, w := range p.workers {
		if len(w.held) > 0 {
			return true
		}
	}
	return len(p.running) > 0
}

// dispatch gives pending pieces to workers with room. p.mu is held.
func (p *Pool) dispatch() {
	if p.opts.InProcess {
		p.cond.Broadcast()
		return
	}
	p.sweep++
	for len(p.pending) > 0 && p.state != ended {
		pc := p.pending[0]
		if pc.c.call().stopped() {
			p.shift()
			continue
		}
		var w *worker
		for _, c := range p.workers {
			if c.gone || c.full == p.sweep || len(c.held) >= credit ||
				(p.opts.MaxTasksPerChild > 0 && c.assigned >= p.opts.MaxTasksPerChild) {
				continue
			}
			if w == nil || len(c.held) < len(w.held) {
				w = c
			}
		}
		if w == nil {
			return
		}
		pc.id = p.nextID
		p.nextID++
		head, body, err := pc.c.encode(appendTask(p.buf[:0], pc.id, pc.off, pc.n, pc.c.call().funcName()), pc.off, pc.n)
		p.buf = head
		size := len(head) + len(body)
		if err == nil {
			err = w.tq.TryPut(head, body)
		}
		if cap(p.buf) > 4*p.opts.QueueBytes {
			p.buf = nil // not kept beyond what the queues take
		}
		switch {
		case err == nil:
			p.shift()
			w.held = append(w.held, pc)
			w.assigned++
			w.counted()
		case errors.Is(err, ringbuffer.ErrFull):
			w.full = p.sweep
		case errors.Is(err, ringbuffer.ErrTooLarge) && pc.n > 1:
			half := pc.n / 2
			rest := &piece{c: pc.c, off: pc.off + half, n: pc.n - half}
			pc.n = half
			old := p.pending
			p.pending = append([]*piece{pc, rest}, p.pending[1:]...)
			clear(old) // which may be p.spare
		default:
			if errors.Is(err, ringbuffer.ErrTooLarge) {
				err = fmt.Errorf("process: %s: the argument (%d bytes) is larger than the pool's queue (PoolOptions.QueueBytes %d)", pc.c.call().funcName(), size, p.opts.QueueBytes)
			} else {
				err = fmt.Errorf("process: %s: %w", pc.c.call().funcName(), err)
			}
			p.shift()
			p.settle(pc, err)
		}
	}
}

// submit queues the pieces of a call. p.mu is held.
func (p *Pool) submit(pcs ...*piece) error {
	switch p.state {
	case closing:
		return ErrPoolClosed
	case ended:
		return p.err
	}
	if len(p.pending) == 0 { // start again from the front of the array
		p.pending = p.spare[:0]
	}
	p.pending = append(p.pending, pcs...)
	if cap(p.pending) > cap(p.spare) && cap(p.pending) <= maxSpare {
		p.spare = p.pending[:0]
	}
	p.dispatch()
	return nil
}

// maxSpare bounds the array of pending pieces the pool keeps.
const maxSpare = 1024

// shift takes the first pending piece off. p.mu is held.
func (p *Pool) shift() {
	p.pending[0] = nil // not kept alive by the array
	p.pending = p.pending[1:]
}

// Close stops the pool taking tasks: the workers finish those already
// given and then exit (Join waits for that).
func (p *Pool) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.state == running {
		p.state = closing
		p.closeIfIdle()
	}
	return nil
}

// closeIfIdle lets a closing pool's workers exit once no task is left.
// p.mu is held.
func (p *Pool) closeIfIdle() {
	if p.state != closing || p.hasWork() {
		return
	}
	if p.opts.InProcess {
		p.cond.Broadcast()
		return
	}
	for _, w := range p.workers {
		w.tasks.Shutdown()
	}
}

// Terminate ends the pool now: tasks not finished fail with
// ErrPoolTerminated, and the workers are sent SIGTERM (their context is
// cancelled; see Process.Terminate). Join waits until they are gone.
func (p *Pool) Terminate() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.end(ErrPoolTerminated)
	return nil
}

// end ends the pool with err: every task not finished fails with it, and
// the workers are stopped. p.mu is held.
func (p *Pool) end(err error) {
	if p.state == ended {
		return
	}
	select {
	case <-p.done: // joined: no worker is left, and the queues were freed
		p.state, p.err = ended, err
		return
	default:
	}
	if err != ErrPoolTerminated {
		logger().Error(err.Error())
	}
	p.state, p.err = ended, err
	for _, pc := range p.pending {
		p.settle(pc, err)
	}
	clear(p.pending)
	p.pending = nil
	if p.opts.InProcess {
		for pc := range p.running {
			p.settle(pc, err)
		}
		p.cancel()
		p.cond.Broadcast()
		return
	}
	for _, w := range p.workers {
		for _, pc := range w.held {
			p.settle(pc, err)
		}
		w.held = nil
		w.tasks.Shutdown()
		if !w.gone {
			w.proc.Terminate()
		}
	}
}

// release frees the queues once no worker is left. p.mu is held.
func (p *Pool) release() {
	select {
	case <-p.done:
		return
	default:
	}
	for _, w := range p.workers {
		w.tasks.Free()
		w.results.Free()
	}
	close(p.done)
}

// Join waits until every worker has exited, after Close or Terminate,
// or until ctx ends.
func (p *Pool) Join(ctx context.Context) error {
	p.mu.Lock()
	state := p.state
	p.mu.Unlock()
	if state == running {
		return ErrPoolRunning
	}
	select {
	case <-p.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Pids are the process ids of the pool's workers now (none InProcess).
func (p *Pool) Pids() []int {
	p.mu.Lock()
	defer p.mu.Unlock()
	var pids []int
	for _, w := range p.workers {
		if !w.gone {
			pids = append(pids, w.proc.Pid())
		}
	}
	return pids
}

// Size is the number of workers.
func (p *Pool) Size() int { return p.n }

// localWorker is one worker of an InProcess pool.
func (p *Pool) localWorker() {
	if name := p.opts.Initializer.name; name != "" {
		if err := runInit(p.ctx, name, p.opts.Initializer.arg); err != nil {
			p.mu.Lock()
			if p.state != ended {
				p.end(fmt.Errorf("%w: %w", ErrInitializer, taskError(name, err)))
			}
			p.localEnded()
			p.mu.Unlock()
			return
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	tasks := 0
	for {
		for p.state != ended && len(p.pending) == 0 && !(p.state == closing && !p.hasWork()) {
			p.cond.Wait()
		}
		if len(p.pending) == 0 || p.state == ended {
			p.localEnded()
			return
		}
		pc := p.pending[0]
		p.shift()
		if pc.c.call().stopped() {
			continue
		}
		p.running[pc] = true
		p.mu.Unlock()
		commit := pc.c.run(p.ctx, pc.off, pc.n)
		p.mu.Lock()
		delete(p.running, pc)
		if pc.got < pc.n { // not settled by end
			pc.got = pc.n
			if !pc.c.call().stopped() {
				commit()
				pc.c.finish(pc.n)
			}
		}
		p.closeIfIdle()
		if tasks++; p.opts.MaxTasksPerChild > 0 && tasks >= p.opts.MaxTasksPerChild && p.state != ended {
			go p.localWorker() // a fresh worker takes over, after its initializer
			return
		}
	}
}

// localEnded counts an InProcess worker out. p.mu is held.
func (p *Pool) localEnded() {
	p.live--
	p.cond.Broadcast()
	if p.live == 0 {
		p.cancel()
		close(p.done)
	}
}

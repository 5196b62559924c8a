package process

import (
	"context"
	"fmt"
	"iter"

	"github.com/shmkit/shmkit/internal/mem"
)

// call is one Map, Imap, ImapUnordered or Apply: its parts and who waits
// for them. Its fields are guarded by the pool's mutex.
type call[A, R any] struct {
	p         *Pool
	f         Func[A, R]
	halted    bool // the caller stopped waiting: results are dropped
	partsLeft int
	sealed    bool          // no part will be added
	done      chan struct{} // closed when sealed and every part settled
	unordered bool
	ready     []*part[A, R] // settled parts, in the order they settled (ImapUnordered)
	signal    chan struct{} // a part settled
}

func newCall[A, R any](p *Pool, f Func[A, R]) *call[A, R] {
	return &call[A, R]{p: p, f: f, done: make(chan struct{}), signal: make(chan struct{}, 1)}
}

func (c *call[A, R]) stopped() bool    { return c.halted }
func (c *call[A, R]) funcName() string { return c.f.name }

// halt drops what is left of the call.
func (c *call[A, R]) halt() {
	c.p.mu.Lock()
	c.halted = true
	c.p.mu.Unlock()
}

// wait waits for every part, or for ctx (then the call is dropped).
func (c *call[A, R]) wait(ctx context.Context) error {
	select {
	case <-c.done:
		return nil
	case <-ctx.Done():
		c.halt()
		return ctx.Err()
	}
}

func (c *call[A, R]) settled(pt *part[A, R]) {
	pt.settled = true
	c.partsLeft--
	if c.unordered {
		c.ready = append(c.ready, pt)
	}
	select {
	case c.signal <- struct{}{}:
	default:
	}
	if c.partsLeft == 0 && c.sealed {
		close(c.done)
	}
}

// add queues a part of args. p.mu is held.
func (c *call[A, R]) add(args []A, out []R) (*part[A, R], *piece) {
	pt := &part[A, R]{c: c, args: args, out: out, left: len(args)}
	c.partsLeft++
	return pt, &piece{c: pt, n: len(args)}
}

// part is a chunk of a call: its arguments, and their results and errors
// as they come back.
type part[A, R any] struct {
	c       *call[A, R]
	args    []A
	out     []R
	errs    []error // by item, once one failed
	left    int
	settled bool
}

func (pt *part[A, R]) call() caller { return pt.c }

func (pt *part[A, R]) encode(b []byte, off, n int) (head, body []byte, err error) {
	if pt.c.f.ac.size > 0 { // the arguments go from where they are into the queue
		return b, mem.SliceBytes(pt.args[off : off+n]), nil
	}
	b, err = pt.c.f.ac.append(b, pt.args[off:off+n])
	return b, nil, err
}

func (pt *part[A, R]) deliver(off, n int, payload []byte, errs []itemErr) error {
	if len(errs) < n {
		if err := pt.c.f.rc.decode(payload, pt.out[off:off+n]); err != nil {
			return err
		}
	}
	for _, e := range errs {
		pt.setErr(off+e.index, &TaskError{Func: pt.c.f.name, Message: e.msg, Panic: e.panic, Stack: e.stack})
	}
	return nil
}

func (pt *part[A, R]) fail(off, n int, err error) {
	for i := off; i < off+n; i++ {
		pt.setErr(i, err)
	}
}

func (pt *part[A, R]) setErr(i int, err error) {
	if pt.errs == nil {
		pt.errs = make([]error, len(pt.args))
	}
	pt.errs[i] = err
}

func (pt *part[A, R]) run(ctx context.Context, off, n int) func() {
	out := make([]R, n)
	var errs []error
	for i := range n {
		r, err := callItem(ctx, pt.c.f.fn, pt.args[off+i])
		if err != nil {
			if errs == nil {
				errs = make([]error, n)
			}
			errs[i] = taskError(pt.c.f.name, err)
		}
		out[i] = r
	}
	return func() {
		copy(pt.out[off:], out)
		for i, err := range errs {
			if err != nil {
				pt.setErr(off+i, err)
			}
		}
	}
}

func (pt *part[A, R]) finish(n int) {
	if pt.left -= n; pt.left == 0 {
		pt.c.settled(pt)
	}
}

// item is the result and error of item i.
func (pt *part[A, R]) item(i int) (R, error) {
	if pt.errs != nil && pt.errs[i] != nil {
		var zero R
		return zero, pt.errs[i]
	}
	return pt.out[i], nil
}

// CallOption configures one Map, Imap, ImapUnordered or Starmap call.
type CallOption func(*callConfig)

type callConfig struct{ chunk int }

// Chunk sends n items to a worker as one task in this call, over
// PoolOptions.ChunkSize (Python's chunksize argument); 0 keeps the pool's.
// A negative n fails the call with ErrInvalid.
func Chunk(n int) CallOption {
	return func(c *callConfig) { c.chunk = n }
}

// chunkSize is the chunk size a call's options ask for, else the pool's;
// 0 when neither says.
func (p *Pool) chunkSize(opts []CallOption) (int, error) {
	var c callConfig
	for _, o := range opts {
		o(&c)
	}
	switch {
	case c.chunk < 0:
		return 0, fmt.Errorf("process: Chunk(%d): %w", c.chunk, ErrInvalid)
	case c.chunk > 0:
		return c.chunk, nil
	}
	return p.opts.ChunkSize, nil
}

// check reports a Func that RegisterFunc did not make.
func (f Func[A, R]) check() error {
	if f.fn == nil {
		return fmt.Errorf("%w: a zero Func", ErrNotRegistered)
	}
	return nil
}

// Map runs f on every argument in the pool's workers, in chunks, and
// returns the results in order (Python's Pool.map). When an item fails,
// Map returns the error of the first failed item; MapAll gives the
// results of the others too. When ctx ends, Map returns its error at
// once; chunks already running finish in their workers, and their
// results are dropped. Chunk sets the chunk size.
func Map[A, R any](ctx context.Context, p *Pool, f Func[A, R], args []A, opts ...CallOption) ([]R, error) {
	m, err := startMap(p, f, args, opts)
	if err != nil {
		return nil, err
	}
	if err := m.c.wait(ctx); err != nil {
		return nil, err
	}
	return m.result()
}

// MapAll is Map giving every item's outcome: the results in order, the zero R for an item that failed, and errs, nil when no
// item failed, else one per item, nil for those that succeeded. err is
// the call's own failure (ctx, a closed pool, an unregistered Func);
// then there are no results.
func MapAll[A, R any](ctx context.Context, p *Pool, f Func[A, R], args []A, opts ...CallOption) (results []R, errs []error, err error) {
	m, err := startMap(p, f, args, opts)
	if err != nil {
		return nil, nil, err
	}
	if err := m.c.wait(ctx); err != nil {
		return nil, nil, err
	}
	base := 0
	for _, pt := range m.parts {
		for i, e := range pt.errs {
			if e == nil {
				continue
			}
			if errs == nil {
				errs = make([]error, len(args))
			}
			errs[base+i] = e
			var zero R
			m.out[base+i] = zero // an InProcess f may return a value beside its error
		}
		base += len(pt.args)
	}
	return m.out, errs, nil
}

// MapAsync is Map returning at once (Python's Pool.map_async): the
// AsyncResult gives what Map would have returned. Waiting on it with a
// ctx that ends leaves the call running.
func MapAsync[A, R any](p *Pool, f Func[A, R], args []A, opts ...CallOption) *AsyncResult[[]R] {
	m, err := startMap(p, f, args, opts)
	if err != nil {
		return failed[[]R](err)
	}
	return &AsyncResult[[]R]{done: m.c.done, src: m}
}

// mapping is a Map call given to the pool.
type mapping[A, R any] struct {
	c     *call[A, R]
	parts []*part[A, R] // in order
	out   []R
}

// startMap gives args to the pool in chunks.
func startMap[A, R any](p *Pool, f Func[A, R], args []A, opts []CallOption) (*mapping[A, R], error) {
	if err := f.check(); err != nil {
		return nil, err
	}
	cs, err := p.chunkSize(opts)
	if err != nil {
		return nil, err
	}
	if cs == 0 {
		cs = min(max((len(args)+4*p.n-1)/(4*p.n), 1), maxDefaultChunk)
	}
	m := &mapping[A, R]{c: newCall(p, f), out: make([]R, len(args))}
	var pcs []*piece
	p.mu.Lock()
	defer p.mu.Unlock()
	for lo := 0; lo < len(args); lo += cs {
		hi := min(lo+cs, len(args))
		pt, pc := m.c.add(args[lo:hi], m.out[lo:hi])
		m.parts, pcs = append(m.parts, pt), append(pcs, pc)
	}
	m.c.sealed = true
	if err := p.submit(pcs...); err != nil {
		return nil, err
	}
	if len(pcs) == 0 {
		close(m.c.done)
	}
	return m, nil
}

func (m *mapping[A, R]) halt() { m.c.halt() }

// result is Map's outcome once every part settled: the results, or the
// error of the first failed item.
func (m *mapping[A, R]) result() ([]R, error) {
	base := 0
	for _, pt := range m.parts {
		for i, err := range pt.errs {
			if err != nil {
				return nil, fmt.Errorf("item %d: %w", base+i, err)
			}
		}
		base += len(pt.args)
	}
	return m.out, nil
}

// Pair is two arguments of a function, for Starmap.
type Pair[A, B any] struct {
	First  A // the first of the two arguments
	Second B // the second
}

// Starmap is Map over pairs of arguments (Python's Pool.starmap, whose
// tuples a Go function takes as one struct): for a, b := range args, f
// runs on Pair{a, b}. slices.All, maps.All and the like make the pairs.
func Starmap[A, B, R any](ctx context.Context, p *Pool, f Func[Pair[A, B], R], args iter.Seq2[A, B], opts ...CallOption) ([]R, error) {
	return Map(ctx, p, f, pairs(args), opts...)
}

// StarmapAsync is Starmap returning at once (Python's
// Pool.starmap_async), as MapAsync is Map: args is read before it
// returns, and the AsyncResult gives what Starmap would have returned.
func StarmapAsync[A, B, R any](p *Pool, f Func[Pair[A, B], R], args iter.Seq2[A, B], opts ...CallOption) *AsyncResult[[]R] {
	return MapAsync(p, f, pairs(args), opts...)
}

// pairs collects args as Starmap gives them to f.
func pairs[A, B any](args iter.Seq2[A, B]) []Pair[A, B] {
	var ps []Pair[A, B]
	for a, b := range args {
		ps = append(ps, Pair[A, B]{a, b})
	}
	return ps
}

// Imap runs f on the arguments as the loop asks for them, and yields the
// results in order (Python's Pool.imap). Arguments are taken from args a
// few chunks ahead of the loop (4 per worker), so an endless sequence
// works. A failed item yields its error, and the loop goes on; when ctx
// ends, or the pool is closed or ended, the loop gets that error and
// stops. Leaving the loop early drops what is left. Chunk sets the chunk
// size (1 unless PoolOptions.ChunkSize says).
func Imap[A, R any](ctx context.Context, p *Pool, f Func[A, R], args iter.Seq[A], opts ...CallOption) iter.Seq2[R, error] {
	return stream(ctx, p, f, args, false, opts)
}

// ImapUnordered is Imap yielding each chunk's results as soon as the
// chunk is done (Python's Pool.imap_unordered).
func ImapUnordered[A, R any](ctx context.Context, p *Pool, f Func[A, R], args iter.Seq[A], opts ...CallOption) iter.Seq2[R, error] {
	return stream(ctx, p, f, args, true, opts)
}

func stream[A, R any](ctx context.Context, p *Pool, f Func[A, R], args iter.Seq[A], unordered bool, opts []CallOption) iter.Seq2[R, error] {
	return func(yield func(R, error) bool) {
		var zero R
		if err := f.check(); err != nil {
			yield(zero, err)
			return
		}
		cs, err := p.chunkSize(opts)
		if err != nil {
			yield(zero, err)
			return
		}
		cs = max(cs, 1)
		c := newCall(p, f)
		c.unordered = unordered
		defer c.halt()
		window := 4 * p.n
		var queue []*part[A, R] // submitted and not yet yielded, in order
		// next takes the next settled part, waiting for one if block.
		next := func(block bool) (*part[A, R], error) {
			for {
				if err := ctx.Err(); err != nil { // even while results keep coming
					return nil, err
				}
				var pt *part[A, R]
				p.mu.Lock()
				if unordered && len(c.ready) > 0 {
					pt, c.ready = c.ready[0], c.ready[1:]
				} else if !unordered && len(queue) > 0 && queue[0].settled {
					pt = queue[0]
				}
				p.mu.Unlock()
				if pt != nil || !block {
					return pt, nil
				}
				select {
				case <-c.signal:
				case <-ctx.Done():
					return nil, ctx.Err()
				}
			}
		}
		// emit yields the settled parts, waiting for one first if block;
		// false: the loop ended.
		emit := func(block bool) bool {
			for {
				pt, err := next(block)
				if err != nil {
					yield(zero, err)
					return false
				}
				if pt == nil {
					return true
				}
				block = false
				if !unordered {
					queue = queue[1:]
				} else {
					queue = queue[:len(queue)-1] // counts what is in flight
				}
				for i := range pt.args {
					if !yield(pt.item(i)) {
						return false
					}
				}
			}
		}
		buf := make([]A, 0, cs)
		send := func() bool {
			p.mu.Lock()
			pt, pc := c.add(buf, make([]R, len(buf)))
			err := p.submit(pc)
			p.mu.Unlock()
			if err != nil {
				yield(zero, err)
				return false
			}
			queue = append(queue, pt)
			buf = make([]A, 0, cs)
			return true
		}
		for a := range args {
			if buf = append(buf, a); len(buf) < cs {
				continue
			}
			if !send() {
				return
			}
			for len(queue) >= window {
				if !emit(true) {
					return
				}
			}
			if !emit(false) {
				return
			}
		}
		if len(buf) > 0 && !send() {
			return
		}
		for len(queue) > 0 {
			if !emit(true) {
				return
			}
		}
	}
}

// AsyncResult is the result of ApplyAsync, MapAsync or StarmapAsync, to
// come.
type AsyncResult[R any] struct {
	done chan struct{}
	src  outcome[R]
}

// outcome is what an AsyncResult gives once done is closed, and how its
// call is dropped.
type outcome[R any] interface {
	result() (R, error)
	halt()
}

// applying is an ApplyAsync call: its call, part, piece and result in one
// allocation.
type applying[A, R any] struct {
	c   call[A, R]
	pt  part[A, R]
	pc  piece
	arg [1]A
	out [1]R
	r   AsyncResult[R]
}

func (a *applying[A, R]) result() (R, error) { return a.pt.item(0) }
func (a *applying[A, R]) halt()              { a.c.halt() }

// ApplyAsync runs f(arg) in a worker and returns at once (Python's
// Pool.apply_async).
func ApplyAsync[A, R any](p *Pool, f Func[A, R], arg A) *AsyncResult[R] {
	if err := f.check(); err != nil {
		return failed[R](err)
	}
	a := &applying[A, R]{c: call[A, R]{p: p, f: f, done: make(chan struct{}), partsLeft: 1, sealed: true}}
	a.arg[0] = arg
	a.pt = part[A, R]{c: &a.c, args: a.arg[:], out: a.out[:], left: 1}
	a.pc = piece{c: &a.pt, n: 1}
	a.r = AsyncResult[R]{done: a.c.done, src: a}
	p.mu.Lock()
	err := p.submit(&a.pc)
	p.mu.Unlock()
	if err != nil {
		return failed[R](err)
	}
	return &a.r
}

// failure is the outcome of a call that failed before it started.
type failure[R any] struct{ err error }

func (f failure[R]) result() (R, error) {
	var zero R
	return zero, f.err
}
func (failure[R]) halt() {}

func failed[R any](err error) *AsyncResult[R] {
	done := make(chan struct{})
	close(done)
	return &AsyncResult[R]{done: done, src: failure[R]{err}}
}

// Get waits for the result, or for ctx (the task goes on; Get can be
// called again).
func (r *AsyncResult[R]) Get(ctx context.Context) (R, error) {
	if err := r.Wait(ctx); err != nil {
		var zero R
		return zero, err
	}
	return r.src.result()
}

// Wait waits until the result is ready, or ctx ends.
func (r *AsyncResult[R]) Wait(ctx context.Context) error {
	select {
	case <-r.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Ready reports whether the result is ready.
func (r *AsyncResult[R]) Ready() bool {
	select {
	case <-r.done:
		return true
	default:
		return false
	}
}

// Then has onOK called with the result, or onErr with the error, once
// the result is ready (Python's callback and error_callback). It returns
// a result of its own that becomes ready once the callback has returned,
// as Python's wait() and get() return after theirs ran: so
//
//	process.MapAsync(pool, f, xs).Then(onOK, onErr).Wait(ctx)
//
// returns with onOK or onErr done, and what it did visible. r itself is
// ready before. Exactly one of the two runs, once, in a goroutine of this
// process; a nil function is skipped. Then called after r is ready still
// runs it. Each call of Then runs its own callbacks, in no set order among
// calls and beside other goroutines: a callback that shares state with
// them locks it. A result that never becomes ready (a task that never ends
// in a pool never terminated) never runs its callbacks. onOK is given what
// Get gives: a MapAsync slice is the same slice each time.
//
// The callbacks are set on the result, not as options of ApplyAsync,
// MapAsync or StarmapAsync, because an option taking func(R) would need a
// CallOption generic in R, which Map, Imap and Starmap share.
func (r *AsyncResult[R]) Then(onOK func(R), onErr func(error)) *AsyncResult[R] {
	done := make(chan struct{})
	go func() {
		<-r.done
		defer close(done)
		v, err := r.src.result()
		switch {
		case err != nil && onErr != nil:
			onErr(err)
		case err == nil && onOK != nil:
			onOK(v)
		}
	}()
	return &AsyncResult[R]{done: done, src: r.src}
}

// Apply runs f(arg) in a worker and waits for its result (Python's
// Pool.apply). When ctx ends first, the result is dropped.
func Apply[A, R any](ctx context.Context, p *Pool, f Func[A, R], arg A) (R, error) {
	r := ApplyAsync(p, f, arg)
	v, err := r.Get(ctx)
	if err != nil && ctx.Err() != nil && !r.Ready() {
		r.src.halt()
	}
	return v, err
}

package ringbuffer

import (
	"context"
	"fmt"
	"reflect"
	"sync"
	"sync/atomic"

	"github.com/shmkit/shmkit/internal/hb"
	"github.com/shmkit/shmkit/internal/owner"
)

// Loans: a writer fills the next slot in place and commits it, a reader
// looks at the oldest message in place and releases it, so that a large
// message costs what a small one does (doc.go, Loans).

// Loan is a slot of a Ring, a Queue of plain T or a PubSub lent to a
// writer: Value is the slot itself, in shared memory, which Commit
// publishes and Abort gives back unpublished. A Loan is a small value;
// copies of it are the same loan, which ends at the first Commit or Abort.
type Loan[T any] struct {
	v   *T
	to  lender
	pos uint64
	idx int32 // multi-producer rings: the producer's index in the table
}

// lender is what a Loan goes back to: a Ring or a PubSub.
type lender interface {
	commitLoan(pos uint64, idx int32) error
	abortLoan(pos uint64, idx int32) error
}

// Value is the lent slot: valid until Commit or Abort, and not after. It
// holds what the slot held before (an old message, or zeros): set every
// field that readers read.
func (l Loan[T]) Value() *T { return l.v }

// Commit publishes the slot as the next message, and wakes the readers
// that wait for one, as Push does. A second Commit or Abort of the loan
// fails with ErrInvalid; after the handle's Close, the slot is given back
// unpublished and Commit fails with ErrClosed.
func (l Loan[T]) Commit() error {
	if l.to == nil {
		return errNoLoan
	}
	return l.to.commitLoan(l.pos, l.idx)
}

// Abort gives the slot back unpublished: in a multi-producer ring or a
// Queue it becomes a hole that readers step over, in a single-producer
// ring or a PubSub the next message is written there. A second Commit or
// Abort of the loan fails with ErrInvalid.
func (l Loan[T]) Abort() error {
	if l.to == nil {
		return errNoLoan
	}
	return l.to.abortLoan(l.pos, l.idx)
}

// Borrowed is the oldest message of a Ring, a Queue of plain T or a
// PubSub's subscriber lent to a reader in place: Value is the slot itself,
// in shared memory, and Release takes the message, as a Pop would. It is
// a small value; copies of it are the same borrow, which ends at the
// first Release.
type Borrowed[T any] struct {
	v    *T
	from borrower
	pos  uint64
}

// borrower is what a Borrowed goes back to: a Ring or a Subscriber.
type borrower interface {
	releaseBorrow(pos uint64) error
}

// Value is the borrowed message, in place: valid until Release, and not
// after. Readers must not write it. In a lossy PubSub the publisher may
// overwrite it meanwhile: Release then says so.
func (b Borrowed[T]) Value() *T { return b.v }

// Release takes the message: its slot may be reused. A second Release
// fails with ErrInvalid; after the handle's Close, the message is left
// for the next reader and Release fails with ErrClosed. In a lossy PubSub
// Release fails with a *LappedError when the publisher overwrote the slot
// while it was borrowed: what Value showed may be torn, and the
// subscriber moves on as Recv does.
func (b Borrowed[T]) Release() error {
	if b.from == nil {
		return errNoLoan
	}
	return b.from.releaseBorrow(b.pos)
}

// The errors of loans, made once: loans allocate nothing.
var (
	errNoLoan     = fmt.Errorf("ringbuffer: %w: a zero Loan or Borrowed", ErrInvalid)
	errLoanDone   = fmt.Errorf("ringbuffer: %w: the loan was committed or aborted already", ErrInvalid)
	errBorrowDone = fmt.Errorf("ringbuffer: %w: the borrowed message was released already", ErrInvalid)
	errLoanOut    = fmt.Errorf("%w: this handle has a loan out: commit or abort it first", ErrBusy)
	errBorrowOut  = fmt.Errorf("%w: this handle has a borrowed message out: release it first", ErrBusy)
	errMovedOn    = fmt.Errorf("%w: another handle of this process moved the cursor under the loan", ErrBusy)
)

// TryLoan lends the next slot to the caller, if there is room now, or
// returns an error matching ErrFull. Commit publishes it. A
// single-producer ring lends one slot at a time: its Push, TryPush and
// TryLoan fail with ErrBusy while a loan is out. A multi-producer ring
// lends as many as there are free slots, to any goroutines and processes,
// and its readers take the messages in the order of the loans: a loan not
// committed yet holds back the readers of the messages after it, as a
// Push that is being written does.
func (r *Ring[T]) TryLoan() (Loan[T], error) { return r.loan() }

// Loan lends the next slot to the caller (see TryLoan), waiting for room
// until ctx ends.
func (r *Ring[T]) Loan(ctx context.Context) (Loan[T], error) {
	l, err := r.loan()
	if err == errFull {
		err = r.c.await(ctx, r.c.full, func() error {
			var err error
			l, err = r.loan()
			return err
		}, nil)
	}
	return l, err
}

// TryBorrow lends the oldest message to the caller, in place, if there is
// one, or returns an error matching ErrEmpty; Release takes it. A handle
// has one message borrowed at a time (Pop, TryPop and TryBorrow fail with
// ErrBusy meanwhile in a single-producer ring), and in a multi-producer
// ring the other readers, of every process, wait until it is released:
// borrow briefly. A reader that dies with a borrowed message leaves it
// for the next reader.
func (r *Ring[T]) TryBorrow() (Borrowed[T], error) { return r.borrow() }

// Borrow lends the oldest message to the caller (see TryBorrow), waiting
// for one until ctx ends.
func (r *Ring[T]) Borrow(ctx context.Context) (Borrowed[T], error) {
	b, err := r.borrow()
	if again(err) {
		err = r.c.await(ctx, r.c.empty, func() error {
			var err error
			b, err = r.borrow()
			return err
		}, nil)
	}
	return b, err
}

func (r *Ring[T]) loan() (Loan[T], error) {
	c := r.c
	if c.seq != nil {
		idx, err := c.producer()
		if err != nil {
			return Loan[T]{}, err
		}
		pos, err := c.claim(idx, 1)
		if err != nil {
			return Loan[T]{}, err
		}
		return Loan[T]{v: &r.slots[pos&c.mask], to: r, pos: pos, idx: int32(idx)}, nil
	}
	p := &r.prod
	if !p.held(c, c.tail) {
		if err := r.producerSide(); err != nil {
			return Loan[T]{}, err
		}
	}
	if p.pos-p.other >= c.l.cells {
		p.other = atomic.LoadUint64(c.head)
		if p.pos-p.other >= c.l.cells {
			return Loan[T]{}, errFull
		}
	}
	// ok cleared keeps Push off the slot: its fast path fails, and
	// claim finds the loan.
	p.lent, p.ok = true, false
	return Loan[T]{v: &r.slots[p.pos&c.mask], to: r, pos: p.pos, idx: -1}, nil
}

func (r *Ring[T]) commitLoan(pos uint64, idx int32) error {
	c := r.c
	if c.seq != nil {
		return c.endClaim(pos, int(idx), 1, true)
	}
	p := &r.prod
	if !p.lent || pos != p.pos {
		return errLoanDone
	}
	p.lent = false
	if c.closed.Load() {
		return errClosed // nothing published: the next producer writes there
	}
	if atomic.LoadUint64(c.tail) != pos {
		return errMovedOn
	}
	hook(pointPublish)
	p.ok = true
	p.pos++
	c.released()
	p.publish(c.tail, p.pos)
	p.notify(c.empty, c.plainTail)
	return nil
}

func (r *Ring[T]) abortLoan(pos uint64, idx int32) error {
	c := r.c
	if c.seq != nil {
		return c.endClaim(pos, int(idx), 1, false)
	}
	p := &r.prod
	if !p.lent || pos != p.pos {
		return errLoanDone
	}
	p.lent = false
	p.ok = !c.closed.Load() && atomic.LoadUint64(c.tail) == pos
	return nil
}

// endClaim commits (or, with commit false, turns into a hole) the k cells
// that producer idx claimed at pos for a loan. Only a claim that is still
// out ends: a second call finds the cell committed or a hole.
func (c *core) endClaim(pos uint64, idx int, k uint64, commit bool) error {
	if c.unmapped() {
		return errClosed
	}
	lap := uint32(pos >> c.shift)
	w := cellWord(lap, stClaimed, idx, k)
	if c.closed.Load() && commit {
		if atomic.CompareAndSwapUint64(&c.seq[pos&c.mask], w, cellWord(lap, stSkipped, idx, k)) {
			notify(c.empty)
			return errClosed
		}
		return errLoanDone
	}
	to := cellWord(lap, stSkipped, idx, k)
	if commit {
		hook(pointPublish)
		c.released()
		to = cellWord(lap, stFull, idx, k)
	}
	if !atomic.CompareAndSwapUint64(&c.seq[pos&c.mask], w, to) {
		return errLoanDone
	}
	notify(c.empty)
	return nil
}

func (r *Ring[T]) borrow() (Borrowed[T], error) {
	c := r.c
	if c.seq != nil {
		h, err := c.borrowFront()
		if err != nil {
			return Borrowed[T]{}, err
		}
		return Borrowed[T]{v: &r.slots[h&c.mask], from: r, pos: h}, nil
	}
	q := &r.cons
	if !q.held(c, c.head) {
		if err := r.consumerSide(); err != nil {
			return Borrowed[T]{}, err
		}
	}
	if q.pos == q.other {
		q.other = atomic.LoadUint64(c.tail)
		if q.pos == q.other {
			return Borrowed[T]{}, errEmpty
		}
	}
	c.acquired()
	q.lent, q.ok = true, false
	return Borrowed[T]{v: &r.slots[q.pos&c.mask], from: r, pos: q.pos}, nil
}

func (r *Ring[T]) releaseBorrow(pos uint64) error {
	c := r.c
	if c.seq != nil {
		return c.releaseLent(pos, 1)
	}
	q := &r.cons
	if !q.lent || pos != q.pos {
		return errBorrowDone
	}
	q.lent = false
	if c.closed.Load() {
		return errClosed // the head did not move: the next consumer reads it
	}
	if atomic.LoadUint64(c.head) != pos {
		return errMovedOn
	}
	q.ok = true
	q.pos++
	q.publish(c.head, q.pos)
	hook(pointTaken)
	q.notify(c.full, c.plainHead)
	return nil
}

// Borrowing in multi-producer rings.
//
// A message lent in place must stay where it is, and no other consumer
// may take it, until its borrower releases it; a borrower that dies must
// leave it for the next consumer. The borrower records its process in the
// borrower word (offBorrower) and then sets lentBit in the head: the head
// does not move, so producers keep off the slot (room) and consumers find
// it lent (front). Release moves the head past it, clearing the bit, and
// then frees the word. Only the holder of the borrower word changes the
// bit, so that a consumer that finds it set with the word's process dead
// takes the word over before it clears the bit (handOn): the message goes
// to the next consumer, in its place, and a later borrow of the same
// message cannot be mistaken for the dead one's.
//
// One borrower word means one message borrowed at a time per ring: a
// process's goroutines take turns through lending, since the word names
// the process and not the goroutine.

// lending is the borrower words this process holds, by ring, and which
// handle holds each.
var lending struct {
	sync.Mutex
	m map[holdKey]*core
}

// takeBorrower makes this process, for handle c, the holder of c's
// borrower word: free, or held by a dead process. It returns errPending
// while another live process, or another borrow of this process, holds
// it.
func (c *core) takeBorrower() error {
	me, err := owner.Me()
	if err != nil {
		return fmt.Errorf("ringbuffer: borrowing: %w", err)
	}
	k := holdKeyOf(c.o, offBorrower)
	bw := c.borrower
	lending.Lock()
	defer lending.Unlock()
	if lending.m[k] != nil {
		return errPending
	}
	for {
		b := atomic.LoadUint64(bw)
		if b != 0 && b != me && owner.For(c.b).Alive(b) {
			return errPending
		}
		if atomic.CompareAndSwapUint64(bw, b, me) {
			break
		}
	}
	if lending.m == nil {
		lending.m = map[holdKey]*core{}
	}
	lending.m[k] = c
	return nil
}

// dropBorrower frees c's borrower word, which this process holds.
func (c *core) dropBorrower() {
	me, _ := owner.Me()
	k := holdKeyOf(c.o, offBorrower)
	lending.Lock()
	defer lending.Unlock()
	atomic.CompareAndSwapUint64(c.borrower, me, 0)
	delete(lending.m, k)
}

// handOn deals with head h, found lent by a consumer that is not its
// borrower: errPending while a live process holds the borrower word;
// otherwise the borrower died, and the message is handed on, in its
// place, by clearing the bit under the word.
func (c *core) handOn(h uint64) error {
	b := atomic.LoadUint64(c.borrower)
	if b != 0 && owner.For(c.b).Alive(b) {
		return errPending
	}
	if err := c.takeBorrower(); err != nil {
		return err
	}
	atomic.CompareAndSwapUint64(c.head, h, h&^lentBit)
	c.dropBorrower()
	return nil
}

// borrowFront lends the message at the head to this process: it takes the
// borrower word, finds the committed message at the head (front), and
// marks it lent. It returns its position. The frame of a framed queue is
// checked by the caller, once lent (its length prefix may change until
// then).
func (c *core) borrowFront() (uint64, error) {
	if c.closed.Load() {
		return 0, errClosed
	}
	if err := c.takeBorrower(); err != nil {
		return 0, err
	}
	for {
		// A lent bit under a word we took is a dead borrower's.
		h := atomic.LoadUint64(c.head)
		if h&lentBit == 0 || atomic.CompareAndSwapUint64(c.head, h, h&^lentBit) {
			break
		}
	}
	for {
		h, w, err := c.front()
		if err == nil && c.l.mode != modeFramed {
			_, _, err = c.l.frame(w, 0)
			if err != nil {
				err = fmt.Errorf("ringbuffer: position %d: %w", h, err)
			}
		}
		if err != nil {
			c.dropBorrower()
			return 0, err
		}
		if atomic.CompareAndSwapUint64(c.head, h, h|lentBit) {
			c.acquired()
			return h, nil
		}
	}
}

// releaseLent takes the message of k cells at pos, which this process
// borrowed: it moves the head past it, clearing the lent bit, and frees
// the borrower word. After Close it leaves the message for the next
// consumer.
func (c *core) releaseLent(pos, k uint64) error {
	if c.unmapped() {
		return errClosed
	}
	lent := pos | lentBit
	if atomic.LoadUint64(c.head) != lent || !c.lends() {
		return errBorrowDone
	}
	if c.closed.Load() {
		atomic.CompareAndSwapUint64(c.head, lent, pos)
		c.dropBorrower()
		notify(c.empty)
		return errClosed
	}
	if c.gets != nil {
		atomic.AddUint64(c.gets, 1)
	}
	if !atomic.CompareAndSwapUint64(c.head, lent, pos+k) {
		if c.gets != nil {
			atomic.AddUint64(c.gets, ^uint64(0))
		}
		return errBorrowDone
	}
	hook(pointTaken)
	c.dropBorrower()
	notify(c.full)
	notify(c.empty) // consumers that waited for the release
	if c.join != nil {
		notify(c.join)
	}
	return nil
}

// lends reports whether handle c holds its ring's borrower word.
func (c *core) lends() bool {
	lending.Lock()
	defer lending.Unlock()
	return lending.m[holdKeyOf(c.o, offBorrower)] == c
}

// Queue loans: the same as a Ring's, for a Queue of plain T.

// errEncodedLoan is the error of loans on a Queue of encoded T.
func errEncodedLoan[T any]() error {
	return fmt.Errorf("ringbuffer: %w: loans need a plain T, and a Queue of %s encodes its messages", ErrInvalid, reflect.TypeFor[T]())
}

// TryLoan lends the next slot of a Queue of plain T to the caller, if
// there is room now (see Ring.TryLoan): an error matching ErrFull, or
// ErrShutdown after Shutdown. A Queue of encoded T has no slots to lend:
// ErrInvalid.
func (q *Queue[T]) TryLoan() (Loan[T], error) {
	if q.ring == nil {
		return Loan[T]{}, errEncodedLoan[T]()
	}
	return q.ring.loan()
}

// Loan lends the next slot of a Queue of plain T to the caller (see
// TryLoan), waiting for room until ctx ends.
func (q *Queue[T]) Loan(ctx context.Context) (Loan[T], error) {
	if q.ring == nil {
		return Loan[T]{}, errEncodedLoan[T]()
	}
	return q.ring.Loan(ctx)
}

// TryBorrow lends the oldest message of a Queue of plain T to the caller,
// in place, if there is one (see Ring.TryBorrow): an error matching
// ErrEmpty, or ErrShutdown once the queue is shut down and drained. The
// queue's other consumers wait until it is released. A Queue of encoded
// T has no slots to lend: ErrInvalid.
func (q *Queue[T]) TryBorrow() (Borrowed[T], error) {
	if q.ring == nil {
		return Borrowed[T]{}, errEncodedLoan[T]()
	}
	return q.ring.borrow()
}

// Borrow lends the oldest message of a Queue of plain T to the caller
// (see TryBorrow), waiting for one until ctx ends.
func (q *Queue[T]) Borrow(ctx context.Context) (Borrowed[T], error) {
	if q.ring == nil {
		return Borrowed[T]{}, errEncodedLoan[T]()
	}
	return q.ring.Borrow(ctx)
}

// PubSub loans.

// TryLoan lends the slot of the next message to the publisher, if it can
// publish now (see TryPublish); Commit publishes it. One loan is out at a
// time: Publish and TryLoan fail with ErrBusy meanwhile. In a lossy ring
// the message that the slot held is lost to slow subscribers from the
// loan on, whether the loan is committed or aborted; a publisher killed
// while it holds the loan publishes nothing.
func (p *PubSub[T]) TryLoan() (Loan[T], error) { return p.loan() }

// Loan lends the slot of the next message to the publisher (see TryLoan),
// waiting, in a lossless ring, until ctx ends for the slowest live
// subscriber to leave room.
func (p *PubSub[T]) Loan(ctx context.Context) (Loan[T], error) {
	l, err := p.loan()
	if err == errFull {
		err = awaitWord(ctx, p.full, p.cnt.full, &p.spin, p.fc, func() error {
			var err error
			l, err = p.loan()
			return err
		}, func() error { return errFull })
	}
	return l, err
}

func (p *PubSub[T]) loan() (Loan[T], error) {
	if p.lent {
		return Loan[T]{}, errLoanOut
	}
	if !p.ok || p.closed.Load() || atomic.LoadUint64(p.tail) != p.pos {
		if err := p.publisher(); err != nil {
			return Loan[T]{}, err
		}
	}
	pos := p.pos
	s := &p.slots[pos&p.mask]
	if p.l.policy == Lossless {
		if pos >= p.lim {
			if err := p.room(pos); err != nil {
				return Loan[T]{}, err
			}
		}
	} else {
		atomic.StoreUint64(&s.seq, 2*pos+1) // odd: being written
	}
	hook(pointClaimed)
	p.lent, p.ok = true, false
	return Loan[T]{v: &s.v, to: p, pos: pos, idx: -1}, nil
}

func (p *PubSub[T]) commitLoan(pos uint64, _ int32) error {
	if !p.lent || pos != p.pos {
		return errLoanDone
	}
	p.lent = false
	if p.closed.Load() {
		return errClosed
	}
	if atomic.LoadUint64(p.tail) != pos {
		return errMovedOn
	}
	if p.l.policy == Lossy {
		atomic.StoreUint64(&p.slots[pos&p.mask].seq, 2*pos+2)
	}
	hook(pointPublish)
	hb.Release(p.tail)
	p.ok = true
	p.pos = pos + 1
	p.end.publish(p.tail, p.pos)
	p.end.notify(p.empty, p.plainT)
	return nil
}

func (p *PubSub[T]) abortLoan(pos uint64, _ int32) error {
	if !p.lent || pos != p.pos {
		return errLoanDone
	}
	p.lent = false
	p.ok = !p.closed.Load() && atomic.LoadUint64(p.tail) == pos
	return nil
}

// TryBorrow lends the subscriber's next message to it, in place, if there
// is one, or returns an error matching ErrEmpty (a *LappedError, as
// TryRecv, in a lossy ring). Release takes it; meanwhile Recv, TryRecv
// and TryBorrow fail with ErrBusy. In a lossless ring the message stays
// as it is until Release, and holds the publisher back as an unread one
// does; in a lossy ring the publisher may overwrite it, and Release
// reports that.
func (s *Subscriber[T]) TryBorrow() (Borrowed[T], error) { return s.borrow() }

// Borrow lends the subscriber's next message to it (see TryBorrow),
// waiting for one until ctx ends.
func (s *Subscriber[T]) Borrow(ctx context.Context) (Borrowed[T], error) {
	b, err := s.borrow()
	if err == errEmpty {
		err = awaitWord(ctx, s.p.empty, s.p.cnt.empty, &s.spin, s.p.fc, func() error {
			var err error
			b, err = s.borrow()
			return err
		}, nil)
	}
	return b, err
}

func (s *Subscriber[T]) borrow() (Borrowed[T], error) {
	if s.closed.Load() {
		return Borrowed[T]{}, errClosed
	}
	if s.lent {
		return Borrowed[T]{}, errBorrowOut
	}
	p, c := s.p, s.pos
	if c >= s.seen {
		s.seen = atomic.LoadUint64(p.tail)
		if c >= s.seen {
			if c > s.seen {
				return Borrowed[T]{}, fmt.Errorf("ringbuffer: %w: the tail at %d is behind a subscriber at %d", ErrCorrupt, s.seen, c)
			}
			return Borrowed[T]{}, errEmpty
		}
		hb.Acquire(p.tail)
	}
	sl := &p.slots[c&p.mask]
	if p.l.policy == Lossy && atomic.LoadUint64(&sl.seq) != 2*c+2 {
		return Borrowed[T]{}, s.lapped(sl, c)
	}
	s.lent = true
	return Borrowed[T]{v: &sl.v, from: s, pos: c}, nil
}

func (s *Subscriber[T]) releaseBorrow(pos uint64) error {
	if !s.lent || pos != s.pos {
		return errBorrowDone
	}
	s.lent = false
	if s.closed.Load() {
		return errClosed
	}
	p := s.p
	sl := &p.slots[pos&p.mask]
	if p.l.policy == Lossy && atomic.LoadUint64(&sl.seq) != 2*pos+2 {
		return s.lapped(sl, pos) // overwritten while borrowed: maybe torn
	}
	hook(pointTaken)
	s.pos = pos + 1
	s.moved()
	return nil
}

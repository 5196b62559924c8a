package shmap

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"iter"

	"github.com/shmkit/shmkit/ctypes"
	"github.com/shmkit/shmkit/internal/mem"
	"github.com/shmkit/shmkit/shm"
)

// List is a list in shared memory that every process attached to it reads
// and changes: Python's Manager().list(), without a server.
type List[T any] struct {
	handle
	c coll
	e field[T]
}

var _ io.Closer = (*List[int])(nil)

var noValue ctypes.Layout

// NewList makes an empty List in the default heap or where opts place it.
// Plain elements (package ctypes) of at most MaxItem bytes are kept as
// their bytes; others are encoded (see Codec and SetCodec).
func NewList[T any](opts ...shm.Option) (*List[T], error) {
	l, el, err := listLayout[T]()
	if err == nil {
		err = l.c.make(shm.KindList, el, noValue, minCap, l.c.sz, opts)
	}
	if err != nil {
		return nil, wrap("making a list", err)
	}
	return l, nil
}

// OpenList attaches to the List called name in seg (shm.ErrLayout when it
// holds another type, shm.ErrKind when it is not a list). It waits, as
// long as ctx allows, for a list not made yet (an error matching
// shm.ErrNotExist and ctx.Err() when ctx ends first) or whose creator is
// still making it.
func OpenList[T any](ctx context.Context, seg *shm.Segment, name string) (*List[T], error) {
	l, el, err := listLayout[T]()
	if err == nil {
		var o *shm.Object
		if o, err = seg.Find(ctx, name, spec(shm.KindList, el, noValue, hdrSize)); err == nil {
			err = l.c.attach(o, shm.KindList, el, noValue, l.c.sz)
		}
	}
	if err != nil {
		return nil, wrapped(fmt.Sprintf("opening list %q", name), err)
	}
	return l, nil
}

func listLayout[T any]() (*List[T], ctypes.Layout, error) {
	ef, el, err := newField[T]()
	if err != nil {
		return nil, el, err
	}
	l := &List[T]{e: ef}
	l.c.sz = align8(ef.width())
	return l, el, nil
}

// MarshalBinary encodes the list's handle.
func (l *List[T]) MarshalBinary() ([]byte, error) { return l.c.o.Handle().MarshalBinary() }

// UnmarshalBinary attaches to the list a handle names.
func (l *List[T]) UnmarshalBinary(b []byte) error {
	n, el, err := listLayout[T]()
	if err != nil {
		return wrap("attaching a list", err)
	}
	o, err := shm.Unmarshal(b, spec(shm.KindList, el, noValue, hdrSize))
	if err != nil {
		return wrap("attaching a list", err)
	}
	l.e, l.c.sz = n.e, n.c.sz
	l.closed.Store(false)
	return wrap("attaching a list", l.c.attach(o, shm.KindList, el, noValue, l.c.sz))
}

// Handle is the list's handle.
func (l *List[T]) Handle() shm.Handle { return l.c.o.Handle() }

// SetCodec replaces this handle's Codec of elements, when they are
// encoded (not plain, or larger than MaxItem); every process must use the
// same. Call it before using the list.
func (l *List[T]) SetCodec(c Codec[T]) {
	if l.e.size == 0 {
		l.e.codec = c
	}
}

// Free destroys the list for every process: it closes this handle and
// gives the list's memory back to its segment (its header, lock and
// table). Every process must have stopped using it. A second Free, through
// any handle in any process, fails with shm.ErrStale.
func (l *List[T]) Free() error {
	if err := live(l.c.o); err != nil {
		return wrap("freeing a list", err)
	}
	l.closed.Store(true)
	return wrap("freeing a list", l.c.free())
}

// lock takes the list's lock for an exported call, through a handle that
// must not be closed.
func (l *List[T]) lock() error {
	if err := l.usable(); err != nil {
		return err
	}
	return l.c.lock(l.fix)
}

// elem is element i's bytes in the table: the element, or its ref.
func (l *List[T]) elem(i int) []byte { return l.c.tab[i*l.c.sz : i*l.c.sz+l.e.width()] }

// stored is what the table keeps of element i: its bytes or encoding.
func (l *List[T]) stored(i int) ([]byte, error) {
	if l.e.size > 0 {
		return l.elem(i), nil
	}
	return l.c.item(le.Uint64(l.elem(i)))
}

// fix repairs what a dead holder of the lock left: an element it was
// overwriting gets its old bytes back; an append or a pop of an encoded
// element stands if it stored the new length.
func (l *List[T]) fix(op uint32, i int, old []byte) {
	switch op {
	case opOverwrite:
		if i >= 0 && i < l.c.capacity() {
			copy(l.elem(i), old)
		}
		l.c.settle(false)
	case opAppend:
		l.c.settle(l.c.count() == l.c.before(0)+1)
	case opDelete:
		l.c.settle(l.c.count()+1 == l.c.before(0))
	}
}

// Append adds v at the end; storing the new length is the commit.
func (l *List[T]) Append(v T) (err error) {
	eb, err := l.e.bytes(&v)
	if err != nil {
		return wrap("append", err)
	}
	if err := l.lock(); err != nil {
		return wrap("append", err)
	}
	defer l.c.unlockTo(&err, "append")
	n, need := int(l.c.count()), l.e.need(eb)
	if n == l.c.capacity() || !l.c.room(need) {
		if err := l.c.grow(n == l.c.capacity(), need, l.rehash); err != nil {
			return err
		}
	}
	if l.c.enc {
		l.c.begin(opAppend, n, nil, l.c.after(need, 0))
	}
	l.c.point("append")
	storeTo(l.c.data, l.elem(n), l.e.size > 0, eb, l.c.used())
	l.c.point("appended")
	l.c.setCounts(uint64(n+1), 0)
	if l.c.enc {
		l.c.point("committed")
		l.c.settle(true)
		l.c.end()
	}
	return nil
}

// rehash copies the elements into slots, those of a new table, and their
// encodings into data, its data region, returning the data bytes used.
func (l *List[T]) rehash(slots, data []byte, _ int) (uint64, error) {
	n := int(l.c.count())
	if !l.c.enc {
		copy(slots, l.c.tab[:n*l.c.sz])
		return 0, nil
	}
	at := uint64(0)
	for i := range n {
		b, err := l.stored(i)
		if err != nil {
			return 0, err
		}
		if uint64(len(b)) > uint64(len(data))-at {
			return 0, fmt.Errorf("%w: the live data outgrows its count", ErrCorrupt)
		}
		at = storeTo(data, slots[i*l.c.sz:], false, b, at)
	}
	return at, nil
}

// Len is the number of elements, counted under the lock. It is 0 through
// a closed handle, and when the list's memory is corrupt (the calls that
// return an error say what is wrong).
func (l *List[T]) Len() int {
	n, err := l.count()
	if err != nil {
		return 0
	}
	return n
}

// count is Len, and why it is 0 when it fails.
func (l *List[T]) count() (_ int, err error) {
	if err := l.lock(); err != nil {
		return 0, wrap("len", err)
	}
	defer l.c.unlockTo(&err, "len")
	return int(l.c.count()), nil
}

// At returns element i (ErrInvalid when out of range).
func (l *List[T]) At(i int) (T, error) {
	var v T
	if err := l.lock(); err != nil {
		return v, wrap("at", err)
	}
	if err := l.check(i); err != nil {
		return v, wrap("at", errors.Join(err, l.c.unlock()))
	}
	b, err := l.stored(i)
	b = bytes.Clone(b) // decoded without the lock
	if err = withUnlock(err, l.c.unlock()); err == nil {
		err = l.e.load(b, &v)
	}
	return v, wrap("at", err)
}

func (l *List[T]) check(i int) error {
	if n := int(l.c.count()); i < 0 || i >= n {
		return fmt.Errorf("%w: index %d of a list of %d", ErrInvalid, i, n)
	}
	return nil
}

// Set replaces element i, its old bytes (or ref) kept in the intent
// record until the new ones are whole.
func (l *List[T]) Set(i int, v T) (err error) {
	eb, err := l.e.bytes(&v)
	if err != nil {
		return wrap("set", err)
	}
	if err := l.lock(); err != nil {
		return wrap("set", err)
	}
	defer l.c.unlockTo(&err, "set")
	if err := l.check(i); err != nil {
		return err
	}
	need := l.e.need(eb)
	if !l.c.room(need) {
		if err := l.c.grow(false, need, l.rehash); err != nil {
			return err
		}
	}
	old, drop := l.elem(i), 0
	if l.e.size == 0 {
		drop = itemLen(le.Uint64(old))
	}
	l.c.begin(opOverwrite, i, old, l.c.after(need, drop))
	l.c.point("overwrite")
	storeTo(l.c.data, l.elem(i), l.e.size > 0, eb, l.c.used())
	l.c.point("overwritten")
	l.c.settle(true)
	l.c.end()
	return nil
}

// Pop removes and returns the last element (ErrInvalid when empty).
func (l *List[T]) Pop() (T, error) {
	var v T
	if err := l.lock(); err != nil {
		return v, wrap("pop", err)
	}
	n := int(l.c.count())
	if n == 0 {
		return v, wrap("pop", errors.Join(fmt.Errorf("%w: an empty list", ErrInvalid), l.c.unlock()))
	}
	b, err := l.stored(n - 1)
	if err != nil {
		return v, wrap("pop", errors.Join(err, l.c.unlock()))
	}
	b = bytes.Clone(b) // decoded without the lock
	if l.c.enc {
		l.c.begin(opDelete, n-1, nil, l.c.after(0, len(b)))
		l.c.point("pop")
	}
	l.c.setCounts(uint64(n-1), 0)
	if l.c.enc {
		l.c.point("popped")
		l.c.settle(true)
		l.c.end()
	}
	// Popped: the element is the caller's even if the unlock finds the
	// word overwritten.
	uerr := l.c.unlock()
	return v, wrap("pop", errors.Join(l.e.load(b, &v), uerr))
}

// All yields a snapshot of the list: its elements at one instant, in
// order (taken under the lock, yielded without it, so the loop may use
// the list). It yields nothing when the snapshot fails: Snapshot reports
// why.
func (l *List[T]) All() iter.Seq[T] {
	return func(yield func(T) bool) {
		vs, err := l.Snapshot()
		if err != nil {
			return
		}
		for _, v := range vs {
			if !yield(v) {
				return
			}
		}
	}
}

// Snapshot returns the list's elements at one instant.
func (l *List[T]) Snapshot() ([]T, error) {
	vs, err := l.snapshot()
	return vs, wrap("snapshot", err)
}

func (l *List[T]) snapshot() ([]T, error) {
	if err := l.lock(); err != nil {
		return nil, err
	}
	vs := make([]T, l.c.count())
	var encs [][]byte
	for i := range vs {
		b, err := l.stored(i)
		if err != nil {
			return nil, errors.Join(err, l.c.unlock())
		}
		if l.e.size > 0 {
			copy(mem.Bytes(&vs[i]), b)
		} else {
			encs = append(encs, bytes.Clone(b))
		}
	}
	if err := l.c.unlock(); err != nil {
		return nil, err
	}
	for i, b := range encs {
		if err := l.e.load(b, &vs[i]); err != nil {
			return nil, err
		}
	}
	return vs, nil
}

package shmap

import (
	"fmt"
	"iter"

	"github.com/shmkit/shmkit/ctypes"
	"github.com/shmkit/shmkit/internal/mem"
	"github.com/shmkit/shmkit/shm"
)

// List is a list in shared memory that every process attached to it reads
// and changes: Python's Manager().list(), without a server.
type List[T any] struct {
	c  coll
	es int // element bytes
}

var noValue ctypes.Layout

// NewList makes an empty List in the default heap or where opts place it.
func NewList[T any](opts ...shm.Option) (*List[T], error) {
	l, el, err := listLayout[T]()
	if err != nil {
		return nil, err
	}
	if err := l.c.make(shm.KindList, el, noValue, minCap, l.c.sz, opts); err != nil {
		return nil, fmt.Errorf("shmap: making a list: %w", err)
	}
	return l, nil
}

// OpenList attaches to the List called name in seg.
func OpenList[T any](seg *shm.Segment, name string) (*List[T], error) {
	l, el, err := listLayout[T]()
	if err != nil {
		return nil, err
	}
	if err := l.c.open(seg, name, shm.KindList, el, noValue, l.c.sz); err != nil {
		return nil, err
	}
	return l, nil
}

func listLayout[T any]() (*List[T], ctypes.Layout, error) {
	el, err := layoutOf[T]()
	if err != nil {
		return nil, el, err
	}
	l := &List[T]{es: int(el.Size)}
	l.c.sz = align8(l.es)
	return l, el, nil
}

// MarshalBinary encodes the list's handle.
func (l *List[T]) MarshalBinary() ([]byte, error) { return l.c.o.Handle().MarshalBinary() }

// UnmarshalBinary attaches to the list a handle names.
func (l *List[T]) UnmarshalBinary(b []byte) error {
	n, el, err := listLayout[T]()
	if err != nil {
		return err
	}
	l.es, l.c.sz = n.es, n.c.sz
	return l.c.resolve(b, shm.KindList, el, noValue, l.c.sz)
}

// Handle is the list's handle.
func (l *List[T]) Handle() shm.Handle { return l.c.o.Handle() }

// Free gives the list's memory back: every process must have stopped
// using it.
func (l *List[T]) Free() error { return l.c.free() }

func (l *List[T]) elem(i int) []byte { return l.c.tab[i*l.c.sz : i*l.c.sz+l.es] }

// fix repairs an element a dead holder of the lock was overwriting.
func (l *List[T]) fix(op uint32, i int, old []byte) {
	if op == opOverwrite && i >= 0 && i < l.c.capacity() {
		copy(l.elem(i), old)
	}
}

// Append adds v at the end; storing the new length is the commit.
func (l *List[T]) Append(v T) error {
	if err := l.c.lock(l.fix); err != nil {
		return err
	}
	defer l.c.unlock()
	n := int(l.c.count())
	if n == l.c.capacity() {
		if err := l.c.grow(func(to []byte, _ int) { copy(to, l.c.tab[:n*l.c.sz]) }); err != nil {
			return err
		}
	}
	l.c.point("append")
	copy(l.elem(n), mem.Bytes(&v))
	l.c.point("appended")
	l.c.setCounts(uint64(n+1), 0)
	return nil
}

// Len is the number of elements.
func (l *List[T]) Len() (int, error) {
	if err := l.c.lock(l.fix); err != nil {
		return 0, err
	}
	defer l.c.unlock()
	return int(l.c.count()), nil
}

// At returns element i (ErrInvalid when out of range).
func (l *List[T]) At(i int) (T, error) {
	var v T
	if err := l.c.lock(l.fix); err != nil {
		return v, err
	}
	defer l.c.unlock()
	if err := l.check(i); err != nil {
		return v, err
	}
	copy(mem.Bytes(&v), l.elem(i))
	return v, nil
}

func (l *List[T]) check(i int) error {
	if n := int(l.c.count()); i < 0 || i >= n {
		return fmt.Errorf("%w: index %d of a list of %d", ErrInvalid, i, n)
	}
	return nil
}

// Set replaces element i, its old bytes kept in the intent record until
// the new ones are whole.
func (l *List[T]) Set(i int, v T) error {
	if err := l.c.lock(l.fix); err != nil {
		return err
	}
	defer l.c.unlock()
	if err := l.check(i); err != nil {
		return err
	}
	l.c.begin(opOverwrite, i, l.elem(i))
	l.c.point("overwrite")
	copy(l.elem(i), mem.Bytes(&v))
	l.c.point("overwritten")
	l.c.end()
	return nil
}

// Pop removes and returns the last element (ErrInvalid when empty).
func (l *List[T]) Pop() (T, error) {
	var v T
	if err := l.c.lock(l.fix); err != nil {
		return v, err
	}
	defer l.c.unlock()
	n := int(l.c.count())
	if n == 0 {
		return v, fmt.Errorf("%w: Pop of an empty list", ErrInvalid)
	}
	copy(mem.Bytes(&v), l.elem(n-1))
	l.c.setCounts(uint64(n-1), 0)
	return v, nil
}

// All yields a snapshot of the list: its elements at one instant, in
// order (taken under the lock, yielded without it, so the loop may use
// the list).
func (l *List[T]) All() iter.Seq[T] {
	return func(yield func(T) bool) {
		vs, err := l.snapshot()
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

func (l *List[T]) snapshot() ([]T, error) {
	if err := l.c.lock(l.fix); err != nil {
		return nil, err
	}
	defer l.c.unlock()
	vs := make([]T, l.c.count())
	for i := range vs {
		copy(mem.Bytes(&vs[i]), l.elem(i))
	}
	return vs, nil
}

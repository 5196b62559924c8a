package shmap

import (
	"bytes"
	"fmt"
	"iter"
	"reflect"
	"sync/atomic"

	"github.com/shmkit/shmkit/ctypes"
	"github.com/shmkit/shmkit/internal/mem"
	"github.com/shmkit/shmkit/shm"
)

// Map is a hash map in shared memory that every process attached to it
// reads and changes: Python's Manager().dict(), without a server.
type Map[K comparable, V any] struct {
	c   coll
	ks  int // key bytes
	vs  int // value bytes
	off int // of the value in a slot
	sz  int // slot bytes
}

// Slot states, in the low bits of a slot's control word.
const (
	slotEmpty = 0
	slotFull  = 1
	slotTomb  = 2
)

// New makes an empty Map in the default heap or where opts place it.
// K and V must be plain (package ctypes), of at most MaxItem bytes each.
func New[K comparable, V any](opts ...shm.Option) (*Map[K, V], error) {
	m, kl, vl, err := mapLayout[K, V]()
	if err != nil {
		return nil, err
	}
	if err := m.c.make(shm.KindMap, kl, vl, minCap, m.sz, opts); err != nil {
		return nil, fmt.Errorf("shmap: making a map: %w", err)
	}
	return m, nil
}

// Open attaches to the Map called name in seg (shm.ErrLayout when it holds
// other types).
func Open[K comparable, V any](seg *shm.Segment, name string) (*Map[K, V], error) {
	m, kl, vl, err := mapLayout[K, V]()
	if err != nil {
		return nil, err
	}
	if err := m.c.open(seg, name, shm.KindMap, kl, vl, m.sz); err != nil {
		return nil, err
	}
	return m, nil
}

func mapLayout[K comparable, V any]() (*Map[K, V], ctypes.Layout, ctypes.Layout, error) {
	kl, err := layoutOf[K]()
	if err != nil {
		return nil, kl, kl, err
	}
	if padded(reflect.TypeFor[K]()) {
		return nil, kl, kl, fmt.Errorf("%w: key type %v has padding bytes, which would make equal keys differ (keys are compared as bytes): order its fields by size, or fill the gaps with named fields", ErrInvalid, reflect.TypeFor[K]())
	}
	vl, err := layoutOf[V]()
	if err != nil {
		return nil, kl, vl, err
	}
	m := &Map[K, V]{ks: int(kl.Size), vs: int(vl.Size)}
	m.off = 8 + align8(m.ks)
	m.sz = m.off + align8(m.vs)
	return m, kl, vl, nil
}

// padded reports whether values of t have bytes that belong to no field.
func padded(t reflect.Type) bool {
	switch t.Kind() {
	case reflect.Array:
		return t.Len() > 0 && padded(t.Elem())
	case reflect.Struct:
		end := uintptr(0)
		for i := range t.NumField() {
			f := t.Field(i)
			if f.Offset != end || padded(f.Type) {
				return true
			}
			end = f.Offset + f.Type.Size()
		}
		return end != t.Size()
	}
	return false
}

// MarshalBinary encodes the map's handle, so that it travels to a child
// process inside an argument (package process) or a message.
func (m *Map[K, V]) MarshalBinary() ([]byte, error) { return m.c.o.Handle().MarshalBinary() }

// UnmarshalBinary attaches to the map a handle names.
func (m *Map[K, V]) UnmarshalBinary(b []byte) error {
	n, kl, vl, err := mapLayout[K, V]()
	if err != nil {
		return err
	}
	m.ks, m.vs, m.off, m.sz = n.ks, n.vs, n.off, n.sz
	return m.c.resolve(b, shm.KindMap, kl, vl, m.sz)
}

// Handle is the map's handle.
func (m *Map[K, V]) Handle() shm.Handle { return m.c.o.Handle() }

// Free gives the map's memory back: every process must have stopped
// using it.
func (m *Map[K, V]) Free() error { return m.c.free() }

// slot is the bytes of slot i of the current table.
func (m *Map[K, V]) slot(i int) []byte { return m.c.tab[i*m.sz : (i+1)*m.sz] }

func (m *Map[K, V]) ctrl(i int) *uint64 { return mem.Uint64(m.c.tab, uintptr(i*m.sz)) }

// find looks key up: the slot holding it, or the slot an insert takes.
func (m *Map[K, V]) find(kb []byte, h uint64) (i int, found bool) {
	mask := m.c.capacity() - 1
	free := -1
	for i, n := int(h)&mask, 0; n <= mask; i, n = (i+1)&mask, n+1 {
		c := atomic.LoadUint64(m.ctrl(i))
		switch c & 3 {
		case slotEmpty:
			if free < 0 {
				free = i
			}
			return free, false
		case slotTomb:
			if free < 0 {
				free = i
			}
		case slotFull:
			if c>>32 == h>>32 && bytes.Equal(m.slot(i)[8:8+m.ks], kb) {
				return i, true
			}
		}
	}
	return free, false
}

// Get returns the value of key, and whether the map holds it.
func (m *Map[K, V]) Get(key K) (V, bool, error) {
	var v V
	if err := m.c.lock(m.recoverSlot); err != nil {
		return v, false, err
	}
	defer m.c.unlock()
	kb := mem.Bytes(&key)
	i, ok := m.find(kb, hash(kb))
	if ok {
		copy(mem.Bytes(&v), m.slot(i)[m.off:m.off+m.vs])
	}
	return v, ok, nil
}

// Len is the number of keys.
func (m *Map[K, V]) Len() (int, error) {
	if err := m.c.lock(m.recoverSlot); err != nil {
		return 0, err
	}
	defer m.c.unlock()
	return int(m.c.count()), nil
}

// Set sets key to v.
func (m *Map[K, V]) Set(key K, v V) error {
	if err := m.c.lock(m.recoverSlot); err != nil {
		return err
	}
	defer m.c.unlock()
	return m.set(mem.Bytes(&key), mem.Bytes(&v))
}

func (m *Map[K, V]) set(kb, vb []byte) error {
	h := hash(kb)
	i, found := m.find(kb, h)
	if found {
		m.overwrite(i, vb)
		return nil
	}
	if i < 0 || m.c.full(1) {
		if err := m.c.grow(m.rehash); err != nil {
			return err
		}
		if i, _ = m.find(kb, h); i < 0 { // only when the counts are not the table's
			return fmt.Errorf("%w: no free slot in a table of %d after growth", ErrCorrupt, m.c.capacity())
		}
	}
	m.insert(i, h, kb, vb)
	return nil
}

// overwrite replaces the value of slot i, its old bytes kept in the intent
// record until the new ones are whole.
func (m *Map[K, V]) overwrite(i int, vb []byte) {
	s := m.slot(i)
	m.c.begin(opOverwrite, i, s[m.off:m.off+m.vs])
	m.c.point("overwrite")
	copy(s[m.off:], vb)
	m.c.point("overwritten")
	m.c.end()
}

// insert fills slot i (empty or a tombstone) with key and value; storing
// its control word is the commit.
func (m *Map[K, V]) insert(i int, h uint64, kb, vb []byte) {
	s := m.slot(i)
	m.c.begin(opInsert, i, nil)
	m.c.point("insert")
	copy(s[8:], kb)
	copy(s[m.off:], vb)
	m.c.point("inserted")
	atomic.StoreUint64(m.ctrl(i), h&^0xFFFFFFFF|slotFull)
	m.c.point("committed")
	m.c.setCounts(m.c.before(0)+1, m.c.before(1)-b2u(m.c.intentFlag()))
	m.c.end()
}

// Delete removes key; it reports whether the map held it.
func (m *Map[K, V]) Delete(key K) (bool, error) {
	if err := m.c.lock(m.recoverSlot); err != nil {
		return false, err
	}
	defer m.c.unlock()
	kb := mem.Bytes(&key)
	i, ok := m.find(kb, hash(kb))
	if !ok {
		return false, nil
	}
	m.remove(i)
	return true, nil
}

// remove deletes the entry of slot i: storing the tombstone is the commit.
func (m *Map[K, V]) remove(i int) {
	m.c.begin(opDelete, i, nil)
	m.c.point("delete")
	atomic.StoreUint64(m.ctrl(i), slotTomb)
	m.c.point("deleted")
	m.c.setCounts(m.c.before(0)-1, m.c.before(1)+1)
	m.c.end()
}

// CompareAndSwap sets key to new if it holds old (compared as bytes).
func (m *Map[K, V]) CompareAndSwap(key K, old, new V) (bool, error) {
	if err := m.c.lock(m.recoverSlot); err != nil {
		return false, err
	}
	defer m.c.unlock()
	kb := mem.Bytes(&key)
	i, ok := m.find(kb, hash(kb))
	if !ok || !bytes.Equal(m.slot(i)[m.off:m.off+m.vs], mem.Bytes(&old)) {
		return false, nil
	}
	m.overwrite(i, mem.Bytes(&new))
	return true, nil
}

// Update applies fn to key's value (the zero V and false when absent) as
// one operation: no other process changes the map in between. fn returns
// the new value and whether to keep the key (false deletes it). fn runs
// with the map locked: keep it short, and do not use the map inside it. A
// panic in fn leaves the map as it was.
func (m *Map[K, V]) Update(key K, fn func(old V, found bool) (V, bool)) error {
	if err := m.c.lock(m.recoverSlot); err != nil {
		return err
	}
	defer m.c.unlock()
	kb := mem.Bytes(&key)
	h := hash(kb)
	i, found := m.find(kb, h)
	var old V
	if found {
		copy(mem.Bytes(&old), m.slot(i)[m.off:m.off+m.vs])
	}
	v, keep := fn(old, found)
	switch {
	case keep:
		return m.set(kb, mem.Bytes(&v))
	case found:
		m.remove(i)
	}
	return nil
}

// Range yields a snapshot of the map: every key and value as they were at
// one instant (taken under the lock, then yielded without it, so the loop
// may use the map). Changes made during the loop, by this process or
// another, are not seen.
func (m *Map[K, V]) Range() iter.Seq2[K, V] {
	return func(yield func(K, V) bool) {
		ks, vs, err := m.snapshot()
		if err != nil {
			return
		}
		for i := range ks {
			if !yield(ks[i], vs[i]) {
				return
			}
		}
	}
}

// Snapshot returns the keys and values of the map at one instant.
func (m *Map[K, V]) snapshot() ([]K, []V, error) {
	if err := m.c.lock(m.recoverSlot); err != nil {
		return nil, nil, err
	}
	defer m.c.unlock()
	n := int(m.c.count())
	ks, vs := make([]K, 0, n), make([]V, 0, n)
	for i := range m.c.capacity() {
		if atomic.LoadUint64(m.ctrl(i))&3 != slotFull {
			continue
		}
		var k K
		var v V
		s := m.slot(i)
		copy(mem.Bytes(&k), s[8:8+m.ks])
		copy(mem.Bytes(&v), s[m.off:m.off+m.vs])
		ks, vs = append(ks, k), append(vs, v)
	}
	return ks, vs, nil
}

// rehash copies every entry of the current table into to, a table of
// capacity n.
func (m *Map[K, V]) rehash(to []byte, n int) {
	mask := n - 1
	for i := range m.c.capacity() {
		c := atomic.LoadUint64(m.ctrl(i))
		if c&3 != slotFull {
			continue
		}
		s := m.slot(i)
		j := int(hash(s[8:8+m.ks])) & mask
		for atomic.LoadUint64(mem.Uint64(to, uintptr(j*m.sz)))&3 != slotEmpty {
			j = (j + 1) & mask
		}
		copy(to[j*m.sz:(j+1)*m.sz], s)
	}
}

// recoverSlot finishes or undoes what a dead holder of the lock was doing
// to slot i, as the intent record says.
func (m *Map[K, V]) recoverSlot(op uint32, i int, old []byte) {
	if i < 0 || i >= m.c.capacity() {
		return
	}
	s := m.slot(i)
	c := atomic.LoadUint64(m.ctrl(i)) & 3
	switch op {
	case opOverwrite: // undone: the old value back
		copy(s[m.off:m.off+m.vs], old)
	case opInsert:
		if c == slotFull { // committed: the counts follow
			wasTomb := m.c.intentFlag()
			m.c.setCounts(m.c.before(0)+1, m.c.before(1)-b2u(wasTomb))
		} else {
			m.c.setCounts(m.c.before(0), m.c.before(1))
		}
	case opDelete:
		if c == slotTomb {
			m.c.setCounts(m.c.before(0)-1, m.c.before(1)+1)
		} else {
			m.c.setCounts(m.c.before(0), m.c.before(1))
		}
	}
}

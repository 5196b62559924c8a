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
	k   field[K]
	v   field[V]
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
// Plain keys and values (package ctypes) of at most MaxItem bytes are kept
// as their bytes; others are encoded (see Codec and SetKeyCodec).
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
	kf, kl, err := newField[K]()
	if err != nil {
		return nil, kl, kl, err
	}
	kt := reflect.TypeFor[K]()
	if kf.size > 0 && padded(kt) {
		return nil, kl, kl, fmt.Errorf("%w: key type %v has padding bytes, which would make equal keys differ (keys are compared as bytes): order its fields by size, or fill the gaps with named fields", ErrInvalid, kt)
	}
	if byAddress(kt) {
		return nil, kl, kl, fmt.Errorf("%w: key type %v holds pointers or channels, which are equal by address (keys are compared by their encoding)", ErrInvalid, kt)
	}
	vf, vl, err := newField[V]()
	if err != nil {
		return nil, kl, vl, err
	}
	m := &Map[K, V]{k: kf, v: vf}
	m.off = 8 + align8(kf.width())
	m.sz = m.off + align8(vf.width())
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
	m.k, m.v, m.off, m.sz = n.k, n.v, n.off, n.sz
	return m.c.resolve(b, shm.KindMap, kl, vl, m.sz)
}

// Handle is the map's handle.
func (m *Map[K, V]) Handle() shm.Handle { return m.c.o.Handle() }

// SetKeyCodec replaces this handle's Codec of keys, when they are encoded
// (not plain, or larger than MaxItem); every process must use the same.
// Call it before using the map.
func (m *Map[K, V]) SetKeyCodec(c Codec[K]) {
	if m.k.size == 0 {
		m.k.codec = c
	}
}

// SetValueCodec replaces this handle's Codec of values, when they are
// encoded; every process must use the same. Call it before using the map.
func (m *Map[K, V]) SetValueCodec(c Codec[V]) {
	if m.v.size == 0 {
		m.v.codec = c
	}
}

// Free gives the map's memory back: every process must have stopped
// using it.
func (m *Map[K, V]) Free() error { return m.c.free() }

// slot is the bytes of slot i of the current table.
func (m *Map[K, V]) slot(i int) []byte { return m.c.tab[i*m.sz : (i+1)*m.sz] }

func (m *Map[K, V]) ctrl(i int) *uint64 { return mem.Uint64(m.c.tab, uintptr(i*m.sz)) }

// keyOf is what slot s keeps of its key: the key's bytes or encoding.
func (m *Map[K, V]) keyOf(s []byte) ([]byte, error) {
	if m.k.size > 0 {
		return s[8 : 8+m.k.size], nil
	}
	return m.c.item(le.Uint64(s[8:]))
}

// valueOf is what slot s keeps of its value.
func (m *Map[K, V]) valueOf(s []byte) ([]byte, error) {
	if m.v.size > 0 {
		return s[m.off : m.off+m.v.size], nil
	}
	return m.c.item(le.Uint64(s[m.off:]))
}

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
			if c>>32 != h>>32 {
				continue
			}
			if b, err := m.keyOf(m.slot(i)); err == nil && bytes.Equal(b, kb) {
				return i, true
			}
		}
	}
	return free, false
}

// Get returns the value of key, and whether the map holds it.
func (m *Map[K, V]) Get(key K) (V, bool, error) {
	var v V
	kb, err := m.k.bytes(&key)
	if err != nil {
		return v, false, err
	}
	h := hash(kb)
	if m.k.size > 0 && m.v.size > 0 {
		if found, ok := m.getFast(kb, h, &v); ok {
			return v, found, nil
		}
	}
	if err := m.c.lock(m.recoverSlot); err != nil {
		return v, false, err
	}
	i, ok := m.find(kb, h)
	if !ok {
		m.c.unlock()
		return v, false, nil
	}
	if m.v.size > 0 {
		copy(mem.Bytes(&v), m.slot(i)[m.off:m.off+m.v.size])
		m.c.unlock()
		return v, true, nil
	}
	b, err := m.valueOf(m.slot(i))
	b = bytes.Clone(b) // decoded without the lock
	m.c.unlock()
	if err == nil {
		err = m.v.load(b, &v)
	}
	return v, err == nil, err
}

// getFast looks a plain key up without the lock, as a reader of a
// seqlock: every word it reads is loaded atomically, and the reading
// counts only when the sequence word was even and unchanged around it
// (no holder of the lock changed the map meanwhile). ok is false when no
// reading counted in a few tries, or the table changed since this handle
// attached: the caller takes the lock.
func (m *Map[K, V]) getFast(kb []byte, h uint64, v *V) (found, ok bool) {
	c := &m.c
	for range 4 {
		q := atomic.LoadUint64(c.seq)
		if q&1 == 1 {
			continue
		}
		t := c.current()
		if t == nil {
			return false, false
		}
		*v = *new(V)
		found = false
		mask := t.slots - 1
		for i, n := int(h)&mask, 0; n <= mask; i, n = (i+1)&mask, n+1 {
			at := i * m.sz
			w := atomic.LoadUint64(mem.Uint64(t.tab, uintptr(at)))
			if w&3 == slotEmpty {
				break
			}
			if w&3 == slotFull && w>>32 == h>>32 && wordsEqual(t.tab, at+8, kb) {
				wordsLoad(mem.Bytes(v), t.tab, at+m.off)
				found = true
				break
			}
		}
		if atomic.LoadUint64(c.seq) == q {
			return found, true
		}
	}
	return false, false
}

// wordsEqual reports whether the bytes at tab[at:] equal b, read as whole
// words loaded atomically (at is 8-aligned; the slot's field is padded to
// a multiple of 8).
func wordsEqual(tab []byte, at int, b []byte) bool {
	for j := 0; j < len(b); j += 8 {
		w := atomic.LoadUint64(mem.Uint64(tab, uintptr(at+j)))
		if len(b)-j >= 8 {
			if w != le.Uint64(b[j:]) {
				return false
			}
			continue
		}
		var x [8]byte
		le.PutUint64(x[:], w)
		if !bytes.Equal(x[:len(b)-j], b[j:]) {
			return false
		}
	}
	return true
}

// wordsLoad copies len(dst) bytes from tab[at:] as wordsEqual reads them.
func wordsLoad(dst, tab []byte, at int) {
	for j := 0; j < len(dst); j += 8 {
		var x [8]byte
		le.PutUint64(x[:], atomic.LoadUint64(mem.Uint64(tab, uintptr(at+j))))
		copy(dst[j:], x[:])
	}
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
	kb, err := m.k.bytes(&key)
	if err != nil {
		return err
	}
	vb, err := m.v.bytes(&v)
	if err != nil {
		return err
	}
	if err := m.c.lock(m.recoverSlot); err != nil {
		return err
	}
	defer m.c.unlock()
	return m.set(kb, vb)
}

func (m *Map[K, V]) set(kb, vb []byte) error {
	h := hash(kb)
	i, found := m.find(kb, h)
	if found && m.c.room(m.v.need(vb)) {
		m.overwrite(i, vb)
		return nil
	}
	need := m.v.need(vb)
	if !found {
		need += m.k.need(kb)
	}
	if !found && i >= 0 && !m.c.full(1) && m.c.room(need) {
		m.insert(i, h, kb, vb)
		return nil
	}
	if err := m.c.grow(!found && (i < 0 || m.c.full(1)), need, m.rehash); err != nil {
		return err
	}
	if i, found = m.find(kb, h); i < 0 { // only when the counts are not the table's
		return fmt.Errorf("%w: no free slot in a table of %d after growth", ErrCorrupt, m.c.capacity())
	}
	if found {
		m.overwrite(i, vb)
	} else {
		m.insert(i, h, kb, vb)
	}
	return nil
}

// overwrite replaces the value of slot i: a plain value of at most 8
// bytes with one atomic store; any other with its old bytes (or ref) kept
// in the intent record until the new ones are whole.
func (m *Map[K, V]) overwrite(i int, vb []byte) {
	s := m.slot(i)
	if m.v.size > 0 && m.v.size <= 8 {
		// A value of one aligned word: its store is whole or absent, and
		// needs no record.
		var w [8]byte
		copy(w[:], vb)
		m.c.point("overwrite")
		atomic.StoreUint64(mem.Uint64(s, uintptr(m.off)), le.Uint64(w[:]))
		m.c.point("overwritten")
		return
	}
	old := s[m.off : m.off+m.v.width()]
	drop := 0
	if m.v.size == 0 {
		drop = itemLen(le.Uint64(old))
	}
	m.c.begin(opOverwrite, i, old, m.c.after(m.v.need(vb), drop))
	m.c.point("overwrite")
	storeTo(m.c.data, s[m.off:], m.v.size > 0, vb, m.c.used())
	m.c.point("overwritten")
	m.c.settle(true)
	m.c.end()
}

// insert fills slot i (empty or a tombstone) with key and value; storing
// its control word is the commit.
func (m *Map[K, V]) insert(i int, h uint64, kb, vb []byte) {
	s := m.slot(i)
	m.c.begin(opInsert, i, nil, m.c.after(m.k.need(kb)+m.v.need(vb), 0))
	m.c.point("insert")
	at := storeTo(m.c.data, s[8:], m.k.size > 0, kb, m.c.used())
	storeTo(m.c.data, s[m.off:], m.v.size > 0, vb, at)
	m.c.point("inserted")
	atomic.StoreUint64(m.ctrl(i), h&^0xFFFFFFFF|slotFull)
	m.c.point("committed")
	m.c.setCounts(m.c.before(0)+1, m.c.before(1)-b2u(m.c.intentFlag()))
	m.c.settle(true)
	m.c.end()
}

// Delete removes key; it reports whether the map held it.
func (m *Map[K, V]) Delete(key K) (bool, error) {
	kb, err := m.k.bytes(&key)
	if err != nil {
		return false, err
	}
	if err := m.c.lock(m.recoverSlot); err != nil {
		return false, err
	}
	defer m.c.unlock()
	i, ok := m.find(kb, hash(kb))
	if !ok {
		return false, nil
	}
	m.remove(i)
	return true, nil
}

// remove deletes the entry of slot i: storing the tombstone is the commit.
func (m *Map[K, V]) remove(i int) {
	s, drop := m.slot(i), 0
	if m.k.size == 0 {
		drop += itemLen(le.Uint64(s[8:]))
	}
	if m.v.size == 0 {
		drop += itemLen(le.Uint64(s[m.off:]))
	}
	m.c.begin(opDelete, i, nil, m.c.after(0, drop))
	m.c.point("delete")
	atomic.StoreUint64(m.ctrl(i), slotTomb)
	m.c.point("deleted")
	m.c.setCounts(m.c.before(0)-1, m.c.before(1)+1)
	m.c.settle(true)
	m.c.end()
}

// CompareAndSwap sets key to new if it holds old (compared as bytes). V
// must be plain, of at most MaxItem bytes (ErrInvalid otherwise: use
// Update).
func (m *Map[K, V]) CompareAndSwap(key K, old, new V) (bool, error) {
	if m.v.size == 0 {
		return false, fmt.Errorf("%w: CompareAndSwap of an encoded %v: use Update", ErrInvalid, reflect.TypeFor[V]())
	}
	kb, err := m.k.bytes(&key)
	if err != nil {
		return false, err
	}
	if err := m.c.lock(m.recoverSlot); err != nil {
		return false, err
	}
	defer m.c.unlock()
	i, ok := m.find(kb, hash(kb))
	if !ok || !bytes.Equal(m.slot(i)[m.off:m.off+m.v.size], mem.Bytes(&old)) {
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
	kb, err := m.k.bytes(&key)
	if err != nil {
		return err
	}
	if err := m.c.lock(m.recoverSlot); err != nil {
		return err
	}
	defer m.c.unlock()
	h := hash(kb)
	i, found := m.find(kb, h)
	var old V
	if found {
		b, err := m.valueOf(m.slot(i))
		if err == nil {
			err = m.v.load(b, &old)
		}
		if err != nil {
			return err
		}
	}
	v, keep := fn(old, found)
	switch {
	case keep:
		vb, err := m.v.bytes(&v)
		if err != nil {
			return err
		}
		return m.set(kb, vb)
	case found:
		m.remove(i)
	}
	return nil
}

// Range yields a snapshot of the map: every key and value as they were at
// one instant (taken under the lock, then yielded without it, so the loop
// may use the map). Changes made during the loop, by this process or
// another, are not seen. It yields nothing when the snapshot fails (a
// corrupt map, or a value its Codec cannot decode): Snapshot reports why.
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

// Snapshot returns the map's keys and values at one instant, as a Go map.
func (m *Map[K, V]) Snapshot() (map[K]V, error) {
	ks, vs, err := m.snapshot()
	if err != nil {
		return nil, err
	}
	out := make(map[K]V, len(ks))
	for i, k := range ks {
		out[k] = vs[i]
	}
	return out, nil
}

// snapshot copies the entries out under the lock; encoded ones are
// decoded after it.
func (m *Map[K, V]) snapshot() ([]K, []V, error) {
	if err := m.c.lock(m.recoverSlot); err != nil {
		return nil, nil, err
	}
	n := int(m.c.count())
	ks, vs := make([]K, 0, n), make([]V, 0, n)
	var kbs, vbs [][]byte // encoded keys and values, copied
	for i := range m.c.capacity() {
		if atomic.LoadUint64(m.ctrl(i))&3 != slotFull {
			continue
		}
		s := m.slot(i)
		kb, err := m.keyOf(s)
		if err != nil {
			m.c.unlock()
			return nil, nil, err
		}
		vb, err := m.valueOf(s)
		if err != nil {
			m.c.unlock()
			return nil, nil, err
		}
		var k K
		var v V
		if m.k.size > 0 {
			copy(mem.Bytes(&k), kb)
		} else {
			kbs = append(kbs, bytes.Clone(kb))
		}
		if m.v.size > 0 {
			copy(mem.Bytes(&v), vb)
		} else {
			vbs = append(vbs, bytes.Clone(vb))
		}
		ks, vs = append(ks, k), append(vs, v)
	}
	m.c.unlock()
	for i := range kbs {
		if err := m.k.load(kbs[i], &ks[i]); err != nil {
			return nil, nil, err
		}
	}
	for i := range vbs {
		if err := m.v.load(vbs[i], &vs[i]); err != nil {
			return nil, nil, err
		}
	}
	return ks, vs, nil
}

// rehash copies every entry of the current table into slots, n slots of a
// new table, and their encodings into data, its data region, returning
// the data bytes used.
func (m *Map[K, V]) rehash(slots, data []byte, n int) (uint64, error) {
	mask, at := n-1, uint64(0)
	for i := range m.c.capacity() {
		if atomic.LoadUint64(m.ctrl(i))&3 != slotFull {
			continue
		}
		s := m.slot(i)
		kb, err := m.keyOf(s)
		if err != nil {
			return 0, err
		}
		j := int(hash(kb)) & mask
		for atomic.LoadUint64(mem.Uint64(slots, uintptr(j*m.sz)))&3 != slotEmpty {
			j = (j + 1) & mask
		}
		d := slots[j*m.sz : (j+1)*m.sz]
		copy(d, s)
		if !m.c.enc {
			continue
		}
		vb, err := m.valueOf(s)
		if err != nil {
			return 0, err
		}
		if need := uint64(m.k.need(kb) + m.v.need(vb)); need > uint64(len(data))-at {
			return 0, fmt.Errorf("%w: the live data outgrows its count", ErrCorrupt)
		}
		at = storeTo(data, d[8:], m.k.size > 0, kb, at)
		at = storeTo(data, d[m.off:], m.v.size > 0, vb, at)
	}
	return at, nil
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
		copy(s[m.off:m.off+m.v.width()], old)
		m.c.settle(false)
	case opInsert:
		if c == slotFull { // committed: the counts follow
			wasTomb := m.c.intentFlag()
			m.c.setCounts(m.c.before(0)+1, m.c.before(1)-b2u(wasTomb))
		} else {
			m.c.setCounts(m.c.before(0), m.c.before(1))
		}
		m.c.settle(c == slotFull)
	case opDelete:
		if c == slotTomb {
			m.c.setCounts(m.c.before(0)-1, m.c.before(1)+1)
		} else {
			m.c.setCounts(m.c.before(0), m.c.before(1))
		}
		m.c.settle(c == slotTomb)
	}
}

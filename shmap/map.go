package shmap

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"iter"
	"reflect"
	"sync/atomic"

	"github.com/shmkit/shmkit/ctypes"
	"github.com/shmkit/shmkit/internal/mem"
	"github.com/shmkit/shmkit/internal/seqlock"
	"github.com/shmkit/shmkit/shm"
)

// Map is a hash map in shared memory that every process attached to it
// reads and changes: Python's Manager().dict(), without a server. Its keys
// are spread by their hash over parts, each with its own lock and table,
// so that processes changing different keys seldom wait for each other.
type Map[K comparable, V any] struct {
	handle
	root  *shm.Object
	parts []part[K, V]
	k     field[K]
	v     field[V]
	off   int // of the value in a slot
	sz    int // slot bytes
}

var _ io.Closer = (*Map[int, int])(nil)

// part is one part of a Map: a collection with its own header, lock and
// table (and data region), holding the keys whose hash's top bits are its
// number.
type part[K comparable, V any] struct {
	c   coll
	m   *Map[K, V]
	fix func(op uint32, slot int, old []byte) // p.recoverSlot, made once
}

// partBits: a Map has 1<<partBits parts.
const (
	partBits = 3
	nParts   = 1 << partBits
)

// part is the part that holds the keys of hash h.
func (m *Map[K, V]) part(h uint64) *part[K, V] { return &m.parts[h>>(64-partBits)] }

// The root of a Map, the object its name and handle find (little endian):
//
//	0  u32 magic "SMAP"   4  u32 version 2   8 u32 kind (map)
//	12 u32 parts          16 u64 key layout fingerprint
//	24 u64 value layout fingerprint
//	32 u32 key size       36 u32 value size (0: encoded)
//	64 + 16*i: part i's header, u64 offset and u64 generation
const (
	rootVersion = 2
	offParts    = 12
	offPart     = 64
	rootSize    = offPart + 16*nParts
)

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
		return nil, wrap("making a map", err)
	}
	root, err := shm.PlaceObject(spec(shm.KindMap, kl, vl, rootSize), func(o *shm.Object) error {
		h := o.Bytes()
		for i := range m.parts {
			c := &m.parts[i].c
			if err := c.make(shm.KindShard, kl, vl, minCap, m.sz, []shm.Option{shm.In(o.Segment(), "")}); err != nil {
				for j := range i {
					m.parts[j].c.free()
				}
				return err
			}
			ph := c.o.Handle()
			le.PutUint64(h[offPart+16*i:], ph.Offset)
			le.PutUint64(h[offPart+16*i+8:], ph.Generation)
		}
		le.PutUint32(h[0:], magic)
		le.PutUint32(h[4:], rootVersion)
		le.PutUint32(h[offKind:], uint32(shm.KindMap))
		le.PutUint32(h[offParts:], nParts)
		le.PutUint64(h[offKeyFP:], kl.Fingerprint)
		le.PutUint64(h[offValFP:], vl.Fingerprint)
		le.PutUint32(h[offKeySize:], uint32(kl.Size))
		le.PutUint32(h[offValSize:], uint32(vl.Size))
		return nil
	}, opts...)
	if err != nil {
		return nil, wrap("making a map", err)
	}
	m.root = root
	return m, nil
}

// Open attaches to the Map called name in seg (shm.ErrLayout when it holds
// other types, shm.ErrKind when it is not a map). It waits, as long as ctx
// allows, for a map not made yet (an error matching shm.ErrNotExist and
// ctx.Err() when ctx ends first) or whose creator is still making it.
func Open[K comparable, V any](ctx context.Context, seg *shm.Segment, name string) (*Map[K, V], error) {
	m, kl, vl, err := mapLayout[K, V]()
	if err == nil {
		var o *shm.Object
		if o, err = seg.Find(ctx, name, spec(shm.KindMap, kl, vl, rootSize)); err == nil {
			err = m.attach(o, kl, vl)
		}
	}
	if err != nil {
		return nil, wrapped(fmt.Sprintf("opening map %q", name), err)
	}
	return m, nil
}

// attach checks the root o and attaches to each of its parts.
func (m *Map[K, V]) attach(o *shm.Object, kl, vl ctypes.Layout) error {
	h := o.Bytes()
	switch {
	case le.Uint32(h) == magic && le.Uint32(h[4:]) != rootVersion:
		return fmt.Errorf("%w: map root version %d, this build reads %d: %w", ErrCorrupt, le.Uint32(h[4:]), rootVersion, shm.ErrVersion)
	case le.Uint32(h) != magic || le.Uint32(h[offKind:]) != uint32(shm.KindMap) || le.Uint32(h[offParts:]) != nParts:
		return fmt.Errorf("%w: map root magic %#x version %d kind %d, %d parts", ErrCorrupt, le.Uint32(h), le.Uint32(h[4:]), le.Uint32(h[offKind:]), le.Uint32(h[offParts:]))
	case le.Uint64(h[offKeyFP:]) != kl.Fingerprint || le.Uint64(h[offValFP:]) != vl.Fingerprint ||
		le.Uint32(h[offKeySize:]) != uint32(kl.Size) || le.Uint32(h[offValSize:]) != uint32(vl.Size):
		return fmt.Errorf("%w: the map's root says other types than its block", ErrCorrupt)
	}
	for i := range m.parts {
		ph := o.Handle()
		ph.Offset, ph.Generation = le.Uint64(h[offPart+16*i:]), le.Uint64(h[offPart+16*i+8:])
		for j := range i { // the same part twice would deadlock lockAll
			if le.Uint64(h[offPart+16*j:]) == ph.Offset {
				return fmt.Errorf("%w: the map's parts %d and %d are one", ErrCorrupt, j, i)
			}
		}
		ph.Kind, ph.Fingerprint = shm.KindShard, fingerprint(shm.KindShard, kl, vl)
		po, err := shm.Resolve(ph)
		if err != nil {
			return fmt.Errorf("the map's part %d: %w", i, err)
		}
		if err := m.parts[i].c.attach(po, shm.KindShard, kl, vl, m.sz); err != nil {
			return err
		}
	}
	m.root = o
	return nil
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
	m := &Map[K, V]{k: kf, v: vf, parts: make([]part[K, V], nParts)}
	m.off = 8 + align8(kf.width())
	m.sz = m.off + align8(vf.width())
	for i := range m.parts {
		p := &m.parts[i]
		p.m, p.fix = m, p.recoverSlot
	}
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
func (m *Map[K, V]) MarshalBinary() ([]byte, error) { return m.root.Handle().MarshalBinary() }

// UnmarshalBinary attaches to the map a handle names.
func (m *Map[K, V]) UnmarshalBinary(b []byte) error {
	n, kl, vl, err := mapLayout[K, V]()
	if err != nil {
		return wrap("attaching a map", err)
	}
	o, err := shm.Unmarshal(b, spec(shm.KindMap, kl, vl, rootSize))
	if err != nil {
		return wrap("attaching a map", err)
	}
	*m = Map[K, V]{k: n.k, v: n.v, off: n.off, sz: n.sz, parts: make([]part[K, V], nParts)}
	for i := range m.parts {
		p := &m.parts[i]
		p.m, p.fix = m, p.recoverSlot
	}
	return wrap("attaching a map", m.attach(o, kl, vl))
}

// Handle is the map's handle.
func (m *Map[K, V]) Handle() shm.Handle { return m.root.Handle() }

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

// Free destroys the map for every process: it closes this handle and
// gives the map's memory back to its segment (each part's header, lock and
// table, and the root). Every process must have stopped using it. A second
// Free, through any handle in any process, fails with shm.ErrStale.
func (m *Map[K, V]) Free() error {
	if err := live(m.root); err != nil {
		return wrap("freeing a map", err)
	}
	m.closed.Store(true)
	var errs []error
	for i := range m.parts {
		errs = append(errs, m.parts[i].c.free())
	}
	return wrap("freeing a map", errors.Join(append(errs, m.root.Free())...))
}

// lockKey takes the lock of the part of the key of bytes kb, and gives
// that part and the key's hash.
func (m *Map[K, V]) lockKey(kb []byte) (*part[K, V], uint64, error) {
	h := hash(kb)
	p := m.part(h)
	return p, h, p.c.lock(p.fix)
}

// lockAll takes the lock of every part, in order (the only order in which
// anything holds more than one), for an operation on the whole map.
func (m *Map[K, V]) lockAll() error {
	for i := range m.parts {
		p := &m.parts[i]
		if err := p.c.lock(p.fix); err != nil {
			return errors.Join(err, m.unlockAll(i))
		}
	}
	m.parts[nParts-1].c.point("all locked")
	return nil
}

// unlockAll unlocks the first n parts, all of them even when one fails.
func (m *Map[K, V]) unlockAll(n int) error {
	var errs []error
	for i := range n {
		if err := m.parts[i].c.unlock(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// unlockAllTo is unlockAll for a deferred release of an exported call,
// joining its error to *err, and wrapping the result (see wrap).
func (m *Map[K, V]) unlockAllTo(err *error, what string) {
	*err = wrap(what, withUnlock(*err, m.unlockAll(nParts)))
}

// slot is the bytes of slot i of the current table.
func (p *part[K, V]) slot(i int) []byte { return p.c.tab[i*p.m.sz : (i+1)*p.m.sz] }

func (p *part[K, V]) ctrl(i int) *uint64 { return mem.Uint64(p.c.tab, uintptr(i*p.m.sz)) }

// keyOf is what slot s keeps of its key: the key's bytes or encoding.
func (p *part[K, V]) keyOf(s []byte) ([]byte, error) {
	if p.m.k.size > 0 {
		return s[8 : 8+p.m.k.size], nil
	}
	return p.c.item(le.Uint64(s[8:]))
}

// valueOf is what slot s keeps of its value.
func (p *part[K, V]) valueOf(s []byte) ([]byte, error) {
	if p.m.v.size > 0 {
		return s[p.m.off : p.m.off+p.m.v.size], nil
	}
	return p.c.item(le.Uint64(s[p.m.off:]))
}

// find looks key up: the slot holding it, or the slot an insert takes.
func (p *part[K, V]) find(kb []byte, h uint64) (i int, found bool) {
	mask := p.c.capacity() - 1
	free := -1
	for i, n := int(h)&mask, 0; n <= mask; i, n = (i+1)&mask, n+1 {
		c := atomic.LoadUint64(p.ctrl(i))
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
			if b, err := p.keyOf(p.slot(i)); err == nil && bytes.Equal(b, kb) {
				return i, true
			}
		}
	}
	return free, false
}

// Get returns the value of key, and whether the map holds it.
func (m *Map[K, V]) Get(key K) (V, bool, error) {
	var v V
	if err := m.usable(); err != nil {
		return v, false, wrap("get", err)
	}
	kb, err := m.k.bytes(&key)
	if err != nil {
		return v, false, wrap("get", err)
	}
	h := hash(kb)
	p := m.part(h)
	if m.k.size > 0 && m.v.size > 0 {
		if found, ok := p.getFast(kb, h, &v); ok {
			return v, found, nil
		}
	}
	return m.getLocked(p, kb, h)
}

// getLocked is Get under the part's lock. Apart from Get, so that the
// value getFast fills stays on the stack (decoding makes this one escape).
func (m *Map[K, V]) getLocked(p *part[K, V], kb []byte, h uint64) (V, bool, error) {
	var v V
	if err := p.c.lock(p.fix); err != nil {
		return v, false, wrap("get", err)
	}
	i, ok := p.find(kb, h)
	if !ok {
		return v, false, wrap("get", p.c.unlock())
	}
	if m.v.size > 0 {
		copy(mem.Bytes(&v), p.slot(i)[m.off:m.off+m.v.size])
		if err := p.c.unlock(); err != nil {
			var zero V
			return zero, false, wrap("get", err)
		}
		return v, true, nil
	}
	b, err := p.valueOf(p.slot(i))
	b = bytes.Clone(b) // decoded without the lock
	if err = withUnlock(err, p.c.unlock()); err == nil {
		err = m.v.load(b, &v)
	}
	return v, err == nil, wrap("get", err)
}

// getFast looks a plain key up without the lock, as a reader of a
// seqlock: every word it reads is loaded atomically, and the reading
// counts only when the sequence word was even and unchanged around it
// (no holder of the lock changed the map meanwhile). ok is false when no
// reading counted in a few tries, or the table changed since this handle
// attached: the caller takes the lock.
func (p *part[K, V]) getFast(kb []byte, h uint64, v *V) (found, ok bool) {
	c := &p.c
	for range 4 {
		q, ok := c.seq.BeginRead()
		if !ok {
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
			at := i * p.m.sz
			w := atomic.LoadUint64(mem.Uint64(t.tab, uintptr(at)))
			if w&3 == slotEmpty {
				break
			}
			if w&3 == slotFull && w>>32 == h>>32 && seqlock.Equal(t.tab[at+8:], kb) {
				seqlock.Load(mem.Bytes(v), t.tab[at+p.m.off:])
				found = true
				break
			}
		}
		if c.seq.ReadOk(q) {
			return found, true
		}
	}
	return false, false
}

// Len is the number of keys, counted with every part locked, so at one
// instant. It is 0 through a closed handle, and when the map's memory is
// corrupt (the calls that return an error say what is wrong).
func (m *Map[K, V]) Len() int {
	n, err := m.count()
	if err != nil {
		return 0
	}
	return n
}

// count is Len, and why it is 0 when it fails.
func (m *Map[K, V]) count() (n int, err error) {
	if err := m.usable(); err != nil {
		return 0, wrap("len", err)
	}
	if err := m.lockAll(); err != nil {
		return 0, wrap("len", err)
	}
	defer m.unlockAllTo(&err, "len")
	for i := range m.parts {
		n += int(m.parts[i].c.count())
	}
	return n, nil
}

// Set sets key to v.
func (m *Map[K, V]) Set(key K, v V) (err error) {
	if err := m.usable(); err != nil {
		return wrap("set", err)
	}
	kb, err := m.k.bytes(&key)
	if err != nil {
		return wrap("set", err)
	}
	vb, err := m.v.bytes(&v)
	if err != nil {
		return wrap("set", err)
	}
	p, h, err := m.lockKey(kb)
	if err != nil {
		return wrap("set", err)
	}
	defer p.c.unlockTo(&err, "set")
	return p.set(h, kb, vb)
}

// set sets the key of bytes kb, of hash h, to the value of bytes vb.
func (p *part[K, V]) set(h uint64, kb, vb []byte) error {
	i, found := p.find(kb, h)
	if found && p.c.room(p.m.v.need(vb)) {
		p.overwrite(i, vb)
		return nil
	}
	need := p.m.v.need(vb)
	if !found {
		need += p.m.k.need(kb)
	}
	if !found && i >= 0 && !p.c.full(1) && p.c.room(need) {
		p.insert(i, h, kb, vb)
		return nil
	}
	if err := p.c.grow(!found && (i < 0 || p.c.full(1)), need, p.rehash); err != nil {
		return err
	}
	if i, found = p.find(kb, h); i < 0 { // only when the counts are not the table's
		return fmt.Errorf("%w: no free slot in a table of %d after growth", ErrCorrupt, p.c.capacity())
	}
	if found {
		p.overwrite(i, vb)
	} else {
		p.insert(i, h, kb, vb)
	}
	return nil
}

// overwrite replaces the value of slot i: a plain value of at most 8
// bytes with one atomic store; any other with its old bytes (or ref) kept
// in the intent record until the new ones are whole.
func (p *part[K, V]) overwrite(i int, vb []byte) {
	s := p.slot(i)
	if p.m.v.size > 0 && p.m.v.size <= 8 {
		// A value of one aligned word: its store is whole or absent, and
		// needs no record.
		var w [8]byte
		copy(w[:], vb)
		p.c.point("overwrite")
		atomic.StoreUint64(mem.Uint64(s, uintptr(p.m.off)), le.Uint64(w[:]))
		p.c.point("overwritten")
		return
	}
	old := s[p.m.off : p.m.off+p.m.v.width()]
	drop := 0
	if p.m.v.size == 0 {
		drop = itemLen(le.Uint64(old))
	}
	p.c.begin(opOverwrite, i, old, p.c.after(p.m.v.need(vb), drop))
	p.c.point("overwrite")
	p.put(s[p.m.off:], p.m.v.size > 0, vb, p.c.used())
	p.c.point("overwritten")
	p.c.settle(true)
	p.c.end()
}

// insert fills slot i (empty or a tombstone) with key and value; storing
// its control word is the commit.
func (p *part[K, V]) insert(i int, h uint64, kb, vb []byte) {
	s := p.slot(i)
	p.c.begin(opInsert, i, nil, p.c.after(p.m.k.need(kb)+p.m.v.need(vb), 0))
	p.c.point("insert")
	at := p.put(s[8:], p.m.k.size > 0, kb, p.c.used())
	p.put(s[p.m.off:], p.m.v.size > 0, vb, at)
	p.c.point("inserted")
	atomic.StoreUint64(p.ctrl(i), h&^0xFFFFFFFF|slotFull)
	p.c.point("committed")
	p.c.setCounts(p.c.before(0)+1, p.c.before(1)-b2u(p.c.intentFlag()))
	p.c.settle(true)
	p.c.end()
}

// put is storeTo for a field of a slot of the current table, whose plain
// bytes Get may be loading without the lock meanwhile: they are stored as
// whole atomic words (see package seqlock).
func (p *part[K, V]) put(dst []byte, plain bool, b []byte, at uint64) uint64 {
	if plain {
		seqlock.Store(dst, b)
		return at
	}
	return storeTo(p.c.data, dst, false, b, at)
}

// Delete removes key; it reports whether the map held it.
func (m *Map[K, V]) Delete(key K) (_ bool, err error) {
	if err := m.usable(); err != nil {
		return false, wrap("delete", err)
	}
	kb, err := m.k.bytes(&key)
	if err != nil {
		return false, wrap("delete", err)
	}
	p, h, err := m.lockKey(kb)
	if err != nil {
		return false, wrap("delete", err)
	}
	defer p.c.unlockTo(&err, "delete")
	i, ok := p.find(kb, h)
	if !ok {
		return false, nil
	}
	p.remove(i)
	return true, nil
}

// remove deletes the entry of slot i: storing the tombstone is the commit.
func (p *part[K, V]) remove(i int) {
	s, drop := p.slot(i), 0
	if p.m.k.size == 0 {
		drop += itemLen(le.Uint64(s[8:]))
	}
	if p.m.v.size == 0 {
		drop += itemLen(le.Uint64(s[p.m.off:]))
	}
	p.c.begin(opDelete, i, nil, p.c.after(0, drop))
	p.c.point("delete")
	atomic.StoreUint64(p.ctrl(i), slotTomb)
	p.c.point("deleted")
	p.c.setCounts(p.c.before(0)-1, p.c.before(1)+1)
	p.c.settle(true)
	p.c.end()
}

// CompareAndSwap sets key to new if it holds old (compared as bytes). V
// must be plain, of at most MaxItem bytes (ErrInvalid otherwise: use
// Update).
func (m *Map[K, V]) CompareAndSwap(key K, old, new V) (_ bool, err error) {
	if err := m.usable(); err != nil {
		return false, wrap("compare and swap", err)
	}
	if m.v.size == 0 {
		return false, wrapped("compare and swap", fmt.Errorf("%w: values of an encoded %v: use Update", ErrInvalid, reflect.TypeFor[V]()))
	}
	kb, err := m.k.bytes(&key)
	if err != nil {
		return false, wrap("compare and swap", err)
	}
	p, h, err := m.lockKey(kb)
	if err != nil {
		return false, wrap("compare and swap", err)
	}
	defer p.c.unlockTo(&err, "compare and swap")
	i, ok := p.find(kb, h)
	if !ok || !bytes.Equal(p.slot(i)[m.off:m.off+m.v.size], mem.Bytes(&old)) {
		return false, nil
	}
	p.overwrite(i, mem.Bytes(&new))
	return true, nil
}

// Update applies fn to key's value (the zero V and false when absent) as
// one operation: no other process changes the map in between. fn returns
// the new value and whether to keep the key (false deletes it). fn runs
// with the map locked: keep it short, and do not use the map inside it. A
// panic in fn leaves the map as it was.
func (m *Map[K, V]) Update(key K, fn func(old V, found bool) (V, bool)) (err error) {
	if err := m.usable(); err != nil {
		return wrap("update", err)
	}
	kb, err := m.k.bytes(&key)
	if err != nil {
		return wrap("update", err)
	}
	p, h, err := m.lockKey(kb)
	if err != nil {
		return wrap("update", err)
	}
	defer p.c.unlockTo(&err, "update")
	i, found := p.find(kb, h)
	var old V
	if found {
		b, err := p.valueOf(p.slot(i))
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
		return p.set(h, kb, vb)
	case found:
		p.remove(i)
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
		return nil, wrap("snapshot", err)
	}
	out := make(map[K]V, len(ks))
	for i, k := range ks {
		out[k] = vs[i]
	}
	return out, nil
}

// snapshot copies the entries out with every part locked; encoded ones
// are decoded after.
func (m *Map[K, V]) snapshot() ([]K, []V, error) {
	if err := m.usable(); err != nil {
		return nil, nil, err
	}
	if err := m.lockAll(); err != nil {
		return nil, nil, err
	}
	n := 0
	for i := range m.parts {
		n += int(m.parts[i].c.count())
	}
	ks, vs := make([]K, 0, n), make([]V, 0, n)
	var kbs, vbs [][]byte // encoded keys and values, copied
	for i := range m.parts {
		var err error
		if ks, vs, kbs, vbs, err = m.parts[i].copyOut(ks, vs, kbs, vbs); err != nil {
			return nil, nil, errors.Join(err, m.unlockAll(nParts))
		}
	}
	if err := m.unlockAll(nParts); err != nil {
		return nil, nil, err
	}
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

// copyOut appends the part's entries: plain keys and values to ks and vs,
// encoded ones (copied) to kbs and vbs, with zero values in ks and vs.
func (p *part[K, V]) copyOut(ks []K, vs []V, kbs, vbs [][]byte) ([]K, []V, [][]byte, [][]byte, error) {
	for i := range p.c.capacity() {
		if atomic.LoadUint64(p.ctrl(i))&3 != slotFull {
			continue
		}
		s := p.slot(i)
		kb, err := p.keyOf(s)
		if err != nil {
			return ks, vs, kbs, vbs, err
		}
		vb, err := p.valueOf(s)
		if err != nil {
			return ks, vs, kbs, vbs, err
		}
		var k K
		var v V
		if p.m.k.size > 0 {
			copy(mem.Bytes(&k), kb)
		} else {
			kbs = append(kbs, bytes.Clone(kb))
		}
		if p.m.v.size > 0 {
			copy(mem.Bytes(&v), vb)
		} else {
			vbs = append(vbs, bytes.Clone(vb))
		}
		ks, vs = append(ks, k), append(vs, v)
	}
	return ks, vs, kbs, vbs, nil
}

// rehash copies every entry of the current table into slots, n slots of a
// new table, and their encodings into data, its data region, returning
// the data bytes used.
func (p *part[K, V]) rehash(slots, data []byte, n int) (uint64, error) {
	mask, at := n-1, uint64(0)
	for i := range p.c.capacity() {
		if atomic.LoadUint64(p.ctrl(i))&3 != slotFull {
			continue
		}
		s := p.slot(i)
		kb, err := p.keyOf(s)
		if err != nil {
			return 0, err
		}
		j := int(hash(kb)) & mask
		for atomic.LoadUint64(mem.Uint64(slots, uintptr(j*p.m.sz)))&3 != slotEmpty {
			j = (j + 1) & mask
		}
		d := slots[j*p.m.sz : (j+1)*p.m.sz]
		copy(d, s)
		if !p.c.enc {
			continue
		}
		vb, err := p.valueOf(s)
		if err != nil {
			return 0, err
		}
		if need := uint64(p.m.k.need(kb) + p.m.v.need(vb)); need > uint64(len(data))-at {
			return 0, fmt.Errorf("%w: the live data outgrows its count", ErrCorrupt)
		}
		at = storeTo(data, d[8:], p.m.k.size > 0, kb, at)
		at = storeTo(data, d[p.m.off:], p.m.v.size > 0, vb, at)
	}
	return at, nil
}

// recoverSlot finishes or undoes what a dead holder of the lock was doing
// to slot i, as the intent record says.
func (p *part[K, V]) recoverSlot(op uint32, i int, old []byte) {
	if i < 0 || i >= p.c.capacity() {
		return
	}
	s := p.slot(i)
	c := atomic.LoadUint64(p.ctrl(i)) & 3
	switch op {
	case opOverwrite: // undone: the old value back
		seqlock.Store(s[p.m.off:], old[:p.m.v.width()])
		p.c.settle(false)
	case opInsert:
		if c == slotFull { // committed: the counts follow
			wasTomb := p.c.intentFlag()
			p.c.setCounts(p.c.before(0)+1, p.c.before(1)-b2u(wasTomb))
		} else {
			p.c.setCounts(p.c.before(0), p.c.before(1))
		}
		p.c.settle(c == slotFull)
	case opDelete:
		if c == slotTomb {
			p.c.setCounts(p.c.before(0)-1, p.c.before(1)+1)
		} else {
			p.c.setCounts(p.c.before(0), p.c.before(1))
		}
		p.c.settle(c == slotTomb)
	}
}

package shmap

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"sync"
	"sync/atomic"

	"github.com/shmkit/shmkit/ctypes"
	"github.com/shmkit/shmkit/internal/mem"
	"github.com/shmkit/shmkit/internal/seqlock"
	"github.com/shmkit/shmkit/semaphore"
	"github.com/shmkit/shmkit/shm"
)

var (
	// ErrInvalid: a type that cannot live in shared memory, or an index out
	// of range.
	// The same value as shm.ErrInvalid.
	ErrInvalid = shm.ErrInvalid
	// ErrFull: the segment has no room for the table the collection must
	// grow to; the collection is as it was. The same value as shm.ErrFull.
	ErrFull = shm.ErrFull
	// ErrCorrupt: the collection's memory (its header, lock word, table or
	// root) or the segment under it holds what no shmkit process writes.
	// The same value as shm.ErrCorrupt.
	ErrCorrupt = shm.ErrCorrupt
	// ErrClosed: the call went through a handle that was closed. The same
	// value as shm.ErrClosed; it matches os.ErrClosed too.
	ErrClosed = shm.ErrClosed
)

// wrap gives err the package's prefix and what failed: every error an
// exported function returns goes through it once, so that it starts with
// "shmap: ", and the errors made inside the package carry no prefix.
func wrap(what string, err error) error {
	if err == nil {
		return nil
	}
	return wrapped(what, err)
}

func wrapped(what string, err error) error { return fmt.Errorf("shmap: %s: %w", what, err) }

// handle is the state of this process's handle to a Map or List.
type handle struct{ closed atomic.Bool }

// Close ends this handle: later calls through it fail with an error
// matching ErrClosed (and os.ErrClosed). The collection stays for the
// other handles and processes. Idempotent.
func (x *handle) Close() error {
	x.closed.Store(true)
	return nil
}

// usable is nil, or the error of a call through a closed handle.
func (x *handle) usable() error {
	if x.closed.Load() {
		return ErrClosed
	}
	return nil
}

// localLocks holds, for every collection lock this process uses (by
// segment and offset), a mutex its goroutines take before the shared lock,
// so that a shared word naming this process while no goroutine here holds
// it is known to be corrupted.
var localLocks sync.Map // [2]uint64 -> *sync.Mutex

func localLock(seg *shm.Segment, off uint64) *sync.Mutex {
	key := [2]uint64{seg.ID(), off}
	if m, ok := localLocks.Load(key); ok {
		return m.(*sync.Mutex)
	}
	m, _ := localLocks.LoadOrStore(key, new(sync.Mutex))
	return m.(*sync.Mutex)
}

// MaxItem is the largest key, value or element kept as its bytes in a
// slot; a larger plain type is kept as an encoded one is.
const MaxItem = 256

// MaxEncoded is the largest encoding of a key, value or element.
const MaxEncoded = 1<<refLenBits - 1

// The header of a Map or List, at the start of its object (little endian):
//
//	0   u32 magic "SMAP"     4   u32 version 1
//	8   u32 kind             12  u32 slot bytes
//	16  u64 key (element) layout fingerprint
//	24  u64 value layout fingerprint (0 for a List)
//	32  u32 key size         36  u32 value size (0: encoded, a ref in
//	    the slot and the bytes in the table's data region)
//	40  u64 lock offset      48  u64 lock generation
//	56  u64 sequence: odd while a holder of the lock changes what a
//	    reader without it reads (from begin to end, and around the switch
//	    of a growth); even otherwise
//	64  u64 table offset     72  u64 table generation   80 u64 table slots
//	88  u64 count (a List's length)   96 u64 tombstones   104 u64 growths
//	112 u64 data bytes used   120 u64 of which garbage (overwritten or
//	    deleted encodings, dropped at the next growth)
//	128 intent record: the operation a holder of the lock is making
//	    128 u32 op (0: none)   132 u32 flag (insert: the slot was a
//	    tombstone; grow: 1 filling, 2 switched)   136 u64 slot
//	    144 u64 count before   152 u64 tombstones before
//	    160 u64 new table offset, 168 generation, 176 slots
//	    184 u64 old table offset, 192 generation, 200 slots
//	    208 u64 data bytes used in the new table
//	    216 u64 data used before, 224 garbage before
//	    232 u64 data used after, 240 garbage after
//	248 u64 repairs: intent records of dead holders finished or undone
//	256 the old bytes of an overwritten value (MaxItem)
const (
	hdrSize    = 512
	magic      = 0x50414d53
	version    = 1
	offKind    = 8
	offSlot    = 12
	offKeyFP   = 16
	offValFP   = 24
	offKeySize = 32
	offValSize = 36
	offLock    = 40
	offSeq     = 56
	offTable   = 64
	offCount   = 88
	offTombs   = 96
	offGrowths = 104
	offUsed    = 112
	offGarbage = 120
	offOp      = 128
	offFlag    = 132
	offISlot   = 136
	offBefore  = 144
	offNew     = 160
	offOld     = 184
	offNewUsed = 208
	offDataWas = 216
	offDataIs  = 232
	offRepairs = 248
	offOldVal  = 256

	minCap  = 8
	maxCap  = 1 << 40
	minData = 64 * minCap // the first data region of an encoded collection

	// A ref, the slot's word for an encoded item: offset in the data
	// region << refLenBits | length.
	refLenBits = 24
	maxData    = 1 << 40
)

// The operations of the intent record.
const (
	opOverwrite = 1
	opInsert    = 2
	opDelete    = 3
	opGrow      = 4
	opAppend    = 5
)

var le = binary.LittleEndian

// coll is what a Map and a List share: the header, the lock, the table,
// and the intent record through which the next holder of the lock repairs
// what a dead holder left half done.
type coll struct {
	o    *shm.Object
	h    []byte
	mu   *semaphore.Mutex
	here *sync.Mutex               // localLock of mu
	sz   int                       // slot bytes
	tab  []byte                    // the table, as this handle last attached it: view.tab
	seq  seqlock.Seq               // the header's sequence word
	view atomic.Pointer[tableView] // the table this handle attached, also for readers without the lock
	enc  bool                      // encoded items: the table has a data region
	data []byte                    // the data region, after the slots

	recovered atomic.Int64 // repairs made, for tests
}

// testHook, when set, is called at the named points of every operation,
// with the collection (a List, or a Map's part) it changes: the kill tests
// stop a process there.
var testHook func(c *coll, point string)

func (c *coll) point(p string) {
	if testHook != nil {
		testHook(c, p)
	}
}

func align8(n int) int { return (n + 7) &^ 7 }

func b2u(b bool) uint64 {
	if b {
		return 1
	}
	return 0
}

func layoutOf[T any]() (ctypes.Layout, error) {
	l, err := ctypes.LayoutOf[T]()
	if err != nil {
		return l, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	if l.Size == 0 || l.Size > MaxItem {
		return l, fmt.Errorf("%w: %v is %d bytes (1 to %d)", ErrInvalid, l, l.Size, MaxItem)
	}
	return l, nil
}

// fingerprint of the header object: both layouts.
func fingerprint(kind shm.Kind, kl, vl ctypes.Layout) uint64 {
	f := fnv.New64a()
	var b [24]byte
	le.PutUint64(b[0:], uint64(kind))
	le.PutUint64(b[8:], kl.Fingerprint)
	le.PutUint64(b[16:], vl.Fingerprint)
	f.Write(b[:])
	return f.Sum64()
}

// hash of a key's bytes: FNV-1a, then a finaliser, the same in every
// process (no per-process seed).
func hash(b []byte) uint64 {
	h := uint64(14695981039346656037)
	for _, c := range b {
		h ^= uint64(c)
		h *= 1099511628211
	}
	h ^= h >> 33
	h *= 0xff51afd7ed558ccd
	h ^= h >> 33
	return h
}

// make places a new collection: its header, lock and first table, in
// the segment opts choose, before any other process can find it.
func (c *coll) make(kind shm.Kind, kl, vl ctypes.Layout, slots, sz int, opts []shm.Option) error {
	sp := shm.Spec{Kind: kind, Fingerprint: fingerprint(kind, kl, vl), Size: hdrSize}
	o, err := shm.PlaceObject(sp, func(o *shm.Object) error {
		mu, err := semaphore.NewMutex(shm.In(o.Segment(), ""))
		if err != nil {
			return fmt.Errorf("making its lock: %w", err)
		}
		data := 0
		if encoded(kind, kl, vl) {
			data = minData
		}
		t, err := placeTable(o.Segment(), slots, sz, data)
		if err != nil {
			mu.Free()
			return err
		}
		h := o.Bytes()
		le.PutUint32(h[0:], magic)
		le.PutUint32(h[4:], version)
		le.PutUint32(h[offKind:], uint32(kind))
		le.PutUint32(h[offSlot:], uint32(sz))
		le.PutUint64(h[offKeyFP:], kl.Fingerprint)
		le.PutUint64(h[offValFP:], vl.Fingerprint)
		le.PutUint32(h[offKeySize:], uint32(kl.Size))
		le.PutUint32(h[offValSize:], uint32(vl.Size))
		lh, th := mu.Handle(), t.Handle()
		le.PutUint64(h[offLock:], lh.Offset)
		le.PutUint64(h[offLock+8:], lh.Generation)
		le.PutUint64(h[offTable:], th.Offset)
		le.PutUint64(h[offTable+8:], th.Generation)
		le.PutUint64(h[offTable+16:], uint64(slots))
		return nil
	}, opts...)
	if err != nil {
		return err
	}
	return c.attach(o, kind, kl, vl, sz)
}

// encoded reports whether a collection of these layouts keeps encoded
// items, in a data region after its slots.
func encoded(kind shm.Kind, kl, vl ctypes.Layout) bool {
	return kl.Size == 0 || (kind != shm.KindList && vl.Size == 0)
}

// placeTable places a table of slots slots of sz bytes, followed by a data
// region of data bytes.
func placeTable(seg *shm.Segment, slots, sz, data int) (*shm.Object, error) {
	t, err := shm.Place(shm.Spec{Kind: shm.KindTable, Size: uint64(slots*sz + data)}, nil, shm.In(seg, ""))
	if errors.Is(err, shm.ErrCorrupt) {
		return nil, fmt.Errorf("placing a table: %w", err)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: a table of %d slots of %d bytes and %d data bytes: %v", ErrFull, slots, sz, data, err)
	}
	return t, nil
}

// spec is what a typed open of a collection of these layouts looks for:
// its kind and fingerprint, and a whole header.
func spec(kind shm.Kind, kl, vl ctypes.Layout, size uint64) shm.Spec {
	return shm.Spec{Kind: kind, Fingerprint: fingerprint(kind, kl, vl), Size: size}
}

// checkHeader checks that a header says what make wrote for a collection
// of these layouts. The block's kind and layout fingerprint were checked
// when it was found (shm.Segment.Find, shm.Unmarshal, shm.Resolve): a
// header that disagrees with them was overwritten.
func checkHeader(h []byte, kind shm.Kind, kl, vl ctypes.Layout, sz int) error {
	switch {
	case len(h) < hdrSize:
		return fmt.Errorf("%w: a header of %d bytes", ErrCorrupt, len(h))
	case le.Uint32(h) != magic:
		return fmt.Errorf("%w: magic %#x", ErrCorrupt, le.Uint32(h))
	case le.Uint32(h[4:]) != version:
		return fmt.Errorf("%w: header version %d, this build reads %d: %w", ErrCorrupt, le.Uint32(h[4:]), version, shm.ErrVersion)
	case le.Uint32(h[offKind:]) != uint32(kind) || le.Uint32(h[offSlot:]) != uint32(sz) ||
		le.Uint64(h[offKeyFP:]) != kl.Fingerprint || le.Uint64(h[offValFP:]) != vl.Fingerprint ||
		le.Uint32(h[offKeySize:]) != uint32(kl.Size) || le.Uint32(h[offValSize:]) != uint32(vl.Size):
		return fmt.Errorf("%w: the header of a %v says other types than its block", ErrCorrupt, kind)
	}
	return nil
}

func (c *coll) attach(o *shm.Object, kind shm.Kind, kl, vl ctypes.Layout, sz int) error {
	h := o.Bytes()
	if err := checkHeader(h, kind, kl, vl, sz); err != nil {
		return err
	}
	mu, err := semaphore.OpenMutexAt(o.Segment(), le.Uint64(h[offLock:]), le.Uint64(h[offLock+8:]))
	if err != nil {
		return fmt.Errorf("attaching its lock: %w", err)
	}
	c.o, c.h, c.mu, c.sz, c.enc = o, h, mu, sz, encoded(kind, kl, vl)
	c.here = localLock(o.Segment(), mu.Handle().Offset)
	c.seq = seqlock.At(c.word(offSeq))
	return nil
}

func (c *coll) word(off int) *uint64 { return mem.Uint64(c.h, uintptr(off)) }

func (c *coll) capacity() int       { return int(atomic.LoadUint64(c.word(offTable + 16))) }
func (c *coll) count() uint64       { return atomic.LoadUint64(c.word(offCount)) }
func (c *coll) before(i int) uint64 { return atomic.LoadUint64(c.word(offBefore + 8*i)) }
func (c *coll) intentFlag() bool    { return atomic.LoadUint32(mem.Uint32(c.h, offFlag)) == 1 }

func (c *coll) setCounts(count, tombs uint64) {
	atomic.StoreUint64(c.word(offCount), count)
	atomic.StoreUint64(c.word(offTombs), tombs)
}

// full reports whether n more entries would take the table past 3/4.
func (c *coll) full(n int) bool {
	used := c.count() + atomic.LoadUint64(c.word(offTombs)) + uint64(n)
	return used*4 > uint64(c.capacity())*3
}

// lock takes the lock; when its last holder died, it first repairs what
// that holder left (fix repairs a slot), so that the caller finds the
// collection whole. A lock word that names this process, which does not
// hold it, is ErrCorrupt: waiting for it would be for ever.
func (c *coll) lock(fix func(op uint32, slot int, old []byte)) error {
	c.here.Lock()
	if c.mu.HeldHere() {
		c.here.Unlock()
		return fmt.Errorf("%w: its lock's word names this process, which does not hold it", ErrCorrupt)
	}
	err := c.mu.Lock()
	if err != nil && !errors.Is(err, semaphore.ErrOwnerDead) {
		c.here.Unlock()
		return fmt.Errorf("locking: %w", err)
	}
	if err := c.locked(fix); err != nil {
		return errors.Join(err, c.unlock())
	}
	return nil
}

// locked is lock's work once the lock is taken.
func (c *coll) locked(fix func(op uint32, slot int, old []byte)) error {
	// A growth is repaired from the header's words alone, before attaching
	// to the table they name: a holder killed while switching them may
	// have left them naming no table. Other repairs need the table.
	op := atomic.LoadUint32(mem.Uint32(c.h, offOp))
	if op != opGrow {
		if err := c.sync(); err != nil {
			return err
		}
	}
	if op != 0 {
		c.changing()
		if err := c.repair(op, fix); err != nil {
			return err
		}
	}
	if n, capa := c.count(), c.capacity(); n > uint64(capa) {
		return fmt.Errorf("%w: %d entries in %d slots", ErrCorrupt, n, capa)
	}
	if u, g := c.used(), c.garbage(); u > uint64(len(c.data)) || g > u {
		return fmt.Errorf("%w: %d data bytes used (%d garbage) of %d", ErrCorrupt, u, g, len(c.data))
	}
	c.changed() // odd when its last holder died changing it, now repaired
	return nil
}

// unlock releases the lock. If its word no longer names this process
// (something overwrote it while this process held it), it is left as it
// is and the answer is ErrCorrupt.
func (c *coll) unlock() error {
	err := c.mu.UnlockOwned()
	c.here.Unlock()
	if err != nil {
		return fmt.Errorf("%w: its lock was overwritten while held: %v", ErrCorrupt, err)
	}
	return nil
}

// unlockTo releases the lock as unlock does, for a deferred release of an
// exported call: it joins the unlock's error to *err, and wraps the result
// (see wrap).
func (c *coll) unlockTo(err *error, what string) { *err = wrap(what, withUnlock(*err, c.unlock())) }

// withUnlock is err joined with uerr, the error of the unlock that
// follows.
func withUnlock(err, uerr error) error {
	if uerr != nil {
		return errors.Join(err, uerr)
	}
	return err
}

// changing makes the sequence word odd (if it is not): a holder of the lock
// is about to change what a reader without the lock (Map.Get) reads.
func (c *coll) changing() { c.seq.BeginWrite() }

// changed makes the sequence word even (if it is not): the change is
// whole, and a reading that overlapped it does not count.
func (c *coll) changed() { c.seq.EndWrite() }

// tableView is a table as a handle attached to it, published for readers
// without the lock (which never attach, so never change it).
type tableView struct {
	tab      []byte
	off, gen uint64
	slots    int
}

// current is the published view when the header still names its table.
func (c *coll) current() *tableView {
	v := c.view.Load()
	if v == nil || atomic.LoadUint64(c.word(offTable)) != v.off || atomic.LoadUint64(c.word(offTable+8)) != v.gen ||
		atomic.LoadUint64(c.word(offTable+16)) != uint64(v.slots) {
		return nil
	}
	return v
}

// sync attaches to the table the header names, if it changed.
func (c *coll) sync() error {
	off, gen := atomic.LoadUint64(c.word(offTable)), atomic.LoadUint64(c.word(offTable+8))
	if v := c.view.Load(); v != nil && off == v.off && gen == v.gen && c.capacity() == v.slots {
		return nil
	}
	t, err := c.table(off, gen)
	if err != nil {
		// Under the lock the header names a live table: one that does not
		// resolve is a corrupted header (or segment).
		return fmt.Errorf("%w: its table: %w", ErrCorrupt, err)
	}
	n := c.capacity()
	if n < minCap || n > maxCap || n&(n-1) != 0 || len(t.Bytes())/c.sz < n {
		return fmt.Errorf("%w: a table of %d slots in %d bytes", ErrCorrupt, n, len(t.Bytes()))
	}
	c.tab = t.Bytes()
	c.view.Store(&tableView{tab: c.tab, off: off, gen: gen, slots: n})
	c.data = nil
	if c.enc {
		c.data = c.tab[n*c.sz:]
	}
	return nil
}

// The data words: bytes of the data region used, and how many of those
// are garbage.
func (c *coll) used() uint64    { return atomic.LoadUint64(c.word(offUsed)) }
func (c *coll) garbage() uint64 { return atomic.LoadUint64(c.word(offGarbage)) }

// dataWords are the data words after an operation: used and garbage.
type dataWords [2]uint64

// after is the data words once add bytes are written and drop bytes become
// garbage.
func (c *coll) after(add, drop int) dataWords {
	if !c.enc {
		return dataWords{}
	}
	return dataWords{c.used() + uint64(add), c.garbage() + uint64(drop)}
}

// room reports whether the data region has room for n more bytes.
func (c *coll) room(n int) bool { return c.used()+uint64(n) <= uint64(len(c.data)) }

// settle sets the data words to what the intent record says they are
// after its operation (applied) or were before it.
func (c *coll) settle(applied bool) {
	if !c.enc {
		return
	}
	at := offDataWas
	if applied {
		at = offDataIs
	}
	atomic.StoreUint64(c.word(offUsed), atomic.LoadUint64(c.word(at)))
	atomic.StoreUint64(c.word(offGarbage), atomic.LoadUint64(c.word(at+8)))
}

// storeTo writes b, a plain field's bytes or an encoding, to dst in a
// slot. An encoding goes to data at offset at, and dst gets its ref;
// storeTo returns the offset after it.
func storeTo(data, dst []byte, plain bool, b []byte, at uint64) uint64 {
	if plain {
		copy(dst, b)
		return at
	}
	copy(data[at:], b)
	le.PutUint64(dst, at<<refLenBits|uint64(len(b)))
	return at + uint64(len(b))
}

// item is the bytes a ref names, which must lie in the used data.
func (c *coll) item(ref uint64) ([]byte, error) {
	off, n := ref>>refLenBits, ref&MaxEncoded
	if off > c.used() || n > c.used()-off {
		return nil, fmt.Errorf("%w: an item of %d bytes at %d of %d used", ErrCorrupt, n, off, c.used())
	}
	return c.data[off : off+n : off+n], nil
}

// itemLen is the length of the item a ref names.
func itemLen(ref uint64) int { return int(ref & MaxEncoded) }

func (c *coll) table(off, gen uint64) (*shm.Object, error) {
	h := c.o.Handle()
	h.Offset, h.Generation, h.Kind, h.Fingerprint = off, gen, shm.KindTable, 0
	return shm.Resolve(h)
}

// begin records an operation on slot i in the intent record: the counts
// before it, whether the slot was a tombstone, old, the bytes to put back
// if it is undone, and the data words before and after it. Storing op is
// what makes the record count.
func (c *coll) begin(op uint32, i int, old []byte, after dataWords) {
	c.changing()
	if c.enc {
		atomic.StoreUint64(c.word(offDataWas), c.used())
		atomic.StoreUint64(c.word(offDataWas+8), c.garbage())
		atomic.StoreUint64(c.word(offDataIs), after[0])
		atomic.StoreUint64(c.word(offDataIs+8), after[1])
	}
	atomic.StoreUint64(c.word(offISlot), uint64(i))
	atomic.StoreUint64(c.word(offBefore), c.count())
	atomic.StoreUint64(c.word(offBefore+8), atomic.LoadUint64(c.word(offTombs)))
	flag := uint32(0)
	if i >= 0 && i < c.capacity() && atomic.LoadUint64(mem.Uint64(c.tab, uintptr(i*c.sz)))&3 == slotTomb {
		flag = 1
	}
	atomic.StoreUint32(mem.Uint32(c.h, offFlag), flag)
	copy(c.h[offOldVal:offOldVal+MaxItem], old)
	atomic.StoreUint32(mem.Uint32(c.h, offOp), op)
}

// end clears the intent record: the operation is whole. The kill point
// "ended" is where a holder dies with the record cleared and the sequence
// word still odd.
func (c *coll) end() { c.clearIntent("ended") }

// clearIntent clears the intent record, stops at point (if not ""), and
// makes the sequence word even.
func (c *coll) clearIntent(point string) {
	atomic.StoreUint32(mem.Uint32(c.h, offOp), 0)
	if point != "" {
		c.point(point)
	}
	c.changed()
}

// repair finishes or undoes the operation of the intent record.
func (c *coll) repair(op uint32, fix func(op uint32, slot int, old []byte)) error {
	c.recovered.Add(1)
	atomic.AddUint64(mem.Uint64(c.h, offRepairs), 1)
	if op == opGrow {
		if err := c.repairGrow(); err != nil {
			return err
		}
	} else {
		fix(op, int(atomic.LoadUint64(c.word(offISlot))), c.h[offOldVal:offOldVal+MaxItem])
	}
	c.clearIntent("")
	return c.sync()
}

// grow moves the entries to a new table through rehash, which fills its
// n slots and its data region and returns the data bytes it used. The new
// table has twice the slots when double (unless tombstones are most of
// what fills the old one), and a data region of twice the live data and
// need bytes more. The switch of the header's table words is recorded
// first, so that a holder killed at any point leaves either the old table
// or the new one, and the other freed by the next holder.
func (c *coll) grow(double bool, need int, rehash func(slots, data []byte, n int) (uint64, error)) error {
	n := c.capacity()
	if double && atomic.LoadUint64(c.word(offTombs)) < c.count() {
		n *= 2
	}
	if n > maxCap {
		return fmt.Errorf("%w: %d slots", ErrFull, n)
	}
	data := uint64(0)
	if c.enc {
		data = max(2*(c.used()-c.garbage()+uint64(need)), minData)
		if data = (data + 63) &^ 63; data > maxData {
			return fmt.Errorf("%w: a data region of %d bytes", ErrFull, data)
		}
	}
	t, err := placeTable(c.o.Segment(), n, c.sz, int(data))
	if err != nil {
		return err
	}
	th := t.Handle()
	atomic.StoreUint64(c.word(offNew), th.Offset)
	atomic.StoreUint64(c.word(offNew+8), th.Generation)
	atomic.StoreUint64(c.word(offNew+16), uint64(n))
	cur := c.view.Load()
	atomic.StoreUint64(c.word(offOld), cur.off)
	atomic.StoreUint64(c.word(offOld+8), cur.gen)
	atomic.StoreUint64(c.word(offOld+16), uint64(c.capacity()))
	atomic.StoreUint32(mem.Uint32(c.h, offFlag), 1)
	atomic.StoreUint32(mem.Uint32(c.h, offOp), opGrow)
	c.point("grow")
	tb := t.Bytes()
	used, err := rehash(tb[:n*c.sz], tb[n*c.sz:], n)
	if err == nil && used+uint64(need) > data { // only when the data words are not the table's
		err = fmt.Errorf("%w: %d live data bytes and %d more outgrow a data region of %d", ErrCorrupt, used, need, data)
	}
	if err != nil { // the old table stays, and the new one is freed
		ferr := c.repairGrow()
		c.clearIntent("")
		return errors.Join(err, ferr)
	}
	atomic.StoreUint64(c.word(offNewUsed), used)
	c.point("grown")
	atomic.StoreUint32(mem.Uint32(c.h, offFlag), 2) // the commit
	c.changing()                                    // readers of the old table look again
	c.point("switch")
	if err := c.repairGrow(); err != nil {
		return err
	}
	c.clearIntent("")
	atomic.AddUint64(c.word(offGrowths), 1)
	return c.sync()
}

// repairGrow completes a growth whose intent is recorded: before the
// commit, the new table is freed; after it, the header names the new table
// and the old one is freed. Each step may be repeated.
func (c *coll) repairGrow() error {
	newOff, newGen, newCap := atomic.LoadUint64(c.word(offNew)), atomic.LoadUint64(c.word(offNew+8)), atomic.LoadUint64(c.word(offNew+16))
	oldOff, oldGen := atomic.LoadUint64(c.word(offOld)), atomic.LoadUint64(c.word(offOld+8))
	curOff, curGen := atomic.LoadUint64(c.word(offTable)), atomic.LoadUint64(c.word(offTable+8))
	if atomic.LoadUint32(mem.Uint32(c.h, offFlag)) != 2 {
		if newOff == curOff && newGen == curGen { // never the table in use
			return fmt.Errorf("%w: a growth record names the table in use as its new one", ErrCorrupt)
		}
		return c.freeTable(newOff, newGen)
	}
	if oldOff != curOff || oldGen != curGen {
		if newOff != curOff || newGen != curGen { // neither table is the one in use
			return fmt.Errorf("%w: a growth record names neither table in use", ErrCorrupt)
		}
	}
	atomic.StoreUint64(c.word(offTable+16), newCap)
	c.point("switching") // the header's table words disagree here
	atomic.StoreUint64(c.word(offTable+8), newGen)
	atomic.StoreUint64(c.word(offTable), newOff)
	atomic.StoreUint64(c.word(offTombs), 0) // the new table has none
	if c.enc {
		atomic.StoreUint64(c.word(offUsed), atomic.LoadUint64(c.word(offNewUsed)))
		atomic.StoreUint64(c.word(offGarbage), 0)
	}
	c.point("switched")
	return c.freeTable(oldOff, oldGen)
}

// freeTable frees the table at (off, gen), unless it was freed already.
func (c *coll) freeTable(off, gen uint64) error {
	t, err := c.table(off, gen)
	if err != nil {
		if errors.Is(err, shm.ErrStale) {
			return nil
		}
		return fmt.Errorf("freeing a table: %w", err)
	}
	if err := t.Free(); err != nil && !errors.Is(err, shm.ErrStale) {
		return fmt.Errorf("freeing a table: %w", err)
	}
	return nil
}

// free gives the whole collection back to its segment: its table, its
// lock and its header.
func (c *coll) free() error {
	if err := c.lock(func(uint32, int, []byte) {}); err != nil {
		return err
	}
	cur := c.view.Load()
	err := c.freeTable(cur.off, cur.gen)
	if uerr := c.unlock(); uerr != nil {
		return errors.Join(err, uerr)
	}
	return errors.Join(err, c.mu.Free(), c.o.Free())
}

// live checks that o is still the object this handle attached to, not
// freed since: what makes a second Free fail with shm.ErrStale before it
// touches anything.
func live(o *shm.Object) error {
	_, err := o.Segment().Attach(o.Handle())
	return err
}

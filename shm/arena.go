package shm

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/shmkit/shmkit/internal/mem"
	"github.com/shmkit/shmkit/internal/owner"
	"github.com/shmkit/shmkit/internal/sys"
)

// Spec describes an object to place in a segment, or the object a typed
// open expects to find (Segment.Find, Unmarshal).
type Spec struct {
	Kind        Kind   // what the object is; must not be 0
	Fingerprint uint64 // layout fingerprint of its element type (ctypes.Layout), or 0
	// Size is the payload's size in bytes when placing (payloads are
	// 64-byte aligned and zeroed), and the least size an opened object's
	// payload may have when finding (0: any).
	Size uint64
}

// match checks an object found by name or handle against sp: its kind,
// layout fingerprint and payload size. It is the one check every typed
// open of shmkit goes through.
func (sp Spec) match(what string, kind Kind, fp, length uint64) error {
	switch {
	case kind != sp.Kind:
		return fmt.Errorf("shm: %s is a %v, not a %v: %w", what, kind, sp.Kind, ErrKind)
	case fp != sp.Fingerprint:
		return fmt.Errorf("shm: %s has layout fingerprint %#016x, not %#016x: %w", what, fp, sp.Fingerprint, ErrLayout)
	case length < sp.Size:
		return fmt.Errorf("shm: %s is a %v of %d bytes, at least %d needed: %w", what, kind, length, sp.Size, ErrLayout)
	}
	return nil
}

func (sp Spec) check(h *header) error {
	if sp.Kind == 0 {
		return fmt.Errorf("shm: %w: object kind 0", ErrKind)
	}
	if sp.Size == 0 || sp.Size > maxSegmentSize {
		return fmt.Errorf("shm: %w: object of %d bytes", ErrSize, sp.Size)
	}
	if sp.Size > h.heapEnd()-h.heapOff {
		return fmt.Errorf("shm: %w: an object of %d bytes cannot fit a %d-byte segment", ErrFull, sp.Size, h.size)
	}
	return nil
}

// Object is one block of a segment holding a shared object: the memory a
// higher-level type (a Value, a Queue) lives in.
type Object struct {
	seg    *Segment
	off    uint64
	length uint64
	kind   Kind
	fp     uint64
	gen    uint64
	index  int // directory entry, or -1 for an unnamed object
	name   string
}

// Bytes is the object's memory, zeroed when it was allocated. It is valid
// until the segment is closed in this process.
func (o *Object) Bytes() []byte { return o.seg.b[o.off : o.off+o.length : o.off+o.length] }

// Segment is the segment the object lives in.
func (o *Object) Segment() *Segment { return o.seg }

// Name is the object's name in the segment's directory, or "".
func (o *Object) Name() string { return o.name }

// Kind is the object's kind.
func (o *Object) Kind() Kind { return o.kind }

// Fingerprint is the layout fingerprint the object was made with.
func (o *Object) Fingerprint() uint64 { return o.fp }

// Handle names the object so that another process can attach to it.
func (o *Object) Handle() Handle {
	return Handle{Segment: o.seg.h.id, Name: o.seg.name, Offset: o.off, Kind: o.kind, Fingerprint: o.fp, Generation: o.gen}
}

// Free gives the object's memory back to its segment (see Segment.Free).
func (o *Object) Free() error { return o.seg.free(o) }

// Publish makes a named object that Reserve returned visible to Find, once
// its creator has initialized it, and wakes processes waiting for it.
// Unnamed objects need no Publish.
func (o *Object) Publish() error {
	if o.index < 0 {
		return nil
	}
	s := o.seg
	if err := s.lockArena(); err != nil {
		return err
	}
	// The entry must still be this object's: it may have been removed, and
	// even reserved again by another process, since.
	e, err := decodeEntry(s.entryBytes(o.index), &s.h)
	st := s.entryState(o.index)
	ok := err == nil && e.state == entryReserved && e.gen == o.gen && e.off == o.off
	if ok {
		atomic.StoreUint32(st, entryLive)
	}
	s.unlockArena()
	if !ok {
		return fmt.Errorf("shm: publishing %q: %w: it was removed", o.name, ErrStale)
	}
	sys.FutexWake(st, -1)
	return nil
}

// ObjectInfo describes one entry of a segment's directory.
type ObjectInfo struct {
	Name         string // the name it was placed under
	Kind         Kind   // what it holds
	Fingerprint  uint64 // layout fingerprint of its element type (ctypes.Layout), or 0
	Offset       uint64 // of the payload from the segment's start
	Length       uint64 // of the payload, in bytes
	Ready        bool   // published; false while its creator initializes it
	CreatorPid   int    // as the creator saw itself, in its own pid namespace
	CreatorAlive bool   // its creator is attached to the segment
}

// testHookArena, when set by a test, runs at the named points between the
// stores of an allocation, a free and a removal: where a test kills the
// process (TestKillInsideArena).
var testHookArena func(point string)

func arenaPoint(point string) {
	if testHookArena != nil {
		testHookArena(point)
	}
}

// testHookReserve, when set by a test, runs in Reserve between allocating
// the block and writing the directory entry.
var testHookReserve func()

// arenaLocks serialises this process's goroutines on a segment before they
// take its cross-process lock, across every mapping of that segment here.
var arenaLocks sync.Map // segment id -> localLock

// localLock is a mutex whose waiters can give up when a context ends.
type localLock chan struct{}

func (l localLock) Lock()   { l <- struct{}{} }
func (l localLock) Unlock() { <-l }

func (l localLock) lockContext(ctx context.Context) error {
	select {
	case l <- struct{}{}:
		return nil
	default:
	}
	select {
	case l <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (s *Segment) arenaMutex() localLock {
	if m, ok := arenaLocks.Load(s.h.id); ok {
		return m.(localLock)
	}
	m, _ := arenaLocks.LoadOrStore(s.h.id, make(localLock, 1))
	return m.(localLock)
}

func (s *Segment) usable() error {
	if s.closed.Load() {
		return fmt.Errorf("shm: segment %s: %w", s.label(), ErrClosed)
	}
	return nil
}

func (s *Segment) entryState(i int) *uint32 {
	return mem.Uint32(s.b, uintptr(s.h.dirOff)+uintptr(i)*entrySize+eState)
}

func (s *Segment) entryBytes(i int) []byte {
	off := s.h.dirOff + uint64(i)*entrySize
	return s.b[off : off+entrySize]
}

// lockArena takes the segment's allocator lock, which guards the heap and
// the directory. The lock word records its owner (an owner word, see
// Liveness in the package doc), so a process that dies holding it cannot
// hang the others: the next locker that finds the owner gone takes the
// lock over and repairs the heap. Every change made under the lock commits
// with a single store (see alloc), so what a dead owner leaves is always a
// consistent heap, at worst with a block to reclaim.
func (s *Segment) lockArena() error { return s.lockArenaContext(context.Background()) }

// lockArenaContext is lockArena that gives up when ctx ends, whether it
// waits for another goroutine of this process or for another process.
func (s *Segment) lockArenaContext(ctx context.Context) error {
	if err := s.usable(); err != nil {
		return err
	}
	mu := s.arenaMutex()
	if err := mu.lockContext(ctx); err != nil {
		return fmt.Errorf("shm: waiting for the allocator lock of segment %s: %w", s.label(), err)
	}
	if err := s.usable(); err != nil { // closed while we waited
		mu.Unlock()
		return err
	}
	word := mem.Uint64(s.b, hLockOwner)
	seq := mem.Uint32(s.b, hLockSeq)
	waiters := mem.Uint32(s.b, hLockWaiters)
	for i := 0; ; i++ {
		if atomic.CompareAndSwapUint64(word, 0, s.me) { // fast path
			return nil
		}
		cur := atomic.LoadUint64(word)
		switch {
		case cur == 0:
			continue
		case cur == s.me:
			// This process's goroutines are serialised by mu, so only a
			// corrupted word can name us.
			mu.Unlock()
			return fmt.Errorf("shm: %w: allocator lock held by this process", ErrCorrupt)
		case i < 64:
			runtime.Gosched()
			continue
		case !s.live.Alive(cur):
			if atomic.CompareAndSwapUint64(word, cur, s.me) {
				atomic.AddUint64(mem.Uint64(s.b, hRecoveries), 1)
				s.repair()
				return nil
			}
			continue
		}
		if err := ctx.Err(); err != nil {
			mu.Unlock()
			return fmt.Errorf("shm: waiting for the allocator lock of segment %s (held by pid %d): %w", s.label(), owner.Pid(cur), err)
		}
		v := atomic.LoadUint32(seq)
		atomic.AddUint32(waiters, 1)
		if atomic.LoadUint64(word) == cur {
			// Bounded, so that an owner that dies while we sleep is noticed.
			sys.FutexWait(seq, v, 20*time.Millisecond)
		}
		atomic.AddUint32(waiters, ^uint32(0))
	}
}

func (s *Segment) unlockArena() {
	atomic.StoreUint64(mem.Uint64(s.b, hLockOwner), 0)
	seq := mem.Uint32(s.b, hLockSeq)
	atomic.AddUint32(seq, 1)
	if atomic.LoadUint32(mem.Uint32(s.b, hLockWaiters)) > 0 {
		sys.FutexWake(seq, 1)
	}
	s.arenaMutex().Unlock()
}

// repair runs under the lock after it was taken from a dead owner. A named
// block that its directory entry does not point back to was allocated by a
// process that died before it wrote the entry: it is freed. Everything else
// a dead owner can leave is consistent by construction.
func (s *Segment) repair() {
	_ = s.walk(func(off uint64, k block) error {
		if k.state != blockUsed || k.entry == 0 {
			return nil
		}
		if !s.entryOwns(int(k.entry)-1, off+blockHeader, k.gen) {
			atomic.StoreUint32(mem.Uint32(s.b, uintptr(off)+bState), blockFree)
		}
		return nil
	})
}

func (s *Segment) entryOwns(i int, payload, gen uint64) bool {
	if i < 0 || i >= int(s.h.entries) {
		return false
	}
	e, err := decodeEntry(s.entryBytes(i), &s.h)
	return err == nil && e.state != entryEmpty && e.off == payload && e.gen == gen
}

// top reads the heap top and checks it before it is trusted: in the heap,
// aligned, and with a zero state word at it, as every change of the top
// leaves it. The only other thing a process can leave there is what it
// gives back when killed while lowering the top: free blocks, up to a zero
// word. So a top moved back over a used block, or into one, is refused
// rather than handed out again.
func (s *Segment) top() (uint64, error) {
	top := atomic.LoadUint64(mem.Uint64(s.b, hTop))
	end := s.h.heapEnd()
	if top < s.h.heapOff || top > end || (top-s.h.heapOff)%blockAlign != 0 {
		return 0, fmt.Errorf("shm: %w: heap top %d outside [%d, %d] or unaligned", ErrCorrupt, top, s.h.heapOff, end)
	}
	for off := top; off < end; {
		switch st := atomic.LoadUint32(mem.Uint32(s.b, uintptr(off)+bState)); st {
		case 0:
			return top, nil
		case blockFree:
			size := atomic.LoadUint64(mem.Uint64(s.b, uintptr(off)+bSize))
			if size < minBlock || size%blockAlign != 0 || size > end-off {
				return 0, fmt.Errorf("shm: %w: heap top %d: a free block of %d bytes at %d past it", ErrCorrupt, top, size, off)
			}
			off += size
		case blockUsed:
			return 0, fmt.Errorf("shm: %w: heap top %d lies before a used block at %d", ErrCorrupt, top, off)
		default:
			return 0, fmt.Errorf("shm: %w: heap top %d: state word %#x at %d past it", ErrCorrupt, top, st, off)
		}
	}
	return top, nil
}

// lowerTop gives the free blocks from off to the top back to it: the top
// moves (the commit), then the state word at it is cleared.
func (s *Segment) lowerTop(off uint64) {
	atomic.StoreUint64(mem.Uint64(s.b, hTop), off)
	arenaPoint("top-lowered")
	atomic.StoreUint32(mem.Uint32(s.b, uintptr(off)+bState), 0)
}

// walk calls fn for every block from the heap's start to its top, in order.
func (s *Segment) walk(fn func(off uint64, k block) error) error {
	top, err := s.top()
	if err != nil {
		return err
	}
	for off := s.h.heapOff; off < top; {
		k, err := decodeBlock(s.b, off, top)
		if err != nil {
			return err
		}
		if err := fn(off, k); err != nil {
			return err
		}
		off += k.size
	}
	return nil
}

// alloc finds room for a block of need bytes (header included), first fit,
// merging runs of free blocks on the way, and marks it used. It runs under
// the lock. Every step commits with one store, so a process killed anywhere
// in it leaves a heap that walks: a split writes the tail's header inside
// the free block before it shrinks the block; a merge is one size store; a
// new block at the top clears the word past it, is written free, and
// becomes the heap's by the top store; marking the block used is the last
// store.
func (s *Segment) alloc(sp Spec, entryIndex uint32) (uint64, uint64, error) {
	need := blockHeader + alignUp(sp.Size, blockAlign)
	top, err := s.top()
	if err != nil {
		return 0, 0, err
	}
	for off := s.h.heapOff; off < top; {
		k, err := decodeBlock(s.b, off, top)
		if err != nil {
			return 0, 0, err
		}
		if k.state == blockUsed {
			off += k.size
			continue
		}
		size := k.size
		for off+size < top {
			n, err := decodeBlock(s.b, off+size, top)
			if err != nil {
				return 0, 0, err
			}
			if n.state != blockFree {
				break
			}
			size += n.size
		}
		if size != k.size {
			atomic.StoreUint64(mem.Uint64(s.b, uintptr(off)+bSize), size)
		}
		if off+size == top { // a free run at the end goes back to the top
			s.lowerTop(off)
			top = off
			break
		}
		if size >= need {
			if size-need >= minBlock {
				tail := s.b[off+need : off+need+blockHeader]
				clear(tail)
				le.PutUint64(tail[bSize:], size-need)
				atomic.StoreUint32(mem.Uint32(tail, bState), blockFree)
				atomic.StoreUint64(mem.Uint64(s.b, uintptr(off)+bSize), need)
				size = need
			}
			gen := s.fill(off, size, sp, entryIndex)
			return off + blockHeader, gen, nil
		}
		off += size
	}
	if need > s.h.heapEnd()-top {
		return 0, 0, fmt.Errorf("%w: no room for %d bytes in segment %s (%d bytes free at the top)",
			ErrFull, sp.Size, s.label(), s.h.heapEnd()-top)
	}
	// The word at the block's end, the new top, is cleared; then the block
	// is written free and the top moved over it (the commit: a free block
	// at the end of the heap); fill marks it used.
	if next := top + need; next < s.h.heapEnd() {
		atomic.StoreUint32(mem.Uint32(s.b, uintptr(next)+bState), 0)
	}
	hb := s.b[top : top+blockHeader]
	clear(hb[bState+4:])
	le.PutUint64(hb[bSize:], need)
	atomic.StoreUint32(mem.Uint32(hb, bState), blockFree)
	arenaPoint("alloc-written")
	atomic.StoreUint64(mem.Uint64(s.b, hTop), top+need)
	arenaPoint("alloc-moved")
	gen := s.fill(top, need, sp, entryIndex)
	return top + blockHeader, gen, nil
}

// fill zeroes a block's payload and writes its header, state used last.
func (s *Segment) fill(off, size uint64, sp Spec, entryIndex uint32) uint64 {
	clear(s.b[off+blockHeader : off+size])
	gen := atomic.AddUint64(mem.Uint64(s.b, hGen), 1)
	h := s.b[off : off+blockHeader]
	le.PutUint32(h[bKind:], uint32(sp.Kind))
	le.PutUint64(h[bSize:], size)
	le.PutUint64(h[bFP:], sp.Fingerprint)
	le.PutUint64(h[bOwner:], s.me)
	le.PutUint64(h[bGen:], gen)
	le.PutUint64(h[bLen:], sp.Size)
	le.PutUint32(h[bEntry:], entryIndex)
	atomic.StoreUint32(mem.Uint32(h, bState), blockUsed)
	return gen
}

// findBlock walks to the used block whose payload is at payload, so that an
// offset from a handle or a caller is never trusted blindly.
func (s *Segment) findBlock(payload uint64) (block, error) {
	var found block
	ok := false
	err := s.walk(func(off uint64, k block) error {
		if off+blockHeader == payload {
			found, ok = k, true
			return errStopWalk
		}
		if off > payload {
			return errStopWalk
		}
		return nil
	})
	if err != nil && err != errStopWalk {
		return found, err
	}
	if !ok || found.state != blockUsed {
		return found, fmt.Errorf("shm: %w: no object at offset %d of segment %s", ErrStale, payload, s.label())
	}
	return found, nil
}

var errStopWalk = fmt.Errorf("stop")

// freeBlock marks the used block with its payload at payload free (the
// commit), merges it with a free successor, and gives the run of free blocks
// at the end of the heap, if any, back to the top.
func (s *Segment) freeBlock(payload uint64) error {
	k, err := s.findBlock(payload)
	if err != nil {
		return err
	}
	off := payload - blockHeader
	atomic.StoreUint32(mem.Uint32(s.b, uintptr(off)+bState), blockFree)
	arenaPoint("free-marked")
	top, err := s.top()
	if err != nil {
		return err
	}
	if next := off + k.size; next < top {
		if n, err := decodeBlock(s.b, next, top); err == nil && n.state == blockFree {
			atomic.StoreUint64(mem.Uint64(s.b, uintptr(off)+bSize), k.size+n.size)
			arenaPoint("free-merged")
		}
	}
	run := top // start of the free run that ends at the top
	err = s.walk(func(o uint64, b block) error {
		if b.state == blockUsed {
			run = top
		} else if run == top {
			run = o
		}
		return nil
	})
	if err == nil && run < top {
		s.lowerTop(run)
	}
	return err
}

// Alloc hands out an unnamed block of sp.Size zeroed bytes, 64-byte
// aligned. It is safe from many processes at once. Free gives it back.
func (s *Segment) Alloc(sp Spec) (*Object, error) {
	if err := sp.check(&s.h); err != nil {
		return nil, err
	}
	if err := s.lockArena(); err != nil {
		return nil, err
	}
	defer s.unlockArena()
	off, gen, err := s.alloc(sp, 0)
	if err != nil {
		return nil, err
	}
	return &Object{seg: s, off: off, length: sp.Size, kind: sp.Kind, fp: sp.Fingerprint, gen: gen, index: -1}, nil
}

// free gives an object's memory back to its segment; a named object loses
// its name too.
func (s *Segment) free(o *Object) error {
	if o == nil || o.seg != s {
		return fmt.Errorf("shm: %w: object of another segment", ErrStale)
	}
	if err := s.lockArena(); err != nil {
		return err
	}
	defer s.unlockArena()
	if o.index >= 0 {
		// The name may have been removed and given to a new object since.
		i, e, err := s.lookup(o.name)
		if err != nil || e.gen != o.gen {
			return fmt.Errorf("shm: %w: object %q was already removed", ErrStale, o.name)
		}
		s.dropEntry(i, e)
		return nil
	}
	k, err := s.findBlock(o.off)
	if err != nil {
		return err
	}
	if k.gen != o.gen {
		return fmt.Errorf("shm: %w: object at offset %d was already freed", ErrStale, o.off)
	}
	return s.freeBlock(o.off)
}

// Reserve makes a named object: it allocates its block and takes the name,
// so that a second Reserve of the name fails with ErrExist, but Find waits
// until the caller has initialized the memory and called Publish. A name
// whose creator died before publishing is reclaimed.
func (s *Segment) Reserve(name string, sp Spec) (*Object, error) {
	if err := checkName(name, maxObjectName); err != nil {
		return nil, err
	}
	if err := sp.check(&s.h); err != nil {
		return nil, err
	}
	if err := s.lockArena(); err != nil {
		return nil, err
	}
	defer s.unlockArena()
	slot := -1
	for i := 0; i < int(s.h.entries); i++ {
		e, err := decodeEntry(s.entryBytes(i), &s.h)
		if err != nil {
			return nil, err
		}
		if e.state == entryEmpty || e.name != name {
			if e.state == entryEmpty && slot < 0 {
				slot = i
			}
			continue
		}
		if e.state == entryReserved && !s.live.Alive(e.owner) {
			s.dropEntry(i, e)
			if slot < 0 {
				slot = i
			}
			continue
		}
		return nil, fmt.Errorf("shm: object %q in segment %s: %w", name, s.label(), ErrExist)
	}
	if slot < 0 {
		return nil, fmt.Errorf("shm: %w: all %d directory entries of segment %s are taken", ErrFull, s.h.entries, s.label())
	}
	off, gen, err := s.alloc(sp, uint32(slot)+1)
	if err != nil {
		return nil, err
	}
	if testHookReserve != nil {
		testHookReserve() // a test kills the process here: block allocated, no entry yet
	}
	e := entry{kind: sp.Kind, fp: sp.Fingerprint, off: off, length: sp.Size, owner: s.me, gen: gen, name: name}
	b := s.entryBytes(slot)
	encodeEntry(b, &e)
	atomic.StoreUint32(s.entryState(slot), entryReserved) // commits the name
	return &Object{seg: s, off: off, length: sp.Size, kind: sp.Kind, fp: sp.Fingerprint, gen: gen, index: slot, name: name}, nil
}

// dropEntry empties a directory entry (the commit), then frees its block.
// A block that is not the entry's (a corrupted entry pointing at another
// object's) is left alone.
func (s *Segment) dropEntry(i int, e entry) {
	st := s.entryState(i)
	atomic.StoreUint32(st, entryEmpty)
	sys.FutexWake(st, -1)
	arenaPoint("entry-dropped")
	if s.checkEntryBlock(i, e) == nil {
		s.freeBlock(e.off)
	}
}

// checkEntryBlock cross-checks directory entry i (decoded as e) with the
// block it points at: that must be a used block starting there that names
// entry i and the entry's generation, and holds its kind, fingerprint and
// length. An entry pointed, even with a valid checksum, at another
// object's block, or into one, fails with ErrCorrupt. It reads the one
// block header, without walking the heap, and runs under the lock.
func (s *Segment) checkEntryBlock(i int, e entry) error {
	top, err := s.top()
	if err != nil {
		return err
	}
	var k block
	if e.off >= s.h.heapOff+blockHeader {
		k, err = decodeBlock(s.b, e.off-blockHeader, top)
	}
	if e.off < s.h.heapOff+blockHeader || err != nil || k.state != blockUsed {
		return fmt.Errorf("shm: %w: directory entry %d (%q) points at offset %d, where no used block starts", ErrCorrupt, i, e.name, e.off)
	}
	return matchEntry(i, e, k)
}

// matchEntry checks that block k is the one directory entry i (decoded as
// e) names: it names the entry and its generation back, and holds its
// kind, fingerprint and length.
func matchEntry(i int, e entry, k block) error {
	switch {
	case k.entry != uint32(i)+1 || k.gen != e.gen:
		return fmt.Errorf("%w: directory entry %d (%q, generation %d) points at the block of %s, generation %d",
			ErrCorrupt, i, e.name, e.gen, entryLabel(k.entry), k.gen)
	case k.kind != e.kind || k.fp != e.fp || k.length != e.length:
		return fmt.Errorf("%w: directory entry %d (%q) says %v, fingerprint %#016x, %d bytes; its block %v, %#016x, %d bytes",
			ErrCorrupt, i, e.name, e.kind, e.fp, e.length, k.kind, k.fp, k.length)
	}
	return nil
}

// entryLabel names the directory entry a block's entry word names.
func entryLabel(w uint32) string {
	if w == 0 {
		return "no entry"
	}
	return fmt.Sprintf("entry %d", w-1)
}

// lookup finds a named entry; it runs under the lock.
func (s *Segment) lookup(name string) (int, entry, error) {
	for i := 0; i < int(s.h.entries); i++ {
		e, err := decodeEntry(s.entryBytes(i), &s.h)
		if err != nil {
			return 0, e, err
		}
		if e.state != entryEmpty && e.name == name {
			return i, e, nil
		}
	}
	return 0, entry{}, fmt.Errorf("shm: object %q in segment %s: %w", name, s.label(), ErrNotExist)
}

// Find attaches to the named object: the typed opens of every package
// (semaphore.OpenMutex, ringbuffer.OpenQueue, ...) are built on it. It
// checks that the object is of kind sp.Kind, made with layout fingerprint
// sp.Fingerprint and at least sp.Size bytes long (ErrKind, ErrLayout), and
// that its directory entry and its block name each other (ErrCorrupt).
//
// Find waits, until ctx ends, for an object that does not exist yet (so a
// program may open before another has created) and for one whose creator
// is still initializing it; it fails with ErrCreatorDied if that creator
// dies first. When ctx ends, the error matches ctx.Err() and the reason it
// waited (ErrNotExist for a name that never appeared). A nil segment is
// ErrInvalid.
func (s *Segment) Find(ctx context.Context, name string, sp Spec) (*Object, error) {
	if s == nil {
		return nil, fmt.Errorf("shm: opening object %q: %w: nil segment", name, ErrInvalid)
	}
	if err := checkName(name, maxObjectName); err != nil {
		return nil, err
	}
	var back backoff
	for {
		if err := s.lockArenaContext(ctx); err != nil {
			return nil, fmt.Errorf("shm: looking up object %q: %w", name, err)
		}
		i, e, err := s.lookup(name)
		if err == nil {
			err = s.checkEntryBlock(i, e)
		}
		s.unlockArena()
		what := fmt.Sprintf("object %q in segment %s", name, s.label())
		switch {
		case errors.Is(err, ErrNotExist):
			// Not made yet: look again, until ctx ends.
			if cerr := back.wait(ctx); cerr != nil {
				return nil, fmt.Errorf("%w; gave up waiting: %w", err, cerr)
			}
			continue
		case err != nil:
			return nil, err
		}
		if err := sp.match(what, e.kind, e.fp, e.length); err != nil {
			return nil, err
		}
		switch {
		case e.state == entryLive:
			return &Object{seg: s, off: e.off, length: e.length, kind: e.kind, fp: e.fp, gen: e.gen, index: i, name: name}, nil
		case !s.live.Alive(e.owner):
			return nil, fmt.Errorf("shm: %s: %w (pid %d)", what, ErrCreatorDied, owner.Pid(e.owner))
		}
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("shm: waiting for %s to be ready: %w", what, err)
		}
		sys.FutexWait(s.entryState(i), entryReserved, 20*time.Millisecond)
	}
}

// backoff paces a wait for something that gives no wake-up (a name to
// appear): 1 ms, doubling to 16 ms between looks.
type backoff struct{ d time.Duration }

// wait sleeps the next interval, or returns ctx.Err() when ctx ends first.
func (b *backoff) wait(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	b.d = min(max(2*b.d, time.Millisecond), 16*time.Millisecond)
	t := time.NewTimer(b.d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Objects lists the segment's directory.
func (s *Segment) Objects() ([]ObjectInfo, error) {
	if err := s.lockArena(); err != nil {
		return nil, err
	}
	defer s.unlockArena()
	return listEntries(s.b[s.h.dirOff:], &s.h, s.live.Alive)
}

func listEntries(dir []byte, h *header, alive func(uint64) bool) ([]ObjectInfo, error) {
	var out []ObjectInfo
	for i := 0; i < int(h.entries) && (i+1)*entrySize <= len(dir); i++ {
		e, err := decodeEntry(dir[i*entrySize:(i+1)*entrySize], h)
		if err != nil {
			return out, err
		}
		if e.state == entryEmpty {
			continue
		}
		out = append(out, ObjectInfo{Name: e.name, Kind: e.kind, Fingerprint: e.fp, Offset: e.off, Length: e.length,
			Ready: e.state == entryLive, CreatorPid: owner.Pid(e.owner), CreatorAlive: alive(e.owner)})
	}
	return out, nil
}

// Attach returns the object a handle names, after checking that the handle
// belongs to this segment and that the object is still the one it named:
// same offset, kind, layout fingerprint and generation.
func (s *Segment) Attach(h Handle) (*Object, error) {
	if h.Segment != s.h.id {
		return nil, fmt.Errorf("shm: %w: handle names segment %#x, this is %#x", ErrStale, h.Segment, s.h.id)
	}
	if err := s.lockArena(); err != nil {
		return nil, err
	}
	defer s.unlockArena()
	k, err := s.findBlock(h.Offset)
	if err != nil {
		return nil, err
	}
	if k.gen != h.Generation {
		return nil, fmt.Errorf("shm: %w: object at offset %d was freed and its memory reused", ErrStale, h.Offset)
	}
	if err := (Spec{Kind: h.Kind, Fingerprint: h.Fingerprint}).match(fmt.Sprintf("object at offset %d", h.Offset), k.kind, k.fp, k.length); err != nil {
		return nil, err
	}
	o := &Object{seg: s, off: h.Offset, length: k.length, kind: k.kind, fp: k.fp, gen: k.gen, index: -1}
	if k.entry != 0 {
		// A named block: its entry must name it back.
		i := int(k.entry) - 1
		if i >= int(s.h.entries) {
			return nil, fmt.Errorf("shm: %w: block at offset %d names directory entry %d of %d", ErrCorrupt, h.Offset, i, s.h.entries)
		}
		e, err := decodeEntry(s.entryBytes(i), &s.h)
		switch {
		case err != nil:
			return nil, err
		case e.state == entryEmpty || e.off != h.Offset || e.gen != k.gen:
			return nil, fmt.Errorf("shm: %w: object at offset %d lost its name: directory entry %d no longer names it", ErrStale, h.Offset, i)
		}
		if err := matchEntry(i, e, k); err != nil { // k was found by walking
			return nil, err
		}
		o.index, o.name = i, e.name
	}
	return o, nil
}

// Package owner names processes in shared memory and tells whether they
// still run, in a way that holds across pid namespaces.
//
// An owner word is what a lock, a claim or a creator record stores: the
// process id (as the process itself sees it, in its own pid namespace) in
// the high 32 bits and, in bits 1 to 31, a random nonce the process drew
// when it first asked for its word. Bit 0 is always clear in the words Me
// returns, so that a user can keep a flag there (package semaphore keeps
// its "contended" bit); Alive ignores it. 0 names no process. The pid is
// there for people to read; identity is the whole word.
//
// # Liveness
//
// A pid, even with its start time, says nothing reliable about a process
// in another pid namespace: two containers that share /dev/shm but not
// their pids see each other's pids as unrelated processes, or as nothing.
// Liveness is kept by the kernel instead. Every process that attaches to a
// segment file (Join) opens the file anew, a description of its own that
// it never hands to a child, and takes an OFD write lock on one byte of
// it, at an offset its owner word names, far past the end of the file. The
// kernel drops the lock when the process dies, however it dies, and in
// whatever namespace. Whether the process an owner word names is still
// attached to a file is then one F_OFD_GETLK (Table.Alive): a live process
// that holds the file is never taken for dead, and a dead one is seen as
// soon as the kernel has closed its descriptors.
//
// Two live processes cannot hold the same byte: the second Join fails, so
// a nonce collision (two processes of the same pid, in two namespaces, that
// drew the same 31 bits) is an error, never two owners taken for one.
package owner

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/shmkit/shmkit/internal/mem"
	"github.com/shmkit/shmkit/internal/sys"
)

// ErrCollision is what Join returns when another live process attached to
// the file holds this process's owner word.
var ErrCollision = errors.New("owner word held by another live process")

// base is the file offset of the byte that owner word 0 would lock. A word
// w locks the byte at base + w>>1, which stays below 1<<63 for every pid.
const base = int64(1) << 62

var self struct {
	once sync.Once
	word uint64
	err  error
}

// Me is this process's owner word.
func Me() (uint64, error) {
	self.once.Do(func() {
		if runtime.GOOS != "linux" {
			self.err = sys.ErrNotSupported
			return
		}
		var b [4]byte
		if _, err := rand.Read(b[:]); err != nil {
			self.err = fmt.Errorf("drawing an owner nonce: %w", err)
			return
		}
		nonce := binary.LittleEndian.Uint32(b[:]) & (1<<31 - 1)
		self.word = Word(int32(os.Getpid()), nonce)
	})
	return self.word, self.err
}

// Word is the owner word of process pid with the given nonce (its low 31
// bits).
func Word(pid int32, nonce uint32) uint64 {
	return uint64(uint32(pid))<<32 | uint64(nonce&(1<<31-1))<<1
}

// Pid is the process id an owner word names, in that process's own pid
// namespace.
func Pid(w uint64) int { return int(int32(w >> 32)) }

func offsetOf(w uint64) int64 { return base + int64(w>>1) }

// maxPid is the kernel's limit on pids (PID_MAX_LIMIT on 64-bit systems).
const maxPid = 1 << 22

// possible reports whether some process could have w as its owner word:
// one whose pid field no process has (a word of garbage in shared memory)
// names nobody, and would also lock beyond the range locks may take.
func possible(w uint64) bool {
	pid := int32(w >> 32)
	return w != 0 && pid > 0 && pid <= maxPid
}

// Table is this process's attachment to one file: its own open file
// description, holding the lock of this process's owner word. One Table
// serves every handle of this process to the file (Join counts them).
type Table struct {
	f        *os.File
	dev, ino uint64
	refs     int // under tables' lock
}

type fileKey struct{ dev, ino uint64 }

var tables struct {
	sync.Mutex
	m    map[fileKey]*Table
	list atomic.Pointer[[]*Table] // the tables, for Alive to read without the lock
}

// maps records where this process maps the files it has joined, so that
// a record read from shared memory is judged by the table of the segment
// it lies in (For).
var maps struct {
	sync.Mutex
	list atomic.Pointer[[]mapping]
}

type mapping struct {
	lo, hi uintptr
	t      *Table
}

// Map records b, a mapping of the table's file, until Unmap.
func (t *Table) Map(b []byte) {
	if t == nil {
		return
	}
	maps.Lock()
	defer maps.Unlock()
	old := maps.list.Load()
	var l []mapping
	if old != nil {
		l = append(l, *old...)
	}
	lo := mem.Addr(b)
	l = append(l, mapping{lo, lo + uintptr(len(b)), t})
	maps.list.Store(&l)
}

// Unmap forgets the mapping Map recorded for b.
func (t *Table) Unmap(b []byte) {
	if t == nil {
		return
	}
	maps.Lock()
	defer maps.Unlock()
	old := maps.list.Load()
	if old == nil {
		return
	}
	lo := mem.Addr(b)
	l := slices.DeleteFunc(slices.Clone(*old), func(m mapping) bool { return m.lo == lo && m.t == t })
	maps.list.Store(&l)
}

// For is the table of the mapping b lies in, nil when b lies in none (nil
// Table's Alive asks every table).
func For(b []byte) *Table {
	l := maps.list.Load()
	if l == nil || len(b) == 0 {
		return nil
	}
	a := mem.Addr(b)
	for _, m := range *l {
		if m.lo <= a && a < m.hi {
			return m.t
		}
	}
	return nil
}

// Join attaches this process to the file f opens: it takes the lock of this
// process's owner word on a new description of the file, or counts one
// more user of the Table that already holds it. Each Join needs a Leave.
func Join(f *os.File) (*Table, error) {
	me, err := Me()
	if err != nil {
		return nil, err
	}
	dev, ino, err := sys.FileID(f)
	if err != nil {
		return nil, fmt.Errorf("reading the file's identity: %w", err)
	}
	tables.Lock()
	defer tables.Unlock()
	k := fileKey{dev, ino}
	if t := tables.m[k]; t != nil {
		t.refs++
		return t, nil
	}
	g, err := sys.Reopen(f)
	if err != nil {
		return nil, fmt.Errorf("opening a liveness descriptor: %w", err)
	}
	if err := sys.LockByte(g, offsetOf(me)); err != nil {
		g.Close()
		if errors.Is(err, sys.ErrLocked) {
			return nil, fmt.Errorf("%w: owner word %#x (pid %d)", ErrCollision, me, Pid(me))
		}
		return nil, fmt.Errorf("locking the liveness byte: %w", err)
	}
	t := &Table{f: g, dev: dev, ino: ino, refs: 1}
	if tables.m == nil {
		tables.m = map[fileKey]*Table{}
	}
	tables.m[k] = t
	publish()
	return t, nil
}

// publish copies the tables into the list Alive reads. Under tables' lock.
func publish() {
	l := make([]*Table, 0, len(tables.m))
	for _, t := range tables.m {
		l = append(l, t)
	}
	tables.list.Store(&l)
}

// Leave undoes one Join. The last one closes the description, which drops
// the lock: to the other processes, this one is then gone from the file.
func (t *Table) Leave() error {
	if t == nil {
		return nil
	}
	tables.Lock()
	defer tables.Unlock()
	if t.refs--; t.refs > 0 {
		return nil
	}
	delete(tables.m, fileKey{t.dev, t.ino})
	publish()
	return t.f.Close()
}

// Alive reports whether the process owner word w names is attached to the
// table's file: this process is, as long as it holds the table; 0 names
// none. A nil Table asks every table of this process (see the package
// function Alive).
func (t *Table) Alive(w uint64) bool {
	if t == nil {
		return Alive(w)
	}
	if alive, known := settled(w); known {
		return alive
	}
	return probe(t.f, w)
}

// settled answers for the words that need no probe: garbage names nobody,
// and this process is alive.
func settled(w uint64) (alive, known bool) {
	w &^= 1
	if !possible(w) {
		return false, true
	}
	if m, _ := Me(); w == m {
		return true, true
	}
	return false, false
}

// Alive reports whether the process owner word w names is attached to any
// file this process is attached to: for a record whose segment is not
// known (For(b).Alive is exact, and what the packages above use). It errs
// only toward alive: a process that left the record's segment but shares
// another with this one passes for attached.
func Alive(w uint64) bool {
	if alive, known := settled(w); known {
		return alive
	}
	l := tables.list.Load()
	if l == nil {
		return false
	}
	for _, t := range *l {
		if probe(t.f, w) {
			return true
		}
	}
	return false
}

// Probe reports whether the process owner word w names holds its lock on
// the file f opens: Alive, for a reader that did not Join (f may be any
// descriptor of the file, read-only included).
func Probe(f *os.File, w uint64) bool {
	w &^= 1
	if !possible(w) {
		return false
	}
	return probe(f, w)
}

// probe is one F_OFD_GETLK, for a possible word. A failed call (a
// descriptor closed under it by a concurrent Leave) counts as alive, so
// that no error ever makes a live process pass for dead.
func probe(f *os.File, w uint64) bool {
	_, found, err := sys.FindLock(f, offsetOf(w), 1)
	return found || err != nil
}

// Holders lists the owner words of the processes attached to the file f
// opens (at most max of them), other than through f's own description.
// F_OFD_GETLK reports one conflicting lock of a range, not the lowest, so
// the range is split around each lock found until no part holds another.
func Holders(f *os.File, max int) ([]uint64, error) {
	const end = int64(1<<63 - 1)
	var out []uint64
	type span struct{ lo, hi int64 } // [lo, hi)
	todo := []span{{base, end}}
	for len(todo) > 0 && len(out) < max {
		sp := todo[len(todo)-1]
		todo = todo[:len(todo)-1]
		if sp.lo >= sp.hi {
			continue
		}
		at, found, err := sys.FindLock(f, sp.lo, sp.hi-sp.lo)
		if err != nil {
			return out, err
		}
		if !found || at < sp.lo || at >= sp.hi {
			continue
		}
		out = append(out, uint64(at-base)<<1)
		todo = append(todo, span{sp.lo, at}, span{at + 1, sp.hi})
	}
	return out, nil
}

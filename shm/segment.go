package shm

import (
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/edsrzf/mmap-go"

	"github.com/shmkit/shmkit/internal/owner"
)

// Dir is where named segments live.
const Dir = "/dev/shm"

// SegmentOptions tune Create, Open and OpenOrCreate. A nil *SegmentOptions
// means the defaults.
type SegmentOptions struct {
	// Mode holds the permission bits of a new named segment; 0 means 0600.
	Mode os.FileMode
	// MaxObjects is how many named objects the segment's directory holds;
	// 0 picks one from the size (16 to 1024).
	MaxObjects int
	// Init, if set, runs in Create after the name is taken and before the
	// segment is marked ready, so that objects it places are there for
	// every process that opens the segment. If it fails, Create removes the
	// segment and returns the error.
	Init func(*Segment) error
}

func (o *SegmentOptions) mode() os.FileMode {
	if o == nil || o.Mode == 0 {
		return 0o600
	}
	return o.Mode.Perm()
}

// entries is the directory capacity for a segment of size bytes.
func (o *SegmentOptions) entries(size int64) uint32 {
	if o != nil && o.MaxObjects > 0 {
		if o.MaxObjects > maxEntries {
			return maxEntries + 1 // rejected by checkEntries
		}
		return uint32(o.MaxObjects)
	}
	return uint32(min(max(size/65536, 16), 1024))
}

// readyWait bounds the waits that take no context (FromFile, Resolve) for
// a segment's creator to make it ready. Such segments are ready already
// (a parent's, or one a handle was made in) unless their creator hangs.
const readyWait = 30 * time.Second

// Segment is a mapped shared-memory segment: named (a file under /dev/shm)
// or anonymous (a memfd). Its methods are safe for concurrent use, by
// goroutines and by processes.
type Segment struct {
	name    string // "" for an anonymous segment
	f       *os.File
	m       mmap.MMap
	b       []byte
	h       header
	me      uint64       // this process's owner word
	live    *owner.Table // this process's attachment to the file (package owner)
	created bool
	closed  atomic.Bool
}

// Name is the segment's name, or "" for an anonymous segment.
func (s *Segment) Name() string { return s.name }

// Size is the segment's size in bytes, header included.
func (s *Segment) Size() int64 { return int64(s.h.size) }

// ID is the segment's random identity, the same in every process.
func (s *Segment) ID() uint64 { return s.h.id }

// Created reports whether this process created the segment (rather than
// opening an existing one).
func (s *Segment) Created() bool { return s.created }

// File is the segment's open file, for handing it to a child process. It
// belongs to the segment: do not close it.
func (s *Segment) File() *os.File { return s.f }

// Creator is the pid of the process that created the segment.
func (s *Segment) Creator() int { return int(s.h.creatorPid) }

func (s *Segment) label() string {
	if s.name == "" {
		return "(anonymous)"
	}
	return s.name
}

// Close releases this process's handle: it unmaps the segment and closes
// its file. Memory of its objects must not be touched afterwards; closing
// their handles is safe (see Closed). Closing twice is not an error. The segment stays for the other processes, and a
// named one stays in /dev/shm until Free (or Unlink, or shmctl gc).
func (s *Segment) Close() error {
	if !s.closed.CompareAndSwap(false, true) {
		return nil
	}
	unregister(s)
	mu := s.arenaMutex() // let an allocation in flight finish first
	mu.Lock()
	defer mu.Unlock()
	var err error
	if s.m != nil {
		s.live.Unmap(s.m)
		err = s.m.Unmap()
	}
	if s.f != nil {
		if cerr := s.f.Close(); err == nil {
			err = cerr
		}
	}
	// Only now, with nothing of the segment left in this process, may the
	// others take this process for gone from it.
	if lerr := s.live.Leave(); err == nil {
		err = lerr
	}
	return err
}

// Closed reports whether this process closed its handle to the segment
// (Close, or Free): the memory of its objects is then gone from this
// process, and the Close of an object's handle touches none of it.
func (s *Segment) Closed() bool { return s.closed.Load() }

// Info describes a segment, as List and Stat report it.
type Info struct {
	Name         string    // its name under /dev/shm
	Size         int64     // in bytes, header included
	ID           uint64    // the random identity of Segment.ID
	Version      uint32    // of the format the segment was made in
	Anonymous    bool      // made by Anonymous, as a memfd with no name
	CreatorPid   int       // as the creator saw itself, in its own pid namespace
	CreatorAlive bool      // attached to the segment, or its pid runs in this namespace (it errs toward alive)
	Ready        bool      // false while the creator is still setting it up
	Created      time.Time // when its creator made it
	Objects      int       // named objects in the directory
	MaxObjects   int       // directory capacity
	HeapUsed     int64     // bytes from the heap's start to its top
	HeapSize     int64     // bytes from the heap's start to its end
	// Err is set, by List, for a file that starts like a segment but whose
	// header does not check out; the other fields are then zero.
	Err error
}

// registry maps segment ids to the segments this process has mapped, so
// that a handle can be resolved; a segment mapped twice is there twice.
var registry struct {
	sync.Mutex
	m map[uint64][]*Segment
}

func register(s *Segment) {
	registry.Lock()
	defer registry.Unlock()
	if registry.m == nil {
		registry.m = make(map[uint64][]*Segment)
	}
	registry.m[s.h.id] = append(registry.m[s.h.id], s)
}

func unregister(s *Segment) {
	registry.Lock()
	defer registry.Unlock()
	segs := slices.DeleteFunc(registry.m[s.h.id], func(x *Segment) bool { return x == s })
	if len(segs) == 0 {
		delete(registry.m, s.h.id)
	} else {
		registry.m[s.h.id] = segs
	}
}

func registered(id uint64) *Segment {
	registry.Lock()
	defer registry.Unlock()
	if segs := registry.m[id]; len(segs) > 0 {
		return segs[0]
	}
	return nil
}

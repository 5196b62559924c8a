//go:build linux && (amd64 || arm64)

package shm

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/edsrzf/mmap-go"

	"github.com/shmkit/shmkit/internal/mem"
	"github.com/shmkit/shmkit/internal/owner"
	"github.com/shmkit/shmkit/internal/sys"
)

// testHookBeforeReady, when set by a test, runs in Create just before the
// segment is marked ready.
var testHookBeforeReady func()

func checkSize(size int64) error {
	switch {
	case size <= 0:
		return fmt.Errorf("shm: %w: %d bytes", ErrSize, size)
	case size > maxSegmentSize:
		return fmt.Errorf("shm: %w: %d bytes is beyond the %d-byte maximum", ErrSize, size, int64(maxSegmentSize))
	}
	return nil
}

func newID() uint64 {
	var b [8]byte
	for {
		rand.Read(b[:])
		if id := binary.LittleEndian.Uint64(b[:]); id != 0 {
			return id
		}
	}
}

// Create makes a named segment of size bytes under /dev/shm, mode 0600
// unless opts says otherwise. Its memory is reserved now: a full /dev/shm is
// ErrNoSpace here, never a SIGBUS later. An existing name is ErrExist, even
// when a symlink or a directory holds it. The segment gets its name only
// once its header is written, so no process ever opens half a header.
func Create(name string, size int64, opts *SegmentOptions) (*Segment, error) {
	if err := checkName(name, maxSegmentName); err != nil {
		return nil, err
	}
	s, err := newSegment(name, size, opts, false)
	if err != nil {
		return nil, err
	}
	if opts != nil && opts.Init != nil {
		if err := opts.Init(s); err != nil {
			os.Remove(Dir + "/" + name)
			s.Close()
			return nil, fmt.Errorf("shm: initializing segment %q: %w", name, err)
		}
	}
	if testHookBeforeReady != nil {
		testHookBeforeReady()
	}
	st := mem.Uint32(s.b, hState)
	atomic.StoreUint32(st, stateReady)
	sys.FutexWake(st, -1)
	register(s)
	return s, nil
}

// Anonymous makes a segment with no name, backed by a memfd: nothing to
// clean up, gone when the last process that maps it exits or closes it. Its
// size is sealed, so no process can shrink it under another's mapping.
func Anonymous(size int64) (*Segment, error) {
	s, err := newSegment("", size, nil, true)
	if err != nil {
		return nil, err
	}
	atomic.StoreUint32(mem.Uint32(s.b, hState), stateReady)
	register(s)
	return s, nil
}

func newSegment(name string, size int64, opts *SegmentOptions, anon bool) (*Segment, error) {
	label := strconv.Quote(name)
	if anon {
		label = "(anonymous)"
	}
	if err := checkSize(size); err != nil {
		return nil, fmt.Errorf("shm: segment %s: %w", label, err)
	}
	entries := opts.entries(size)
	dirOff, heapOff, err := planLayout(uint64(size), entries)
	if err != nil {
		return nil, fmt.Errorf("shm: segment %s: %w", label, err)
	}
	if entries > maxEntries {
		return nil, fmt.Errorf("shm: segment %s: %w: at most %d objects", label, ErrSize, maxEntries)
	}
	me, err := owner.Me()
	if err != nil {
		return nil, fmt.Errorf("shm: segment %s: %w", label, err)
	}
	id := newID()
	var f *os.File
	if anon {
		// The name carries the id, so that a process that was handed an
		// object of the segment can find it among its parent's files.
		f, err = sys.Memfd(memfdName(id))
	} else {
		if _, avail, serr := sys.SpaceOf(Dir); serr == nil && uint64(size) > avail {
			return nil, fmt.Errorf("shm: segment %s: %w: %d bytes asked, %d free in %s", label, ErrNoSpace, size, avail, Dir)
		}
		f, err = sys.TempFile(Dir, opts.mode())
	}
	if err != nil {
		return nil, fmt.Errorf("shm: segment %s: %w", label, err)
	}
	var live *owner.Table
	fail := func(err error) (*Segment, error) {
		live.Leave()
		f.Close()
		return nil, fmt.Errorf("shm: segment %s: %w", label, err)
	}
	if err := sys.Fallocate(f, size); err != nil {
		if sys.IsNoSpace(err) {
			return fail(fmt.Errorf("%w: reserving %d bytes: %v", ErrNoSpace, size, err))
		}
		return fail(err)
	}
	if anon {
		if err := sys.SealSize(f); err != nil {
			return fail(err)
		}
	}
	// Attached before the file has a name: whoever opens it by that name
	// finds its creator alive for as long as it makes the segment.
	if live, err = owner.Join(f); err != nil {
		return fail(err)
	}
	m, err := mmap.Map(f, mmap.RDWR, 0)
	if err != nil {
		return fail(fmt.Errorf("mapping: %w", err))
	}
	h := header{version: formatVersion, size: uint64(size), id: id, creatorPid: int32(owner.Pid(me)),
		creatorWord: me, entries: entries, dirOff: dirOff, heapOff: heapOff, created: time.Now().UnixNano()}
	if anon {
		h.flags = flagAnonymous
	}
	encodeHeader(m, &h)
	s := &Segment{name: name, f: f, m: m, b: m, h: h, me: me, live: live, created: true}
	if !anon {
		if err := sys.Link(f, Dir+"/"+name); err != nil {
			m.Unmap()
			if errors.Is(err, fs.ErrExist) {
				return fail(ErrExist)
			}
			return fail(err)
		}
	}
	live.Map(m)
	return s, nil
}

// Open maps a named segment, after checking its header. It waits, until
// ctx ends, for a segment that does not exist yet (so a program may open
// before another has created) and for one whose creator is still setting it
// up; it fails with ErrCreatorDied if that creator dies first. When ctx
// ends, the error matches ctx.Err() and the reason it waited (ErrNotExist
// for a name that never appeared). opts is not used yet: nil.
func Open(ctx context.Context, name string, opts *SegmentOptions) (*Segment, error) {
	return open(ctx, name, true)
}

// open is Open; without wait, a name that does not exist is ErrNotExist at
// once.
func open(ctx context.Context, name string, wait bool) (*Segment, error) {
	if err := checkName(name, maxSegmentName); err != nil {
		return nil, err
	}
	var back backoff
	for {
		f, err := sys.OpenNoFollow(Dir+"/"+name, true)
		if err != nil {
			err = openError(name, err)
			if wait && errors.Is(err, ErrNotExist) {
				if cerr := back.wait(ctx); cerr != nil {
					return nil, fmt.Errorf("%w; gave up waiting: %w", err, cerr)
				}
				continue
			}
			return nil, err
		}
		s, err := mapFile(ctx, f, name)
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("shm: segment %q: %w", name, err)
		}
		return s, nil
	}
}

func openError(name string, err error) error {
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("shm: segment %q: %w", name, ErrNotExist)
	case errors.Is(err, sys.ErrSymlink), errors.Is(err, sys.ErrNotRegular):
		return fmt.Errorf("shm: segment %q: %w: %v", name, ErrBadHeader, err)
	}
	return fmt.Errorf("shm: segment %q: %w", name, err)
}

// OpenOrCreate opens the named segment, or creates it with size bytes if it
// does not exist. Of several processes racing, exactly one creates it (its
// Created reports true) and the others open it; ctx bounds their wait for
// the creator to make it ready (opts.Init).
func OpenOrCreate(ctx context.Context, name string, size int64, opts *SegmentOptions) (*Segment, error) {
	var err error
	for range 10 {
		var s *Segment
		if s, err = Create(name, size, opts); !errors.Is(err, ErrExist) {
			return s, err
		}
		if s, err = open(ctx, name, false); !errors.Is(err, ErrNotExist) {
			return s, err
		}
		// Unlinked between the two calls: try again, a few times.
	}
	return nil, fmt.Errorf("shm: segment %q keeps appearing and disappearing: %w", name, err)
}

// memfdName is the name of an anonymous segment's memfd: /proc shows it
// as /memfd:NAME (deleted).
func memfdName(id uint64) string { return fmt.Sprintf("shmkit-%016x", id) }

// maxAncestors bounds how far up its line of parents findAnonymous looks.
const maxAncestors = 8

// finding serialises findAnonymous, so that two goroutines resolving
// handles of one segment map it once.
var finding sync.Mutex

// findAnonymous maps the anonymous segment id from a process up this one's
// line of parents that has it open: a child of package process inherits
// its parent's default heap as it was at its start, and an object made
// later may lie in a segment the heap added since. Its memfd's name
// carries its id (memfdName); the segment is opened through /proc/PID/fd,
// which needs the right to read that process's files (as a parent's are
// to its child, under the same user), and checked as FromFile checks.
// It returns nil when no ancestor has it.
func findAnonymous(id uint64) *Segment {
	finding.Lock()
	defer finding.Unlock()
	if s := registered(id); s != nil {
		return s
	}
	want := "/memfd:" + memfdName(id) + " (deleted)"
	for pid, n := os.Getppid(), 0; pid > 1 && n < maxAncestors; pid, n = parentOf(pid), n+1 {
		dir := "/proc/" + strconv.Itoa(pid) + "/fd"
		ents, err := os.ReadDir(dir)
		if err != nil {
			continue
		}
		for _, e := range ents {
			if link, err := os.Readlink(dir + "/" + e.Name()); err != nil || link != want {
				continue
			}
			f, err := os.OpenFile(dir+"/"+e.Name(), os.O_RDWR, 0)
			if err != nil {
				continue
			}
			s, err := FromFile(f)
			if err != nil || s.ID() != id {
				if err == nil {
					s.Close()
				}
				continue
			}
			return s
		}
	}
	return nil
}

// parentOf is the parent of process pid (from /proc/PID/stat), 0 when it
// cannot be read.
func parentOf(pid int) int {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0
	}
	// pid (comm) state ppid ...: comm may hold spaces and parentheses.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 2 {
		return 0
	}
	ppid, _ := strconv.Atoi(f[1])
	return ppid
}

// FromFile maps the segment open (read-write) as f, typically a descriptor
// a child inherited from its parent. The segment takes f over: Close closes
// it, and so does FromFile when it fails.
func FromFile(f *os.File) (*Segment, error) {
	ctx, cancel := context.WithTimeout(context.Background(), readyWait)
	defer cancel()
	s, err := mapFile(ctx, f, "")
	if err != nil {
		f.Close()
		return nil, err
	}
	return s, nil
}

func mapFile(ctx context.Context, f *os.File, name string) (*Segment, error) {
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	hb := make([]byte, headerSize)
	n, err := f.ReadAt(hb, 0)
	if err != nil && err != io.EOF {
		return nil, fmt.Errorf("reading header: %w", err)
	}
	h, err := decodeHeader(hb[:n], fi.Size())
	if err != nil {
		return nil, err
	}
	me, err := owner.Me()
	if err != nil {
		return nil, err
	}
	live, err := owner.Join(f)
	if err != nil {
		return nil, err
	}
	m, err := mmap.Map(f, mmap.RDWR, 0)
	if err != nil {
		live.Leave()
		return nil, fmt.Errorf("mapping read-write (is the file open for writing?): %w", err)
	}
	s := &Segment{name: name, f: f, m: m, b: m, h: h, me: me, live: live}
	// The header was checked through read(2); check the mapping says the same.
	if h2, err := decodeHeader(m[:headerSize], int64(len(m))); err != nil || h2 != h {
		m.Unmap()
		live.Leave()
		return nil, fmt.Errorf("shm: %w: header changed while mapping", ErrBadHeader)
	}
	if err := s.waitReady(ctx); err != nil {
		m.Unmap()
		live.Leave()
		return nil, err
	}
	live.Map(m)
	register(s)
	return s, nil
}

// waitReady waits for the creator to mark the segment ready, noticing a
// creator that died instead of spinning forever on its flag.
func (s *Segment) waitReady(ctx context.Context) error {
	st := mem.Uint32(s.b, hState)
	creator := s.h.creatorWord
	for {
		switch v := atomic.LoadUint32(st); v {
		case stateReady:
			return nil
		case stateCreating:
		default:
			return fmt.Errorf("shm: %w: state word %d", ErrBadHeader, v)
		}
		if !s.live.Alive(creator) {
			if atomic.LoadUint32(st) == stateReady {
				return nil
			}
			return fmt.Errorf("%w (pid %d); remove it with shm.Unlink or shmctl gc", ErrCreatorDied, s.h.creatorPid)
		}
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("waiting for the creator (pid %d) to finish: %w", s.h.creatorPid, err)
		}
		sys.FutexWait(st, stateCreating, 20*time.Millisecond)
	}
}

// Unlink removes the name of a segment from /dev/shm. Processes that have it
// mapped keep using it; its memory is freed when the last one closes it. A
// file there that is not a shmkit segment is left alone (ErrBadHeader), and
// so is one that replaced the segment while Unlink checked it (ErrStale).
func Unlink(name string) error {
	f, err := openNamed(name)
	if err != nil {
		return err
	}
	defer f.Close()
	var hb [len(magic)]byte
	if _, err := f.ReadAt(hb[:], 0); err != nil || !hasMagic(hb[:]) {
		return fmt.Errorf("shm: segment %q: %w: refusing to remove it", name, ErrBadHeader)
	}
	// Remove the name only if it still names the file just checked.
	checked, err1 := f.Stat()
	now, err2 := os.Lstat(Dir + "/" + name)
	if err1 != nil || err2 != nil || !os.SameFile(checked, now) {
		return fmt.Errorf("shm: segment %q: %w: replaced while being removed", name, ErrStale)
	}
	if err := os.Remove(Dir + "/" + name); err != nil {
		return openError(name, err)
	}
	return nil
}

// Free destroys the segment for every process: it removes its name (as
// Unlink does), then closes this handle. Processes that have it mapped keep
// their mappings until they Close; no process can open it any more, and its
// memory goes back to the system when the last one closes it. Free of an
// anonymous segment is Close: it has no name, and goes when the last
// process holding it closes it.
//
// Free removes the name only while it still names this segment: if
// another process removed it and made a new segment under the same name,
// Free leaves that one alone, fails with ErrStale, and closes this handle
// all the same.
func (s *Segment) Free() error {
	var err error
	if s.name != "" && !s.closed.Load() {
		err = s.unlinkOwn()
	}
	return errors.Join(err, s.Close())
}

// unlinkOwn removes the segment's name if it still names the segment's
// file.
func (s *Segment) unlinkOwn() error {
	if s.f == nil {
		return Unlink(s.name)
	}
	mine, err := s.f.Stat()
	if err != nil {
		return fmt.Errorf("shm: segment %q: %w", s.name, err)
	}
	now, err := os.Lstat(Dir + "/" + s.name)
	if err != nil {
		return openError(s.name, err)
	}
	if !os.SameFile(mine, now) {
		return fmt.Errorf("shm: segment %q: %w: the name now names another segment, left alone", s.name, ErrStale)
	}
	if err := os.Remove(Dir + "/" + s.name); err != nil {
		return openError(s.name, err)
	}
	return nil
}

// Stat reads a named segment's header and directory without mapping it or
// waiting for it, as shmctl does.
func Stat(name string) (Info, error) {
	info, _, err := statNamed(name)
	return info, err
}

// StatObjects lists the directory of a named segment without mapping it.
func StatObjects(name string) ([]ObjectInfo, error) {
	_, objs, err := statNamed(name)
	return objs, err
}

// openNamed checks a segment name and opens its file for reading without
// following a link.
func openNamed(name string) (*os.File, error) {
	if err := checkName(name, maxSegmentName); err != nil {
		return nil, err
	}
	f, err := sys.OpenNoFollow(Dir+"/"+name, false)
	if err != nil {
		return nil, openError(name, err)
	}
	return f, nil
}

// statNamed is Stat and StatObjects: on an error past opening, the header
// read so far and no objects.
func statNamed(name string) (Info, []ObjectInfo, error) {
	f, err := openNamed(name)
	if err != nil {
		return Info{}, nil, err
	}
	defer f.Close()
	info, objs, err := statFile(f, name)
	if err != nil {
		return info, nil, fmt.Errorf("shm: segment %q: %w", name, err)
	}
	return info, objs, nil
}

func statFile(f *os.File, name string) (Info, []ObjectInfo, error) {
	info := Info{Name: name}
	fi, err := f.Stat()
	if err != nil {
		return info, nil, err
	}
	hb := make([]byte, headerSize)
	n, _ := f.ReadAt(hb, 0)
	h, err := decodeHeader(hb[:n], fi.Size())
	if err != nil {
		return info, nil, err
	}
	dir := make([]byte, int(h.entries)*entrySize)
	if _, err := f.ReadAt(dir, int64(h.dirOff)); err != nil {
		return info, nil, fmt.Errorf("reading directory: %w", err)
	}
	alive := func(w uint64) bool { return owner.Probe(f, w) }
	objs, derr := listEntries(dir, &h, alive)
	top := le.Uint64(hb[hTop:])
	info = Info{Name: name, Size: int64(h.size), ID: h.id, Version: h.version, Anonymous: h.flags&flagAnonymous != 0,
		CreatorPid: int(h.creatorPid), CreatorAlive: creatorRuns(f, &h), Ready: le.Uint32(hb[hState:]) == stateReady,
		Created: time.Unix(0, h.created), Objects: len(objs), MaxObjects: int(h.entries),
		HeapUsed: int64(top) - int64(h.heapOff), HeapSize: int64(h.heapEnd() - h.heapOff)}
	return info, objs, derr // a corrupted directory entry still shows the header
}

// creatorRuns reports whether a segment's creator may still run: it is
// attached to the segment, or a process of its pid runs in this pid
// namespace. The second errs toward "runs" (a pid is reused, and names
// another process in another namespace), so that gc never removes a
// segment whose creator closed it but lives on to open it again.
func creatorRuns(f *os.File, h *header) bool {
	return owner.Probe(f, h.creatorWord) || sys.PidRuns(h.creatorPid)
}

// List describes every shmkit segment under /dev/shm, by name. Files that
// are not shmkit segments are left out; one that starts like a segment but
// whose header is bad is listed with Info.Err set.
func List() ([]Info, error) {
	ents, err := os.ReadDir(Dir)
	if err != nil {
		return nil, err
	}
	var out []Info
	for _, e := range ents {
		if !e.Type().IsRegular() || checkName(e.Name(), maxSegmentName) != nil {
			continue
		}
		f, err := sys.OpenNoFollow(Dir+"/"+e.Name(), false)
		if err != nil {
			continue // gone, or not ours to read
		}
		var mb [len(magic)]byte
		if _, err := f.ReadAt(mb[:], 0); err != nil || !hasMagic(mb[:]) {
			f.Close()
			continue
		}
		info, _, err := statFile(f, e.Name())
		f.Close()
		if err != nil {
			info.Name, info.Err = e.Name(), err
		}
		out = append(out, info)
	}
	return out, nil
}

// Users lists the processes other than this one that use the named
// segment: those attached to it through shmkit, in any pid namespace, by
// the pid each sees itself as (see Liveness in the package doc), and those
// this process can see in /proc mapping it or holding it open (programs
// that use the file without shmkit among them). A pid may be listed twice
// when two namespaces use the same number.
func Users(name string) ([]int, error) {
	f, err := openNamed(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	me, _ := owner.Me()
	ws, err := owner.Holders(f, maxUsers)
	if err != nil {
		return nil, fmt.Errorf("segment %q: listing attached processes: %w", name, err)
	}
	out := []int{}
	seen := map[int]bool{}
	for _, w := range ws {
		if w != me {
			out = append(out, owner.Pid(w))
			seen[owner.Pid(w)] = true
		}
	}
	pids, err := sys.Users(Dir+"/"+name, true)
	for _, p := range pids {
		if !seen[int(p)] {
			out = append(out, int(p))
		}
	}
	return out, err
}

// maxUsers bounds the attached processes Users lists.
const maxUsers = 4096

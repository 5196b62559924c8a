package testproc

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
)

const (
	fdDir = "/proc/self/fd"

	// lockPath is shared by every shmkit test binary on the machine. Each
	// holds it shared while its tests run and exclusive while it looks at
	// /dev/shm, so that one binary never blames, or removes, a segment that
	// another binary's test is still using (go test runs packages in
	// parallel). A fixed path rather than os.TempDir: TMPDIR may differ.
	defaultLockPath = "/tmp/shmkit-testproc.lock"
	defaultShmDir   = "/dev/shm"

	// envLock and envShmDir replace the two paths above. They exist for
	// testproc's own test of Main, which runs a nested test binary that must
	// neither wait for its parent's lock nor touch the real /dev/shm.
	envLock   = envPrefix + "LOCK"
	envShmDir = envPrefix + "SHMDIR"

	lockWaitShared    = time.Minute // another binary's check is short
	lockWaitExclusive = time.Second // then judge only the entries that are ours
	lockPoll          = 20 * time.Millisecond
)

// ignoredFDs are descriptors the Go runtime opens lazily for its poller; a
// test that first touches the poller must not be blamed for them.
var ignoredFDs = map[string]bool{
	"anon_inode:[eventpoll]": true,
	"anon_inode:[eventfd]":   true,
}

type leakCheck struct {
	dir  string   // /dev/shm, unless envShmDir says otherwise
	lock *os.File // nil when the lock file cannot be opened
	fds  map[int]string
	shm  map[string]bool // nil when /dev/shm cannot be read
}

func startLeakCheck() *leakCheck {
	wakePoller()
	lc := &leakCheck{dir: defaultShmDir}
	if d := os.Getenv(envShmDir); d != "" {
		lc.dir = d
	}
	lockPath := defaultLockPath
	if l := os.Getenv(envLock); l != "" {
		lockPath = l
	}
	if f, err := os.OpenFile(lockPath, os.O_RDONLY|os.O_CREATE, 0o666); err == nil {
		if flockWait(f, syscall.LOCK_SH, lockWaitShared) {
			lc.lock = f
		} else {
			f.Close()
		}
	}
	lc.fds, _ = fdSnapshot()
	lc.shm, _ = shmSnapshot(lc.dir)
	return lc
}

// finish returns one line per leak found since startLeakCheck and removes
// the entries tests left in /dev/shm.
func (lc *leakCheck) finish() []string {
	var problems []string
	if lc.fds != nil {
		after, err := fdSnapshot()
		if err == nil {
			problems = append(problems, diffFDs(lc.fds, after)...)
		}
	}
	if lc.shm != nil {
		exclusive := true
		if lc.lock != nil {
			syscall.Flock(int(lc.lock.Fd()), syscall.LOCK_UN)
			exclusive = flockWait(lc.lock, syscall.LOCK_EX, lockWaitExclusive)
		}
		if after, err := shmSnapshot(lc.dir); err == nil {
			for _, name := range diffShm(lc.shm, after) {
				path := filepath.Join(lc.dir, name)
				// While other test binaries run, an entry may be theirs
				// and still in use: judge only the ones that are ours.
				if !exclusive && !ours(name, path) {
					continue
				}
				if err := os.RemoveAll(path); err != nil {
					problems = append(problems, fmt.Sprintf("a test left %s (removing it: %v)", path, err))
				} else {
					problems = append(problems, fmt.Sprintf("a test left %s (removed it)", path))
				}
			}
		}
	}
	if lc.lock != nil {
		lc.lock.Close() // releases the lock
	}
	return problems
}

// ours reports whether a /dev/shm entry belongs to this test binary: its
// name carries this process's pid (as ShmName's and the examples' names
// do), or it is a shmkit segment whose header names this process or one of
// its children as the creator. The header is read directly, as package shm
// lays it out: the magic "shmkitSG" at 0 and the creator pid (uint32,
// little-endian) at 32; testproc cannot import shm, whose tests use it.
func ours(name, path string) bool {
	pid := strconv.Itoa(os.Getpid())
	for _, part := range strings.FieldsFunc(name, func(r rune) bool { return r < '0' || r > '9' }) {
		if part == pid {
			return true
		}
	}
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	var h [36]byte
	if _, err := f.ReadAt(h[:], 0); err != nil || string(h[:8]) != "shmkitSG" {
		return false
	}
	creator := int(binary.LittleEndian.Uint32(h[32:]))
	_, child := spawned.Load(creator)
	return creator == os.Getpid() || child
}

// wakePoller makes the runtime open its poller descriptors now, before the
// first snapshot: os.Pipe registers with the poller.
func wakePoller() {
	if r, w, err := os.Pipe(); err == nil {
		r.Close()
		w.Close()
	}
}

// flockWait takes a lock of kind how, polling so that the wait is bounded.
func flockWait(f *os.File, how int, limit time.Duration) bool {
	deadline := time.Now().Add(limit)
	fd := int(f.Fd())
	for {
		err := syscall.Flock(fd, how|syscall.LOCK_NB)
		if err == nil {
			return true
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) && !errors.Is(err, syscall.EINTR) {
			return false
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(lockPoll)
	}
}

// fdSnapshot maps each open descriptor of this process to what it refers to.
func fdSnapshot() (map[int]string, error) {
	d, err := os.Open(fdDir)
	if err != nil {
		return nil, fmt.Errorf("listing descriptors: %w", err)
	}
	defer d.Close()
	names, err := d.Readdirnames(-1)
	if err != nil {
		return nil, fmt.Errorf("listing descriptors: %w", err)
	}
	self := int(d.Fd())
	fds := make(map[int]string, len(names))
	for _, name := range names {
		fd, err := strconv.Atoi(name)
		if err != nil || fd == self {
			continue
		}
		target, err := os.Readlink(filepath.Join(fdDir, name))
		if err != nil {
			continue // closed since the listing
		}
		fds[fd] = target
	}
	return fds, nil
}

// diffFDs describes the descriptors open in after that were not open in
// before (or referred to something else then), leaving out the runtime's.
func diffFDs(before, after map[int]string) []string {
	var fds []int
	for fd, target := range after {
		if ignoredFDs[target] {
			continue
		}
		if old, ok := before[fd]; !ok || old != target {
			fds = append(fds, fd)
		}
	}
	sort.Ints(fds)
	out := make([]string, 0, len(fds))
	for _, fd := range fds {
		out = append(out, fmt.Sprintf("a test leaked file descriptor %d (%s)", fd, after[fd]))
	}
	return out
}

// shmSnapshot returns the names of the entries in dir.
func shmSnapshot(dir string) (map[string]bool, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("listing %s: %w", dir, err)
	}
	names := make(map[string]bool, len(entries))
	for _, e := range entries {
		names[e.Name()] = true
	}
	return names, nil
}

// diffShm returns, sorted, the names in after that were not in before.
func diffShm(before, after map[string]bool) []string {
	var out []string
	for name := range after {
		if !before[name] {
			out = append(out, name)
		}
	}
	sort.Strings(out)
	return out
}

package testproc

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
)

const (
	fdDir = "/proc/self/fd"

	// envShmDir replaces defaultShmDir. It exists for testproc's own tests
	// of Main, which run a nested test binary that must not touch the real
	// /dev/shm.
	envShmDir = envPrefix + "SHMDIR"
)

// ignoredFDs are descriptors the Go runtime opens lazily for its poller; a
// test that first touches the poller must not be blamed for them.
var ignoredFDs = map[string]bool{
	"anon_inode:[eventpoll]": true,
	"anon_inode:[eventfd]":   true,
}

type leakCheck struct {
	dir string // /dev/shm, unless envShmDir says otherwise
	fds map[int]string
	shm map[string]bool // nil when /dev/shm cannot be read
}

func startLeakCheck() *leakCheck {
	wakePoller()
	lc := &leakCheck{dir: defaultShmDir}
	if d := os.Getenv(envShmDir); d != "" {
		lc.dir = d
	}
	lc.fds, _ = fdSnapshot()
	lc.shm, _ = shmSnapshot(lc.dir)
	return lc
}

// finish returns one line per leak found since startLeakCheck and removes
// the entries tests left in /dev/shm. Only entries whose name proves they
// are this binary's (ours) count: any other is another program's, perhaps
// live, and is neither touched nor reported, whoever else runs.
func (lc *leakCheck) finish() []string {
	var problems []string
	if lc.fds != nil {
		after, err := fdSnapshot()
		if err == nil {
			problems = append(problems, diffFDs(lc.fds, after)...)
		}
	}
	if lc.shm != nil {
		if after, err := shmSnapshot(lc.dir); err == nil {
			for _, name := range diffShm(lc.shm, after) {
				if !ours(name) {
					continue
				}
				path := filepath.Join(lc.dir, name)
				if err := os.RemoveAll(path); err != nil {
					problems = append(problems, fmt.Sprintf("a test left %s (%sremoving it: %v)", path, madeBy(name), err))
				} else {
					problems = append(problems, fmt.Sprintf("a test left %s (%sremoved it)", path, madeBy(name)))
				}
			}
		}
	}
	return problems
}

// wakePoller makes the runtime open its poller descriptors now, before the
// first snapshot: os.Pipe registers with the poller.
func wakePoller() {
	if r, w, err := os.Pipe(); err == nil {
		r.Close()
		w.Close()
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

//go:build linux

package sys

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/sys/unix"
)

// ProcID identifies a process for the life of the system: a pid together
// with the time it started (in clock ticks since boot, field 22 of
// /proc/PID/stat). A pid that was reused by a later process has another
// start time, so it is never mistaken for the first.
type ProcID struct {
	Pid   int32
	Start uint64
}

var self struct {
	once sync.Once
	id   ProcID
	err  error
}

// Self is the calling process's identity.
func Self() (ProcID, error) {
	self.once.Do(func() { self.id, self.err = Lookup(int32(os.Getpid())) })
	return self.id, self.err
}

// Lookup reads the identity of a running process; an error matching
// os.ErrNotExist means there is none with that pid.
func Lookup(pid int32) (ProcID, error) {
	if pid <= 0 {
		return ProcID{}, fmt.Errorf("pid %d: %w", pid, os.ErrNotExist)
	}
	start, err := startTime(pid)
	if err != nil {
		return ProcID{}, err
	}
	return ProcID{Pid: pid, Start: start}, nil
}

func startTime(pid int32) (uint64, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(int(pid)) + "/stat")
	if err != nil {
		if errors.Is(err, unix.ESRCH) {
			err = os.ErrNotExist
		}
		return 0, err
	}
	// The command name (field 2) is in parentheses and may hold spaces or
	// parentheses itself: count fields from the last ')'.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, fmt.Errorf("parsing /proc/%d/stat: no ')'", pid)
	}
	fields := strings.Fields(string(b[i+1:]))
	// fields[0] is field 3 (state); starttime is field 22.
	if len(fields) < 20 {
		return 0, fmt.Errorf("parsing /proc/%d/stat: %d fields", pid, len(fields))
	}
	return strconv.ParseUint(fields[19], 10, 64)
}

// Alive reports whether the process p identifies is still running (a zombie
// counts as gone). A zero ProcID is never alive.
func (p ProcID) Alive() bool {
	if p.Pid <= 0 {
		return false
	}
	st, err := startTime(p.Pid)
	if err != nil {
		return false
	}
	if st != p.Start {
		return false // the pid now belongs to a later process
	}
	return !isZombie(p.Pid)
}

func isZombie(pid int32) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(int(pid)) + "/stat")
	if err != nil {
		return true
	}
	i := bytes.LastIndexByte(b, ')')
	return i >= 0 && i+2 < len(b) && (b[i+2] == 'Z' || b[i+2] == 'X')
}

// Word packs p into one 64-bit word (pid in the high half, the low 32 bits
// of the start time in the low half), so that an owner can be recorded with
// a single compare-and-swap. Zero means "no process".
func (p ProcID) Word() uint64 { return uint64(uint32(p.Pid))<<32 | uint64(uint32(p.Start)) }

// AliveWord reports whether the process recorded as w (see Word) is still
// running. The start time is compared on its low 32 bits: at 100 ticks a
// second they repeat after 497 days, and only a process with the same pid
// started exactly that long after the first could be mistaken for it.
func AliveWord(w uint64) bool { return AliveStart(int32(w>>32), w, 32) }

// AliveStart reports whether process pid is running and its start time
// agrees with start on the low bits bits: AliveWord for owner words that
// keep fewer bits of the start time to make room for flags.
func AliveStart(pid int32, start uint64, bits uint) bool {
	if pid <= 0 {
		return false
	}
	st, err := startTime(pid)
	mask := uint64(1)<<bits - 1
	if err != nil || st&mask != start&mask {
		return false
	}
	return !isZombie(pid)
}

// Users lists the processes that map the file at path or hold it open
// (scanning /proc/*/maps and /proc/*/fd), leaving out the calling process
// when excludeSelf is set. Files are matched by device and inode, not by
// name: a process that made the file unnamed and linked it later, or that
// inherited its descriptor, shows another name for it. Processes this one
// may not inspect are not seen.
func Users(path string, excludeSelf bool) ([]int32, error) {
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		return nil, &os.PathError{Op: "stat", Path: path, Err: err}
	}
	d, err := os.ReadDir("/proc")
	if err != nil {
		return nil, err
	}
	me := os.Getpid()
	var pids []int32
	for _, e := range d {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || (excludeSelf && pid == me) {
			continue
		}
		if usesFile(pid, uint64(st.Dev), st.Ino) {
			pids = append(pids, int32(pid))
		}
	}
	return pids, nil
}

// FileID is the device and inode of an open file.
func FileID(f *os.File) (dev, ino uint64, err error) {
	var st unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &st); err != nil {
		return 0, 0, err
	}
	return uint64(st.Dev), st.Ino, nil
}

// Uses reports whether process pid maps the file with the given device and
// inode or holds it open. A process this one may not inspect counts as a
// user, so that the answer errs on the side of "in use".
func Uses(pid int32, dev, ino uint64) bool {
	if _, err := os.Stat("/proc/" + strconv.Itoa(int(pid)) + "/maps"); err != nil {
		return !errors.Is(err, os.ErrNotExist)
	}
	return usesFile(int(pid), dev, ino)
}

func usesFile(pid int, dev, ino uint64) bool {
	dir := "/proc/" + strconv.Itoa(pid)
	if b, err := os.ReadFile(dir + "/maps"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			// address perms offset dev(major:minor, hex) inode path
			f := strings.Fields(line)
			if len(f) < 5 || f[4] != strconv.FormatUint(ino, 10) {
				continue
			}
			maj, min, ok := strings.Cut(f[3], ":")
			if !ok {
				continue
			}
			mj, err1 := strconv.ParseUint(maj, 16, 32)
			mn, err2 := strconv.ParseUint(min, 16, 32)
			if err1 == nil && err2 == nil && unix.Mkdev(uint32(mj), uint32(mn)) == dev {
				return true
			}
		}
	}
	fds, err := os.ReadDir(dir + "/fd")
	if err != nil {
		return false
	}
	for _, fd := range fds {
		var st unix.Stat_t
		if unix.Stat(dir+"/fd/"+fd.Name(), &st) == nil && uint64(st.Dev) == dev && st.Ino == ino {
			return true
		}
	}
	return false
}

//go:build linux

package sys

import (
	"bytes"
	"errors"
	"os"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// PidRuns reports whether a process with this pid runs in the pid
// namespace of this process's /proc (a zombie counts as gone). It says
// nothing about which process that is: a pid is reused, and means another
// process in another namespace. Only answers that may err toward "runs"
// use it.
func PidRuns(pid int32) bool {
	if pid <= 0 {
		return false
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(int(pid)) + "/stat")
	if err != nil {
		return !errors.Is(err, os.ErrNotExist) && !errors.Is(err, unix.ESRCH)
	}
	i := bytes.LastIndexByte(b, ')')
	return i < 0 || i+2 >= len(b) || (b[i+2] != 'Z' && b[i+2] != 'X')
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

// SetParentDeathSignal asks the kernel to send this process sig when the
// thread that started it ends (prctl PR_SET_PDEATHSIG), the way a child
// started with it set is: the signal goes to the whole process, whichever
// of its threads set it.
func SetParentDeathSignal(sig syscall.Signal) error {
	return unix.Prctl(unix.PR_SET_PDEATHSIG, uintptr(sig), 0, 0, 0)
}

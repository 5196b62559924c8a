//go:build linux

package sys

import (
	"errors"
	"fmt"
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

// Memfd makes an anonymous shared-memory file (memfd_create) that closes on
// exec and accepts seals.
func Memfd(name string) (*os.File, error) {
	fd, err := unix.MemfdCreate(name, unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING)
	if err != nil {
		return nil, fmt.Errorf("memfd_create: %w", err)
	}
	return os.NewFile(uintptr(fd), "memfd:"+name), nil
}

// SealSize forbids growing or shrinking a memfd, so that no process can
// truncate it under a mapping (which would turn reads into SIGBUS).
func SealSize(f *os.File) error {
	_, err := unix.FcntlInt(f.Fd(), unix.F_ADD_SEALS, unix.F_SEAL_SHRINK|unix.F_SEAL_GROW|unix.F_SEAL_SEAL)
	if err != nil {
		return fmt.Errorf("sealing memfd: %w", err)
	}
	return nil
}

// Fallocate reserves size bytes of f up front, so that a full file system
// is an error now rather than a SIGBUS on first touch.
func Fallocate(f *os.File, size int64) error {
	for {
		err := unix.Fallocate(int(f.Fd()), 0, 0, size)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return fmt.Errorf("fallocate: %w", err)
		}
		return nil
	}
}

// TempFile makes an unnamed regular file in dir (O_TMPFILE) with the given
// permission bits. It has no name until Link gives it one, and vanishes if
// the process dies first.
func TempFile(dir string, perm os.FileMode) (*os.File, error) {
	fd, err := unix.Open(dir, unix.O_TMPFILE|unix.O_RDWR|unix.O_CLOEXEC, uint32(perm.Perm()))
	if err != nil {
		return nil, fmt.Errorf("opening unnamed file in %s: %w", dir, err)
	}
	// O_TMPFILE honours the umask; set exactly the bits asked for.
	if err := unix.Fchmod(fd, uint32(perm.Perm())); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("chmod: %w", err)
	}
	return os.NewFile(uintptr(fd), dir+"/(unnamed)"), nil
}

// Link gives the unnamed file f the name path. Like O_CREAT|O_EXCL|O_NOFOLLOW,
// it never follows or replaces what is already at path (a file, a directory
// or a symlink): it fails with an error matching os.ErrExist.
func Link(f *os.File, path string) error {
	src := "/proc/self/fd/" + strconv.Itoa(int(f.Fd()))
	err := unix.Linkat(unix.AT_FDCWD, src, unix.AT_FDCWD, path, unix.AT_SYMLINK_FOLLOW)
	if err != nil {
		return &os.LinkError{Op: "link", Old: src, New: path, Err: err}
	}
	return nil
}

// OpenNoFollow opens an existing file read-write (or read-only) without
// following a symlink at its last component and without blocking on a FIFO.
// A symlink there gives ErrSymlink; anything but a regular file
// ErrNotRegular.
func OpenNoFollow(path string, write bool) (*os.File, error) {
	flags := unix.O_RDONLY
	if write {
		flags = unix.O_RDWR
	}
	fd, err := unix.Open(path, flags|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	switch err {
	case unix.ELOOP:
		return nil, fmt.Errorf("%s: %w", path, ErrSymlink)
	case unix.EISDIR:
		return nil, fmt.Errorf("%s: %w", path, ErrNotRegular)
	}
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: path, Err: err}
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		unix.Close(fd)
		return nil, &os.PathError{Op: "stat", Path: path, Err: err}
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		unix.Close(fd)
		return nil, fmt.Errorf("%s: %w", path, ErrNotRegular)
	}
	if err := unix.SetNonblock(fd, false); err != nil {
		unix.Close(fd)
		return nil, err
	}
	return os.NewFile(uintptr(fd), path), nil
}

// ErrSymlink is the error for a path that is a symbolic link, which
// shmkit never follows.
var ErrSymlink = errors.New("is a symbolic link")

// ErrNotRegular is the error for a path that is a directory, device,
// FIFO or socket.
var ErrNotRegular = errors.New("is not a regular file")

// SpaceOf reports the total and available bytes of the file system at dir.
func SpaceOf(dir string) (total, avail uint64, err error) {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return 0, 0, fmt.Errorf("statfs %s: %w", dir, err)
	}
	bs := uint64(st.Bsize)
	return st.Blocks * bs, st.Bavail * bs, nil
}

// IsNoSpace reports whether err is the kernel's "no space left" (ENOSPC) or
// an over-quota error.
func IsNoSpace(err error) bool {
	return errors.Is(err, unix.ENOSPC) || errors.Is(err, unix.EDQUOT)
}

// Reopen opens the file f names anew, read-write and close-on-exec, through
// /proc/self/fd: a new open file description, whose OFD locks are its own
// (a descriptor that f was dup'd or inherited from shares f's description,
// and with it every lock taken through it).
func Reopen(f *os.File) (*os.File, error) {
	var g *os.File
	rc, err := f.SyscallConn()
	if err != nil {
		return nil, err
	}
	if ctl := rc.Control(func(fd uintptr) {
		path := "/proc/self/fd/" + strconv.Itoa(int(fd))
		g, err = os.OpenFile(path, os.O_RDWR|unix.O_CLOEXEC, 0)
	}); ctl != nil {
		return nil, ctl
	}
	if err != nil {
		return nil, fmt.Errorf("reopening %s: %w", f.Name(), err)
	}
	return g, nil
}

// ErrLocked is what LockByte returns when another open file description
// holds the byte.
var ErrLocked = errors.New("byte locked by another open file description")

// LockByte takes a write lock on the byte at off through f's open file
// description (F_OFD_SETLK), without waiting: ErrLocked if another
// description holds it. The kernel drops the lock when the last descriptor
// of the description closes, which a process's death does. off may lie far
// beyond the end of the file: a lock takes no room in it.
func LockByte(f *os.File, off int64) error {
	fl := unix.Flock_t{Type: unix.F_WRLCK, Whence: 0, Start: off, Len: 1}
	err := fcntlLock(f, unix.F_OFD_SETLK, &fl)
	if errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EACCES) {
		return ErrLocked
	}
	return err
}

// FindLock reports the first lock that another open file description holds
// on a byte in [off, off+n) (n 0: to the end of the file's range), as
// F_OFD_GETLK finds it: its start, and whether there is one.
func FindLock(f *os.File, off, n int64) (at int64, found bool, err error) {
	fl := unix.Flock_t{Type: unix.F_WRLCK, Whence: 0, Start: off, Len: n}
	if err := fcntlLock(f, unix.F_OFD_GETLK, &fl); err != nil {
		return 0, false, err
	}
	if fl.Type == unix.F_UNLCK {
		return 0, false, nil
	}
	return fl.Start, true, nil
}

func fcntlLock(f *os.File, cmd int, fl *unix.Flock_t) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var lerr error
	if err := rc.Control(func(fd uintptr) {
		for {
			lerr = unix.FcntlFlock(fd, cmd, fl)
			if lerr != unix.EINTR {
				return
			}
		}
	}); err != nil {
		return err
	}
	return lerr
}

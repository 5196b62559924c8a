//go:build !linux

package sys

import (
	"errors"
	"os"
	"syscall"
	"time"
)

// FutexWait returns ErrNotSupported on this system.
func FutexWait(addr *uint32, val uint32, timeout time.Duration) error { return ErrNotSupported }

// FutexWaitUntil returns ErrNotSupported on this system.
func FutexWaitUntil(addr *uint32, val uint32, deadline time.Time) error { return ErrNotSupported }

// FutexWake returns ErrNotSupported on this system.
func FutexWake(addr *uint32, n int) (int, error) { return 0, ErrNotSupported }

// Memfd returns ErrNotSupported on this system.
func Memfd(name string) (*os.File, error) { return nil, ErrNotSupported }

// SealSize returns ErrNotSupported on this system.
func SealSize(f *os.File) error { return ErrNotSupported }

// Fallocate returns ErrNotSupported on this system.
func Fallocate(f *os.File, size int64) error { return ErrNotSupported }

// TempFile returns ErrNotSupported on this system.
func TempFile(dir string, perm os.FileMode) (*os.File, error) { return nil, ErrNotSupported }

// Link returns ErrNotSupported on this system.
func Link(f *os.File, path string) error { return ErrNotSupported }

// OpenNoFollow returns ErrNotSupported on this system.
func OpenNoFollow(path string, write bool) (*os.File, error) { return nil, ErrNotSupported }

// SpaceOf returns ErrNotSupported on this system.
func SpaceOf(dir string) (total, avail uint64, err error) { return 0, 0, ErrNotSupported }

// IsNoSpace reports false on this system.
func IsNoSpace(err error) bool { return false }

// FutexWaitv returns ErrNotSupported on this system.
func FutexWaitv(w []Waitv, deadline time.Time) (int, error) { return -1, ErrNotSupported }

// Waitv is one word of a FutexWaitv; see the Linux implementation.
type Waitv struct {
	Val   uint64  // the value the word must hold for the wait to sleep
	Addr  uintptr // the word's address
	Flags uint32  // the word's size and sharing (FUTEX2_SIZE_U32)
	_     uint32
}

// Set does nothing on this system.
func (w *Waitv) Set(addr *uint32, val uint32) {}

// Users returns ErrNotSupported on this system.
func Users(path string, excludeSelf bool) ([]int32, error) { return nil, ErrNotSupported }

// FileID returns ErrNotSupported on this system.
func FileID(f *os.File) (dev, ino uint64, err error) { return 0, 0, ErrNotSupported }

var (
	// ErrSymlink is the error for a path that is a symbolic link, which
	// shmkit never follows.
	ErrSymlink = errors.New("is a symbolic link")
	// ErrNotRegular is the error for a path that is a directory, device,
	// FIFO or socket.
	ErrNotRegular = errors.New("is not a regular file")
)

// ErrLocked is what LockByte returns when another open file description
// holds the byte.
var ErrLocked = errors.New("byte locked by another open file description")

// Reopen returns ErrNotSupported on this system.
func Reopen(f *os.File) (*os.File, error) { return nil, ErrNotSupported }

// LockByte returns ErrNotSupported on this system.
func LockByte(f *os.File, off int64) error { return ErrNotSupported }

// FindLock returns ErrNotSupported on this system.
func FindLock(f *os.File, off, n int64) (int64, bool, error) { return 0, false, ErrNotSupported }

// PidRuns reports false on this system.
func PidRuns(pid int32) bool { return false }

// SetParentDeathSignal returns ErrNotSupported on this system.
func SetParentDeathSignal(sig syscall.Signal) error { return ErrNotSupported }

// MembarrierSupported reports false on this system.
func MembarrierSupported() bool { return false }

// MembarrierRegister returns ErrNotSupported on this system.
func MembarrierRegister() error { return ErrNotSupported }

// MembarrierGlobal returns ErrNotSupported on this system.
func MembarrierGlobal() error { return ErrNotSupported }

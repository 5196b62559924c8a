//go:build !linux

package sys

import (
	"errors"
	"os"
	"time"
)

func FutexWait(addr *uint32, val uint32, timeout time.Duration) error   { return ErrNotSupported }
func FutexWaitUntil(addr *uint32, val uint32, deadline time.Time) error { return ErrNotSupported }
func FutexWake(addr *uint32, n int) (int, error)                        { return 0, ErrNotSupported }
func Memfd(name string) (*os.File, error)                               { return nil, ErrNotSupported }
func SealSize(f *os.File) error                                         { return ErrNotSupported }
func Fallocate(f *os.File, size int64) error                            { return ErrNotSupported }
func TempFile(dir string, perm os.FileMode) (*os.File, error)           { return nil, ErrNotSupported }
func Link(f *os.File, path string) error                                { return ErrNotSupported }
func OpenNoFollow(path string, write bool) (*os.File, error)            { return nil, ErrNotSupported }
func SpaceOf(dir string) (total, avail uint64, err error)               { return 0, 0, ErrNotSupported }
func IsNoSpace(err error) bool                                          { return false }
func FutexWaitv(w []Waitv, deadline time.Time) (int, error)             { return -1, ErrNotSupported }

// Waitv is one word of a FutexWaitv; see the Linux implementation.
type Waitv struct {
	Val   uint64
	Addr  uintptr
	Flags uint32
	_     uint32
}

func (w *Waitv) Set(addr *uint32, val uint32)              {}
func Users(path string, excludeSelf bool) ([]int32, error) { return nil, ErrNotSupported }
func FileID(f *os.File) (dev, ino uint64, err error)       { return 0, 0, ErrNotSupported }

var (
	ErrSymlink    = errors.New("is a symbolic link")
	ErrNotRegular = errors.New("is not a regular file")
)

var ErrLocked = errors.New("byte locked by another open file description")

func Reopen(f *os.File) (*os.File, error)                    { return nil, ErrNotSupported }
func LockByte(f *os.File, off int64) error                   { return ErrNotSupported }
func FindLock(f *os.File, off, n int64) (int64, bool, error) { return 0, false, ErrNotSupported }
func PidRuns(pid int32) bool                                 { return false }

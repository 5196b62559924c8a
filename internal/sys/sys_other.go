//go:build !linux

package sys

import (
	"errors"
	"os"
	"time"
)

// ProcID identifies a process; see the Linux implementation.
type ProcID struct {
	Pid   int32
	Start uint64
}

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
func Self() (ProcID, error)                                             { return ProcID{}, ErrNotSupported }
func Lookup(pid int32) (ProcID, error)                                  { return ProcID{}, ErrNotSupported }
func (p ProcID) Alive() bool                                            { return false }
func (p ProcID) Word() uint64                                           { return uint64(uint32(p.Pid))<<32 | uint64(uint32(p.Start)) }
func AliveWord(w uint64) bool                                           { return false }
func AliveStart(pid int32, start uint64, bits uint) bool                { return false }
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
func Uses(pid int32, dev, ino uint64) bool                 { return true }

var (
	ErrSymlink    = errors.New("is a symbolic link")
	ErrNotRegular = errors.New("is not a regular file")
)

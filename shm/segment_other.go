//go:build !(linux && (amd64 || arm64))

package shm

import (
	"context"
	"os"
)

// Create returns ErrNotSupported on this system.
func Create(name string, size int64, opts *SegmentOptions) (*Segment, error) {
	return nil, ErrNotSupported
}

// Anonymous returns ErrNotSupported on this system.
func Anonymous(size int64) (*Segment, error) { return nil, ErrNotSupported }

// Open returns ErrNotSupported on this system.
func Open(ctx context.Context, name string, opts *SegmentOptions) (*Segment, error) {
	return nil, ErrNotSupported
}

// OpenOrCreate returns ErrNotSupported on this system.
func OpenOrCreate(ctx context.Context, name string, size int64, opts *SegmentOptions) (*Segment, error) {
	return nil, ErrNotSupported
}

// FromFile returns ErrNotSupported on this system.
func FromFile(f *os.File) (*Segment, error) { return nil, ErrNotSupported }

// Unlink returns ErrNotSupported on this system.
func Unlink(name string) error { return ErrNotSupported }

// Free returns ErrNotSupported on this system.
func (s *Segment) Free() error { return ErrNotSupported }

// Stat returns ErrNotSupported on this system.
func Stat(name string) (Info, error) { return Info{}, ErrNotSupported }

// StatObjects returns ErrNotSupported on this system.
func StatObjects(name string) ([]ObjectInfo, error) { return nil, ErrNotSupported }

// List returns ErrNotSupported on this system.
func List() ([]Info, error) { return nil, ErrNotSupported }

// Users returns ErrNotSupported on this system.
func Users(name string) ([]int, error) { return nil, ErrNotSupported }

func open(ctx context.Context, name string, wait bool) (*Segment, error) { return nil, ErrNotSupported }

func findAnonymous(id uint64) *Segment { return nil }

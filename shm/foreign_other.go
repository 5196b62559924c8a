//go:build !(linux && (amd64 || arm64))

package shm

import (
	"context"
	"os"
)

// OpenForeign returns ErrNotSupported on this system.
func OpenForeign(ctx context.Context, name string) (*Foreign, error) { return nil, ErrNotSupported }

// ForeignFromFile returns ErrNotSupported on this system.
func ForeignFromFile(f *os.File) (*Foreign, error) { return nil, ErrNotSupported }

// Free returns ErrNotSupported on this system.
func (m *Foreign) Free() error { return ErrNotSupported }

//go:build linux && (amd64 || arm64)

package shm

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/edsrzf/mmap-go"

	"github.com/shmkit/shmkit/internal/sys"
)

// OpenForeign maps the file /dev/shm/name, which shmkit did not make,
// read-write, with no header required: name is the name another program
// gave it (Python's SharedMemory.name, or its shm_open name, with or
// without the leading '/'). It waits, until ctx ends, for a name that does
// not exist yet (an error matching ErrNotExist and ctx.Err() when ctx ends
// first). A symbolic link or anything but a regular file is ErrInvalid.
func OpenForeign(ctx context.Context, name string) (*Foreign, error) {
	name = strings.TrimPrefix(name, "/")
	if err := checkName(name, maxSegmentName); err != nil {
		return nil, err
	}
	var back backoff
	for {
		f, err := openForeign(name)
		if errors.Is(err, ErrNotExist) {
			if cerr := back.wait(ctx); cerr != nil {
				return nil, fmt.Errorf("%w; gave up waiting: %w", err, cerr)
			}
			continue
		}
		if err != nil {
			return nil, err
		}
		m, err := mapForeign(f, name)
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("shm: %q: %w", name, err)
		}
		return m, nil
	}
}

// openForeign opens /dev/shm/name read-write without following a link.
func openForeign(name string) (*os.File, error) {
	f, err := sys.OpenNoFollow(Dir+"/"+name, true)
	switch {
	case err == nil:
		return f, nil
	case errors.Is(err, sys.ErrSymlink), errors.Is(err, sys.ErrNotRegular):
		return nil, fmt.Errorf("shm: %q: %w: %v", name, ErrInvalid, err)
	}
	return nil, openError(name, err)
}

// ForeignFromFile maps the memory open (read-write) as f, which shmkit did
// not make: a memfd or a file under /dev/shm that another program passed
// on. It takes f over: Close closes it, and so does ForeignFromFile when
// it fails. Anything but a regular file (memfds are) is ErrInvalid.
func ForeignFromFile(f *os.File) (*Foreign, error) {
	m, err := mapForeign(f, "")
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("shm: mapping %s: %w", f.Name(), err)
	}
	return m, nil
}

// mapForeign maps the whole of f read-write; an empty file maps to no
// memory.
func mapForeign(f *os.File, name string) (*Foreign, error) {
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%w: %v is not a regular file", ErrInvalid, fi.Mode().Type())
	}
	m := &Foreign{name: name, f: f}
	if fi.Size() > 0 {
		if m.m, err = mmap.Map(f, mmap.RDWR, 0); err != nil {
			return nil, fmt.Errorf("mapping read-write (is the file open for writing?): %w", err)
		}
	}
	return m, nil
}

// Free removes the memory's name from /dev/shm (Python's
// SharedMemory.unlink), then closes this handle; processes that have it
// mapped keep it until they close it. A name that meanwhile names another
// file is left alone (ErrStale). Free of memory made from a file is Close.
func (m *Foreign) Free() error {
	var err error
	if m.name != "" && !m.closed.Load() {
		err = m.unlink()
	}
	return errors.Join(err, m.Close())
}

func (m *Foreign) unlink() error {
	path := Dir + "/" + m.name
	mine, err := m.f.Stat()
	if err != nil {
		return fmt.Errorf("shm: %q: %w", m.name, err)
	}
	now, err := os.Lstat(path)
	if err != nil {
		return openError(m.name, err)
	}
	if !os.SameFile(mine, now) {
		return fmt.Errorf("shm: %q: %w: the name now names another file", m.name, ErrStale)
	}
	if err := os.Remove(path); err != nil {
		return openError(m.name, err)
	}
	return nil
}

package shm

import (
	"os"
	"sync/atomic"

	"github.com/edsrzf/mmap-go"
)

// Foreign is shared memory that shmkit did not make, mapped read-write: a
// file under /dev/shm made by another program (Python's
// SharedMemory(create=True), numpy over one, a C program's shm_open) or a
// memfd passed in. It has no header and no directory: Bytes is the whole
// file as it is, and package array's View reads it as a []T. Nothing is
// checked but the file's kind and size; what the bytes mean is agreed with
// the other program.
type Foreign struct {
	name   string // "" when made from a file
	f      *os.File
	m      mmap.MMap // nil for an empty file
	closed atomic.Bool
}

// Name is the name the memory was opened by, or "" for one made from a
// file (ForeignFromFile).
func (m *Foreign) Name() string { return m.name }

// Size is the memory's size in bytes: the file's when it was mapped.
func (m *Foreign) Size() int64 { return int64(len(m.m)) }

// Bytes is the memory itself, shared with every process that maps the
// file. It is valid until Close, and nil afterwards.
func (m *Foreign) Bytes() []byte {
	if m.closed.Load() {
		return nil
	}
	return m.m[:len(m.m):len(m.m)]
}

// File is the open file. It belongs to m: do not close it.
func (m *Foreign) File() *os.File { return m.f }

// Close releases this process's handle: it unmaps the memory and closes
// the file. Memory of Bytes, and slices that View made of it, must not be
// touched afterwards. Closing twice is not an error. The memory stays for
// the other processes, and a named one under its name.
func (m *Foreign) Close() error {
	if !m.closed.CompareAndSwap(false, true) {
		return nil
	}
	var err error
	if m.m != nil {
		err = m.m.Unmap()
	}
	if cerr := m.f.Close(); err == nil {
		err = cerr
	}
	return err
}

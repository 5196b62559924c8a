package shm

import (
	"errors"
	"io/fs"

	"github.com/shmkit/shmkit/internal/sys"
)

// sentinel is an error that also matches a standard one with errors.Is.
type sentinel struct {
	msg  string
	also error
}

func (e *sentinel) Error() string { return e.msg }
func (e *sentinel) Unwrap() error { return e.also }

var (
	// ErrNotSupported: shmkit has no implementation for this system.
	ErrNotSupported = sys.ErrNotSupported
	// ErrName: a segment or object name is empty, too long, or holds '/',
	// "..", a NUL byte or a control character.
	ErrName = errors.New("shm: invalid name")
	// ErrSize: a size is zero, negative, too small for the header, or too large.
	ErrSize = errors.New("shm: invalid size")
	// ErrExist: the name is taken. It matches fs.ErrExist too.
	ErrExist error = &sentinel{"shm: already exists", fs.ErrExist}
	// ErrNotExist: there is no segment or object by that name. It matches
	// fs.ErrNotExist too.
	ErrNotExist error = &sentinel{"shm: does not exist", fs.ErrNotExist}
	// ErrBadHeader: the file or bytes are not a shmkit segment, or it is
	// truncated or corrupted.
	ErrBadHeader = errors.New("shm: not a shmkit segment or a corrupted header")
	// ErrVersion: the segment was made by another format version than this
	// build's: a newer one, or version 1, which this build no longer reads.
	ErrVersion = errors.New("shm: unsupported format version")
	// ErrLayout: the object holds a type of another layout than the one asked for.
	ErrLayout = errors.New("shm: layout mismatch")
	// ErrKind: the object is of another kind (a queue opened as a value, say).
	ErrKind = errors.New("shm: kind mismatch")
	// ErrNoSpace: the file system holding segments (/dev/shm) has no room
	// for the memory asked for.
	ErrNoSpace = errors.New("shm: no space left for the segment")
	// ErrFull: the segment has no free block large enough, or no free
	// directory entry.
	ErrFull = errors.New("shm: segment is full")
	// ErrCreatorDied: the process creating a segment or object died before
	// it was ready.
	ErrCreatorDied = errors.New("shm: creator died before the segment or object was ready")
	// ErrCorrupt: the segment's allocator, directory or block headers hold
	// impossible values: a heap top or block size out of place, a directory
	// entry and a block that do not name each other.
	ErrCorrupt = errors.New("shm: corrupted segment")
	// ErrBadHandle: bytes that do not decode to a handle.
	ErrBadHandle = errors.New("shm: invalid handle")
	// ErrStale: a handle names an object that was freed or replaced, or a
	// segment that was replaced by another of the same name.
	ErrStale = errors.New("shm: stale handle")
	// ErrNotMapped: a handle names an anonymous segment this process does not
	// have.
	ErrNotMapped = errors.New("shm: segment not mapped in this process")
)

package shm

import (
	"errors"

	"github.com/shmkit/shmkit/internal/errs"
)

// The conditions that other packages of shmkit report too are the same
// values there (ringbuffer.ErrCorrupt == shm.ErrCorrupt, ...), so one
// errors.Is test holds whichever package found them. Their texts name the
// condition; the error returned adds the package and the object.
var (
	// ErrNotSupported: shmkit has no implementation for this system.
	ErrNotSupported = errs.ErrNotSupported
	// ErrInvalid: an argument is out of range or of the wrong kind (a nil
	// segment, a negative count).
	ErrInvalid = errs.ErrInvalid
	// ErrCorrupt: shared memory holds values no correct process writes: a
	// heap top or block size out of place, a directory entry and a block
	// that do not name each other, a queue or lock word out of range.
	ErrCorrupt = errs.ErrCorrupt
	// ErrFull: no room: the segment has no free block large enough or no
	// free directory entry; a queue or ring has no free slot.
	ErrFull = errs.ErrFull
	// ErrEmpty: nothing to take (a Try call on an empty queue or ring).
	ErrEmpty = errs.ErrEmpty
	// ErrClosed: this handle was closed. It matches os.ErrClosed too.
	ErrClosed = errs.ErrClosed
	// ErrShutdown: the object was shut down for every process (a queue
	// after Shutdown).
	ErrShutdown = errs.ErrShutdown
	// ErrNotExist: there is no segment or object by that name. It matches
	// fs.ErrNotExist too.
	ErrNotExist = errs.ErrNotExist
	// ErrExist: the name is taken. It matches fs.ErrExist too.
	ErrExist = errs.ErrExist
	// ErrLayout: the object holds a type of another layout than the one asked for.
	ErrLayout = errs.ErrLayout
	// ErrKind: the object is of another kind (a queue opened as a value, say).
	ErrKind = errs.ErrKind
	// ErrWouldBlock: a Try call (TryLock, TryAcquire) found that its
	// blocking twin would wait.
	ErrWouldBlock = errs.ErrWouldBlock

	// ErrName: a segment or object name is empty, too long, or holds '/',
	// "..", a NUL byte or a control character.
	ErrName = errors.New("invalid name")
	// ErrSize: a size is zero, negative, too small for the header, or too large.
	ErrSize = errors.New("invalid size")
	// ErrBadHeader: the file or bytes are not a shmkit segment, or it is
	// truncated or corrupted.
	ErrBadHeader = errors.New("not a shmkit segment or a corrupted header")
	// ErrVersion: the segment was made by another format version than this
	// build's: a newer one, or version 1, which this build no longer reads.
	// A handle of another encoding, and an object whose own header has
	// another version (a ring, queue, pipe, map or list), match it too.
	ErrVersion = errors.New("unsupported format version")
	// ErrNoSpace: the file system holding segments (/dev/shm) has no room
	// for the memory asked for.
	ErrNoSpace = errors.New("no space left for the segment")
	// ErrCreatorDied: the process creating a segment or object died before
	// it was ready.
	ErrCreatorDied = errors.New("creator died before the segment or object was ready")
	// ErrBadHandle: bytes that do not decode to a handle.
	ErrBadHandle = errors.New("invalid handle")
	// ErrStale: a handle names an object that was freed or replaced, or a
	// segment that was replaced by another of the same name.
	ErrStale = errors.New("stale handle")
	// ErrNotMapped: a handle names an anonymous segment this process does not
	// have.
	ErrNotMapped = errors.New("segment not mapped in this process")
)

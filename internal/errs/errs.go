// Package errs defines, once, the conditions that more than one package of
// shmkit reports. Each public package exports them under its own names
// (shm.ErrCorrupt, ringbuffer.ErrCorrupt, ...) as the same values, so that
// one errors.Is test holds whichever package found the condition.
//
// The texts name the condition alone; the package that returns one wraps
// it with its own prefix ("ringbuffer: queue \"jobs\": corrupt shared
// state: ...").
//
// A wait that runs out of time returns the context's error
// (context.DeadlineExceeded): shmkit has no timeout sentinel of its own.
package errs

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
)

// sentinel is an error that also matches a standard one with errors.Is.
type sentinel struct {
	msg  string
	also error
}

func (e *sentinel) Error() string { return e.msg }
func (e *sentinel) Unwrap() error { return e.also }

// The conditions, one doc line each; the public packages repeat the lines.
var (
	// NotSupported: shmkit has no implementation for this system.
	NotSupported = errors.New("not supported on this system")
	// Invalid: an argument is out of range or of the wrong kind.
	Invalid = errors.New("invalid argument")
	// Corrupt: shared memory holds values no correct process writes.
	Corrupt = errors.New("corrupt shared state")
	// Full: no room (a full queue or ring, a segment with no free block).
	Full = errors.New("full")
	// Empty: nothing to take.
	Empty = errors.New("empty")
	// Closed: this handle was closed. It matches os.ErrClosed too.
	Closed error = &sentinel{"use of a closed handle", os.ErrClosed}
	// Shutdown: the object was shut down for every process.
	Shutdown = errors.New("shut down")
	// NotExist: no segment or object by that name. It matches fs.ErrNotExist.
	NotExist error = &sentinel{"does not exist", fs.ErrNotExist}
	// Exist: the name is taken. It matches fs.ErrExist.
	Exist error = &sentinel{"already exists", fs.ErrExist}
	// Layout: the object holds a type of another layout than the one asked for.
	Layout = errors.New("layout mismatch")
	// Kind: the object is of another kind (a queue opened as a value, say).
	Kind = errors.New("kind mismatch")
	// WouldBlock: a Try call found that its blocking twin would wait.
	WouldBlock = errors.New("would block")
	// OwnerDead: a lock's holder died holding it; the caller now holds it.
	// Errors that report it are *OwnerDeadError.
	OwnerDead = errors.New("previous owner died holding the lock")
)

// OwnerDeadError reports that the process holding a lock died, and that
// the caller took the lock over. It matches OwnerDead with errors.Is.
type OwnerDeadError struct {
	// Pid is the dead owner's process id, in the pid namespace of the
	// process that took the lock over when it can tell, else in the dead
	// owner's own.
	Pid int
	// Owner is the dead owner's owner word, the identity it held the lock by.
	Owner uint64
	// Lock says what was taken over ("mutex", "rlock", ...).
	Lock string
}

func (e *OwnerDeadError) Error() string {
	return fmt.Sprintf("semaphore: %s: %v (pid %d)", e.Lock, OwnerDead, e.Pid)
}

// Is reports whether target is OwnerDead.
func (e *OwnerDeadError) Is(target error) bool { return target == OwnerDead }

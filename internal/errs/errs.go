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
	// ErrNotSupported: shmkit has no implementation for this system.
	ErrNotSupported = errors.New("not supported on this system")
	// ErrInvalid: an argument is out of range or of the wrong kind.
	ErrInvalid = errors.New("invalid argument")
	// ErrCorrupt: shared memory holds values no correct process writes.
	ErrCorrupt = errors.New("corrupt shared state")
	// ErrFull: no room (a full queue or ring, a segment with no free block).
	ErrFull = errors.New("full")
	// ErrEmpty: nothing to take.
	ErrEmpty = errors.New("empty")
	// ErrClosed: this handle was closed. It matches os.ErrClosed too.
	ErrClosed error = &sentinel{"use of a closed handle", os.ErrClosed}
	// ErrShutdown: the object was shut down for every process.
	ErrShutdown = errors.New("shut down")
	// ErrNotExist: no segment or object by that name. It matches fs.ErrNotExist.
	ErrNotExist error = &sentinel{"does not exist", fs.ErrNotExist}
	// ErrExist: the name is taken. It matches fs.ErrExist.
	ErrExist error = &sentinel{"already exists", fs.ErrExist}
	// ErrLayout: the object holds a type of another layout than the one asked for.
	ErrLayout = errors.New("layout mismatch")
	// ErrKind: the object is of another kind (a queue opened as a value, say).
	ErrKind = errors.New("kind mismatch")
	// ErrWouldBlock: a Try call found that its blocking twin would wait.
	ErrWouldBlock = errors.New("would block")
	// ErrOwnerDead: a lock's holder died holding it; the caller now holds it.
	// Errors that report it are *OwnerDeadError.
	ErrOwnerDead = errors.New("previous owner died holding the lock")
)

// OwnerDeadError reports that the process holding a lock died, and that
// the caller took the lock over. It matches ErrOwnerDead with errors.Is.
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

// Error names the lock and the pid of the holder that died.
func (e *OwnerDeadError) Error() string {
	return fmt.Sprintf("semaphore: %s: %v (pid %d)", e.Lock, ErrOwnerDead, e.Pid)
}

// Is reports whether target is ErrOwnerDead.
func (e *OwnerDeadError) Is(target error) bool { return target == ErrOwnerDead }

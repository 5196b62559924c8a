// Package sys holds every raw system call shmkit makes: shared futexes,
// membarrier, memfd_create, O_TMPFILE and linkat, fallocate, statfs, and
// process identity read from /proc. Nothing outside internal/ calls the
// kernel directly; the packages above see typed errors, never a raw errno.
//
// On systems other than Linux every function returns ErrNotSupported.
//
// # Caveats
//
// A futex wait blocks the calling OS thread for its duration. That is right
// for rare waits (a segment being created, the allocator lock); hot waits
// belong in a parking layer above this one.
package sys

import (
	"errors"

	"github.com/shmkit/shmkit/internal/errs"
)

// ErrNotSupported is returned on systems where shmkit has no implementation.
var ErrNotSupported = errs.ErrNotSupported

// ErrTimedOut is returned by a futex wait whose timeout or deadline passed.
var ErrTimedOut = errors.New("shmkit: futex wait timed out")

package value

import (
	"errors"

	"github.com/shmkit/shmkit/shm"
)

var (
	// ErrNotSupported: shmkit has no implementation for this system.
	ErrNotSupported = shm.ErrNotSupported
	// ErrNoLock: the Value was made with NewRaw, which has no lock.
	ErrNoLock = errors.New("value: raw value has no lock")
	// ErrInvalid: the element type cannot be shared this way (size 0). The
	// same value as shm.ErrInvalid.
	ErrInvalid = shm.ErrInvalid
)

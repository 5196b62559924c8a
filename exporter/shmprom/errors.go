package shmprom

import "github.com/shmkit/shmkit/shm"

// The conditions shmprom reports are shmkit's shared sentinels: the same
// values as in every package of shmkit, matched with errors.Is.
var (
	// ErrInvalid: NewCollector got no pattern or a malformed one.
	ErrInvalid = shm.ErrInvalid
	// ErrClosed: the Collector was closed. It matches os.ErrClosed too.
	ErrClosed = shm.ErrClosed
)

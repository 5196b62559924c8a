//go:build linux

package sys

import (
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The futex contract: FutexWait sleeps only if *addr still equals val when
// the kernel looks (atomically with respect to FutexWake on the same word),
// so a waker that changes the word before calling FutexWake can never be
// missed. Waits return early for spurious reasons; callers always re-check
// the word in a loop. The word must be 4-byte aligned and lie in a MAP_SHARED
// mapping: these are shared futexes (no FUTEX_PRIVATE_FLAG), keyed by the
// page and offset, so that processes mapping the same file at different
// addresses meet on the same word.
const (
	futexWaitRel    = 0 // FUTEX_WAIT: relative timeout
	futexWaitBitset = 9 // FUTEX_WAIT_BITSET: absolute CLOCK_MONOTONIC timeout
	futexWake       = 1 // FUTEX_WAKE
	futexBitsetAny  = ^uint32(0)
)

// FutexWait sleeps while *addr == val, for at most timeout (forever when
// timeout < 0). It returns nil when woken, when *addr != val, or on a
// spurious wake-up, and ErrTimedOut when the timeout passed. The timeout is
// relative (FUTEX_WAIT): no clock is read before sleeping, which in a
// virtual machine is a system call. EINTR restarts the wait with the time
// that is left, measured on Go's clock (which reads the vDSO's).
func FutexWait(addr *uint32, val uint32, timeout time.Duration) error {
	if timeout < 0 {
		return futexWaitAbs(addr, val, nil)
	}
	start := time.Now()
	for left := timeout; ; left = timeout - time.Since(start) {
		if left <= 0 {
			return ErrTimedOut
		}
		ts := unix.NsecToTimespec(int64(left))
		_, _, errno := unix.Syscall6(unix.SYS_FUTEX, uintptr(unsafe.Pointer(addr)),
			futexWaitRel, uintptr(val), uintptr(unsafe.Pointer(&ts)), 0, 0)
		switch errno {
		case 0, unix.EAGAIN:
			return nil
		case unix.EINTR:
		case unix.ETIMEDOUT:
			return ErrTimedOut
		default:
			return errno
		}
	}
}

// FutexWaitUntil is FutexWait with an absolute deadline. A zero deadline
// waits forever.
func FutexWaitUntil(addr *uint32, val uint32, deadline time.Time) error {
	if deadline.IsZero() {
		return futexWaitAbs(addr, val, nil)
	}
	d := time.Until(deadline)
	if d <= 0 {
		return ErrTimedOut
	}
	return FutexWait(addr, val, d)
}

func futexWaitAbs(addr *uint32, val uint32, abs *unix.Timespec) error {
	for {
		_, _, errno := unix.Syscall6(unix.SYS_FUTEX, uintptr(unsafe.Pointer(addr)),
			futexWaitBitset, uintptr(val), uintptr(unsafe.Pointer(abs)), 0, uintptr(futexBitsetAny))
		switch errno {
		case 0, unix.EAGAIN:
			return nil
		case unix.EINTR:
			continue // the absolute deadline stays the same
		case unix.ETIMEDOUT:
			return ErrTimedOut
		default:
			return errno
		}
	}
}

// FutexWake wakes at most n waiters sleeping on addr and reports how many
// it woke.
func FutexWake(addr *uint32, n int) (int, error) {
	if n < 0 {
		n = int(^uint32(0) >> 1)
	}
	r, _, errno := unix.Syscall6(unix.SYS_FUTEX, uintptr(unsafe.Pointer(addr)), futexWake, uintptr(n), 0, 0, 0)
	if errno != 0 {
		return 0, errno
	}
	return int(r), nil
}

// Waitv is one word of a FutexWaitv call, laid out as the kernel's struct
// futex_waitv: the expected value, the word's address and flags.
type Waitv struct {
	Val   uint64  // the value the word must hold for the wait to sleep
	Addr  uintptr // the word's address
	Flags uint32  // the word's size and sharing (FUTEX2_SIZE_U32)
	_     uint32
}

// futex2SizeU32 is FUTEX2_SIZE_U32: a 32-bit word, shared (no FUTEX2_PRIVATE).
const futex2SizeU32 = 2

var _ = [1]struct{}{}[unsafe.Sizeof(Waitv{})-24]

// Set makes w wait while *addr == val. The address is kept as a number: the
// word lives in a shared mapping (or, for a private control word, in memory
// the caller keeps alive), never in memory the Go collector could free.
func (w *Waitv) Set(addr *uint32, val uint32) {
	*w = Waitv{Val: uint64(val), Addr: uintptr(unsafe.Pointer(addr)), Flags: futex2SizeU32}
}

// FutexWaitv sleeps until a FutexWake on one of the words in w (returning
// its index), or until deadline (ErrTimedOut; a zero deadline waits
// forever). It returns -1 and no error when some word no longer held its
// value on entry, or when a signal interrupted the wait: callers re-check
// every word. The kernel takes at most 128 words (Linux 5.16 and later;
// ErrNotSupported before).
func FutexWaitv(w []Waitv, deadline time.Time) (int, error) {
	if len(w) == 0 || len(w) > 128 {
		return -1, unix.EINVAL
	}
	var ts *unix.Timespec
	if !deadline.IsZero() {
		d := time.Until(deadline)
		if d <= 0 {
			return -1, ErrTimedOut
		}
		var now unix.Timespec
		if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &now); err != nil {
			return -1, err
		}
		abs := unix.NsecToTimespec(now.Nano() + int64(d))
		ts = &abs
	}
	r, _, errno := unix.Syscall6(unix.SYS_FUTEX_WAITV, uintptr(unsafe.Pointer(&w[0])), uintptr(len(w)), 0,
		uintptr(unsafe.Pointer(ts)), unix.CLOCK_MONOTONIC, 0)
	switch errno {
	case 0:
		return int(r), nil
	case unix.EAGAIN, unix.EINTR:
		return -1, nil
	case unix.ETIMEDOUT:
		return -1, ErrTimedOut
	case unix.ENOSYS:
		return -1, ErrNotSupported
	default:
		return -1, errno
	}
}

//go:build linux

package sys

import (
	"golang.org/x/sys/unix"
)

// The membarrier(2) commands shmkit uses. A process that registers for
// global expedited barriers may be made to run a full memory barrier by
// any other process's MembarrierGlobal: the kernel interrupts every CPU
// that runs one of its threads at that moment (a thread that does not run
// goes through a barrier when it is scheduled anyway). This lets the rare
// side of a Dekker-style handshake pay for the fence that the frequent
// side then leaves out.
const (
	membarrierQuery                    = 0      // MEMBARRIER_CMD_QUERY
	membarrierGlobalExpedited          = 1 << 1 // MEMBARRIER_CMD_GLOBAL_EXPEDITED
	membarrierRegisterGlobalExpedited  = 1 << 2 // MEMBARRIER_CMD_REGISTER_GLOBAL_EXPEDITED
	membarrierGlobalExpeditedSupported = membarrierGlobalExpedited | membarrierRegisterGlobalExpedited
)

// MembarrierSupported reports whether the kernel offers global expedited
// membarriers to this process: false on kernels before 4.16, and where a
// seccomp filter refuses the call.
func MembarrierSupported() bool {
	r, _, errno := unix.Syscall(unix.SYS_MEMBARRIER, membarrierQuery, 0, 0)
	return errno == 0 && r&membarrierGlobalExpeditedSupported == membarrierGlobalExpeditedSupported
}

// MembarrierRegister registers this process, all its threads, as a target
// of MembarrierGlobal. It is idempotent; a process started by exec starts
// unregistered.
func MembarrierRegister() error {
	if _, _, errno := unix.Syscall(unix.SYS_MEMBARRIER, membarrierRegisterGlobalExpedited, 0, 0); errno != 0 {
		return errno
	}
	return nil
}

// MembarrierGlobal makes every running thread of every registered process
// (see MembarrierRegister) go through a full memory barrier before it
// returns: a store that such a thread made before that barrier is visible
// to the caller afterwards. The caller need not be registered.
func MembarrierGlobal() error {
	if _, _, errno := unix.Syscall(unix.SYS_MEMBARRIER, membarrierGlobalExpedited, 0, 0); errno != 0 {
		return errno
	}
	return nil
}

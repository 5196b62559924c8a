package testproc

import (
	"fmt"
	"os"
	"os/exec"
	"syscall"
	"testing"
)

// envOwnProc tells a child started in a pid namespace of its own to mount
// a /proc of that namespace before its function runs.
const envOwnProc = envPrefix + "OWNPROC"

// envBindShm names the directory a child of ShmDir bind-mounts over
// /dev/shm.
const envBindShm = envPrefix + "BINDSHM"

// PidNamespace starts the child as process 1 of a new pid namespace, as a
// container that shares /dev/shm with its host but not its pids. With
// ownProc the child also gets a mount namespace and a /proc of its own
// namespace (a container's usual view); without it, it sees the host's
// /proc, where its own pid means another process. Call NeedPidNamespace
// first: making namespaces needs privileges a test may not have.
func PidNamespace(ownProc bool) Option {
	return func(c *config) {
		c.attr = &syscall.SysProcAttr{Cloneflags: cloneFlags(ownProc)}
		if ownProc {
			c.env = append(c.env, envOwnProc+"=1")
		}
	}
}

// ShmDir starts the child as PidNamespace(true) does, in a pid and mount
// namespace of its own, and bind-mounts dir over /dev/shm there before its
// function runs: a container whose /dev/shm is not the host's but a
// directory it shares with other containers (docker --ipc=container:NAME,
// a Kubernetes emptyDir of medium Memory). dir must be on tmpfs for
// segments to be made in it. Call NeedPidNamespace(t, true) first.
func ShmDir(dir string) Option {
	return func(c *config) {
		PidNamespace(true)(c)
		c.env = append(c.env, envBindShm+"="+dir)
	}
}

func cloneFlags(ownProc bool) uintptr {
	if ownProc {
		return syscall.CLONE_NEWPID | syscall.CLONE_NEWNS
	}
	return syscall.CLONE_NEWPID
}

// NeedPidNamespace skips the test, saying why, where this process may not
// start a child in a new pid namespace (not root, or a sandbox that
// forbids it).
func NeedPidNamespace(t testing.TB, ownProc bool) {
	t.Helper()
	cmd := exec.Command("/bin/true")
	if _, err := os.Stat(cmd.Path); err != nil {
		cmd = exec.Command(os.Args[0], "-test.run=^$")
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: cloneFlags(ownProc)}
	if err := cmd.Run(); err != nil {
		t.Skipf("cannot start a process in a new pid namespace here (needs root or CAP_SYS_ADMIN): %v", err)
	}
}

// mountOwnProc gives a child in a new pid and mount namespace the /proc of
// its pid namespace, and the /dev/shm ShmDir asked for, without touching
// the parent's mounts.
func mountOwnProc() error {
	if os.Getenv(envOwnProc) == "" {
		return nil
	}
	if err := syscall.Mount("", "/", "", syscall.MS_REC|syscall.MS_PRIVATE, ""); err != nil {
		return fmt.Errorf("making mounts private: %w", err)
	}
	if err := syscall.Mount("proc", "/proc", "proc", syscall.MS_NOSUID|syscall.MS_NODEV|syscall.MS_NOEXEC, ""); err != nil {
		return fmt.Errorf("mounting /proc: %w", err)
	}
	if dir := os.Getenv(envBindShm); dir != "" {
		if err := syscall.Mount(dir, "/dev/shm", "", syscall.MS_BIND, ""); err != nil {
			return fmt.Errorf("mounting %s on /dev/shm: %w", dir, err)
		}
	}
	return nil
}

// InPidNamespaces runs f as two subtests, "host-proc" and "own-proc", for
// a child started with PidNamespace(false) and PidNamespace(true), each
// skipped where such a child cannot be started.
func InPidNamespaces(t *testing.T, f func(t *testing.T, ownProc bool)) {
	for _, own := range []bool{false, true} {
		name := "host-proc"
		if own {
			name = "own-proc"
		}
		t.Run(name, func(t *testing.T) {
			NeedPidNamespace(t, own)
			f(t, own)
		})
	}
}

//go:build unix

package testproc

import "syscall"

func closeOnExec(fd int) { syscall.CloseOnExec(fd) }

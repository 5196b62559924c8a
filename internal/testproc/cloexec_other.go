//go:build !unix

package testproc

func closeOnExec(fd int) {}

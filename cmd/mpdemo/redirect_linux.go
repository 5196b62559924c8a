package main

import (
	"os"

	"golang.org/x/sys/unix"
)

// redirect makes this process's stdout and stderr, and those of the
// children it starts, the file at path, appending.
func redirect(path string) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	for _, fd := range []int{1, 2} {
		if err := unix.Dup3(int(f.Fd()), fd, 0); err != nil {
			return &os.PathError{Op: "dup3", Path: path, Err: err}
		}
	}
	return nil
}

//go:build !linux

package main

import (
	"fmt"
	"os"
)

// shmbench measures shmkit across processes; shmkit runs on Linux only.
func main() {
	fmt.Fprintln(os.Stderr, "shmbench: shmkit runs on Linux only")
	os.Exit(1)
}

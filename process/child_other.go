//go:build !unix

package process

import (
	"fmt"
	"os"
)

func runChild(fn string) int {
	fmt.Fprintln(os.Stderr, "process:", ErrNotSupported)
	return 1
}

func runSpare() int { return runChild("") }

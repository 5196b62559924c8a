package shm

import (
	"fmt"
	"strings"
)

const (
	maxSegmentName = 200 // well under NAME_MAX (255) for /dev/shm entries
	maxObjectName  = 64  // the name field of a directory entry
)

// checkName reports why name cannot name a segment (max 200 bytes) or an
// object (max 64 bytes).
func checkName(name string, max int) error {
	switch {
	case name == "":
		return fmt.Errorf("shm: %w: empty", ErrName)
	case len(name) > max:
		return fmt.Errorf("shm: %w: %q is %d bytes, at most %d", ErrName, trunc(name), len(name), max)
	case name == "." || strings.Contains(name, ".."):
		return fmt.Errorf("%w: %q holds \"..\" or is \".\"", ErrName, name)
	case strings.ContainsRune(name, '/'):
		return fmt.Errorf("shm: %w: %q holds '/'", ErrName, name)
	}
	for _, c := range []byte(name) {
		if c < 0x20 || c == 0x7f {
			return fmt.Errorf("shm: %w: %q holds a control character or NUL", ErrName, name)
		}
	}
	return nil
}

func trunc(s string) string {
	if len(s) > 40 {
		return s[:40] + "..."
	}
	return s
}

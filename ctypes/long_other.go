//go:build !windows

package ctypes

import "strconv"

// longSize is the size of a C long: the word size on Unix (ILP32 and LP64).
const longSize = strconv.IntSize / 8

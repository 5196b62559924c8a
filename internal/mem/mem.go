// Package mem turns offsets into a shared mapping into typed pointers. It is
// the one place where shmkit converts raw bytes into Go values, and every
// conversion checks bounds and alignment first.
//
// Why these conversions are valid: a mapping made by mmap is not Go heap, is
// never moved or collected while mapped, and is at least page aligned, so
// that a pointer to &b[off] stays valid for as long as the mapping does and
// has the alignment of off. The types produced here hold no Go pointers
// (callers check that with package ctypes), so the garbage collector never
// needs to scan the memory they describe.
//
// # Caveats
//
//   - A pointer or slice from this package is valid only while its mapping
//     is: after the segment is closed (unmapped), using it faults.
//   - The checks here are of bounds and alignment only; whether the bytes
//     hold a valid value of the type is for the caller's header checks.
//   - Memory in a mapping is not Go heap: the race detector does not see
//     accesses to it, so cross-process synchronisation must be right by
//     construction (atomics, futexes), not by -race.
package mem

import (
	"fmt"
	"unsafe"
)

// check panics unless b[off:off+size] lies in b, aligned to align (a
// power of two). It inlines, so that a word's pointer costs a compare or
// two; the panic's message is made only when it is printed.
func check(b []byte, off, size, align uintptr) {
	if off > uintptr(len(b)) || size > uintptr(len(b))-off ||
		(uintptr(unsafe.Pointer(unsafe.SliceData(b)))+off)&(align-1) != 0 {
		panic(rangeError{len(b), off, size, align})
	}
}

// rangeError is check's panic.
type rangeError struct {
	n                int
	off, size, align uintptr
}

func (e rangeError) Error() string {
	if e.off > uintptr(e.n) || e.size > uintptr(e.n)-e.off {
		return fmt.Sprintf("shmkit/mem: range [%d, %d) outside a mapping of %d bytes", e.off, e.off+e.size, e.n)
	}
	return fmt.Sprintf("shmkit/mem: offset %d is not %d-byte aligned", e.off, e.align)
}

// Uint32 is the 4-byte word at b[off], for use with sync/atomic.
func Uint32(b []byte, off uintptr) *uint32 {
	check(b, off, 4, 4)
	return (*uint32)(unsafe.Pointer(&b[off]))
}

// Uint64 is the 8-byte word at b[off], for use with sync/atomic.
func Uint64(b []byte, off uintptr) *uint64 {
	check(b, off, 8, 8)
	return (*uint64)(unsafe.Pointer(&b[off]))
}

// Ptr is the T at b[off]. T must be plain data (see package ctypes).
func Ptr[T any](b []byte, off uintptr) *T {
	var z T
	check(b, off, unsafe.Sizeof(z), unsafe.Alignof(z))
	return (*T)(unsafe.Pointer(&b[off]))
}

// Slice is the n values of type T starting at b[off]. T must be plain data.
func Slice[T any](b []byte, off uintptr, n int) []T {
	var z T
	if n < 0 {
		panic("shmkit/mem: negative length")
	}
	size := unsafe.Sizeof(z)
	if size != 0 && uintptr(n) > (^uintptr(0))/size {
		panic("shmkit/mem: length overflows")
	}
	check(b, off, size*uintptr(n), unsafe.Alignof(z))
	if n == 0 {
		return []T{}
	}
	return unsafe.Slice((*T)(unsafe.Pointer(&b[off])), n)
}

// Bytes is the memory a T occupies, as bytes, for copying plain values in
// and out of shared memory.
func Bytes[T any](v *T) []byte {
	return unsafe.Slice((*byte)(unsafe.Pointer(v)), unsafe.Sizeof(*v))
}

// SliceBytes is the memory of the values of s, as bytes, for copying a
// run of plain values into a message and back (T must be plain data).
func SliceBytes[T any](s []T) []byte {
	if len(s) == 0 {
		return nil
	}
	var z T
	return unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(s))), uintptr(len(s))*unsafe.Sizeof(z))
}

// Bits is the memory of x, a plain value of at most 8 bytes, as the low
// bytes of a word (little endian, as on every system shmkit runs on): how
// a small value goes through a 32- or 64-bit atomic operation.
func Bits[T any](x T) uint64 {
	var w uint64
	if unsafe.Sizeof(x) > 8 || unsafe.Alignof(x) > 8 {
		panic("shmkit/mem: Bits of a value wider than 8 bytes")
	}
	*(*T)(unsafe.Pointer(&w)) = x // the low bytes: little endian
	return w
}

// FromBits is the T whose memory is the low bytes of w; see Bits.
func FromBits[T any](w uint64) T {
	var x T
	if unsafe.Sizeof(x) > 8 || unsafe.Alignof(x) > 8 {
		panic("shmkit/mem: FromBits of a value wider than 8 bytes")
	}
	return *(*T)(unsafe.Pointer(&w))
}

// Addr is the address of b's first byte: which mapping b lies in, for
// tables kept by address range (internal/owner's). Nothing is converted.
func Addr(b []byte) uintptr { return uintptr(unsafe.Pointer(unsafe.SliceData(b))) }

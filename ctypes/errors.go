package ctypes

import (
	"github.com/shmkit/shmkit/internal/errs"
)

// invalid is an error of this package that is also an invalid argument
// (shm.ErrInvalid, the same value in every package of shmkit).
type invalid struct{ msg string }

func (e *invalid) Error() string { return e.msg }

// Unwrap returns the invalid-argument condition.
func (e *invalid) Unwrap() error { return errs.ErrInvalid }

// ErrNotPlain is wrapped by every *NotPlainError: the type cannot live in
// shared memory. It matches shm.ErrInvalid too.
var ErrNotPlain error = &invalid{"ctypes: not plain data"}

// ErrUnknownCode is wrapped by ParseCode when its argument is not one valid
// type code. It matches shm.ErrInvalid too.
var ErrUnknownCode error = &invalid{"ctypes: unknown type code"}

// NotPlainError reports the first part of a type that cannot live in shared
// memory. Path names it from the type's name through field names, with `[]`
// for an array element (Order.Lines[].Name); Kind says what it is: "pointer",
// "string", "slice", "map", "interface", "chan", "func", "unsafe.Pointer" or
// "uintptr".
type NotPlainError struct {
	Path string // where in the type, as Order.Lines[].Name
	Kind string // what it is: "pointer", "string", ...
}

// Error names the part and what it is: "ctypes: Order.Note: string is
// not plain data".
func (e *NotPlainError) Error() string {
	return "ctypes: " + e.Path + ": " + e.Kind + " is not plain data"
}

// Unwrap returns ErrNotPlain.
func (e *NotPlainError) Unwrap() error { return ErrNotPlain }

package ctypes

import "errors"

// ErrNotPlain is wrapped by every *NotPlainError: the type cannot live in shared memory.
var ErrNotPlain = errors.New("ctypes: not plain data")

// ErrUnknownCode is wrapped by ParseCode when its argument is not one valid type code.
var ErrUnknownCode = errors.New("ctypes: unknown type code")

// NotPlainError reports the first part of a type that cannot live in shared
// memory. Path names it from the type's name through field names, with `[]`
// for an array element (Order.Lines[].Name); Kind says what it is: "pointer",
// "string", "slice", "map", "interface", "chan", "func", "unsafe.Pointer" or
// "uintptr".
type NotPlainError struct {
	Path string
	Kind string
}

func (e *NotPlainError) Error() string {
	return "ctypes: " + e.Path + ": " + e.Kind + " is not plain data"
}

// Unwrap returns ErrNotPlain.
func (e *NotPlainError) Unwrap() error { return ErrNotPlain }

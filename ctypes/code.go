package ctypes

import (
	"fmt"
	"reflect"
	"strconv"
)

// Code is a type code of Python's array and struct modules (native mode '@').
type Code byte

// The type codes shmkit knows, with the Go type each stands for. Sizes are
// Python's native sizes on this platform; see the package doc for the table.
const (
	SignedChar       Code = 'b' // int8
	UnsignedChar     Code = 'B' // uint8
	Char             Code = 'c' // byte (uint8), one character of a bytes object
	Bool             Code = '?' // bool
	Short            Code = 'h' // int16
	UnsignedShort    Code = 'H' // uint16
	Int              Code = 'i' // int32
	UnsignedInt      Code = 'I' // uint32
	Long             Code = 'l' // int64 (C long is 8 bytes on LP64: Linux, macOS; int32 on Windows)
	UnsignedLong     Code = 'L' // uint64 (uint32 on Windows)
	LongLong         Code = 'q' // int64
	UnsignedLongLong Code = 'Q' // uint64
	Float            Code = 'f' // float32
	Double           Code = 'd' // float64
)

// longType and ulongType are the Go types of 'l' and 'L', whose size is the
// platform's C long.
var longType, ulongType = longTypes()

func longTypes() (reflect.Type, reflect.Type) {
	if longSize == 8 {
		return reflect.TypeFor[int64](), reflect.TypeFor[uint64]()
	}
	return reflect.TypeFor[int32](), reflect.TypeFor[uint32]()
}

// Valid reports whether c is one of the codes above.
func (c Code) Valid() bool { return c.Type() != nil }

// Size returns Python's native size of c on this platform (struct.calcsize('@'+c)),
// or 0 if c is not valid.
func (c Code) Size() uintptr {
	if t := c.Type(); t != nil {
		return t.Size()
	}
	return 0
}

// Type returns the Go type that c stands for, or nil if c is not valid.
func (c Code) Type() reflect.Type {
	switch c {
	case SignedChar:
		return reflect.TypeFor[int8]()
	case UnsignedChar, Char:
		return reflect.TypeFor[uint8]()
	case Bool:
		return reflect.TypeFor[bool]()
	case Short:
		return reflect.TypeFor[int16]()
	case UnsignedShort:
		return reflect.TypeFor[uint16]()
	case Int:
		return reflect.TypeFor[int32]()
	case UnsignedInt:
		return reflect.TypeFor[uint32]()
	case Long:
		return longType
	case UnsignedLong:
		return ulongType
	case LongLong:
		return reflect.TypeFor[int64]()
	case UnsignedLongLong:
		return reflect.TypeFor[uint64]()
	case Float:
		return reflect.TypeFor[float32]()
	case Double:
		return reflect.TypeFor[float64]()
	}
	return nil
}

// String returns the code and its Go type, as in "'d' (float64)", or
// "Code(0x41)" for an invalid code.
func (c Code) String() string {
	if t := c.Type(); t != nil {
		return "'" + string(rune(c)) + "' (" + t.String() + ")"
	}
	return fmt.Sprintf("Code(0x%02x)", byte(c))
}

// ParseCode parses a type code as Python writes it: exactly one valid code
// character, such as "d". Anything else is an error wrapping ErrUnknownCode.
func ParseCode(s string) (Code, error) {
	if len(s) == 1 {
		if c := Code(s[0]); c.Valid() {
			return c, nil
		}
	}
	return 0, fmt.Errorf("type code %q: %w", s, ErrUnknownCode)
}

// CodeOf returns the type code of the Go scalar type T; see CodeFor.
func CodeOf[T any]() (Code, bool) {
	return CodeFor(reflect.TypeFor[T]())
}

// CodeFor returns the type code of a Go scalar type, chosen by its kind, so
// that named types map as their underlying type (type Celsius float64 gives
// 'd'): int8 'b', uint8 'B', bool '?', int16 'h', uint16 'H', int32 'i',
// uint32 'I', int64 'q', uint64 'Q', float32 'f', float64 'd', and int and
// uint 'l' and 'L' where a C long is as wide as int (LP64), else 'q'/'Q' or
// 'i'/'I' by size. 'c' is never chosen (byte is uint8, so 'B'). Any other
// type, and a nil t, gives 0, false.
func CodeFor(t reflect.Type) (Code, bool) {
	if t == nil {
		return 0, false
	}
	switch t.Kind() {
	case reflect.Bool:
		return Bool, true
	case reflect.Int8:
		return SignedChar, true
	case reflect.Uint8:
		return UnsignedChar, true
	case reflect.Int16:
		return Short, true
	case reflect.Uint16:
		return UnsignedShort, true
	case reflect.Int32:
		return Int, true
	case reflect.Uint32:
		return UnsignedInt, true
	case reflect.Int64:
		return LongLong, true
	case reflect.Uint64:
		return UnsignedLongLong, true
	case reflect.Int:
		switch {
		case strconv.IntSize/8 == longSize:
			return Long, true
		case strconv.IntSize == 64:
			return LongLong, true
		default:
			return Int, true
		}
	case reflect.Uint:
		switch {
		case strconv.IntSize/8 == longSize:
			return UnsignedLong, true
		case strconv.IntSize == 64:
			return UnsignedLongLong, true
		default:
			return UnsignedInt, true
		}
	case reflect.Float32:
		return Float, true
	case reflect.Float64:
		return Double, true
	}
	return 0, false
}

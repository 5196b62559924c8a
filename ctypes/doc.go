// Package ctypes decides what may live in shared memory and describes how it
// lies there, and maps Python's array and struct type codes to Go types and
// back ('d' is float64, 'i' is int32, ...), so that an Array made in Go can
// be read from Python's multiprocessing.shared_memory with the right code.
//
// Every constructor in shmkit that puts a T in shared memory asks LayoutOf[T]
// first, and refuses a T that is not plain.
//
// # Plain data
//
// A type is plain when its bytes mean the same thing in every process that
// maps them: bool, the sized and unsized integers, float32, float64,
// complex64, complex128, arrays of plain elements (of any length, 0
// included), and structs whose fields are all plain (nested and embedded
// structs, unexported and blank fields alike). Pointers, unsafe.Pointer and
// uintptr (an address means nothing in another process), strings, slices,
// maps, interfaces, channels and funcs are not plain. CheckPlain names the
// first offending part in declaration order, from the type's name through
// field names, with [] for an array element:
//
//	ctypes: Order.Lines[].Name: string is not plain data
//
// # Type codes
//
// Sizes are Python's native ones (struct.calcsize('@'+code)) on Linux amd64
// and arm64:
//
//	code  C type              size  Go type
//	'b'   signed char         1     int8
//	'B'   unsigned char       1     uint8
//	'c'   char                1     uint8 (byte)
//	'?'   _Bool               1     bool
//	'h'   short               2     int16
//	'H'   unsigned short      2     uint16
//	'i'   int                 4     int32
//	'I'   unsigned int        4     uint32
//	'l'   long                8     int64
//	'L'   unsigned long       8     uint64
//	'q'   long long           8     int64
//	'Q'   unsigned long long  8     uint64
//	'f'   float               4     float32
//	'd'   double              8     float64
//
// Going from Go to a code (CodeOf, CodeFor) goes by kind: int64 is 'q', int
// is 'l', uint8 and byte are 'B' ('c' is never chosen), and a named type
// maps as its underlying type. complex64, complex128 and arrays have no code.
//
// # Shape
//
// A Layout's Shape describes the memory of a type without its names, in
// this grammar:
//
//	shape  = scalar | array | struct
//	scalar = "bool" | "i8" | "i16" | "i32" | "i64" | "u8" | "u16" | "u32" |
//	         "u64" | "f32" | "f64" | "c64" | "c128"
//	array  = "[" length "]" inner
//	struct = "struct{" [ field { "," field } ] "}#" size
//	field  = offset ":" inner
//	inner  = shape | "~" digest
//
// length, offset and size are decimal numbers of elements or bytes; int and
// uint are written by their size ("i64" on 64-bit systems, like int64). Every
// field appears, blank and zero-size ones included, in declaration order at
// its offset; the struct's size after '#' covers trailing padding (which Go
// also adds after a zero-size last field). A nested shape longer than 256
// bytes is written as "~" and its Fingerprint in 16 lower-case hex digits, so
// that shapes stay short however often types repeat each other. Examples:
//
//	int32                          i32
//	[4]byte                        [4]u8
//	struct{ A int32; B float64 }   struct{0:i32,8:f64}#16
//	struct{ P [2]struct{ X, Y int16 }; Ok bool }
//	                               struct{0:[2]struct{0:i16,2:i16}#4,8:bool}#10
//
// # Fingerprints
//
// A Layout's Fingerprint is the 64-bit FNV-1a hash of its Shape. Every shared
// object stores the fingerprint of its element type in its header; attaching
// to it with a type of another fingerprint fails with ErrLayout in package
// shm, before any byte is read as the wrong type.
//
// # Caveats
//
// The fingerprint ignores names: two types of equal shape match, so a
// struct{ Bid, Ask float64 } attaches to a struct{ Ask, Bid float64 } and
// reads each field as the other. Only kinds, sizes, offsets and lengths are
// checked. Equally, int and int64 have the same shape.
//
// 'l' and 'L' are 8 bytes only on LP64 systems (Linux, macOS); on Windows and
// on 32-bit systems a C long is 4 bytes, and Code.Size, Code.Type and CodeFor
// follow the platform.
//
// A bool must hold 0 or 1. Go writes nothing else, but a byte written by
// another language (a numpy bool array, a C program) that holds any other
// value is undefined behaviour when read as a Go bool.
//
// Python's 'u' and 'w' (wide characters), 'n', 'N', 'e', 'P' and the struct
// module's non-native modes are not supported.
//
// Layouts are cached per reflect.Type for the life of the process; types made
// with reflect.StructOf or ArrayOf at run time stay in the cache too.
package ctypes

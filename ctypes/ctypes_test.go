package ctypes

import (
	"errors"
	"fmt"
	"hash/fnv"
	"os/exec"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"
	"unsafe"

	"github.com/shmkit/shmkit/internal/errs"
)

var codeTable = []struct {
	code  Code
	typ   reflect.Type
	size  uintptr
	back  Code // CodeFor(code.Type())
	label string
}{
	{SignedChar, reflect.TypeFor[int8](), 1, SignedChar, "'b' (int8)"},
	{UnsignedChar, reflect.TypeFor[uint8](), 1, UnsignedChar, "'B' (uint8)"},
	{Char, reflect.TypeFor[byte](), 1, UnsignedChar, "'c' (uint8)"}, // byte is uint8, which is 'B'
	{Bool, reflect.TypeFor[bool](), 1, Bool, "'?' (bool)"},
	{Short, reflect.TypeFor[int16](), 2, Short, "'h' (int16)"},
	{UnsignedShort, reflect.TypeFor[uint16](), 2, UnsignedShort, "'H' (uint16)"},
	{Int, reflect.TypeFor[int32](), 4, Int, "'i' (int32)"},
	{UnsignedInt, reflect.TypeFor[uint32](), 4, UnsignedInt, "'I' (uint32)"},
	{Long, reflect.TypeFor[int64](), 8, LongLong, "'l' (int64)"},                   // int64 is 'q'; int is 'l'
	{UnsignedLong, reflect.TypeFor[uint64](), 8, UnsignedLongLong, "'L' (uint64)"}, // uint64 is 'Q'; uint is 'L'
	{LongLong, reflect.TypeFor[int64](), 8, LongLong, "'q' (int64)"},
	{UnsignedLongLong, reflect.TypeFor[uint64](), 8, UnsignedLongLong, "'Q' (uint64)"},
	{Float, reflect.TypeFor[float32](), 4, Float, "'f' (float32)"},
	{Double, reflect.TypeFor[float64](), 8, Double, "'d' (float64)"},
}

// requireLP64 skips tests whose tables assume a C long and a Go int of 8
// bytes, as on Linux and macOS on 64-bit machines.
func requireLP64(t *testing.T) {
	t.Helper()
	if longSize != 8 || strconv.IntSize != 64 {
		t.Skipf("tables assume LP64; here C long is %d bytes and int %d bits", longSize, strconv.IntSize)
	}
}

func TestCodes(t *testing.T) {
	requireLP64(t)
	for _, tt := range codeTable {
		t.Run(string(rune(tt.code)), func(t *testing.T) {
			c := tt.code
			if !c.Valid() {
				t.Fatalf("%v not valid", c)
			}
			if c.Type() != tt.typ {
				t.Errorf("Type() = %v, want %v", c.Type(), tt.typ)
			}
			if c.Size() != tt.size || c.Size() != tt.typ.Size() {
				t.Errorf("Size() = %d, want %d (reflect size %d)", c.Size(), tt.size, tt.typ.Size())
			}
			if got := c.String(); got != tt.label {
				t.Errorf("String() = %q, want %q", got, tt.label)
			}
			back, ok := CodeFor(c.Type())
			if !ok || back != tt.back {
				t.Errorf("CodeFor(%v) = %v, %v; want %v", c.Type(), back, ok, tt.back)
			}
			p, err := ParseCode(string(rune(c)))
			if err != nil || p != c {
				t.Errorf("ParseCode(%q) = %v, %v", string(rune(c)), p, err)
			}
			l, err := LayoutFor(c.Type())
			if err != nil {
				t.Fatal(err)
			}
			if l.Code != tt.back || l.Size != c.Size() {
				t.Errorf("LayoutFor(%v) = %v, code %v", c.Type(), l, l.Code)
			}
		})
	}
}

func TestInvalidCodes(t *testing.T) {
	for _, c := range []Code{0, 'A', 'u', 'w', 'n', 'N', 'e', 'P', 'x', 's', 0xff} {
		if c.Valid() || c.Size() != 0 || c.Type() != nil {
			t.Errorf("%#x: Valid %v, Size %d, Type %v", byte(c), c.Valid(), c.Size(), c.Type())
		}
		if want := fmt.Sprintf("Code(0x%02x)", byte(c)); c.String() != want {
			t.Errorf("String() = %q, want %q", c.String(), want)
		}
	}
	if got := Code('A').String(); got != "Code(0x41)" {
		t.Errorf("Code('A').String() = %q", got)
	}
}

func TestParseCodeErrors(t *testing.T) {
	for _, s := range []string{"", "dd", "x", "u", "@d", "d ", "\x00", "é"} {
		c, err := ParseCode(s)
		if err == nil || !errors.Is(err, ErrUnknownCode) || c != 0 {
			t.Errorf("ParseCode(%q) = %v, %v; want ErrUnknownCode", s, c, err)
		}
	}
}

type (
	celsius  float64
	count    uint16
	flag     bool
	myInt    int
	wrapByte byte
)

func TestCodeOf(t *testing.T) {
	requireLP64(t)
	check := func(name string, got Code, ok bool, want Code) {
		t.Helper()
		if want == 0 {
			if ok || got != 0 {
				t.Errorf("%s: got %v, %v; want 0, false", name, got, ok)
			}
			return
		}
		if !ok || got != want {
			t.Errorf("%s: got %v, %v; want %v", name, got, ok, want)
		}
	}
	c, ok := CodeOf[int8]()
	check("int8", c, ok, 'b')
	c, ok = CodeOf[uint8]()
	check("uint8", c, ok, 'B')
	c, ok = CodeOf[byte]()
	check("byte", c, ok, 'B')
	c, ok = CodeOf[bool]()
	check("bool", c, ok, '?')
	c, ok = CodeOf[int16]()
	check("int16", c, ok, 'h')
	c, ok = CodeOf[uint16]()
	check("uint16", c, ok, 'H')
	c, ok = CodeOf[int32]()
	check("int32", c, ok, 'i')
	c, ok = CodeOf[uint32]()
	check("uint32", c, ok, 'I')
	c, ok = CodeOf[int64]()
	check("int64", c, ok, 'q')
	c, ok = CodeOf[uint64]()
	check("uint64", c, ok, 'Q')
	c, ok = CodeOf[int]()
	check("int", c, ok, 'l') // LP64: the tests run on Linux amd64/arm64
	c, ok = CodeOf[uint]()
	check("uint", c, ok, 'L')
	c, ok = CodeOf[float32]()
	check("float32", c, ok, 'f')
	c, ok = CodeOf[float64]()
	check("float64", c, ok, 'd')

	c, ok = CodeOf[celsius]()
	check("celsius", c, ok, 'd')
	c, ok = CodeOf[count]()
	check("count", c, ok, 'H')
	c, ok = CodeOf[flag]()
	check("flag", c, ok, '?')
	c, ok = CodeOf[myInt]()
	check("myInt", c, ok, 'l')
	c, ok = CodeOf[wrapByte]()
	check("wrapByte", c, ok, 'B')

	c, ok = CodeOf[complex64]()
	check("complex64", c, ok, 0)
	c, ok = CodeOf[complex128]()
	check("complex128", c, ok, 0)
	c, ok = CodeOf[uintptr]()
	check("uintptr", c, ok, 0)
	c, ok = CodeOf[string]()
	check("string", c, ok, 0)
	c, ok = CodeOf[[4]int32]()
	check("[4]int32", c, ok, 0)
	c, ok = CodeOf[struct{ A int32 }]()
	check("struct", c, ok, 0)
	c, ok = CodeOf[*int32]()
	check("*int32", c, ok, 0)
	c, ok = CodeOf[any]()
	check("any", c, ok, 0)
	c, ok = CodeFor(nil)
	check("nil", c, ok, 0)
}

// TestPythonSizes compares every code's size with Python's native one.
func TestPythonSizes(t *testing.T) {
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 not on PATH: cannot compare sizes with struct.calcsize")
	}
	var codes strings.Builder
	for _, tt := range codeTable {
		codes.WriteByte(byte(tt.code))
	}
	out, err := exec.Command(py, "-c",
		"import struct, sys\nprint(' '.join(str(struct.calcsize('@' + c)) for c in sys.argv[1]))",
		codes.String()).Output()
	if err != nil {
		t.Fatalf("running python3: %v", err)
	}
	sizes := strings.Fields(string(out))
	if len(sizes) != len(codeTable) {
		t.Fatalf("python3 printed %q for %d codes", out, len(codeTable))
	}
	for i, tt := range codeTable {
		want, err := strconv.Atoi(sizes[i])
		if err != nil {
			t.Fatal(err)
		}
		if got := tt.code.Size(); got != uintptr(want) {
			t.Errorf("%v: Size() = %d, struct.calcsize('@%c') = %d", tt.code, got, byte(tt.code), want)
		}
	}
}

// Types for the not-plain tests.
type (
	line struct {
		Qty  int32
		Name string
	}
	order struct {
		ID    int64
		Lines [4]line
	}
	inner struct {
		A   int32
		Arr [2][3]struct {
			X int8
			P *int
		}
	}
	outer struct {
		N  int64
		In inner
	}
	embedsBad struct {
		ID int64
		line
	}
	blankBad struct {
		A int32
		_ *int
	}
	firstBad struct {
		A int64
		B string
		C []int
	}
	node struct {
		V    int
		Next *node
	}
	list           []list
	generic[T any] struct {
		N int32
		V T
	}
	namedPtr   unsafe.Pointer
	namedArray [3]map[string]int
)

func TestNotPlain(t *testing.T) {
	tests := []struct {
		typ  reflect.Type
		path string
		kind string
	}{
		{reflect.TypeFor[*int](), "*int", "pointer"},
		{reflect.TypeFor[unsafe.Pointer](), "unsafe.Pointer", "unsafe.Pointer"},
		{reflect.TypeFor[namedPtr](), "namedPtr", "unsafe.Pointer"},
		{reflect.TypeFor[uintptr](), "uintptr", "uintptr"},
		{reflect.TypeFor[string](), "string", "string"},
		{reflect.TypeFor[[]int](), "[]int", "slice"},
		{reflect.TypeFor[map[string]int](), "map[string]int", "map"},
		{reflect.TypeFor[any](), "interface {}", "interface"},
		{reflect.TypeFor[error](), "error", "interface"},
		{reflect.TypeFor[chan int](), "chan int", "chan"},
		{reflect.TypeFor[func()](), "func()", "func"},
		{reflect.TypeFor[struct{ A string }](), "struct { A string }.A", "string"},
		{reflect.TypeFor[[0]string](), "[0]string[]", "string"},
		{reflect.TypeFor[namedArray](), "namedArray[]", "map"},
		{reflect.TypeFor[line](), "line.Name", "string"},
		{reflect.TypeFor[order](), "order.Lines[].Name", "string"},
		{reflect.TypeFor[[2]order](), "[2]ctypes.order[].Lines[].Name", "string"},
		{reflect.TypeFor[outer](), "outer.In.Arr[][].P", "pointer"},
		{reflect.TypeFor[embedsBad](), "embedsBad.line.Name", "string"},
		{reflect.TypeFor[blankBad](), "blankBad._", "pointer"},
		{reflect.TypeFor[firstBad](), "firstBad.B", "string"},
		{reflect.TypeFor[node](), "node.Next", "pointer"},
		{reflect.TypeFor[list](), "list", "slice"},
		{reflect.TypeFor[generic[[]byte]](), "generic[[]uint8].V", "slice"},
		{reflect.TypeFor[struct {
			_ [0]func()
		}](), "struct { _ [0]func() }._[]", "func"},
		{nil, "nil", "interface"},
	}
	for _, tt := range tests {
		name := "nil"
		if tt.typ != nil {
			name = tt.typ.String()
		}
		t.Run(name, func(t *testing.T) {
			// Twice: the second answer comes from the cache.
			for range 2 {
				err := CheckPlain(tt.typ)
				if err == nil {
					t.Fatal("CheckPlain = nil, want an error")
				}
				if !errors.Is(err, ErrNotPlain) {
					t.Errorf("errors.Is(%v, ErrNotPlain) = false", err)
				}
				var npe *NotPlainError
				if !errors.As(err, &npe) {
					t.Fatalf("error %T is not a *NotPlainError", err)
				}
				if npe.Path != tt.path || npe.Kind != tt.kind {
					t.Errorf("got %q: %q, want %q: %q", npe.Path, npe.Kind, tt.path, tt.kind)
				}
				want := "ctypes: " + tt.path + ": " + tt.kind + " is not plain data"
				if err.Error() != want {
					t.Errorf("Error() = %q, want %q", err.Error(), want)
				}
				if l, err := LayoutFor(tt.typ); err == nil || l != (Layout{}) {
					t.Errorf("LayoutFor = %v, %v; want the zero Layout and an error", l, err)
				}
			}
		})
	}
	if err := Check[order](); err == nil || err.Error() != "ctypes: order.Lines[].Name: string is not plain data" {
		t.Errorf("Check[order]() = %v", err)
	}
}

// Types for the plain tests.
type (
	point struct {
		X, Y int32
		Z    float64
	}
	withAll struct {
		B   bool
		I8  int8
		U16 uint16
		I   int
		U   uint
		C64 complex64
		C   complex128
		F   float32
		_   [4]byte
		//lint:ignore U1000 unexported fields are part of the layout under test
		p point
		point
		Arr [3][2]uint8
		E   struct{}
		Z   [0]int64
	}
	trailing struct {
		A int64
		B int8
	}
)

func TestPlain(t *testing.T) {
	requireLP64(t)
	tests := []struct {
		typ         reflect.Type
		shape       string
		size, align uintptr
		code        Code
	}{
		{reflect.TypeFor[bool](), "bool", 1, 1, '?'},
		{reflect.TypeFor[int](), "i64", 8, 8, 'l'},
		{reflect.TypeFor[uint](), "u64", 8, 8, 'L'},
		{reflect.TypeFor[int64](), "i64", 8, 8, 'q'},
		{reflect.TypeFor[celsius](), "f64", 8, 8, 'd'},
		{reflect.TypeFor[complex64](), "c64", 8, 4, 0},
		{reflect.TypeFor[complex128](), "c128", 16, 8, 0},
		{reflect.TypeFor[[4]byte](), "[4]u8", 4, 1, 0},
		{reflect.TypeFor[[0]int64](), "[0]i64", 0, 8, 0},
		{reflect.TypeFor[[2][3]int16](), "[2][3]i16", 12, 2, 0},
		{reflect.TypeFor[struct{}](), "struct{}#0", 0, 1, 0},
		{reflect.TypeFor[point](), "struct{0:i32,4:i32,8:f64}#16", 16, 8, 0},
		{reflect.TypeFor[trailing](), "struct{0:i64,8:i8}#16", 16, 8, 0},
		{reflect.TypeFor[struct {
			P  [2]struct{ X, Y int16 }
			Ok bool
		}](), "struct{0:[2]struct{0:i16,2:i16}#4,8:bool}#10", 10, 2, 0},
		{reflect.TypeFor[withAll](), "struct{0:bool,1:i8,2:u16,8:i64,16:u64,24:c64,32:c128,48:f32,52:[4]u8," +
			"56:struct{0:i32,4:i32,8:f64}#16,72:struct{0:i32,4:i32,8:f64}#16,88:[3][2]u8,94:struct{}#0,96:[0]i64}#104",
			unsafe.Sizeof(withAll{}), unsafe.Alignof(withAll{}), 0},
		{reflect.TypeFor[[1 << 20]byte](), "[1048576]u8", 1 << 20, 1, 0},
	}
	for _, tt := range tests {
		t.Run(tt.typ.String(), func(t *testing.T) {
			l, err := LayoutFor(tt.typ)
			if err != nil {
				t.Fatal(err)
			}
			if err := CheckPlain(tt.typ); err != nil {
				t.Errorf("CheckPlain = %v", err)
			}
			if l.Shape != tt.shape {
				t.Errorf("Shape = %q\n           want %q", l.Shape, tt.shape)
			}
			if l.Size != tt.size || l.Size != tt.typ.Size() || l.Align != tt.align || l.Code != tt.code {
				t.Errorf("got size %d align %d code %v, want %d %d %v", l.Size, l.Align, l.Code, tt.size, tt.align, tt.code)
			}
			h := fnv.New64a()
			h.Write([]byte(l.Shape))
			if l.Fingerprint != h.Sum64() {
				t.Errorf("Fingerprint = %#x, FNV-1a 64 of the shape is %#x", l.Fingerprint, h.Sum64())
			}
		})
	}
}

func TestLayoutOfMatchesUnsafe(t *testing.T) {
	l, err := LayoutOf[withAll]()
	if err != nil {
		t.Fatal(err)
	}
	if l.Size != unsafe.Sizeof(withAll{}) || l.Align != unsafe.Alignof(withAll{}) {
		t.Errorf("LayoutOf[withAll] = %v, unsafe says size %d align %d", l, unsafe.Sizeof(withAll{}), unsafe.Alignof(withAll{}))
	}
	if err := Check[withAll](); err != nil {
		t.Error(err)
	}
}

func fingerprint(t *testing.T, typ reflect.Type) uint64 {
	t.Helper()
	l, err := LayoutFor(typ)
	if err != nil {
		t.Fatal(err)
	}
	return l.Fingerprint
}

func TestFingerprintIgnoresNames(t *testing.T) {
	requireLP64(t)
	type quote struct {
		Bid, Ask float64
		Size     int32
	}
	type renamed struct {
		//lint:ignore U1000 unexported fields are part of the layout under test
		a, b float64
		_    int32
	}
	groups := [][]reflect.Type{
		{reflect.TypeFor[quote](), reflect.TypeFor[renamed](), reflect.TypeFor[struct {
			X, Y float64
			Z    int32
		}]()},
		{reflect.TypeFor[float64](), reflect.TypeFor[celsius]()},
		{reflect.TypeFor[int64](), reflect.TypeFor[int](), reflect.TypeFor[myInt]()},
		{reflect.TypeFor[point](), reflect.TypeFor[struct{ point }]().Field(0).Type},
		{reflect.TypeFor[[4]uint8](), reflect.TypeFor[[4]wrapByte]()},
	}
	for _, g := range groups {
		want := fingerprint(t, g[0])
		for _, typ := range g[1:] {
			if got := fingerprint(t, typ); got != want {
				t.Errorf("%v and %v differ: %#x, %#x", g[0], typ, want, got)
			}
		}
	}
}

func TestFingerprintSensitivity(t *testing.T) {
	types := []reflect.Type{
		// kinds of one size
		reflect.TypeFor[int32](), reflect.TypeFor[uint32](), reflect.TypeFor[float32](),
		reflect.TypeFor[int64](), reflect.TypeFor[uint64](), reflect.TypeFor[float64](), reflect.TypeFor[complex64](),
		reflect.TypeFor[bool](), reflect.TypeFor[int8](), reflect.TypeFor[uint8](),
		// array lengths and element kinds
		reflect.TypeFor[[4]uint8](), reflect.TypeFor[[5]uint8](), reflect.TypeFor[[4]int8](), reflect.TypeFor[[0]uint8](),
		reflect.TypeFor[[2][2]uint8](), reflect.TypeFor[[1][4]uint8](),
		// fields: kind, order, offset
		reflect.TypeFor[struct{ A, B int32 }](),
		reflect.TypeFor[struct{ A int64 }](),
		reflect.TypeFor[struct{ A [2]int32 }](),
		reflect.TypeFor[struct {
			A int32
			B float32
		}](),
		reflect.TypeFor[struct {
			A int8
			B int32
		}](), // B at 4
		reflect.TypeFor[struct {
			A int8
			B [4]int8
		}](), // B at 1
		reflect.TypeFor[struct {
			A int8
			_ [3]int8
			B int32
		}](), // explicit padding is a field
		// padding and size
		reflect.TypeFor[struct {
			A int32
			E struct{}
		}](), // trailing zero-size field: size 8
		reflect.TypeFor[struct {
			E struct{}
			A int32
		}](), // size 4
		reflect.TypeFor[struct {
			A int32
			_ [0]int64
		}](), // align 8 and size 8
		reflect.TypeFor[struct{ A int32 }](),
		// nesting
		reflect.TypeFor[struct{ P struct{ A, B int32 } }](),
		reflect.TypeFor[struct{}](),
		reflect.TypeFor[struct{ E struct{} }](),
	}
	seen := map[uint64]reflect.Type{}
	for _, typ := range types {
		fp := fingerprint(t, typ)
		if other, ok := seen[fp]; ok {
			l1, _ := LayoutFor(other)
			l2, _ := LayoutFor(typ)
			t.Errorf("%v and %v share fingerprint %#x (%q, %q)", other, typ, fp, l1.Shape, l2.Shape)
		}
		seen[fp] = typ
	}
}

// TestFingerprintStable pins fingerprints: they are stored in shared memory,
// so a change here breaks attaching to objects made by an older build.
func TestFingerprintStable(t *testing.T) {
	tests := []struct {
		typ reflect.Type
		fp  uint64
	}{
		{reflect.TypeFor[float64](), 0xdd744c18ff7ea1ab}, // "f64"
		{reflect.TypeFor[[4]byte](), 0x683e5346ebe25c68}, // "[4]u8"
		{reflect.TypeFor[point](), 0x747cb7e8a1344326},   // "struct{0:i32,4:i32,8:f64}#16"
	}
	for _, tt := range tests {
		if got := fingerprint(t, tt.typ); got != tt.fp {
			t.Errorf("%v: fingerprint %#x, want %#x", tt.typ, got, tt.fp)
		}
	}
	// FNV-1a 64 of the empty string is its offset basis.
	if got := fnv1a64(""); got != 0xcbf29ce484222325 {
		t.Errorf("fnv1a64(\"\") = %#x", got)
	}
}

func TestLayoutString(t *testing.T) {
	l, err := LayoutOf[point]()
	if err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("struct{0:i32,4:i32,8:f64}#16 (16 bytes, align 8, fingerprint %#016x)", l.Fingerprint)
	if got := l.String(); got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
	long := Layout{Shape: strings.Repeat("x", 1000)}
	if s := long.String(); len(s) > 300 || !strings.Contains(s, "...") {
		t.Errorf("long shape printed as %q", s)
	}
}

func TestHugeArrays(t *testing.T) {
	huge := reflect.ArrayOf(1<<16, reflect.ArrayOf(1<<10, reflect.TypeFor[int64]())) // 512 MiB
	l, err := LayoutFor(huge)
	if err != nil {
		t.Fatal(err)
	}
	if l.Shape != "[65536][1024]i64" || l.Size != 1<<29 {
		t.Errorf("got %v", l)
	}
	bad := reflect.ArrayOf(1<<20, reflect.TypeFor[*int]())
	if err := CheckPlain(bad); err == nil || err.(*NotPlainError).Path != "[1048576]*int[]" {
		t.Errorf("CheckPlain(%v) = %v", bad, err)
	}
}

func TestDeepNesting(t *testing.T) {
	// A chain of 500 structs, each holding a byte and the previous one.
	typ := reflect.TypeFor[uint8]()
	for range 500 {
		typ = reflect.StructOf([]reflect.StructField{
			{Name: "A", Type: reflect.TypeFor[uint8]()},
			{Name: "B", Type: typ},
		})
	}
	l, err := LayoutFor(typ)
	if err != nil {
		t.Fatal(err)
	}
	if l.Size != 501 || len(l.Shape) > 2*maxInlineShape {
		t.Errorf("chain: size %d, shape of %d bytes", l.Size, len(l.Shape))
	}

	// Doubling: each level holds two of the previous one, so the outermost
	// type repeats its innermost struct 2^14 times; the shape must stay short.
	typ = reflect.TypeFor[struct{ A, B uint8 }]()
	for range 14 {
		typ = reflect.StructOf([]reflect.StructField{
			{Name: "L", Type: typ},
			{Name: "R", Type: typ},
		})
	}
	l, err = LayoutFor(typ)
	if err != nil {
		t.Fatal(err)
	}
	if l.Size != 2<<14 || len(l.Shape) > 2*maxInlineShape {
		t.Errorf("doubling: size %d, shape of %d bytes", l.Size, len(l.Shape))
	}

	// Deep arrays of arrays, with a pointer at the bottom.
	typ = reflect.TypeFor[*int]()
	for range 500 {
		typ = reflect.ArrayOf(1, typ)
	}
	var npe *NotPlainError
	if err := CheckPlain(typ); !errors.As(err, &npe) || npe.Kind != "pointer" || strings.Count(npe.Path, "[]") != 500 {
		t.Errorf("deep arrays: %v", err)
	}
}

func TestDigestDistinguishes(t *testing.T) {
	// Two long nested shapes that differ deep inside must still differ
	// once each is written as a digest.
	mk := func(last reflect.Type) reflect.Type {
		fields := make([]reflect.StructField, 40)
		for i := range fields {
			fields[i] = reflect.StructField{Name: fmt.Sprintf("F%d", i), Type: reflect.TypeFor[int32]()}
		}
		fields[39].Type = last
		inner := reflect.StructOf(fields)
		return reflect.StructOf([]reflect.StructField{{Name: "In", Type: inner}})
	}
	a, b := mk(reflect.TypeFor[int32]()), mk(reflect.TypeFor[float32]())
	la, _ := LayoutFor(a)
	lb, _ := LayoutFor(b)
	if !strings.Contains(la.Shape, "~") {
		t.Errorf("long nested shape not digested: %q", la.Shape)
	}
	if la.Fingerprint == lb.Fingerprint {
		t.Errorf("digested shapes collide: %q", la.Shape)
	}
}

func TestConcurrentLayouts(t *testing.T) {
	var wg sync.WaitGroup
	results := make([][]uint64, 8)
	for g := range results {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 50 {
				typ := reflect.StructOf([]reflect.StructField{
					{Name: "A", Type: reflect.ArrayOf(i+1000, reflect.TypeFor[uint16]())},
					{Name: "B", Type: reflect.TypeFor[float64]()},
				})
				l, err := LayoutFor(typ)
				if err != nil {
					t.Error(err)
					return
				}
				results[g] = append(results[g], l.Fingerprint)
			}
		}()
	}
	wg.Wait()
	for g := range results[1:] {
		if !reflect.DeepEqual(results[g+1], results[0]) {
			t.Fatalf("goroutine %d saw different fingerprints", g+1)
		}
	}
}

func TestLayoutOfCachedDoesNotAllocate(t *testing.T) {
	if _, err := LayoutOf[withAll](); err != nil {
		t.Fatal(err)
	}
	allocs := testing.AllocsPerRun(100, func() {
		if _, err := LayoutOf[withAll](); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Errorf("LayoutOf of a cached type: %v allocations, want 0", allocs)
	}
}

func BenchmarkLayoutOf(b *testing.B) {
	b.Run("cached", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := LayoutOf[withAll](); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("scalar", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := LayoutOf[float64](); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("uncached", func(b *testing.B) {
		// compute alone, as on the first call for a type whose nested
		// types are already cached.
		typ := reflect.TypeFor[withAll]()
		b.ReportAllocs()
		for b.Loop() {
			if e := compute(typ); e.err != nil {
				b.Fatal(e.err)
			}
		}
	})
}

// TestErrorsAreInvalid: a type that cannot be shared and an unknown code
// are invalid arguments, as every package of shmkit says them.
func TestErrorsAreInvalid(t *testing.T) {
	_, err := LayoutOf[*int]()
	if !errors.Is(err, ErrNotPlain) || !errors.Is(err, errs.Invalid) {
		t.Errorf("LayoutOf[*int]: %v, want ErrNotPlain and the invalid-argument condition", err)
	}
	_, err = ParseCode("z")
	if !errors.Is(err, ErrUnknownCode) || !errors.Is(err, errs.Invalid) {
		t.Errorf("ParseCode(z): %v, want ErrUnknownCode and the invalid-argument condition", err)
	}
}

package ctypes

import (
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"sync"
)

// Layout describes how a plain type lies in memory. Two types with equal
// layouts can read each other's bytes; names play no part (see Shape).
type Layout struct {
	Size  uintptr // bytes, trailing padding included (unsafe.Sizeof)
	Align uintptr // alignment in bytes (unsafe.Alignof)
	Code  Code    // the type code of a scalar type (see CodeFor), else 0

	// Shape is the canonical description of the memory shape, in the
	// grammar of the package doc: "struct{0:i32,8:f64}#16".
	Shape string

	// Fingerprint is the FNV-1a 64-bit hash of Shape. Shared objects store
	// it to recognise their element type when attached.
	Fingerprint uint64
}

// maxShownShape bounds the Shape printed by Layout.String, which ends up in
// error messages.
const maxShownShape = 200

// String describes l for people, as in
// "struct{0:i32,8:f64}#16 (16 bytes, align 8, fingerprint 0x78178ef87c09acaa)".
// A long Shape is shortened.
func (l Layout) String() string {
	shape := l.Shape
	if len(shape) > maxShownShape {
		shape = shape[:maxShownShape] + "..."
	}
	return fmt.Sprintf("%s (%d bytes, align %d, fingerprint %#016x)", shape, l.Size, l.Align, l.Fingerprint)
}

// LayoutOf returns the layout of T, or a *NotPlainError if T cannot live in
// shared memory. Results are cached per type: after the first call for a
// type, LayoutOf costs a map look-up and does not allocate.
func LayoutOf[T any]() (Layout, error) {
	return LayoutFor(reflect.TypeFor[T]())
}

// LayoutFor is LayoutOf for a reflect.Type. A nil t is not plain.
func LayoutFor(t reflect.Type) (Layout, error) {
	if t == nil {
		return Layout{}, &NotPlainError{Path: "nil", Kind: "interface"}
	}
	e := lookup(t)
	if e.err != nil {
		return Layout{}, e.errorFor(t)
	}
	return e.layout, nil
}

// CheckPlain returns nil if t can live in shared memory, else a
// *NotPlainError naming the first field, in declaration order, that cannot.
func CheckPlain(t reflect.Type) error {
	_, err := LayoutFor(t)
	return err
}

// Check is CheckPlain for T.
func Check[T any]() error {
	return CheckPlain(reflect.TypeFor[T]())
}

// entry is what the cache holds for one type: its layout, or why it is not
// plain. err.Path is relative to the type ("" for the type itself,
// ".Lines[].Name" for a field), so that an entry serves every type that
// contains this one.
type entry struct {
	layout Layout
	err    *NotPlainError
}

// errorFor returns e's error with its path completed for the top-level type t.
func (e *entry) errorFor(t reflect.Type) *NotPlainError {
	// A named type goes by its bare name (Order), an unnamed one by its
	// literal ([]int); unsafe.Pointer keeps its package so as not to read
	// as a pointer type named Pointer.
	name := t.Name()
	if name == "" || t.PkgPath() == "unsafe" {
		name = t.String()
	}
	return &NotPlainError{Path: name + e.err.Path, Kind: e.err.Kind}
}

// cache maps reflect.Type to *entry, for every type LayoutFor has seen,
// nested types included; a type's entry never changes once stored.
var cache sync.Map

// lookup returns t's entry, computing and storing it on first use. The walk
// recurses once per level of type nesting, not per array element or per
// repeated field, and nested types come from the cache.
func lookup(t reflect.Type) *entry {
	if e, ok := cache.Load(t); ok {
		return e.(*entry)
	}
	e := compute(t)
	actual, _ := cache.LoadOrStore(t, e)
	return actual.(*entry)
}

// notPlain maps the kinds that cannot live in shared memory to the name an
// error gives them.
var notPlain = map[reflect.Kind]string{
	reflect.Pointer:       "pointer",
	reflect.UnsafePointer: "unsafe.Pointer",
	reflect.Uintptr:       "uintptr",
	reflect.String:        "string",
	reflect.Slice:         "slice",
	reflect.Map:           "map",
	reflect.Interface:     "interface",
	reflect.Chan:          "chan",
	reflect.Func:          "func",
}

// scalarShape is the Shape of each plain scalar kind but int and uint, whose
// shape follows their size.
var scalarShape = map[reflect.Kind]string{
	reflect.Bool:       "bool",
	reflect.Int8:       "i8",
	reflect.Int16:      "i16",
	reflect.Int32:      "i32",
	reflect.Int64:      "i64",
	reflect.Uint8:      "u8",
	reflect.Uint16:     "u16",
	reflect.Uint32:     "u32",
	reflect.Uint64:     "u64",
	reflect.Float32:    "f32",
	reflect.Float64:    "f64",
	reflect.Complex64:  "c64",
	reflect.Complex128: "c128",
}

func compute(t reflect.Type) *entry {
	var shape string
	switch k := t.Kind(); k {
	case reflect.Int:
		shape = "i" + strconv.Itoa(int(t.Size())*8)
	case reflect.Uint:
		shape = "u" + strconv.Itoa(int(t.Size())*8)
	case reflect.Array:
		el := lookup(t.Elem())
		if el.err != nil {
			return &entry{err: &NotPlainError{Path: "[]" + el.err.Path, Kind: el.err.Kind}}
		}
		shape = "[" + strconv.Itoa(t.Len()) + "]" + inline(el.layout)
	case reflect.Struct:
		var b strings.Builder
		b.WriteString("struct{")
		for i := range t.NumField() {
			f := t.Field(i)
			fe := lookup(f.Type)
			if fe.err != nil {
				return &entry{err: &NotPlainError{Path: "." + f.Name + fe.err.Path, Kind: fe.err.Kind}}
			}
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString(strconv.FormatUint(uint64(f.Offset), 10))
			b.WriteByte(':')
			b.WriteString(inline(fe.layout))
		}
		b.WriteString("}#")
		b.WriteString(strconv.FormatUint(uint64(t.Size()), 10))
		shape = b.String()
	default:
		if name, ok := notPlain[k]; ok {
			return &entry{err: &NotPlainError{Kind: name}}
		}
		s, ok := scalarShape[k]
		if !ok {
			// A kind added to Go after this package was written: refuse it
			// rather than guess its layout.
			return &entry{err: &NotPlainError{Kind: k.String()}}
		}
		shape = s
	}
	code, _ := CodeFor(t)
	return &entry{layout: Layout{
		Size:        t.Size(),
		Align:       uintptr(t.Align()),
		Code:        code,
		Shape:       shape,
		Fingerprint: fnv1a64(shape),
	}}
}

// maxInlineShape is the longest shape written out inside another; a longer
// one is replaced by its digest, so that a Shape grows with the number of
// fields a type declares, never with how often nested types repeat.
const maxInlineShape = 256

// inline returns how l appears inside an enclosing array or struct shape.
func inline(l Layout) string {
	if len(l.Shape) <= maxInlineShape {
		return l.Shape
	}
	return fmt.Sprintf("~%016x", l.Fingerprint)
}

// fnv1a64 is hash/fnv's New64a over s, without its allocation.
func fnv1a64(s string) uint64 {
	const (
		offset64 = 14695981039346656037
		prime64  = 1099511628211
	)
	h := uint64(offset64)
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= prime64
	}
	return h
}

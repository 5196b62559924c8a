package shmap

import (
	"fmt"
	"hash/fnv"
	"reflect"

	"github.com/shmkit/shmkit/ctypes"
	"github.com/shmkit/shmkit/internal/codec"
	"github.com/shmkit/shmkit/internal/mem"
)

// Codec turns keys, values or elements that are not plain into bytes and
// back: the Codec of package ringbuffer, so that one serves a Queue and a
// Map alike. Every process must use the same one for a collection. A key's
// Codec must be deterministic (equal keys, equal bytes): keys are compared
// by their encodings.
type Codec[T any] = codec.Codec[T]

// field says how a key, a value or an element is kept: plain types of at
// most MaxItem bytes as their bytes in the slot; others encoded, in the
// table's data region, with a ref to them in the slot.
type field[T any] struct {
	size  int      // the bytes in the slot; 0: encoded
	codec Codec[T] // of an encoded field
}

// newField chooses how T is kept and gives the layout its header records:
// for an encoded T, size 0 and a fingerprint of the type. The default
// Codec of a string is its bytes, of a large plain type or a plain type of
// no bytes its bytes too, and of anything else encoding/gob.
func newField[T any]() (field[T], ctypes.Layout, error) {
	l, err := ctypes.LayoutOf[T]()
	switch {
	case err == nil && l.Size > 0 && l.Size <= MaxItem:
		return field[T]{size: int(l.Size)}, l, nil
	case err == nil:
		return field[T]{codec: rawCodec[T]{}}, ctypes.Layout{Fingerprint: l.Fingerprint}, nil
	}
	t := reflect.TypeFor[T]()
	f := fnv.New64a()
	f.Write([]byte("shmkit/shmap encoded " + t.String()))
	fl := ctypes.Layout{Fingerprint: f.Sum64()}
	if t.Kind() == reflect.String {
		return field[T]{codec: any(stringCodec{}).(Codec[T])}, fl, nil
	}
	return field[T]{codec: codec.Gob[T]{}}, fl, nil
}

// width is the bytes of the field in a slot.
func (f *field[T]) width() int {
	if f.size > 0 {
		return f.size
	}
	return 8
}

// bytes is what is stored of *v: its bytes when plain, its encoding
// otherwise. A plain v's bytes alias it.
func (f *field[T]) bytes(v *T) ([]byte, error) {
	if f.size > 0 {
		return mem.Bytes(v), nil
	}
	return f.encode(*v)
}

func (f *field[T]) encode(v T) ([]byte, error) {
	b, err := f.codec.Append(nil, &v)
	if err != nil {
		return nil, fmt.Errorf("encoding a %v: %w", reflect.TypeFor[T](), err)
	}
	if len(b) > MaxEncoded {
		return nil, fmt.Errorf("%w: a %v of %d encoded bytes (at most %d)", ErrInvalid, reflect.TypeFor[T](), len(b), MaxEncoded)
	}
	return b, nil
}

// need is the data bytes b takes: none when plain.
func (f *field[T]) need(b []byte) int {
	if f.size > 0 {
		return 0
	}
	return len(b)
}

// load sets *v from b, what bytes stored.
func (f *field[T]) load(b []byte, v *T) error {
	if f.size > 0 {
		copy(mem.Bytes(v), b)
		return nil
	}
	if err := f.codec.Decode(b, v); err != nil {
		return fmt.Errorf("decoding a %v: %w", reflect.TypeFor[T](), err)
	}
	return nil
}

// byAddress reports whether t holds pointers or channels, whose equality
// is their address, which no encoding keeps: such a key is refused.
func byAddress(t reflect.Type) bool {
	switch t.Kind() {
	case reflect.Pointer, reflect.UnsafePointer, reflect.Chan:
		return true
	case reflect.Array:
		return byAddress(t.Elem())
	case reflect.Struct:
		for i := range t.NumField() {
			if byAddress(t.Field(i).Type) {
				return true
			}
		}
	}
	return false
}

// stringCodec keeps a string as its bytes.
type stringCodec struct{}

func (stringCodec) Append(b []byte, v *string) ([]byte, error) { return append(b, *v...), nil }
func (stringCodec) Decode(b []byte, v *string) error           { *v = string(b); return nil }

// rawCodec keeps a plain type as its bytes.
type rawCodec[T any] struct{}

func (rawCodec[T]) Append(b []byte, v *T) ([]byte, error) { return append(b, mem.Bytes(v)...), nil }

func (rawCodec[T]) Decode(b []byte, v *T) error {
	p := mem.Bytes(v)
	if len(b) != len(p) {
		return fmt.Errorf("%w: %d bytes for a %d-byte %v", ErrCorrupt, len(b), len(p), reflect.TypeFor[T]())
	}
	copy(p, b)
	return nil
}

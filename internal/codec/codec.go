// Package codec is how messages, keys and values that are not plain data
// become bytes in shared memory and back: the Codec interface and its
// default, Gob. Package ringbuffer and package shmap export them under
// their own names (ringbuffer.Codec, shmap.Codec) as the same types.
package codec

import (
	"bytes"
	"encoding/gob"
)

// Codec turns values of T into bytes and back. Both methods may be called
// from many goroutines at once.
type Codec[T any] interface {
	// Append appends the encoding of *v to b.
	Append(b []byte, v *T) ([]byte, error)
	// Decode sets *v from b, which Append produced (in any process).
	Decode(b []byte, v *T) error
}

// Gob is the default Codec: encoding/gob, one self-contained stream per
// value (so any process can decode any value). Shared objects of shmkit in
// T travel as handles (they implement encoding.BinaryMarshaler).
type Gob[T any] struct{}

// Append encodes *v with a new gob.Encoder.
func (Gob[T]) Append(b []byte, v *T) ([]byte, error) {
	buf := bytes.NewBuffer(b)
	if err := gob.NewEncoder(buf).Encode(v); err != nil {
		return b, err
	}
	return buf.Bytes(), nil
}

// Decode decodes b with a new gob.Decoder.
func (Gob[T]) Decode(b []byte, v *T) error { return gob.NewDecoder(bytes.NewReader(b)).Decode(v) }

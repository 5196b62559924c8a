// Package share is what package value and package array have in common:
// the header at the start of their payload, which says what they hold, and
// the Mutex beside them (Python's get_lock()).
//
// The header, 64 bytes at payload offset 0 (little endian):
//
//	offset  size  field
//	0       1     ctypes code of the element type, 0 when it has none (a struct)
//	1       3     zero
//	4       4     element size in bytes
//	8       4     flags: bit 0 set when the object has a lock
//	12      4     zero
//	16      8     payload offset of the lock (a semaphore.Mutex in the same segment), 0 without
//	24      8     block generation of the lock
//	32      8     number of elements (1 for a Value)
//	40      8     write sequence (Value only; see package value)
//	48      16    zero
//
// The elements follow at offset 64 (DataOffset).
package share

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"reflect"

	"github.com/shmkit/shmkit/ctypes"
	"github.com/shmkit/shmkit/internal/mem"
	"github.com/shmkit/shmkit/semaphore"
	"github.com/shmkit/shmkit/shm"
)

// Offsets in the header.
const (
	offCode     = 0
	offElemSize = 4
	offFlags    = 8
	offLock     = 16
	offLockGen  = 24
	offLen      = 32
	OffSeq      = 40
	// DataOffset is where the elements start, from the payload's start.
	DataOffset = 64

	flagLocked = 1
)

var le = binary.LittleEndian

// ErrHeader is wrapped by every complaint about a header.
var ErrHeader = errors.New("bad header")

// Header is what the header says.
type Header struct {
	Code     ctypes.Code
	ElemSize uint32
	Locked   bool
	Len      uint64
	lockOff  uint64
	lockGen  uint64
}

// Encode writes h as the first 64 bytes of b, the write sequence 0 and the
// reserved bytes zero.
func (h Header) Encode(b []byte) {
	clear(b[:DataOffset])
	b[offCode] = byte(h.Code)
	le.PutUint32(b[offElemSize:], h.ElemSize)
	if h.Locked {
		le.PutUint32(b[offFlags:], flagLocked)
	}
	le.PutUint64(b[offLock:], h.lockOff)
	le.PutUint64(b[offLockGen:], h.lockGen)
	le.PutUint64(b[offLen:], h.Len)
}

// Decode reads and checks the header at the start of b: reserved bytes
// zero, known flags, a lock reference exactly when locked, and elements
// that fit in b.
func Decode(b []byte) (Header, error) {
	if len(b) < DataOffset {
		return Header{}, fmt.Errorf("%w: payload of %d bytes", ErrHeader, len(b))
	}
	h := Header{
		Code:     ctypes.Code(b[offCode]),
		ElemSize: le.Uint32(b[offElemSize:]),
		Locked:   le.Uint32(b[offFlags:])&flagLocked != 0,
		lockOff:  le.Uint64(b[offLock:]),
		lockGen:  le.Uint64(b[offLockGen:]),
		Len:      le.Uint64(b[offLen:]),
	}
	for _, r := range [][]byte{b[1:4], b[12:16], b[48:64]} {
		for _, c := range r {
			if c != 0 {
				return Header{}, fmt.Errorf("%w: reserved bytes are not zero", ErrHeader)
			}
		}
	}
	switch {
	case le.Uint32(b[offFlags:])&^flagLocked != 0:
		return Header{}, fmt.Errorf("%w: unknown flags %#x", ErrHeader, le.Uint32(b[offFlags:]))
	case h.Locked != (h.lockOff != 0) || (h.lockOff == 0) != (h.lockGen == 0):
		return Header{}, fmt.Errorf("%w: lock reference %d/%d with flags %#x", ErrHeader, h.lockOff, h.lockGen, le.Uint32(b[offFlags:]))
	case h.Code != 0 && !h.Code.Valid():
		return Header{}, fmt.Errorf("%w: type code %#x", ErrHeader, byte(h.Code))
	case h.ElemSize == 0 && h.Len != 0:
		return Header{}, fmt.Errorf("%w: %d elements of 0 bytes", ErrHeader, h.Len)
	case h.ElemSize != 0 && h.Len > uint64(len(b)-DataOffset)/uint64(h.ElemSize):
		return Header{}, fmt.Errorf("%w: %d elements of %d bytes in %d bytes", ErrHeader, h.Len, h.ElemSize, len(b))
	}
	return h, nil
}

// Seq is the write sequence word of a payload.
func Seq(b []byte) *uint64 { return mem.Uint64(b, OffSeq) }

// Make places an object of kind k holding n elements of layout l in
// dataSize bytes after the header, with a lock beside it when locked, and
// runs init on its data (zeroed) before any other process can see it.
func Make(k shm.Kind, l ctypes.Layout, n, dataSize uint64, locked bool, init func(data []byte) error,
	opts []shm.Option) (*shm.Object, *semaphore.Mutex, error) {
	var mu *semaphore.Mutex
	sp := shm.Spec{Kind: k, Fingerprint: l.Fingerprint, Size: DataOffset + max(dataSize, 1)}
	o, err := shm.PlaceObject(sp, func(o *shm.Object) error {
		h := Header{Code: l.Code, ElemSize: uint32(l.Size), Len: n, Locked: locked}
		if locked {
			var err error
			if mu, err = semaphore.NewMutex(shm.In(o.Segment(), "")); err != nil {
				return fmt.Errorf("making its lock: %w", err)
			}
			lh := mu.Handle()
			h.lockOff, h.lockGen = lh.Offset, lh.Generation
		}
		b := o.Bytes()
		h.Encode(b)
		if init != nil {
			if err := init(b[DataOffset:]); err != nil {
				if mu != nil {
					mu.Free()
				}
				return err
			}
		}
		return nil
	}, opts...)
	if err != nil {
		return nil, nil, err
	}
	return o, mu, nil
}

// Attach checks that o's header describes elements of layout l, and
// attaches to its lock.
func Attach(o *shm.Object, l ctypes.Layout) (Header, *semaphore.Mutex, error) {
	b := o.Bytes()
	h, err := Decode(b)
	if err != nil {
		return h, nil, err
	}
	if h.Code != l.Code || uint64(h.ElemSize) != uint64(l.Size) {
		return h, nil, fmt.Errorf("%w: holds %d-byte elements of code %v, not %d-byte %v",
			shm.ErrLayout, h.ElemSize, h.Code, l.Size, l.Code)
	}
	if !h.Locked {
		return h, nil, nil
	}
	mu, err := semaphore.OpenMutexAt(o.Segment(), h.lockOff, h.lockGen)
	if err != nil {
		return h, nil, fmt.Errorf("attaching its lock: %w", err)
	}
	return h, mu, nil
}

// LayoutOf is T's layout, for a share of kind k: T must be plain (the
// error names the offending field) and not of size 0 (invalid).
func LayoutOf[T any](k shm.Kind, invalid error) (ctypes.Layout, error) {
	l, err := ctypes.LayoutOf[T]()
	if err != nil {
		return l, fmt.Errorf("%v: %w", k, err)
	}
	if l.Size == 0 {
		return l, fmt.Errorf("%w: %s has size 0", invalid, reflect.TypeFor[T]())
	}
	return l, nil
}

// Find opens the object called name in seg: of kind k, holding elements of
// layout l (shm.ErrKind and shm.ErrLayout otherwise).
func Find(ctx context.Context, seg *shm.Segment, name string, k shm.Kind, l ctypes.Layout, invalid error) (*shm.Object, error) {
	if seg == nil {
		return nil, fmt.Errorf("%w: nil segment", invalid)
	}
	o, err := seg.Find(ctx, name, shm.Spec{Kind: k, Fingerprint: l.Fingerprint})
	if err != nil {
		return nil, fmt.Errorf("opening %v %q: %w", k, name, err)
	}
	return o, nil
}

// Resolve decodes the handle in b and attaches to the object it names,
// which must be of kind k and hold elements of layout l.
func Resolve(b []byte, k shm.Kind, l ctypes.Layout) (*shm.Object, error) {
	var h shm.Handle
	if err := h.UnmarshalBinary(b); err != nil {
		return nil, err
	}
	if h.Kind != k {
		return nil, fmt.Errorf("%v: handle names a %v: %w", k, h.Kind, shm.ErrKind)
	}
	if h.Fingerprint != l.Fingerprint {
		return nil, fmt.Errorf("%v: handle names elements of layout %#016x, not %v: %w", k, h.Fingerprint, l, shm.ErrLayout)
	}
	o, err := shm.Resolve(h)
	if err != nil {
		return nil, fmt.Errorf("resolving %v: %w", k, err)
	}
	return o, nil
}

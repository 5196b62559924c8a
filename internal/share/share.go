// Package share is what package value and package array have in common:
// the header at the start of their payload, which says what they hold and
// where their lock lies (Python's get_lock(): a semaphore.Mutex, which
// value and array make and attach themselves).
//
// The header, 64 bytes at payload offset 0 (little endian):
//
//	offset  size  field
//	0       1     ctypes code of the element type, 0 when it has none (a struct)
//	1       3     zero
//	4       4     element size in bytes
//	8       4     flags: bit 0 set when the object has a lock; bit 1 when
//	              that lock is the caller's, shared with other objects (not freed with it)
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
	"encoding/binary"
	"fmt"
	"reflect"

	"github.com/shmkit/shmkit/ctypes"
	"github.com/shmkit/shmkit/internal/errs"
	"github.com/shmkit/shmkit/internal/mem"
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
	flagShared = 2 // the lock is the caller's (Python's lock=): Free leaves it
)

var le = binary.LittleEndian

// ErrHeader is wrapped by every complaint about a header. It matches
// shm.ErrCorrupt: no shmkit process writes a bad header.
var ErrHeader error = &headerError{}

type headerError struct{}

func (*headerError) Error() string { return "bad header: " + errs.ErrCorrupt.Error() }
func (*headerError) Unwrap() error { return errs.ErrCorrupt }

// Header is what the header says.
type Header struct {
	Code     ctypes.Code // of the element type, 0 when it has none (a struct)
	ElemSize uint32      // in bytes
	Locked   bool        // the object has a lock
	// SharedLock: the lock was given by the caller and may guard other
	// objects too; freeing the object leaves it.
	SharedLock bool
	Len        uint64 // number of elements, 1 for a Value
	// LockOffset and LockGeneration place the lock (a semaphore.Mutex) in
	// the object's segment: its payload offset and block generation, the
	// Offset and Generation of its shm.Handle. Zero without a lock.
	LockOffset, LockGeneration uint64
}

// Encode writes h as the first 64 bytes of b, the write sequence 0 and the
// reserved bytes zero.
func (h Header) Encode(b []byte) {
	clear(b[:DataOffset])
	b[offCode] = byte(h.Code)
	le.PutUint32(b[offElemSize:], h.ElemSize)
	var flags uint32
	if h.Locked {
		flags |= flagLocked
	}
	if h.SharedLock {
		flags |= flagShared
	}
	le.PutUint32(b[offFlags:], flags)
	le.PutUint64(b[offLock:], h.LockOffset)
	le.PutUint64(b[offLockGen:], h.LockGeneration)
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
		Code:       ctypes.Code(b[offCode]),
		ElemSize:   le.Uint32(b[offElemSize:]),
		Locked:     le.Uint32(b[offFlags:])&flagLocked != 0,
		SharedLock: le.Uint32(b[offFlags:])&flagShared != 0,
		Len:        le.Uint64(b[offLen:]),

		LockOffset:     le.Uint64(b[offLock:]),
		LockGeneration: le.Uint64(b[offLockGen:]),
	}
	for _, r := range [][]byte{b[1:4], b[12:16], b[48:64]} {
		for _, c := range r {
			if c != 0 {
				return Header{}, fmt.Errorf("%w: reserved bytes are not zero", ErrHeader)
			}
		}
	}
	switch {
	case le.Uint32(b[offFlags:])&^(flagLocked|flagShared) != 0, h.SharedLock && !h.Locked:
		return Header{}, fmt.Errorf("%w: unknown flags %#x", ErrHeader, le.Uint32(b[offFlags:]))
	case h.Locked != (h.LockOffset != 0) || (h.LockOffset == 0) != (h.LockGeneration == 0):
		return Header{}, fmt.Errorf("%w: lock reference %d/%d with flags %#x", ErrHeader, h.LockOffset, h.LockGeneration, le.Uint32(b[offFlags:]))
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
// dataSize bytes after the header, and runs init on it before any other
// process can see it: init gets the object (its data, zeroed, follows the
// header at DataOffset) and the header to write, in which it records the
// lock it made, if any.
func Make(k shm.Kind, l ctypes.Layout, n, dataSize uint64, init func(o *shm.Object, h *Header) error,
	opts []shm.Option) (*shm.Object, error) {
	sp := shm.Spec{Kind: k, Fingerprint: l.Fingerprint, Size: DataOffset + max(dataSize, 1)}
	return shm.PlaceObject(sp, func(o *shm.Object) error {
		h := Header{Code: l.Code, ElemSize: uint32(l.Size), Len: n}
		if err := init(o, &h); err != nil {
			return err
		}
		h.Encode(o.Bytes())
		return nil
	}, opts...)
}

// SetLock records in h the lock whose handle is lh, in the object's
// segment.
func (h *Header) SetLock(lh shm.Handle) {
	h.Locked, h.LockOffset, h.LockGeneration = true, lh.Offset, lh.Generation
}

// Spec is what a typed open of an object of kind k holding elements of
// layout l, with at least dataSize bytes of data, looks for
// (shm.Segment.Find, shm.Unmarshal).
func Spec(k shm.Kind, l ctypes.Layout, dataSize uint64) shm.Spec {
	return shm.Spec{Kind: k, Fingerprint: l.Fingerprint, Size: DataOffset + dataSize}
}

// Attach reads and checks the header of o, which must describe elements of
// layout l.
func Attach(o *shm.Object, l ctypes.Layout) (Header, error) {
	h, err := Decode(o.Bytes())
	if err != nil {
		return h, err
	}
	if h.Code != l.Code || uint64(h.ElemSize) != uint64(l.Size) {
		return h, fmt.Errorf("%w: holds %d-byte elements of code %v, not %d-byte %v",
			shm.ErrLayout, h.ElemSize, h.Code, l.Size, l.Code)
	}
	return h, nil
}

// LayoutOf is T's layout, for an object holding T's: T must be plain (the
// error names the offending field) and not of size 0. Both errors match
// shm.ErrInvalid.
func LayoutOf[T any]() (ctypes.Layout, error) {
	l, err := ctypes.LayoutOf[T]()
	if err != nil {
		return l, err
	}
	if l.Size == 0 {
		return l, fmt.Errorf("%w: %s has size 0", shm.ErrInvalid, reflect.TypeFor[T]())
	}
	return l, nil
}

// InLockSegment places an object beside the caller's lock lk (a Mutex's
// handle), as its header can only name a lock in its own segment: in the
// lock's segment when opts place it nowhere (the default heap), and
// ErrInvalid when they place it in another segment.
func InLockSegment(lk shm.Handle, opts []shm.Option) ([]shm.Option, error) {
	seg, name := shm.Placement(opts...)
	if seg != nil {
		if seg.ID() != lk.Segment {
			return nil, fmt.Errorf("%w: the lock lives in another segment than the one the object is placed in", errs.ErrInvalid)
		}
		return opts, nil
	}
	o, err := shm.Resolve(lk)
	if err != nil {
		return nil, fmt.Errorf("finding the lock: %w", err)
	}
	return []shm.Option{shm.In(o.Segment(), name)}, nil
}

// Lock fills in h's lock for an object being made in o: none unless
// locked; shared, the caller's, when not nil; else a new one made by
// newMutex in o's segment. It returns the lock.
func Lock[M interface{ Handle() shm.Handle }](o *shm.Object, h *Header, locked bool, shared M,
	newMutex func(...shm.Option) (M, error)) (M, error) {
	var mu M
	if !locked {
		return mu, nil
	}
	if any(shared) != any(mu) {
		h.SetLock(shared.Handle())
		h.SharedLock = true
		return shared, nil
	}
	mu, err := newMutex(shm.In(o.Segment(), ""))
	if err != nil {
		return mu, fmt.Errorf("making its lock: %w", err)
	}
	h.SetLock(mu.Handle())
	return mu, nil
}

// OwnsLock reports whether the object o, about to be freed, owns its lock
// (it made it), rather than sharing the caller's.
func OwnsLock(o *shm.Object) bool {
	h, err := Decode(o.Bytes())
	return err == nil && h.Locked && !h.SharedLock
}

// LockMetrics is the shm.MetricsFunc of a Value or an Array: the metrics
// of its lock, which open (semaphore.OpenMutexAt) attaches to, under the
// lock's own names; none without a lock. A header that does not hold
// together is ErrHeader.
func LockMetrics[M interface {
	Handle() shm.Handle
	Close() error
}](o *shm.Object, open func(seg *shm.Segment, off, gen uint64) (M, error)) ([]shm.Metric, error) {
	h, err := Decode(o.Bytes())
	if err != nil {
		return nil, err
	}
	if !h.Locked {
		return []shm.Metric{}, nil
	}
	mu, err := open(o.Segment(), h.LockOffset, h.LockGeneration)
	if err != nil {
		return nil, fmt.Errorf("attaching its lock: %w", err)
	}
	defer mu.Close()
	lo, err := o.Segment().Attach(mu.Handle())
	if err != nil {
		return nil, fmt.Errorf("attaching its lock: %w", err)
	}
	return shm.Metrics(lo)
}

package shm

import (
	"context"
	"fmt"
	"hash/crc32"
)

// Handle names one shared object: the segment it lives in, where, what kind
// and what layout. It is what crosses a process boundary: encode it with
// MarshalBinary, decode it with UnmarshalBinary (which checks everything and
// never panics), and Resolve it in the other process.
type Handle struct {
	Segment     uint64 // segment identity (Segment.ID)
	Name        string // segment name, "" for an anonymous segment
	Offset      uint64 // payload offset in the segment
	Kind        Kind   // the object's kind
	Fingerprint uint64 // the object's layout fingerprint (ctypes.Layout), or 0
	Generation  uint64 // tells a freed and reused block from the original
}

// Handle encoding, version 1: doc.go draws it byte by byte.
const (
	handleMagic   = "shmH"
	handleVersion = 1
	handleFixed   = 48
)

// MarshalBinary encodes h.
func (h Handle) MarshalBinary() ([]byte, error) {
	if h.Name != "" {
		if err := checkName(h.Name, maxSegmentName); err != nil {
			return nil, fmt.Errorf("shm: %w: %v", ErrBadHandle, err)
		}
	}
	b := make([]byte, handleFixed+len(h.Name)+4)
	copy(b, handleMagic)
	b[4] = handleVersion
	b[5] = byte(len(h.Name))
	le.PutUint64(b[8:], h.Segment)
	le.PutUint64(b[16:], h.Offset)
	le.PutUint32(b[24:], uint32(h.Kind))
	le.PutUint64(b[32:], h.Fingerprint)
	le.PutUint64(b[40:], h.Generation)
	copy(b[handleFixed:], h.Name)
	n := handleFixed + len(h.Name)
	le.PutUint32(b[n:], crc32.Checksum(b[:n], castagnoli()))
	return b, nil
}

// UnmarshalBinary decodes b into h, failing with ErrBadHandle (and leaving h
// unchanged) unless b is exactly a valid encoding. An encoding of another
// handle version matches ErrVersion too.
func (h *Handle) UnmarshalBinary(b []byte) error {
	bad := func(why string, args ...any) error {
		return fmt.Errorf("shm: %w: %s", ErrBadHandle, fmt.Sprintf(why, args...))
	}
	if len(b) < handleFixed+4 {
		return bad("%d bytes, at least %d needed", len(b), handleFixed+4)
	}
	if string(b[:4]) != handleMagic {
		return bad("no handle magic")
	}
	if b[4] != handleVersion { // checked before the checksum, which another version may compute otherwise
		return fmt.Errorf("shm: %w: version %d, this build reads %d: %w", ErrBadHandle, b[4], handleVersion, ErrVersion)
	}
	n := int(b[5])
	if len(b) != handleFixed+n+4 {
		return bad("%d bytes for a name of %d", len(b), n)
	}
	if got, want := le.Uint32(b[handleFixed+n:]), crc32.Checksum(b[:handleFixed+n], castagnoli()); got != want {
		return bad("checksum %#08x, computed %#08x", got, want)
	}
	if b[6] != 0 || b[7] != 0 || le.Uint32(b[28:]) != 0 {
		return bad("reserved bytes are not zero")
	}
	d := Handle{
		Segment:     le.Uint64(b[8:]),
		Offset:      le.Uint64(b[16:]),
		Kind:        Kind(le.Uint32(b[24:])),
		Fingerprint: le.Uint64(b[32:]),
		Generation:  le.Uint64(b[40:]),
		Name:        string(b[handleFixed : handleFixed+n]),
	}
	switch {
	case d.Segment == 0:
		return bad("segment id 0")
	case d.Offset == 0 || d.Offset%blockAlign != 0 || d.Offset > maxSegmentSize:
		return bad("offset %d", d.Offset)
	case d.Kind == 0:
		return bad("kind 0")
	case d.Generation == 0:
		return bad("generation 0")
	}
	if n > 0 {
		if err := checkName(d.Name, maxSegmentName); err != nil {
			return bad("%v", err)
		}
	}
	*h = d
	return nil
}

// String describes h for logs and debugging: the object's kind and
// offset, its segment, its layout fingerprint and its generation.
func (h Handle) String() string {
	seg := h.Name
	if seg == "" {
		seg = fmt.Sprintf("anonymous %#x", h.Segment)
	}
	return fmt.Sprintf("%v@%d in %s (fingerprint %#016x, generation %d)", h.Kind, h.Offset, seg, h.Fingerprint, h.Generation)
}

// Resolve finds the object a handle names in this process: in a segment
// already mapped here, or, for a named segment, by opening it (it then stays
// open in this process). An anonymous segment this process does not have is
// looked for among the open files of its parent, and of theirs, up to 8
// generations (as a Pool's worker finds a segment its parent's default heap
// added after the worker started); one none of them has open is
// ErrNotMapped: map it first with FromFile. A named segment that no longer
// exists is ErrNotExist at once: a handle names what was made.
func Resolve(h Handle) (*Object, error) {
	if s := registered(h.Segment); s != nil {
		return s.Attach(h)
	}
	if h.Name == "" {
		if s := findAnonymous(h.Segment); s != nil {
			return s.Attach(h)
		}
		return nil, fmt.Errorf("shm: %w: anonymous segment %#x, open in no parent of this process", ErrNotMapped, h.Segment)
	}
	ctx, cancel := context.WithTimeout(context.Background(), readyWait)
	defer cancel()
	s, err := open(ctx, h.Name, false)
	if err != nil {
		return nil, err
	}
	if s.ID() != h.Segment {
		s.Close()
		return nil, fmt.Errorf("shm: %w: segment %q was replaced (id %#x, handle has %#x)", ErrStale, h.Name, s.ID(), h.Segment)
	}
	return s.Attach(h)
}

// Unmarshal decodes a handle (Handle.MarshalBinary's bytes, which every
// shared type's MarshalBinary writes) and attaches to the object it names,
// after checking it against sp as Segment.Find does: kind, layout
// fingerprint, least size, and that the object is still the one named.
// The UnmarshalBinary methods of every package are built on it.
func Unmarshal(b []byte, sp Spec) (*Object, error) {
	var h Handle
	if err := h.UnmarshalBinary(b); err != nil {
		return nil, err
	}
	if err := sp.match("handle's object", h.Kind, h.Fingerprint, sp.Size); err != nil {
		return nil, err
	}
	o, err := Resolve(h)
	if err != nil {
		return nil, fmt.Errorf("shm: resolving %v handle: %w", h.Kind, err)
	}
	if err := sp.match(fmt.Sprintf("%v %s", h.Kind, h), o.kind, o.fp, o.length); err != nil {
		return nil, err
	}
	return o, nil
}

package shmap

import (
	"fmt"
	"sync/atomic"

	"github.com/shmkit/shmkit/ctypes"
	"github.com/shmkit/shmkit/internal/mem"
	"github.com/shmkit/shmkit/shm"
)

// Info describes a Map or List as its header says, for tools such as
// shmctl: read without the lock, so a snapshot that may be a moment old.
type Info struct {
	Kind      shm.Kind // shm.KindMap or shm.KindList
	Parts     int      // a Map's parts, each with its lock and table; 1 for a List
	Len       int      // entries, or elements
	Slots     int      // of its table
	SlotBytes int      // of one slot of its table
	Growths   uint64   // times its table was replaced
	Encoded   bool     // keys, values or elements encoded, in a data region
	DataBytes int64    // of the data region
	DataUsed  int64    // bytes of it used, garbage included
	Garbage   int64    // bytes of overwritten or deleted encodings
}

// TableBytes is the size of the table, its data region included.
func (i Info) TableBytes() int64 { return int64(i.Slots)*int64(i.SlotBytes) + i.DataBytes }

// Stat describes the Map or List whose object o is, of any types; a Map's
// figures are the sums over its parts (Slots, and the data bytes), and
// SlotBytes the bytes of one slot.
func Stat(o *shm.Object) (Info, error) {
	in, err := stat(o)
	return in, wrap("stat", err)
}

func stat(o *shm.Object) (Info, error) {
	switch o.Kind() {
	case shm.KindList:
		return statColl(o, shm.KindList)
	case shm.KindMap:
	default:
		return Info{}, fmt.Errorf("%w: a %v is not a map or list", ErrInvalid, o.Kind())
	}
	h := o.Bytes()
	if len(h) < rootSize || le.Uint32(h) != magic || le.Uint32(h[4:]) != rootVersion ||
		le.Uint32(h[offKind:]) != uint32(shm.KindMap) || le.Uint32(h[offParts:]) != nParts {
		return Info{}, fmt.Errorf("%w: not a shmap map root", ErrCorrupt)
	}
	kl, vl := ctypes.Layout{Fingerprint: le.Uint64(h[offKeyFP:])}, ctypes.Layout{Fingerprint: le.Uint64(h[offValFP:])}
	sum := Info{Kind: shm.KindMap, Parts: nParts}
	for i := range nParts {
		ph := o.Handle()
		ph.Offset, ph.Generation = le.Uint64(h[offPart+16*i:]), le.Uint64(h[offPart+16*i+8:])
		ph.Kind, ph.Fingerprint = shm.KindShard, fingerprint(shm.KindShard, kl, vl)
		po, err := shm.Resolve(ph)
		if err != nil {
			return Info{}, fmt.Errorf("the map's part %d: %w", i, err)
		}
		in, err := statColl(po, shm.KindShard)
		if err != nil {
			return Info{}, err
		}
		sum.Len += in.Len
		sum.Slots += in.Slots
		sum.SlotBytes = in.SlotBytes
		sum.Growths += in.Growths
		sum.Encoded = in.Encoded
		sum.DataBytes += in.DataBytes
		sum.DataUsed += in.DataUsed
		sum.Garbage += in.Garbage
	}
	return sum, nil
}

// statColl describes one collection header (a List, or a part of a Map).
func statColl(o *shm.Object, kind shm.Kind) (Info, error) {
	h := o.Bytes()
	if len(h) < hdrSize || le.Uint32(h) != magic || le.Uint32(h[4:]) != version || le.Uint32(h[offKind:]) != uint32(kind) {
		return Info{}, fmt.Errorf("%w: not a shmap header", ErrCorrupt)
	}
	w := func(off int) uint64 { return atomic.LoadUint64(mem.Uint64(h, uintptr(off))) }
	in := Info{
		Kind:      o.Kind(),
		Parts:     1,
		Len:       int(w(offCount)),
		Slots:     int(w(offTable + 16)),
		SlotBytes: int(le.Uint32(h[offSlot:])),
		Growths:   w(offGrowths),
		Encoded:   le.Uint32(h[offKeySize:]) == 0 || (kind == shm.KindShard && le.Uint32(h[offValSize:]) == 0),
	}
	if in.Encoded {
		in.DataUsed, in.Garbage = int64(w(offUsed)), int64(w(offGarbage))
		hd := o.Handle()
		hd.Offset, hd.Generation, hd.Kind, hd.Fingerprint = w(offTable), w(offTable+8), shm.KindTable, 0
		if t, err := shm.Resolve(hd); err == nil && int64(len(t.Bytes())) >= int64(in.Slots)*int64(in.SlotBytes) {
			in.DataBytes = int64(len(t.Bytes())) - int64(in.Slots)*int64(in.SlotBytes)
		}
	}
	return in, nil
}

package shmap

import (
	"fmt"
	"sync/atomic"

	"github.com/shmkit/shmkit/internal/mem"
	"github.com/shmkit/shmkit/shm"
)

// Info describes a Map or List as its header says, for tools such as
// shmctl: read without the lock, so a snapshot that may be a moment old.
type Info struct {
	Kind      shm.Kind // shm.KindMap or shm.KindList
	Len       int      // entries, or elements
	Slots     int      // of its table
	SlotBytes int
	Growths   uint64 // times its table was replaced
}

// TableBytes is the size of the table.
func (i Info) TableBytes() int64 { return int64(i.Slots) * int64(i.SlotBytes) }

// Stat describes the Map or List whose object o is, of any types.
func Stat(o *shm.Object) (Info, error) {
	h := o.Bytes()
	if k := o.Kind(); k != shm.KindMap && k != shm.KindList {
		return Info{}, fmt.Errorf("%w: a %v is not a map or list", ErrInvalid, k)
	}
	if len(h) < hdrSize || le.Uint32(h) != magic || le.Uint32(h[4:]) != version || le.Uint32(h[offKind:]) != uint32(o.Kind()) {
		return Info{}, fmt.Errorf("%w: not a shmap header", ErrCorrupt)
	}
	w := func(off int) uint64 { return atomic.LoadUint64(mem.Uint64(h, uintptr(off))) }
	return Info{
		Kind:      o.Kind(),
		Len:       int(w(offCount)),
		Slots:     int(w(offTable + 16)),
		SlotBytes: int(le.Uint32(h[offSlot:])),
		Growths:   w(offGrowths),
	}, nil
}

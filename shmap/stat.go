package shmap

import (
	"fmt"
	"sync/atomic"

	"github.com/shmkit/shmkit/ctypes"
	"github.com/shmkit/shmkit/internal/mem"
	"github.com/shmkit/shmkit/semaphore"
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
	// OwnerDeaths counts the times a lock of it was taken from a holder
	// that died holding it (its semaphore.Mutex's LockStats.OwnerDeaths);
	// Stat leaves out a lock it cannot attach to.
	OwnerDeaths uint64
	// Repairs counts the operations that dead holders left half done and
	// the next holder of the lock finished or undid.
	Repairs uint64
}

// TableBytes is the size of the table, its data region included.
func (i Info) TableBytes() int64 { return int64(i.Slots)*int64(i.SlotBytes) + i.DataBytes }

// Stat describes the Map or List whose object o is, of any types; a Map's
// figures are the sums over its parts (Slots, and the data bytes), and
// SlotBytes the bytes of one slot.
func Stat(o *shm.Object) (Info, error) {
	in, err := stat(o, false)
	return in, wrap("stat", err)
}

// stat is Stat; strict, it fails with ErrCorrupt when a lock cannot be
// attached to, where Stat leaves its OwnerDeaths 0.
func stat(o *shm.Object, strict bool) (Info, error) {
	switch o.Kind() {
	case shm.KindList:
		return statColl(o, shm.KindList, strict)
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
		in, err := statColl(po, shm.KindShard, strict)
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
		sum.OwnerDeaths += in.OwnerDeaths
		sum.Repairs += in.Repairs
	}
	return sum, nil
}

// statColl describes one collection header (a List, or a part of a Map).
func statColl(o *shm.Object, kind shm.Kind, strict bool) (Info, error) {
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
		Repairs:   w(offRepairs),
		Encoded:   le.Uint32(h[offKeySize:]) == 0 || (kind == shm.KindShard && le.Uint32(h[offValSize:]) == 0),
	}
	if mu, err := semaphore.OpenMutexAt(o.Segment(), w(offLock), w(offLock+8)); err == nil {
		in.OwnerDeaths = mu.Stats().OwnerDeaths
		mu.Close()
	} else if strict {
		return Info{}, fmt.Errorf("%w: its lock: %w", ErrCorrupt, err)
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

// MapStats are the counters of a Map, summed over its parts: what
// shm.Metrics reads from a map too, in this order, under the names len,
// growths, garbage, owner_deaths and repairs. Len and Garbage are levels
// (gauges); the others count events since the map was made.
type MapStats struct {
	// Len is the number of entries.
	Len uint64
	// Growths counts the times a table was replaced by a larger one.
	Growths uint64
	// Garbage is the bytes of overwritten or deleted encodings, dropped at
	// the next growth of their part.
	Garbage uint64
	// OwnerDeaths counts the times a part's lock was taken from a holder
	// that died holding it.
	OwnerDeaths uint64
	// Repairs counts the operations that dead holders left half done, and
	// the next holder of the lock finished or undid.
	Repairs uint64
}

// ListStats are the counters of a List, as MapStats are a Map's: Len is
// its length.
type ListStats MapStats

// statsOf reads the counters of the Map or List o, of any types.
func statsOf(o *shm.Object) (MapStats, error) {
	in, err := stat(o, true)
	if err != nil {
		return MapStats{}, err
	}
	return MapStats{Len: uint64(in.Len), Growths: in.Growths, Garbage: uint64(in.Garbage),
		OwnerDeaths: in.OwnerDeaths, Repairs: in.Repairs}, nil
}

// Stats reads m's counters, without taking its locks: a snapshot that may
// be a moment old.
func (m *Map[K, V]) Stats() (MapStats, error) {
	if err := m.usable(); err != nil {
		return MapStats{}, wrap("stats", err)
	}
	st, err := statsOf(m.root)
	return st, wrap("stats", err)
}

// Stats reads l's counters, without taking its lock: a snapshot that may
// be a moment old.
func (l *List[T]) Stats() (ListStats, error) {
	if err := l.usable(); err != nil {
		return ListStats{}, wrap("stats", err)
	}
	st, err := statsOf(l.c.o)
	return ListStats(st), wrap("stats", err)
}

// metrics is the shm.MetricsFunc of maps and lists.
func metrics(o *shm.Object) ([]shm.Metric, error) {
	st, err := statsOf(o)
	if err != nil {
		return nil, wrap("metrics", err)
	}
	return []shm.Metric{
		{Name: "len", Help: "entries, or elements", Value: st.Len, Gauge: true},
		{Name: "growths", Help: "tables replaced by larger ones", Value: st.Growths},
		{Name: "garbage", Help: "bytes of overwritten or deleted encodings, dropped at the next growth", Value: st.Garbage, Gauge: true},
		{Name: "owner_deaths", Help: "locks taken from a holder that died holding it", Value: st.OwnerDeaths},
		{Name: "repairs", Help: "operations of dead holders finished or undone by the next", Value: st.Repairs},
	}, nil
}

func init() {
	shm.RegisterMetrics(shm.KindMap, metrics)
	shm.RegisterMetrics(shm.KindList, metrics)
}

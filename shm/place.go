package shm

import (
	"errors"
	"fmt"
	"sync"
)

// Option places a shared object. Constructors in shmkit's other packages
// take Options; without one they use the process's default heap.
type Option func(*placement)

type placement struct {
	seg  *Segment
	name string
}

// In places an object in seg under name, so that other processes can find
// it with the package's Open function. An empty name places it in seg
// unnamed, reachable only through its Handle.
func In(seg *Segment, name string) Option {
	return func(p *placement) { p.seg, p.name = seg, name }
}

// Placement reports where opts would place an object: the segment and name
// given with In, or a nil segment for the default heap.
func Placement(opts ...Option) (seg *Segment, name string) {
	var p placement
	for _, o := range opts {
		o(&p)
	}
	return p.seg, p.name
}

// Place makes the memory for a new object as opts say, and runs init on it
// (zeroed) before any other process can find it. If init fails, the memory
// is given back. Constructors of shared types are built on Place.
func Place(sp Spec, init func(b []byte) error, opts ...Option) (*Object, error) {
	return PlaceObject(sp, func(o *Object) error {
		if init == nil {
			return nil
		}
		return init(o.Bytes())
	}, opts...)
}

// PlaceObject is Place for constructors whose init needs the object itself
// (its segment, to place a companion object beside it).
func PlaceObject(sp Spec, init func(o *Object) error, opts ...Option) (*Object, error) {
	var p placement
	p.seg, p.name = Placement(opts...)
	var (
		o   *Object
		err error
	)
	switch {
	case p.seg == nil:
		o, err = DefaultHeap().Alloc(sp)
	case p.name == "":
		o, err = p.seg.Alloc(sp)
	default:
		o, err = p.seg.Reserve(p.name, sp)
	}
	if err != nil {
		return nil, err
	}
	if init != nil {
		if err := init(o); err != nil {
			o.Free()
			return nil, err
		}
	}
	if err := o.Publish(); err != nil {
		o.Free()
		return nil, err
	}
	return o, nil
}

// Heap is a growing set of anonymous segments that objects placed without
// a segment live in. Children started through package process inherit the
// default heap's segments, so objects in it are shared with them.
type Heap struct {
	mu   sync.Mutex
	segs []*Segment
}

var defaultHeap Heap

// DefaultHeap is the process's default heap.
func DefaultHeap() *Heap { return &defaultHeap }

const heapChunk = 4 << 20

// Alloc places an unnamed object in the heap, adding a segment when none
// has room.
func (h *Heap) Alloc(sp Spec) (*Object, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for i := len(h.segs) - 1; i >= 0; i-- {
		o, err := h.segs[i].Alloc(sp)
		if err == nil || !errors.Is(err, ErrFull) {
			return o, err
		}
	}
	size := int64(heapChunk) << min(len(h.segs), 8)
	for uint64(size) < sp.Size+heapChunk/4 {
		size *= 2
	}
	if uint64(size) > maxSegmentSize {
		return nil, fmt.Errorf("shm: %w: object of %d bytes", ErrSize, sp.Size)
	}
	seg, err := Anonymous(size)
	if err != nil {
		return nil, fmt.Errorf("growing the default heap: %w", err)
	}
	h.segs = append(h.segs, seg)
	return seg.Alloc(sp)
}

// Segments are the heap's segments, oldest first.
func (h *Heap) Segments() []*Segment {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]*Segment(nil), h.segs...)
}

// Add makes seg part of the heap, as a child does with the segments it
// inherited from its parent.
func (h *Heap) Add(seg *Segment) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.segs = append(h.segs, seg)
}

// Close closes (unmaps) every segment of the heap and empties it; the heap
// grows again on the next Alloc. Every object that lived in it becomes
// unusable in this process, and children that inherited the segments keep
// their own mappings. It is for the end of a program, or of a test.
func (h *Heap) Close() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	var errs []error
	for _, s := range h.segs {
		errs = append(errs, s.Close())
	}
	h.segs = nil
	return errors.Join(errs...)
}

//go:build linux && (amd64 || arm64)

package shm

import (
	"context"
	"errors"
	"math/rand/v2"
	"sort"
	"testing"
	"time"
)

// checkHeap walks the heap and fails on any overlap, gap or bad block.
func checkHeap(t *testing.T, s *Segment) (used int) {
	t.Helper()
	next := s.h.heapOff
	err := s.walk(func(off uint64, k block) error {
		if off != next {
			t.Fatalf("block at %d, expected %d", off, next)
		}
		next = off + k.size
		if k.state == blockUsed {
			used++
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return used
}

func TestAllocAlignedZeroedDisjoint(t *testing.T) {
	s := mustCreate(t, 4<<20, nil)
	r := rand.New(rand.NewPCG(1, 2))
	type live struct {
		o    *Object
		fill byte
	}
	var objs []live
	for round := 0; round < 2000; round++ {
		if len(objs) > 0 && r.IntN(3) == 0 {
			i := r.IntN(len(objs))
			for _, c := range objs[i].o.Bytes() {
				if c != objs[i].fill {
					t.Fatalf("object overwritten: byte %#x, want %#x", c, objs[i].fill)
				}
			}
			if err := objs[i].o.Free(); err != nil {
				t.Fatal(err)
			}
			if err := objs[i].o.Free(); !errors.Is(err, ErrStale) {
				t.Fatalf("double Free: %v", err)
			}
			objs = append(objs[:i], objs[i+1:]...)
			continue
		}
		size := uint64(1 + r.IntN(5000))
		o, err := s.Alloc(Spec{Kind: KindBytes, Size: size})
		if errors.Is(err, ErrFull) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		b := o.Bytes()
		if uint64(len(b)) != size || o.off%64 != 0 {
			t.Fatalf("got %d bytes at offset %d", len(b), o.off)
		}
		for _, c := range b {
			if c != 0 {
				t.Fatal("allocated memory is not zeroed")
			}
		}
		fill := byte(1 + r.IntN(255))
		for i := range b {
			b[i] = fill
		}
		objs = append(objs, live{o, fill})
	}
	sort.Slice(objs, func(i, j int) bool { return objs[i].o.off < objs[j].o.off })
	for i := 1; i < len(objs); i++ {
		if objs[i-1].o.off+objs[i-1].o.length > objs[i].o.off {
			t.Fatal("blocks overlap")
		}
	}
	if used := checkHeap(t, s); used != len(objs) {
		t.Fatalf("%d used blocks, %d live objects", used, len(objs))
	}
	for _, l := range objs {
		l.o.Free()
	}
	if top, _ := s.top(); top != s.h.heapOff {
		t.Fatalf("heap top %d after freeing everything, want %d", top, s.h.heapOff)
	}
}

func TestAllocFullAndReuse(t *testing.T) {
	s := mustCreate(t, 64<<10, nil)
	var objs []*Object
	for {
		o, err := s.Alloc(Spec{Kind: KindBytes, Size: 1000})
		if errors.Is(err, ErrFull) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		objs = append(objs, o)
	}
	if len(objs) < 40 {
		t.Fatalf("only %d KiB blocks in 64 KiB", len(objs))
	}
	// Free two neighbours in the middle: their merged room fits a larger block.
	objs[10].Free()
	objs[11].Free()
	big, err := s.Alloc(Spec{Kind: KindBytes, Size: 2000})
	if err != nil {
		t.Fatalf("merged free blocks not reused: %v", err)
	}
	if big.off != objs[10].off {
		t.Fatalf("big block at %d, want %d", big.off, objs[10].off)
	}
	checkHeap(t, s)
}

func TestDirectory(t *testing.T) {
	s := mustCreate(t, 1<<20, &SegmentOptions{MaxObjects: 4})
	ctx := context.Background()
	sp := Spec{Kind: KindValue, Fingerprint: 0xfeed, Size: 24}
	o, err := s.Reserve("x", sp)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Reserve("x", sp); !errors.Is(err, ErrExist) {
		t.Fatalf("second Reserve: %v", err)
	}
	// Find waits for Publish.
	found := make(chan error, 1)
	go func() {
		f, err := s.Find(ctx, "x", sp)
		if err == nil && string(f.Bytes()[:5]) != "hello" {
			err = errors.New("found before initialized")
		}
		found <- err
	}()
	tctx, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	if _, err := s.Find(tctx, "x", sp); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Find of a reserved object: %v", err)
	}
	cancel()
	copy(o.Bytes(), "hello")
	if err := o.Publish(); err != nil {
		t.Fatal(err)
	}
	if err := <-found; err != nil {
		t.Fatal(err)
	}
	if _, err := s.Find(ctx, "x", Spec{Kind: KindQueue, Fingerprint: 0xfeed}); !errors.Is(err, ErrKind) {
		t.Fatalf("Find with another kind: %v", err)
	}
	if _, err := s.Find(ctx, "x", Spec{Kind: KindValue, Fingerprint: 1}); !errors.Is(err, ErrLayout) {
		t.Fatalf("Find with another layout: %v", err)
	}
	if _, err := s.Find(missing(t), "y", sp); !errors.Is(err, ErrNotExist) {
		t.Fatalf("Find of a missing name: %v", err)
	}
	for _, n := range []string{"a", "b", "c"} {
		if _, err := Place(sp, nil, In(s, n)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.Reserve("d", sp); !errors.Is(err, ErrFull) {
		t.Fatalf("Reserve in a full directory: %v", err)
	}
	if err := removeObj(s, "x"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Find(missing(t), "x", sp); !errors.Is(err, ErrNotExist) {
		t.Fatalf("Find after Remove: %v", err)
	}
	if _, err := Place(sp, nil, In(s, "d")); err != nil {
		t.Fatalf("Reserve after Remove: %v", err)
	}
	if used := checkHeap(t, s); used != 4 {
		t.Fatalf("%d used blocks, want 4", used)
	}
}

func TestFreeOfARemovedNameKeepsItsSuccessor(t *testing.T) {
	s := mustCreate(t, 1<<20, nil)
	sp := Spec{Kind: KindValue, Size: 8}
	old, err := Place(sp, nil, In(s, "x"))
	if err != nil {
		t.Fatal(err)
	}
	if err := removeObj(s, "x"); err != nil {
		t.Fatal(err)
	}
	if _, err := Place(sp, nil, In(s, "x")); err != nil {
		t.Fatal(err)
	}
	if err := old.Free(); !errors.Is(err, ErrStale) {
		t.Fatalf("Free of the removed object: %v", err)
	}
	// Likewise a Publish of a reservation whose name went to another.
	r, err := s.Reserve("y", sp)
	if err != nil {
		t.Fatal(err)
	}
	removeObj(s, "y")
	if _, err := s.Reserve("y", sp); err != nil {
		t.Fatal(err)
	}
	if err := r.Publish(); !errors.Is(err, ErrStale) {
		t.Fatalf("Publish of a removed reservation: %v", err)
	}
	if objs, _ := s.Objects(); objs[len(objs)-1].Name != "y" || objs[len(objs)-1].Ready {
		t.Fatalf("the new reservation was published by the old one: %+v", objs)
	}
	if _, err := s.Find(context.Background(), "x", sp); err != nil {
		t.Fatalf("the new object is gone: %v", err)
	}
}

func TestHandle(t *testing.T) {
	s := mustCreate(t, 1<<20, nil)
	o, err := Place(Spec{Kind: KindArray, Fingerprint: 42, Size: 80}, nil, In(s, "arr"))
	if err != nil {
		t.Fatal(err)
	}
	h := o.Handle()
	b, err := h.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	var d Handle
	if err := d.UnmarshalBinary(b); err != nil || d != h {
		t.Fatalf("round trip: %v %+v", err, d)
	}
	r, err := Resolve(d)
	if err != nil || r.Name() != "arr" || r.Kind() != KindArray || len(r.Bytes()) != 80 {
		t.Fatalf("Resolve: %v %+v", err, r)
	}
	// Every byte flipped, every prefix: an error, never a panic.
	for i := range b {
		c := append([]byte(nil), b...)
		c[i] ^= 0x10
		if err := d.UnmarshalBinary(c); !errors.Is(err, ErrBadHandle) {
			t.Fatalf("flipped byte %d: %v", i, err)
		}
		if err := d.UnmarshalBinary(b[:i]); !errors.Is(err, ErrBadHandle) {
			t.Fatalf("prefix of %d: %v", i, err)
		}
	}
	// A freed object's handle is stale, also once its memory is reused.
	o.Free()
	if _, err := Resolve(h); !errors.Is(err, ErrStale) {
		t.Fatalf("Resolve after Free: %v", err)
	}
	if _, err := Place(Spec{Kind: KindArray, Fingerprint: 42, Size: 80}, nil, In(s, "arr")); err != nil {
		t.Fatal(err)
	}
	if _, err := Resolve(h); !errors.Is(err, ErrStale) {
		t.Fatalf("Resolve after reuse: %v", err)
	}
	if _, err := Resolve(Handle{Segment: 12345, Offset: 64, Kind: 1, Generation: 1}); !errors.Is(err, ErrNotMapped) {
		t.Fatalf("Resolve of an unknown anonymous segment: %v", err)
	}
	wrongKind := h
	wrongKind.Kind, wrongKind.Generation = KindQueue, 0
	if _, err := s.Attach(wrongKind); err == nil {
		t.Fatal("Attach of a forged handle succeeded")
	}
}

func TestDefaultHeapGrows(t *testing.T) {
	h := &Heap{}
	defer func() {
		for _, s := range h.Segments() {
			s.Close()
		}
	}()
	for i := 0; i < 12; i++ {
		if _, err := h.Alloc(Spec{Kind: KindBytes, Size: 1 << 20}); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(h.Segments()); n < 2 {
		t.Fatalf("heap has %d segments after 12 MiB", n)
	}
	big, err := h.Alloc(Spec{Kind: KindBytes, Size: 64 << 20})
	if err != nil || len(big.Bytes()) != 64<<20 {
		t.Fatalf("large object: %v", err)
	}
	t.Cleanup(closeDefaultHeap)
	o, err := Place(Spec{Kind: KindBytes, Size: 10}, nil)
	if err != nil || o.Segment().Name() != "" {
		t.Fatalf("Place without a segment: %v", err)
	}
	o.Free()
}

//go:build linux && (amd64 || arm64)

package shm

import (
	"context"
	"testing"
)

func BenchmarkAllocFree(b *testing.B) {
	s := mustCreate(b, 16<<20, nil)
	b.ReportAllocs()
	for b.Loop() {
		o, err := s.Alloc(Spec{Kind: KindBytes, Size: 256})
		if err != nil {
			b.Fatal(err)
		}
		if err := o.Free(); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkFind(b *testing.B) {
	s := mustCreate(b, 16<<20, &SegmentOptions{MaxObjects: 256})
	sp := Spec{Kind: KindValue, Fingerprint: 1, Size: 8}
	for _, n := range []string{"a", "b", "c", "d", "e", "f", "g", "h"} {
		if _, err := Place(sp, nil, In(s, n)); err != nil {
			b.Fatal(err)
		}
	}
	// Unnamed blocks before the last one: a lookup must not walk them.
	for range 10000 {
		if _, err := s.Alloc(sp); err != nil {
			b.Fatal(err)
		}
	}
	if _, err := Place(sp, nil, In(s, "last")); err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	for _, name := range []string{"h", "last"} {
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := s.Find(ctx, name, sp); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkHandleRoundTrip(b *testing.B) {
	h := Handle{Segment: 1, Name: "orders", Offset: 4096, Kind: KindQueue, Fingerprint: 9, Generation: 3}
	b.ReportAllocs()
	for b.Loop() {
		buf, _ := h.MarshalBinary()
		var d Handle
		if err := d.UnmarshalBinary(buf); err != nil {
			b.Fatal(err)
		}
	}
}

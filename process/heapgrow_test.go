//go:build linux && (amd64 || arm64)

package process

import (
	"context"
	"testing"

	"github.com/shmkit/shmkit/shm"
	"github.com/shmkit/shmkit/value"
)

// hgAdd adds 1 to a shared value and returns what it holds then.
var hgAdd = RegisterFunc("hg.add", func(ctx context.Context, v *value.Value[int64]) (int64, error) {
	return v.Add(1), nil
})

// TestPoolObjectInHeapGrownLater: an object made in the default heap after
// the pool started, in a segment the heap added since (the workers did not
// inherit it), reaches the workers all the same: they find the segment
// among their parent's files. Python users make their Values when they
// need them, pool or no pool.
func TestPoolObjectInHeapGrownLater(t *testing.T) {
	ctx := guard(t)
	p, err := NewPool(2, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Join(ctx)
	defer p.Close()
	// Blocks of 16 MiB until the heap adds a segment (earlier tests may
	// have left room): the next object goes to the newest segment with
	// room, the one just added.
	before := len(shm.DefaultHeap().Segments())
	for len(shm.DefaultHeap().Segments()) == before {
		big, err := shm.DefaultHeap().Alloc(shm.Spec{Kind: shm.KindBytes, Size: 16 << 20})
		if err != nil {
			t.Fatal(err)
		}
		defer big.Free()
	}
	v, err := value.New[int64](0)
	if err != nil {
		t.Fatal(err)
	}
	defer v.Free()
	if now := len(shm.DefaultHeap().Segments()); now <= before || v.Handle().Segment != shm.DefaultHeap().Segments()[now-1].ID() {
		t.Fatalf("the value is not in a segment added after the pool started (%d segments before, %d now)", before, now)
	}
	got, err := Map(ctx, p, hgAdd, []*value.Value[int64]{v, v, v, v})
	if err != nil {
		t.Fatalf("Map of a value in a segment the workers did not inherit: %v", err)
	}
	if n := v.Load(); n != 4 || len(got) != 4 {
		t.Fatalf("value %d after 4 adds (results %v)", n, got)
	}
}

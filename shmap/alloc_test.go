//go:build linux && (amd64 || arm64)

package shmap

import (
	"testing"

	"github.com/shmkit/shmkit/internal/shmtest"
	"github.com/shmkit/shmkit/shm"
)

// TestMapPlainNoAllocs: Set, Get and Delete of plain keys and values
// allocate nothing. Get used to allocate its value (8 bytes a call) for
// the slow path's decoding, though the lock-free path never needs it.
func TestMapPlainNoAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	m, err := New[int64, int64](shm.In(shmtest.Seg(t), "m"))
	if err != nil {
		t.Fatal(err)
	}
	for k := range int64(100) {
		if err := m.Set(k, k); err != nil {
			t.Fatal(err)
		}
	}
	var k int64
	for what, f := range map[string]func(){
		"Set (an overwrite)": func() { m.Set(k%100, k); k++ },
		"Get (found)":        func() { m.Get(k % 100); k++ },
		"Get (absent)":       func() { m.Get(1000 + k); k++ },
		"Set, Delete":        func() { m.Set(1000, k); m.Delete(1000); k++ },
	} {
		if n := testing.AllocsPerRun(1000, f); n != 0 {
			t.Errorf("%s: %v allocations, want 0", what, n)
		}
	}
}

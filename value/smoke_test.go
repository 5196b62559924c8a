//go:build linux && (amd64 || arm64)

package value

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/shmkit/shmkit/shm"
)

type wide struct {
	A, B, C, D int64
	Name       [13]byte
}

func TestSmoke(t *testing.T) {
	v, err := New(3.5)
	if err != nil {
		t.Fatal(err)
	}
	if v.Load() != 3.5 || v.Code() != 'd' {
		t.Fatal(v.Load(), v.Code())
	}
	if got := v.Add(1.25); got != 4.75 {
		t.Fatal(got)
	}
	i8, _ := New[int8](127)
	if i8.Add(1) != -128 {
		t.Fatal(i8.Load())
	}
	n, _ := New[int64](0)
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 1000; i++ {
				n.Add(1)
				n.Update(func(x *int64) { *x++ })
			}
		}()
	}
	wg.Wait()
	if n.Load() != 8000 {
		t.Fatal(n.Load())
	}
	seg := testSeg(t)
	w, err := New(wide{A: 1}, shm.In(seg, "w"))
	if err != nil {
		t.Fatal(err)
	}
	w.Update(func(x *wide) { x.B = 2; copy(x.Name[:], "hello") })
	w2, err := Open[wide](context.Background(), seg, "w")
	if err != nil {
		t.Fatal(err)
	}
	if got := w2.Load(); got.A != 1 || got.B != 2 || string(got.Name[:5]) != "hello" {
		t.Fatal(got)
	}
	if _, err := Open[int64](context.Background(), seg, "w"); !errors.Is(err, shm.ErrLayout) {
		t.Fatal(err)
	}
	if _, err := New[*int](nil); err == nil {
		t.Fatal("pointer accepted")
	}
	r, _ := NewRaw(wide{})
	if err := r.Update(func(*wide) {}); !errors.Is(err, ErrNoLock) {
		t.Fatal(err)
	}
}

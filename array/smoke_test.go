//go:build linux && (amd64 || arm64)

package array

import (
	"context"
	"errors"
	"testing"

	"github.com/shmkit/shmkit/shm"
)

func TestSmoke(t *testing.T) {
	seg := testSeg(t)
	a, err := From([]int32{0, 1, 2, 3}, shm.In(seg, "a"))
	if err != nil {
		t.Fatal(err)
	}
	a.Update(func(s []int32) {
		for i := range s {
			s[i] = -s[i]
		}
	})
	b, err := Open[int32](context.Background(), seg, "a")
	if err != nil {
		t.Fatal(err)
	}
	c, _ := b.Copy()
	if len(c) != 4 || c[3] != -3 || b.At(2) != -2 || b.Code() != 'i' {
		t.Fatal(c)
	}
	b.Set(0, 7)
	if a.Slice()[0] != 7 {
		t.Fatal(a.Slice())
	}
	if _, err := New[int](-1); !errors.Is(err, ErrInvalid) {
		t.Fatal(err)
	}
	defer func() {
		if recover() == nil {
			t.Fatal("no panic out of range")
		}
	}()
	a.At(4)
}

//go:build linux && (amd64 || arm64)

package shmap

import (
	"errors"
	"maps"
	"math/rand/v2"
	"testing"
)

func TestSmokeMapModel(t *testing.T) {
	m, err := New[int64, [3]int64]()
	if err != nil {
		t.Fatal(err)
	}
	defer m.Free()
	model := map[int64][3]int64{}
	r := rand.New(rand.NewPCG(1, 2))
	for i := range 200000 {
		k := r.Int64N(5000)
		switch r.IntN(4) {
		case 0, 1:
			v := [3]int64{k, int64(i), -k}
			if err := m.Set(k, v); err != nil {
				t.Fatal(err)
			}
			model[k] = v
		case 2:
			ok, err := m.Delete(k)
			_, want := model[k]
			if err != nil || ok != want {
				t.Fatalf("Delete(%d) = %v, %v; want %v", k, ok, err, want)
			}
			delete(model, k)
		case 3:
			v, ok, err := m.Get(k)
			w, want := model[k]
			if err != nil || ok != want || v != w {
				t.Fatalf("Get(%d) = %v, %v, %v; want %v, %v", k, v, ok, err, w, want)
			}
		}
	}
	n, _ := m.Len()
	if n != len(model) {
		t.Fatalf("Len %d, model %d", n, len(model))
	}
	got := maps.Collect(m.Range())
	if !maps.Equal(got, model) {
		t.Fatalf("Range differs from the model (%d vs %d)", len(got), len(model))
	}
	t.Logf("capacity %d for %d keys, %d growths", m.c.capacity(), n, le.Uint64(m.c.h[offGrowths:]))
}

func TestSmokeList(t *testing.T) {
	l, err := NewList[int32]()
	if err != nil {
		t.Fatal(err)
	}
	defer l.Free()
	for i := range 1000 {
		if err := l.Append(int32(i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Set(5, -5); err != nil {
		t.Fatal(err)
	}
	v, err := l.Pop()
	if v != 999 || err != nil {
		t.Fatal(v, err)
	}
	i := 0
	for v := range l.All() {
		want := int32(i)
		if i == 5 {
			want = -5
		}
		if v != want {
			t.Fatalf("element %d is %d", i, v)
		}
		i++
	}
	if n, _ := l.Len(); n != 999 || i != 999 {
		t.Fatal(n, i)
	}
}

func TestPaddedKey(t *testing.T) {
	type gap struct {
		A int8
		B int64
	}
	type dense struct {
		B    int64
		A, C int32
	}
	if _, err := New[gap, int64](); !errors.Is(err, ErrInvalid) {
		t.Fatalf("a padded key: %v", err)
	}
	m, err := New[dense, [2]gap]() // padding in values is harmless
	if err != nil {
		t.Fatal(err)
	}
	m.Free()
}

//go:build linux && (amd64 || arm64)

package shmap

import (
	"errors"
	"fmt"
	"testing"
)

func TestSmokeMapModel(t *testing.T) {
	m, err := New[int64, [3]int64]()
	if err != nil {
		t.Fatal(err)
	}
	defer m.Free()
	encModel(t, m, 5000, 200000, func(i int) int64 { return int64(i) },
		func(k, i int) [3]int64 { return [3]int64{int64(k), int64(i), -int64(k)} })
	// Sizes that are not whole words, which Get without the lock reads as
	// words.
	o, err := New[[3]int32, int16]()
	if err != nil {
		t.Fatal(err)
	}
	defer o.Free()
	encModel(t, o, 3000, 60000, func(i int) [3]int32 { return [3]int32{int32(i), -1, int32(i * 7)} },
		func(k, i int) int16 { return int16(k ^ i) })
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
	if n := l.Len(); n != 999 || i != 999 {
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

// partsInfo describes m's parts, for logs: slots, growths, data bytes.
func partsInfo[K comparable, V any](m *Map[K, V]) string {
	slots, growths, used, data := 0, uint64(0), uint64(0), 0
	for i := range m.parts {
		c := &m.parts[i].c
		slots += c.capacity()
		growths += le.Uint64(c.h[offGrowths:])
		used += c.used()
		data += len(c.data)
	}
	return fmt.Sprintf("%d parts of %d slots in all, %d growths, %d of %d data bytes used", len(m.parts), slots, growths, used, data)
}

// busiest is the part of m with the most growths (then garbage): the one
// a test corrupts or looks at.
func busiest[K comparable, V any](m *Map[K, V]) *coll {
	best := &m.parts[0].c
	for i := range m.parts {
		c := &m.parts[i].c
		g, bg := le.Uint64(c.h[offGrowths:]), le.Uint64(best.h[offGrowths:])
		if g > bg || (g == bg && c.garbage() > best.garbage()) {
			best = c
		}
	}
	return best
}

//go:build linux && (amd64 || arm64)

package shmap

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/shmkit/shmkit/internal/shmtest"
	"github.com/shmkit/shmkit/shm"
)

// encModel (for plain types too) runs random Set, Delete, Update, Get and Snapshot against a
// Go map, with keys key(0..keys-1) and values val(key index, op number),
// and checks the whole map every 5000 operations.
func encModel[K comparable, V any](t *testing.T, m *Map[K, V], keys, ops int, key func(int) K, val func(int, int) V) {
	t.Helper()
	model := map[K]V{}
	r := rand.New(rand.NewPCG(3, uint64(keys)))
	check := func() {
		t.Helper()
		got, err := m.Snapshot()
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, model) {
			t.Fatalf("snapshot differs from the model: %d entries, want %d", len(got), len(model))
		}
		if n := m.Len(); n != len(model) {
			t.Fatalf("Len = %d, %v; want %d", n, err, len(model))
		}
		for i := range m.parts {
			c := &m.parts[i].c
			if u, g := c.used(), c.garbage(); c.enc && (u > uint64(len(c.data)) || g > u) {
				t.Fatalf("part %d's data words: used %d, garbage %d, region %d", i, u, g, len(c.data))
			}
		}
	}
	for i := range ops {
		ki := r.IntN(keys)
		k := key(ki)
		switch r.IntN(6) {
		case 0, 1:
			v := val(ki, i)
			if err := m.Set(k, v); err != nil {
				t.Fatal(err)
			}
			model[k] = v
		case 2:
			ok, err := m.Delete(k)
			_, want := model[k]
			if err != nil || ok != want {
				t.Fatalf("Delete(%v) = %v, %v; want %v", k, ok, err, want)
			}
			delete(model, k)
		case 3:
			v := val(ki, i)
			keep := r.IntN(4) > 0
			err := m.Update(k, func(old V, found bool) (V, bool) {
				w, want := model[k]
				if found != want || !reflect.DeepEqual(old, w) {
					t.Errorf("Update(%v) saw %v, %v; want %v, %v", k, old, found, w, want)
				}
				return v, keep
			})
			if err != nil {
				t.Fatal(err)
			}
			if keep {
				model[k] = v
			} else {
				delete(model, k)
			}
		default:
			v, ok, err := m.Get(k)
			w, want := model[k]
			if err != nil || ok != want || !reflect.DeepEqual(v, w) {
				t.Fatalf("Get(%v) = %v, %v, %v; want %v, %v", k, v, ok, err, w, want)
			}
		}
		if i%5000 == 0 {
			check()
		}
	}
	check()
	t.Logf("%d keys, %s", len(model), partsInfo(m))
}

type encKey struct {
	Name string
	ID   int32
}

type encVal struct {
	Tags  []string
	Score float64
	Seen  map[string]int
}

func TestEncodedMap(t *testing.T) {
	ops := 60000
	if testing.Short() || raceEnabled {
		ops = 15000
	}
	t.Run("string-string", func(t *testing.T) {
		m, err := New[string, string]()
		if err != nil {
			t.Fatal(err)
		}
		defer m.Free()
		encModel(t, m, 3000, ops, func(i int) string { return fmt.Sprintf("key-%d", i) },
			func(k, i int) string { return strings.Repeat("v", (k*7+i)%300) }) // "" too
	})
	t.Run("string-int64", func(t *testing.T) {
		m, err := New[string, int64]()
		if err != nil {
			t.Fatal(err)
		}
		defer m.Free()
		encModel(t, m, 500, ops, func(i int) string { return strings.Repeat("k", i) },
			func(k, i int) int64 { return int64(k<<20 | i) })
	})
	t.Run("int64-gob", func(t *testing.T) {
		m, err := New[int64, encVal]()
		if err != nil {
			t.Fatal(err)
		}
		defer m.Free()
		encModel(t, m, 800, ops/2, func(i int) int64 { return int64(i) * -977 },
			func(k, i int) encVal {
				v := encVal{Score: float64(i) / 3, Tags: []string{fmt.Sprint(k)}}
				if i%3 == 0 {
					v.Seen = map[string]int{"op": i}
				}
				return v
			})
	})
	t.Run("struct-key", func(t *testing.T) {
		m, err := New[encKey, []int]()
		if err != nil {
			t.Fatal(err)
		}
		defer m.Free()
		encModel(t, m, 400, ops/2, func(i int) encKey { return encKey{Name: fmt.Sprint("n", i%37), ID: int32(i)} },
			func(k, i int) []int { return []int{k, i, k ^ i} })
	})
	t.Run("large-plain", func(t *testing.T) {
		m, err := New[int64, [MaxItem + 8]byte]()
		if err != nil {
			t.Fatal(err)
		}
		defer m.Free()
		if m.v.size != 0 {
			t.Fatalf("a %d-byte value is kept in the slot", MaxItem+8)
		}
		encModel(t, m, 300, ops/2, func(i int) int64 { return int64(i) },
			func(k, i int) (v [MaxItem + 8]byte) {
				v[0], v[MaxItem+7] = byte(k), byte(i)
				return v
			})
	})
	t.Run("set", func(t *testing.T) {
		m, err := New[string, struct{}]()
		if err != nil {
			t.Fatal(err)
		}
		defer m.Free()
		encModel(t, m, 1000, ops, func(i int) string { return fmt.Sprint(i) },
			func(int, int) struct{} { return struct{}{} })
	})
}

func TestEncodedList(t *testing.T) {
	l, err := NewList[string]()
	if err != nil {
		t.Fatal(err)
	}
	defer l.Free()
	var model []string
	r := rand.New(rand.NewPCG(5, 6))
	for i := range 30000 {
		switch r.IntN(5) {
		case 0, 1, 2:
			v := strings.Repeat(fmt.Sprint(i%10), i%200)
			if err := l.Append(v); err != nil {
				t.Fatal(err)
			}
			model = append(model, v)
		case 3:
			if len(model) == 0 {
				continue
			}
			j := r.IntN(len(model))
			v := fmt.Sprint("set ", i)
			if err := l.Set(j, v); err != nil {
				t.Fatal(err)
			}
			model[j] = v
		case 4:
			v, err := l.Pop()
			if len(model) == 0 {
				if !errors.Is(err, ErrInvalid) {
					t.Fatalf("Pop of an empty list: %v", err)
				}
				continue
			}
			if err != nil || v != model[len(model)-1] {
				t.Fatalf("Pop = %q, %v; want %q", v, err, model[len(model)-1])
			}
			model = model[:len(model)-1]
		}
		if i%3000 == 0 || i == 29999 {
			got, err := l.Snapshot()
			if err != nil || !slices.Equal(got, model) {
				t.Fatalf("snapshot (%v) differs from the model: %d elements, want %d", err, len(got), len(model))
			}
			if len(model) > 0 {
				j := r.IntN(len(model))
				if v, err := l.At(j); err != nil || v != model[j] {
					t.Fatalf("At(%d) = %q, %v; want %q", j, v, err, model[j])
				}
			}
		}
	}
	if got := slices.Collect(l.All()); !slices.Equal(got, model) {
		t.Fatalf("All differs from the model")
	}
	t.Logf("%d elements, %d slots, %d of %d data bytes used", len(model), l.c.capacity(), l.c.used(), len(l.c.data))
}

func TestEncodedRefused(t *testing.T) {
	if _, err := New[*int, int](); !errors.Is(err, ErrInvalid) {
		t.Errorf("a pointer key: %v", err)
	}
	if _, err := New[struct {
		A string
		C chan int
	}, int](); !errors.Is(err, ErrInvalid) {
		t.Errorf("a key holding a channel: %v", err)
	}
	m, err := New[string, []byte]()
	if err != nil {
		t.Fatal(err)
	}
	defer m.Free()
	if _, err := m.CompareAndSwap("a", nil, []byte("x")); !errors.Is(err, ErrInvalid) {
		t.Errorf("CompareAndSwap of an encoded value: %v", err)
	}
	big := make([]byte, MaxEncoded+1)
	if err := m.Set("big", big); !errors.Is(err, ErrInvalid) {
		t.Errorf("a value of %d bytes: %v", len(big), err)
	}
	// A value gob cannot encode fails alone, and leaves the map as it was.
	f, err := New[string, any]()
	if err != nil {
		t.Fatal(err)
	}
	defer f.Free()
	if err := f.Set("a", 1); err != nil {
		t.Fatal(err)
	}
	if err := f.Set("a", func() {}); err == nil {
		t.Error("a func value was encoded")
	}
	if v, ok, err := f.Get("a"); err != nil || !ok || v != 1 {
		t.Errorf("after the failed Set: %v, %v, %v", v, ok, err)
	}
	// Open with other encoded types fails.
	seg := shmtest.Seg(t)
	if _, err := New[string, string](shm.In(seg, "m")); err != nil {
		t.Fatal(err)
	}
	if _, err := Open[string, int64](context.Background(), seg, "m"); !errors.Is(err, shm.ErrLayout) {
		t.Errorf("Open with another value type: %v", err)
	}
	if _, err := Open[encKey, string](context.Background(), seg, "m"); !errors.Is(err, shm.ErrLayout) {
		t.Errorf("Open with another key type: %v", err)
	}
}

// jsonCodec is a Codec of the caller's: JSON.
type jsonCodec[T any] struct{}

func (jsonCodec[T]) Append(b []byte, v *T) ([]byte, error) {
	j, err := json.Marshal(v)
	return append(b, j...), err
}
func (jsonCodec[T]) Decode(b []byte, v *T) error { return json.Unmarshal(b, v) }

func TestSetCodec(t *testing.T) {
	seg := shmtest.Seg(t)
	m, err := New[encKey, encVal](shm.In(seg, "json"))
	if err != nil {
		t.Fatal(err)
	}
	m.SetKeyCodec(jsonCodec[encKey]{})
	m.SetValueCodec(jsonCodec[encVal]{})
	want := encVal{Tags: []string{"a", "b"}, Score: 2.5}
	if err := m.Set(encKey{"x", 1}, want); err != nil {
		t.Fatal(err)
	}
	kb, _ := json.Marshal(encKey{"x", 1})
	p := m.part(hash(kb))
	i, ok := p.find(kb, hash(kb))
	if !ok {
		t.Fatal("the key is not stored as its JSON")
	}
	if vb, err := p.valueOf(p.slot(i)); err != nil || !strings.Contains(string(vb), `"Score":2.5`) {
		t.Fatalf("the value is stored as %q (%v)", vb, err)
	}
	o, err := Open[encKey, encVal](context.Background(), seg, "json")
	if err != nil {
		t.Fatal(err)
	}
	o.SetKeyCodec(jsonCodec[encKey]{})
	o.SetValueCodec(jsonCodec[encVal]{})
	if v, ok, err := o.Get(encKey{"x", 1}); err != nil || !ok || !reflect.DeepEqual(v, want) {
		t.Fatalf("Get through another handle: %v, %v, %v", v, ok, err)
	}
}

// TestFull fills maps and lists in a 1 MiB segment until it has no room:
// the error is ErrFull, and everything stored before it is intact.
func TestFull(t *testing.T) {
	t.Run("plain", func(t *testing.T) {
		m, err := New[int64, [4]int64](shm.In(shmtest.Seg(t), "m"))
		if err != nil {
			t.Fatal(err)
		}
		fullCheck(t, m, func(i int) [4]int64 { return [4]int64{int64(i)} })
	})
	t.Run("encoded", func(t *testing.T) {
		m, err := New[int64, string](shm.In(shmtest.Seg(t), "m"))
		if err != nil {
			t.Fatal(err)
		}
		fullCheck(t, m, func(i int) string { return strings.Repeat("x", i%500) })
	})
	t.Run("list", func(t *testing.T) {
		l, err := NewList[string](shm.In(shmtest.Seg(t), "l"))
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for ; ; n++ {
			err := l.Append(fmt.Sprint(n))
			if errors.Is(err, ErrFull) {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
		}
		got, err := l.Snapshot()
		if err != nil || len(got) != n {
			t.Fatalf("after ErrFull: %d elements, %v; want %d", len(got), err, n)
		}
		for i, v := range got {
			if v != fmt.Sprint(i) {
				t.Fatalf("element %d is %q", i, v)
			}
		}
		if err := l.Free(); err != nil {
			t.Fatal(err)
		}
	})
}

func fullCheck[V comparable](t *testing.T, m *Map[int64, V], val func(int) V) {
	t.Helper()
	n := 0
	for ; ; n++ {
		err := m.Set(int64(n), val(n))
		if errors.Is(err, ErrFull) {
			t.Logf("full at %d entries: %v", n, err)
			break
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	got, err := m.Snapshot()
	if err != nil || len(got) != n {
		t.Fatalf("after ErrFull: %d entries, %v; want %d", len(got), err, n)
	}
	for i := range n {
		if got[int64(i)] != val(i) {
			t.Fatalf("entry %d changed", i)
		}
	}
	// Deletes and overwrites still work.
	for i := range n / 2 {
		if ok, err := m.Delete(int64(i)); !ok || err != nil {
			t.Fatalf("Delete(%d) = %v, %v", i, ok, err)
		}
	}
	if err := m.Set(int64(n-1), val(0)); err != nil {
		t.Fatal(err)
	}
	if err := m.Free(); err != nil {
		t.Fatal(err)
	}
}

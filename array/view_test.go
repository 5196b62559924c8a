//go:build linux && (amd64 || arm64)

package array

import (
	"context"
	"encoding/binary"
	"errors"
	"math"
	"os"
	"slices"
	"testing"

	"github.com/shmkit/shmkit/internal/mem"
	"github.com/shmkit/shmkit/internal/testproc"
	"github.com/shmkit/shmkit/shm"
)

// TestView reads and writes, as a []float64, a file under /dev/shm that
// shmkit did not make.
func TestView(t *testing.T) {
	want := []float64{0, 1.5, -2.25, math.Pi, math.MaxFloat64}
	b := make([]byte, 8*len(want))
	for i, x := range want {
		binary.LittleEndian.PutUint64(b[8*i:], math.Float64bits(x))
	}
	name := testproc.ShmName(t)
	if err := os.WriteFile(shm.Dir+"/"+name, b, 0o600); err != nil {
		t.Fatal(err)
	}
	m, err := shm.OpenForeign(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	s, err := View[float64](m.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(s, want) {
		t.Fatalf("View = %v, want %v", s, want)
	}
	s[1] = -7
	got, err := os.ReadFile(shm.Dir + "/" + name)
	if err != nil {
		t.Fatal(err)
	}
	if x := math.Float64frombits(binary.LittleEndian.Uint64(got[8:])); x != -7 {
		t.Fatalf("the file holds %v after a write through the view", x)
	}
	part, err := View[int32](m.Bytes()[8:16])
	if err != nil || len(part) != 2 {
		t.Fatalf("View of a part: %v, %v", part, err)
	}
}

func TestViewRefuses(t *testing.T) {
	words := make([]uint64, 4)
	b := mem.SliceBytes(words) // 32 bytes at an 8-byte-aligned address
	for _, c := range []struct {
		what string
		err  error
	}{
		{"13 bytes as float64", e(View[float64](b[:13]))},
		{"6 bytes as int32", e(View[int32](b[:6]))},
		{"bytes at an odd address as uint16", e(View[uint16](b[1:5]))},
		{"bytes at 4 as float64", e(View[float64](b[4:20]))},
		{"a type with a pointer", e(View[*int](b[:16]))},
		{"a struct with a string", e(View[struct{ S string }](b[:16]))},
		{"a type of size 0", e(View[struct{}](b[:16]))},
	} {
		if !errors.Is(c.err, ErrInvalid) {
			t.Errorf("View of %s: %v, want ErrInvalid", c.what, c.err)
		}
	}
	if s, err := View[[3]byte](b[1:10]); err != nil || len(s) != 3 {
		t.Errorf("View of 9 bytes as [3]byte: %v, %v", s, err)
	}
	if s, err := View[float64](b[3:3]); err != nil || len(s) != 0 {
		t.Errorf("View of no bytes: %v, %v", s, err)
	}
	words[2] = math.Float64bits(2.5)
	if s, err := View[float64](b); err != nil || s[2] != 2.5 {
		t.Errorf("View of the words: %v, %v", s, err)
	}
}

func e[T any](_ T, err error) error { return err }

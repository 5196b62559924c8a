package mem

import (
	"fmt"
	"strings"
	"testing"
)

func mustPanic(t *testing.T, want string, f func()) {
	t.Helper()
	defer func() {
		r := recover()
		if r == nil || !strings.Contains(fmt.Sprint(r), want) {
			t.Fatalf("panic %v, want one saying %q", r, want)
		}
	}()
	f()
}

func TestChecks(t *testing.T) {
	var buf [8]uint64 // 8-byte aligned backing
	b := Bytes(&buf)
	*Uint64(b, 8) = 7
	if buf[1] != 7 || *Uint32(b, 8) != 7 {
		t.Fatal("pointer does not alias the bytes")
	}
	if s := Slice[uint32](b, 4, 15); len(s) != 15 {
		t.Fatal(len(s))
	}
	if s := Slice[uint64](b, 64, 0); len(s) != 0 {
		t.Fatal("empty slice at the end")
	}
	mustPanic(t, "outside", func() { Uint64(b, 60) })
	mustPanic(t, "outside", func() { Uint32(b, 1<<40) })
	mustPanic(t, "aligned", func() { Uint64(b, 4) })
	mustPanic(t, "aligned", func() { Uint32(b, 2) })
	mustPanic(t, "outside", func() { Slice[uint64](b, 8, 8) })
	mustPanic(t, "negative", func() { Slice[uint64](b, 0, -1) })
	mustPanic(t, "overflows", func() { Slice[uint64](b, 0, 1<<62) })
	type pair struct{ A, B uint32 }
	if p := Ptr[pair](b, 16); p.A != 0 {
		t.Fatal("not zero")
	}
}

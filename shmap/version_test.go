//go:build linux && (amd64 || arm64)

package shmap

import (
	"context"
	"encoding"
	"errors"
	"io"
	"sync/atomic"
	"testing"

	"github.com/shmkit/shmkit/internal/mem"
	"github.com/shmkit/shmkit/internal/shmtest"
	"github.com/shmkit/shmkit/shm"
)

// TestNewerVersionRefused: a Map or List whose header (a Map's root, or
// one of its parts) carries a newer version than this build's, as a
// program built with a later shmkit would write it, is refused by Open,
// OpenList and UnmarshalBinary with shm.ErrVersion (and ErrCorrupt), never
// read as this version's layout; with its own version back it opens again.
func TestNewerVersionRefused(t *testing.T) {
	ctx := context.Background()
	seg := shmtest.Seg(t)
	m, err := New[int64, string](shm.In(seg, "map"))
	if err != nil {
		t.Fatal(err)
	}
	l, err := NewList[int32](shm.In(seg, "list"))
	if err != nil {
		t.Fatal(err)
	}
	defer m.Free()
	defer l.Free()
	marshal := func(x encoding.BinaryMarshaler) []byte {
		b, err := x.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	openMap := map[string]func() (io.Closer, error){
		"Open": func() (io.Closer, error) { return Open[int64, string](ctx, seg, "map") },
		"UnmarshalBinary": func() (io.Closer, error) {
			x := new(Map[int64, string])
			return x, x.UnmarshalBinary(marshal(m))
		},
	}
	openList := map[string]func() (io.Closer, error){
		"OpenList": func() (io.Closer, error) { return OpenList[int32](ctx, seg, "list") },
		"UnmarshalBinary": func() (io.Closer, error) {
			x := new(List[int32])
			return x, x.UnmarshalBinary(marshal(l))
		},
	}
	cases := []struct {
		what    string
		word    *uint32 // the version word
		current uint32
		opens   map[string]func() (io.Closer, error)
	}{
		{"map root", mem.Uint32(m.root.Bytes(), 4), rootVersion, openMap},
		{"map part", mem.Uint32(m.parts[len(m.parts)-1].c.h, 4), version, openMap},
		{"list", mem.Uint32(l.c.h, 4), version, openList},
	}
	for _, c := range cases {
		for _, v := range []uint32{c.current + 1, 1 << 31} {
			atomic.StoreUint32(c.word, v)
			for what, open := range c.opens {
				x, err := open()
				if !errors.Is(err, shm.ErrVersion) || !errors.Is(err, ErrCorrupt) {
					t.Errorf("%s of a %s of version %d: %v, want shm.ErrVersion and ErrCorrupt", what, c.what, v, err)
					if err == nil {
						x.Close()
					}
				}
			}
		}
		atomic.StoreUint32(c.word, c.current)
		for what, open := range c.opens {
			x, err := open()
			if err != nil {
				t.Errorf("%s of the %s with its version back: %v", what, c.what, err)
				continue
			}
			x.Close()
		}
	}
}

//go:build linux && (amd64 || arm64)

package shmap

import (
	"context"
	"io"
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
	openMap := map[string]func() (io.Closer, error){
		"Open": func() (io.Closer, error) { return Open[int64, string](ctx, seg, "map") },
		"UnmarshalBinary": func() (io.Closer, error) {
			x := new(Map[int64, string])
			return x, x.UnmarshalBinary(shmtest.Marshal(t, m))
		},
	}
	openList := map[string]func() (io.Closer, error){
		"OpenList": func() (io.Closer, error) { return OpenList[int32](ctx, seg, "list") },
		"UnmarshalBinary": func() (io.Closer, error) {
			x := new(List[int32])
			return x, x.UnmarshalBinary(shmtest.Marshal(t, l))
		},
	}
	shmtest.NewerVersionRefused(t, []shmtest.VersionCase{
		shmtest.Forge("map root", mem.Uint32(m.root.Bytes(), 4), rootVersion, openMap),
		shmtest.Forge("map part", mem.Uint32(m.parts[len(m.parts)-1].c.h, 4), version, openMap),
		shmtest.Forge("list", mem.Uint32(l.c.h, 4), version, openList),
	})
}

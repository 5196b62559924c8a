//go:build linux && (amd64 || arm64)

package shmtest

import (
	"encoding"
	"errors"
	"io"
	"sync/atomic"
	"testing"

	"github.com/shmkit/shmkit/shm"
)

// VersionCase is one object of a test that forges a newer version into
// an object's header: its version word, the version this build writes,
// and every way to attach to it, by name.
type VersionCase struct {
	What    string                               // the object, for messages
	Word    *uint32                              // its version word
	Current uint32                               // the version this build writes
	Opens   map[string]func() (io.Closer, error) // each way to attach, by name
}

// NewerVersionRefused writes, into each case's version word, the next
// version and one far beyond it, and checks that every way of attaching
// fails with shm.ErrVersion and shm.ErrCorrupt; then it puts the version
// back and checks that every way attaches again.
func NewerVersionRefused(t testing.TB, cases []VersionCase) {
	t.Helper()
	for _, c := range cases {
		for _, v := range []uint32{c.Current + 1, 1 << 31} {
			atomic.StoreUint32(c.Word, v)
			for what, open := range c.Opens {
				x, err := open()
				if !errors.Is(err, shm.ErrVersion) || !errors.Is(err, shm.ErrCorrupt) {
					t.Errorf("%s of a %s of version %d: %v, want shm.ErrVersion and ErrCorrupt", what, c.What, v, err)
					if err == nil {
						x.Close()
					}
				}
			}
		}
		atomic.StoreUint32(c.Word, c.Current)
		for what, open := range c.Opens {
			x, err := open()
			if err != nil {
				t.Errorf("%s of the %s with its version back: %v", what, c.What, err)
				continue
			}
			x.Close()
		}
	}
}

// Marshal is m's MarshalBinary, failing t on an error.
func Marshal(t testing.TB, m encoding.BinaryMarshaler) []byte {
	t.Helper()
	b, err := m.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Forge is the VersionCase of the object called what, its version word at
// word, this build's version current, attached to by opens.
func Forge(what string, word *uint32, current uint32, opens map[string]func() (io.Closer, error)) VersionCase {
	return VersionCase{What: what, Word: word, Current: current, Opens: opens}
}

//go:build linux && (amd64 || arm64)

package shmtest

import (
	"context"
	"encoding"
	"errors"
	"testing"

	"github.com/shmkit/shmkit/ctypes"
	"github.com/shmkit/shmkit/shm"
)

// Pass is what a handle passed to another holder becomes: it returns h,
// the marshalled handle of o, and passed, a handle unmarshalled from h and
// closed.
func Pass[T any, P interface {
	*T
	UnmarshalBinary([]byte) error
	Close() error
}](t testing.TB, o encoding.BinaryMarshaler) (h []byte, passed P) {
	t.Helper()
	h, err := o.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	passed = new(T)
	if err := passed.UnmarshalBinary(h); err != nil {
		t.Fatal(err)
	}
	if err := passed.Close(); err != nil {
		t.Fatal(err)
	}
	return h, passed
}

// HandleOf is the handle of an object's lock mu, or the zero Handle when
// the object has none (mu is nil).
func HandleOf[M interface {
	comparable
	Handle() shm.Handle
}](mu M) shm.Handle {
	var none M
	if mu == none {
		return shm.Handle{}
	}
	return mu.Handle()
}

// FreeAll frees an object through free, which must succeed; then a second
// Free through it, through another handle (other) and through a closed
// one (closed) must fail with shm.ErrStale, as check judges; and lock,
// the handle of the object's lock unless the zero Handle, must no longer
// resolve.
func FreeAll(t testing.TB, check func(what string, err, want error), lock shm.Handle, free, other, closed func() error) {
	t.Helper()
	if err := free(); err != nil {
		t.Fatalf("Free: %v", err)
	}
	check("a second Free", free(), shm.ErrStale)
	check("a Free through another handle", other(), shm.ErrStale)
	check("a Free through a closed one", closed(), shm.ErrStale)
	if lock != (shm.Handle{}) {
		if _, err := shm.Resolve(lock); !errors.Is(err, shm.ErrStale) {
			t.Errorf("the freed object's lock still resolves: %v", err)
		}
	}
}

// Bytes is the memory of the object name, of kind and of element type T,
// in seg: for tests that corrupt it.
func Bytes[T any](t testing.TB, seg *shm.Segment, name string, kind shm.Kind) []byte {
	t.Helper()
	l, err := ctypes.LayoutOf[T]()
	if err != nil {
		t.Fatal(err)
	}
	o, err := seg.Find(context.Background(), name, shm.Spec{Kind: kind, Fingerprint: l.Fingerprint})
	if err != nil {
		t.Fatal(err)
	}
	return o.Bytes()
}

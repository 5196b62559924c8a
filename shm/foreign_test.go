//go:build linux && (amd64 || arm64)

package shm

import (
	"bytes"
	"context"
	"errors"
	"os"
	"testing"
	"time"

	"github.com/shmkit/shmkit/internal/sys"
)

// foreignFile writes a file of b under /dev/shm, as a program that knows
// nothing of shmkit does, and returns its name.
func foreignFile(t *testing.T, b []byte) string {
	t.Helper()
	name := testName(t)
	foreignAt(t, name, b)
	return name
}

func foreignAt(t *testing.T, name string, b []byte) {
	t.Helper()
	if err := os.WriteFile(Dir+"/"+name, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestOpenForeign(t *testing.T) {
	want := []byte("written by a program that is not shmkit")
	name := foreignFile(t, want)

	// The control: a segment open refuses it for want of a header.
	if _, err := Open(context.Background(), name, nil); !errors.Is(err, ErrBadHeader) {
		t.Fatalf("Open of a file with no header: %v, want ErrBadHeader", err)
	}

	for _, by := range []string{name, "/" + name} {
		m, err := OpenForeign(context.Background(), by)
		if err != nil {
			t.Fatalf("OpenForeign(%q): %v", by, err)
		}
		if m.Name() != name || m.Size() != int64(len(want)) || !bytes.Equal(m.Bytes(), want) {
			t.Fatalf("OpenForeign(%q): name %q, size %d, bytes %q", by, m.Name(), m.Size(), m.Bytes())
		}
		m.Bytes()[0] = 'W'
		if err := m.Close(); err != nil {
			t.Fatal(err)
		}
		if m.Bytes() != nil {
			t.Fatalf("Bytes after Close: %q", m.Bytes())
		}
		if err := m.Close(); err != nil {
			t.Fatalf("second Close: %v", err)
		}
		got, err := os.ReadFile(Dir + "/" + name)
		if err != nil {
			t.Fatal(err)
		}
		if got[0] != 'W' || !bytes.Equal(got[1:], want[1:]) {
			t.Fatalf("the file holds %q after a write through the mapping", got)
		}
		if err := os.WriteFile(Dir+"/"+name, want, 0o600); err != nil {
			t.Fatal(err)
		}
	}

	// A name that came to name another file is not Free's to remove.
	m, err := OpenForeign(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(Dir + "/" + name); err != nil {
		t.Fatal(err)
	}
	foreignAt(t, name, want)
	if err := m.Free(); !errors.Is(err, ErrStale) {
		t.Fatalf("Free of a name that names another file: %v, want ErrStale", err)
	}
	if _, err := os.Stat(Dir + "/" + name); err != nil {
		t.Fatalf("the other file after Free: %v", err)
	}

	m, err = OpenForeign(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Free(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(Dir + "/" + name); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the name after Free: %v", err)
	}
}

func TestOpenForeignWaits(t *testing.T) {
	name := testName(t)
	ctx := missing(t)
	_, err := OpenForeign(ctx, name)
	if !errors.Is(err, ErrNotExist) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("OpenForeign of a name that never appears: %v, want ErrNotExist and the deadline", err)
	}

	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		m, err := OpenForeign(ctx, name)
		if err == nil {
			if m.Size() != 8 {
				err = errors.New("not the file written")
			}
			m.Close()
		}
		done <- err
	}()
	time.Sleep(20 * time.Millisecond)
	if err := os.WriteFile(Dir+"/"+name, make([]byte, 8), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatalf("OpenForeign of a name made while it waited: %v", err)
	}
}

func TestOpenForeignRefuses(t *testing.T) {
	target := foreignFile(t, make([]byte, 8))
	link := testName(t)
	if err := os.Symlink(Dir+"/"+target, Dir+"/"+link); err != nil {
		t.Fatal(err)
	}
	if _, err := OpenForeign(context.Background(), link); !errors.Is(err, ErrInvalid) {
		t.Errorf("OpenForeign of a symbolic link: %v, want ErrInvalid", err)
	}
	for _, bad := range []string{"", "a/b", "..", "x\x00"} {
		if _, err := OpenForeign(context.Background(), bad); !errors.Is(err, ErrName) {
			t.Errorf("OpenForeign(%q): %v, want ErrName", bad, err)
		}
	}

	empty := foreignFile(t, nil)
	m, err := OpenForeign(context.Background(), empty)
	if err != nil {
		t.Fatalf("OpenForeign of an empty file: %v", err)
	}
	if m.Size() != 0 || len(m.Bytes()) != 0 {
		t.Errorf("an empty file maps to %d bytes", m.Size())
	}
	m.Close()

	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if _, err := ForeignFromFile(r); !errors.Is(err, ErrInvalid) {
		t.Errorf("ForeignFromFile of a pipe: %v, want ErrInvalid", err)
	}
}

func TestForeignFromMemfd(t *testing.T) {
	f, err := sys.Memfd("foreign")
	if err != nil {
		t.Fatal(err)
	}
	want := []byte{1, 2, 3, 4, 5, 6, 7, 8}
	if _, err := f.Write(want); err != nil {
		f.Close()
		t.Fatal(err)
	}
	m, err := ForeignFromFile(f)
	if err != nil {
		t.Fatal(err)
	}
	if m.Name() != "" || !bytes.Equal(m.Bytes(), want) {
		t.Fatalf("memfd: name %q, bytes %v", m.Name(), m.Bytes())
	}
	m.Bytes()[7] = 80
	got := make([]byte, 8)
	if _, err := m.File().ReadAt(got, 0); err != nil || got[7] != 80 {
		t.Fatalf("the memfd after a write through the mapping: %v, %v", got, err)
	}
	if err := m.Free(); err != nil { // Close, for memory with no name
		t.Fatal(err)
	}
}

//go:build linux && (amd64 || arm64)

package shm

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/shmkit/shmkit/internal/mem"
	"github.com/shmkit/shmkit/internal/testproc"
)

var waitSpec = Spec{Kind: KindValue, Fingerprint: 0x5eed, Size: 8}

// childOpenFirst opens a segment and an object in it before either
// exists, with no deadline, and prints what the object holds.
var childOpenFirst = testproc.Register("shm-open-first", func(c *testproc.Child) error {
	c.Point("opening")
	ctx := context.Background()
	s, err := Open(ctx, c.Arg(), nil)
	if err != nil {
		return err
	}
	defer s.Close()
	o, err := s.Find(ctx, "x", waitSpec)
	if err != nil {
		return err
	}
	fmt.Println("RESULT", *mem.Uint64(o.Bytes(), 0))
	return nil
})

// TestOpenBeforeCreate: a program that opens a segment and an object
// before another program made them gets them once they are made, with no
// retry loop of its own.
func TestOpenBeforeCreate(t *testing.T) {
	name := testName(t)
	p := testproc.Start(t, childOpenFirst, testproc.Arg(name))
	p.WaitPoint("opening")
	p.Continue()
	time.Sleep(50 * time.Millisecond) // the child is (most likely) waiting in Open
	s := mustCreateNamed(t, name)
	time.Sleep(50 * time.Millisecond) // ... and now in Find
	if _, err := Place(waitSpec, func(b []byte) error {
		*mem.Uint64(b, 0) = 42
		return nil
	}, In(s, "x")); err != nil {
		t.Fatal(err)
	}
	if out := p.Succeed().Output; !strings.Contains(out, "RESULT 42") {
		t.Fatalf("child said %q", out)
	}
}

func mustCreateNamed(t *testing.T, name string) *Segment {
	t.Helper()
	s, err := Create(name, 1<<20, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Free() })
	return s
}

// TestOpenGivesUp: a name that never appears fails with ErrNotExist when
// the context ends, and the error says why it stopped waiting too.
func TestOpenGivesUp(t *testing.T) {
	name := testName(t)
	check := func(what string, err error) {
		t.Helper()
		if !errors.Is(err, ErrNotExist) || !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("%s: %v, want ErrNotExist and DeadlineExceeded", what, err)
		}
		if !strings.HasPrefix(err.Error(), "shm: ") {
			t.Fatalf("%s: %q does not start with the package name", what, err)
		}
	}
	start := time.Now()
	_, err := Open(missing(t), name, nil)
	check("Open", err)
	if d := time.Since(start); d < 30*time.Millisecond {
		t.Fatalf("Open gave up after %v, before its deadline", d)
	}
	s := mustCreateNamed(t, name)
	_, err = s.Find(missing(t), "nothing", waitSpec)
	check("Find", err)

	// A cancelled context looks once.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := s.Find(ctx, "nothing", waitSpec); !errors.Is(err, ErrNotExist) || !errors.Is(err, context.Canceled) {
		t.Fatalf("Find with a cancelled context: %v", err)
	}
	var nilSeg *Segment
	if _, err := nilSeg.Find(context.Background(), "x", waitSpec); !errors.Is(err, ErrInvalid) {
		t.Fatalf("Find on a nil segment: %v", err)
	}
}

// TestSegmentFreeKeepsSuccessor: a segment whose name was removed and
// given to a new segment (another program's, or another run's) keeps the
// new one when it is freed: Free removes only its own name.
func TestSegmentFreeKeepsSuccessor(t *testing.T) {
	name := testName(t)
	old, err := Create(name, 1<<20, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := Unlink(name); err != nil {
		t.Fatal(err)
	}
	successor := mustCreateNamed(t, name)
	if err := old.Free(); !errors.Is(err, ErrStale) {
		t.Fatalf("Free of a segment whose name went to another: %v, want ErrStale", err)
	}
	if !old.Closed() {
		t.Fatal("Free left the handle open")
	}
	if in, err := Stat(name); err != nil || in.ID != successor.ID() {
		t.Fatalf("the successor after the old one's Free: %+v, %v", in, err)
	}
}

// TestSegmentFree: Free removes the name for everyone and closes this
// handle; a process that has the segment mapped keeps using it.
func TestSegmentFree(t *testing.T) {
	name := testName(t)
	s, err := Create(name, 1<<20, nil)
	if err != nil {
		t.Fatal(err)
	}
	other, err := Open(context.Background(), name, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if err := s.Free(); err != nil {
		t.Fatal(err)
	}
	if _, err := Stat(name); !errors.Is(err, ErrNotExist) {
		t.Fatalf("Stat after Free: %v", err)
	}
	if _, err := s.Alloc(waitSpec); !errors.Is(err, ErrClosed) {
		t.Fatalf("Alloc through the freed handle: %v", err)
	}
	if _, err := other.Alloc(waitSpec); err != nil {
		t.Fatalf("Alloc through another handle: %v", err)
	}
	if err := s.Free(); err != nil {
		t.Fatalf("second Free: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close after Free: %v", err)
	}
}

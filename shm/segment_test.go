//go:build linux && (amd64 || arm64)

package shm

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/shmkit/shmkit/internal/sys"
)

func TestCreateOpenClose(t *testing.T) {
	name := testName(t)
	s, err := Create(name, 1<<20, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !s.Created() || s.Name() != name || s.Size() != 1<<20 || s.ID() == 0 || s.Creator() != os.Getpid() {
		t.Fatalf("created segment: created=%v name=%q size=%d id=%#x creator=%d", s.Created(), s.Name(), s.Size(), s.ID(), s.Creator())
	}
	fi, err := os.Lstat(Dir + "/" + name)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 || !fi.Mode().IsRegular() {
		t.Fatalf("mode %v, want -rw-------", fi.Mode())
	}
	o, err := Open(context.Background(), name, nil)
	if err != nil {
		t.Fatal(err)
	}
	if o.Created() || o.ID() != s.ID() || o.Size() != s.Size() {
		t.Fatalf("opened: created=%v id=%#x size=%d", o.Created(), o.ID(), o.Size())
	}
	// The same memory in both mappings.
	obj, err := s.Alloc(Spec{Kind: KindBytes, Size: 8})
	if err != nil {
		t.Fatal(err)
	}
	copy(obj.Bytes(), "shmkit!!")
	got, err := o.Attach(obj.Handle())
	if err != nil {
		t.Fatal(err)
	}
	if string(got.Bytes()) != "shmkit!!" {
		t.Fatalf("other mapping reads %q", got.Bytes())
	}
	for _, seg := range []*Segment{s, o} {
		if err := seg.Close(); err != nil {
			t.Fatal(err)
		}
		if err := seg.Close(); err != nil {
			t.Fatalf("second Close: %v", err)
		}
		if _, err := seg.Alloc(Spec{Kind: KindBytes, Size: 8}); !errors.Is(err, os.ErrClosed) {
			t.Fatalf("Alloc after Close: %v, want os.ErrClosed", err)
		}
	}
	if err := Unlink(name); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(missing(t), name, nil); !errors.Is(err, ErrNotExist) || !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Open after Unlink: %v", err)
	}
}

func TestMode(t *testing.T) {
	s := mustCreate(t, 1<<16, &SegmentOptions{Mode: 0o640})
	fi, err := os.Stat(Dir + "/" + s.Name())
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o640 {
		t.Fatalf("mode %v, want 0640", fi.Mode().Perm())
	}
}

func TestAnonymous(t *testing.T) {
	s, err := Anonymous(1 << 20)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s.Name() != "" {
		t.Fatalf("name %q", s.Name())
	}
	if err := Unlink(s.Name()); !errors.Is(err, ErrName) {
		t.Fatalf("Unlink of an anonymous segment's name: %v", err)
	}
	// Its size is sealed: no process can shrink it under a mapping.
	if err := s.File().Truncate(4096); err == nil {
		t.Fatal("truncating a sealed memfd succeeded")
	}
	o, err := s.Alloc(Spec{Kind: KindBytes, Size: 100})
	if err != nil {
		t.Fatal(err)
	}
	if r, err := Resolve(o.Handle()); err != nil || r.Bytes() == nil {
		t.Fatalf("Resolve: %v", err)
	}
}

// badCase is one bad input and the error it must give.
type badCase struct {
	name string
	do   func(t *testing.T) error
	want []error
}

func TestBadInput(t *testing.T) {
	long := strings.Repeat("x", maxSegmentName+1)
	cases := []badCase{
		{"empty name", func(*testing.T) error { _, err := Create("", 1<<16, nil); return err }, []error{ErrName}},
		{"name with slash", func(*testing.T) error { _, err := Create("a/b", 1<<16, nil); return err }, []error{ErrName}},
		{"name is slash", func(*testing.T) error { _, err := Create("/", 1<<16, nil); return err }, []error{ErrName}},
		{"name with ..", func(*testing.T) error { _, err := Create("..", 1<<16, nil); return err }, []error{ErrName}},
		{"name a..b", func(*testing.T) error { _, err := Open(context.Background(), "a..b", nil); return err }, []error{ErrName}},
		{"name .", func(*testing.T) error { _, err := Open(context.Background(), ".", nil); return err }, []error{ErrName}},
		{"name with NUL", func(*testing.T) error { _, err := Create("a\x00b", 1<<16, nil); return err }, []error{ErrName}},
		{"name with newline", func(*testing.T) error { _, err := Create("a\nb", 1<<16, nil); return err }, []error{ErrName}},
		{"name too long", func(*testing.T) error { _, err := Create(long, 1<<16, nil); return err }, []error{ErrName}},
		{"size zero", func(t *testing.T) error { _, err := Create(testName(t), 0, nil); return err }, []error{ErrSize}},
		{"size negative", func(t *testing.T) error { _, err := Create(testName(t), -1, nil); return err }, []error{ErrSize}},
		{"size below header", func(t *testing.T) error { _, err := Create(testName(t), headerSize, nil); return err }, []error{ErrSize}},
		{"size 1 TiB + 1", func(t *testing.T) error { _, err := Create(testName(t), maxSegmentSize+1, nil); return err }, []error{ErrSize}},
		{"size max int64", func(t *testing.T) error { _, err := Create(testName(t), 1<<63-1, nil); return err }, []error{ErrSize}},
		{"anonymous size zero", func(*testing.T) error { _, err := Anonymous(0); return err }, []error{ErrSize}},
		{"too many objects", func(t *testing.T) error {
			_, err := Create(testName(t), 64<<20, &SegmentOptions{MaxObjects: maxEntries + 1})
			return err
		}, []error{ErrSize}},
		{"directory larger than size", func(t *testing.T) error {
			_, err := Create(testName(t), 1<<16, &SegmentOptions{MaxObjects: 1000})
			return err
		}, []error{ErrSize}},
		{"larger than /dev/shm", func(t *testing.T) error {
			total, _, err := sys.SpaceOf(Dir)
			if err != nil {
				t.Fatal(err)
			}
			_, err = Create(testName(t), int64(total)+1<<30, nil)
			return err
		}, []error{ErrNoSpace}},
		{"open missing", func(t *testing.T) error { _, err := Open(missing(t), testName(t), nil); return err }, []error{ErrNotExist, fs.ErrNotExist}},
		{"unlink missing", func(t *testing.T) error { return Unlink(testName(t)) }, []error{ErrNotExist}},
		{"stat missing", func(t *testing.T) error { _, err := Stat(testName(t)); return err }, []error{ErrNotExist}},
		{"create existing", func(t *testing.T) error {
			s := mustCreate(t, 1<<16, nil)
			_, err := Create(s.Name(), 1<<16, nil)
			return err
		}, []error{ErrExist, fs.ErrExist}},
		{"create over a planted symlink", func(t *testing.T) error {
			name := testName(t)
			target := t.TempDir() + "/target"
			if err := os.Symlink(target, Dir+"/"+name); err != nil {
				t.Fatal(err)
			}
			_, err := Create(name, 1<<16, nil)
			if _, serr := os.Lstat(target); serr == nil {
				t.Error("Create followed the symlink")
			}
			return err
		}, []error{ErrExist}},
		{"open a symlink", func(t *testing.T) error {
			s := mustCreate(t, 1<<16, nil)
			link := testName(t)
			if err := os.Symlink(Dir+"/"+s.Name(), Dir+"/"+link); err != nil {
				t.Fatal(err)
			}
			_, err := Open(context.Background(), link, nil)
			return err
		}, []error{ErrBadHeader}},
		{"open a directory", func(t *testing.T) error {
			_, err := Open(context.Background(), plantDir(t), nil)
			return err
		}, []error{ErrBadHeader}},
		{"create over a directory", func(t *testing.T) error {
			_, err := Create(plantDir(t), 1<<16, nil)
			return err
		}, []error{ErrExist}},
		{"open a file that is not a segment", func(t *testing.T) error {
			name := plant(t, []byte(strings.Repeat("not a segment\n", 100)))
			_, err := Open(context.Background(), name, nil)
			return err
		}, []error{ErrBadHeader}},
		{"open an empty file", func(t *testing.T) error { _, err := Open(context.Background(), plant(t, nil), nil); return err }, []error{ErrBadHeader}},
		{"unlink a file that is not a segment", func(t *testing.T) error {
			name := plant(t, []byte("precious data"))
			err := Unlink(name)
			if _, serr := os.Stat(Dir + "/" + name); serr != nil {
				t.Error("Unlink removed a file that is not a segment")
			}
			return err
		}, []error{ErrBadHeader}},
		{"open a truncated segment", func(t *testing.T) error {
			img := image(t)
			_, err := Open(context.Background(), plant(t, img[:len(img)/2]), nil)
			return err
		}, []error{ErrBadHeader}},
		{"open a segment truncated inside the header", func(t *testing.T) error {
			_, err := Open(context.Background(), plant(t, image(t)[:100]), nil)
			return err
		}, []error{ErrBadHeader}},
		{"open a segment with a flipped header byte", func(t *testing.T) error {
			img := image(t)
			img[hSize+2] ^= 0x40
			_, err := Open(context.Background(), plant(t, img), nil)
			return err
		}, []error{ErrBadHeader}},
		{"open a segment with a reserved header byte set", func(t *testing.T) error {
			img := image(t)
			img[200] = 1
			le.PutUint32(img[hSum:], headerSum(img))
			_, err := Open(context.Background(), plant(t, img), nil)
			return err
		}, []error{ErrBadHeader}},
		{"open a newer format", func(t *testing.T) error {
			img := image(t)
			le.PutUint32(img[hVersion:], formatVersion+1)
			le.PutUint32(img[hSum:], headerSum(img))
			_, err := Open(context.Background(), plant(t, img), nil)
			return err
		}, []error{ErrVersion}},
		{"FromFile of a file that is not a segment", func(t *testing.T) error {
			f, err := os.CreateTemp(t.TempDir(), "junk")
			if err != nil {
				t.Fatal(err)
			}
			f.WriteString(strings.Repeat("junk", 100))
			_, err = FromFile(f) // closes f: the leak check would see it otherwise
			return err
		}, []error{ErrBadHeader}},
		{"FromFile of a read-only segment file", func(t *testing.T) error {
			s := mustCreate(t, 1<<16, nil)
			f, err := os.Open(Dir + "/" + s.Name())
			if err != nil {
				t.Fatal(err)
			}
			_, err = FromFile(f)
			if err == nil {
				return nil
			}
			return fmt.Errorf("%w: %v", ErrBadHeader, err) // any error will do; it must not map
		}, []error{ErrBadHeader}},
		{"open with a corrupted directory", func(t *testing.T) error {
			img := image(t)
			off := le.Uint64(img[hDirOff:])
			img[off+eName] ^= 1 // the entry's checksum no longer matches
			s, err := Open(context.Background(), plant(t, img), nil)
			if err != nil {
				return err
			}
			defer s.Close()
			_, err = s.Find(context.Background(), "obj", Spec{Kind: KindBytes})
			return err
		}, []error{ErrCorrupt}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := c.do(t)
			for _, w := range c.want {
				if !errors.Is(err, w) {
					t.Fatalf("got %v, want %v", err, w)
				}
			}
			t.Logf("%v", err)
		})
	}
}

// image is the bytes of a small segment holding one named object "obj".
func image(t *testing.T) []byte {
	s := mustCreate(t, 1<<16, nil)
	if _, err := Place(Spec{Kind: KindBytes, Size: 16}, nil, In(s, "obj")); err != nil {
		t.Fatal(err)
	}
	return append([]byte(nil), s.b...)
}

// plant puts a file holding b under /dev/shm, as a stranger or a crash might.
func plant(t *testing.T, b []byte) string {
	name := testName(t)
	if err := os.WriteFile(Dir+"/"+name, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return name
}

// plantDir makes a directory under Dir by a fresh name, and returns the name.
func plantDir(t *testing.T) string {
	name := testName(t)
	if err := os.Mkdir(Dir+"/"+name, 0o700); err != nil {
		t.Fatal(err)
	}
	return name
}

func TestBadInputLeavesSegmentIntact(t *testing.T) {
	s := mustCreate(t, 1<<16, nil)
	o, err := Place(Spec{Kind: KindValue, Fingerprint: 7, Size: 8}, func(b []byte) error { copy(b, "intact!!"); return nil }, In(s, "v"))
	if err != nil {
		t.Fatal(err)
	}
	bad := []func() error{
		func() error { _, err := Create(s.Name(), 1<<20, nil); return err },
		func() error { _, err := s.Reserve("v", Spec{Kind: KindValue, Size: 8}); return err },
		func() error { _, err := s.Reserve("", Spec{Kind: KindValue, Size: 8}); return err },
		func() error { _, err := s.Reserve("w", Spec{Kind: 0, Size: 8}); return err },
		func() error { _, err := s.Reserve("w", Spec{Kind: KindValue, Size: 0}); return err },
		func() error { _, err := s.Alloc(Spec{Kind: KindValue, Size: 1 << 40}); return err },
		func() error {
			_, err := s.Find(context.Background(), "v", Spec{Kind: KindQueue, Fingerprint: 7})
			return err
		},
		func() error {
			_, err := s.Find(context.Background(), "v", Spec{Kind: KindValue, Fingerprint: 8})
			return err
		},
		func() error { return removeObj(s, "nope") },
		func() error {
			_, err := s.Attach(Handle{Segment: s.ID(), Offset: o.off + 64, Kind: KindValue, Fingerprint: 7, Generation: 1})
			return err
		},
		func() error {
			_, err := Place(Spec{Kind: KindValue, Size: 8}, func([]byte) error { return errors.New("init fails") }, In(s, "w"))
			return err
		},
	}
	for i, f := range bad {
		if err := f(); err == nil {
			t.Fatalf("bad call %d succeeded", i)
		}
	}
	got, err := s.Find(context.Background(), "v", Spec{Kind: KindValue, Fingerprint: 7})
	if err != nil || string(got.Bytes()) != "intact!!" {
		t.Fatalf("after bad calls: %v %q", err, got.Bytes())
	}
	objs, err := s.Objects()
	if err != nil || len(objs) != 1 {
		t.Fatalf("objects after bad calls: %v %+v", err, objs)
	}
	if err := s.walk(func(off uint64, k block) error { return nil }); err != nil {
		t.Fatal(err)
	}
}

func TestOpenWaitsForInit(t *testing.T) {
	name := testName(t)
	release := make(chan struct{})
	created := make(chan *Segment, 1)
	go func() {
		s, err := Create(name, 1<<16, &SegmentOptions{Init: func(s *Segment) error {
			<-release
			_, err := Place(Spec{Kind: KindBytes, Size: 8}, nil, In(s, "ready"))
			return err
		}})
		if err != nil {
			t.Error(err)
		}
		created <- s
	}()
	// Wait for the name to appear, then open while Init still runs.
	for {
		if _, err := os.Stat(Dir + "/" + name); err == nil {
			break
		}
		time.Sleep(time.Millisecond)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
	_, err := Open(ctx, name, nil)
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Open before ready: %v, want a deadline", err)
	}
	opened := make(chan error, 1)
	go func() {
		o, err := Open(context.Background(), name, nil)
		if err == nil {
			_, err = o.Find(context.Background(), "ready", Spec{Kind: KindBytes})
			o.Close()
		}
		opened <- err
	}()
	close(release)
	if err := <-opened; err != nil {
		t.Fatalf("Open after Init: %v", err)
	}
	(<-created).Close()
}

func TestInitFailureRemovesSegment(t *testing.T) {
	name := testName(t)
	boom := errors.New("boom")
	_, err := Create(name, 1<<16, &SegmentOptions{Init: func(*Segment) error { return boom }})
	if !errors.Is(err, boom) {
		t.Fatalf("got %v", err)
	}
	if _, err := os.Lstat(Dir + "/" + name); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("segment left behind: %v", err)
	}
}

func TestListAndStat(t *testing.T) {
	s := mustCreate(t, 1<<20, nil)
	for _, n := range []string{"a", "b"} {
		if _, err := Place(Spec{Kind: KindMutex, Size: 16}, nil, In(s, n)); err != nil {
			t.Fatal(err)
		}
	}
	junk := plant(t, []byte("not ours"))
	bad := image(t)
	bad[hCreated] ^= 1
	corrupt := plant(t, bad)
	infos, err := List()
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]Info{}
	for _, i := range infos {
		seen[i.Name] = i
	}
	i, ok := seen[s.Name()]
	if !ok || i.Objects != 2 || !i.Ready || !i.CreatorAlive || i.CreatorPid != os.Getpid() || i.Size != 1<<20 || i.ID != s.ID() {
		t.Fatalf("List entry %+v", i)
	}
	if _, ok := seen[junk]; ok {
		t.Fatal("List shows a file that is not a segment")
	}
	if c, ok := seen[corrupt]; !ok || !errors.Is(c.Err, ErrBadHeader) {
		t.Fatalf("List entry for a corrupted segment: %+v", c)
	}
	objs, err := StatObjects(s.Name())
	if err != nil || len(objs) != 2 || objs[0].Name != "a" || objs[0].Kind != KindMutex || !objs[0].Ready {
		t.Fatalf("StatObjects: %v %+v", err, objs)
	}
}

func TestResolveAfterClosingOneOfTwoMappings(t *testing.T) {
	s, err := Anonymous(1 << 20)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	f, err := os.OpenFile(fmt.Sprintf("/proc/self/fd/%d", s.File().Fd()), os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	again, err := FromFile(f)
	if err != nil {
		t.Fatal(err)
	}
	o, err := again.Alloc(Spec{Kind: KindBytes, Size: 8})
	if err != nil {
		t.Fatal(err)
	}
	h := o.Handle()
	// Whichever mapping closes first, the other still resolves the handle.
	if err := again.Close(); err != nil {
		t.Fatal(err)
	}
	r, err := Resolve(h)
	if err != nil || r.Segment() != s {
		t.Fatalf("Resolve after closing one mapping: %v", err)
	}
}

//go:build linux && (amd64 || arm64)

package shm

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"testing"

	"github.com/shmkit/shmkit/internal/testproc"
)

// childNewer is another program attached to the segment named by its
// argument ("name handle-hex mode"), with the segment's file as descriptor
// 3. In mode "refused" every way of attaching must fail with ErrVersion,
// at once, and leave the segment as it is; in mode "read" they must work
// and find the object's bytes.
var childNewer = testproc.Register("shm-newer", func(c *testproc.Child) error {
	var name, hexHandle, mode string
	if _, err := fmt.Sscan(c.Arg(), &name, &hexHandle, &mode); err != nil {
		return err
	}
	hb, err := hex.DecodeString(hexHandle)
	if err != nil {
		return err
	}
	ctx := context.Background() // a wait would hang until the helper's timeout
	if mode == "read" {
		s, err := Open(ctx, name, nil)
		if err != nil {
			return err
		}
		defer s.Close()
		o, err := Unmarshal(hb, Spec{Kind: KindBytes})
		if err != nil {
			return err
		}
		if got := string(o.Bytes()[:len(versionPayload)]); got != versionPayload {
			return fmt.Errorf("the object holds %q, want %q", got, versionPayload)
		}
		return c.File(0).Close()
	}
	var seen []error
	refused := func(what string, err error) {
		if !errors.Is(err, ErrVersion) {
			seen = append(seen, fmt.Errorf("%s: %v, want ErrVersion", what, err))
		}
	}
	s, err := Open(ctx, name, nil)
	refused("Open", err)
	if err == nil {
		s.Close()
	}
	s, err = OpenOrCreate(ctx, name, 1<<20, nil)
	refused("OpenOrCreate", err)
	if err == nil {
		s.Close()
	}
	_, err = Unmarshal(hb, Spec{Kind: KindBytes})
	refused("Unmarshal of a handle", err)
	_, err = FromFile(c.File(0)) // as a child inheriting the segment does
	refused("FromFile", err)
	_, err = Stat(name)
	refused("Stat", err)
	list, err := List()
	if err != nil {
		return err
	}
	listed := false
	for _, in := range list {
		if in.Name == name {
			listed = true
			refused("List's entry", in.Err)
		}
	}
	if !listed {
		seen = append(seen, errors.New("List leaves the segment out"))
	}
	return errors.Join(seen...)
})

const versionPayload = "written by this build"

// TestNewerFormatRefused: a program built with an older shmkit, attaching
// to a segment of a newer format, is refused with ErrVersion by every way
// of attaching (Open, OpenOrCreate, a handle, an inherited file), at once
// rather than after waiting, whether or not the newer header's checksum is
// one this build computes; OpenOrCreate neither replaces nor rewrites the
// segment, and List and Stat report it. The segment is a real one, made
// and still used by this process, with only its version word forged.
func TestNewerFormatRefused(t *testing.T) {
	s := mustCreate(t, 1<<20, nil)
	o, err := Place(Spec{Kind: KindBytes, Size: 4096}, func(b []byte) error {
		copy(b, versionPayload)
		return nil
	}, In(s, "obj"))
	if err != nil {
		t.Fatal(err)
	}
	hb, err := o.Handle().MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	start := func(t *testing.T, mode string) *testproc.Proc {
		return testproc.Start(t, childNewer, testproc.Arg(s.Name()+" "+hex.EncodeToString(hb)+" "+mode),
			testproc.Files(s.File()))
	}
	start(t, "read").Succeed()

	orig := append([]byte(nil), s.b[:headerSize]...)
	for _, v := range []uint32{formatVersion + 1, math.MaxUint32} {
		for _, resum := range []bool{false, true} {
			t.Run(fmt.Sprintf("version %d, checksum recomputed %v", v, resum), func(t *testing.T) {
				le.PutUint32(s.b[hVersion:], v)
				if resum {
					le.PutUint32(s.b[hSum:], headerSum(s.b))
				}
				forged := append([]byte(nil), s.b[:headerSize]...)
				defer copy(s.b[:headerSize], orig)
				start(t, "refused").Succeed()
				// Compare all but the lock words, which the child's
				// attempts do not take but a test of this process could.
				if string(s.b[:hLockOwner]) != string(forged[:hLockOwner]) {
					t.Errorf("the header was rewritten:\n%x\nwant\n%x", s.b[:hLockOwner], forged[:hLockOwner])
				}
			})
		}
	}
	start(t, "read").Succeed() // the forged word was all that was refused

	if err := Unlink(s.Name()); err != nil { // shmctl rm removes it, whatever its version
		t.Fatalf("Unlink of a segment of a newer format: %v", err)
	}
}

// TestNewerHandleRefused: a handle of a newer encoding is refused with
// ErrBadHandle and ErrVersion, whatever checksum it carries.
func TestNewerHandleRefused(t *testing.T) {
	s := mustCreate(t, 1<<16, nil)
	o, err := s.Alloc(Spec{Kind: KindBytes, Size: 64})
	if err != nil {
		t.Fatal(err)
	}
	b, err := o.Handle().MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	b[4] = handleVersion + 1
	var h Handle
	err = h.UnmarshalBinary(b)
	if !errors.Is(err, ErrBadHandle) || !errors.Is(err, ErrVersion) {
		t.Fatalf("a handle of version %d: %v, want ErrBadHandle and ErrVersion", b[4], err)
	}
	if _, err := Unmarshal(b, Spec{Kind: KindBytes}); !errors.Is(err, ErrVersion) {
		t.Fatalf("Unmarshal of a handle of version %d: %v, want ErrVersion", b[4], err)
	}
}

//go:build linux && (amd64 || arm64)

package owner

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/shmkit/shmkit/internal/sys"
	"github.com/shmkit/shmkit/internal/testproc"
)

func TestOwnerWords(t *testing.T) {
	me, err := Me()
	if err != nil {
		t.Fatal(err)
	}
	if me == 0 || me&1 != 0 || Pid(me) != os.Getpid() {
		t.Fatalf("Me() = %#x (pid %d), this is pid %d", me, Pid(me), os.Getpid())
	}
	if w := Word(7, 1<<31|5); w != 7<<32|5<<1 {
		t.Fatalf("Word(7, 1<<31|5) = %#x: the nonce keeps 31 bits", w)
	}
	if !Alive(me) || !Alive(me|1) {
		t.Error("this process is not alive")
	}
	if Alive(0) || Alive(1) {
		t.Error("owner word 0 names a live process")
	}
	// Words of garbage name nobody, whatever their bits: a negative pid,
	// one past the kernel's limit, all ones.
	for _, w := range []uint64{^uint64(0), 0x8000_0000_0000_0002, (maxPid+1)<<32 | 2, 0xdeadbeef_cafef00d} {
		if Alive(w) || Probe(memfd(t), w) {
			t.Errorf("garbage owner word %#x names a live process", w)
		}
	}
}

func memfd(t testing.TB) *os.File {
	t.Helper()
	f, err := sys.Memfd("owner-test")
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(4096); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

func join(t testing.TB, f *os.File) *Table {
	t.Helper()
	tb, err := Join(f)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tb.Leave() })
	return tb
}

// A child that joins the same file through an inherited descriptor is alive
// to the parent while it runs, is listed by Holders, and is dead once
// killed: its inherited descriptor shares the parent's description, so its
// lock must be on a description of its own for this to hold.
func TestJoinChildLifetime(t *testing.T) {
	f := memfd(t)
	tb := join(t, f)
	me, _ := Me()
	p := testproc.Start(t, childJoin, testproc.Files(f))
	p.WaitPoint("joined")
	var b [8]byte
	if _, err := f.ReadAt(b[:], 0); err != nil {
		t.Fatal(err)
	}
	child := binary.LittleEndian.Uint64(b[:])
	if Pid(child) != p.Pid() || child == me {
		t.Fatalf("child wrote owner word %#x (pid %d), child pid is %d", child, Pid(child), p.Pid())
	}
	if !tb.Alive(child) || !Alive(child) || !Probe(f, child) {
		t.Fatal("a live child is taken for dead")
	}
	if tb.Alive(child+2) || Alive(child+2) {
		t.Fatal("a word with another nonce is taken for a live process")
	}
	hs, err := Holders(f, 10)
	if err != nil {
		t.Fatal(err)
	}
	// Holders looks from f, which holds no lock: it sees both processes.
	if !slices.Contains(hs, child) || !slices.Contains(hs, me) {
		t.Fatalf("Holders = %#x, want both %#x and %#x", hs, child, me)
	}
	p.Kill()
	p.Wait()
	// The kernel drops the lock as it closes the dead process's files;
	// the loop only bounds a hang.
	for deadline := time.Now().Add(10 * time.Second); tb.Alive(child); {
		if time.Now().After(deadline) {
			t.Fatal("a killed child still counts as alive")
		}
		time.Sleep(time.Millisecond)
	}
	if Alive(child) {
		t.Fatal("Alive disagrees with the table")
	}
	hs, _ = Holders(f, 10)
	if slices.Contains(hs, child) {
		t.Fatalf("Holders = %#x still lists the dead child", hs)
	}
}

var (
	childJoin = testproc.Register("owner-join", func(c *testproc.Child) error {
		f := c.File(0)
		tb, err := Join(f)
		if err != nil {
			return err
		}
		defer tb.Leave()
		me, _ := Me()
		var b [8]byte
		binary.LittleEndian.PutUint64(b[:], me)
		if _, err := f.WriteAt(b[:], 0); err != nil {
			return err
		}
		c.Point("joined")
		time.Sleep(time.Hour)
		return nil
	})
	childCollide = testproc.Register("owner-collide", func(c *testproc.Child) error {
		var b [8]byte
		if _, err := c.File(0).ReadAt(b[:], 0); err != nil {
			return err
		}
		self.once.Do(func() {})
		self.word = binary.LittleEndian.Uint64(b[:])
		if _, err := Join(c.File(0)); !errors.Is(err, ErrCollision) {
			return fmt.Errorf("Join with a live process's owner word: %v, want ErrCollision", err)
		}
		return nil
	})
)

// startJoined starts a child that joins f and writes its owner word at
// offset 0, and returns its pid once it has.
func startJoined(t testing.TB, f *os.File) int {
	p := testproc.Start(t, childJoin, testproc.Files(f))
	p.WaitPoint("joined")
	return p.Pid()
}

// Two live processes never hold one owner word in one file: the second
// Join fails with ErrCollision.
func TestJoinCollision(t *testing.T) {
	f := memfd(t)
	join(t, f)
	me, _ := Me()
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], me)
	if _, err := f.WriteAt(b[:], 0); err != nil {
		t.Fatal(err)
	}
	testproc.Start(t, childCollide, testproc.Files(f)).Succeed()
}

// Joins of one file share one table; the lock stays until the last Leave.
func TestJoinCounts(t *testing.T) {
	f := memfd(t)
	a, err := Join(f)
	if err != nil {
		t.Fatal(err)
	}
	b, err := Join(f)
	if err != nil {
		t.Fatal(err)
	}
	if a != b {
		t.Fatal("two Joins of one file made two tables")
	}
	me, _ := Me()
	probe := func() bool { return Probe(f, me) }
	a.Leave()
	if !probe() {
		t.Fatal("the lock went with the first of two Leaves")
	}
	b.Leave()
	if probe() {
		t.Fatal("the lock stayed after the last Leave")
	}
	if Alive(me) != true {
		t.Fatal("this process is always alive to itself")
	}
}

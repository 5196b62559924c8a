//go:build linux && (amd64 || arm64)

package shm

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shmkit/shmkit/internal/mem"
	"github.com/shmkit/shmkit/internal/testproc"
)

// childRace creates or opens the segment named by its argument ("mode name")
// as soon as the parent lets it go, and prints what happened.
var childRace = testproc.Register("shm-race", func(c *testproc.Child) error {
	mode, name, _ := strings.Cut(c.Arg(), " ")
	c.Point("go")
	var (
		s   *Segment
		err error
	)
	if mode == "create" {
		s, err = Create(name, 1<<20, nil)
		if errors.Is(err, ErrExist) {
			fmt.Println("RESULT exist")
			return nil
		}
	} else {
		s, err = OpenOrCreate(context.Background(), name, 1<<20, nil)
	}
	if err != nil {
		return err
	}
	defer s.Close()
	// Both processes can use it at once.
	if _, err := s.Alloc(Spec{Kind: KindBytes, Size: 100}); err != nil {
		return err
	}
	if s.Created() {
		fmt.Println("RESULT created")
	} else {
		fmt.Println("RESULT opened")
	}
	return nil
})

func TestCreateRace(t *testing.T) {
	for _, mode := range []string{"create", "open-or-create"} {
		for round := 0; round < 15; round++ {
			name := testName(t)
			var ps []*testproc.Proc
			for range 2 {
				ps = append(ps, testproc.Start(t, childRace, testproc.Arg(mode+" "+name)))
			}
			for _, p := range ps {
				p.WaitPoint("go")
			}
			for _, p := range ps {
				p.Continue()
			}
			counts := map[string]int{}
			for _, p := range ps {
				out := p.Succeed().Output
				i := strings.Index(out, "RESULT ")
				if i < 0 {
					t.Fatalf("child said %q", out)
				}
				counts[strings.Fields(out[i:])[1]]++
			}
			loser := "opened"
			if mode == "create" {
				loser = "exist"
			}
			if counts["created"] != 1 || counts[loser] != 1 {
				t.Fatalf("%s round %d: %v", mode, round, counts)
			}
			if err := Unlink(name); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// openInBackground opens and closes the named segment in a goroutine and
// sends Open's error.
func openInBackground(name string) <-chan error {
	opened := make(chan error, 1)
	go func() {
		s, err := Open(context.Background(), name, nil)
		if err == nil {
			s.Close()
		}
		opened <- err
	}()
	return opened
}

// childCreateSlow creates a segment and stops just before marking it ready.
var childCreateSlow = testproc.Register("shm-create-slow", func(c *testproc.Child) error {
	testHookBeforeReady = func() { c.Point("before-ready") }
	s, err := Create(c.Arg(), 1<<20, nil)
	if err != nil {
		return err
	}
	return s.Close()
})

func TestCreatorKilledBeforeReady(t *testing.T) {
	name := testName(t)
	p := testproc.Start(t, childCreateSlow, testproc.Arg(name))
	p.WaitPoint("before-ready")
	opened := openInBackground(name)
	select {
	case err := <-opened:
		t.Fatalf("Open returned before the segment was ready: %v", err)
	case <-time.After(50 * time.Millisecond):
	}
	p.Kill()
	if !p.Wait().Killed() {
		t.Fatal("child was not killed")
	}
	if err := <-opened; !errors.Is(err, ErrCreatorDied) {
		t.Fatalf("waiting Open: %v, want ErrCreatorDied", err)
	}
	if _, err := Open(context.Background(), name, nil); !errors.Is(err, ErrCreatorDied) {
		t.Fatalf("later Open: %v, want ErrCreatorDied", err)
	}
	info, err := Stat(name)
	if err != nil || info.Ready || info.CreatorAlive {
		t.Fatalf("Stat: %v %+v", err, info)
	}
	if err := Unlink(name); err != nil {
		t.Fatal(err)
	}
}

func TestOpenWaitsForSlowCreator(t *testing.T) {
	name := testName(t)
	p := testproc.Start(t, childCreateSlow, testproc.Arg(name))
	p.WaitPoint("before-ready")
	opened := openInBackground(name)
	p.Continue()
	if err := <-opened; err != nil {
		t.Fatal(err)
	}
	p.Succeed()
}

// openChurnArg opens the segment a churn child's argument ("name fill")
// names and returns it with the child's fill byte.
func openChurnArg(c *testproc.Child) (*Segment, byte, error) {
	name, idx, _ := strings.Cut(c.Arg(), " ")
	var fill byte
	if _, err := fmt.Sscan(idx, &fill); err != nil {
		return nil, 0, fmt.Errorf("argument %q: %w", c.Arg(), err)
	}
	s, err := Open(context.Background(), name, nil)
	return s, fill, err
}

// allocFilled allocates size bytes and fills them with fill.
func allocFilled(s *Segment, size uint64, fill byte) (*Object, error) {
	o, err := s.Alloc(Spec{Kind: KindBytes, Size: size})
	if err != nil {
		return nil, err
	}
	b := o.Bytes()
	for k := range b {
		b[k] = fill
	}
	return o, nil
}

// checkAndFree checks that kept[j] still holds only fill, frees it, and
// drops it from kept.
func checkAndFree(kept []*Object, j int, fill byte) ([]*Object, error) {
	for _, b := range kept[j].Bytes() {
		if b != fill {
			return kept, fmt.Errorf("block at %d overwritten by %d", kept[j].off, b)
		}
	}
	if err := kept[j].Free(); err != nil {
		return kept, err
	}
	return append(kept[:j], kept[j+1:]...), nil
}

// childAllocChurn allocates and frees blocks in a shared segment, filling
// each with its own byte and checking the fill before it frees it, then
// prints the blocks it keeps.
var childAllocChurn = testproc.Register("shm-alloc-churn", func(c *testproc.Child) error {
	s, fill, err := openChurnArg(c)
	if err != nil {
		return err
	}
	defer s.Close()
	r := rand.New(rand.NewPCG(uint64(fill), 7))
	var kept []*Object
	c.Point("go")
	for i := 0; i < 400; i++ {
		if len(kept) > 0 && r.IntN(2) == 0 {
			var err error
			if kept, err = checkAndFree(kept, r.IntN(len(kept)), fill); err != nil {
				return err
			}
			continue
		}
		o, err := allocFilled(s, uint64(1+r.IntN(4000)), fill)
		if err != nil {
			return err
		}
		kept = append(kept, o)
	}
	for _, o := range kept {
		fmt.Printf("OBJ %d %d %d\n", o.off, o.length, fill)
	}
	return nil
})

func TestConcurrentAllocAcrossProcesses(t *testing.T) {
	s := mustCreate(t, 32<<20, nil)
	var ps []*testproc.Proc
	for i := 1; i <= 4; i++ {
		ps = append(ps, testproc.Start(t, childAllocChurn, testproc.Arg(fmt.Sprintf("%s %d", s.Name(), i))))
	}
	for _, p := range ps {
		p.WaitPoint("go")
	}
	for _, p := range ps {
		p.Continue()
	}
	type blk struct{ off, n uint64 }
	var all []blk
	for _, p := range ps {
		for _, line := range strings.Split(p.Succeed().Output, "\n") {
			var off, n uint64
			var fill byte
			if _, err := fmt.Sscanf(line, "OBJ %d %d %d", &off, &n, &fill); err != nil {
				continue
			}
			for _, b := range s.b[off : off+n] {
				if b != fill {
					t.Fatalf("block at %d holds %d, want %d", off, b, fill)
				}
			}
			all = append(all, blk{off, n})
		}
	}
	sort.Slice(all, func(i, j int) bool { return all[i].off < all[j].off })
	for i := 1; i < len(all); i++ {
		if all[i-1].off+all[i-1].n > all[i].off {
			t.Fatalf("blocks at %d and %d overlap", all[i-1].off, all[i].off)
		}
	}
	if used := checkHeap(t, s); used != len(all) {
		t.Fatalf("%d used blocks, children kept %d", used, len(all))
	}
}

// childHoldLock takes the segment's allocator lock and stops there.
var childHoldLock = testproc.Register("shm-hold-lock", func(c *testproc.Child) error {
	s, err := Open(context.Background(), c.Arg(), nil)
	if err != nil {
		return err
	}
	if err := s.lockArena(); err != nil {
		return err
	}
	c.Point("locked")
	s.unlockArena()
	return nil
})

func TestKillHoldingAllocatorLock(t *testing.T) {
	s := mustCreate(t, 1<<20, nil)
	for round := 0; round < 3; round++ {
		p := testproc.Start(t, childHoldLock, testproc.Arg(s.Name()))
		p.WaitPoint("locked")
		done := make(chan error, 1)
		go func() {
			_, err := s.Alloc(Spec{Kind: KindBytes, Size: 10})
			done <- err
		}()
		select {
		case err := <-done:
			t.Fatalf("Alloc while another process holds the lock: %v", err)
		case <-time.After(30 * time.Millisecond):
		}
		p.Kill()
		p.Wait()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		if n := atomic.LoadUint64(mem.Uint64(s.b, hRecoveries)); n != uint64(round+1) {
			t.Fatalf("%d recoveries, want %d", n, round+1)
		}
	}
	checkHeap(t, s)
}

// childReserve reserves a named object, stopping where the test asks:
// "allocated" (block taken, no directory entry yet) or "reserved" (name
// taken, not yet published).
var childReserve = testproc.Register("shm-reserve", func(c *testproc.Child) error {
	s, err := Open(context.Background(), c.Arg(), nil)
	if err != nil {
		return err
	}
	testHookReserve = func() { c.Point("allocated") }
	o, err := s.Reserve("victim", Spec{Kind: KindValue, Size: 4000})
	if err != nil {
		return err
	}
	c.Point("reserved")
	return o.Publish()
})

func TestKillInsideReserve(t *testing.T) {
	s := mustCreate(t, 1<<20, nil)
	p := testproc.Start(t, childReserve, testproc.Arg(s.Name()))
	p.WaitPoint("allocated")
	p.Kill()
	p.Wait()
	// The dead child held the lock with a block and no entry: the next
	// locker takes over and frees the block.
	o, err := s.Reserve("victim", Spec{Kind: KindValue, Size: 8})
	if err != nil {
		t.Fatal(err)
	}
	if used := checkHeap(t, s); used != 1 {
		t.Fatalf("%d used blocks after recovery, want 1", used)
	}
	o.Publish()
}

func TestKillBeforePublish(t *testing.T) {
	s := mustCreate(t, 1<<20, nil)
	p := testproc.Start(t, childReserve, testproc.Arg(s.Name()))
	p.WaitPoint("reserved")
	found := make(chan error, 1)
	go func() {
		_, err := s.Find(context.Background(), "victim", Spec{Kind: KindValue})
		found <- err
	}()
	p.Kill()
	p.Wait()
	if err := <-found; !errors.Is(err, ErrCreatorDied) {
		t.Fatalf("Find of an object whose creator died: %v", err)
	}
	objs, _ := s.Objects()
	if len(objs) != 1 || objs[0].Ready || objs[0].CreatorAlive {
		t.Fatalf("objects: %+v", objs)
	}
	// The name is reclaimed by the next creator.
	if _, err := Place(Spec{Kind: KindValue, Size: 8}, nil, In(s, "victim")); err != nil {
		t.Fatal(err)
	}
	if used := checkHeap(t, s); used != 1 {
		t.Fatalf("%d used blocks, want 1", used)
	}
}

// childPong resolves the handle in its argument (after mapping the segment
// it was passed, if any), checks "ping" and writes "pong".
var childPong = testproc.Register("shm-pong", func(c *testproc.Child) error {
	if c.NumFiles() > 0 {
		if _, err := FromFile(c.File(0)); err != nil {
			return err
		}
	}
	b, err := hex.DecodeString(c.Arg())
	if err != nil {
		return err
	}
	var h Handle
	if err := h.UnmarshalBinary(b); err != nil {
		return err
	}
	o, err := Resolve(h)
	if err != nil {
		return err
	}
	if string(o.Bytes()[:4]) != "ping" {
		return fmt.Errorf("child reads %q", o.Bytes()[:4])
	}
	copy(o.Bytes(), "pong")
	return nil
})

func TestHandleAcrossProcesses(t *testing.T) {
	anon, err := Anonymous(1 << 20)
	if err != nil {
		t.Fatal(err)
	}
	defer anon.Close()
	named := mustCreate(t, 1<<20, nil)
	for _, c := range []struct {
		seg   *Segment
		files []*os.File
	}{{anon, []*os.File{anon.File()}}, {named, nil}} {
		o, err := Place(Spec{Kind: KindBytes, Size: 4}, nil, In(c.seg, ""))
		if err != nil {
			t.Fatal(err)
		}
		copy(o.Bytes(), "ping")
		b, _ := o.Handle().MarshalBinary()
		testproc.Start(t, childPong, testproc.Arg(hex.EncodeToString(b)), testproc.Files(c.files...)).Succeed()
		if string(o.Bytes()) != "pong" {
			t.Fatalf("parent reads %q", o.Bytes())
		}
	}
}

// childCreateHold creates a segment and holds it until killed.
var childCreateHold = testproc.Register("shm-create-hold", func(c *testproc.Child) error {
	s, err := Create(c.Arg(), 1<<20, nil)
	if err != nil {
		return err
	}
	c.Point("holding")
	return s.Close()
})

func TestUsersSeesCreator(t *testing.T) {
	name := testName(t)
	p := testproc.Start(t, childCreateHold, testproc.Arg(name))
	p.WaitPoint("holding")
	users, err := Users(name)
	if err != nil {
		t.Fatal(err)
	}
	if len(users) != 1 || users[0] != p.Pid() {
		t.Fatalf("users %v, want [%d] (the creator)", users, p.Pid())
	}
	p.Kill()
	p.Wait()
	users, err = Users(name)
	if err != nil || len(users) != 0 {
		t.Fatalf("users after the creator died: %v %v", users, err)
	}
	info, err := Stat(name)
	if err != nil || info.CreatorAlive || !info.Ready {
		t.Fatalf("Stat: %v %+v", err, info)
	}
}

// childChurnForever allocates, fills, checks and frees blocks until killed,
// exiting 1 if it ever finds one of its blocks changed by someone else.
var childChurnForever = testproc.Register("shm-churn-forever", func(c *testproc.Child) error {
	s, fill, err := openChurnArg(c)
	if err != nil {
		return err
	}
	r := rand.New(rand.NewPCG(uint64(fill), uint64(os.Getpid())))
	var kept []*Object
	c.Point("go")
	for {
		if len(kept) > 20 || (len(kept) > 0 && r.IntN(2) == 0) {
			var err error
			if kept, err = checkAndFree(kept, r.IntN(len(kept)), fill); err != nil {
				return err
			}
			continue
		}
		if r.IntN(4) == 0 { // named objects too: Reserve, Publish, Remove
			name := fmt.Sprintf("c%d-%d", fill, r.IntN(8))
			if err := removeObj(s, name); err != nil && !errors.Is(err, ErrNotExist) {
				return err
			}
			if _, err := Place(Spec{Kind: KindValue, Size: 200}, nil, In(s, name)); err != nil && !errors.Is(err, ErrFull) {
				return err
			}
			continue
		}
		o, err := allocFilled(s, uint64(1+r.IntN(3000)), fill)
		if errors.Is(err, ErrFull) {
			continue
		}
		if err != nil {
			return err
		}
		kept = append(kept, o)
	}
})

// checkDirectory checks, under the lock, that every directory entry points
// to a used block of its generation, and that every used named block is
// the one its entry points to.
func checkDirectory(t *testing.T, s *Segment) {
	t.Helper()
	named := 0
	for i := 0; i < int(s.h.entries); i++ {
		e, err := decodeEntry(s.entryBytes(i), &s.h)
		if err != nil {
			t.Fatal(err)
		}
		if e.state == entryEmpty {
			continue
		}
		named++
		k, err := s.findBlock(e.off)
		if err != nil || k.gen != e.gen || k.entry != uint32(i)+1 {
			t.Fatalf("entry %q points to block %+v (%v)", e.name, k, err)
		}
	}
	err := s.walk(func(off uint64, k block) error {
		if k.state == blockUsed && k.entry != 0 {
			named--
			if !s.entryOwns(int(k.entry)-1, off+blockHeader, k.gen) {
				t.Fatalf("named block at %d has no entry", off)
			}
		}
		return nil
	})
	if err != nil || named != 0 {
		t.Fatalf("walk: %v; entries and named blocks differ by %d", err, named)
	}
}

// TestKillDuringChurn SIGKILLs processes at random moments while they
// allocate and free, so that kills land anywhere in the allocator: inside
// a split, a merge, a move of the top. After every kill the heap must walk,
// the surviving process must never see its blocks changed, and the next
// locker must recover the lock.
func TestKillDuringChurn(t *testing.T) {
	s := mustCreate(t, 4<<20, nil)
	start := func(i int) *testproc.Proc {
		p := testproc.Start(t, childChurnForever, testproc.Arg(fmt.Sprintf("%s %d", s.Name(), i)))
		p.WaitPoint("go")
		p.Continue()
		return p
	}
	procs := []*testproc.Proc{start(1), start(2)}
	r := rand.New(rand.NewPCG(3, 4))
	rounds := 60
	if testing.Short() {
		rounds = 10
	}
	for round := 0; round < rounds; round++ {
		time.Sleep(time.Duration(r.IntN(3000)) * time.Microsecond)
		i := r.IntN(2)
		procs[i].Kill()
		if res := procs[i].Wait(); !res.Killed() {
			t.Fatalf("round %d: child ended by itself: exit %d\n%s", round, res.ExitCode, res.Output)
		}
		// The lock may be held by the dead child: this Alloc takes it over.
		o, err := s.Alloc(Spec{Kind: KindBytes, Size: 100})
		if err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		o.Free()
		if err := s.lockArena(); err != nil {
			t.Fatal(err)
		}
		checkHeap(t, s)
		checkDirectory(t, s)
		s.unlockArena()
		procs[i] = start(1 + i)
	}
	for _, p := range procs {
		p.Kill()
		if res := p.Wait(); !res.Killed() {
			t.Fatalf("child ended by itself: exit %d\n%s", res.ExitCode, res.Output)
		}
	}
	if err := s.lockArena(); err != nil {
		t.Fatal(err)
	}
	checkHeap(t, s)
	checkDirectory(t, s)
	s.unlockArena()
	t.Logf("%d lock recoveries in %d kills", atomic.LoadUint64(mem.Uint64(s.b, hRecoveries)), rounds+2)
}

func TestLockWordNamingAStranger(t *testing.T) {
	s := mustCreate(t, 1<<20, nil)
	other := mustCreate(t, 1<<20, nil)
	// A live process that holds another segment's lock, not this one's.
	p := testproc.Start(t, childHoldLock, testproc.Arg(other.Name()))
	p.WaitPoint("locked")
	stranger := atomic.LoadUint64(mem.Uint64(other.b, hLockOwner))
	atomic.StoreUint64(mem.Uint64(s.b, hLockOwner), stranger) // as corruption would
	if _, err := s.Alloc(Spec{Kind: KindBytes, Size: 10}); err != nil {
		t.Fatal(err)
	}
	if n := atomic.LoadUint64(mem.Uint64(s.b, hRecoveries)); n != 1 {
		t.Fatalf("%d recoveries, want 1", n)
	}
	p.Kill()
	p.Wait()
}

// childArenaStep stops at the allocator point its argument names ("seg
// point"), inside the operation that reaches it: an Alloc for the alloc
// points, the Remove of "b" (whose successor "c" the parent removed, so
// that the free merges) for "free-merged", and the Remove of "d", the
// last block, for the others.
var childArenaStep = testproc.Register("shm-arena-step", func(c *testproc.Child) error {
	f := strings.Fields(c.Arg())
	s, err := Open(context.Background(), f[0], nil)
	if err != nil {
		return err
	}
	testHookArena = func(p string) {
		if p == f[1] {
			c.Point(p)
		}
	}
	switch f[1] {
	case "alloc-written", "alloc-moved":
		_, err = s.Alloc(Spec{Kind: KindBytes, Size: 3000})
	case "free-merged":
		err = removeObj(s, "b")
	default:
		err = removeObj(s, "d")
	}
	if err != nil {
		return err
	}
	return fmt.Errorf("not killed at %q", f[1])
})

// TestKillInsideArena kills a process between the stores of an
// allocation, a free, a merge, the lowering of the heap top and the
// removal of a directory entry. The next locker takes the allocator lock
// over: the heap walks, every live object keeps its bytes, nothing leaks
// (freeing the rest gives the whole heap back) and the heap is usable.
func TestKillInsideArena(t *testing.T) {
	for _, point := range []string{"alloc-written", "alloc-moved", "free-marked", "free-merged", "top-lowered", "entry-dropped"} {
		t.Run(point, func(t *testing.T) {
			s := mustCreate(t, 1<<20, nil)
			empty, err := s.top()
			if err != nil {
				t.Fatal(err)
			}
			sp := Spec{Kind: KindBytes, Size: 1000}
			for i, name := range []string{"a", "b", "c", "d"} {
				o, err := Place(sp, nil, In(s, name))
				if err != nil {
					t.Fatal(err)
				}
				fill(o.Bytes(), byte(i+1))
			}
			if point == "free-merged" {
				if err := removeObj(s, "c"); err != nil {
					t.Fatal(err)
				}
			}
			p := testproc.Start(t, childArenaStep, testproc.Arg(s.Name()+" "+point))
			p.WaitPoint(point)
			p.Kill()
			p.Wait()
			// The next allocation takes the lock from the dead child.
			n, err := s.Alloc(Spec{Kind: KindBytes, Size: 5000})
			if err != nil {
				t.Fatalf("Alloc after a kill at %q: %v", point, err)
			}
			checkHeap(t, s)
			objs, err := s.Objects()
			if err != nil {
				t.Fatal(err)
			}
			for _, o := range objs {
				x, err := s.Find(context.Background(), o.Name, Spec{Kind: KindBytes})
				if err != nil {
					t.Fatalf("Find(%q) after a kill at %q: %v", o.Name, point, err)
				}
				want := byte(strings.Index("abcd", o.Name) + 1)
				for _, c := range x.Bytes() {
					if c != want {
						t.Fatalf("object %q overwritten after a kill at %q: byte %#x, want %#x", o.Name, point, c, want)
					}
				}
				if err := removeObj(s, o.Name); err != nil {
					t.Fatal(err)
				}
			}
			if err := n.Free(); err != nil {
				t.Fatal(err)
			}
			if top, err := s.top(); err != nil || top != empty {
				t.Fatalf("after a kill at %q and freeing everything: heap top %d (%v), want %d: a block leaked", point, top, err, empty)
			}
			if used := checkHeap(t, s); used != 0 {
				t.Fatalf("%d used blocks left", used)
			}
		})
	}
}

func fill(b []byte, c byte) {
	for i := range b {
		b[i] = c
	}
}

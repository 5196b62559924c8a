//go:build linux && (amd64 || arm64)

package shmap

// Crash consistency: a child process makes operations on a shared Map (a
// List for the list points) and dies by SIGKILL at its Nth arrival at a
// kill point (testHook); the parent, the survivor, takes the lock (which
// repairs what the child left) and checks the whole collection against
// its model.
//
// The operations are a function of their number j (killMapOp), so the
// parent's model is exact: the child stores j+1 in a shared word (rec)
// after each completed operation, so that the parent knows the completed
// ones, and the interrupted one is operation j, whose outcome the point
// decides (overwrite/overwritten, insert/inserted, delete, the growth
// points: not applied; committed, deleted: applied; List append/appended:
// not appended). At the growth points the child also records the old and
// the new table, and the parent checks which one the header names after
// the repair (grow/grown: the old, switch/switched: the new).
//
// A chain of children: each one starts ahead (killAhead), waits for its
// turn in rec, continues the operations where the last one died and dies
// at its own point. Every killEpoch kills (every kill, for the growth
// points) the parent frees the collection and makes a new one, of 8 slots,
// so that real doublings happen again.
// After every kill: every key and value, Len, one repair counted; after
// every collection is freed, the segment's heap as it was before it was
// made (shm.Stat's HeapUsed: a leaked table, or any block, keeps the top
// of the heap higher), and at the end only rec in its directory.

import (
	"context"
	"fmt"
	"maps"
	"math/rand/v2"
	"os"
	"strconv"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/shmkit/shmkit/internal/mem"
	"github.com/shmkit/shmkit/internal/shmtest"
	"github.com/shmkit/shmkit/internal/testproc"
	"github.com/shmkit/shmkit/shm"
)

const (
	killAhead = 3  // children started ahead of their turn
	killEpoch = 20 // kills per collection (1 for the growth points)
	killGuard = time.Minute

	// words of rec
	recGo     = 0 // the round whose child may run
	recNext   = 1 // the number of the next operation
	recOldTab = 2 // at a growth point: the table offset before
	recNewTab = 3 // and the new table's
	recPoint  = 4 // 1 once the child reached its kill point
	recWords  = 8
)

// killRounds is the number of kills per point.
func killRounds(kind, point string) int {
	n := 200
	switch {
	case raceEnabled:
		n = 12
	case testing.Short():
		n = 30
	}
	if kind == "list" && point != "append" && point != "appended" {
		n /= 2 // the points a Map has too
	}
	return n
}

func killMix(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	return x ^ x>>31
}

// killOp is operation j: 0 Set, 1 Delete, 2 CompareAndSwap of the value
// the map holds (a Get first), for a Map; 0 Append, 1 Set, for a List.
type killOp struct {
	kind int
	key  int64
	val  int64
}

// killMapOp: keys in a range that widens and narrows with j, so that the
// map grows (doubling) and fills with tombstones (a rehash at its size).
func killMapOp(j uint64) killOp {
	h := killMix(j + 0x5eed)
	keys := uint64(24 + 40*((j/300)%3))
	kind := 0
	switch r := h % 10; {
	case r >= 8:
		kind = 2
	case r >= 5:
		kind = 1
	}
	return killOp{kind: kind, key: int64((h >> 8) % keys), val: int64(j)<<8 | int64(h&0xff)}
}

// killListOp: mostly appends, some Sets of an element chosen by val.
func killListOp(j uint64) killOp {
	h := killMix(j + 0x1157)
	kind := 0
	if h%4 == 0 {
		kind = 1
	}
	return killOp{kind: kind, key: int64(h >> 8), val: int64(j)}
}

func rec(o *shm.Object, i int) *uint64 { return mem.Uint64(o.Bytes(), uintptr(8*i)) }

// killChild: argument "seg point n round coll", coll "map" or "list".
var killChild = testproc.Register("shmap-kill", func(c *testproc.Child) error {
	seg, f, err := shmtest.OpenArgs(c)
	if err != nil {
		return err
	}
	defer seg.Close()
	if len(f) != 5 {
		return fmt.Errorf("argument %q", c.Arg())
	}
	point := f[0]
	n, err := strconv.Atoi(f[1])
	if err != nil {
		return err
	}
	round, err := strconv.ParseUint(f[2], 10, 64)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), killGuard)
	defer cancel()
	r, err := seg.Find(ctx, "rec", shm.Spec{Kind: shm.KindBytes})
	if err != nil {
		return err
	}
	for atomicLoad(rec(r, recGo)) != round {
		if ctx.Err() != nil {
			return fmt.Errorf("round %d: never my turn (%d)", round, atomicLoad(rec(r, recGo)))
		}
		time.Sleep(50 * time.Microsecond)
	}
	var cl *coll
	var do func(j uint64) error
	if f[4] == "map" {
		m, err := Open[int64, int64](seg, f[3])
		if err != nil {
			return err
		}
		cl, do = &m.c, killMapDo(m)
	} else {
		l, err := OpenList[int64](seg, f[3])
		if err != nil {
			return err
		}
		cl, do = &l.c, killListDo(l)
	}
	arrivals := 0
	testHook = func(p string) {
		if p != point {
			return
		}
		if arrivals++; arrivals != n {
			return
		}
		atomicStore(rec(r, recOldTab), atomicLoad(cl.word(offTable)))
		atomicStore(rec(r, recNewTab), atomicLoad(cl.word(offNew)))
		atomicStore(rec(r, recPoint), 1)
		syscall.Kill(os.Getpid(), syscall.SIGKILL)
		for {
			time.Sleep(time.Hour)
		}
	}
	start := atomicLoad(rec(r, recNext))
	for j := start; j < start+1_000_000; j++ {
		if err := do(j); err != nil {
			return fmt.Errorf("op %d: %w", j, err)
		}
		atomicStore(rec(r, recNext), j+1)
	}
	return fmt.Errorf("point %s: %d arrivals in a million operations, not %d", point, arrivals, n)
})

// killMapDo makes operation j on m.
func killMapDo(m *Map[int64, int64]) func(j uint64) error {
	return func(j uint64) error {
		o := killMapOp(j)
		switch o.kind {
		case 0:
			return m.Set(o.key, o.val)
		case 1:
			_, err := m.Delete(o.key)
			return err
		}
		v, found, err := m.Get(o.key)
		if err != nil {
			return err
		}
		ok, err := m.CompareAndSwap(o.key, v, o.val)
		if err == nil && ok != found {
			err = fmt.Errorf("op %d: CompareAndSwap(%d) = %v after Get found %v", j, o.key, ok, found)
		}
		return err
	}
}

// killListDo makes operation j on l.
func killListDo(l *List[int64]) func(j uint64) error {
	return func(j uint64) error {
		o := killListOp(j)
		if o.kind == 0 {
			return l.Append(o.val)
		}
		n, err := l.Len()
		if err != nil || n == 0 {
			return err
		}
		return l.Set(int(uint64(o.key)%uint64(n)), o.val)
	}
}

func atomicLoad(p *uint64) uint64     { return atomic.LoadUint64(p) }
func atomicStore(p *uint64, v uint64) { atomic.StoreUint64(p, v) }

// killMaxN is the largest N of a point: the growth points come less
// often than the others.
func killMaxN(point string) int {
	switch point {
	case "grow", "grown", "switch", "switching", "switched":
		return 2 // a new collection of 8 slots grows at least twice
	}
	return 25
}

// killApplied reports whether the operation interrupted at point stands.
func killApplied(point string) bool { return point == "committed" || point == "deleted" }

func killPoint(point string) bool {
	switch point {
	case "grow", "grown", "switch", "switching", "switched":
		return true
	}
	return false
}

func TestKillMap(t *testing.T) {
	for _, point := range []string{"overwrite", "overwritten", "insert", "inserted", "committed",
		"delete", "deleted", "grow", "grown", "switch", "switching", "switched"} {
		t.Run(point, func(t *testing.T) { killTest(t, "map", point) })
	}
}

func TestKillList(t *testing.T) {
	for _, point := range []string{"append", "appended", "overwrite", "overwritten", "grow", "switched"} {
		t.Run(point, func(t *testing.T) { killTest(t, "list", point) })
	}
}

// killColl is the parent's view of the collection under test.
type killColl struct {
	c     *coll
	op    func(j uint64) error // operation j, as a child makes it
	check func(t *testing.T, what string)
	free  func() error
}

func killTest(t *testing.T, kind, point string) {
	seg, err := shm.Create(testproc.ShmName(t), 4<<20, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer seg.Close()
	r, err := shm.Place(shm.Spec{Kind: shm.KindBytes, Size: 8 * recWords}, nil, shm.In(seg, "rec"))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Free()
	atomicStore(rec(r, recGo), ^uint64(0)) // no child's turn yet
	rounds := killRounds(kind, point)
	// Growth slows down as a collection grows: for its points every child
	// gets a new collection, of 8 slots.
	epochLen := killEpoch
	if killPoint(point) {
		epochLen = 1
	}
	rnd := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 0))

	var (
		kc    killColl
		mdl   map[int64]int64 // a Map's model
		lmdl  []int64         // a List's model
		pos   uint64          // the next operation the model has not seen
		name  string
		epoch = -1
	)
	mapApply := func(j uint64) {
		o := killMapOp(j)
		switch _, found := mdl[o.key]; o.kind {
		case 0:
			mdl[o.key] = o.val
		case 1:
			delete(mdl, o.key)
		case 2:
			if found {
				mdl[o.key] = o.val
			}
		}
	}
	listApply := func(j uint64) {
		o := killListOp(j)
		if o.kind == 0 {
			lmdl = append(lmdl, o.val)
		} else if len(lmdl) > 0 {
			lmdl[uint64(o.key)%uint64(len(lmdl))] = o.val
		}
	}
	newColl := func(e int) {
		name = fmt.Sprintf("%s%d", kind, e)
		if kind == "map" {
			m, err := New[int64, int64](shm.In(seg, name))
			if err != nil {
				t.Fatal(err)
			}
			mdl = map[int64]int64{}
			kc = killColl{c: &m.c, free: m.Free, op: killMapDo(m), check: func(t *testing.T, what string) {
				got := maps.Collect(m.Range())
				if !maps.Equal(got, mdl) {
					for k, v := range mdl {
						if g, ok := got[k]; !ok || g != v {
							t.Errorf("%s: key %d: %d, %v; want %d", what, k, g, ok, v)
						}
					}
					for k, v := range got {
						if _, ok := mdl[k]; !ok {
							t.Errorf("%s: key %d (= %d) should be absent", what, k, v)
						}
					}
					t.FailNow()
				}
				for k, v := range mdl {
					if g, ok, err := m.Get(k); err != nil || !ok || g != v {
						t.Fatalf("%s: Get(%d) = %d, %v, %v; want %d", what, k, g, ok, err, v)
					}
				}
				if n, err := m.Len(); err != nil || n != len(mdl) {
					t.Fatalf("%s: Len = %d, %v; want %d", what, n, err, len(mdl))
				}
				// The header's counts against the table (no child runs now).
				full, tombs := 0, 0
				for i := range m.c.capacity() {
					switch atomic.LoadUint64(m.ctrl(i)) & 3 {
					case slotFull:
						full++
					case slotTomb:
						tombs++
					}
				}
				if full != len(mdl) || uint64(tombs) != atomicLoad(m.c.word(offTombs)) {
					t.Fatalf("%s: %d full slots and %d tombstones, the header says %d and %d", what, full, tombs, m.c.count(), atomicLoad(m.c.word(offTombs)))
				}
			}}
		} else {
			l, err := NewList[int64](shm.In(seg, name))
			if err != nil {
				t.Fatal(err)
			}
			lmdl = nil
			kc = killColl{c: &l.c, free: l.Free, op: killListDo(l), check: func(t *testing.T, what string) {
				var got []int64
				for v := range l.All() {
					got = append(got, v)
				}
				if len(got) != len(lmdl) {
					t.Fatalf("%s: %d elements, want %d", what, len(got), len(lmdl))
				}
				for i := range got {
					if got[i] != lmdl[i] {
						t.Fatalf("%s: element %d is %d, want %d", what, i, got[i], lmdl[i])
					}
				}
				if n, err := l.Len(); err != nil || n != len(lmdl) {
					t.Fatalf("%s: Len = %d, %v; want %d", what, n, err, len(lmdl))
				}
			}}
		}
	}
	heapUsed := func() int64 {
		in, err := shm.Stat(seg.Name())
		if err != nil {
			t.Fatal(err)
		}
		return in.HeapUsed
	}
	// Only rec is in the segment: with every block of a collection freed,
	// the heap's top comes back here (it drops to the start of the free
	// run below it), and any leaked block keeps it higher.
	baseline := heapUsed()
	freeColl := func(what string) {
		if err := kc.free(); err != nil {
			t.Fatal(err)
		}
		if u := heapUsed(); u != baseline {
			t.Fatalf("%s: %d bytes of the heap used once %s was freed, %d before it was made: a leaked block", what, u, name, baseline)
		}
	}
	start := func(i int) *testproc.Proc {
		n := 1 + rnd.IntN(killMaxN(point))
		arg := fmt.Sprintf("%s %s %d %d %s%d %s", seg.Name(), point, n, i, kind, i/epochLen, kind)
		return testproc.Start(t, killChild, testproc.Arg(arg), testproc.Timeout(3*time.Minute))
	}
	var running []*testproc.Proc
	next := 0
	repairs := 0
	for i := range rounds {
		if i/epochLen != epoch {
			if epoch >= 0 {
				freeColl(fmt.Sprintf("round %d", i))
			}
			epoch = i / epochLen
			newColl(epoch)
		}
		for next < rounds && next-i < killAhead {
			running = append(running, start(next))
			next++
		}
		atomicStore(rec(r, recPoint), 0)
		atomicStore(rec(r, recGo), uint64(i))
		p := running[0]
		running = running[1:]
		if res := p.Wait(); !res.Killed() {
			t.Fatalf("round %d: the child was to die by SIGKILL at %s, ended with exit code %d:\n%s", i, point, res.ExitCode, res.Output)
		}
		if atomicLoad(rec(r, recPoint)) != 1 {
			t.Fatalf("round %d: killed, but not at its point", i)
		}
		j := atomicLoad(rec(r, recNext))
		if j < pos {
			t.Fatalf("round %d: next operation %d, before %d", i, j, pos)
		}
		apply := mapApply
		if kind == "list" {
			apply = listApply
		}
		for ; pos < j; pos++ {
			apply(pos)
		}
		what := fmt.Sprintf("round %d, killed at %s in operation %d", i, point, j)
		// The interrupted operation must be one that reaches the point.
		if kind == "map" {
			o := killMapOp(j)
			_, found := mdl[o.key]
			switch point {
			case "overwrite", "overwritten":
				if o.kind == 1 || !found {
					t.Fatalf("%s: operation %+v (found %v) does not overwrite", what, o, found)
				}
			case "delete", "deleted":
				if o.kind != 1 || !found {
					t.Fatalf("%s: operation %+v (found %v) does not delete", what, o, found)
				}
			default:
				if o.kind != 0 || found {
					t.Fatalf("%s: operation %+v (found %v) does not insert", what, o, found)
				}
			}
		} else if o := killListOp(j); (o.kind == 0) != (point != "overwrite" && point != "overwritten") {
			t.Fatalf("%s: operation %+v does not reach the point", what, o)
		}
		if killApplied(point) {
			apply(j)
		}
		before := kc.c.recovered.Load()
		kc.check(t, what) // the first lock repairs
		// A List's append leaves no intent record: nothing to repair.
		wantRepairs := int64(1)
		if point == "append" || point == "appended" {
			wantRepairs = 0
		}
		if got := kc.c.recovered.Load() - before; got != wantRepairs {
			t.Fatalf("%s: %d repairs, want %d", what, got, wantRepairs)
		}
		repairs += int(wantRepairs)
		if killPoint(point) {
			want, which := atomicLoad(rec(r, recOldTab)), "old"
			if point == "switch" || point == "switching" || point == "switched" {
				want, which = atomicLoad(rec(r, recNewTab)), "new"
			}
			if got := atomicLoad(kc.c.word(offTable)); got != want {
				t.Fatalf("%s: the table at %#x, want the %s one at %#x", what, got, which, want)
			}
		}
		atomicStore(rec(r, recNext), j+1)
		pos = j + 1
	}
	// The survivor goes on: more operations, then a check.
	apply := mapApply
	if kind == "list" {
		apply = listApply
	}
	for range 500 {
		if err := kc.op(pos); err != nil {
			t.Fatalf("the parent's operation %d: %v", pos, err)
		}
		apply(pos)
		pos++
	}
	kc.check(t, "after the kills")
	freeColl("at the end")
	objs, err := seg.Objects()
	if err != nil {
		t.Fatal(err)
	}
	if len(objs) != 1 || objs[0].Name != "rec" {
		t.Fatalf("after freeing everything the segment holds %+v", objs)
	}
	t.Logf("%d kills at %s, %d repairs, %d operations", rounds, point, repairs, pos)
}

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
	"strings"
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
	recPart   = 5 // the header offset of the collection (a Map's part) killed in
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
	switch {
	case kind == "list" && point != "append" && point != "appended":
		n /= 2 // the points a Map has too
	case kind != "map" && kind != "list":
		n /= 2 // the encoded and wide collections: the same code, other data
	}
	return n
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
	h := shmtest.Mix(j + 0x5eed)
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

// killListOp: mostly appends, some Sets of an element chosen by key, and
// some Pops.
func killListOp(j uint64) killOp {
	h := shmtest.Mix(j + 0x1157)
	kind := 0
	switch h % 8 {
	case 0, 1:
		kind = 1
	case 2:
		kind = 2
	}
	return killOp{kind: kind, key: int64(h >> 8), val: int64(j)}
}

func rec(o *shm.Object, i int) *uint64 { return mem.Uint64(o.Bytes(), uintptr(8*i)) }

// killChild: argument "seg point n round name kind", kind "map", "wmap", "emap",
// "list" or "elist".
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
	kc, err := killOpen(seg, f[4], f[3], false)
	if err != nil {
		return err
	}
	do := kc.op
	arrivals := 0
	testHook = func(cl *coll, p string) {
		if p != point {
			return
		}
		if arrivals++; arrivals != n {
			return
		}
		atomicStore(rec(r, recOldTab), atomicLoad(cl.word(offTable)))
		atomicStore(rec(r, recNewTab), atomicLoad(cl.word(offNew)))
		atomicStore(rec(r, recPart), cl.o.Handle().Offset)
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

// killMap is a Map under test through int64 keys and values: a
// Map[int64, int64] ("map"), a Map[int64, [2]int64] ("wmap", killWide),
// or a Map[string, string] ("emap") of their text, values padded to
// lengths from 1 to 80 bytes.
type killMap[K comparable, V any] struct {
	m    *Map[K, V]
	k    func(int64) K
	v    func(int64) V
	back func(K, V) (int64, int64)
}

func killMapOf[K comparable, V any](m *Map[K, V], k func(int64) K, v func(int64) V, back func(K, V) (int64, int64)) *killColl {
	km := &killMap[K, V]{m, k, v, back}
	kc := &killColl{op: km.op, free: m.Free, check: km.check}
	for i := range m.parts {
		kc.colls = append(kc.colls, &m.parts[i].c)
	}
	return kc
}

func killText(x int64) string {
	return strconv.FormatInt(x, 10) + strings.Repeat("~", int(uint64(x)%80))
}

func killUntext(s string) int64 {
	x, err := strconv.ParseInt(strings.TrimRight(s, "~"), 10, 64)
	if err != nil || killText(x) != s {
		return -1 << 62 // a corrupt text: the model check names it
	}
	return x
}

// op makes operation j: 0 Set, 1 Delete, 2 a Set only of a key the map
// holds (Get then CompareAndSwap for a plain value, Update otherwise).
func (km *killMap[K, V]) op(j uint64) error {
	o := killMapOp(j)
	m := km.m
	switch o.kind {
	case 0:
		return m.Set(km.k(o.key), km.v(o.val))
	case 1:
		_, err := m.Delete(km.k(o.key))
		return err
	}
	if m.v.size == 0 {
		return m.Update(km.k(o.key), func(old V, found bool) (V, bool) { return km.v(o.val), found })
	}
	v, found, err := m.Get(km.k(o.key))
	if err != nil {
		return err
	}
	ok, err := m.CompareAndSwap(km.k(o.key), v, km.v(o.val))
	if err == nil && ok != found {
		err = fmt.Errorf("op %d: CompareAndSwap(%d) = %v after Get found %v", j, o.key, ok, found)
	}
	return err
}

// check compares the map with the model: entries, Get of each, Len, and
// the header's counts (and data words) against the table.
func (km *killMap[K, V]) check(t *testing.T, what string, mdl map[int64]int64, _ []int64) {
	m := km.m
	// Get first: it reads without the lock when it can, and must see the
	// sequence word a killed writer left odd, and take the lock.
	for k, v := range mdl {
		g, ok, err := m.Get(km.k(k))
		if err != nil || !ok {
			t.Fatalf("%s: Get(%d) = %v, %v; want %d", what, k, ok, err, v)
		}
		if _, gv := km.back(km.k(k), g); gv != v {
			t.Fatalf("%s: Get(%d) = %d; want %d", what, k, gv, v)
		}
	}
	snap, err := m.Snapshot()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	got := map[int64]int64{}
	for k, v := range snap {
		kk, vv := km.back(k, v)
		got[kk] = vv
	}
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
	if n, err := m.count(); err != nil || n != len(mdl) {
		t.Fatalf("%s: Len = %d, %v; want %d", what, n, err, len(mdl))
	}
	// Each part's header counts against its table (no child runs now).
	all := 0
	for pi := range m.parts {
		p := &m.parts[pi]
		full, tombs, live := 0, 0, uint64(0)
		for i := range p.c.capacity() {
			switch atomic.LoadUint64(p.ctrl(i)) & 3 {
			case slotFull:
				full++
				s := p.slot(i)
				if m.k.size == 0 {
					live += uint64(itemLen(le.Uint64(s[8:])))
				}
				if m.v.size == 0 {
					live += uint64(itemLen(le.Uint64(s[m.off:])))
				}
			case slotTomb:
				tombs++
			}
		}
		if uint64(full) != p.c.count() || uint64(tombs) != atomicLoad(p.c.word(offTombs)) {
			t.Fatalf("%s: part %d: %d full slots and %d tombstones, its header says %d and %d", what, pi, full, tombs, p.c.count(), atomicLoad(p.c.word(offTombs)))
		}
		killCheckData(t, what, &p.c, live)
		all += full
	}
	if all != len(mdl) {
		t.Fatalf("%s: %d full slots, want %d", what, all, len(mdl))
	}
}

// killCheckData checks the data words of an encoded collection: the bytes
// used but not garbage are exactly the live items' (live).
func killCheckData(t *testing.T, what string, c *coll, live uint64) {
	if !c.enc {
		return
	}
	if u, g := c.used(), c.garbage(); g > u || u-g != live || u > uint64(len(c.data)) {
		t.Fatalf("%s: %d data bytes used, %d garbage, of %d; the live items have %d", what, u, g, len(c.data), live)
	}
}

// killList is a List under test through int64 elements: a List[int64]
// ("list") or a List[string] ("elist") of their text.
type killList[T any] struct {
	l    *List[T]
	v    func(int64) T
	back func(T) int64
}

func killListOf[T any](l *List[T], v func(int64) T, back func(T) int64) *killColl {
	kl := &killList[T]{l, v, back}
	return &killColl{colls: []*coll{&l.c}, op: kl.op, free: l.Free, check: kl.check}
}

// op makes operation j: 0 Append, 1 Set, 2 Pop (of a non-empty list).
func (kl *killList[T]) op(j uint64) error {
	o := killListOp(j)
	if o.kind == 0 {
		return kl.l.Append(kl.v(o.val))
	}
	n, err := kl.l.count()
	if err != nil || n == 0 {
		return err
	}
	if o.kind == 2 {
		v, err := kl.l.Pop()
		if err == nil && kl.back(v) < 0 {
			err = fmt.Errorf("op %d: Pop gave %v", j, v)
		}
		return err
	}
	return kl.l.Set(int(uint64(o.key)%uint64(n)), kl.v(o.val))
}

func (kl *killList[T]) check(t *testing.T, what string, _ map[int64]int64, lmdl []int64) {
	l := kl.l
	vs, err := l.Snapshot()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	if len(vs) != len(lmdl) {
		t.Fatalf("%s: %d elements, want %d", what, len(vs), len(lmdl))
	}
	live := uint64(0)
	for i, v := range vs {
		if got := kl.back(v); got != lmdl[i] {
			t.Fatalf("%s: element %d is %d, want %d", what, i, got, lmdl[i])
		}
		if l.e.size == 0 {
			live += uint64(itemLen(le.Uint64(l.elem(i))))
		}
	}
	if n, err := l.count(); err != nil || n != len(lmdl) {
		t.Fatalf("%s: Len = %d, %v; want %d", what, n, err, len(lmdl))
	}
	killCheckData(t, what, &l.c, live)
}

// killOpen opens (or, made, makes) the collection of kind called name.
func killOpen(seg *shm.Segment, kind, name string, made bool) (*killColl, error) {
	var err error
	switch kind {
	case "map":
		var m *Map[int64, int64]
		if m, err = killMake(made, New[int64, int64], Open[int64, int64], seg, name); err == nil {
			return killMapOf(m, killSame, killSame, func(k, v int64) (int64, int64) { return k, v }), nil
		}
	case "wmap":
		var m *Map[int64, [2]int64]
		if m, err = killMake(made, New[int64, [2]int64], Open[int64, [2]int64], seg, name); err == nil {
			return killMapOf(m, killSame, killWide, killUnwide), nil
		}
	case "emap":
		var m *Map[string, string]
		if m, err = killMake(made, New[string, string], Open[string, string], seg, name); err == nil {
			return killMapOf(m, killText, killText, func(k, v string) (int64, int64) { return killUntext(k), killUntext(v) }), nil
		}
	case "list":
		var l *List[int64]
		if l, err = killMake(made, NewList[int64], OpenList[int64], seg, name); err == nil {
			return killListOf(l, killSame, killSame), nil
		}
	case "elist":
		var l *List[string]
		if l, err = killMake(made, NewList[string], OpenList[string], seg, name); err == nil {
			return killListOf(l, killText, killUntext), nil
		}
	default:
		err = fmt.Errorf("no collection kind %q", kind)
	}
	return nil, err
}

func killSame(x int64) int64 { return x }

// killWide is a value of two words, for a Map whose overwrites take an
// intent record; a torn one does not read back.
func killWide(x int64) [2]int64 { return [2]int64{x, ^x} }

func killUnwide(k int64, v [2]int64) (int64, int64) {
	if v[1] != ^v[0] {
		return k, -1 << 62
	}
	return k, v[0]
}

func killMake[C any](made bool, mk func(...shm.Option) (C, error), open func(context.Context, *shm.Segment, string) (C, error), seg *shm.Segment, name string) (C, error) {
	if made {
		return mk(shm.In(seg, name))
	}
	return open(context.Background(), seg, name)
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
// A Map[int64, int64] overwrites with one atomic store, and no record.
func killApplied(kind, point string) bool {
	return point == "committed" || point == "deleted" || point == "popped" || point == "ended" ||
		(kind == "map" && point == "overwritten")
}

// killRecorded reports whether an operation interrupted at point leaves an
// intent record, for the next holder of the lock to repair from.
func killRecorded(kind, point string) bool {
	switch {
	case point == "ended": // the record is cleared already
		return false
	case kind == "list" && (point == "append" || point == "appended"):
		return false
	case kind == "map" && (point == "overwrite" || point == "overwritten"):
		return false
	}
	return true
}

// killReaches reports whether operation o reaches point, in a collection
// of kind whose model holds its key (found) or n elements.
func killReaches(kind, point string, o killOp, found bool, n int) bool {
	enc := kind == "emap" || kind == "elist"
	if kind == "map" || kind == "emap" || kind == "wmap" {
		switch {
		case point == "ended" && kind == "map": // an overwrite is one store, unrecorded
			return (o.kind == 0 && !found) || (o.kind == 1 && found)
		case point == "ended":
			return o.kind == 0 || (o.kind != 0 && found)
		}
		switch point {
		case "overwrite", "overwritten":
			return o.kind != 1 && found
		case "delete", "deleted":
			return o.kind == 1 && found
		case "insert", "inserted", "committed":
			return o.kind == 0 && !found
		}
		if enc { // growth, for room in the data region too
			return o.kind == 0 || (o.kind == 2 && found)
		}
		return o.kind == 0 && !found
	}
	switch point {
	case "ended":
		return (enc && o.kind == 0) || (o.kind != 0 && n > 0 && (enc || o.kind == 1))
	case "append", "appended", "committed":
		return o.kind == 0
	case "overwrite", "overwritten":
		return o.kind == 1 && n > 0
	case "pop", "popped":
		return o.kind == 2 && n > 0
	}
	return o.kind == 0 || (enc && o.kind == 1 && n > 0)
}

func killPoint(point string) bool {
	switch point {
	case "grow", "grown", "switch", "switching", "switched":
		return true
	}
	return false
}

var killMapPoints = []string{"overwrite", "overwritten", "insert", "inserted", "committed",
	"delete", "deleted", "grow", "grown", "switch", "switching", "switched", "ended"}

func TestKillMap(t *testing.T) {
	for _, point := range killMapPoints {
		t.Run(point, func(t *testing.T) { killTest(t, "map", point) })
	}
	// Values of two words: overwrites that are undone.
	for _, point := range []string{"overwrite", "overwritten", "ended"} {
		t.Run("wide-"+point, func(t *testing.T) { killTest(t, "wmap", point) })
	}
}

// TestKillEncodedMap: a Map[string, string], whose keys and values live
// in the table's data region.
func TestKillEncodedMap(t *testing.T) {
	for _, point := range killMapPoints {
		t.Run(point, func(t *testing.T) { killTest(t, "emap", point) })
	}
}

func TestKillList(t *testing.T) {
	for _, point := range []string{"append", "appended", "overwrite", "overwritten", "grow", "switched", "ended"} {
		t.Run(point, func(t *testing.T) { killTest(t, "list", point) })
	}
}

// TestKillEncodedList: a List[string], whose appends and pops have intent
// records too.
func TestKillEncodedList(t *testing.T) {
	for _, point := range []string{"append", "appended", "committed", "overwrite", "overwritten",
		"pop", "popped", "grow", "switched", "ended"} {
		t.Run(point, func(t *testing.T) { killTest(t, "elist", point) })
	}
}

// killColl is the parent's view of the collection under test.
type killColl struct {
	colls []*coll              // a List's, or a Map's parts
	op    func(j uint64) error // operation j, as a child makes it
	check func(t *testing.T, what string, mdl map[int64]int64, lmdl []int64)
	free  func() error
}

// at is the collection whose header is at offset off.
func (kc *killColl) at(t *testing.T, off uint64) *coll {
	for _, c := range kc.colls {
		if c.o.Handle().Offset == off {
			return c
		}
	}
	t.Fatalf("no collection at %#x", off)
	return nil
}

// repairs is the number of repairs made through this handle.
func (kc *killColl) repairs() (n int64) {
	for _, c := range kc.colls {
		n += c.recovered.Load()
	}
	return n
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
		kc    *killColl
		mdl   map[int64]int64 // a Map's model
		lmdl  []int64         // a List's model
		pos   uint64          // the next operation the model has not seen
		name  string
		epoch = -1
	)
	isMap := kind == "map" || kind == "emap" || kind == "wmap"
	apply := func(j uint64) {
		if isMap {
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
			return
		}
		switch o := killListOp(j); {
		case o.kind == 0:
			lmdl = append(lmdl, o.val)
		case len(lmdl) == 0:
		case o.kind == 1:
			lmdl[uint64(o.key)%uint64(len(lmdl))] = o.val
		case o.kind == 2:
			lmdl = lmdl[:len(lmdl)-1]
		}
	}
	newColl := func(e int) {
		name = fmt.Sprintf("%s%d", kind, e)
		var err error
		if kc, err = killOpen(seg, kind, name, true); err != nil {
			t.Fatal(err)
		}
		mdl, lmdl = map[int64]int64{}, nil
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
		for ; pos < j; pos++ {
			apply(pos)
		}
		what := fmt.Sprintf("round %d, killed at %s in operation %d", i, point, j)
		// The interrupted operation must be one that reaches the point.
		o := killListOp(j)
		if isMap {
			o = killMapOp(j)
		}
		if _, found := mdl[o.key]; !killReaches(kind, point, o, found, len(lmdl)) {
			t.Fatalf("%s: operation %+v (found %v, %d elements) does not reach the point", what, o, found, len(lmdl))
		}
		if killApplied(kind, point) {
			apply(j)
		}
		// The sequence word is odd inside a recorded change (the one a
		// reader without the lock could see half made) and until just after
		// its record is cleared, but not while a growth fills its new table.
		inside := (killRecorded(kind, point) || point == "ended") && point != "grow" && point != "grown"
		kcc := kc.at(t, atomicLoad(rec(r, recPart)))
		if q := atomicLoad(kcc.word(offSeq)); inside != (q&1 == 1) {
			t.Fatalf("%s: the sequence word is %d", what, q)
		}
		before := kc.repairs()
		kc.check(t, what, mdl, lmdl) // the first lock repairs
		wantRepairs := int64(0)
		if killRecorded(kind, point) {
			wantRepairs = 1
		}
		if got := kc.repairs() - before; got != wantRepairs {
			t.Fatalf("%s: %d repairs, want %d", what, got, wantRepairs)
		}
		repairs += int(wantRepairs)
		if q := atomicLoad(kcc.word(offSeq)); q&1 == 1 {
			t.Fatalf("%s: the sequence word is %d after the repair", what, q)
		}
		if killPoint(point) {
			want, which := atomicLoad(rec(r, recOldTab)), "old"
			if point == "switch" || point == "switching" || point == "switched" {
				want, which = atomicLoad(rec(r, recNewTab)), "new"
			}
			if got := atomicLoad(kcc.word(offTable)); got != want {
				t.Fatalf("%s: the table at %#x, want the %s one at %#x", what, got, which, want)
			}
		}
		atomicStore(rec(r, recNext), j+1)
		pos = j + 1
	}
	// The survivor goes on: more operations, then a check.
	for range 500 {
		if err := kc.op(pos); err != nil {
			t.Fatalf("the parent's operation %d: %v", pos, err)
		}
		apply(pos)
		pos++
	}
	kc.check(t, "after the kills", mdl, lmdl)
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

// killAllChild opens the map called by its argument ("seg name") and
// dies by SIGKILL holding the locks of all its parts (in Len).
var killAllChild = testproc.Register("shmap-kill-all-locked", func(c *testproc.Child) error {
	seg, f, err := shmtest.OpenArgs(c)
	if err != nil {
		return err
	}
	defer seg.Close()
	m, err := Open[int64, int64](context.Background(), seg, f[0])
	if err != nil {
		return err
	}
	testHook = func(_ *coll, p string) {
		if p == "all locked" {
			syscall.Kill(os.Getpid(), syscall.SIGKILL)
			for {
				time.Sleep(time.Hour)
			}
		}
	}
	_, err = m.count()
	return fmt.Errorf("Len returned (%v) instead of dying with every lock held", err)
})

// TestKillAllLocked: a process killed holding the locks of all of a Map's
// parts (in Len, Range or Snapshot) leaves every lock to the next locker,
// and the map whole.
func TestKillAllLocked(t *testing.T) {
	seg, err := shm.Create(testproc.ShmName(t), 1<<20, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer seg.Close()
	m, err := New[int64, int64](shm.In(seg, "m"))
	if err != nil {
		t.Fatal(err)
	}
	defer m.Free()
	want := map[int64]int64{}
	for k := range int64(100) {
		if err := m.Set(k, -k); err != nil {
			t.Fatal(err)
		}
		want[k] = -k
	}
	for round := range 10 {
		p := testproc.Start(t, killAllChild, testproc.Arg(seg.Name()+" m"), testproc.Timeout(time.Minute))
		if res := p.Wait(); !res.Killed() {
			t.Fatalf("round %d: the child ended with exit code %d:\n%s", round, res.ExitCode, res.Output)
		}
		for i := range m.parts {
			if o := m.parts[i].c.mu.Owner(); o == 0 {
				t.Fatalf("round %d: part %d's lock is free after its holder died", round, i)
			}
		}
		got, err := m.Snapshot()
		if err != nil || !maps.Equal(got, want) {
			t.Fatalf("round %d: Snapshot = %d entries, %v; want %d", round, len(got), err, len(want))
		}
		k := int64(1000 + round)
		if err := m.Set(k, k); err != nil {
			t.Fatal(err)
		}
		want[k] = k
		for i := range m.parts {
			if o := m.parts[i].c.mu.Owner(); o != 0 {
				t.Fatalf("round %d: part %d's lock held by %d after the survivor's operations", round, i, o)
			}
		}
	}
	if n, err := m.count(); err != nil || n != len(want) {
		t.Fatalf("Len = %d, %v; want %d", n, err, len(want))
	}
}

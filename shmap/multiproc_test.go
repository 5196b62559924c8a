//go:build linux && (amd64 || arm64)

package shmap

// Several processes (package process children) sharing one Map and one
// List: the Manager example of seed 001, and four processes making random
// operations against a model.

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/shmkit/shmkit/internal/testproc"
	"github.com/shmkit/shmkit/process"
	"github.com/shmkit/shmkit/shm"
)

// mpGuard bounds every wait of these tests: a hang detector.
const mpGuard = 2 * time.Minute

// mgrArg is what the Manager example hands each child: the shared dict and
// list travel as their handles.
type mgrArg struct {
	D    *Map[int64, int64]
	L    *List[int64]
	Proc int
	N    int
}

// mgrFill fills d[k] = k*k for its own keys and appends them to the list,
// as the seed's Manager().dict() / Manager().list() example does.
var mgrFill = process.Register("shmap-manager-fill", func(ctx context.Context, a mgrArg) error {
	for i := range a.N {
		k := int64(a.Proc*a.N + i)
		if err := a.D.Set(k, k*k); err != nil {
			return err
		}
		if err := a.L.Append(k); err != nil {
			return err
		}
	}
	return nil
})

func mpJoin(t *testing.T, ps ...*process.Process) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), mpGuard)
	defer cancel()
	for _, p := range ps {
		if err := p.Join(ctx); err != nil {
			p.Kill()
			t.Fatalf("%v: %v", p, err)
		}
		if code, ok := p.ExitCode(); !ok || code != 0 {
			t.Fatalf("%v: exit code %d", p, code)
		}
	}
}

// TestManagerExample: two processes fill one dict and one list; the
// parent then reads both back whole.
func TestManagerExample(t *testing.T) {
	d, err := New[int64, int64]()
	if err != nil {
		t.Fatal(err)
	}
	defer d.Free()
	l, err := NewList[int64]()
	if err != nil {
		t.Fatal(err)
	}
	defer l.Free()
	const n = 500 // per process: the dict and the list grow several times
	var ps []*process.Process
	for p := range 2 {
		pr := process.New(mgrFill, mgrArg{D: d, L: l, Proc: p, N: n}, process.Name(fmt.Sprintf("filler-%d", p)))
		if err := pr.Start(); err != nil {
			t.Fatal(err)
		}
		ps = append(ps, pr)
	}
	mpJoin(t, ps...)

	got := maps.Collect(d.Range())
	if len(got) != 2*n {
		t.Fatalf("the dict holds %d keys, want %d", len(got), 2*n)
	}
	for k := range int64(2 * n) {
		if v, ok := got[k]; !ok || v != k*k {
			t.Fatalf("d[%d] = %d, %v; want %d", k, v, ok, k*k)
		}
		if v, ok, err := d.Get(k); err != nil || !ok || v != k*k {
			t.Fatalf("Get(%d) = %d, %v, %v", k, v, ok, err)
		}
	}
	if n2 := d.Len(); n2 != 2*n {
		t.Fatalf("Len = %d, %v; want %d", n2, err, 2*n)
	}
	seen := make([]int, 2*n)
	last := []int64{-1, -1}
	var all []int64
	for v := range l.All() {
		all = append(all, v)
		if v < 0 || v >= 2*n {
			t.Fatalf("list element %d out of range", v)
		}
		seen[v]++
		p := v / n
		if v <= last[p] {
			t.Fatalf("list: %d after %d from process %d", v, last[p], p)
		}
		last[p] = v
	}
	for k, c := range seen {
		if c != 1 {
			t.Fatalf("list holds %d %d times", k, c)
		}
	}
	if ln := l.Len(); ln != 2*n {
		t.Fatalf("list Len = %d, %v", ln, err)
	}
	t.Logf("dict: %d keys, first {0: %d, 1: %d, 2: %d, ...}; list: %d elements, starting %v",
		len(got), got[0], got[1], got[2], len(all), all[:min(6, len(all))])
}

// Random operations from 4 processes. Each process owns a range of keys
// (so its model is exact, and it checks every answer against it) and
// increments counters in a shared range with Update. The plan of each
// process is a function of its number, so that the parent rebuilds the
// same models.

const (
	mpProcs      = 4
	mpOwnKeys    = 3000 // per process
	mpSharedBase = 1 << 40
	mpShared     = 8
	// mpBarrier is the key the processes count themselves in at, so that
	// they make their operations at the same time.
	mpBarrier = -1
)

type mpOp struct {
	kind int // 0 Set, 1 Delete, 2 Update (own key), 3 CAS, 4 Get, 5 shared increment
	key  int64
	val  int64
}

func mpOps(p int) int {
	if raceEnabled {
		return 10000
	}
	return 100000
}

// mpPlan is process p's operations, the same in parent and child.
func mpPlan(p int) []mpOp {
	r := rand.New(rand.NewPCG(uint64(p)+1, 0x6d70))
	ops := make([]mpOp, mpOps(p))
	base := int64(p) * 1_000_000
	for i := range ops {
		o := &ops[i]
		o.kind = r.IntN(6)
		o.key = base + r.Int64N(mpOwnKeys)
		o.val = int64(p)<<48 | int64(i)
		if o.kind == 5 {
			o.key = mpSharedBase + r.Int64N(mpShared)
			o.val = 1 + r.Int64N(3)
		}
	}
	return ops
}

// mpApply applies op to the model; it returns what the map must answer
// (found/ok).
func mpApply(model map[int64]int64, o mpOp) bool {
	old, found := model[o.key]
	switch o.kind {
	case 0:
		model[o.key] = o.val
	case 1:
		delete(model, o.key)
	case 2: // Update: odd values delete, others add
		if o.val&1 == 1 && found {
			delete(model, o.key)
		} else {
			model[o.key] = old + o.val
		}
	case 3: // CompareAndSwap(key, the model's value, val): true iff present
		if found {
			model[o.key] = o.val
		}
	case 5:
		model[o.key] = old + o.val
	}
	return found
}

// mpArg: every operation is made on M and L, and on their encoded twins
// E and EL, whose keys, values and elements are the text of M's and L's
// (killText).
type mpArg struct {
	M    *Map[int64, int64]
	L    *List[int64]
	E    *Map[string, string]
	EL   *List[string]
	Proc int
}

// mpEncoded makes operation o, number i, on e, the encoded twin: old and
// had are the model's value before it, found what the plain map answered.
func mpEncoded(e *Map[string, string], o mpOp, i int, old int64, had, found bool) error {
	k := killText(o.key)
	var err error
	switch o.kind {
	case 0:
		err = e.Set(k, killText(o.val))
	case 1:
		var ok bool
		if ok, err = e.Delete(k); err == nil && ok != found {
			err = fmt.Errorf("Delete = %v", ok)
		}
	case 2, 3, 5:
		err = e.Update(k, func(v string, f bool) (string, bool) {
			base := int64(0)
			if f {
				base = killUntext(v)
			}
			if o.kind != 5 && (f != had || base != old) {
				panic(fmt.Sprintf("op %d: encoded Update(%d) saw %d, %v; want %d, %v", i, o.key, base, f, old, had))
			}
			switch {
			case o.kind == 3 && !f:
				return "", false
			case o.kind == 3:
				return killText(o.val), true
			case o.kind == 2 && o.val&1 == 1 && f:
				return "", false
			}
			return killText(base + o.val), true
		})
	case 4:
		var v string
		var ok bool
		if v, ok, err = e.Get(k); err == nil && (ok != found || (ok && killUntext(v) != old)) {
			err = fmt.Errorf("Get = %q, %v", v, ok)
		}
	}
	if err != nil {
		return fmt.Errorf("op %d on the encoded map, %+v: %w", i, o, err)
	}
	return nil
}

var mpWorker = process.Register("shmap-random-ops", func(ctx context.Context, a mpArg) error {
	model := map[int64]int64{}
	plan := mpPlan(a.Proc)
	if err := a.M.Update(mpBarrier, func(v int64, _ bool) (int64, bool) { return v + 1, true }); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, mpGuard)
	defer cancel()
	for {
		n, _, err := a.M.Get(mpBarrier)
		if err != nil {
			return err
		}
		if n == mpProcs {
			break
		}
		if ctx.Err() != nil {
			return fmt.Errorf("%d processes at the barrier", n)
		}
		time.Sleep(100 * time.Microsecond)
	}
	for i, o := range plan {
		old, had := model[o.key]
		found := mpApply(model, o)
		switch o.kind {
		case 0:
			if err := a.M.Set(o.key, o.val); err != nil {
				return err
			}
		case 1:
			ok, err := a.M.Delete(o.key)
			if err != nil || ok != found {
				return fmt.Errorf("op %d: Delete(%d) = %v, %v; want %v", i, o.key, ok, err, found)
			}
		case 2:
			err := a.M.Update(o.key, func(v int64, f bool) (int64, bool) {
				if f != had || v != old {
					panic(fmt.Sprintf("op %d: Update(%d) saw %d, %v; want %d, %v", i, o.key, v, f, old, had))
				}
				if o.val&1 == 1 && f {
					return 0, false
				}
				return v + o.val, true
			})
			if err != nil {
				return err
			}
		case 3:
			ok, err := a.M.CompareAndSwap(o.key, old, o.val)
			if err != nil || ok != found {
				return fmt.Errorf("op %d: CompareAndSwap(%d) = %v, %v; want %v", i, o.key, ok, err, found)
			}
		case 4:
			v, ok, err := a.M.Get(o.key)
			if err != nil || ok != found || v != old {
				return fmt.Errorf("op %d: Get(%d) = %d, %v, %v; want %d, %v", i, o.key, v, ok, err, old, found)
			}
		case 5:
			err := a.M.Update(o.key, func(v int64, _ bool) (int64, bool) { return v + o.val, true })
			if err != nil {
				return err
			}
		}
		if err := mpEncoded(a.E, o, i, old, had, found); err != nil {
			return err
		}
		if i%4 == 0 {
			v := int64(a.Proc)<<32 | int64(i/4)
			if err := errors.Join(a.L.Append(v), a.EL.Append(killText(v))); err != nil {
				return err
			}
		}
	}
	// The process's own range, read back while the others still run.
	for k, v := range model {
		if k >= mpSharedBase || k == mpBarrier {
			continue
		}
		if got, ok, err := a.M.Get(k); err != nil || !ok || got != v {
			return fmt.Errorf("at the end: Get(%d) = %d, %v, %v; want %d", k, got, ok, err, v)
		}
	}
	return nil
})

func TestMultiProcessRandomOps(t *testing.T) {
	m, err := New[int64, int64]()
	if err != nil {
		t.Fatal(err)
	}
	defer m.Free()
	l, err := NewList[int64]()
	if err != nil {
		t.Fatal(err)
	}
	defer l.Free()
	// The encoded twins hold about 2 MB of text, more than a segment of
	// the default heap has room for: a segment of their own.
	seg, err := shm.Create(testproc.ShmName(t), 64<<20, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer seg.Close()
	e, err := New[string, string](shm.In(seg, "e"))
	if err != nil {
		t.Fatal(err)
	}
	defer e.Free()
	el, err := NewList[string](shm.In(seg, "el"))
	if err != nil {
		t.Fatal(err)
	}
	defer el.Free()
	var ps []*process.Process
	for p := range mpProcs {
		pr := process.New(mpWorker, mpArg{M: m, L: l, E: e, EL: el, Proc: p})
		if err := pr.Start(); err != nil {
			t.Fatal(err)
		}
		ps = append(ps, pr)
	}
	mpJoin(t, ps...)

	want := map[int64]int64{mpBarrier: mpProcs}
	perProc := make([]int, mpProcs)
	for p := range mpProcs {
		own := map[int64]int64{}
		for i, o := range mpPlan(p) {
			if o.kind == 5 {
				want[o.key] += o.val
			} else {
				mpApply(own, o)
			}
			if i%4 == 0 {
				perProc[p]++
			}
		}
		maps.Copy(want, own)
	}
	got := maps.Collect(m.Range())
	for k, v := range want {
		if g, ok := got[k]; !ok || g != v {
			t.Errorf("key %d: %d, %v; want %d", k, g, ok, v)
		}
	}
	for k, v := range got {
		if _, ok := want[k]; !ok {
			t.Errorf("key %d (= %d) should not be there", k, v)
		}
	}
	if n := m.Len(); n != len(want) {
		t.Errorf("Len = %d, %v; want %d", n, err, len(want))
	}
	esnap, err := e.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	egot := map[int64]int64{mpBarrier: mpProcs} // the barrier is the plain map's
	for k, v := range esnap {
		egot[killUntext(k)] = killUntext(v)
	}
	if !maps.Equal(egot, want) {
		t.Errorf("the encoded map (%d keys) differs from the plain one (%d)", len(egot), len(want))
	}
	if t.Failed() {
		t.FailNow()
	}

	next := make([]int64, mpProcs)
	total := 0
	for v := range l.All() {
		p, seq := v>>32, v&0xFFFFFFFF
		if p < 0 || p >= mpProcs || seq != next[p] {
			t.Fatalf("list element %d: process %d number %d, want number %d", total, p, seq, next[min(max(p, 0), mpProcs-1)])
		}
		next[p]++
		total++
	}
	for p := range mpProcs {
		if int(next[p]) != perProc[p] {
			t.Fatalf("process %d: %d elements in the list, want %d", p, next[p], perProc[p])
		}
	}
	if n := l.Len(); n != total {
		t.Fatalf("list Len = %d, %v; want %d", n, err, total)
	}
	counts := make([]int, mpProcs)
	for v := range el.All() {
		x := killUntext(v)
		if p := x >> 32; p < 0 || p >= mpProcs || x&0xFFFFFFFF != int64(counts[p]) {
			t.Fatalf("encoded list element %q out of order", v)
		} else {
			counts[p]++
		}
	}
	for p := range mpProcs {
		if counts[p] != perProc[p] {
			t.Fatalf("process %d: %d elements in the encoded list, want %d", p, counts[p], perProc[p])
		}
	}
	t.Logf("%d keys (%s), %d list elements (capacity %d, %d growths)",
		len(want), partsInfo(m), total, l.c.capacity(), le.Uint64(l.c.h[offGrowths:]))
}

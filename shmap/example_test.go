//go:build linux && (amd64 || arm64)

package shmap_test

import (
	"fmt"
	"maps"
	"slices"

	"github.com/shmkit/shmkit/shmap"
	"github.com/shmkit/shmkit/value"
)

// Python's Manager().dict(), without a server: a map every process that
// attaches to it reads and changes (pass m to a child inside its
// argument, or Open it by name in a segment).
func ExampleMap() {
	m, err := shmap.New[int64, float64]()
	if err != nil {
		fmt.Println(err)
		return
	}
	defer m.Free()
	m.Set(1, 9.5)
	m.Set(2, 7.25)
	m.Set(3, 1)
	m.Delete(3)
	m.Update(2, func(old float64, found bool) (float64, bool) { return old * 2, true }) // atomically
	v, ok, _ := m.Get(1)
	_, ok3, _ := m.Get(3)
	fmt.Println(v, ok, ok3)
	// Range yields a snapshot, in no particular order.
	got := maps.Collect(m.Range())
	for _, k := range slices.Sorted(maps.Keys(got)) {
		fmt.Println(k, got[k])
	}
	n := m.Len()
	fmt.Println("len", n)
	// Output:
	// 9.5 true false
	// 1 9.5
	// 2 14.5
	// len 2
}

// Keys and values that are not plain are encoded: strings as their bytes,
// anything else through encoding/gob (SetKeyCodec and SetValueCodec
// replace it). A word index, as a dict of lists.
func ExampleMap_encoded() {
	idx, err := shmap.New[string, []int]()
	if err != nil {
		fmt.Println(err)
		return
	}
	defer idx.Free()
	for pos, w := range []string{"to", "be", "or", "not", "to", "be"} {
		idx.Update(w, func(at []int, _ bool) ([]int, bool) { return append(at, pos), true })
	}
	snap, err := idx.Snapshot()
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, w := range slices.Sorted(maps.Keys(snap)) {
		fmt.Println(w, snap[w])
	}
	// Output:
	// be [1 5]
	// not [3]
	// or [2]
	// to [0 4]
}

// Python's Manager().list(), without a server.
func ExampleList() {
	l, err := shmap.NewList[int32]()
	if err != nil {
		fmt.Println(err)
		return
	}
	defer l.Free()
	for i := range 5 {
		l.Append(int32(i * i))
	}
	l.Set(0, -1)
	last, _ := l.Pop()
	second, _ := l.At(1)
	fmt.Println(last, second)
	fmt.Println(slices.Collect(l.All()))
	// Output:
	// 16 1
	// [-1 1 4 9]
}

// Python's Manager().Namespace(): a value.Value of a struct already is
// one, shared without a server. It is read and written whole, never torn;
// Update changes fields under its lock.
func Example_namespace() {
	type Namespace struct {
		Step  int64
		Loss  float64
		Ready bool
	}
	ns, err := value.New(Namespace{}) // with a lock, for Update
	if err != nil {
		fmt.Println(err)
		return
	}
	defer ns.Close()
	ns.Update(func(n *Namespace) { n.Step++; n.Loss = 0.25 })
	ns.Update(func(n *Namespace) { n.Step++; n.Ready = true })
	fmt.Printf("%+v\n", ns.Load())
	// Output: {Step:2 Loss:0.25 Ready:true}
}

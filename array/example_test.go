//go:build linux && (amd64 || arm64)

package array_test

import (
	"fmt"

	"github.com/shmkit/shmkit/array"
)

// Python's Array('i', range(10)), negated in place under its lock.
func ExampleFrom() {
	a, err := array.From([]int32{0, 1, 2, 3, 4, 5, 6, 7, 8, 9})
	if err != nil {
		fmt.Println(err)
		return
	}
	a.Update(func(s []int32) {
		for i := range s {
			s[i] = -s[i]
		}
	})
	snapshot, _ := a.Copy()
	fmt.Println(snapshot, string(rune(a.Code())))
	// Output: [0 -1 -2 -3 -4 -5 -6 -7 -8 -9] i
}

func ExampleNew() {
	a, _ := array.New[float64](3)
	a.Set(1, 2.5)
	fmt.Println(a.Len(), a.At(1), a.Slice())
	// Output: 3 2.5 [0 2.5 0]
}

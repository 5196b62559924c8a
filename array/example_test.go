//go:build linux && (amd64 || arm64)

package array_test

import (
	"fmt"

	"github.com/shmkit/shmkit/array"
	"github.com/shmkit/shmkit/semaphore"
	"github.com/shmkit/shmkit/value"
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

// Python's Array('i', ..., lock=lock): an array and a value that change
// together under one lock of the caller's.
func ExampleFromWithLock() {
	lock, err := semaphore.NewMutex()
	if err != nil {
		fmt.Println(err)
		return
	}
	readings, err := array.FromWithLock([]int32{3, 5, 7}, lock)
	if err != nil {
		fmt.Println(err)
		return
	}
	total, err := value.NewWithLock(int64(15), lock)
	if err != nil {
		fmt.Println(err)
		return
	}

	lock.Lock() // the array and the total change together, in every process
	readings.Update(func(s []int32) { s[0] = 10 })
	total.Update(func(t *int64) { *t += 10 - 3 })
	lock.Unlock()

	snapshot, _ := readings.Copy()
	fmt.Println(snapshot, total.Load(), readings.Mutex() == lock)
	readings.Free() // the lock stays the caller's
	total.Free()
	fmt.Println(lock.TryLock() == nil)
	// Output:
	// [10 5 7] 22 true
	// true
}

//go:build linux && (amd64 || arm64)

package value_test

import (
	"fmt"
	"sync"

	"github.com/shmkit/shmkit/semaphore"
	"github.com/shmkit/shmkit/value"
)

// Python's Value('d', 0.0): a number every process sees, with a lock.
func ExampleNew() {
	v, err := value.New(0.0)
	if err != nil {
		fmt.Println(err)
		return
	}
	v.Store(3.1415927)
	v.Update(func(x *float64) { *x *= 2 }) // under the lock
	fmt.Println(v.Load(), string(rune(v.Code())))
	// Output: 6.2831854 d
}

// Integer Values count without a lock.
func ExampleValue_Add() {
	n, _ := value.New[int64](0)
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 1000 {
				n.Add(1)
			}
		}()
	}
	wg.Wait()
	fmt.Println(n.Load())
	// Output: 4000
}

// A struct Value is Python's Namespace, shared without a server; it is
// read and written whole, never torn.
func ExampleNewRaw() {
	type Namespace struct {
		X, Y int32
		Name [16]byte
	}
	ns, _ := value.NewRaw(Namespace{X: 1})
	var n Namespace
	n.Y = 2
	copy(n.Name[:], "shared")
	ns.Store(n)
	got := ns.Load()
	fmt.Println(got.X, got.Y, string(got.Name[:6]))
	// Output: 0 2 shared
}

// Python's Value('i', 0, lock=lock): several values guarded by one lock of
// the caller's, so that they change together.
func ExampleNewWithLock() {
	lock, err := semaphore.NewMutex()
	if err != nil {
		fmt.Println(err)
		return
	}
	balance, _ := value.NewWithLock(int64(100), lock)
	moved, _ := value.NewWithLock(int64(0), lock)

	lock.Lock() // both change under the one lock, in every process
	balance.Update(func(b *int64) { *b -= 30 })
	moved.Update(func(m *int64) { *m += 30 })
	lock.Unlock()

	fmt.Println(balance.Load(), moved.Load())
	balance.Free() // the lock stays the caller's
	moved.Free()
	fmt.Println(lock.TryLock() == nil)
	// Output:
	// 70 30
	// true
}

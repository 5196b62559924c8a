//go:build linux && (amd64 || arm64)

package array_test

import (
	"context"
	"encoding/binary"
	"fmt"
	"math"
	"os"
	"time"

	"github.com/shmkit/shmkit/array"
	"github.com/shmkit/shmkit/shm"
)

// Reading, as a []float64, shared memory that a Python program made with
//
//	mem = shared_memory.SharedMemory(name="prices", create=True, size=8 * 3)
//	mem.buf.cast("d")[:] = array.array("d", [1.5, 2.5, 3.5])
//
// or numpy.ndarray((3,), "d", buffer=mem.buf); here Go writes the file
// in its place.
func ExampleView() {
	name := fmt.Sprintf("shmkit-example-prices-%d", os.Getpid()) // Python's mem.name
	b := make([]byte, 8*3)
	for i, x := range []float64{1.5, 2.5, 3.5} {
		binary.LittleEndian.PutUint64(b[8*i:], math.Float64bits(x))
	}
	if err := os.WriteFile(shm.Dir+"/"+name, b, 0o600); err != nil {
		fmt.Println(err)
		return
	}

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	m, err := shm.OpenForeign(ctx, name) // no shmkit header needed
	if err != nil {
		fmt.Println(err)
		return
	}
	defer m.Free() // Python's mem.unlink(); m.Close() leaves the name to its owner
	prices, err := array.View[float64](m.Bytes())
	if err != nil {
		fmt.Println(err)
		return
	}
	prices[0] = 1.25 // Python's mem.buf.cast("d")[0] reads 1.25
	fmt.Println(prices)

	_, err = array.View[[2]float64](m.Bytes()) // 24 bytes are not a whole number of 16-byte elements
	fmt.Println(err)
	// Output:
	// [1.25 2.5 3.5]
	// array: viewing 24 bytes as [2]float64: invalid argument: not a multiple of its 16 bytes
}

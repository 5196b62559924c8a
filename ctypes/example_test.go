package ctypes_test

import (
	"errors"
	"fmt"
	"reflect"

	"github.com/shmkit/shmkit/ctypes"
)

type Point struct {
	X, Y int32
	Z    float64
}

func ExampleLayoutOf() {
	l, err := ctypes.LayoutOf[Point]()
	if err != nil {
		panic(err)
	}
	fmt.Println(l.Shape)
	fmt.Println(l.Size, l.Align)

	// Names do not matter, only the memory shape.
	type Renamed struct {
		A, B int32
		C    float64
	}
	r, _ := ctypes.LayoutOf[Renamed]()
	fmt.Println(r.Fingerprint == l.Fingerprint)
	// Output:
	// struct{0:i32,4:i32,8:f64}#16
	// 16 8
	// true
}

type Celsius float64

func ExampleCodeOf() {
	c, ok := ctypes.CodeOf[float64]()
	fmt.Println(c, ok)
	c, ok = ctypes.CodeOf[Celsius]()
	fmt.Println(c, ok)
	c, ok = ctypes.CodeOf[int32]()
	fmt.Println(c, c.Size())
	_, ok = ctypes.CodeOf[string]()
	fmt.Println(ok)
	// Output:
	// 'd' (float64) true
	// 'd' (float64) true
	// 'i' (int32) 4
	// false
}

func ExampleParseCode() {
	c, err := ctypes.ParseCode("H")
	fmt.Println(c, c.Size(), err)
	_, err = ctypes.ParseCode("x")
	fmt.Println(err)
	fmt.Println(errors.Is(err, ctypes.ErrUnknownCode))
	// Output:
	// 'H' (uint16) 2 <nil>
	// type code "x": ctypes: unknown type code
	// true
}

type Item struct {
	SKU      [16]byte
	Quantity int32
}

type Order struct {
	ID    int64
	Items []Item
}

func ExampleCheckPlain() {
	fmt.Println(ctypes.CheckPlain(reflect.TypeFor[Item]()))

	err := ctypes.CheckPlain(reflect.TypeFor[Order]())
	fmt.Println(err)
	fmt.Println(errors.Is(err, ctypes.ErrNotPlain))

	var npe *ctypes.NotPlainError
	if errors.As(err, &npe) {
		fmt.Printf("path %s, kind %s\n", npe.Path, npe.Kind)
	}
	// Output:
	// <nil>
	// ctypes: Order.Items: slice is not plain data
	// true
	// path Order.Items, kind slice
}

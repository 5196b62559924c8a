//go:build linux && (amd64 || arm64)

package shm_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/shmkit/shmkit/shm"
)

// exampleName keeps examples from clashing with segments of other programs.
func exampleName(s string) string { return fmt.Sprintf("shmkit-example-%s-%d", s, os.Getpid()) }

func ExampleCreate() {
	name := exampleName("orders")
	seg, err := shm.Create(name, 1<<20, nil) // 1 MiB, mode 0600
	if err != nil {
		fmt.Println(err)
		return
	}
	defer shm.Unlink(name)
	defer seg.Close()

	_, err = shm.Create(name, 1<<20, nil)
	fmt.Println(errors.Is(err, shm.ErrExist), errors.Is(err, os.ErrExist))
	fmt.Println(seg.Size(), seg.Created())
	// Output:
	// true true
	// 1048576 true
}

func ExampleOpen() {
	name := exampleName("open")
	seg, err := shm.Create(name, 1<<20, nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer shm.Unlink(name)
	defer seg.Close()

	// Usually another process: Open checks the header, and waits for a
	// segment not made yet or a creator still setting it up, until ctx
	// ends.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	other, err := shm.Open(ctx, name, nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer other.Close()
	fmt.Println(other.ID() == seg.ID(), other.Created())

	// A name that never appears: ErrNotExist once the deadline passes.
	short, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	_, err = shm.Open(short, exampleName("missing"), nil)
	fmt.Println(errors.Is(err, shm.ErrNotExist), errors.Is(err, context.DeadlineExceeded))
	// Output:
	// true false
	// true true
}

func ExampleOpenOrCreate() {
	name := exampleName("either")
	defer shm.Unlink(name)
	for range 2 {
		seg, err := shm.OpenOrCreate(context.Background(), name, 1<<20, nil)
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Println("created:", seg.Created())
		seg.Close()
	}
	// Output:
	// created: true
	// created: false
}

func ExampleAnonymous() {
	// No name, nothing to clean up: children inherit it as a file descriptor
	// (Segment.File) and map it with FromFile.
	seg, err := shm.Anonymous(1 << 20)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer seg.Close()
	fmt.Printf("%q %d\n", seg.Name(), seg.Size())
	// Output: "" 1048576
}

func ExamplePlace() {
	name := exampleName("place")
	// Objects placed by Init exist before any other process can open the
	// segment.
	seg, err := shm.Create(name, 1<<20, &shm.SegmentOptions{Init: func(s *shm.Segment) error {
		_, err := shm.Place(shm.Spec{Kind: shm.KindBytes, Size: 16},
			func(b []byte) error { copy(b, "hello"); return nil },
			shm.In(s, "greeting"))
		return err
	}})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer shm.Unlink(name)
	defer seg.Close()

	obj, err := seg.Find(context.Background(), "greeting", shm.Spec{Kind: shm.KindBytes})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("%s\n", obj.Bytes()[:5])

	_, err = seg.Find(context.Background(), "greeting", shm.Spec{Kind: shm.KindQueue})
	fmt.Println(errors.Is(err, shm.ErrKind))
	// Output:
	// hello
	// true
}

func ExampleHandle() {
	seg, err := shm.Anonymous(1 << 20)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer seg.Close()
	obj, _ := seg.Alloc(shm.Spec{Kind: shm.KindBytes, Size: 8})
	copy(obj.Bytes(), "shared!!")

	// The bytes travel to another process (an argument, a queue message),
	// which decodes them and resolves the handle to the same memory.
	b, _ := obj.Handle().MarshalBinary()
	var h shm.Handle
	if err := h.UnmarshalBinary(b); err != nil {
		fmt.Println(err)
		return
	}
	same, err := shm.Resolve(h)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("%s\n", same.Bytes())
	// Output: shared!!
}

func ExampleFromFile() {
	// A child process gets the segment's file as an inherited descriptor
	// (package process does this); here the same process reopens it.
	seg, err := shm.Anonymous(1 << 20)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer seg.Close()
	f, err := os.OpenFile(fmt.Sprintf("/proc/self/fd/%d", seg.File().Fd()), os.O_RDWR, 0)
	if err != nil {
		fmt.Println(err)
		return
	}
	// FromFile checks the header, and takes f over: Close closes it.
	again, err := shm.FromFile(f)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer again.Close()
	fmt.Println(again.ID() == seg.ID())
	// Output: true
}

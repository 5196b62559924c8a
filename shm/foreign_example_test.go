//go:build linux && (amd64 || arm64)

package shm_test

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/shmkit/shmkit/shm"
)

// Shared memory that another program made, such as Python's
// SharedMemory(name="greeting", create=True, size=5) ("/greeting" to
// shm_open), opened by its name.
func ExampleOpenForeign() {
	name := exampleName("greeting")
	if err := os.WriteFile(shm.Dir+"/"+name, []byte("hello"), 0o600); err != nil {
		fmt.Println(err)
		return
	}
	defer os.Remove(shm.Dir + "/" + name) // the other program's to remove

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	m, err := shm.OpenForeign(ctx, name) // waits for the name, until ctx ends
	if err != nil {
		fmt.Println(err)
		return
	}
	defer m.Close()
	copy(m.Bytes(), "J")
	b, _ := os.ReadFile(shm.Dir + "/" + name)
	fmt.Println(m.Size(), string(b))
	// Output: 5 Jello
}

// Shared memory passed as an open file: a memfd or a /dev/shm file that
// another program handed on.
func ExampleForeignFromFile() {
	path := shm.Dir + "/" + exampleName("passed")
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.Remove(path)
	f.WriteString("abc")
	m, err := shm.ForeignFromFile(f) // m owns f now
	if err != nil {
		fmt.Println(err)
		return
	}
	defer m.Close()
	fmt.Println(m.Size(), string(m.Bytes()), m.Name() == "")
	// Output: 3 abc true
}

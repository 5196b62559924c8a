package testproc

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// childShmDir, given "IN OUT", reads the file IN of /dev/shm, writes OUT
// there, and fails unless it is process 1 of a pid namespace.
var childShmDir = Register("shmdir", func(c *Child) error {
	if pid := os.Getpid(); pid != 1 {
		return fmt.Errorf("pid %d, want 1", pid)
	}
	in, out, _ := strings.Cut(c.Arg(), " ")
	b, err := os.ReadFile(filepath.Join("/dev/shm", in))
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join("/dev/shm", out), b, 0o600)
})

// TestShmDir: a child started with ShmDir sees the directory as its
// /dev/shm, and what it writes there lands in the directory, not in the
// host's /dev/shm.
func TestShmDir(t *testing.T) {
	NeedPidNamespace(t, true)
	name := ShmName(t)
	dir := filepath.Join(defaultShmDir, name)
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	in, out := name+"-in", name+"-out"
	if err := os.WriteFile(filepath.Join(dir, in), []byte("hello"), 0o600); err != nil {
		t.Fatal(err)
	}
	Start(t, childShmDir, Arg(in+" "+out), ShmDir(dir)).Succeed()
	if b, err := os.ReadFile(filepath.Join(dir, out)); err != nil || string(b) != "hello" {
		t.Fatalf("the child's file in the directory: %q, %v; want \"hello\"", b, err)
	}
	if _, err := os.Stat(filepath.Join(defaultShmDir, out)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the child's file in the host's /dev/shm: %v, want none", err)
	}
}

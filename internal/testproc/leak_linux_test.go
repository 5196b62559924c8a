package testproc

import (
	"encoding/binary"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestFDSnapshot(t *testing.T) {
	before, err := fdSnapshot()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "leaky")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	after, err := fdSnapshot()
	if err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("a test leaked file descriptor %d (%s)", f.Fd(), path)
	if got := diffFDs(before, after); !slices.Contains(got, want) {
		t.Errorf("diffFDs = %q, want it to contain %q", got, want)
	}
	f.Close()
	after, err = fdSnapshot()
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range diffFDs(before, after) {
		if strings.Contains(s, path) {
			t.Errorf("after Close, diffFDs still reports %q", s)
		}
	}
}

func TestDiffFDs(t *testing.T) {
	before := map[int]string{0: "/dev/null", 1: "pipe:[1]", 2: "pipe:[1]", 3: "/tmp/a"}
	after := map[int]string{
		0: "/dev/null", 1: "pipe:[1]", 2: "pipe:[1]",
		3: "/tmp/b", // closed and reused for something else
		4: "anon_inode:[eventpoll]",
		5: "anon_inode:[eventfd]",
		7: "socket:[9]",
	}
	want := []string{
		"a test leaked file descriptor 3 (/tmp/b)",
		"a test leaked file descriptor 7 (socket:[9])",
	}
	if got := diffFDs(before, after); !slices.Equal(got, want) {
		t.Errorf("diffFDs = %q, want %q", got, want)
	}
}

func TestShmSnapshot(t *testing.T) {
	if _, err := os.Stat(defaultShmDir); err != nil {
		t.Skip(err)
	}
	before, err := shmSnapshot(defaultShmDir)
	if err != nil {
		t.Fatal(err)
	}
	name := fmt.Sprintf("shmkit-testproc-%d", os.Getpid())
	path := filepath.Join(defaultShmDir, name)
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Remove(path) })
	after, err := shmSnapshot(defaultShmDir)
	if err != nil {
		t.Fatal(err)
	}
	if got := diffShm(before, after); !slices.Contains(got, name) {
		t.Errorf("diffShm = %q, want it to contain %q", got, name)
	}
	if got := diffShm(after, before); slices.Contains(got, name) {
		t.Errorf("diffShm reports a removed entry: %q", got)
	}
}

// leakedFile keeps the descriptor TestLeaky opens from being closed by a
// finalizer.
var leakedFile *os.File

// TestLeaky leaks on purpose; it runs only inside TestMainReportsLeaks.
func TestLeaky(t *testing.T) {
	dir := os.Getenv("TESTPROC_LEAKY_SHM")
	if dir == "" {
		t.Skip("run by TestMainReportsLeaks")
	}
	f, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	leakedFile = f
	if err := os.WriteFile(filepath.Join(dir, "leaked-segment"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestMainReportsLeaks runs this test binary on TestLeaky, with a private
// lock and a private directory standing in for /dev/shm, and checks that
// Main fails the run, names both leaks and removes the entry.
func TestMainReportsLeaks(t *testing.T) {
	t.Parallel()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	shm := t.TempDir()
	cmd := exec.Command(exe, "-test.run=^TestLeaky$")
	cmd.Env = append(childEnv(os.Environ()),
		"TESTPROC_LEAKY_SHM="+shm,
		envShmDir+"="+shm,
		envLock+"="+filepath.Join(t.TempDir(), "lock"),
	)
	out, err := cmd.CombinedOutput()
	if cmd.ProcessState == nil || cmd.ProcessState.ExitCode() != 1 {
		t.Fatalf("nested run: %v, want exit code 1; output:\n%s", err, out)
	}
	for _, want := range []string{
		"PASS", // the test itself passed; only the check failed the run
		fmt.Sprintf("testproc: a test left %s (removed it)", filepath.Join(shm, "leaked-segment")),
		"testproc: a test leaked file descriptor ",
		"(" + os.DevNull + ")",
	} {
		if !strings.Contains(string(out), want) {
			t.Errorf("output does not contain %q:\n%s", want, out)
		}
	}
	if _, err := os.Stat(filepath.Join(shm, "leaked-segment")); !os.IsNotExist(err) {
		t.Errorf("leaked entry not removed: %v", err)
	}
}

func TestOurs(t *testing.T) {
	dir := t.TempDir()
	pid := os.Getpid()
	seg := func(creator uint32) string {
		b := make([]byte, 64)
		copy(b, "shmkitSG")
		binary.LittleEndian.PutUint32(b[32:], creator)
		p := filepath.Join(dir, fmt.Sprint("seg", creator))
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	cases := []struct {
		name, path string
		want       bool
	}{
		{fmt.Sprintf("shmkit-test-%d-3", pid), dir + "/missing", true},
		{fmt.Sprintf("shmkit-example-x-%d", pid), dir + "/missing", true},
		{fmt.Sprintf("shmkit-test-%d1-3", pid), dir + "/missing", false}, // another pid
		{"orders", seg(uint32(pid)), true},
		{"orders", seg(1), false},
		{"plain", dir + "/missing", false},
	}
	for _, c := range cases {
		if got := ours(c.name, c.path); got != c.want {
			t.Errorf("ours(%q, %s) = %v, want %v", c.name, c.path, got, c.want)
		}
	}
}

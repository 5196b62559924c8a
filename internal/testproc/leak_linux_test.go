package testproc

import (
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
	name := ShmName(t) // removed when the test ends
	path := filepath.Join(defaultShmDir, name)
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		t.Fatal(err)
	}
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

// foreignNames are entries another program might make in /dev/shm while
// the test binary with the given pid runs: a plain name, names carrying
// that pid (as Postgres's random numbers may), and a name another shmkit
// test binary (its parent, ppid) gives.
func foreignNames(pid, ppid int) []string {
	return []string{
		"foreign",
		fmt.Sprintf("PostgreSQL.%d", pid),
		fmt.Sprint(pid),
		fmt.Sprintf("shmkit-test-%d-1", ppid),
		fmt.Sprintf("shmkit-test-%d1-1", pid),
		fmt.Sprintf("shmkit-test-%d", pid),
		fmt.Sprintf("example-mutex-%d", pid),
	}
}

// makeForeign creates in dir the foreignNames of this process, plain files
// and one directory, as other programs might.
func makeForeign(t *testing.T, dir string) {
	t.Helper()
	for i, name := range foreignNames(os.Getpid(), os.Getppid()) {
		p := filepath.Join(dir, name)
		var err error
		if i == 1 {
			err = os.Mkdir(p, 0o700)
		} else {
			err = os.WriteFile(p, []byte("not yours"), 0o600)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
}

// checkForeign fails the test unless every entry makeForeign made in dir,
// in the process with the given pid and parent, is still there.
func checkForeign(t *testing.T, dir string, pid, ppid int) {
	t.Helper()
	for _, name := range foreignNames(pid, ppid) {
		if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
			t.Errorf("foreign entry %s: %v", name, err)
		}
	}
}

// TestFinishJudgesOnlyOwnEntries makes, after the check started, entries
// of other programs and one of this test's, and checks that finish
// reports and removes this test's and nothing else.
func TestFinishJudgesOnlyOwnEntries(t *testing.T) {
	dir := t.TempDir()
	lc := &leakCheck{dir: dir}
	var err error
	if lc.shm, err = shmSnapshot(dir); err != nil {
		t.Fatal(err)
	}
	makeForeign(t, dir)
	own := filepath.Join(dir, ShmName(t)+"-b") // a second segment named after the test's
	if err := os.WriteFile(own, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	problems := lc.finish()
	want := []string{fmt.Sprintf("a test left %s (made by %s; removed it)", own, t.Name())}
	if !slices.Equal(problems, want) {
		t.Errorf("finish() = %q, want %q", problems, want)
	}
	if _, err := os.Stat(own); !os.IsNotExist(err) {
		t.Errorf("the test's own entry was not removed: %v", err)
	}
	checkForeign(t, dir, os.Getpid(), os.Getppid())
}

// leakedFile keeps the descriptor TestLeaky opens from being closed by a
// finalizer.
var leakedFile *os.File

// TestLeaky leaks on purpose and makes foreign entries; it runs only inside
// TestMainReportsLeaks.
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
	makeForeign(t, dir)
	// Stands for a segment the test made from its ShmName and did not
	// remove; the name is passed to the parent on stdout.
	name := ShmName(t) + "-leaked"
	if err := os.WriteFile(filepath.Join(dir, name), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	fmt.Printf("leaked=%s\n", name)
}

// TestMainReportsLeaks runs this test binary on TestLeaky, with a private
// directory standing in for /dev/shm, and checks that Main fails the run,
// names both leaks and removes the test's entry, and leaves the foreign
// entries alone.
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
	)
	out, err := cmd.CombinedOutput()
	if cmd.ProcessState == nil || cmd.ProcessState.ExitCode() != 1 {
		t.Fatalf("nested run: %v, want exit code 1; output:\n%s", err, out)
	}
	_, rest, ok := strings.Cut(string(out), "leaked=")
	leaked, _, _ := strings.Cut(rest, "\n")
	if !ok || leaked == "" {
		t.Fatalf("nested run did not name its entry; output:\n%s", out)
	}
	for _, want := range []string{
		"PASS", // the test itself passed; only the check failed the run
		fmt.Sprintf("testproc: a test left %s (made by TestLeaky; removed it)", filepath.Join(shm, leaked)),
		"testproc: a test leaked file descriptor ",
		"(" + os.DevNull + ")",
	} {
		if !strings.Contains(string(out), want) {
			t.Errorf("output does not contain %q:\n%s", want, out)
		}
	}
	if n := strings.Count(string(out), "testproc: "); n != 2 {
		t.Errorf("%d problem lines, want 2:\n%s", n, out)
	}
	if _, err := os.Stat(filepath.Join(shm, leaked)); !os.IsNotExist(err) {
		t.Errorf("leaked entry not removed: %v", err)
	}
	checkForeign(t, shm, cmd.Process.Pid, os.Getpid())
}

// TestForeign makes entries of other programs in the middle of a run; it
// runs only inside TestMainLeavesForeignEntries.
func TestForeign(t *testing.T) {
	dir := os.Getenv("TESTPROC_FOREIGN_SHM")
	if dir == "" {
		t.Skip("run by TestMainLeavesForeignEntries")
	}
	makeForeign(t, dir)
}

// TestMainLeavesForeignEntries runs this test binary on TestForeign and
// checks that the run passes and the foreign entries are still there.
func TestMainLeavesForeignEntries(t *testing.T) {
	t.Parallel()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	shm := t.TempDir()
	cmd := exec.Command(exe, "-test.run=^TestForeign$")
	cmd.Env = append(childEnv(os.Environ()),
		"TESTPROC_FOREIGN_SHM="+shm,
		envShmDir+"="+shm,
	)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Errorf("nested run: %v, want success; output:\n%s", err, out)
	}
	if strings.Contains(string(out), "testproc: ") {
		t.Errorf("nested run reported a problem:\n%s", out)
	}
	checkForeign(t, shm, cmd.Process.Pid, os.Getpid())
}

func TestOurs(t *testing.T) {
	pid, ppid := os.Getpid(), os.Getppid()
	cases := []struct {
		name string
		want bool
	}{
		{fmt.Sprintf("shmkit-test-%d-3", pid), true},
		{fmt.Sprintf("shmkit-test-%d-3-b", pid), true},
		{fmt.Sprintf("shmkit-example-orders-%d", pid), true},
		{fmt.Sprintf("shmkit-test-%d1-3", pid), false}, // another pid
		{fmt.Sprintf("shmkit-test-%d-3", ppid), false},
		{fmt.Sprintf("shmkit-test-%d", pid), false},
		{fmt.Sprintf("shmkit-example-orders-%d1", pid), false},
		{fmt.Sprintf("shmkit-example-orders-%d", ppid), false},
		{fmt.Sprintf("PostgreSQL.%d", pid), false},
		{fmt.Sprintf("example-mutex-%d", pid), false},
		{fmt.Sprint(pid), false},
		{"orders", false},
	}
	for _, c := range cases {
		if got := ours(c.name); got != c.want {
			t.Errorf("ours(%q) = %v, want %v", c.name, got, c.want)
		}
	}
}

func TestMadeBy(t *testing.T) {
	name := ShmName(t)
	want := "made by " + t.Name() + "; "
	for _, n := range []string{name, name + "-b", name + "-b-c"} {
		if got := madeBy(n); got != want {
			t.Errorf("madeBy(%q) = %q, want %q", n, got, want)
		}
	}
	for _, n := range []string{name + "0", name + ".b", ownPrefix() + "x", "foreign"} {
		if got := madeBy(n); got != "" {
			t.Errorf("madeBy(%q) = %q, want \"\"", n, got)
		}
	}
}

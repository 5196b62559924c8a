//go:build linux && (amd64 || arm64)

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path"
	"slices"
	"strings"
	"testing"

	"github.com/shmkit/shmkit/internal/testproc"
	"github.com/shmkit/shmkit/shm"
	"github.com/shmkit/shmkit/shmap"
)

func TestMain(m *testing.M) { testproc.Main(m) }

// testName is a segment name no other test or test binary uses; whatever
// holds it is removed when the test ends.
func testName(t testing.TB) string { return testproc.ShmName(t) }

// mine is the gc pattern matching only this test binary's segments, so that
// gc never touches another program's.
func mine() string { return testproc.ShmPattern() }

// shmctl runs the command line and returns its exit code and output.
func shmctl(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var o, e bytes.Buffer
	code = run(args, &o, &e)
	return code, o.String(), e.String()
}

// want runs the command line and fails the test unless it exits with code.
func want(t *testing.T, code int, args ...string) (stdout, stderr string) {
	t.Helper()
	got, o, e := shmctl(t, args...)
	if got != code {
		t.Fatalf("shmctl %s: exit %d, want %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), got, code, o, e)
	}
	return o, e
}

func exists(name string) bool {
	_, err := os.Lstat(shm.Dir + "/" + name)
	return err == nil
}

// segmentWithObjects creates a segment in this process holding a mutex, a
// value and some bytes.
func segmentWithObjects(t *testing.T) *shm.Segment {
	t.Helper()
	seg, err := shm.Create(testName(t), 1<<20, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { seg.Close() })
	for _, o := range []struct {
		name string
		kind shm.Kind
		size uint64
	}{{"lock", shm.KindMutex, 16}, {"counter", shm.KindValue, 8}, {"buf", shm.KindBytes, 100}} {
		if _, err := shm.Place(shm.Spec{Kind: o.kind, Size: o.size}, nil, shm.In(seg, o.name)); err != nil {
			t.Fatal(err)
		}
	}
	return seg
}

// plant writes a file in /dev/shm that is not a valid segment: plain text,
// or, with magic, the segment magic followed by a header that does not
// check out.
func plant(t *testing.T, magic bool) string {
	t.Helper()
	name := testName(t)
	data := []byte("not a segment, just a file\n")
	if magic {
		data = append([]byte("shmkitSG"), make([]byte, 4096)...)
		data[8] = 3 // format version 3, zero checksum
	}
	if err := os.WriteFile(shm.Dir+"/"+name, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return name
}

type lsOutput struct {
	Segments []segmentJSON `json:"segments"`
}

func decode[T any](t *testing.T, s string) T {
	t.Helper()
	var v T
	dec := json.NewDecoder(strings.NewReader(s))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("decoding %q: %v", s, err)
	}
	return v
}

func TestLs(t *testing.T) {
	seg := segmentWithObjects(t)
	bad := plant(t, true)
	out, _ := want(t, 0, "ls")
	lines := strings.Split(out, "\n")
	if !strings.HasPrefix(lines[0], "NAME ") || !strings.Contains(lines[0], "HEAP USED") {
		t.Fatalf("header line %q", lines[0])
	}
	var line, badLine string
	for _, l := range lines {
		f := strings.Fields(l)
		switch {
		case len(f) > 0 && f[0] == seg.Name():
			line = l
		case len(f) > 0 && f[0] == bad:
			badLine = l
		}
	}
	f := strings.Fields(line)
	if len(f) < 8 || f[1] != "1.0MiB" || f[2] != "3/16" || f[4] != fmt.Sprint(os.Getpid()) || f[5] != "yes" || f[6] != "yes" {
		t.Fatalf("ls line %q\n%s", line, out)
	}
	if i := strings.Index(lines[0], "SIZE"); strings.Index(line, "1.0MiB") != i || strings.Index(badLine, " - ") != i-1 {
		t.Fatalf("columns not aligned:\n%s", out)
	}
	if !strings.Contains(badLine, "error:") || !strings.Contains(badLine, "checksum") {
		t.Fatalf("bad segment line %q\n%s", badLine, out)
	}

	out, _ = want(t, 0, "ls", "-json")
	ls := decode[lsOutput](t, out)
	var got, gotBad *segmentJSON
	for i := range ls.Segments {
		switch ls.Segments[i].Name {
		case seg.Name():
			got = &ls.Segments[i]
		case bad:
			gotBad = &ls.Segments[i]
		}
	}
	if got == nil || gotBad == nil {
		t.Fatalf("segments missing from %s", out)
	}
	if got.Size != 1<<20 || got.Objects != 3 || got.MaxObjects != 16 || !got.CreatorAlive || !got.Ready ||
		got.CreatorPid != os.Getpid() || got.ID != fmt.Sprintf("%016x", seg.ID()) || got.Version != 3 ||
		got.HeapUsed <= 0 || got.HeapSize <= got.HeapUsed || got.Created == "" || got.Error != "" {
		t.Fatalf("ls -json: %+v", *got)
	}
	if gotBad.Error == "" || gotBad.Size != 0 {
		t.Fatalf("bad segment: %+v", *gotBad)
	}
}

func TestLsFlags(t *testing.T) {
	want(t, 2, "ls", "-bogus")
	want(t, 2, "ls", "extra")
	if out, _ := want(t, 0, "ls", "-h"); !strings.Contains(out, "usage: shmctl ls") {
		t.Fatalf("ls -h: %q", out)
	}
}

func TestInfo(t *testing.T) {
	seg := segmentWithObjects(t)
	out, _ := want(t, 0, "info", seg.Name())
	for _, s := range []string{
		"name:", seg.Name(), fmt.Sprintf("%016x", seg.ID()), "1.0MiB (1048576 bytes)",
		fmt.Sprintf("pid %d (alive)", os.Getpid()), "3 of 16 entries", "users:",
		"OBJECT", "KIND", "FINGERPRINT",
	} {
		if !strings.Contains(out, s) {
			t.Errorf("info output lacks %q", s)
		}
	}
	for _, obj := range []string{"lock mutex", "counter value", "buf bytes"} {
		found := false
		for _, l := range strings.Split(out, "\n") {
			if strings.HasPrefix(strings.Join(strings.Fields(l), " "), obj+" ") {
				found = true
			}
		}
		if !found {
			t.Errorf("no object line %q", obj)
		}
	}
	if t.Failed() {
		t.Fatalf("output:\n%s", out)
	}

	// Flags after the name work too.
	out, _ = want(t, 0, "info", seg.Name(), "-json")
	info := decode[struct {
		Segment segmentJSON  `json:"segment"`
		Objects []objectJSON `json:"objects"`
		Users   []int        `json:"users"`
	}](t, out)
	if info.Segment.Name != seg.Name() || info.Segment.Objects != 3 || !info.Segment.CreatorAlive {
		t.Fatalf("segment: %+v", info.Segment)
	}
	if info.Users == nil || slices.Contains(info.Users, os.Getpid()) {
		t.Fatalf("users %v: shmctl must leave itself out and print a list", info.Users)
	}
	kinds := map[string]string{}
	for _, o := range info.Objects {
		kinds[o.Name] = o.Kind
		if !o.Ready || !o.CreatorAlive || o.CreatorPid != os.Getpid() || o.Length == 0 || o.Offset%64 != 0 ||
			len(o.Fingerprint) != 16 {
			t.Errorf("object %+v", o)
		}
	}
	if !maps(kinds, map[string]string{"lock": "mutex", "counter": "value", "buf": "bytes"}) {
		t.Errorf("objects %v", kinds)
	}
	if o := info.Objects[0]; o.KindCode != uint32(shm.KindMutex) || o.Length != 16 {
		t.Errorf("first object %+v", o)
	}
}

func maps(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

func TestInfoErrors(t *testing.T) {
	_, e := want(t, 3, "info", testName(t))
	if !strings.Contains(e, "does not exist") {
		t.Fatalf("stderr %q", e)
	}
	want(t, 4, "info", plant(t, false))
	want(t, 4, "info", plant(t, true))
	want(t, 2, "info")
	want(t, 2, "info", "a", "b")
	want(t, 2, "info", "../etc/passwd")
	want(t, 2, "info", "-json=maybe", "x")
}

func TestRm(t *testing.T) {
	seg := segmentWithObjects(t)
	out, _ := want(t, 0, "rm", seg.Name())
	if out != "removed "+seg.Name()+"\n" || exists(seg.Name()) {
		t.Fatalf("rm: %q, exists %v", out, exists(seg.Name()))
	}
	// The segment stays usable by this process after its name is gone.
	if _, err := seg.Objects(); err != nil {
		t.Fatal(err)
	}
	want(t, 3, "rm", seg.Name())

	plain := plant(t, false)
	if _, e := want(t, 4, "rm", plain); !strings.Contains(e, "refusing") {
		t.Fatalf("stderr %q", e)
	}
	if !exists(plain) {
		t.Fatal("rm removed a file that is not a segment")
	}

	// A segment whose header is corrupted is still a segment: rm removes it.
	bad := plant(t, true)
	want(t, 0, "rm", bad)
	if exists(bad) {
		t.Fatal("rm left a corrupted segment")
	}

	want(t, 2, "rm")
	want(t, 2, "rm", "-f", "x")
}

func TestRmSeveral(t *testing.T) {
	a, err := shm.Create(testName(t), 64<<10, nil)
	if err != nil {
		t.Fatal(err)
	}
	a.Close()
	b, err := shm.Create(testName(t), 64<<10, nil)
	if err != nil {
		t.Fatal(err)
	}
	b.Close()
	plain, missing := plant(t, false), testName(t)
	// Failures do not stop rm; the highest code wins.
	out, e := want(t, 4, "rm", a.Name(), missing, plain, b.Name())
	if exists(a.Name()) || exists(b.Name()) || !exists(plain) {
		t.Fatalf("after rm: %v %v %v", exists(a.Name()), exists(b.Name()), exists(plain))
	}
	if strings.Count(out, "removed ") != 2 || strings.Count(e, "\n") != 2 {
		t.Fatalf("stdout %q stderr %q", out, e)
	}
	// A name starting with '-' after "--".
	want(t, 3, "rm", "--", missing)
}

func TestUsage(t *testing.T) {
	want(t, 2)
	if _, e := want(t, 2, "frobnicate"); !strings.Contains(e, `unknown command "frobnicate"`) {
		t.Fatalf("stderr %q", e)
	}
	if _, e := want(t, 2, "-json", "ls"); !strings.Contains(e, "after the command") {
		t.Fatalf("stderr %q", e)
	}
	for _, h := range []string{"help", "-h", "--help"} {
		out, _ := want(t, 0, h)
		if !strings.Contains(out, "Exit codes:") || !strings.Contains(out, "shmctl gc") {
			t.Fatalf("%s: %q", h, out)
		}
	}
	want(t, 2, "gc", "-q")
	want(t, 2, "gc", "[")
	want(t, 0, "gc", "-h")
}

func TestExitCode(t *testing.T) {
	for _, c := range []struct {
		err  error
		code int
	}{
		{nil, 0},
		{fmt.Errorf("segment %q: %w", "x", shm.ErrNotExist), 3},
		{fmt.Errorf("x: %w", shm.ErrBadHeader), 4},
		{fmt.Errorf("x: %w", shm.ErrVersion), 4},
		{fmt.Errorf("x: %w", shm.ErrCorrupt), 1},
		{shm.ErrNotSupported, 1},
		{os.ErrPermission, 1},
		{errors.New("other"), 1},
		{shm.ErrName, 2},
	} {
		if got := exitCode(c.err); got != c.code {
			t.Errorf("exitCode(%v) = %d, want %d", c.err, got, c.code)
		}
	}
}

func TestHuman(t *testing.T) {
	for n, s := range map[int64]string{0: "0B", 1023: "1023B", 1024: "1.0KiB", 1536: "1.5KiB",
		64 << 20: "64.0MiB", 3 << 30: "3.0GiB"} {
		if got := human(n); got != s {
			t.Errorf("human(%d) = %q, want %q", n, got, s)
		}
	}
}

// childCreate creates the segment named by its argument, places an object
// and exits without unlinking it, as a crashed program would.
var childCreate = testproc.Register("shmctl-create", func(c *testproc.Child) error {
	seg, err := shm.Create(c.Arg(), 1<<20, nil)
	if err != nil {
		return err
	}
	if _, err := shm.Place(shm.Spec{Kind: shm.KindMutex, Size: 16}, nil, shm.In(seg, "lock")); err != nil {
		return err
	}
	return seg.Close()
})

// childHold opens the segment named by its argument and keeps it mapped
// until the parent lets it go.
var childHold = testproc.Register("shmctl-hold", func(c *testproc.Child) error {
	seg, err := shm.Open(context.Background(), c.Arg(), nil)
	if err != nil {
		return err
	}
	c.Point("holding")
	return seg.Close()
})

type gcOutput struct {
	DryRun   bool       `json:"dry_run"`
	Segments []gcResult `json:"segments"`
}

// gcFor runs gc -json (with extra flags) on this binary's segments and
// returns the result for name.
func gcFor(t *testing.T, name string, flags ...string) gcResult {
	t.Helper()
	out, _ := want(t, 0, append(append([]string{"gc", "-json"}, flags...), mine())...)
	res := decode[gcOutput](t, out)
	if res.DryRun != slices.Contains(flags, "-n") {
		t.Fatalf("dry_run %v with flags %v", res.DryRun, flags)
	}
	for _, r := range res.Segments {
		if ok, _ := path.Match(mine(), r.Name); !ok {
			t.Fatalf("gc looked at %s, outside its pattern", r.Name)
		}
		if r.Name == name {
			return r
		}
	}
	t.Fatalf("gc did not report %s:\n%s", name, out)
	return gcResult{}
}

func TestGCDeadCreator(t *testing.T) {
	name := testName(t)
	p := testproc.Start(t, childCreate, testproc.Arg(name))
	p.Succeed()

	out, _ := want(t, 0, "gc", "-n", mine())
	if !strings.Contains(out, name) || !strings.Contains(out, "would_remove") || !exists(name) {
		t.Fatalf("gc -n:\n%s", out)
	}
	r := gcFor(t, name, "-n")
	if r.Action != actWouldRemove || r.CreatorPid != p.Pid() || !exists(name) {
		t.Fatalf("gc -n: %+v, exists %v", r, exists(name))
	}
	// gc -n without a pattern looks at everything and removes nothing.
	want(t, 0, "gc", "-n")
	if !exists(name) {
		t.Fatal("gc -n removed the segment")
	}

	out, _ = want(t, 0, "gc", mine())
	if !strings.Contains(out, name) || !strings.Contains(out, "removed") || !strings.Contains(out, "is dead") {
		t.Fatalf("gc:\n%s", out)
	}
	if exists(name) {
		t.Fatal("gc left the segment")
	}
	want(t, 3, "info", name)
}

func TestGCKeepsMappedSegment(t *testing.T) {
	name := testName(t)
	testproc.Start(t, childCreate, testproc.Arg(name)).Succeed()
	holder := testproc.Start(t, childHold, testproc.Arg(name))
	holder.WaitPoint("holding")

	r := gcFor(t, name)
	if r.Action != actKept || !slices.Contains(r.Users, holder.Pid()) || !exists(name) {
		t.Fatalf("gc with a process mapping the segment: %+v, exists %v", r, exists(name))
	}
	out, _ := want(t, 0, "info", name)
	if !strings.Contains(out, fmt.Sprintf("pid %d", holder.Pid())) {
		t.Fatalf("info does not name the user %d:\n%s", holder.Pid(), out)
	}

	holder.Continue()
	holder.Succeed()
	if r := gcFor(t, name); r.Action != actRemoved || exists(name) {
		t.Fatalf("gc after the holder exited: %+v, exists %v", r, exists(name))
	}
}

func TestGCKeepsLiveCreator(t *testing.T) {
	seg := segmentWithObjects(t)
	for _, flags := range [][]string{{"-n"}, nil} {
		r := gcFor(t, seg.Name(), flags...)
		if r.Action != actKept || !strings.Contains(r.Reason, "alive") || !exists(seg.Name()) {
			t.Fatalf("gc %v: %+v, exists %v", flags, r, exists(seg.Name()))
		}
	}
	// Closing it does not make its creator dead.
	seg.Close()
	if r := gcFor(t, seg.Name()); r.Action != actKept || !exists(seg.Name()) {
		t.Fatalf("gc after Close: %+v", r)
	}
}

func TestGCSkipsBadHeader(t *testing.T) {
	bad := plant(t, true)
	plain := plant(t, false)
	r := gcFor(t, bad)
	if r.Action != actSkipped || r.Error == "" || !exists(bad) || !exists(plain) {
		t.Fatalf("gc: %+v, exists %v %v", r, exists(bad), exists(plain))
	}
	out, _ := want(t, 0, "gc", mine())
	if !strings.Contains(out, bad+" ") || !strings.Contains(out, "skipped") || strings.Contains(out, plain+" ") {
		t.Fatalf("gc:\n%s", out)
	}
	if !exists(bad) || !exists(plain) {
		t.Fatal("gc removed a file that is not a valid segment")
	}
}

// TestInfoCollections: info says how many entries a map and a list hold,
// and how large their tables are.
func TestInfoCollections(t *testing.T) {
	seg, err := shm.Create(testName(t), 1<<20, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		seg.Free()
	})
	m, err := shmap.New[int64, int64](shm.In(seg, "squares"))
	if err != nil {
		t.Fatal(err)
	}
	for i := range int64(100) {
		if err := m.Set(i, i*i); err != nil {
			t.Fatal(err)
		}
	}
	l, err := shmap.NewList[int32](shm.In(seg, "list"))
	if err != nil {
		t.Fatal(err)
	}
	for i := range int32(3) {
		if err := l.Append(i); err != nil {
			t.Fatal(err)
		}
	}
	names, err := shmap.New[string, string](shm.In(seg, "names"))
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if err := names.Set(fmt.Sprint("k", i), "value"); err != nil {
			t.Fatal(err)
		}
	}
	if err := names.Set("k0", "v"); err != nil { // 5 bytes of garbage
		t.Fatal(err)
	}
	out, _ := want(t, 0, "info", seg.Name())
	for _, s := range []string{
		"squares: map of 100 entries in 8 parts; tables of ",
		"list: list of 3 elements; table of 8 slots of 8 bytes (64B)",
		"names: map of 3 entries in 8 parts; tables of 64 slots of 24 bytes in all (5.5KiB), replaced 0 times; encoded: 22B of 4.0KiB data used, 5B of it garbage",
	} {
		if !strings.Contains(out, s) {
			t.Errorf("info output lacks %q:\n%s", s, out)
		}
	}
	out, _ = want(t, 0, "info", "-json", seg.Name())
	if !strings.Contains(out, `"contents": "map of 100 entries`) {
		t.Errorf("info -json lacks the map's contents:\n%s", out)
	}
}

// childGC runs gc on the pattern its argument gives, from wherever the
// test started it.
var childGC = testproc.Register("shmctl-gc", func(c *testproc.Child) error {
	var o, e bytes.Buffer
	if code := run([]string{"gc", c.Arg()}, &o, &e); code != 0 {
		return fmt.Errorf("gc exit %d:\n%s%s", code, o.String(), e.String())
	}
	return nil
})

// TestGCInPidNamespace: gc run in a container (a pid namespace of its own,
// with its /proc) sees none of the host's processes in /proc, yet must keep
// a segment that a host process uses, and still remove one that nobody
// uses.
func TestGCInPidNamespace(t *testing.T) {
	testproc.NeedPidNamespace(t, true)
	used, unused := testName(t), testName(t)
	testproc.Start(t, childCreate, testproc.Arg(used)).Succeed()
	testproc.Start(t, childCreate, testproc.Arg(unused)).Succeed()
	seg, err := shm.Open(context.Background(), used, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer seg.Close()
	t.Cleanup(func() { shm.Unlink(used); shm.Unlink(unused) })
	testproc.Start(t, childGC, testproc.Arg(mine()), testproc.PidNamespace(true)).Succeed()
	if !exists(used) {
		t.Fatal("gc in another pid namespace removed a segment this process has open")
	}
	if exists(unused) {
		t.Fatal("gc in another pid namespace kept a segment nobody uses")
	}
}

//go:build linux && (amd64 || arm64)

package array

// The Python interoperability test: Arrays made in Go, read and written by
// the real python3 through multiprocessing.shared_memory, as the package
// doc shows. Skipped when python3 is not on PATH.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/shmkit/shmkit/ctypes"
	"github.com/shmkit/shmkit/shm"
)

// pyArrays is the Python side of TestPythonInterop. It reads a job from
// stdin, {"segment": NAME, "arrays": [{"code", "offset", "len", "want",
// "put"}]}, attaches to the segment as the package doc shows, checks that
// each array holds want, writes put into it, and prints "ok".
const pyArrays = `
import json, struct, sys
from multiprocessing import shared_memory, resource_tracker

job = json.load(sys.stdin)

if sys.version_info >= (3, 13):
    shm = shared_memory.SharedMemory(name=job["segment"], track=False)
else:
    shm = shared_memory.SharedMemory(name=job["segment"])
    # Python < 3.13 would unlink the segment when this process exits,
    # though it only attached to it: its resource tracker must forget it.
    resource_tracker.unregister(shm._name, "shared_memory")

for arr in job["arrays"]:
    code, off, n = arr["code"], arr["offset"], arr["len"]
    a = shm.buf[off:off + n * struct.calcsize(code)].cast(code)
    got = a.tolist()
    if got != arr["want"]:
        sys.exit("array %r at %d: got %r, want %r" % (code, off, got, arr["want"]))
    for i, x in enumerate(arr["put"]):
        a[i] = x
    a.release()  # before shm.close(), which fails while views are out
shm.close()  # not unlink(): the segment is Go's
print("ok")
`

// pyAttachOnly attaches to the segment named by its argument the naive way,
// with the resource tracker left on: the control of TestPythonInterop.
const pyAttachOnly = `
import sys
from multiprocessing import shared_memory
shm = shared_memory.SharedMemory(name=sys.argv[1])
shm.close()
print("ok")
`

// pyArray is one Array of the job, with Go's and Python's values.
type pyArray struct {
	Code   string `json:"code"`
	Offset int64  `json:"offset"`
	Len    int    `json:"len"`
	Want   []any  `json:"want"` // what Go wrote
	Put    []any  `json:"put"`  // what Python writes
}

// pyCheck is what the test does with one Array after Python ran.
type pyCheck func(t *testing.T, seg *shm.Segment)

// pyCase makes an Array of T named name in seg holding want, checks its
// code, and returns its part of the job and the check that it holds put
// afterwards, through At and Copy, in this handle and in one opened anew
// from seg.
func pyCase[T comparable](t *testing.T, seg *shm.Segment, name string, code ctypes.Code, want, put []T) (pyArray, pyCheck) {
	t.Helper()
	a, err := From(want, shm.In(seg, name))
	if err != nil {
		t.Fatal(err)
	}
	if a.Code() != code {
		t.Fatalf("%s: Code() = %v, want %v", name, a.Code(), code)
	}
	// Elements as []any: encoding/json writes a []uint8 as base64.
	job := pyArray{Code: string(rune(code)), Offset: a.DataOffset(), Len: a.Len(), Want: pyList(want), Put: pyList(put)}
	check := func(t *testing.T, seg *shm.Segment) {
		t.Helper()
		for _, h := range []*Array[T]{a, pyOpen[T](t, seg, name)} {
			for i, x := range put {
				if got := h.At(i); got != x {
					t.Errorf("%s: At(%d) = %v after Python wrote %v", name, i, got, x)
				}
			}
			got, err := h.Copy()
			if err != nil {
				t.Fatalf("%s: Copy: %v", name, err)
			}
			if !slices.Equal(got, put) {
				t.Errorf("%s: Copy() = %v after Python wrote %v", name, got, put)
			}
		}
	}
	return job, check
}

func pyList[T any](s []T) []any {
	l := make([]any, len(s))
	for i, x := range s {
		l[i] = x
	}
	return l
}

func pyOpen[T any](t *testing.T, seg *shm.Segment, name string) *Array[T] {
	t.Helper()
	a, err := Open[T](context.Background(), seg, name)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// pyExe is the path of python3, or skips the test.
func pyExe(t *testing.T) string {
	t.Helper()
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Skipf("python3 is not on PATH, no Python to test against: %v", err)
	}
	return py
}

// pyRun runs python3 -c script with args and stdin, and returns its
// stdout and stderr. It returns only once python3 and its resource tracker
// are gone: the tracker holds python3's stderr until it exits, and it is
// the tracker that would unlink the segment.
func pyRun(t *testing.T, stdin []byte, script string, args ...string) (string, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, pyExe(t), append([]string{"-c", script}, args...)...)
	cmd.Stdin = bytes.NewReader(stdin)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.WaitDelay = 10 * time.Second
	if err := cmd.Run(); err != nil {
		t.Fatalf("python3: %v\nstdout: %s\nstderr: %s", err, stdout.String(), stderr.String())
	}
	return stdout.String(), stderr.String()
}

// pySegPath is where the named segment lives.
func pySegPath(seg *shm.Segment) string { return filepath.Join(shm.Dir, seg.Name()) }

func TestPythonInterop(t *testing.T) {
	pyExe(t)
	seg := testSeg(t)
	var jobs []pyArray
	var checks []pyCheck
	add := func(j pyArray, c pyCheck) {
		jobs = append(jobs, j)
		checks = append(checks, c)
	}
	add(pyCase(t, seg, "i", ctypes.Int,
		[]int32{0, 1, -1, math.MaxInt32, math.MinInt32, 12345},
		[]int32{-7, math.MinInt32, 0, 42, math.MaxInt32, -1}))
	add(pyCase(t, seg, "d", ctypes.Double,
		[]float64{0, 1.5, -2.25, math.Pi, math.MaxFloat64, math.SmallestNonzeroFloat64, 1e-300},
		[]float64{math.E, -0.5, 6.02214076e23, -math.MaxFloat64, 0.1, 3, 2.5e-310}))
	add(pyCase(t, seg, "q", ctypes.LongLong,
		[]int64{math.MinInt64, math.MaxInt64, 1<<53 + 1, -1, 0},
		[]int64{1<<62 + 3, -(1<<53 + 1), math.MaxInt64, math.MinInt64, 9}))
	// 13 bytes: the next array starts off the byte array's end.
	add(pyCase(t, seg, "B", ctypes.UnsignedChar,
		[]uint8{0, 1, 2, 127, 128, 254, 255, 3, 4, 5, 6, 7, 8},
		[]uint8{255, 0, 128, 1, 200, 7, 9, 10, 11, 12, 13, 14, 15}))
	add(pyCase(t, seg, "i2", ctypes.Int, []int32{5, 6, 7}, []int32{-5, -6, -7}))
	offsets := map[int64]bool{}
	for _, j := range jobs {
		if j.Offset%64 != 0 || offsets[j.Offset] {
			t.Fatalf("array %q at offset %d: not 64-byte aligned, or shared", j.Code, j.Offset)
		}
		offsets[j.Offset] = true
	}
	in, err := json.Marshal(map[string]any{"segment": seg.Name(), "arrays": jobs})
	if err != nil {
		t.Fatal(err)
	}

	stdout, stderr := pyRun(t, in, pyArrays)
	if strings.TrimSpace(stdout) != "ok" {
		t.Fatalf("python3: stdout %q, stderr %q", stdout, stderr)
	}
	if stderr != "" {
		// Such as the resource tracker's warning that it unlinked
		// "leaked shared_memory objects".
		t.Errorf("python3 said on stderr: %q", stderr)
	}

	// The segment outlived Python and its resource tracker: the same file,
	// still in /dev/shm, with what Python wrote.
	before, err := seg.File().Stat()
	if err != nil {
		t.Fatal(err)
	}
	after, err := os.Stat(pySegPath(seg))
	if err != nil {
		t.Fatalf("the segment is gone once Python exited: %v (Python's stderr: %q)", err, stderr)
	}
	if !os.SameFile(before, after) {
		t.Fatalf("%s is not the segment's file any more", pySegPath(seg))
	}
	again, err := shm.Open(context.Background(), seg.Name(), nil)
	if err != nil {
		t.Fatalf("opening the segment after Python: %v", err)
	}
	defer again.Close()
	if again.ID() != seg.ID() {
		t.Fatalf("the segment opened after Python has id %#x, not %#x", again.ID(), seg.ID())
	}
	for _, c := range checks {
		c(t, again)
	}
}

// TestPythonInteropControl shows that TestPythonInterop's last check
// catches what it is there for: a Python 3 process that attaches to a
// segment without taking it out of its resource tracker unlinks it when it
// exits.
func TestPythonInteropControl(t *testing.T) {
	pyExe(t)
	seg := testSeg(t)
	if _, err := From([]int32{1, 2, 3}, shm.In(seg, "a")); err != nil {
		t.Fatal(err)
	}
	stdout, stderr := pyRun(t, nil, pyAttachOnly, seg.Name())
	if strings.TrimSpace(stdout) != "ok" {
		t.Fatalf("python3: stdout %q, stderr %q", stdout, stderr)
	}
	_, err := os.Stat(pySegPath(seg))
	if err == nil {
		t.Fatalf("%s is still there after a tracked attach (stderr %q): this Python does not unlink what it "+
			"attached to, so TestPythonInterop cannot tell whether its snippet prevents that", pySegPath(seg), stderr)
	}
	if !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	t.Logf("a tracked attach unlinked the segment, as expected; Python said %q", strings.TrimSpace(stderr))
}

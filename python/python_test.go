//go:build linux && (amd64 || arm64)

// Package python holds shmkit.py, which reads and writes shmkit's Values
// and Arrays from Python, and the tests that run it, and Go's reading of
// Python's shared memory, against the real python3 (and numpy when it is
// installed). They are skipped, with a message, when python3 is not on
// PATH.
package python

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shmkit/shmkit/array"
	"github.com/shmkit/shmkit/internal/shmtest"
	"github.com/shmkit/shmkit/internal/testproc"
	"github.com/shmkit/shmkit/semaphore"
	"github.com/shmkit/shmkit/shm"
	"github.com/shmkit/shmkit/value"
)

func TestMain(m *testing.M) { shmtest.Main(m) }

// python is python3 -B testdata/script args, with shmkit.py importable,
// or skips the test when there is no python3.
func python(t *testing.T, ctx context.Context, script string, args ...string) *exec.Cmd {
	t.Helper()
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Skipf("python3 is not on PATH, no Python to test against: %v", err)
	}
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(ctx, py, append([]string{"-B", filepath.Join("testdata", script)}, args...)...)
	cmd.Env = append(os.Environ(), "PYTHONPATH="+dir)
	// The resource tracker of multiprocessing holds stderr until it exits.
	cmd.WaitDelay = 10 * time.Second
	return cmd
}

// run runs a script to its end with stdin, and returns its stdout.
func run(t *testing.T, stdin []byte, script string, args ...string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	cmd := python(t, ctx, script, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdin, cmd.Stdout, cmd.Stderr = bytes.NewReader(stdin), &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("python3 %s: %v\nstdout: %s\nstderr: %s", script, err, stdout.Bytes(), stderr.Bytes())
	}
	if stderr.Len() > 0 {
		t.Errorf("python3 %s said on stderr: %s", script, stderr.Bytes())
	}
	return stdout.Bytes()
}

func must[T any](t *testing.T) func(T, error) T {
	return func(x T, err error) T {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return x
	}
}

type point struct{ X, Y int32 }

// The two words TestPythonReadsGo's Value "torn" holds in turn: every
// byte differs between them, so half of one and half of the other is
// neither.
const wordA, wordB = 0x0123456789abcdef, 0xfedcba9876543210

// TestPythonReadsGo: a Go program makes Arrays and Values in a segment; a
// Python program finds them by name with shmkit.py, reads them, writes
// them, and Go sees the writes.
func TestPythonReadsGo(t *testing.T) {
	seg := shmtest.Seg(t)
	in := func(name string) shm.Option { return shm.In(seg, name) }

	prices := must[*array.Array[float64]](t)(array.From([]float64{1.5, -2.25, math.Pi, 1e300}, in("prices")))
	ids := must[*array.Array[int32]](t)(array.From([]int32{7, -1, math.MaxInt32, math.MinInt32}, in("ids")))
	levels := must[*array.Array[uint8]](t)(array.NewRaw[uint8](3, in("levels")))
	count := must[*value.Value[int64]](t)(value.New[int64](41, in("count")))
	pi := must[*value.Value[float64]](t)(value.New(math.Pi, in("pi")))
	small := must[*value.Value[int16]](t)(value.NewRaw[int16](-3, in("small")))
	flag := must[*value.Value[bool]](t)(value.New(true, in("flag")))
	torn := must[*value.Value[uint64]](t)(value.NewRaw[uint64](wordA, in("torn")))
	must[*value.Value[point]](t)(value.New(point{1, 2}, in("point")))
	must[*semaphore.Mutex](t)(semaphore.NewMutex(in("mu")))

	type arr struct {
		Code string `json:"code"`
		Want any    `json:"want"`
		Put  any    `json:"put"`
	}
	type val struct {
		Code string `json:"code"`
		Size int    `json:"size"`
		Want any    `json:"want"`
		Put  any    `json:"put"`
	}
	job := map[string]any{
		"segment": seg.Name(),
		"objects": map[string][]any{
			"prices": {"array", "d", 4}, "ids": {"array", "i", 4}, "levels": {"array", "B", 3},
			"count": {"value", "q", 1}, "pi": {"value", "d", 1}, "small": {"value", "h", 1},
			"flag": {"value", "?", 1}, "torn": {"value", "Q", 1},
			"point": {"value", nil, nil}, "mu": {"mutex", nil, nil},
		},
		"arrays": map[string]arr{
			"prices": {"d", []float64{1.5, -2.25, math.Pi, 1e300}, []float64{-0.5, 2, math.E, -1e-300}},
			"ids":    {"i", []int32{7, -1, math.MaxInt32, math.MinInt32}, []int32{1, 2, -3, 4}},
			"levels": {"B", []int{0, 0, 0}, []int{255, 1, 128}},
		},
		"values": map[string]val{
			"count": {"q", 8, 41, int64(math.MinInt64 + 5)},
			"pi":    {"d", 8, math.Pi, math.E},
			"small": {"h", 2, -3, 12345},
			"flag":  {"?", 1, true, false},
		},
		"struct": "point",
		"numpy":  []any{"ids", arr{Code: "i", Put: []int32{1, 2, -3, 4}}},
		"torn":   []any{"torn", []uint64{wordA, wordB}},
		"loads":  200000,
	}
	in2, err := json.Marshal(job)
	if err != nil {
		t.Fatal(err)
	}

	// Go stores the two words in turn while Python loads. The storing
	// goroutine is stopped and waited for before the segment is closed,
	// also when run fails the test: deferred calls run before the
	// cleanups, and the segment's Close is one of these.
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			torn.Store([2]uint64{wordA, wordB}[i&1])
		}
	})
	stopStores := sync.OnceFunc(func() {
		close(stop)
		wg.Wait()
	})
	defer stopStores()
	out := run(t, in2, "go_to_python.py")
	stopStores()

	var report struct {
		Numpy any `json:"numpy"`
		Seen  int `json:"seen"`
	}
	if err := json.Unmarshal(out, &report); err != nil {
		t.Fatalf("python3 printed %q: %v", out, err)
	}
	t.Logf("Python loaded %d different words of the two Go stored in turn", report.Seen)

	check := func(what string, got, want any) {
		t.Helper()
		if g, w := jsonOf(t, got), jsonOf(t, want); g != w {
			t.Errorf("%s after Python wrote: %s, want %s", what, g, w)
		}
	}
	check("prices", must[[]float64](t)(prices.Copy()), []float64{-0.5, 2, math.E, -1e-300})
	t.Run("numpy", func(t *testing.T) {
		if report.Numpy != true {
			t.Skipf("skipped: %v", report.Numpy)
		}
		check("ids", must[[]int32](t)(ids.Copy()), []int32{2, 4, -6, 8}) // doubled through numpy
	})
	if report.Numpy != true {
		check("ids", must[[]int32](t)(ids.Copy()), []int32{1, 2, -3, 4})
	}
	check("levels", must[[]uint8](t)(levels.Copy()), []uint8{255, 1, 128})
	check("count", count.Load(), int64(math.MinInt64+5))
	check("pi", pi.Load(), math.E)
	check("small", small.Load(), 12345)
	check("flag", flag.Load(), false)
	count.Add(1) // the word Python stored is an ordinary one for Go's atomics
	check("count after Add", count.Load(), int64(math.MinInt64+6))

	// Python attached without the resource tracker: the segment is there.
	again, err := shm.Open(context.Background(), seg.Name(), nil)
	if err != nil {
		t.Fatalf("opening the segment after Python: %v", err)
	}
	again.Close()
}

func jsonOf(t *testing.T, x any) string {
	t.Helper()
	b, err := json.Marshal(x)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestPythonRefusesCorruptBytes: shmkit.py reads a copy of a segment with
// each of its bytes in use changed in turn, and either reads it or raises
// one of its documented errors (ValueError and its own), never another
// exception; a newer format version is refused.
func TestPythonRefusesCorruptBytes(t *testing.T) {
	seg := shmtest.Seg(t)
	must[*array.Array[float64]](t)(array.From([]float64{1, 2, 3}, shm.In(seg, "prices")))
	must[*value.Value[int64]](t)(value.New[int64](7, shm.In(seg, "count")))
	must[*value.Value[point]](t)(value.New(point{1, 2}, shm.In(seg, "point")))
	out := run(t, nil, "corrupt.py", seg.Name())
	t.Logf("changed bytes read or refused: %s", bytes.TrimSpace(out))
}

// TestGoReadsPython: a Python program makes shared memory with
// multiprocessing.shared_memory (and a numpy array over one, when numpy
// is installed); Go attaches to it by name, reads it as a []T, and writes
// it, and Python sees the writes.
func TestGoReadsPython(t *testing.T) {
	name, npName := testproc.ShmName(t), testproc.ShmName(t)
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	cmd := python(t, ctx, "python_to_go.py", name, npName)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdoutPipe, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Wait()
	defer stdin.Close()
	stdout := bufio.NewReader(stdoutPipe)
	line, err := stdout.ReadBytes('\n')
	if err != nil {
		cmd.Wait()
		t.Fatalf("python3: %v; stderr: %s", err, stderr.Bytes())
	}
	var report struct {
		Numpy any `json:"numpy"`
	}
	if err := json.Unmarshal(line, &report); err != nil {
		t.Fatalf("python3 printed %q: %v", line, err)
	}

	m, err := shm.OpenForeign(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	xs, err := array.View[float64](m.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	if want := []float64{0.5, -1.25, 3, 1e300, 0}; !slices.Equal(xs, want) || !math.Signbit(xs[4]) {
		t.Errorf("Go reads %v from Python's SharedMemory, want %v", xs, want)
	}
	if _, err := array.View[[3]float64](m.Bytes()); !errors.Is(err, array.ErrInvalid) {
		t.Errorf("View of 40 bytes as [3]float64: %v, want ErrInvalid", err)
	}
	xs[1] = 42
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}

	t.Run("numpy", func(t *testing.T) {
		if report.Numpy != true {
			t.Skipf("skipped: %v", report.Numpy)
		}
		np, err := shm.OpenForeign(ctx, npName)
		if err != nil {
			t.Fatal(err)
		}
		defer np.Close()
		is, err := array.View[int32](np.Bytes())
		if err != nil {
			t.Fatal(err)
		}
		if want := []int32{0, -3, -6, -9, -12, -15, -18}; !slices.Equal(is, want) {
			t.Errorf("Go reads %v from Python's numpy array, want %v", is, want)
		}
		is[6] = 7
	})

	if _, err := stdin.Write([]byte("done\n")); err != nil {
		t.Fatal(err)
	}
	stdin.Close()
	rest, _ := io.ReadAll(stdout)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("python3: %v\nstdout: %s\nstderr: %s", err, rest, stderr.Bytes())
	}
	if strings.TrimSpace(string(rest)) != "ok" {
		t.Fatalf("python3: stdout %q, stderr %q", rest, stderr.Bytes())
	}
	if _, err := os.Stat(shm.Dir + "/" + name); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Python's shared memory after it unlinked it: %v", err)
	}
}

// TestPythonWaitsForGo: a Python program started before the Go program
// that makes the segment waits for it, and for its creator to finish
// placing its objects (SegmentOptions.Init).
func TestPythonWaitsForGo(t *testing.T) {
	name := testproc.ShmName(t)
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	cmd := python(t, ctx, "wait.py", name)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	stdout := bufio.NewReader(out)
	if line, err := stdout.ReadString('\n'); line != "waiting\n" {
		cmd.Wait()
		t.Fatalf("python3 printed %q (%v), stderr %q", line, err, stderr.Bytes())
	}
	// Python is about to wait: the segment appears, and while Init runs
	// it is there but not ready, and holds no object yet.
	seg, err := shm.Create(name, 1<<20, &shm.SegmentOptions{Init: func(seg *shm.Segment) error {
		time.Sleep(200 * time.Millisecond)
		_, err := value.New[int32](7, shm.In(seg, "n"))
		return err
	}})
	if err != nil {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatal(err)
	}
	defer seg.Close()
	rest, _ := io.ReadAll(stdout)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("python3: %v\nstdout: %s\nstderr: %s", err, rest, stderr.Bytes())
	}
	if got := strings.TrimSpace(string(rest)); got != "7" {
		t.Fatalf("Python read %q (stderr %q), want 7", got, stderr.Bytes())
	}
}

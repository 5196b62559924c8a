package bench

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"
)

// python runs a figure, skipping the test when there is no python3.
func python(t *testing.T, ctx context.Context, figure string, n int) (float64, error) {
	t.Helper()
	v, err := Python(ctx, figure, n)
	if errors.Is(err, ErrNoPython) {
		t.Skip(err)
	}
	return v, err
}

func TestPythonFigures(t *testing.T) {
	for _, figure := range []string{LockedValue, EventPingPong, PipeRTT, Queue} {
		t.Run(figure, func(t *testing.T) {
			v, err := python(t, context.Background(), figure, 200)
			if err != nil {
				t.Fatal(err)
			}
			// Only the sign is checked: a figure, not a speed.
			if !(v > 0) {
				t.Fatalf("%s = %v, want a positive number", figure, v)
			}
			t.Logf("%s = %v", figure, v)
		})
	}
}

// TestPythonProcessFigures runs the process, pool and Manager figures, each with
// an n small enough to take well under a second or two (a spawned
// interpreter takes about 0.1 s).
func TestPythonProcessFigures(t *testing.T) {
	for _, tc := range []struct {
		figure string
		n      int
	}{
		{StartJoinFork, 5},
		{StartJoinSpawn, 2},
		{PoolApply, 200},
		{PoolMap, 10_000},
		{PoolMapChunk1, 1_000},
		{ManagerDict, 500},
	} {
		t.Run(tc.figure, func(t *testing.T) {
			v, err := python(t, context.Background(), tc.figure, tc.n)
			if err != nil {
				t.Fatal(err)
			}
			if !(v > 0) {
				t.Fatalf("%s = %v, want a positive number", tc.figure, v)
			}
			t.Logf("%s = %v", tc.figure, v)
		})
	}
}

func TestPythonBadInput(t *testing.T) {
	if _, err := python(t, context.Background(), "no_such_figure", 1); err == nil {
		t.Error("unknown figure: no error")
	}
	if _, err := Python(context.Background(), LockedValue, 0); err == nil {
		t.Error("n = 0: no error")
	}
}

func TestPythonNoPython(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	_, err := Python(context.Background(), LockedValue, 1)
	if !errors.Is(err, ErrNoPython) {
		t.Fatalf("err = %v, want one wrapping ErrNoPython", err)
	}
}

func TestPythonCanceled(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	// Far more rounds than fit in the timeout.
	_, err := python(t, ctx, EventPingPong, 1<<30)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want context.DeadlineExceeded", err)
	}
}

func TestPythonRemovesScript(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("TMPDIR", dir)
	if _, err := python(t, context.Background(), PipeRTT, 1); err != nil {
		t.Fatal(err)
	}
	left, err := filepath.Glob(filepath.Join(dir, "*"))
	if err != nil {
		t.Fatal(err)
	}
	if len(left) > 0 {
		t.Fatalf("left behind: %q", left)
	}
}

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		out  string
		want float64
		ok   bool
	}{
		{"locked_value 612345.500 ops/s\n", 612345.5, true},
		{"noise\nlocked_value 1.5e+06 ops/s\n", 1.5e6, true},
		{"locked_value 1.5e+06 ops/s", 1.5e6, true}, // no final newline
		{"event_pingpong 12.000 us\n", 0, false},    // another figure
		{"locked_value x ops/s\n", 0, false},
		{"", 0, false},
	} {
		got, err := parse(tc.out, LockedValue)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("parse(%q) = %v, %v; want %v, ok %v", tc.out, got, err, tc.want, tc.ok)
		}
	}
}

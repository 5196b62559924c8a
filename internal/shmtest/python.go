package shmtest

import (
	"errors"
	"testing"

	"github.com/shmkit/shmkit/bench"
)

// Python runs a figure of the Python peer n times, or atLeast times when n
// is smaller (the figure is Python's own clock: the interpreter's start,
// which makes testing's first b.N tiny, must not leave it to a few
// rounds), skipping the benchmark when there is no python3.
func Python(b *testing.B, figure string, n, atLeast int) float64 {
	b.Helper()
	v, err := bench.Python(b.Context(), figure, max(n, atLeast))
	if errors.Is(err, bench.ErrNoPython) {
		b.Skipf("no Python peer: %v", err)
	}
	if err != nil {
		b.Fatal(err)
	}
	return v
}

//go:build linux && (amd64 || arm64)

package shmtest

import (
	"errors"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/shmkit/shmkit/ctypes"
	"github.com/shmkit/shmkit/internal/testproc"
)

// KillRand is the random source of a kill test: seeded from the clock, or
// from the environment variable env when it holds a number, with the seed
// logged so that a failing run can be repeated.
func KillRand(t testing.TB, env string, stream uint64) *rand.Rand {
	seed := uint64(time.Now().UnixNano())
	if s, err := strconv.ParseUint(os.Getenv(env), 10, 64); err == nil {
		seed = s
	}
	t.Logf("random seed %d (set %s to repeat)", seed, env)
	return rand.New(rand.NewPCG(seed, stream))
}

// UpdateUntilKilled is for a child: it passes point "loop" and then calls
// update without end, to be killed anywhere; it returns update's error, or
// an error once d has passed without a kill.
func UpdateUntilKilled(c *testproc.Child, d time.Duration, update func() error) error {
	c.Point("loop")
	deadline := time.Now().Add(d)
	for i := 0; ; i++ {
		if err := update(); err != nil {
			return err
		}
		if i%1024 == 0 && time.Now().After(deadline) {
			return errors.New("not killed")
		}
	}
}

// NotPlain checks that err says a type is not plain data, naming field.
func NotPlain(t testing.TB, what string, err error, field string) {
	t.Helper()
	var np *ctypes.NotPlainError
	switch {
	case err == nil:
		t.Errorf("%s: no error", what)
	case !errors.Is(err, ctypes.ErrNotPlain) || !errors.As(err, &np):
		t.Errorf("%s: %v, want a ctypes.NotPlainError", what, err)
	case !strings.Contains(np.Path, field) || !strings.Contains(err.Error(), field):
		t.Errorf("%s: %v (path %q) does not name %s", what, err, np.Path, field)
	}
}

// Err is the error of a call returning a value and an error.
func Err[T any](_ T, err error) error { return err }

// Ahead keeps the children of a kill test's next rounds started ahead of
// their turn, so that their start-ups overlap the rounds before.
type Ahead[R any] struct {
	n      int
	start  func() (R, *testproc.Proc)
	rounds []R
	procs  []*testproc.Proc
}

// NewAhead keeps n rounds started, each by start.
func NewAhead[R any](n int, start func() (R, *testproc.Proc)) *Ahead[R] {
	return &Ahead[R]{n: n, start: start}
}

// Next starts rounds until n are started and returns the oldest, and its
// child.
func (a *Ahead[R]) Next() (R, *testproc.Proc) {
	for len(a.rounds) < a.n {
		r, p := a.start()
		a.rounds, a.procs = append(a.rounds, r), append(a.procs, p)
	}
	r, p := a.rounds[0], a.procs[0]
	a.rounds, a.procs = a.rounds[1:], a.procs[1:]
	return r, p
}

// Stop kills and reaps the children started ahead and never used.
func (a *Ahead[R]) Stop() {
	for _, p := range a.procs {
		p.Kill()
		p.Wait()
	}
}

// KillRound kills p, the child of round i: when point is not "", at that
// point; else a random time up to 3 ms after it passed point "loop". It
// fails the test unless p died of the kill.
func KillRound(t testing.TB, i int, p *testproc.Proc, point string, rng *rand.Rand) {
	t.Helper()
	if point != "" {
		p.WaitPoint(point)
	} else {
		p.WaitPoint("loop")
		p.Continue()
		time.Sleep(time.Duration(rng.IntN(3000)) * time.Microsecond)
	}
	p.Kill()
	if res := p.Wait(); !res.Killed() {
		t.Fatalf("round %d: child was to be killed, ended with exit code %d:\n%s", i, res.ExitCode, res.Output)
	}
}

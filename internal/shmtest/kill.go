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

// UpdateUntilKilled, in a child, passes point "loop" and then calls update
// without end, to be killed anywhere; it returns update's error, or an
// error once d has passed without a kill.
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

//go:build linux && (amd64 || arm64)

package shmtest

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

// Missing is the context of an open expected to fail with
// shm.ErrNotExist: a typed open waits for a name not made yet until its
// context ends, here after 30 ms.
func Missing(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
	t.Cleanup(cancel)
	return ctx
}

// Errors returns a check of provoked errors for a package whose errors
// start with prefix (its name and a colon: "value: "): check(what, err,
// want) fails the test unless err starts with prefix and matches want with
// errors.Is.
func Errors(t testing.TB, prefix string) (check func(what string, err, want error)) {
	return func(what string, err, want error) {
		t.Helper()
		switch {
		case err == nil || !strings.HasPrefix(err.Error(), prefix):
			t.Errorf("%s: %v, want an error starting with %q", what, err, prefix)
		case !errors.Is(err, want):
			t.Errorf("%s: %v, want %v", what, err, want)
		}
	}
}

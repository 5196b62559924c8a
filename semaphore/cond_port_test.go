//go:build linux && (amd64 || arm64)

package semaphore

import (
	"testing"
)

// condLocked calls f (a notification) with cv's mutex held.
func condLocked(t testing.TB, cv *Cond, f func() error) error {
	t.Helper()
	if err := cv.Mutex().Lock(); err != nil {
		t.Fatal(err)
	}
	defer cv.Mutex().Unlock()
	return f()
}

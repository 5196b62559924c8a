//go:build !linux

package testproc

import "testing"

// PidNamespace is Linux's; elsewhere it changes nothing.
func PidNamespace(ownProc bool) Option { return func(*config) {} }

// ShmDir is Linux's; elsewhere it changes nothing.
func ShmDir(dir string) Option { return func(*config) {} }

// NeedPidNamespace skips the test: pid namespaces are Linux's.
func NeedPidNamespace(t testing.TB, ownProc bool) {
	t.Helper()
	t.Skip("pid namespaces are Linux's")
}

func mountOwnProc() error { return nil }

// InPidNamespaces skips the test: pid namespaces are Linux's.
func InPidNamespaces(t *testing.T, f func(t *testing.T, ownProc bool)) {
	t.Helper()
	t.Skip("pid namespaces are Linux's")
}

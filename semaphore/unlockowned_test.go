//go:build linux && (amd64 || arm64)

package semaphore

import (
	"errors"
	"sync/atomic"
	"testing"

	"github.com/shmkit/shmkit/shm"
)

// TestUnlockOwned: UnlockOwned unlocks a Mutex this process holds, and
// reports ErrNotOwner, leaving the word alone, for one it does not hold
// (free, or a word overwritten with another process's), where Unlock
// would panic.
func TestUnlockOwned(t *testing.T) {
	seg, err := shm.Anonymous(1 << 16)
	if err != nil {
		t.Fatal(err)
	}
	defer seg.Close()
	m := mustMutex(t, shm.In(seg, ""))
	if m.HeldHere() {
		t.Fatal("a new Mutex is held here")
	}
	if err := m.UnlockOwned(); !errors.Is(err, ErrNotOwner) {
		t.Fatalf("UnlockOwned of a free Mutex: %v", err)
	}
	if err := m.Lock(); err != nil {
		t.Fatal(err)
	}
	if !m.HeldHere() {
		t.Fatal("a locked Mutex is not held here")
	}
	if err := m.UnlockOwned(); err != nil {
		t.Fatalf("UnlockOwned of a held Mutex: %v", err)
	}
	if atomic.LoadUint64(m.l.state) != 0 || m.HeldHere() {
		t.Fatal("UnlockOwned left the Mutex locked")
	}
	if err := m.Lock(); err != nil {
		t.Fatal(err)
	}
	stranger := uint64(0x7ffffff0)<<32 | 99
	atomic.StoreUint64(m.l.state, stranger)
	err = m.UnlockOwned()
	t.Logf("UnlockOwned of an overwritten word: %v", err)
	if !errors.Is(err, ErrNotOwner) || atomic.LoadUint64(m.l.state) != stranger || m.HeldHere() {
		t.Fatalf("UnlockOwned of a word naming another process: %v, word %#x", err, atomic.LoadUint64(m.l.state))
	}
	// The stranger does not exist: the next Lock takes the lock from it.
	if err := m.Lock(); !errors.Is(err, ErrOwnerDead) {
		t.Fatalf("Lock after: %v", err)
	}
	m.Unlock()
}

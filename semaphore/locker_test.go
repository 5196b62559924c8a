//go:build linux && (amd64 || arm64)

package semaphore

import (
	"errors"
	"testing"

	"github.com/shmkit/shmkit/internal/shmtest"
	"github.com/shmkit/shmkit/shm"
)

// TestLockedAndLockerAcrossDeath: for a Mutex and an RLock, Locked follows
// a holder in another process, alive and then SIGKILLed (a dead holder's
// lock is still locked); the Locker view takes the lock from the dead
// holder and records the death in LastOwnerDead, which the next clean Lock
// clears; Locker's Lock on a closed handle panics with ErrClosed.
func TestLockedAndLockerAcrossDeath(t *testing.T) {
	for _, kind := range []string{"mutex", "rlock"} {
		t.Run(kind, func(t *testing.T) {
			seg := testSeg(t)
			var l killLock
			var locked func() bool
			var view func() *Locker
			var closeIt func() error
			if kind == "mutex" {
				mu := mustMutex(t, shm.In(seg, "lock"))
				l, locked, view, closeIt = killMutex(mu, "lock"), mu.Locked, mu.Locker, mu.Close
			} else {
				r := mustRLock(t, shm.In(seg, "lock"))
				l, locked, view, closeIt = killRLock(r, "lock"), r.Locked, r.Locker, r.Close
			}
			k := view()
			if locked() {
				t.Fatal("a new lock is Locked")
			}
			k.Lock()
			if !locked() || k.LastOwnerDead() != nil {
				t.Fatalf("after Locker.Lock: Locked %v, LastOwnerDead %v", locked(), k.LastOwnerDead())
			}
			k.Unlock()
			if locked() {
				t.Fatal("Locked after Locker.Unlock")
			}

			depth := map[string]string{"mutex": "1", "rlock": "2"}[kind]
			p := shmtest.Start(t, mpChildTimeout, killChildLock, seg.Name(), kind, "lock", depth, "0")
			p.WaitPoint("ready")
			p.Continue()
			p.WaitPoint("locked")
			if !locked() || l.owner() != p.Pid() {
				t.Fatalf("held by the child: Locked %v, owner %d, child %d", locked(), l.owner(), p.Pid())
			}
			p.Kill()
			killMustDie(t, p)
			if !locked() {
				t.Fatal("a lock whose holder died is not Locked before it is taken over")
			}
			k.Lock()
			if kind == "rlock" {
				k.Lock() // a re-entry keeps the death recorded
			}
			var od *OwnerDeadError
			if err := k.LastOwnerDead(); !errors.As(err, &od) || od.Pid != p.Pid() || !errors.Is(err, ErrOwnerDead) {
				t.Fatalf("LastOwnerDead after taking the lock from pid %d: %v", p.Pid(), err)
			}
			if l.owner() == 0 || !locked() {
				t.Fatal("Locker.Lock returned without the lock")
			}
			if kind == "rlock" {
				k.Unlock()
			}
			k.Unlock()
			if locked() {
				t.Fatal("Locked after the dead holder's lock was taken and unlocked")
			}
			k.Lock()
			if err := k.LastOwnerDead(); err != nil {
				t.Fatalf("LastOwnerDead after a clean Lock: %v", err)
			}
			k.Unlock()

			if err := closeIt(); err != nil {
				t.Fatal(err)
			}
			var got any
			func() {
				defer func() { got = recover() }()
				k.Lock()
			}()
			if err, ok := got.(error); !ok || !errors.Is(err, ErrClosed) {
				t.Fatalf("Locker.Lock on a closed handle: panicked with %v, want an error matching ErrClosed", got)
			}
			if locked() {
				t.Fatal("a panicking Locker.Lock left the lock held")
			}
		})
	}
}

// TestLockedTracksHolder: Locked through a second handle follows Lock,
// TryLock, re-entry and Unlock through the first, and Free.
func TestLockedTracksHolder(t *testing.T) {
	seg := testSeg(t)
	r := mustRLock(t, shm.In(seg, "r"))
	r2, err := OpenRLock(mpContext(t), seg, "r")
	r2 = must(t, r2, err)
	defer r2.Close()
	for d := 1; d <= 3; d++ {
		if err := r.TryLock(); err != nil {
			t.Fatal(err)
		}
		if !r2.Locked() {
			t.Fatalf("depth %d: not Locked", d)
		}
	}
	for d := 3; d >= 1; d-- {
		if !r2.Locked() {
			t.Fatalf("depth %d: not Locked", d)
		}
		r.Unlock()
	}
	if r2.Locked() {
		t.Fatal("Locked after the last Unlock")
	}
	mu := mustMutex(t, shm.In(seg, "m"))
	if err := mu.Lock(); err != nil {
		t.Fatal(err)
	}
	if err := mu.Free(); err != nil {
		t.Fatal(err)
	}
	if mu.Locked() {
		t.Fatal("a freed Mutex is Locked")
	}
}

//go:build linux && (amd64 || arm64)

package semaphore

import (
	"context"
	"errors"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/shmkit/shmkit/internal/shmtest"
	"github.com/shmkit/shmkit/internal/testproc"
	"github.com/shmkit/shmkit/shm"
)

// pidnsHolder, run as process 1 of a pid namespace of its own, takes the
// Mutex and the RLock its argument names ("seg") and stops at "locked",
// holding both, to be killed there.
var pidnsHolder = segChild("sem-pidns-holder", func(c *testproc.Child, seg *shm.Segment, _ []string) error {
	if os.Getpid() != 1 {
		return errors.New("not process 1 of a pid namespace: pid " + strconv.Itoa(os.Getpid()))
	}
	mu, err := OpenMutex(context.Background(), seg, "mu")
	if err != nil {
		return err
	}
	rl, err := OpenRLock(context.Background(), seg, "rl")
	if err != nil {
		return err
	}
	if err := mu.Lock(); err != nil {
		return err
	}
	if err := rl.Lock(); err != nil {
		return err
	}
	c.Point("locked")
	time.Sleep(time.Hour)
	return nil
})

// TestPidNamespaceHolder: a holder in another pid namespace (a container
// sharing /dev/shm, not pids) is waited for while it lives, whether it sees
// its own /proc or the host's, and its death hands the locks over with
// ErrOwnerDead. Liveness read from /proc gets both wrong: through its own
// /proc the holder's pid names nothing here, so a live holder passes for
// dead; through the host's it records pid 1 with the start time of the
// host's init, which never dies.
func TestPidNamespaceHolder(t *testing.T) {
	testproc.InPidNamespaces(t, func(t *testing.T, own bool) {
		seg := shmtest.Seg(t)
		mu := mustMutex(t, shm.In(seg, "mu"))
		rl := mustRLock(t, shm.In(seg, "rl"))
		p := testproc.Start(t, pidnsHolder, testproc.Arg(seg.Name()), testproc.PidNamespace(own))
		p.WaitPoint("locked")
		if o := mu.Owner(); o != 1 {
			t.Fatalf("Owner() = %d, want 1, the holder's pid in its namespace", o)
		}
		// Alive: others wait, across many of the waiters' rechecks.
		for range 4 {
			ctx, cancel := context.WithTimeout(context.Background(), 3*recheck)
			err := mu.LockContext(ctx)
			cancel()
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("Mutex held by a live process in another pid namespace: LockContext = %v, want DeadlineExceeded", err)
			}
			if err := rl.TryLock(); !errors.Is(err, ErrWouldBlock) {
				t.Fatalf("RLock held by a live process in another pid namespace: TryLock = %v", err)
			}
		}
		p.Kill()
		p.Wait()
		// Dead: the next locker gets the lock and is told. The timeout
		// only bounds a hang.
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := mu.LockContext(ctx); !errors.Is(err, ErrOwnerDead) {
			t.Fatalf("Mutex whose holder in another pid namespace was killed: LockContext = %v, want ErrOwnerDead", err)
		}
		mu.Unlock()
		if err := rl.LockContext(ctx); !errors.Is(err, ErrOwnerDead) {
			t.Fatalf("RLock whose holder in another pid namespace was killed: LockContext = %v, want ErrOwnerDead", err)
		}
		rl.Unlock()
	})
}

// pidnsParty, run in a pid namespace of its own, waits at the Barrier "bar"
// of the segment its argument names, to be killed there.
var pidnsParty = segChild("sem-pidns-party", func(c *testproc.Child, seg *shm.Segment, _ []string) error {
	x, err := OpenBarrier(context.Background(), seg, "bar")
	if err != nil {
		return err
	}
	x.Wait(context.Background())
	time.Sleep(time.Hour) // the barrier broke under it: wait for the kill all the same
	return nil
})

// TestPidNamespaceParty: a barrier party waiting in another pid namespace
// keeps the round whole while it lives, whether it sees its own /proc or
// the host's, and its death breaks the round for the others.
func TestPidNamespaceParty(t *testing.T) {
	testproc.InPidNamespaces(t, func(t *testing.T, own bool) {
		seg, x := barrier3(t)
		p := testproc.Start(t, pidnsParty, testproc.Arg(seg.Name()), testproc.PidNamespace(own))
		for x.Waiting() != 1 {
			time.Sleep(time.Millisecond)
		}
		got := make(chan error, 1)
		go func() { _, err := x.Wait(context.Background()); got <- err }()
		for x.Waiting() != 2 {
			time.Sleep(time.Millisecond)
		}
		// Alive: the round stays whole across many of the waiters' rechecks.
		time.Sleep(6 * recheck)
		if x.Broken() {
			t.Fatal("a live party in another pid namespace was taken for dead: the barrier broke")
		}
		p.Kill()
		p.Wait()
		// Dead: the round breaks. The timeout only bounds a hang.
		select {
		case err := <-got:
			if !errors.Is(err, ErrBrokenBarrier) {
				t.Fatalf("Wait beside a killed party: %v, want ErrBrokenBarrier", err)
			}
		case <-time.After(30 * time.Second):
			t.Fatal("the death of a party in another pid namespace was never noticed")
		}
	})
}

// leaverHolder locks the Mutex "mu" of the segment its argument names,
// then closes that segment while still attached to a second one ("seg
// other"), and stops at "left" to be killed later.
var leaverHolder = testproc.Register("sem-leaver-holder", func(c *testproc.Child) error {
	seg, f, err := shmtest.OpenArgs(c)
	if err != nil {
		return err
	}
	other, err := shm.Open(context.Background(), f[0], nil)
	if err != nil {
		return err
	}
	defer other.Close()
	mu, err := OpenMutex(context.Background(), seg, "mu")
	if err != nil {
		return err
	}
	if err := mu.Lock(); err != nil {
		return err
	}
	seg.Close()
	c.Point("left")
	time.Sleep(time.Hour)
	return nil
})

// TestHolderLeftSegment: a process that closed the segment of a lock it
// held is gone from that segment, though it runs on and shares another
// segment with the next locker: the lock passes on with ErrOwnerDead
// rather than staying held for the rest of its life.
func TestHolderLeftSegment(t *testing.T) {
	seg, other := shmtest.Seg(t), shmtest.Seg(t)
	mu := mustMutex(t, shm.In(seg, "mu"))
	p := testproc.Start(t, leaverHolder, testproc.Arg(seg.Name()+" "+other.Name()))
	p.WaitPoint("left")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := mu.LockContext(ctx); !errors.Is(err, ErrOwnerDead) {
		t.Fatalf("Mutex whose live holder closed its segment: LockContext = %v, want ErrOwnerDead", err)
	}
	mu.Unlock()
}

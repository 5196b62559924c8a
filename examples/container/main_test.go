//go:build linux && (amd64 || arm64)

package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/shmkit/shmkit/internal/testproc"
	"github.com/shmkit/shmkit/semaphore"
)

func TestMain(m *testing.M) { testproc.Main(m) }

// orders is how many orders each test passes from producer to consumer:
// several times the queue's length, so that both sides wait on each other.
const orders = 2000

// childRun runs the program with its argument as the command line.
var childRun = testproc.Register("container-run", func(c *testproc.Child) error {
	var out bytes.Buffer
	err := run(strings.Fields(c.Arg()), &out)
	fmt.Print(out.String())
	return err
})

// TestProgramsSeparately: the consumer, started first, waits for the
// producer's segment, takes every order and checks it, and removes the
// segment; two producer runs feed one consumer run.
func TestProgramsSeparately(t *testing.T) {
	seg := testproc.ShmName(t)
	cons := testproc.Start(t, childRun, testproc.Arg(fmt.Sprintf("consume -seg %s -n %d", seg, 2*orders)))
	for range 2 {
		testproc.Start(t, childRun, testproc.Arg(fmt.Sprintf("produce -seg %s -n %d", seg, orders))).Succeed()
	}
	want := fmt.Sprintf("took %d orders from %s, total %d", 2*orders, seg, 2*sum(orders))
	if out := cons.Succeed().Output; !strings.Contains(out, want) {
		t.Fatalf("consumer said %q, want %q", out, want)
	}
	if _, err := os.Stat("/dev/shm/" + seg); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("segment after the consumer's run: %v, want it removed", err)
	}
}

// sum is what the amounts of orders 0 to n-1 add up to.
func sum(n int) int64 {
	var s int64
	for seq := range int64(n) {
		s += amount(seq)
	}
	return s
}

// inContainer fails a child that is not process 1 of a pid namespace of
// its own.
func inContainer() error {
	if pid := os.Getpid(); pid != 1 {
		return fmt.Errorf("not process 1 of a pid namespace: pid %d", pid)
	}
	return nil
}

// childHolder, in a container, creates the segment its argument names,
// puts orders in it and stops at "produced". Let go, it takes the Mutex
// and stops at "holding", to be killed there.
var childHolder = testproc.Register("container-holder", func(c *testproc.Child) error {
	if err := inContainer(); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	b, err := openBooks(ctx, c.Arg(), 1<<20)
	if err != nil {
		return err
	}
	if err := b.produce(ctx, orders); err != nil {
		return err
	}
	c.Point("produced")
	if err := b.mu.Lock(); err != nil {
		return err
	}
	c.Point("holding")
	time.Sleep(time.Hour)
	return nil
})

// childTaker, in another container, opens the segment its argument names
// (waiting for it), takes and checks the orders and the total under the
// Mutex (consume), and stops at "consumed".
// Let go, it checks that the Mutex is held by a live process (a
// TryLock and a LockContext that gives up), and stops at "checked". Let go
// again (the holder killed by then), it must get the Mutex with
// ErrOwnerDead, from process 1 of the other namespace.
var childTaker = testproc.Register("container-taker", func(c *testproc.Child) error {
	if err := inContainer(); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	b, err := openBooks(ctx, c.Arg(), 0)
	if err != nil {
		return err
	}
	defer b.Close(true)
	if _, err := b.consume(ctx, orders); err != nil {
		return err
	}
	c.Point("consumed")
	// The holder is process 1 of its namespace, as this one is of its
	// own: only the owner word's nonce tells the two apart.
	if err := b.mu.TryLock(); !errors.Is(err, semaphore.ErrWouldBlock) {
		return fmt.Errorf("TryLock of a Mutex a live process of another pid namespace holds: %v, want ErrWouldBlock", err)
	}
	for range 4 {
		lctx, lcancel := context.WithTimeout(ctx, 100*time.Millisecond)
		err := b.mu.LockContext(lctx)
		lcancel()
		if !errors.Is(err, context.DeadlineExceeded) {
			return fmt.Errorf("LockContext of a Mutex a live process of another pid namespace holds: %v, want DeadlineExceeded", err)
		}
	}
	c.Point("checked")
	// The timeout only bounds a hang.
	dctx, dcancel := context.WithTimeout(ctx, 30*time.Second)
	defer dcancel()
	err = b.mu.LockContext(dctx)
	var dead *semaphore.OwnerDeadError
	if !errors.As(err, &dead) {
		return fmt.Errorf("LockContext of a Mutex whose holder in another pid namespace was killed: %v, want ErrOwnerDead", err)
	}
	b.mu.Unlock()
	fmt.Printf("took the Mutex from dead pid %d\n", dead.Pid)
	return nil
})

// TestContainers: two programs in containers of their own (each process
// 1 of its own pid namespace, in a mount namespace of its own with its own
// /proc) that share one /dev/shm directory, not the host's, as docker
// --ipc=container:NAME or two containers of a Kubernetes pod with an
// emptyDir at /dev/shm do. The taker, started first, waits for the
// holder's segment; the orders pass through the Queue, checked against the
// total the Mutex guards. While the holder lives and holds the Mutex, the
// taker waits for it; once the holder is killed, the taker gets it, told
// ErrOwnerDead.
func TestContainers(t *testing.T) {
	testproc.NeedPidNamespace(t, true)
	dir := filepath.Join("/dev/shm", testproc.ShmName(t))
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	seg := filepath.Base(dir) + "-orders"
	taker := testproc.Start(t, childTaker, testproc.Arg(seg), testproc.ShmDir(dir))
	holder := testproc.Start(t, childHolder, testproc.Arg(seg), testproc.ShmDir(dir))
	taker.WaitPoint("consumed")
	holder.WaitPoint("holding")
	if _, err := os.Stat(filepath.Join(dir, seg)); err != nil {
		t.Fatalf("the segment is not in the shared directory: %v", err)
	}
	if _, err := os.Stat(filepath.Join("/dev/shm", seg)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the segment is in the host's /dev/shm: %v", err)
	}
	taker.WaitPoint("checked")
	holder.Kill()
	holder.Wait()
	out := taker.Succeed().Output
	if want := "took the Mutex from dead pid 1\n"; !strings.Contains(out, want) {
		t.Fatalf("taker said %q, want %q", out, want)
	}
	if _, err := os.Stat(filepath.Join(dir, seg)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("segment after the taker freed it: %v", err)
	}
}

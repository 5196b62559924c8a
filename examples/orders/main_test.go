//go:build linux && (amd64 || arm64)

package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/shmkit/shmkit/internal/shmtest"
	"github.com/shmkit/shmkit/internal/testproc"
	"github.com/shmkit/shmkit/ringbuffer"
	"github.com/shmkit/shmkit/shm"
)

func TestMain(m *testing.M) { shmtest.Main(m) }

// The two programs, each run as a process of its own: "name n" for the
// shop, the segment's name for the worker.
var (
	childShop = testproc.Register("orders-shop", func(c *testproc.Child) error {
		var name string
		var n int
		if _, err := fmt.Sscan(c.Arg(), &name, &n); err != nil {
			return err
		}
		return shop(context.Background(), name, n, os.Stdout)
	})
	childWorker = testproc.Register("orders-worker", func(c *testproc.Child) error {
		return worker(context.Background(), c.Arg(), time.Minute, os.Stdout)
	})
	// childHalfMade starts creating the segment and waits, inside Init,
	// for the test to kill it.
	childHalfMade = testproc.Register("orders-half-made", func(c *testproc.Child) error {
		_, err := shm.Create(c.Arg(), 1<<20, &shm.SegmentOptions{Init: func(*shm.Segment) error {
			c.Point("init")
			return nil
		}})
		return err
	})
)

func startShop(t *testing.T, name string, n int) *testproc.Proc {
	return testproc.Start(t, childShop, testproc.Arg(fmt.Sprintf("%s %d", name, n)))
}

func startWorker(t *testing.T, name string) *testproc.Proc {
	return testproc.Start(t, childWorker, testproc.Arg(name))
}

var orderLine = regexp.MustCompile(`(?m)^worker: order (\d+), `)

// taken is the ids of the orders the workers' outputs name, sorted.
func taken(t *testing.T, outs ...string) []int {
	t.Helper()
	var ids []int
	for _, out := range outs {
		for _, m := range orderLine.FindAllStringSubmatch(out, -1) {
			id, _ := strconv.Atoi(m[1])
			ids = append(ids, id)
		}
		if !strings.Contains(out, "worker: the shop closed") {
			t.Errorf("a worker did not see the shop close:\n%s", out)
		}
	}
	slices.Sort(ids)
	return ids
}

// ids is 1..n for each n, sorted: the orders of runs of n orders each.
func ids(ns ...int) []int {
	var all []int
	for _, n := range ns {
		for i := 1; i <= n; i++ {
			all = append(all, i)
		}
	}
	slices.Sort(all)
	return all
}

func gone(t *testing.T, name string) {
	t.Helper()
	if _, err := os.Lstat(shm.Dir + "/" + name); !os.IsNotExist(err) {
		t.Errorf("the segment is still in %s after the shop ended: %v", shm.Dir, err)
	}
}

func contains(t *testing.T, who, out string, want ...string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(out, w) {
			t.Errorf("the %s did not say %q:\n%s", who, w, out)
		}
	}
}

// TestWorkerBeforeShop: a worker started first waits for the shop's
// segment; the shop creates it with its objects, and every order is served
// once; the shop removes the segment. A second run of both does the same.
func TestWorkerBeforeShop(t *testing.T) {
	name := testproc.ShmName(t)
	for run := range 2 {
		w := startWorker(t, name)
		s := startShop(t, name, 20)
		sout := s.Succeed().Output
		wout := w.Succeed().Output
		contains(t, "shop", sout, "shop: created "+name, "shop: 20 orders served in all")
		if got, want := taken(t, wout), ids(20); !slices.Equal(got, want) {
			t.Errorf("run %d: the worker took %v, want %v", run, got, want)
		}
		gone(t, name)
	}
}

// TestShopKilled: a shop killed after putting its orders leaves the
// segment, with them, in place. Workers open it; the next run of the shop
// opens it too, and serves the earlier run's orders with its own before
// it removes the segment.
func TestShopKilled(t *testing.T) {
	name := testproc.ShmName(t)
	first := startShop(t, name, 10)

	// Wait for the first run's orders, as a third process looking on.
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	seg, err := shm.Open(ctx, name, nil)
	if err != nil {
		t.Fatal(err)
	}
	q, err := ringbuffer.OpenJoinableQueue[Order](ctx, seg, "orders")
	if err != nil {
		t.Fatal(err)
	}
	for q.Len() < 10 && ctx.Err() == nil {
		time.Sleep(5 * time.Millisecond)
	}
	q.Close()
	seg.Close()
	first.Kill()
	if !first.Wait().Killed() {
		t.Fatal("the first shop was not killed")
	}

	// Both workers open the segment the first run left before the second
	// starts: one that came after the shop ended would wait for the next.
	w1, w2 := startWorker(t, name), startWorker(t, name)
	deadline := time.Now().Add(time.Minute)
	for {
		users, err := shm.Users(name)
		if err != nil {
			t.Fatal(err)
		}
		if slices.Contains(users, w1.Pid()) && slices.Contains(users, w2.Pid()) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the workers did not open the segment: its users are %v", users)
		}
		time.Sleep(5 * time.Millisecond)
	}
	sout := startShop(t, name, 5).Succeed().Output
	contains(t, "second shop", sout, "shop: opened "+name+", left by an earlier run with ", "shop: 15 orders served in all")
	if got, want := taken(t, w1.Succeed().Output, w2.Succeed().Output), ids(10, 5); !slices.Equal(got, want) {
		t.Errorf("the workers took %v, want %v", got, want)
	}
	gone(t, name)
}

// TestShopReplacesLeftovers: the shop replaces a segment it cannot go on
// with: one whose creator died before it was ready, and one whose queue an
// earlier run shut down before it died without removing it.
func TestShopReplacesLeftovers(t *testing.T) {
	leave := map[string]func(t *testing.T, name string){
		"half made": func(t *testing.T, name string) {
			p := testproc.Start(t, childHalfMade, testproc.Arg(name))
			p.WaitPoint("init")
			p.Kill()
			p.Wait()
			if _, err := shm.Open(context.Background(), name, nil); !errors.Is(err, shm.ErrCreatorDied) {
				t.Fatalf("the half-made segment: %v, want shm.ErrCreatorDied", err)
			}
		},
		"shut down": func(t *testing.T, name string) {
			seg, err := shm.Create(name, 1<<20, &shm.SegmentOptions{Init: setup})
			if err != nil {
				t.Fatal(err)
			}
			defer seg.Close()
			q, err := ringbuffer.OpenJoinableQueue[Order](context.Background(), seg, "orders")
			if err != nil {
				t.Fatal(err)
			}
			q.Shutdown()
			q.Close()
		},
	}
	for what, leave := range leave {
		t.Run(what, func(t *testing.T) {
			name := testproc.ShmName(t)
			leave(t, name)
			old, err := shm.Stat(name)
			if err != nil {
				t.Fatal(err)
			}
			s := startShop(t, name, 3)
			// A worker that came now would find the leftover (and end, or
			// fail with ErrCreatorDied): start it once the shop replaced it.
			deadline := time.Now().Add(time.Minute)
			for in, err := shm.Stat(name); err != nil || in.ID == old.ID || !in.Ready; in, err = shm.Stat(name) {
				if time.Now().After(deadline) {
					t.Fatalf("the shop did not replace the segment: %+v, %v", in, err)
				}
				time.Sleep(5 * time.Millisecond)
			}
			w := startWorker(t, name)
			contains(t, "shop", s.Succeed().Output, "shop: created "+name, "shop: 3 orders served in all")
			if got, want := taken(t, w.Succeed().Output), ids(3); !slices.Equal(got, want) {
				t.Errorf("the worker took %v, want %v", got, want)
			}
			gone(t, name)
		})
	}
}

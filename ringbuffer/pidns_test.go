//go:build linux && (amd64 || arm64)

package ringbuffer

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/shmkit/shmkit/internal/shmtest"
	"github.com/shmkit/shmkit/internal/testproc"
	"github.com/shmkit/shmkit/shm"
)

// pidnsProducer, run in a pid namespace of its own, pushes one message on
// the single-producer ring "spsc", then stops at "held", half way through
// writing a message on the multi-producer ring "mpsc", to be killed there.
var pidnsProducer = testproc.Register("ring-pidns-producer", func(c *testproc.Child) error {
	seg, _, err := shmtest.OpenArgs(c)
	if err != nil {
		return err
	}
	defer seg.Close()
	r, err := OpenRing[uint64](context.Background(), seg, "spsc")
	if err != nil {
		return err
	}
	if err := r.TryPush(1); err != nil {
		return err
	}
	m, err := OpenRing[uint64](context.Background(), seg, "mpsc")
	if err != nil {
		return err
	}
	testHook = func(point string) {
		if point == pointWriting {
			c.Point("held")
			time.Sleep(time.Hour)
		}
	}
	return m.TryPush(1)
})

// TestProducerInPidNamespace: a producer in another pid namespace keeps
// its role, and its unfinished message is waited for, while it lives,
// whether it sees its own /proc or the host's; once it is killed, the role
// passes to another process and consumers skip the hole it left.
func TestProducerInPidNamespace(t *testing.T) {
	testproc.InPidNamespaces(t, func(t *testing.T, own bool) {
		seg := shmtest.Seg(t)
		r := mustNew(t, NewSPSCRing[uint64], 16, shm.In(seg, "spsc"))
		m := mustNew(t, NewRing[uint64], 16, shm.In(seg, "mpsc"))
		p := testproc.Start(t, pidnsProducer, testproc.Arg(seg.Name()), testproc.PidNamespace(own))
		p.WaitPoint("held")
		for range 3 {
			if err := r.TryPush(2); !errors.Is(err, ErrBusy) {
				t.Fatalf("push while a live producer in another pid namespace holds the role: %v, want ErrBusy", err)
			}
			time.Sleep(20 * time.Millisecond)
		}
		if err := m.TryPush(7); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		v, err := m.Pop(ctx)
		cancel()
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Pop behind a live producer's unfinished message: %v, %v; want DeadlineExceeded", v, err)
		}
		p.Kill()
		p.Wait()
		killUnbusy(t, "taking the producer role over", func() error { return r.TryPush(3) })
		ctx, cancel = context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if v, err := m.Pop(ctx); err != nil || v != 7 {
			t.Fatalf("Pop past a killed producer's hole = %v, %v; want 7", v, err)
		}
		for _, want := range []uint64{1, 3} {
			if v, err := r.Pop(ctx); err != nil || v != want {
				t.Fatalf("Pop = %v, %v; want %d", v, err, want)
			}
		}
	})
}

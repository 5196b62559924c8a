//go:build linux && (amd64 || arm64)

package semaphore

import (
	"context"
	"encoding/binary"
	"errors"
	"os"
	"testing"
	"time"

	"github.com/shmkit/shmkit/shm"
)

// FuzzAttach writes arbitrary bytes over each kind's shared state, as a
// buggy or hostile process could, reads its metrics, then attaches and
// uses the object with a short deadline. Nothing may panic or hang; what
// succeeds must be consistent (a lock taken is held by this process and
// can be unlocked).
func FuzzAttach(f *testing.F) {
	le := binary.LittleEndian
	seed := func(kind byte, words ...uint64) {
		b := []byte{kind}
		for _, w := range words {
			b = le.AppendUint64(b, w)
		}
		f.Add(b)
	}
	pid := uint64(os.Getpid())
	seed(0)
	seed(0, 1<<32|2)                                             // a mutex held by pid 1
	seed(0, pid<<32|contended)                                   // "held" by this pid with another nonce
	seed(0, 0x7fffffff<<32|6)                                    // a pid that cannot exist
	seed(1, 5<<32|1, 1<<31)                                      // rlock: huge depth
	seed(2, 0xffffffff)                                          // semaphore: sleepers and the largest count
	seed(2, 0, 0xffffffff)                                       // semaphore: impossible bound
	seed(3, 0xfffffffe)                                          // event: sleepers, not set
	seed(4, 0xffffffff, 3, 1<<40, 7)                             // cond: waiters overflow, bad mutex offset
	seed(5, 2, 3)                                                // barrier: two of three waiting
	seed(5, 0xffff, 3)                                           // barrier: more waiting than parties
	seed(5, 0, 1<<20)                                            // barrier: parties beyond its slots
	seed(5, 1|1<<16, 3, 0, 0, 0, 0, 0, 0)                        // barrier: broken
	seed(6, 0, 0, 0, 64<<32, ^uint64(0))                         // rwmutex: every slot claimed, none owned
	seed(6, 1<<32|2, 1<<32|2, 0, 64<<32, 1, 0, 0, 0, 3<<32|4, 5) // rwmutex: dead writer and reader
	seed(6, 0, 0, 0, 7<<32)                                      // rwmutex: a wrong count of slots

	seg := testSeg(f)
	mu, err := NewMutex(shm.In(seg, "mutex"))
	if err != nil {
		f.Fatal(err)
	}
	objs := []*object{&mu.object}
	rl, _ := NewRLock(shm.In(seg, "rlock"))
	sem, _ := NewBounded(4, shm.In(seg, "semaphore"))
	ev, _ := NewEvent(shm.In(seg, "event"))
	cmu, _ := NewMutex(shm.In(seg, "condmutex"))
	cond, _ := NewCond(cmu, shm.In(seg, "cond"))
	bar, _ := NewBarrier(3, shm.In(seg, "barrier"))
	rw, _ := NewRWMutex(shm.In(seg, "rwmutex"))
	objs = append(objs, &rl.object, &sem.object, &ev.object, &cond.object, &bar.object, &rw.object)

	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) == 0 {
			return
		}
		k := int(data[0]) % len(objs)
		b := objs[k].o.Bytes()
		clear(b)
		copy(b, data[1:])
		// The metrics reader (tools read it without a typed handle) gives
		// the counters or ErrCorrupt, and never panics.
		if m, err := shm.Metrics(objs[k].o); err != nil && !errors.Is(err, ErrCorrupt) {
			t.Fatalf("metrics of a %v: %v", objs[k].o.Kind(), err)
		} else if err == nil && len(m) == 0 {
			t.Fatalf("no metrics of a %v", objs[k].o.Kind())
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Millisecond)
		defer cancel()
		name := objs[k].o.Name()
		switch k {
		case 0:
			m, err := OpenMutex(context.Background(), seg, name)
			if err != nil {
				t.Fatal(err)
			}
			useLock(t, ctx, m.LockContext, m.TryLock, m.Unlock, m.Owner)
		case 1:
			r, err := OpenRLock(context.Background(), seg, name)
			if err != nil {
				t.Fatal(err)
			}
			r.Depth()
			useLock(t, ctx, r.LockContext, r.TryLock, r.Unlock, r.Owner)
		case 2:
			s, err := Open(context.Background(), seg, name)
			if err != nil {
				if !errors.Is(err, ErrCorrupt) {
					t.Fatal(err)
				}
				return
			}
			v := s.Value()
			if s.TryAcquire(1) == nil {
				if s.Value() != v-1 {
					t.Fatalf("value %d after taking 1 of %d", s.Value(), v)
				}
				s.Release(1)
			}
			s.Acquire(ctx, 2)
			s.Release(1)
		case 3:
			e, err := OpenEvent(context.Background(), seg, name)
			if err != nil {
				t.Fatal(err)
			}
			e.IsSet()
			e.Wait(ctx)
			e.Set()
			if !e.IsSet() {
				t.Fatal("not set after Set")
			}
			if err := e.Wait(ctx); err != nil {
				t.Fatal(err)
			}
			e.Clear()
		case 4:
			c, err := OpenCond(context.Background(), seg, name)
			if err != nil {
				return // the mutex reference is corrupt: attaching says so
			}
			c.Waiting()
			if c.Signal() == nil {
				t.Fatal("Signal without the mutex")
			}
			if taken(c.Mutex().TryLock()) {
				c.Signal()
				c.Wait(ctx)
				c.Notify(2)
				c.Broadcast()
				c.Waiting()
				c.Mutex().Unlock()
			}
		case 5:
			x, err := OpenBarrier(context.Background(), seg, name)
			if err != nil {
				if !errors.Is(err, ErrCorrupt) {
					t.Fatal(err)
				}
				return
			}
			x.Waiting()
			x.Wait(ctx)
			x.Reset()
			x.Abort()
		case 6:
			rw, err := OpenRWMutex(context.Background(), seg, name)
			if err != nil {
				if !errors.Is(err, ErrCorrupt) {
					t.Fatal(err)
				}
				return
			}
			rw.Readers()
			ok := taken(rw.TryRLock())
			if !ok {
				ok = taken(rw.RLockContext(ctx))
			}
			if ok {
				rw.RUnlock()
			}
			useLock(t, ctx, rw.LockContext, rw.TryLock, rw.Unlock, rw.Owner)
		}
	})
}

func useLock(t *testing.T, ctx context.Context, lock func(context.Context) error, try func() error,
	unlock func(), owner func() int) {
	ok := taken(try())
	if !ok {
		err := lock(ctx)
		ok = err == nil || errors.Is(err, ErrOwnerDead)
	}
	if ok {
		if owner() != os.Getpid() {
			t.Fatalf("locked, but owner is %d", owner())
		}
		unlock()
	}
}

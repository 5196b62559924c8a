//go:build linux && (amd64 || arm64)

package semaphore

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"
	"unicode"

	"github.com/shmkit/shmkit/internal/testproc"
	"github.com/shmkit/shmkit/shm"
)

// statsChild runs, in a child, the step its argument's second field names
// on the object its third field names in the segment of the first:
//
//	lock     Lock the Mutex (after the point "locking"), then Unlock it
//	hold     Lock the Mutex and stop at the point "locked" (to be killed)
//	acquire  Acquire 1 unit of the Semaphore, after the point "acquiring"
//	wait     Wait for the Event, after the point "waiting"
//	rounds   Wait at the Barrier as many times as the fourth field says
var statsChild = segChild("sem-stats", func(c *testproc.Child, seg *shm.Segment, f []string) error {
	if len(f) < 2 {
		return fmt.Errorf("argument %q: want step and name", c.Arg())
	}
	ctx, cancel := mpChildContext(0)
	defer cancel()
	switch f[0] {
	case "lock", "hold":
		m, err := OpenMutex(ctx, seg, f[1])
		if err != nil {
			return err
		}
		if f[0] == "hold" {
			if err := m.Lock(); err != nil {
				return err
			}
			c.Point("locked")
			return errors.New("not killed while holding the lock")
		}
		c.Point("locking")
		if err := m.LockContext(ctx); err != nil {
			return err
		}
		m.Unlock()
	case "acquire":
		s, err := Open(ctx, seg, f[1])
		if err != nil {
			return err
		}
		c.Point("acquiring")
		return s.Acquire(ctx, 1)
	case "wait":
		e, err := OpenEvent(ctx, seg, f[1])
		if err != nil {
			return err
		}
		c.Point("waiting")
		return e.Wait(ctx)
	case "rounds":
		x, err := OpenBarrier(ctx, seg, f[1])
		if err != nil {
			return err
		}
		n, err := childInts(f, 2)
		if err != nil {
			return err
		}
		for range n[0] {
			if _, err := x.Wait(ctx); err != nil {
				return err
			}
		}
	default:
		return fmt.Errorf("no step %q", f[0])
	}
	return nil
})

// startStats starts statsChild on step for the object called name in seg.
func startStats(t *testing.T, seg *shm.Segment, step, name string, more ...string) *testproc.Proc {
	t.Helper()
	arg := strings.Join(append([]string{seg.Name(), step, name}, more...), " ")
	return testproc.Start(t, statsChild, testproc.Arg(arg), testproc.Timeout(mpChildTimeout))
}

// checkMetrics fails t unless shm.Metrics reads from o the figures that
// stats (a Stats result) holds, in its fields' order, under their names in
// lower_snake_case, none a gauge.
func checkMetrics(t *testing.T, o *shm.Object, stats any) {
	t.Helper()
	m, err := shm.Metrics(o)
	if err != nil {
		t.Fatalf("metrics of %v: %v", o.Kind(), err)
	}
	v := reflect.ValueOf(stats)
	if len(m) != v.NumField() {
		t.Fatalf("%v: %d metrics, %d fields in %T", o.Kind(), len(m), v.NumField(), stats)
	}
	for i := range m {
		name := snake(v.Type().Field(i).Name)
		if m[i].Name != name || m[i].Value != v.Field(i).Uint() || m[i].Gauge || m[i].Help == "" {
			t.Errorf("%v metric %d: %+v, want %s = %d (a count, with help)", o.Kind(), i, m[i], name, v.Field(i).Uint())
		}
	}
}

// snake is a Go field name in lower_snake_case: OwnerDeaths, owner_deaths.
func snake(s string) string {
	var b strings.Builder
	for i, r := range s {
		if unicode.IsUpper(r) {
			if i > 0 {
				b.WriteByte('_')
			}
			r = unicode.ToLower(r)
		}
		b.WriteRune(r)
	}
	return b.String()
}

// made returns a constructor's result, failing t on its error.
func made[T any](t testing.TB) func(T, error) T {
	return func(v T, err error) T {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
}

// within polls cond until it holds (true) or mpTimeout passes (false), for
// a goroutine that cannot fail the test.
func within(cond func() bool) bool {
	for end := time.Now().Add(mpTimeout); !cond(); time.Sleep(200 * time.Microsecond) {
		if time.Now().After(end) {
			return false
		}
	}
	return true
}

// TestMutexStatsContended: a child's Lock finds the Mutex held by this
// process and sleeps; this process's Unlock wakes it. The counters show
// the wait, the sleep and the wake-up, and shm.Metrics reads the same.
func TestMutexStatsContended(t *testing.T) {
	seg := testSeg(t)
	m := made[*Mutex](t)(NewMutex(shm.In(seg, "mu")))
	if err := m.Lock(); err != nil {
		t.Fatal(err)
	}
	p := startStats(t, seg, "lock", "mu")
	p.WaitPoint("locking")
	p.Continue()
	mpEventually(t, "the child sleeps on the lock", func() bool { return m.Stats().Sleeps >= 1 })
	m.Unlock()
	p.Succeed()
	st := m.Stats()
	if st.Waits < 1 || st.Sleeps < 1 || st.Wakes < 1 || st.OwnerDeaths != 0 {
		t.Errorf("stats after a contended lock: %+v, want a wait, a sleep, a wake and no death", st)
	}
	checkMetrics(t, m.o, st)
}

// TestMutexStatsOwnerDead: the holder of a Mutex is SIGKILLed inside the
// lock; the next Lock returns ErrOwnerDead, and the counters show one
// owner death.
func TestMutexStatsOwnerDead(t *testing.T) {
	seg := testSeg(t)
	m := made[*Mutex](t)(NewMutex(shm.In(seg, "mu")))
	p := startStats(t, seg, "hold", "mu")
	p.WaitPoint("locked")
	p.Kill()
	killMustDie(t, p)
	if err := m.LockContext(mpContext(t)); !errors.Is(err, ErrOwnerDead) {
		t.Fatalf("Lock after the holder died: %v, want ErrOwnerDead", err)
	}
	m.Unlock()
	if st := m.Stats(); st.OwnerDeaths != 1 {
		t.Errorf("stats after a holder's death: %+v, want one owner death", st)
	}
	checkMetrics(t, m.o, m.Stats())
}

// TestStatsFastPathFree: uncontended locks and unlocks, a Set with no
// waiter and acquires with units to spare count nothing but what they
// name: the fast paths add to no counter.
func TestStatsFastPathFree(t *testing.T) {
	seg := testSeg(t)
	m := made[*Mutex](t)(NewMutex(shm.In(seg, "mu")))
	r := made[*RLock](t)(NewRLock(shm.In(seg, "rl")))
	rw := made[*RWMutex](t)(NewRWMutex(shm.In(seg, "rw")))
	s := made[*Semaphore](t)(New(1, shm.In(seg, "sem")))
	for range 1000 {
		m.Lock()
		m.Unlock()
		if m.TryLock() == nil {
			m.Unlock()
		}
		r.Lock()
		r.Lock()
		r.Unlock()
		r.Unlock()
		rw.RLock()
		rw.RUnlock()
		rw.Lock()
		rw.Unlock()
		s.Acquire(context.Background(), 1)
		s.Release(1)
	}
	if st := m.Stats(); st != (LockStats{}) {
		t.Errorf("Mutex stats after uncontended use: %+v", st)
	}
	if st := r.Stats(); st != (LockStats{}) {
		t.Errorf("RLock stats after uncontended use: %+v", st)
	}
	if st := rw.Stats(); st != (RWMutexStats{}) {
		t.Errorf("RWMutex stats after uncontended use: %+v", st)
	}
	if st := s.Stats(); st != (SemaphoreStats{}) {
		t.Errorf("Semaphore stats after uncontended use: %+v", st)
	}
}

// TestSemaphoreStats: a child's Acquire queues on an empty Semaphore and
// sleeps; this process's Release wakes it.
func TestSemaphoreStats(t *testing.T) {
	seg := testSeg(t)
	s := made[*Semaphore](t)(New(0, shm.In(seg, "sem")))
	p := startStats(t, seg, "acquire", "sem")
	p.WaitPoint("acquiring")
	p.Continue()
	mpEventually(t, "the child sleeps in the queue", func() bool { return s.Stats().Sleeps >= 1 })
	if err := s.Release(1); err != nil {
		t.Fatal(err)
	}
	p.Succeed()
	st := s.Stats()
	if st.Waits != 1 || st.Sleeps < 1 || st.Wakes < 1 || st.Skipped != 0 {
		t.Errorf("stats after a queued Acquire: %+v, want one wait, a sleep and a wake, none skipped", st)
	}
	checkMetrics(t, s.o, st)
}

// TestEventStats: a child waits for an Event and sleeps; a Set wakes it.
// Only Sets that raise the flag count.
func TestEventStats(t *testing.T) {
	seg := testSeg(t)
	e := made[*Event](t)(NewEvent(shm.In(seg, "ev")))
	p := startStats(t, seg, "wait", "ev")
	p.WaitPoint("waiting")
	p.Continue()
	mpEventually(t, "the child sleeps on the event", func() bool { return e.Stats().Sleeps >= 1 })
	e.Set()
	p.Succeed()
	e.Set() // already set: not counted
	e.Clear()
	e.Set()
	st := e.Stats()
	if st.Sets != 2 || st.Sleeps < 1 || st.Wakes != 1 {
		t.Errorf("stats: %+v, want 2 sets, a sleep, 1 wake", st)
	}
	checkMetrics(t, e.o, st)
}

// TestBarrierStats: this process and a child go through a Barrier of two
// for 5 rounds; an Abort breaks the sixth.
func TestBarrierStats(t *testing.T) {
	seg := testSeg(t)
	x := made[*Barrier](t)(NewBarrier(2, shm.In(seg, "bar")))
	p := startStats(t, seg, "rounds", "bar", "5")
	ctx := mpContext(t)
	for range 5 {
		if _, err := x.Wait(ctx); err != nil {
			t.Fatal(err)
		}
	}
	p.Succeed()
	x.Abort()
	x.Abort() // broken already: not another break
	st := x.Stats()
	if st.Rounds != 5 || st.Breaks != 1 || st.PartyDeaths != 0 {
		t.Errorf("stats: %+v, want 5 rounds, 1 break, no death", st)
	}
	checkMetrics(t, x.o, st)
}

// TestCondRWMutexStats: the counters of a Cond and an RWMutex, in one
// process, and shm.Metrics of every kind here against Stats.
func TestCondRWMutexStats(t *testing.T) {
	seg := testSeg(t)
	m := made[*Mutex](t)(NewMutex(shm.In(seg, "mu")))
	c := made[*Cond](t)(NewCond(m, shm.In(seg, "cond")))
	m.Lock()
	done := make(chan error, 1)
	go func() {
		m.Lock()
		defer m.Unlock()
		if !within(func() bool { return c.Stats().Sleeps >= 1 }) {
			done <- errors.New("the waiter did not sleep")
			return
		}
		done <- c.Signal()
	}()
	if err := c.Wait(mpContext(t)); err != nil {
		t.Fatal(err)
	}
	m.Unlock()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	st := c.Stats()
	if st.Waits != 1 || st.Sleeps < 1 || st.Wakes != 1 || st.Notified != 1 || st.Skipped != 0 {
		t.Errorf("cond stats: %+v, want a wait, a sleep, a wake, one notified", st)
	}
	checkMetrics(t, c.o, st)

	rw := made[*RWMutex](t)(NewRWMutex(shm.In(seg, "rw")))
	rw.Lock()
	go func() {
		within(func() bool { return rw.Stats().Sleeps >= 1 }) // if not, the counts below fail
		rw.Unlock()
	}()
	if err := rw.RLockContext(mpContext(t)); err != nil {
		t.Fatal(err)
	}
	rw.RUnlock()
	rs := rw.Stats()
	if rs.ReadWaits != 1 || rs.Sleeps < 1 || rs.Wakes < 1 {
		t.Errorf("rwmutex stats: %+v, want a read wait, a sleep, a wake", rs)
	}
	checkMetrics(t, rw.o, rs)
	rl := made[*RLock](t)(NewRLock(shm.In(seg, "rl")))
	checkMetrics(t, rl.o, rl.Stats())
}

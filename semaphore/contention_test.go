//go:build linux && (amd64 || arm64)

package semaphore

// A holder that lets a lock go and takes it back at once, while another
// process wants it too: as with sync.Mutex, the lock should mostly stay
// with the running holder at the cost of a compare-and-swap per Lock and
// Unlock, not a FUTEX_WAKE every few holds.

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shmkit/shmkit/internal/mem"
	"github.com/shmkit/shmkit/internal/shmtest"
	"github.com/shmkit/shmkit/internal/testproc"
	"github.com/shmkit/shmkit/shm"
)

// hammer takes and lets go m n times, adding 1 under it to the plain
// counter of the words block w. It returns how many of its unlocks found
// the word marked contended (each a FUTEX_WAKE system call), and how many
// times it took the lock from the other locker (who names it in w's
// marker), for the log.
func hammer(m *Mutex, w []byte, who uint32, n int) (marked, took int, err error) {
	cnt, last := mem.Uint64(w, mpWCounter), mem.Uint32(w, mpWMarker)
	for range n {
		if err := m.Lock(); err != nil {
			return marked, took, err
		}
		*cnt++
		if *last != who {
			*last = who
			took++
		}
		if atomic.LoadUint64(m.l.state)&contended != 0 {
			marked++
		}
		m.Unlock()
	}
	return marked, took, nil
}

// childHammer is hammer in a child, on the Mutex "mu" and the words
// block. Argument: SEGMENT N. It prints "RESULT MARKED TOOK".
var childHammer = segChild("sem-hammer", func(c *testproc.Child, seg *shm.Segment, f []string) error {
	n, err := shmtest.Int(f, 0)
	if err != nil {
		return err
	}
	m, err := OpenMutex(context.Background(), seg, "mu")
	if err != nil {
		return err
	}
	defer m.Close()
	w, err := mpFindWords(seg)
	if err != nil {
		return err
	}
	c.Point("ready")
	marked, took, err := hammer(m, w, 2, n)
	fmt.Printf("RESULT %d %d\n", marked, took)
	return err
})

// TestMutexHammeredUnlocksPlain has two processes take and let go one
// Mutex as fast as they can. Each unlock that finds the word marked
// contended makes a FUTEX_WAKE system call, costing the running holder
// more than many holds. A waiter used to sleep on the lock word itself,
// which the running holder changes with every hold: its FUTEX_WAIT
// returned at once, it marked the word again, and took the lock while the
// holder was in its FUTEX_WAKE; the lock changed hands every few
// microseconds, with a marked unlock every 25 or so. A waiter now sleeps
// on the wake sequence, and one woken to find the lock taken again sleeps
// unmarked for 50 us or more: the lock stays with the running holder,
// with a marked unlock about once a millisecond here. The bound, one per
// 50 us, is per elapsed time, so that a slow machine can only miss the
// bug (a busy one often does: the bug needs both processes running at
// once).
func TestMutexHammeredUnlocksPlain(t *testing.T) {
	const n = 2_000_000 // holds per process
	seg := testSeg(t)
	m := mustMutex(t, shm.In(seg, "mu"))
	w := mpWords(t, seg)
	p := shmtest.Start(t, mpChildTimeout, childHammer, seg.Name(), strconv.Itoa(n))
	p.WaitPoint("ready")
	t0 := time.Now()
	p.Continue()
	mine, took, err := hammer(m, w, 1, n)
	if err != nil {
		t.Fatal(err)
	}
	res := strings.Fields(mpResult(t, p))
	el := time.Since(t0)
	var theirs, ttook int
	if _, err := fmt.Sscan(strings.Join(res, " "), &theirs, &ttook); err != nil {
		t.Fatalf("child's result %q: %v", res, err)
	}
	if got := *mem.Uint64(w, mpWCounter); got != 2*n {
		t.Fatalf("counter = %d after %d holds", got, 2*n)
	}
	marked, handoffs := mine+theirs, took+ttook
	t.Logf("%d holds in %v: %d unlocks found the word marked, the lock changed hands %d times", 2*n, el, marked, handoffs)
	if limit := int(el / (50 * time.Microsecond)); marked > limit {
		t.Errorf("%d unlocks found the word marked contended (each a FUTEX_WAKE) in %v, want at most one per 50 us (%d)", marked, el, limit)
	}
}

package ringbuffer

import (
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/shmkit/shmkit/internal/owner"
	"github.com/shmkit/shmkit/shm"
)

// A process holds the producer or consumer role of a single-producer ring,
// or an end of a pipe, once for all its handles: one word of shared memory
// records the process (its owner word), and the handles of the process
// that hold it are counted here, so that the last of them to close clears
// the word for the other processes.

// holdKey names a word that this process may hold: the object, by its
// handle's segment, offset and generation (a freed and reused block is
// another object), and the word's place in it.
type holdKey struct {
	seg, off, gen uint64
	at            uintptr
}

func holdKeyOf(o *shm.Object, at uintptr) holdKey {
	h := o.Handle()
	return holdKey{seg: h.Segment, off: h.Offset, gen: h.Generation, at: at}
}

// holding is one word this process holds, and how many of its handles do.
type holding struct {
	n    int
	word *uint64
}

var holds struct {
	sync.Mutex
	m map[holdKey]*holding
}

// hold counts one more handle of this process holding k. The first calls
// take, which records this process (me) in shared memory and returns the
// word it wrote; hold reports whether it did.
func hold(k holdKey, take func(me uint64) (*uint64, error)) (fresh bool, err error) {
	me, err := owner.Me()
	if err != nil {
		return false, fmt.Errorf("ringbuffer: %w", err)
	}
	holds.Lock()
	defer holds.Unlock()
	if h := holds.m[k]; h != nil {
		h.n++
		return false, nil
	}
	w, err := take(me)
	if err != nil {
		return false, err
	}
	if holds.m == nil {
		holds.m = map[holdKey]*holding{}
	}
	holds.m[k] = &holding{n: 1, word: w}
	return true, nil
}

// unhold counts one handle fewer holding k; the last one clears the word.
// It reports whether it did.
func unhold(k holdKey) bool {
	me, err := owner.Me()
	if err != nil {
		return false
	}
	holds.Lock()
	defer holds.Unlock()
	h := holds.m[k]
	if h == nil {
		return false // the object was freed
	}
	if h.n--; h.n > 0 {
		return false
	}
	delete(holds.m, k)
	return atomic.CompareAndSwapUint64(h.word, me, 0)
}

// forgetHolds drops what this process holds in o, which it frees: the
// memory goes back to the segment, and a later Close of another of its
// handles must not write there.
func forgetHolds(o *shm.Object) {
	h := o.Handle()
	holds.Lock()
	defer holds.Unlock()
	for k := range holds.m {
		if k.seg == h.Segment && k.off == h.Offset && k.gen == h.Generation {
			delete(holds.m, k)
		}
	}
}

//go:build race

package semaphore

import (
	"sync"
	"sync/atomic"
)

// The race detector does not see atomic operations on memory outside the
// Go heap, so it would take data guarded by these locks for racy. Under
// -race every release also touches an ordinary Go word keyed by the shared
// word's address, and every acquire reads it: the detector sees the
// happens-before edge between the goroutines of this process that the
// shared word really provides.
var raceWords sync.Map // *uint32 -> *atomic.Uint32

func raceWord(addr *uint32) *atomic.Uint32 {
	w, _ := raceWords.LoadOrStore(addr, new(atomic.Uint32))
	return w.(*atomic.Uint32)
}

func raceRelease(addr *uint32) { raceWord(addr).Add(1) }
func raceAcquire(addr *uint32) { raceWord(addr).Load() }

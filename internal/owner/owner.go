// Package owner names processes in shared memory: an owner word says which
// process holds a lock or a claim, in a form that survives pid reuse, and
// Alive says whether that process still runs.
//
// An owner word is the process id in the high 32 bits and, in the low 32,
// the low 31 bits of the process's start time (clock ticks since boot)
// shifted left by one. Bit 0 is always clear in the words Me returns, so
// that a user can keep a flag there (package semaphore keeps its
// "contended" bit); Alive ignores it. 0 names no process.
package owner

import (
	"sync"
	"time"

	"github.com/shmkit/shmkit/internal/sys"
)

// StartBits is how many bits of the start time an owner word keeps.
const StartBits = 31

var self struct {
	once sync.Once
	word uint64
	err  error
}

// Me is this process's owner word.
func Me() (uint64, error) {
	self.once.Do(func() {
		p, err := sys.Self()
		if err != nil {
			self.err = err
			return
		}
		self.word = Word(p.Pid, p.Start)
	})
	return self.word, self.err
}

// Word is the owner word of the process pid started at start.
func Word(pid int32, start uint64) uint64 {
	return uint64(uint32(pid))<<32 | (start&(1<<StartBits-1))<<1
}

// Pid is the process id an owner word names.
func Pid(w uint64) int { return int(int32(w >> 32)) }

// liveness caches what /proc said about owners, so that many waiters on
// one dead or live owner read it once per TTL.
var liveness struct {
	sync.Mutex
	seen map[uint64]seen
}

type seen struct {
	at    time.Time
	alive bool
}

// TTL is how long Alive trusts what it found out about a live process.
const TTL = 10 * time.Millisecond

// Alive reports whether the process an owner word names is running: this
// process is; 0 names none. A dead process stays dead, so a negative answer
// is cached for good; a positive one for TTL.
func Alive(w uint64) bool {
	w &^= 1
	if w == 0 {
		return false
	}
	if m, _ := Me(); w == m {
		return true
	}
	liveness.Lock()
	s, ok := liveness.seen[w]
	liveness.Unlock()
	if ok && (!s.alive || time.Since(s.at) < TTL) {
		return s.alive
	}
	a := sys.AliveStart(int32(w>>32), (w&0xffffffff)>>1, StartBits)
	liveness.Lock()
	if liveness.seen == nil || len(liveness.seen) > 4096 {
		liveness.seen = map[uint64]seen{}
	}
	liveness.seen[w] = seen{time.Now(), a}
	liveness.Unlock()
	return a
}

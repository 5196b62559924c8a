package semaphore

import (
	"fmt"
	"sync/atomic"

	"github.com/shmkit/shmkit/internal/mem"
	"github.com/shmkit/shmkit/shm"
)

// Every object keeps counters in its shared memory, beside its state
// (doc.go draws where): a run of 64-bit words, each added to atomically,
// only on slow paths (a waiter that sleeps, a wake-up system call, a
// holder's death), never by an uncontended Lock or Unlock. Each type's
// Stats reads them typed, and shm.Metrics reads the same figures, in the
// same order, from an object's bytes alone (tools such as shmctl).

// tally is an object's counters, in its shared memory.
type tally []uint64

// add counts one event of counter i.
func (t tally) add(i int) { atomic.AddUint64(&t[i], 1) }

// addN counts n events of counter i.
func (t tally) addN(i int, n uint64) { atomic.AddUint64(&t[i], n) }

// read is a snapshot of every counter, in order.
func (t tally) read() []uint64 {
	v := make([]uint64, len(t))
	for i := range t {
		v[i] = atomic.LoadUint64(&t[i])
	}
	return v
}

// stat names one counter: its metric name and its help line.
type stat struct{ name, help string }

// counters says where a kind keeps its counters and what each counts, in
// the order of its Stats type's fields.
type counters struct {
	k     kindInfo
	off   uintptr
	stats []stat
	// check, if not nil, refuses a payload whose other words do not hold
	// together (what attaching refuses), with ErrCorrupt.
	check func(b []byte) error
}

// of is the tally in the payload b.
func (c *counters) of(b []byte) tally { return mem.Slice[uint64](b, c.off, len(c.stats)) }

// metrics reads the counters of o, an object of c's kind, after checking
// that its block is of this layout and holds them.
func (c *counters) metrics(o *shm.Object) ([]shm.Metric, error) {
	b := o.Bytes()
	switch {
	case o.Kind() != c.k.kind:
		return nil, fmt.Errorf("semaphore: metrics of a %v as a %v: %w", o.Kind(), c.k.kind, ErrInvalid)
	case o.Fingerprint() != c.k.fp:
		return nil, fmt.Errorf("semaphore: metrics of %v %q: %w", c.k.kind, o.Name(), shm.ErrLayout)
	case uint64(len(b)) < c.k.size || uintptr(len(b)) < c.off+uintptr(8*len(c.stats)):
		return nil, fmt.Errorf("semaphore: metrics of %v %q: %d bytes: %w", c.k.kind, o.Name(), len(b), ErrCorrupt)
	}
	if c.check != nil {
		if err := c.check(b); err != nil {
			return nil, fmt.Errorf("semaphore: metrics of %v %q: %w", c.k.kind, o.Name(), err)
		}
	}
	v := c.of(b).read()
	m := make([]shm.Metric, len(v))
	for i, s := range c.stats {
		m[i] = shm.Metric{Name: s.name, Help: s.help, Value: v[i]}
	}
	return m, nil
}

func init() {
	for _, c := range []*counters{&mutexCounters, &rlockCounters, &rwmutexCounters, &semCounters,
		&eventCounters, &condCounters, &barrierCounters} {
		shm.RegisterMetrics(c.k.kind, c.metrics)
	}
}

// Indices of a lock's counters (Mutex, RLock, and an RWMutex's writer
// word, whose counters go on with the readers').
const (
	cWaits = iota
	cSleeps
	cWakes
	cOwnerDeaths
	cReadWaits
	cReaderDeaths
)

var lockStats = []stat{
	{"waits", "Lock calls that found it held and waited, past a short spin"},
	{"sleeps", "sleeps of waiters in the kernel (FUTEX_WAIT), each bounded"},
	{"wakes", "wake-up system calls (FUTEX_WAKE) by unlocks for sleeping waiters"},
	{"owner_deaths", "locks taken from a holder that died holding it (ErrOwnerDead)"},
}

var (
	mutexCounters   = counters{k: mutexInfo, off: offMutexStats, stats: lockStats}
	rlockCounters   = counters{k: rlockInfo, off: offRLockStats, stats: lockStats}
	rwmutexCounters = counters{k: rwmutexInfo, off: offRWStats, check: rwCheck, stats: append(lockStats[:len(lockStats):len(lockStats)],
		stat{"read_waits", "RLock calls that found a writer and waited, past a short spin"},
		stat{"reader_deaths", "processes that died holding read locks, whose reads were taken back"})}
	semCounters = counters{k: semInfo, off: offSemStats, check: semCheck, stats: []stat{
		{"waits", "Acquire calls that queued for units"},
		{"sleeps", "sleeps of waiters in the kernel (FUTEX_WAIT), each bounded"},
		{"wakes", "wake-up system calls (FUTEX_WAKE) for queued waiters"},
		{"skipped", "queued waiters passed over because they died or gave up"},
	}}
	eventCounters = counters{k: eventInfo, off: offEventStats, stats: []stat{
		{"sets", "Set calls that raised the flag"},
		{"sleeps", "sleeps of waiters in the kernel (FUTEX_WAIT), each bounded"},
		{"wakes", "wake-up system calls (FUTEX_WAKE) by Set for sleeping waiters"},
	}}
	condCounters = counters{k: condInfo, off: offCondStats, check: condCheck, stats: []stat{
		{"waits", "Wait calls"},
		{"sleeps", "sleeps of waiters in the kernel (FUTEX_WAIT), each bounded"},
		{"wakes", "wake-up system calls (FUTEX_WAKE) by notifications"},
		{"notified", "waiters notified by Signal, Notify and Broadcast"},
		{"skipped", "waiters passed over by notifications because they died"},
	}}
	barrierCounters = counters{k: barrierInfo, off: offBarrierStats, check: barrierCheck, stats: []stat{
		{"rounds", "rounds released by their last party"},
		{"breaks", "rounds broken: Abort, Reset, a waiter giving up, a failed action, a party's death"},
		{"sleeps", "sleeps of waiting parties in the kernel (FUTEX_WAIT), each bounded"},
		{"party_deaths", "parties found dead while others waited, which broke the round"},
	}}
)

// LockStats are the counters of a Mutex or an RLock, read from its shared
// memory: counts since it was made, over every process, wrapping at 2^64.
// Only slow paths count, so an uncontended lock shows none of them.
type LockStats struct {
	// Waits counts Lock and LockContext calls that found the lock held
	// and, after a short spin, waited for it.
	Waits uint64
	// Sleeps counts the sleeps of those waiters in the kernel
	// (FUTEX_WAIT); one wait may sleep several times.
	Sleeps uint64
	// Wakes counts the wake-up system calls (FUTEX_WAKE) that unlocks
	// made for sleeping waiters.
	Wakes uint64
	// OwnerDeaths counts the times the lock was taken from a holder that
	// died holding it: the Lock or TryLock calls that returned an
	// *OwnerDeadError.
	OwnerDeaths uint64
}

func lockStatsOf(v []uint64) LockStats {
	return LockStats{Waits: v[cWaits], Sleeps: v[cSleeps], Wakes: v[cWakes], OwnerDeaths: v[cOwnerDeaths]}
}

// Stats reads m's counters, a snapshot of every process's counts.
func (m *Mutex) Stats() LockStats { return lockStatsOf(m.l.tally.read()) }

// Stats reads r's counters, a snapshot of every process's counts.
func (r *RLock) Stats() LockStats { return lockStatsOf(r.l.tally.read()) }

// RWMutexStats are the counters of an RWMutex, read as LockStats are.
type RWMutexStats struct {
	// Waits counts Lock and LockContext calls that found the write lock
	// held and, after a short spin, waited for it.
	Waits uint64
	// Sleeps counts the sleeps of readers and writers in the kernel.
	Sleeps uint64
	// Wakes counts the wake-up system calls made for sleeping readers
	// and writers.
	Wakes uint64
	// OwnerDeaths counts the write locks taken back from writers that
	// died holding them.
	OwnerDeaths uint64
	// ReadWaits counts RLock and RLockContext calls that found a writer
	// and, after a short spin, waited.
	ReadWaits uint64
	// ReaderDeaths counts the processes that died holding read locks,
	// whose reads a later taker gave back.
	ReaderDeaths uint64
}

// Stats reads rw's counters, a snapshot of every process's counts.
func (rw *RWMutex) Stats() RWMutexStats {
	v := rw.w.tally.read()
	return RWMutexStats{Waits: v[cWaits], Sleeps: v[cSleeps], Wakes: v[cWakes], OwnerDeaths: v[cOwnerDeaths],
		ReadWaits: v[cReadWaits], ReaderDeaths: v[cReaderDeaths]}
}

// Indices of a Semaphore's counters.
const (
	sWaits = iota
	sSleeps
	sWakes
	sSkipped
)

// SemaphoreStats are the counters of a Semaphore, read as LockStats are.
type SemaphoreStats struct {
	// Waits counts the Acquire calls that could not take their units at
	// once and queued for them.
	Waits uint64
	// Sleeps counts the sleeps of queued waiters in the kernel.
	Sleeps uint64
	// Wakes counts the wake-up system calls made for queued waiters.
	Wakes uint64
	// Skipped counts the queued waiters whose turn was passed over
	// because they had died or given up.
	Skipped uint64
}

// Stats reads s's counters, a snapshot of every process's counts.
func (s *Semaphore) Stats() SemaphoreStats {
	v := s.tally.read()
	return SemaphoreStats{Waits: v[sWaits], Sleeps: v[sSleeps], Wakes: v[sWakes], Skipped: v[sSkipped]}
}

// Indices of an Event's counters.
const (
	eSets = iota
	eSleeps
	eWakes
)

// EventStats are the counters of an Event, read as LockStats are.
type EventStats struct {
	// Sets counts the Set calls that raised the flag (not those that
	// found it raised already).
	Sets uint64
	// Sleeps counts the sleeps of waiters in the kernel.
	Sleeps uint64
	// Wakes counts the wake-up system calls Set made for sleeping waiters.
	Wakes uint64
}

// Stats reads e's counters, a snapshot of every process's counts.
func (e *Event) Stats() EventStats {
	v := e.tally.read()
	return EventStats{Sets: v[eSets], Sleeps: v[eSleeps], Wakes: v[eWakes]}
}

// Indices of a Cond's counters.
const (
	cdWaits = iota
	cdSleeps
	cdWakes
	cdNotified
	cdSkipped
)

// CondStats are the counters of a Cond, read as LockStats are. Its lock
// counts its own (Mutex.Stats, RLock.Stats).
type CondStats struct {
	// Waits counts Wait calls (WaitFor's included).
	Waits uint64
	// Sleeps counts the sleeps of waiters in the kernel.
	Sleeps uint64
	// Wakes counts the wake-up system calls notifications made.
	Wakes uint64
	// Notified counts the waiters that Signal, Notify and Broadcast
	// notified.
	Notified uint64
	// Skipped counts the waiters that notifications passed over because
	// they had died waiting.
	Skipped uint64
}

// Stats reads c's counters, a snapshot of every process's counts.
func (c *Cond) Stats() CondStats {
	v := c.tally.read()
	return CondStats{Waits: v[cdWaits], Sleeps: v[cdSleeps], Wakes: v[cdWakes], Notified: v[cdNotified], Skipped: v[cdSkipped]}
}

// Indices of a Barrier's counters.
const (
	brRounds = iota
	brBreaks
	brSleeps
	brPartyDeaths
)

// BarrierStats are the counters of a Barrier, read as LockStats are.
type BarrierStats struct {
	// Rounds counts the rounds that their last party released: the
	// barrier's generations.
	Rounds uint64
	// Breaks counts the rounds that broke instead: by Abort, by Reset
	// with parties waiting, by a waiter that gave up, by a failed action
	// or by a party's death.
	Breaks uint64
	// Sleeps counts the sleeps of waiting parties in the kernel.
	Sleeps uint64
	// PartyDeaths counts the parties found dead while others waited
	// (each broke its round).
	PartyDeaths uint64
}

// Stats reads x's counters, a snapshot of every process's counts.
func (x *Barrier) Stats() BarrierStats {
	v := x.tally.read()
	return BarrierStats{Rounds: v[brRounds], Breaks: v[brBreaks], Sleeps: v[brSleeps], PartyDeaths: v[brPartyDeaths]}
}

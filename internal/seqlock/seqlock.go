// Package seqlock lets a reader copy data wider than one word out of
// shared memory without a lock and without seeing half of one write and
// half of another: the sequence lock of package value's wide Values and of
// package shmap's lock-free Map.Get (gVisor's pkg/sync SeqCount, for
// memory shared between processes).
//
// A sequence word stands beside the data. A reader loads it, copies the
// data, and loads it again: the copy counts only if the word did not move
// (ReadOk). A writer, one at a time (writers exclude each other by a
// lock), moves the word around its change. Readers write nothing shared.
//
// Two shapes:
//
//   - Seq: one copy of the data. The word is odd while a writer changes it
//     (BeginWrite, EndWrite); a reader that finds it odd retries, or gives
//     up and takes the writers' lock (which repairs what a dead writer left).
//   - Pair: two copies. A writer fills the copy not in use and then makes
//     it current with one store of the word (its low bit names the current
//     copy), so a reader never waits for a writer, and a writer killed half
//     way leaves the current copy whole.
//
// # Memory order
//
// Go's atomic operations are sequentially consistent. Load, Store and
// Equal move every word of the data with one atomic operation, so a
// reader's loads of the data are ordered between its two loads of the
// word, and a writer's stores between its moves of it: a reader that
// loaded a word some write stored also loads a moved sequence word at the
// end, and retries. Writers store with Store every word a reader may be
// loading meanwhile; a word no reader can reach yet (a slot that an atomic
// store will later make visible) may be written plainly, since that atomic
// store orders it.
//
// The memory is a mapping outside the Go heap, which the race detector
// does not watch (see internal/mem), and a reader's copy goes to memory
// only its own goroutine uses: there is no happens-before edge to declare
// (internal/hb).
package seqlock

import (
	"encoding/binary"
	"sync/atomic"

	"github.com/shmkit/shmkit/internal/mem"
)

var le = binary.LittleEndian

// Seq is a sequence word in shared memory, odd while a writer changes the
// data it guards.
type Seq struct{ w *uint64 }

// At is the sequence word at w.
func At(w *uint64) Seq { return Seq{w} }

// BeginRead starts a reading: the epoch to give ReadOk, and false when a
// writer is changing the data (the word is odd; the caller retries or
// takes the writers' lock).
func (s Seq) BeginRead() (epoch uint64, ok bool) {
	e := atomic.LoadUint64(s.w)
	return e, e&1 == 0
}

// ReadOk reports whether the data read since BeginRead returned epoch is
// whole: no writer moved the word meanwhile.
func (s Seq) ReadOk(epoch uint64) bool { return atomic.LoadUint64(s.w) == epoch }

// BeginWrite makes the word odd, unless it is already (a writer that died
// inside its change left it so): a writer is about to change the data.
// The caller excludes other writers.
func (s Seq) BeginWrite() {
	if q := atomic.LoadUint64(s.w); q&1 == 0 {
		atomic.StoreUint64(s.w, q+1)
	}
}

// EndWrite makes the word even, unless it is already: the change is whole,
// and a reading that overlapped it does not count.
func (s Seq) EndWrite() {
	if q := atomic.LoadUint64(s.w); q&1 == 1 {
		atomic.StoreUint64(s.w, q+1)
	}
}

// Pair is data kept twice in shared memory, and the sequence word whose low
// bit names the current copy.
type Pair struct {
	seq    Seq
	copies [2][]byte
}

// NewPair is the Pair of the sequence word seq and the two copies a and b,
// 8-byte aligned and of a length that is a multiple of 8 bytes.
func NewPair(seq *uint64, a, b []byte) Pair { return Pair{At(seq), [2][]byte{a, b}} }

// Load copies the current copy into dst (len(dst) bytes), again if a write
// moved the word meanwhile.
func (p *Pair) Load(dst []byte) {
	for {
		e := atomic.LoadUint64(p.seq.w)
		Load(dst, p.copies[e&1])
		if p.seq.ReadOk(e) {
			return
		}
	}
}

// Store writes src into the copy not in use and then makes it current. The
// caller excludes other writers.
func (p *Pair) Store(src []byte) {
	e := atomic.LoadUint64(p.seq.w)
	Store(p.copies[(e+1)&1], src)
	atomic.StoreUint64(p.seq.w, e+1)
}

// Load copies len(dst) bytes from src, 8-byte aligned, one atomic 8-byte
// load at a time (a word past the end of dst is loaded, not copied).
func Load(dst, src []byte) {
	var w [8]byte
	for i := 0; i < len(dst); i += 8 {
		le.PutUint64(w[:], atomic.LoadUint64(mem.Uint64(src, uintptr(i))))
		copy(dst[i:], w[:])
	}
}

// Store copies src to dst, 8-byte aligned, one atomic 8-byte store at a
// time; the last word is padded with zeroes.
func Store(dst, src []byte) {
	var w [8]byte
	for i := 0; i < len(src); i += 8 {
		clear(w[:])
		copy(w[:], src[i:])
		atomic.StoreUint64(mem.Uint64(dst, uintptr(i)), le.Uint64(w[:]))
	}
}

// Equal reports whether the len(b) bytes at src, 8-byte aligned, equal b,
// loading them as Load does.
func Equal(src, b []byte) bool {
	for i := 0; i < len(b); i += 8 {
		w := atomic.LoadUint64(mem.Uint64(src, uintptr(i)))
		if len(b)-i >= 8 {
			if w != le.Uint64(b[i:]) {
				return false
			}
			continue
		}
		var x [8]byte
		le.PutUint64(x[:], w)
		if string(x[:len(b)-i]) != string(b[i:]) {
			return false
		}
	}
	return true
}

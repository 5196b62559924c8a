package ringbuffer

import (
	"encoding/binary"
	"fmt"
	"math/bits"

	"github.com/shmkit/shmkit/shm"
)

// The payload of every ring, queue and pipe direction; doc.go draws it.
const (
	offVersion  = 0
	offMode     = 4
	offCellSize = 8
	offFlags    = 12
	offCells    = 16
	offElemSize = 24
	offSeqOff   = 32
	offDataOff  = 40
	offLimit    = 48 // a Queue: its capacity in messages
	headerSize  = 64

	offTail      = 64  // producers' cursor, bit 63: shut down
	offHead      = 128 // consumers' cursor, bit 63: the message at the head is lent (modes 2, 3)
	offNotEmpty  = 192 // consumers sleep here
	offNotFull   = 256 // producers sleep here
	offGets      = 320 // JoinableQueue: messages taken
	offDones     = 328 // JoinableQueue: TaskDone calls
	offJoinWord  = 336 // JoinableQueue: Join sleeps here
	offPlainTail = 344 // single-producer ring: the tail is stored plainly
	offPlainHead = 348 // single-producer ring: the head is stored plainly
	offBorrower  = 352 // multi-producer ring: the borrower's owner word (see loan.go)
	offProducer  = 384 // single-producer ring: the producer's owner word
	offConsumer  = 392 // single-consumer ring: the consumer's owner word
	offHolders   = 400 // a pipe's ring: the holders of the end that sends on it
	offTable     = 448 // multi-producer: MaxProducers owner words
	offCellsArr  = offTable + 8*MaxProducers

	version = 1
)

// The counters of rare events (stats.go), in the lines of the sleep words,
// which a call that does not wait only reads: the consumers' beside
// notEmpty, the producers' beside notFull.
const (
	offSleepsEmpty       = 200 // sleeps on notEmpty
	offWakesEmpty        = 208 // wake-ups of notEmpty, as sleepers last recorded them
	offHoles             = 216 // claims of dead producers made holes
	offConsumerTakeovers = 224 // a dead single consumer's role taken over
	offSleepsFull        = 264 // sleeps on notFull
	offWakesFull         = 272 // wake-ups of notFull, as sleepers last recorded them
	offProducerTakeovers = 280 // a dead producer's role or table slot taken over
)

// The counts of waits, in the lines that the side that waits writes at
// every message anyway: a consumer's waits beside the head (a PubSub's
// subscribers' beside its limit word, which only the publisher writes,
// and rarely), a producer's beside the tail.
const (
	offWaitsFull  = 72  // calls that found no room and waited (a PubSub's publisher)
	offWaitsEmpty = 136 // calls that found no message and waited
)

var (
	_ = [1]struct{}{}[offWaitsFull/64-offTail/64]
	_ = [1]struct{}{}[offWaitsEmpty/64-offHead/64]
	_ = [1]struct{}{}[offWaitsFull-psOffTail-8]
	_ = [1]struct{}{}[offWaitsEmpty-psOffLimit-8]
)

// The counters start right past their sleep word and end in its line.
var (
	_ = [1]struct{}{}[offSleepsEmpty-offNotEmpty-8]
	_ = [1]struct{}{}[offConsumerTakeovers/64-offNotEmpty/64]
	_ = [1]struct{}{}[offSleepsFull-offNotFull-8]
	_ = [1]struct{}{}[offProducerTakeovers/64-offNotFull/64]
)

// The holder slots of a pipe end fill the words between the consumer's
// owner word and the producer table, a part of the header that rings and
// queues leave alone (and do not check): a pipe is no larger for them.
var _ = [1]struct{}{}[offHolders-(offConsumer+8)]
var _ = [1]struct{}{}[offTable-(offHolders+8*MaxHolders)]

// MaxProducers is how many processes may push to one multi-producer ring or
// queue at a time. A dead process's slot is taken over by the next one.
const MaxProducers = 256

// MaxCells bounds a ring's capacity in cells (slots).
const MaxCells = 1 << 22

// mode says which algorithm a ring runs.
type mode uint32

const (
	modeSPSC   mode = 1 // Ring, single producer and consumer: cursors only
	modeFixed  mode = 2 // Ring or Queue of plain T: one cell per message
	modeFramed mode = 3 // Queue of encoded T: length-prefixed frames of k cells
)

const flagJoinable = 1

// shutBit, in the tail, marks a ring shut down (Queue.Shutdown).
const shutBit = 1 << 63

// lentBit, in the head of a multi-producer ring, marks the message at the
// head lent to the process in the borrower word (see loan.go). Every
// reader of the head masks it.
const lentBit = 1 << 63

var le = binary.LittleEndian

// layout is what a ring's header says.
type layout struct {
	mode     mode
	cellSize uint64
	cells    uint64
	elemSize uint64
	joinable bool
	seqOff   uint64
	dataOff  uint64
	limit    uint64 // modes 2 and 3: messages it holds, at most cells; 0: no limit but the cells
}

func align64(n uint64) uint64 { return (n + 63) &^ 63 }

// newLayout is the layout of a ring of cells cells of cellSize bytes.
func newLayout(m mode, cells, cellSize, elemSize uint64, joinable bool) (layout, error) {
	if cells == 0 || cells > MaxCells {
		return layout{}, fmt.Errorf("%w: capacity %d, want 1 to %d", ErrInvalid, cells, MaxCells)
	}
	cells = 1 << bits.Len64(cells-1)
	l := layout{mode: m, cellSize: cellSize, cells: cells, elemSize: elemSize, joinable: joinable}
	l.dataOff = offCellsArr
	if m != modeSPSC {
		l.seqOff = offCellsArr
		l.dataOff = align64(offCellsArr + 8*cells)
	}
	if cellSize > (1<<40)/cells {
		return layout{}, fmt.Errorf("%w: %d cells of %d bytes", ErrInvalid, cells, cellSize)
	}
	return l, nil
}

// size is the payload size the layout needs.
func (l layout) size() uint64 { return l.dataOff + l.cells*l.cellSize }

// lapShift is log2(cells): a position's lap is pos >> lapShift.
func (l layout) lapShift() uint { return uint(bits.TrailingZeros64(l.cells)) }

func (l layout) encode(b []byte) {
	clear(b[:headerSize])
	le.PutUint32(b[offVersion:], version)
	le.PutUint32(b[offMode:], uint32(l.mode))
	le.PutUint32(b[offCellSize:], uint32(l.cellSize))
	if l.joinable {
		le.PutUint32(b[offFlags:], flagJoinable)
	}
	le.PutUint64(b[offCells:], l.cells)
	le.PutUint64(b[offElemSize:], l.elemSize)
	le.PutUint64(b[offSeqOff:], l.seqOff)
	le.PutUint64(b[offDataOff:], l.dataOff)
	le.PutUint64(b[offLimit:], l.limit)
}

// capacity is how many cells may be in use at once: in mode 2 the limit,
// otherwise every cell (a frame of mode 3 takes one cell or more: its
// limit counts frames, see core.frameRoom).
func (l layout) capacity() uint64 {
	if l.limit > 0 && l.mode == modeFixed {
		return l.limit
	}
	return l.cells
}

// decodeLayout reads and checks the header at the start of b, a payload of
// len(b) bytes: every field in range and consistent with the others and
// with the payload's size, reserved bytes zero.
func decodeLayout(b []byte) (layout, error) {
	if len(b) < offCellsArr {
		return layout{}, fmt.Errorf("%w: payload of %d bytes", ErrCorrupt, len(b))
	}
	if v := le.Uint32(b[offVersion:]); v != version {
		return layout{}, fmt.Errorf("%w: header version %d, this build reads %d: %w", ErrCorrupt, v, version, shm.ErrVersion)
	}
	for _, c := range b[offLimit+8 : headerSize] {
		if c != 0 {
			return layout{}, fmt.Errorf("%w: reserved header bytes are not zero", ErrCorrupt)
		}
	}
	flags := le.Uint32(b[offFlags:])
	l := layout{
		mode:     mode(le.Uint32(b[offMode:])),
		cellSize: uint64(le.Uint32(b[offCellSize:])),
		cells:    le.Uint64(b[offCells:]),
		elemSize: le.Uint64(b[offElemSize:]),
		joinable: flags&flagJoinable != 0,
		seqOff:   le.Uint64(b[offSeqOff:]),
		dataOff:  le.Uint64(b[offDataOff:]),
		limit:    le.Uint64(b[offLimit:]),
	}
	if flags&^flagJoinable != 0 {
		return layout{}, fmt.Errorf("%w: unknown flags %#x", ErrCorrupt, flags)
	}
	if l.cells == 0 || l.cells > MaxCells || l.cells&(l.cells-1) != 0 {
		return layout{}, fmt.Errorf("%w: %d cells", ErrCorrupt, l.cells)
	}
	if l.cellSize == 0 {
		return layout{}, fmt.Errorf("%w: cells of 0 bytes", ErrCorrupt)
	}
	want, err := newLayout(l.mode, l.cells, l.cellSize, l.elemSize, l.joinable)
	if err != nil {
		return layout{}, fmt.Errorf("%w: %v", ErrCorrupt, err)
	}
	if l.limit > l.cells || (l.limit > 0 && l.mode == modeSPSC) {
		return layout{}, fmt.Errorf("%w: a limit of %d messages in %d cells, mode %d", ErrCorrupt, l.limit, l.cells, l.mode)
	}
	want.limit = l.limit
	switch l.mode {
	case modeSPSC, modeFixed:
		if l.elemSize != l.cellSize {
			return layout{}, fmt.Errorf("%w: %d-byte elements in %d-byte cells", ErrCorrupt, l.elemSize, l.cellSize)
		}
		if l.mode == modeSPSC && l.joinable {
			return layout{}, fmt.Errorf("%w: a single-producer ring marked joinable", ErrCorrupt)
		}
	case modeFramed:
		if l.elemSize != 0 || l.cellSize%8 != 0 {
			return layout{}, fmt.Errorf("%w: framed cells of %d bytes, element size %d", ErrCorrupt, l.cellSize, l.elemSize)
		}
	default:
		return layout{}, fmt.Errorf("%w: mode %d", ErrCorrupt, l.mode)
	}
	if l != want {
		return layout{}, fmt.Errorf("%w: offsets %d/%d, want %d/%d", ErrCorrupt, l.seqOff, l.dataOff, want.seqOff, want.dataOff)
	}
	if l.size() > uint64(len(b)) {
		return layout{}, fmt.Errorf("%w: %d cells of %d bytes need %d bytes, the payload has %d",
			ErrCorrupt, l.cells, l.cellSize, l.size(), len(b))
	}
	return l, nil
}

// Cell words (multi-producer modes): one 64-bit word per cell, apart from
// the data, that the claim of a frame starting at that cell goes through.
//
//	bits  0-1   state: 0 free, 1 claimed, 2 full (committed), 3 skipped
//	bits  2-9   the claimer's index in the producer table
//	bits 10-31  the frame's length in cells, minus one
//	bits 32-63  the lap of the position claimed: position >> log2(cells)
const (
	stFree    = 0
	stClaimed = 1
	stFull    = 2
	stSkipped = 3
)

func cellWord(lap uint32, state uint64, idx int, k uint64) uint64 {
	return uint64(lap)<<32 | (k-1)<<10 | uint64(idx)<<2 | state
}

func wordState(w uint64) uint64 { return w & 3 }
func wordIdx(w uint64) int      { return int(w>>2) & (MaxProducers - 1) }
func wordCells(w uint64) uint64 { return (w>>10)&(MaxCells-1) + 1 }
func wordLap(w uint64) uint32   { return uint32(w >> 32) }

// frame checks what a consumer read at the head of a framed queue: the
// frame's cell word w and its length prefix n. It returns the frame's
// length in cells and the message's length in bytes.
func (l layout) frame(w uint64, n uint32) (k uint64, size int, err error) {
	k = wordCells(w)
	if k > l.cells {
		return 0, 0, fmt.Errorf("%w: a frame of %d cells in a ring of %d", ErrCorrupt, k, l.cells)
	}
	if l.mode != modeFramed {
		if k != 1 {
			return 0, 0, fmt.Errorf("%w: a frame of %d cells in a ring of one-cell messages", ErrCorrupt, k)
		}
		return 1, int(l.elemSize), nil
	}
	room := k * l.cellSize
	if uint64(n)+4 > room || uint64(n)+4 <= room-l.cellSize {
		return 0, 0, fmt.Errorf("%w: a message of %d bytes in a frame of %d cells of %d bytes",
			ErrCorrupt, n, k, l.cellSize)
	}
	return k, int(n), nil
}

// cellsFor is how many cells a message of n bytes takes.
func (l layout) cellsFor(n int) uint64 {
	if l.mode != modeFramed {
		return 1
	}
	return (uint64(n) + 4 + l.cellSize - 1) / l.cellSize
}

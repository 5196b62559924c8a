package shm

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"sync"

	"github.com/shmkit/shmkit/internal/owner"
)

// The on-memory format, version 3. doc.go draws it byte by byte; the offsets
// here are the single source of truth and a test checks doc.go against them.
// All integers are little-endian (native on amd64 and arm64, the platforms
// whose atomics shmkit uses on these words).
const (
	// formatVersion 2 keeps the state word at the heap top zero (version 1
	// left stale block headers there), so that a top moved back over live
	// blocks is seen, and records processes by owner words whose liveness
	// holds across pid namespaces (version 1: pid and start time).
	// Version 3 changes no word of the segment's own: the locks of package
	// semaphore have new layouts, and rings new words that say whether
	// their cursors and cells are stored without a fence.
	formatVersion = 3
	magic         = "shmkitSG"

	headerSize     = 256
	entrySize      = 128
	blockHeader    = 64 // every block starts with one; payloads are 64-byte aligned
	blockAlign     = 64
	minBlock       = blockHeader + blockAlign
	maxSegmentSize = 1 << 40
	maxEntries     = 1 << 16

	// Segment header: immutable after creation, covered by the checksum.
	hMagic       = 0  // [8]byte "shmkitSG"
	hVersion     = 8  // uint32
	hState       = 12 // uint32 futex word: stateCreating, stateReady (not checksummed)
	hSize        = 16 // uint64 total bytes
	hID          = 24 // uint64 random identity, never 0
	hCreatorPid  = 32 // uint32
	hFlags       = 36 // uint32 flagAnonymous
	hCreatorWord = 40 // uint64 creator's owner word (package doc: Liveness)
	hHeaderSize  = 48 // uint32 = headerSize
	hEntries     = 52 // uint32 directory capacity
	hDirOff      = 56 // uint64 = headerSize
	hHeapOff     = 64 // uint64 first block
	hCreated     = 72 // int64 Unix nanoseconds
	hSum         = 80 // uint32 CRC-32C of [0,80) with the state word as zero
	hSummed      = 84

	// Segment header: mutable words, on their own cache lines.
	hLockOwner   = 128 // uint64 owner word of the allocator lock, 0 = free
	hLockSeq     = 136 // uint32 futex word bumped by every unlock
	hLockWaiters = 140 // uint32 processes sleeping on hLockSeq
	hTop         = 144 // uint64 end of the last block
	hGen         = 152 // uint64 last generation handed to an object
	hRecoveries  = 160 // uint64 times the lock was taken over from a dead owner
	hMutableEnd  = 168 // the rest of the header is reserved and zero

	stateCreating = 0
	stateReady    = 1
	flagAnonymous = 1

	// Directory entry (entrySize bytes each, at dirOff + i*entrySize).
	eState   = 0  // uint32 futex word: entryEmpty, entryReserved, entryLive
	eKind    = 4  // uint32 Kind
	eFP      = 8  // uint64 layout fingerprint
	eOff     = 16 // uint64 payload offset
	eLen     = 24 // uint64 payload length asked for
	eOwner   = 32 // uint64 creator's owner word
	eGen     = 40 // uint64 generation of the block
	eNameLen = 48 // uint16
	eSum     = 52 // uint32 CRC-32C of [4,52) and the name bytes
	eName    = 64 // [64]byte

	entryEmpty    = 0
	entryReserved = 1 // name taken, creator still initializing the object
	entryLive     = 2

	// Block header (blockHeader bytes before every payload).
	bState = 0  // uint32 blockFree or blockUsed
	bKind  = 4  // uint32 Kind
	bSize  = 8  // uint64 whole block, header included, multiple of 64
	bFP    = 16 // uint64 layout fingerprint
	bOwner = 24 // uint64 allocating process's owner word
	bGen   = 32 // uint64 generation
	bLen   = 40 // uint64 payload length asked for
	bEntry = 48 // uint32 directory index + 1, 0 for an unnamed block

	blockFree = 0x65657266 // "free"
	blockUsed = 0x64657375 // "used"
)

var le = binary.LittleEndian

// castagnoli is the CRC-32C table, made on first use: making it fills
// the tables of the SSE4.2 code too (about 1.5 MB of CRC, 0.1-0.2 ms),
// which every program importing shm, each child started included, would
// otherwise pay as it starts.
var castagnoli = sync.OnceValue(func() *crc32.Table { return crc32.MakeTable(crc32.Castagnoli) })

// header is the decoded immutable part of a segment header.
type header struct {
	version     uint32
	size        uint64
	id          uint64
	creatorPid  int32
	creatorWord uint64
	flags       uint32
	entries     uint32
	dirOff      uint64
	heapOff     uint64
	created     int64
}

// heapEnd is where blocks must stop: the size rounded down to a block.
func (h *header) heapEnd() uint64 { return h.size &^ (blockAlign - 1) }

func alignUp(n, a uint64) uint64 { return (n + a - 1) &^ (a - 1) }

// planLayout places the directory and heap of a segment of size bytes with
// room for entries named objects.
func planLayout(size uint64, entries uint32) (dirOff, heapOff uint64, err error) {
	dirOff = headerSize
	heapOff = alignUp(dirOff+uint64(entries)*entrySize, blockAlign)
	if need := heapOff + minBlock; size < need {
		return 0, 0, fmt.Errorf("shm: %w: %d bytes is smaller than the header and a %d-entry directory need (%d)", ErrSize, size, entries, need)
	}
	return dirOff, heapOff, nil
}

func headerSum(b []byte) uint32 {
	var zero [4]byte
	c := crc32.Update(0, castagnoli(), b[:hState])
	c = crc32.Update(c, castagnoli(), zero[:])
	return crc32.Update(c, castagnoli(), b[hState+4:hSum])
}

// encodeHeader writes h into b (at least headerSize bytes), state creating.
func encodeHeader(b []byte, h *header) {
	copy(b[hMagic:], magic)
	le.PutUint32(b[hVersion:], h.version)
	le.PutUint32(b[hState:], stateCreating)
	le.PutUint64(b[hSize:], h.size)
	le.PutUint64(b[hID:], h.id)
	le.PutUint32(b[hCreatorPid:], uint32(h.creatorPid))
	le.PutUint32(b[hFlags:], h.flags)
	le.PutUint64(b[hCreatorWord:], h.creatorWord)
	le.PutUint32(b[hHeaderSize:], headerSize)
	le.PutUint32(b[hEntries:], h.entries)
	le.PutUint64(b[hDirOff:], h.dirOff)
	le.PutUint64(b[hHeapOff:], h.heapOff)
	le.PutUint64(b[hCreated:], uint64(h.created))
	le.PutUint32(b[hSum:], headerSum(b))
	le.PutUint64(b[hTop:], h.heapOff)
}

// hasMagic reports whether b starts like a shmkit segment.
func hasMagic(b []byte) bool { return len(b) >= len(magic) && string(b[:len(magic)]) == magic }

// decodeHeader checks and decodes the header at the start of b, taken from a
// file of fileSize bytes. It never panics, whatever b holds.
func decodeHeader(b []byte, fileSize int64) (header, error) {
	var h header
	if !hasMagic(b) {
		return h, fmt.Errorf("shm: %w: no shmkit magic", ErrBadHeader)
	}
	if len(b) < headerSize {
		return h, fmt.Errorf("shm: %w: truncated header (%d of %d bytes)", ErrBadHeader, len(b), headerSize)
	}
	h.version = le.Uint32(b[hVersion:])
	switch {
	case h.version > formatVersion:
		return h, fmt.Errorf("shm: %w: format %d, this build reads up to %d", ErrVersion, h.version, formatVersion)
	case h.version == 0:
		return h, fmt.Errorf("shm: %w: format version 0", ErrBadHeader)
	}
	if got, want := le.Uint32(b[hSum:]), headerSum(b); got != want {
		return h, fmt.Errorf("shm: %w: header checksum %#08x, computed %#08x", ErrBadHeader, got, want)
	}
	if h.version < formatVersion { // same header and checksum, another heap
		return h, fmt.Errorf("shm: %w: format %d, older than the %d this build reads", ErrVersion, h.version, formatVersion)
	}
	if !allZero(b[hSummed:hLockOwner]) || !allZero(b[hMutableEnd:headerSize]) {
		return h, fmt.Errorf("shm: %w: reserved header bytes are not zero", ErrBadHeader)
	}
	h.size = le.Uint64(b[hSize:])
	h.id = le.Uint64(b[hID:])
	h.creatorPid = int32(le.Uint32(b[hCreatorPid:]))
	h.flags = le.Uint32(b[hFlags:])
	h.creatorWord = le.Uint64(b[hCreatorWord:])
	h.entries = le.Uint32(b[hEntries:])
	h.dirOff = le.Uint64(b[hDirOff:])
	h.heapOff = le.Uint64(b[hHeapOff:])
	h.created = int64(le.Uint64(b[hCreated:]))
	switch {
	case fileSize >= 0 && uint64(fileSize) != h.size:
		return h, fmt.Errorf("shm: %w: file is %d bytes, header says %d (truncated or resized)", ErrBadHeader, fileSize, h.size)
	case h.size > maxSegmentSize:
		return h, fmt.Errorf("shm: %w: size %d beyond the %d maximum", ErrBadHeader, h.size, uint64(maxSegmentSize))
	case le.Uint32(b[hHeaderSize:]) != headerSize:
		return h, fmt.Errorf("shm: %w: header size %d", ErrBadHeader, le.Uint32(b[hHeaderSize:]))
	case h.id == 0:
		return h, fmt.Errorf("shm: %w: zero segment id", ErrBadHeader)
	case h.creatorPid <= 0 || owner.Pid(h.creatorWord) != int(h.creatorPid):
		return h, fmt.Errorf("shm: %w: creator pid %d, owner word %#x", ErrBadHeader, h.creatorPid, h.creatorWord)
	case h.flags&^flagAnonymous != 0:
		return h, fmt.Errorf("shm: %w: unknown flags %#x", ErrBadHeader, h.flags)
	case h.entries == 0 || h.entries > maxEntries:
		return h, fmt.Errorf("shm: %w: directory of %d entries", ErrBadHeader, h.entries)
	}
	dirOff, heapOff, err := planLayout(h.size, h.entries)
	if err != nil || h.dirOff != dirOff || h.heapOff != heapOff {
		return h, fmt.Errorf("%w: directory at %d and heap at %d do not fit a %d-byte segment of %d entries",
			ErrBadHeader, h.dirOff, h.heapOff, h.size, h.entries)
	}
	return h, nil
}

// entry is a decoded directory entry.
type entry struct {
	state  uint32
	kind   Kind
	fp     uint64
	off    uint64
	length uint64
	owner  uint64
	gen    uint64
	name   string
}

func entrySum(b []byte, nameLen int) uint32 {
	c := crc32.Update(0, castagnoli(), b[eKind:eSum])
	return crc32.Update(c, castagnoli(), b[eName:eName+nameLen])
}

// encodeEntry writes every field of e but the state word into b.
func encodeEntry(b []byte, e *entry) {
	le.PutUint32(b[eKind:], uint32(e.kind))
	le.PutUint64(b[eFP:], e.fp)
	le.PutUint64(b[eOff:], e.off)
	le.PutUint64(b[eLen:], e.length)
	le.PutUint64(b[eOwner:], e.owner)
	le.PutUint64(b[eGen:], e.gen)
	le.PutUint16(b[eNameLen:], uint16(len(e.name)))
	clear(b[eNameLen+2 : eSum])
	clear(b[eSum+4 : eName+maxObjectName])
	copy(b[eName:], e.name)
	le.PutUint32(b[eSum:], entrySum(b, len(e.name)))
}

// decodeEntry checks and decodes one directory entry of a segment with
// header h. An empty entry gives state entryEmpty and no error. It never
// panics, whatever b holds.
func decodeEntry(b []byte, h *header) (entry, error) {
	var e entry
	if len(b) < entrySize {
		return e, fmt.Errorf("shm: %w: truncated directory entry", ErrCorrupt)
	}
	e.state = le.Uint32(b[eState:])
	if e.state == entryEmpty {
		return e, nil
	}
	if e.state != entryReserved && e.state != entryLive {
		return e, fmt.Errorf("shm: %w: directory entry state %d", ErrCorrupt, e.state)
	}
	n := int(le.Uint16(b[eNameLen:]))
	if n == 0 || n > maxObjectName {
		return e, fmt.Errorf("shm: %w: directory entry name of %d bytes", ErrCorrupt, n)
	}
	if got, want := le.Uint32(b[eSum:]), entrySum(b, n); got != want {
		return e, fmt.Errorf("shm: %w: directory entry checksum %#08x, computed %#08x", ErrCorrupt, got, want)
	}
	if !allZero(b[eNameLen+2:eSum]) || !allZero(b[eSum+4:eName]) || !allZero(b[eName+n:entrySize]) {
		return e, fmt.Errorf("shm: %w: directory entry has reserved bytes that are not zero", ErrCorrupt)
	}
	e.kind = Kind(le.Uint32(b[eKind:]))
	e.fp = le.Uint64(b[eFP:])
	e.off = le.Uint64(b[eOff:])
	e.length = le.Uint64(b[eLen:])
	e.owner = le.Uint64(b[eOwner:])
	e.gen = le.Uint64(b[eGen:])
	e.name = string(b[eName : eName+n])
	if err := checkName(e.name, maxObjectName); err != nil {
		return e, fmt.Errorf("shm: %w: directory entry: %v", ErrCorrupt, err)
	}
	if err := checkPayload(h, e.off, e.length); err != nil {
		return e, fmt.Errorf("shm: %w: directory entry %q: %v", ErrCorrupt, e.name, err)
	}
	switch {
	case e.kind == 0:
		return e, fmt.Errorf("shm: %w: directory entry %q of kind 0", ErrCorrupt, e.name)
	case e.owner == 0:
		return e, fmt.Errorf("shm: %w: directory entry %q has no creator", ErrCorrupt, e.name)
	}
	return e, nil
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// checkPayload reports whether [off, off+length) can be the payload of a
// block in a segment with header h.
func checkPayload(h *header, off, length uint64) error {
	end := h.heapEnd()
	switch {
	case off%blockAlign != 0 || off < h.heapOff+blockHeader || off >= end:
		return fmt.Errorf("payload offset %d outside the heap [%d, %d) or unaligned", off, h.heapOff, end)
	case length == 0 || length > end-off:
		return fmt.Errorf("payload of %d bytes at %d overruns the heap end %d", length, off, end)
	}
	return nil
}

// block is a decoded block header.
type block struct {
	state  uint32
	kind   Kind
	size   uint64
	fp     uint64
	owner  uint64
	gen    uint64
	length uint64
	entry  uint32
}

// decodeBlock reads the block header at off in b, which must end at or
// before top. It never panics.
func decodeBlock(b []byte, off, top uint64) (block, error) {
	var k block
	if off%blockAlign != 0 || off > top || top-off < minBlock || top > uint64(len(b)) {
		return k, fmt.Errorf("shm: %w: block at %d does not fit before %d", ErrCorrupt, off, top)
	}
	p := b[off : off+blockHeader]
	k.state = le.Uint32(p[bState:])
	k.size = le.Uint64(p[bSize:])
	if k.state != blockFree && k.state != blockUsed {
		return k, fmt.Errorf("shm: %w: block at %d has state %#x", ErrCorrupt, off, k.state)
	}
	if k.size < minBlock || k.size%blockAlign != 0 || k.size > top-off {
		return k, fmt.Errorf("shm: %w: block at %d has size %d (heap top %d)", ErrCorrupt, off, k.size, top)
	}
	k.kind = Kind(le.Uint32(p[bKind:]))
	k.fp = le.Uint64(p[bFP:])
	k.owner = le.Uint64(p[bOwner:])
	k.gen = le.Uint64(p[bGen:])
	k.length = le.Uint64(p[bLen:])
	k.entry = le.Uint32(p[bEntry:])
	if k.state == blockUsed && (k.length == 0 || k.length > k.size-blockHeader) {
		return k, fmt.Errorf("shm: %w: block at %d holds %d bytes in %d", ErrCorrupt, off, k.length, k.size)
	}
	return k, nil
}

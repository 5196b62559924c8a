package shm

import (
	"fmt"
	"os"
	"strings"
	"testing"
)

// TestDocLayout checks the byte-by-byte tables of doc.go against the
// constants the code uses.
func TestDocLayout(t *testing.T) {
	b, err := os.ReadFile("doc.go")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	rows := []struct {
		off, size int
		field     string
	}{
		{hMagic, 8, "magic"}, {hVersion, 4, "version"}, {hState, 4, "state: 0 creating"}, {hSize, 8, "size"},
		{hID, 8, "id"}, {hCreatorPid, 4, "creator pid"}, {hFlags, 4, "flags"}, {hCreatorWord, 8, "creator owner word"},
		{hHeaderSize, 4, "header size"}, {hEntries, 4, "directory entries"}, {hDirOff, 8, "directory offset"},
		{hHeapOff, 8, "heap offset"}, {hCreated, 8, "created"}, {hSum, 4, "checksum of bytes 0 to 79"},
		{hLockOwner, 8, "lock owner"}, {hLockSeq, 4, "lock sequence"}, {hLockWaiters, 4, "lock waiters"},
		{hTop, 8, "heap top"}, {hGen, 8, "last generation"}, {hRecoveries, 8, "lock recoveries"},
		{eState, 4, "state: 0 empty"}, {eKind, 4, "kind"}, {eFP, 8, "fingerprint of"}, {eOff, 8, "payload offset"},
		{eLen, 8, "payload length"}, {eOwner, 8, "creator: its owner word"}, {eGen, 8, "generation of the block"},
		{eNameLen, 2, "name length"}, {eSum, 4, "checksum: CRC-32C"}, {eName, maxObjectName, "name"},
		{bState, 4, `state: "free"`}, {bKind, 4, "kind"}, {bSize, 8, "block size"}, {bFP, 8, "fingerprint"},
		{bOwner, 8, "owner: the allocating"}, {bGen, 8, "generation"}, {bLen, 8, "payload length asked"},
		{bEntry, 4, "directory entry + 1"},
		{0, 4, "handle magic"}, {4, 1, "handle version"}, {5, 1, "segment name length"}, {8, 8, "segment id"},
		{16, 8, "payload offset of the object"}, {24, 4, "kind of the object"}, {32, 8, "fingerprint of the object"},
		{40, 8, "generation of the object"}, {handleFixed, 0, ""},
	}
	for _, r := range rows {
		row := fmt.Sprintf("%6d %4d  %s", r.off, r.size, r.field)
		if r.field == "" { // the handle's variable part
			row = fmt.Sprintf("%6d    n  segment name", r.off)
		}
		if !strings.Contains(doc, row) {
			t.Errorf("doc.go lacks the row %q", row)
		}
	}
	if hSummed != hSum+4 || hLockOwner%64 != 0 || hTop%8 != 0 || entrySize%64 != 0 || eName+maxObjectName != entrySize {
		t.Error("layout constants are inconsistent")
	}
	// Atomic words are aligned by construction.
	for _, off := range []int{hState, hLockSeq, hLockWaiters, eState, bState} {
		if off%4 != 0 {
			t.Errorf("32-bit atomic word at %d", off)
		}
	}
	for _, off := range []int{hLockOwner, hTop, hGen, hRecoveries, bSize} {
		if off%8 != 0 {
			t.Errorf("64-bit atomic word at %d", off)
		}
	}
}

//go:build linux && (amd64 || arm64)

package ringbuffer

import (
	"os"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

// TestDocLayout checks the layout tables in doc.go against the offsets and
// bits the code uses.
func TestDocLayout(t *testing.T) {
	b, err := os.ReadFile("doc.go")
	if err != nil {
		t.Fatal(err)
	}
	offsets := map[int]string{}
	psOffsets := map[int]string{} // the table of section "Publish and subscribe"
	bitRanges := map[string]string{}
	section := ""
	for _, line := range strings.Split(string(b), "\n") {
		if h, ok := strings.CutPrefix(line, "// # "); ok {
			section = h
		}
		f := strings.Fields(strings.TrimPrefix(line, "//"))
		if len(f) >= 3 {
			if off, err := strconv.Atoi(f[0]); err == nil {
				if section == "Publish and subscribe" {
					psOffsets[off] = strings.Join(f[2:], " ")
				} else {
					offsets[off] = strings.Join(f[2:], " ")
				}
			}
			if f[0] == "bits" {
				bitRanges[f[1]] = strings.Join(f[2:], " ")
			}
		}
	}
	want := map[int]string{
		offVersion: "version", offMode: "mode", offCellSize: "cell size", offFlags: "flags",
		offCells: "cells", offElemSize: "element size", offSeqOff: "offset of the cell words",
		offDataOff: "offset of the data", offLimit: "capacity", 56: "zero", offTail: "tail", offHead: "head",
		offNotEmpty: "not-empty", offNotFull: "not-full", offGets: "messages taken",
		offDones: "TaskDone", offJoinWord: "Join's sleep word", offProducer: "producer's owner word",
		offConsumer: "consumer's owner word", offHolders: "holders of the end", offTable: "producer table",
		offCellsArr:    "cell words",
		offSleepsEmpty: "sleeps on it", offWakesEmpty: "wake-ups of it", offHoles: "claims of dead producers",
		offConsumerTakeovers: "dead single consumers' roles", offSleepsFull: "sleeps on it",
		offWakesFull: "wake-ups of it", offProducerTakeovers: "dead producers' roles or table slots",
		offWaitsFull: "waited for room", offWaitsEmpty: "waited for a message",
	}
	for off, text := range want {
		if !strings.Contains(offsets[off], text) {
			t.Errorf("doc.go: offset %d says %q, want it to mention %q", off, offsets[off], text)
		}
	}
	if offCellsArr != offTable+8*MaxProducers || headerSize != 64 {
		t.Errorf("table ends at %d, cell words start at %d", offTable+8*MaxProducers, offCellsArr)
	}
	// The cell word: check each documented field against the accessors.
	w := cellWord(0xdeadbeef, stSkipped, 0xab, 0x123456)
	checks := []struct {
		bits, text string
		got, want  uint64
	}{
		{"0-1", "state", wordState(w), stSkipped},
		{"2-9", "producer table", uint64(wordIdx(w)), 0xab},
		{"10-31", "length in cells", wordCells(w), 0x123456},
		{"32-63", "lap", uint64(wordLap(w)), 0xdeadbeef},
	}
	for _, c := range checks {
		if !strings.Contains(bitRanges[c.bits], c.text) {
			t.Errorf("doc.go: bits %s say %q, want %q", c.bits, bitRanges[c.bits], c.text)
		}
		if c.got != c.want {
			t.Errorf("cell word field %s: got %#x, want %#x", c.text, c.got, c.want)
		}
	}
	if stFree != 0 || stClaimed != 1 || stFull != 2 || stSkipped != 3 {
		t.Error("state values differ from doc.go")
	}

	// A PubSub's block.
	psWant := map[int]string{
		psOffVersion: "version", psOffPolicy: "policy", psOffElemSize: "element size",
		psOffSubs: "subscribers", psOffSlots: "slots", psOffSlotSize: "slot size",
		psOffTableOff: "offset of the subscriber table", psOffDataOff: "offset of the slots",
		psHeaderEnd: "zero", psOffTail: "tail", psOffLimit: "limit", psOffNotEmpty: "not-empty",
		psOffNotFull: "not-full", psOffPublisher: "publisher's owner word", psOffTable: "subscriber table",
		offSleepsEmpty: "sleeps on it, wake-ups of it", psOffLaps: "subscribers lapped", psOffMissed: "missed",
		psOffDeadSubs: "dead subscribers' entries", offSleepsFull: "sleeps on it, wake-ups of it",
		psOffTakeovers: "dead publishers' roles", psOffPlainTail: "tail is stored plainly",
		psOffPlainSubs: "subscribers store their cursors plainly",
		offWaitsFull:   "publisher that waited for room", offWaitsEmpty: "subscribers that waited for a message",
	}
	for off, text := range psWant {
		if !strings.Contains(psOffsets[off], text) {
			t.Errorf("doc.go, Publish and subscribe: offset %d says %q, want it to mention %q", off, psOffsets[off], text)
		}
	}
	if len(psOffsets) != len(psWant) {
		t.Errorf("doc.go, Publish and subscribe: %d offsets, the code has %d", len(psOffsets), len(psWant))
	}
	l, err := newPSLayout(Lossy, 8, 3, 12)
	if err != nil {
		t.Fatal(err)
	}
	if l.tableOff != psOffTable || l.slotSize != 8+16 || l.dataOff != align64(psOffTable+3*psEntrySize) ||
		psHeaderSize-psHeaderEnd != 16 || psEntryOwner != 0 || psEntryCursor != 8 || psEntryPlain != 16 ||
		reflect.TypeFor[psEntry]().Field(2).Offset != psEntryPlain ||
		reflect.TypeFor[psEntry]().Size() != psEntrySize || reflect.TypeFor[psSlot[[3]uint32]]().Field(1).Offset != 8 ||
		offWakesEmpty != offSleepsEmpty+8 || offWakesFull != offSleepsFull+8 {
		t.Errorf("the PubSub layout differs from doc.go: %+v", l)
	}
	for _, s := range []string{"(384)", "its owner word (0: free) at 0, its cursor at 8", "at 16 1 while it counts", "the value from byte 8"} {
		if !strings.Contains(string(b), s) {
			t.Errorf("doc.go does not say %q", s)
		}
	}
}

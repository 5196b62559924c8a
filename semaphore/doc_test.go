package semaphore

import (
	"os"
	"strconv"
	"strings"
	"testing"
	"unsafe"
)

// TestDocLayout checks the layout table in doc.go against the offsets the
// code uses.
func TestDocLayout(t *testing.T) {
	b, err := os.ReadFile("doc.go")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]uintptr{
		"mutex owner":         offState,
		"rlock owner":         offState,
		"rlock depth:":        offDepth,
		"mutex wake":          offWake,
		"rlock wake":          offRWake,
		"rwmutex writers'":    offRWWake,
		"mutex sleepers":      offWake + 4,
		"rlock sleepers":      offRWake + 4,
		"rwmutex writers":     offRWWake + 4,
		"semaphore state:":    offCount,
		"semaphore bound":     offBound,
		"semaphore per":       semSlotsOff,
		"semaphore sizeslot":  semSlotSize * semQueue,
		"event bits":          offEvent,
		"cond next":           offWait,
		"cond notified:":      offNotify,
		"cond sequence,":      offSeq,
		"cond slots":          offSlots,
		"cond payload":        offLock,
		"cond block":          offLockGen,
		"cond kind":           offLockKind,
		"cond waiters":        offOver,
		"cond generation,":    offOverGen,
		"cond per":            condRingOff,
		"cond sizeslot":       condSlotSize,
		"barrier state":       offBarrier,
		"barrier parties":     offParties,
		"barrier per":         slotsOff,
		"barrier sizeslot":    slotSize,
		"rwmutex writer":      offState,
		"rwmutex dead":        offRWDead,
		"rwmutex wake":        offRWSeq,
		"rwmutex readers":     offRWSleep,
		"rwmutex drain":       offRWWSeq,
		"rwmutex slots:":      offRWSlots,
		"rwmutex claimed":     offRWClaimed,
		"rwmutex per":         rwSlotsOff,
		"rwmutex sizeslot":    rwSlotSize * rwSlots,
		"mutex counters:":     offMutexStats,
		"rlock counters,":     offRLockStats,
		"semaphore counters:": offSemStats,
		"event counters:":     offEventStats,
		"cond counters:":      offCondStats,
		"barrier counters:":   offBarrierStats,
		"rwmutex counters:":   offRWStats,
		"mutex sizecnt":       8 * uintptr(len(mutexCounters.stats)),
		"rlock sizecnt":       8 * uintptr(len(rlockCounters.stats)),
		"semaphore sizecnt2":  8 * uintptr(len(semCounters.stats)),
		"event sizecnt":       8 * uintptr(len(eventCounters.stats)),
		"cond sizecnt":        8 * uintptr(len(condCounters.stats)),
		"barrier sizecnt":     8 * uintptr(len(barrierCounters.stats)),
		"rwmutex sizecnt":     8 * uintptr(len(rwmutexCounters.stats)),
		"owner word size":     unsafe.Sizeof(uint64(0)),
		"semaphore sizecnt":   unsafe.Sizeof(uint64(0)),
	}
	got := map[string]uintptr{}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(strings.TrimPrefix(line, "//"))
		if len(f) < 4 || !strings.Contains("mutex rlock semaphore event cond barrier rwmutex", f[0]) {
			continue
		}
		var off uintptr
		for _, c := range f[1] {
			if c < '0' || c > '9' {
				off = ^uintptr(0)
				break
			}
			off = off*10 + uintptr(c-'0')
		}
		if off == ^uintptr(0) {
			continue
		}
		got[f[0]+" "+f[3]] = off
		if (f[0] == "barrier" || f[0] == "cond") && f[2] == "16*n" {
			got[f[0]+" sizeslot"] = 16
		}
		if f[0] == "rwmutex" && f[2] == "64*64" {
			got["rwmutex sizeslot"] = 64 * 64
		}
		if strings.HasPrefix(f[3], "counters") {
			n, _ := strconv.Atoi(f[2])
			k := f[0] + " sizecnt"
			if f[0] == "semaphore" {
				k += "2"
			}
			got[k] = uintptr(n)
		}
		if f[0] == "mutex" && f[3] == "owner" {
			got["owner word size"] = uintptr(f[2][0] - '0')
		}
		if f[0] == "semaphore" && f[2] == "16*64" {
			got["semaphore sizeslot"] = 16 * 64
		}
		if f[0] == "semaphore" && f[1] == "0" {
			got["semaphore sizecnt"] = uintptr(f[2][0] - '0')
		}
	}
	for k, v := range want {
		if g, ok := got[k]; !ok || g != v {
			t.Errorf("doc.go %q: offset %d (found %v), code uses %d", k, g, ok, v)
		}
	}
	if mutexInfo.size < lineSize || barrierInfo.size < slotsOff || semInfo.size != semSlotsOff+semQueue*semSlotSize ||
		condInfo.size < condRingOff {
		t.Error("payloads smaller than a cache line")
	}
}

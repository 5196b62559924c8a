//go:build linux && (amd64 || arm64)

package owner

import (
	"encoding/binary"
	"os"
	"strconv"
	"testing"
)

// BenchmarkAlive asks whether another live process is attached, beside
// its peer: reading the process's /proc/PID/stat twice (its start time,
// then whether it is a zombie), as a pid-and-start-time check does.
func BenchmarkAlive(b *testing.B) {
	f := memfd(b)
	tb := join(b, f)
	p := startJoined(b, f)
	var w [8]byte
	if _, err := f.ReadAt(w[:], 0); err != nil {
		b.Fatal(err)
	}
	child := binary.LittleEndian.Uint64(w[:])
	b.Run("ofd-lock", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if !tb.Alive(child) {
				b.Fatal("a live child taken for dead")
			}
		}
	})
	b.Run("proc-stat", func(b *testing.B) {
		path := "/proc/" + strconv.Itoa(p) + "/stat"
		b.ReportAllocs()
		for b.Loop() {
			for range 2 {
				if _, err := os.ReadFile(path); err != nil {
					b.Fatal(err)
				}
			}
		}
	})
}

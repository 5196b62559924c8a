package share

import (
	"os"
	"strconv"
	"strings"
	"testing"
)

// TestDocLayout checks the header table in share.go against the offsets
// the code uses.
func TestDocLayout(t *testing.T) {
	b, err := os.ReadFile("share.go")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]int{"ctypes": offCode, "element": offElemSize, "flags:": offFlags,
		"payload": offLock, "block": offLockGen, "number": offLen, "write": OffSeq}
	got := map[string]int{}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(strings.TrimPrefix(line, "//"))
		if len(f) < 3 {
			continue
		}
		off, err1 := strconv.Atoi(f[0])
		_, err2 := strconv.Atoi(f[1])
		if err1 == nil && err2 == nil {
			got[f[2]] = off
		}
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("share.go's table puts %q at %d, the code at %d", k, got[k], v)
		}
	}
	if !strings.Contains(string(b), "The elements follow at offset 64") || DataOffset != 64 {
		t.Error("data offset")
	}
}

//go:build linux && (amd64 || arm64)

package main

import (
	"encoding/binary"
	"os"
	"strings"
	"testing"

	"github.com/shmkit/shmkit/internal/testproc"
	"github.com/shmkit/shmkit/shm"
)

// TestNewerFormat: a segment of a newer format than this build's, left by
// a dead creator, is listed by ls with its error, refused by info (exit 4),
// never removed by gc, which cannot tell whether a newer program uses it,
// and removed by rm.
func TestNewerFormat(t *testing.T) {
	name := testName(t)
	testproc.Start(t, childCreate, testproc.Arg(name)).Succeed()
	f, err := os.OpenFile(shm.Dir+"/"+name, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	var v [4]byte
	binary.LittleEndian.PutUint32(v[:], 1<<16) // the version word, at 8 in every format
	_, err = f.WriteAt(v[:], 8)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}

	out, _ := want(t, 0, "ls")
	if !strings.Contains(out, name) || !strings.Contains(out, "unsupported format version") {
		t.Errorf("ls:\n%s", out)
	}
	want(t, exitBadSeg, "info", name)
	if r := gcFor(t, name); r.Action != actSkipped || !exists(name) {
		t.Fatalf("gc of a segment of a newer format: %+v, exists %v", r, exists(name))
	}
	want(t, 0, "rm", name)
	if exists(name) {
		t.Fatal("rm left the segment of a newer format")
	}
}

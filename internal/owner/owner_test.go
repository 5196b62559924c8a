//go:build linux && (amd64 || arm64)

package owner

import (
	"os"
	"os/exec"
	"testing"

	"github.com/shmkit/shmkit/internal/sys"
)

func TestOwnerWords(t *testing.T) {
	me, err := Me()
	if err != nil {
		t.Fatal(err)
	}
	if me == 0 || me&1 != 0 || Pid(me) != os.Getpid() {
		t.Fatalf("Me() = %#x (pid %d), this is pid %d", me, Pid(me), os.Getpid())
	}
	p, err := sys.Self()
	if err != nil {
		t.Fatal(err)
	}
	if Word(p.Pid, p.Start) != me {
		t.Fatalf("Word(%d, %d) = %#x, Me() = %#x", p.Pid, p.Start, Word(p.Pid, p.Start), me)
	}
	if !Alive(me) || !Alive(me|1) {
		t.Error("this process is not alive")
	}
	if Alive(0) || Alive(1) {
		t.Error("owner word 0 names a live process")
	}
}

func TestOwnerDead(t *testing.T) {
	cmd := exec.Command("true")
	if err := cmd.Start(); err != nil {
		t.Skip("no child process:", err)
	}
	pid := int32(cmd.Process.Pid)
	child, err := sys.Lookup(pid)
	if err != nil {
		cmd.Wait()
		t.Skip("child gone before it was looked up:", err)
	}
	w := Word(pid, child.Start)
	cmd.Wait()
	if Alive(w) {
		t.Errorf("reaped child %d reported alive", pid)
	}
	// Another start time on a live pid is another process.
	me, _ := Me()
	if Alive(me + 2) {
		t.Error("a pid with another start time reported alive")
	}
}

//go:build linux && (amd64 || arm64)

package process

import (
	"slices"
	"testing"

	"github.com/shmkit/shmkit/ringbuffer"
)

// TestParentActiveChildren: Parent in the main process, a child and a
// grandchild; ActiveChildren lists the children not yet exited, daemons
// too, and no child once Join returned for it.
func TestParentActiveChildren(t *testing.T) {
	if info, ok := Parent(); ok {
		t.Errorf("Parent() in the main process = %+v, true", info)
	}
	q, err := ringbuffer.NewQueue[childReport](8)
	if err != nil {
		t.Fatal(err)
	}
	c := New(tgtNested, currentArg{Q: q}, Name("child"))
	start(t, c)
	if code := join(t, c); code != 0 {
		t.Fatalf("%s: exit code %d", c, code)
	}
	gr, err := q.TryGet()
	if err != nil {
		t.Fatal(err)
	}
	cr, err := q.TryGet()
	if err != nil {
		t.Fatal(err)
	}
	if want := Current(); !cr.HasParent || cr.Parent != want {
		t.Errorf("Parent() in %s = %+v, %v; want %+v", c, cr.Parent, cr.HasParent, want)
	}
	if !gr.HasParent || gr.Parent != cr.Info {
		t.Errorf("Parent() in the grandchild = %+v, %v; want %+v", gr.Parent, gr.HasParent, cr.Info)
	}

	if got := ActiveChildren(); len(got) != 0 {
		t.Fatalf("ActiveChildren() with none running = %v", got)
	}
	cl, dcl := newCtl(t), newCtl(t)
	p := New(tgtWait, cl, Name("active"))
	d := New(tgtWait, dcl, Name("active daemon"), Daemon(true))
	start(t, p)
	start(t, d)
	if got := ActiveChildren(); !slices.Equal(got, []*Process{p, d}) {
		t.Errorf("ActiveChildren() = %v, want [%s %s]", got, p, d)
	}
	waitEvent(t, p, cl.Running, "the child to run")
	if err := cl.Release.Set(); err != nil {
		t.Fatal(err)
	}
	join(t, p)
	if got := ActiveChildren(); !slices.Equal(got, []*Process{d}) {
		t.Errorf("ActiveChildren() after Join = %v, want [%s]", got, d)
	}
	d.Kill()
	join(t, d)
	if got := ActiveChildren(); len(got) != 0 {
		t.Errorf("ActiveChildren() after both exited = %v", got)
	}
}

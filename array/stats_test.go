//go:build linux && (amd64 || arm64)

package array

import (
	"errors"
	"testing"

	"github.com/shmkit/shmkit/internal/shmtest"
	"github.com/shmkit/shmkit/semaphore"
	"github.com/shmkit/shmkit/shm"
)

// TestStatsOwnerDead: a child SIGKILLed inside Update leaves the array's
// lock to this process, whose Copy gets ErrOwnerDead; Stats counts that
// owner death, shm.Metrics reads the same figures from the array's
// object, and a raw array has none.
func TestStatsOwnerDead(t *testing.T) {
	seg := testSeg(t)
	a, err := New[int64](4, shm.In(seg, "k"))
	if err != nil {
		t.Fatal(err)
	}
	p := shmtest.Start(t, mpChildTimeout, mpChildKill, seg.Name(), "point", "2")
	p.WaitPoint("in-f")
	p.Kill()
	if res := p.Wait(); !res.Killed() {
		t.Fatalf("the child ended with exit code %d:\n%s", res.ExitCode, res.Output)
	}
	if _, err := a.Copy(); !errors.Is(err, semaphore.ErrOwnerDead) {
		t.Fatalf("Copy after the holder died: %v, want ErrOwnerDead", err)
	}
	st := a.Stats()
	if st.OwnerDeaths != 1 {
		t.Errorf("stats after a holder died inside Update: %+v, want one owner death", st)
	}
	ms, err := shm.Metrics(a.o)
	if err != nil {
		t.Fatal(err)
	}
	want := []uint64{st.Waits, st.Sleeps, st.Wakes, st.OwnerDeaths}
	if len(ms) != len(want) || ms[3].Name != "owner_deaths" {
		t.Fatalf("metrics %+v, want the lock's %+v", ms, st)
	}
	for i, m := range ms {
		if m.Value != want[i] {
			t.Errorf("metric %s = %d, Stats has %d", m.Name, m.Value, want[i])
		}
	}

	raw, err := NewRaw[int64](4, shm.In(seg, "raw"))
	if err != nil {
		t.Fatal(err)
	}
	if ms, err := shm.Metrics(raw.o); err != nil || len(ms) != 0 || raw.Stats() != (semaphore.LockStats{}) {
		t.Errorf("a raw array's metrics: %+v, %v; stats %+v; want none", ms, err, raw.Stats())
	}
}

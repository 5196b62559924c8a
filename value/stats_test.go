//go:build linux && (amd64 || arm64)

package value

import (
	"errors"
	"testing"

	"github.com/shmkit/shmkit/internal/shmtest"
	"github.com/shmkit/shmkit/semaphore"
	"github.com/shmkit/shmkit/shm"
)

// TestStatsOwnerDead: a child SIGKILLed inside Update leaves the value's
// lock to this process, whose Lock gets ErrOwnerDead; Stats counts that
// owner death, shm.Metrics reads the same figures from the value's
// object, and a raw value has none.
func TestStatsOwnerDead(t *testing.T) {
	seg := testSeg(t)
	vi, err := New[int64](0, shm.In(seg, "vi"))
	if err != nil {
		t.Fatal(err)
	}
	p := shmtest.Start(t, mpChildTimeout, mpChildKill, seg.Name(), "int", "point", "f-start")
	p.WaitPoint("f-start")
	p.Kill()
	if res := p.Wait(); !res.Killed() {
		t.Fatalf("the child ended with exit code %d:\n%s", res.ExitCode, res.Output)
	}
	if err := vi.Lock(); !errors.Is(err, semaphore.ErrOwnerDead) {
		t.Fatalf("Lock after the holder died: %v, want ErrOwnerDead", err)
	}
	vi.Unlock()
	st := vi.Stats()
	if st.OwnerDeaths != 1 {
		t.Errorf("stats after a holder died inside Update: %+v, want one owner death", st)
	}
	ms, err := shm.Metrics(vi.o)
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

	raw, err := NewRaw[int64](0, shm.In(seg, "raw"))
	if err != nil {
		t.Fatal(err)
	}
	if ms, err := shm.Metrics(raw.o); err != nil || len(ms) != 0 || raw.Stats() != (semaphore.LockStats{}) {
		t.Errorf("a raw value's metrics: %+v, %v; stats %+v; want none", ms, err, raw.Stats())
	}
}

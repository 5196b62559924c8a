//go:build linux && (amd64 || arm64)

package shmap

import (
	"context"
	"errors"
	"fmt"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/shmkit/shmkit/internal/shmtest"
	"github.com/shmkit/shmkit/internal/testproc"
	"github.com/shmkit/shmkit/shm"
)

// statsKillChild opens the Map[int64, int64] its argument names ("seg
// name") and SIGKILLs itself inside the insert of key 1000, holding the
// lock of its part with the insert half done.
var statsKillChild = testproc.Register("shmap-stats-kill", func(c *testproc.Child) error {
	seg, f, err := shmtest.OpenArgs(c)
	if err != nil {
		return err
	}
	defer seg.Close()
	m, err := Open[int64, int64](context.Background(), seg, f[0])
	if err != nil {
		return err
	}
	testHook = func(_ *coll, p string) {
		if p == "inserted" {
			syscall.Kill(os.Getpid(), syscall.SIGKILL)
			for {
				time.Sleep(time.Hour)
			}
		}
	}
	return fmt.Errorf("Set returned (%v) instead of dying inside it", m.Set(1000, 1))
})

// checkMetrics fails t unless shm.Metrics reads st from o, in order.
func checkMetrics(t *testing.T, o *shm.Object, st MapStats) {
	t.Helper()
	ms, err := shm.Metrics(o)
	if err != nil {
		t.Fatal(err)
	}
	want := []shm.Metric{{Name: "len", Value: st.Len, Gauge: true}, {Name: "growths", Value: st.Growths},
		{Name: "garbage", Value: st.Garbage, Gauge: true}, {Name: "owner_deaths", Value: st.OwnerDeaths},
		{Name: "repairs", Value: st.Repairs}}
	if len(ms) != len(want) {
		t.Fatalf("metrics %+v, want %+v", ms, want)
	}
	for i, m := range ms {
		if m.Help == "" {
			t.Errorf("metric %s has no help", m.Name)
		}
		m.Help = ""
		if m != want[i] {
			t.Errorf("metric %d: %+v, want %+v", i, m, want[i])
		}
	}
}

// TestMapStats: a Map's counters follow its entries and growths, and
// after a holder is SIGKILLed inside an insert, the next operation's
// takeover and repair count one owner death and one repair; shm.Metrics
// reads the same figures as Stats.
func TestMapStats(t *testing.T) {
	seg, err := shm.Create(testproc.ShmName(t), 4<<20, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer seg.Close()
	m, err := New[int64, int64](shm.In(seg, "m"))
	if err != nil {
		t.Fatal(err)
	}
	defer m.Free()
	for k := range int64(500) {
		if err := m.Set(k, k); err != nil {
			t.Fatal(err)
		}
	}
	st, err := m.Stats()
	if err != nil {
		t.Fatal(err)
	}
	if st.Len != 500 || st.Growths == 0 || st.OwnerDeaths != 0 || st.Repairs != 0 {
		t.Fatalf("stats after 500 inserts: %+v, want 500 entries, growths, no deaths or repairs", st)
	}
	checkMetrics(t, m.root, st)

	p := testproc.Start(t, statsKillChild, testproc.Arg(seg.Name()+" m"), testproc.Timeout(time.Minute))
	if res := p.Wait(); !res.Killed() {
		t.Fatalf("the child ended with exit code %d:\n%s", res.ExitCode, res.Output)
	}
	if err := m.Set(1000, 2); err != nil { // takes the dead child's lock, repairs
		t.Fatal(err)
	}
	after, err := m.Stats()
	if err != nil {
		t.Fatal(err)
	}
	if after.OwnerDeaths != 1 || after.Repairs != 1 || after.Len != 501 {
		t.Errorf("stats after a holder died inside an insert: %+v, want 1 owner death, 1 repair, 501 entries", after)
	}
	checkMetrics(t, m.root, after)
}

// TestListStats: a List's counters, and its metrics.
func TestListStats(t *testing.T) {
	l, err := NewList[string]()
	if err != nil {
		t.Fatal(err)
	}
	defer l.Free()
	for i := range 100 {
		if err := l.Append(fmt.Sprint(i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Set(0, "overwritten"); err != nil {
		t.Fatal(err)
	}
	st, err := l.Stats()
	if err != nil {
		t.Fatal(err)
	}
	if st.Len != 100 || st.Growths == 0 || st.Garbage == 0 {
		t.Errorf("stats: %+v, want 100 elements, growths, garbage", st)
	}
	checkMetrics(t, l.c.o, MapStats(st))
	l.Close()
	if _, err := l.Stats(); !errors.Is(err, ErrClosed) {
		t.Errorf("Stats after Close: %v, want ErrClosed", err)
	}
}

//go:build linux && (amd64 || arm64)

package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/shmkit/shmkit/internal/mem"
	"github.com/shmkit/shmkit/internal/testproc"
	"github.com/shmkit/shmkit/ringbuffer"
	"github.com/shmkit/shmkit/shm"
)

// kindNoReader is a kind no package registers a metrics reader for.
const kindNoReader = shm.Kind(99)

// The tests' counter objects are bytes objects of counterSize bytes: a
// count of operations in the first word, a depth (a gauge) in the second.
const counterSize = 16

func init() {
	shm.RegisterMetrics(shm.KindBytes, func(o *shm.Object) ([]shm.Metric, error) {
		b := o.Bytes()
		if len(b) < counterSize {
			return nil, fmt.Errorf("test counter %q: %w: %d bytes", o.Name(), shm.ErrCorrupt, len(b))
		}
		return []shm.Metric{
			{Name: "ops", Help: "Operations done.", Value: atomic.LoadUint64(mem.Uint64(b, 0))},
			{Name: "depth", Help: "Items waiting.", Value: atomic.LoadUint64(mem.Uint64(b, 8)), Gauge: true},
		}, nil
	})
}

// counterSegment creates a segment holding a counter "ops" and an object
// of a kind without a reader, "opaque".
func counterSegment(t *testing.T) *shm.Segment {
	t.Helper()
	seg, err := shm.Create(testName(t), 1<<20, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { seg.Free() })
	if _, err := shm.Place(shm.Spec{Kind: shm.KindBytes, Size: counterSize}, nil, shm.In(seg, "ops")); err != nil {
		t.Fatal(err)
	}
	if _, err := shm.Place(shm.Spec{Kind: kindNoReader, Size: 8}, nil, shm.In(seg, "opaque")); err != nil {
		t.Fatal(err)
	}
	return seg
}

// childCount opens the segment its argument names and counts in its
// object "ops", a step every millisecond, with a depth of 7, until the
// parent lets it go from the point "counting".
var childCount = testproc.Register("shmctl-count", func(c *testproc.Child) error {
	ctx := context.Background()
	seg, err := shm.Open(ctx, c.Arg(), nil)
	if err != nil {
		return err
	}
	defer seg.Close()
	o, err := seg.Find(ctx, "ops", shm.Spec{Kind: shm.KindBytes, Size: counterSize})
	if err != nil {
		return err
	}
	ops, depth := mem.Uint64(o.Bytes(), 0), mem.Uint64(o.Bytes(), 8)
	atomic.StoreUint64(depth, 7)
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			case <-time.After(time.Millisecond):
				atomic.AddUint64(ops, 1)
			}
		}
	}()
	c.Point("counting")
	close(stop)
	<-done
	return nil
})

type topOutput struct {
	Time     string           `json:"time"`
	Interval float64          `json:"interval"`
	Segments []topSegmentJSON `json:"segments"`
}

// TestTopJSON: top -json reads the counts a child process moves, with
// their rates over -d, and shows an object without a reader by its kind.
func TestTopJSON(t *testing.T) {
	seg := counterSegment(t)
	p := testproc.Start(t, childCount, testproc.Arg(seg.Name()))
	p.WaitPoint("counting")
	defer p.Succeed()

	out, _ := want(t, 0, "top", "-json", "-d", "200ms", seg.Name())
	top := decode[topOutput](t, out)
	if top.Interval < 0.2 || len(top.Segments) != 1 {
		t.Fatalf("top -json:\n%s", out)
	}
	s := top.Segments[0]
	if s.Name != seg.Name() || s.ID != hex64(seg.ID()) || s.Error != "" || len(s.Objects) != 2 {
		t.Fatalf("segment %+v\n%s", s, out)
	}
	ops, opaque := s.Objects[0], s.Objects[1]
	if ops.Name != "ops" || ops.Kind != "bytes" || !ops.Ready || ops.Error != "" || len(ops.Metrics) != 2 {
		t.Fatalf("object ops %+v\n%s", ops, out)
	}
	if m := ops.Metrics[0]; m.Name != "ops" || m.Gauge || m.Value == 0 || m.Rate == nil || *m.Rate <= 0 || m.Help == "" {
		t.Fatalf("count %+v\n%s", m, out)
	}
	if m := ops.Metrics[1]; m.Name != "depth" || !m.Gauge || m.Value != 7 || m.Rate != nil {
		t.Fatalf("gauge %+v\n%s", m, out)
	}
	if opaque.Name != "opaque" || opaque.Kind != "Kind(99)" || opaque.Metrics != nil || opaque.Error != "" {
		t.Fatalf("object without a reader %+v\n%s", opaque, out)
	}

	// -d 0: one reading, no rates.
	out, _ = want(t, 0, "top", "-json", "-d", "0", seg.Name())
	top = decode[topOutput](t, out)
	if m := top.Segments[0].Objects[0].Metrics[0]; top.Interval != 0 || m.Value == 0 || m.Rate != nil {
		t.Fatalf("top -json -d 0:\n%s", out)
	}
}

// TestTopScreens: top -n 2 prints two screens, the second with rates.
func TestTopScreens(t *testing.T) {
	seg := counterSegment(t)
	p := testproc.Start(t, childCount, testproc.Arg(seg.Name()))
	p.WaitPoint("counting")
	defer p.Succeed()

	out, _ := want(t, 0, "top", "-n", "2", "-d", "50ms", seg.Name(), seg.Name()) // a name given twice is shown once
	screens := strings.Split(out, "shmctl top  ")[1:]
	if len(screens) != 2 || strings.Contains(out, clearScreen) {
		t.Fatalf("want 2 screens, not cleared (not a terminal):\n%s", out)
	}
	row := func(screen, object, metric string) []string {
		for _, l := range strings.Split(screen, "\n") {
			f := strings.Fields(l)
			if len(f) >= 4 && f[0] == seg.Name() && f[1] == object && f[3] == metric {
				return f
			}
		}
		t.Fatalf("no row for %s %s in:\n%s", object, metric, screen)
		return nil
	}
	if f := row(screens[0], "ops", "ops"); len(f) != 6 || f[2] != "bytes" || f[5] != "-" {
		t.Fatalf("first screen's ops row %q:\n%s", f, out)
	}
	if f := row(screens[1], "ops", "ops"); len(f) != 6 || f[4] == "0" || f[5] == "-" || strings.HasPrefix(f[5], "0.0") {
		t.Fatalf("second screen's ops row %q (want a rate > 0):\n%s", f, out)
	}
	if n := strings.Count(screens[1], " depth "); n != 1 {
		t.Fatalf("%d depth rows, want 1:\n%s", n, out)
	}
	if f := row(screens[1], "ops", "depth"); len(f) != 6 || f[4] != "7" || f[5] != "-" {
		t.Fatalf("gauge row %q:\n%s", f, out)
	}
	if f := row(screens[1], "opaque", "-"); len(f) != 6 || f[2] != "Kind(99)" {
		t.Fatalf("row of an object without a reader %q:\n%s", f, out)
	}
}

func TestTopUsage(t *testing.T) {
	seg := counterSegment(t)
	want(t, 2, "top")
	want(t, 2, "top", "-bogus", seg.Name())
	want(t, 2, "top", "-n", "-1", seg.Name())
	want(t, 2, "top", "-d", "0", seg.Name())
	want(t, 2, "top", "-d", "-1s", seg.Name())
	want(t, 2, "top", "-d", "soon", seg.Name())
	want(t, 2, "top", "-json", "-n", "2", seg.Name())
	want(t, 2, "top", "../etc/passwd")
	if _, e := want(t, 3, "top", "-n", "1", seg.Name(), testName(t)); !strings.Contains(e, "does not exist") {
		t.Fatalf("stderr %q", e)
	}
	want(t, 4, "top", "-json", plant(t, true))
	if out, _ := want(t, 0, "top", "-h"); !strings.Contains(out, "usage: shmctl top") {
		t.Fatalf("top -h: %q", out)
	}
	if out, _ := want(t, 0, "help"); !strings.Contains(out, "shmctl top [-n N]") {
		t.Fatalf("help lacks top:\n%s", out)
	}
}

// TestTopFollowsChanges: objects freed and made, and a segment removed,
// made again under its name, while top watches.
func TestTopFollowsChanges(t *testing.T) {
	seg := counterSegment(t)
	name := seg.Name()
	w := newWatcher([]string{name})
	defer w.close()
	objects := func(snap snapshot) string {
		ss := snap.segs[0]
		if ss.err != nil {
			return "error: " + ss.err.Error()
		}
		var s []string
		for _, o := range ss.objects {
			s = append(s, o.info.Name)
		}
		slices.Sort(s)
		return strings.Join(s, " ")
	}
	first := w.read()
	if got := objects(first); got != "opaque ops" {
		t.Fatalf("objects %q", got)
	}

	ops, err := seg.Find(context.Background(), "ops", shm.Spec{Kind: shm.KindBytes})
	if err != nil {
		t.Fatal(err)
	}
	atomic.StoreUint64(mem.Uint64(ops.Bytes(), 0), 10)
	if err := ops.Free(); err != nil {
		t.Fatal(err)
	}
	// "ops" made again, elsewhere, and a new object.
	values := map[string]uint64{"later": 5, "ops": 6}
	for _, name := range []string{"later", "ops"} {
		o, err := shm.Place(shm.Spec{Kind: shm.KindBytes, Size: 64}, nil, shm.In(seg, name))
		if err != nil {
			t.Fatal(err)
		}
		atomic.StoreUint64(mem.Uint64(o.Bytes(), 0), values[name])
	}
	second := w.read()
	if got := objects(second); got != "later opaque ops" {
		t.Fatalf("after a free and a place: objects %q", got)
	}
	for _, o := range second.segs[0].objects {
		if m := o.metrics; o.info.Kind == shm.KindBytes && (len(m) != 2 || m[0].Value != values[o.info.Name]) {
			t.Fatalf("metrics of the new object %s: %+v", o.info.Name, m)
		}
	}
	if r := rates(first, second); len(r) != 0 {
		t.Fatalf("rates across two objects of the same name: %v", r)
	}

	// Removed: an error for the name, and the segment let go.
	if err := seg.Free(); err != nil {
		t.Fatal(err)
	}
	third := w.read()
	if got := objects(third); !strings.Contains(got, "does not exist") || len(w.segs) != 0 {
		t.Fatalf("after the segment was removed: %q, %d open", got, len(w.segs))
	}

	// Made again under the same name: read anew, with no rate across.
	again, err := shm.Create(name, 1<<20, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer again.Free()
	o, err := shm.Place(shm.Spec{Kind: shm.KindBytes, Size: counterSize}, nil, shm.In(again, "later"))
	if err != nil {
		t.Fatal(err)
	}
	atomic.StoreUint64(mem.Uint64(o.Bytes(), 0), 1)
	fourth := w.read()
	if got := objects(fourth); got != "later" || fourth.segs[0].id != again.ID() {
		t.Fatalf("after the segment was made again: %q, id %x want %x", got, fourth.segs[0].id, again.ID())
	}
	if r := rates(second, fourth); len(r) != 0 {
		t.Fatalf("rates across two segments of the same name: %v", r)
	}
}

// childTop runs top until interrupted, writing its screens to the file its
// argument names before the segment's name.
var childTop = testproc.Register("shmctl-top", func(c *testproc.Child) error {
	file, name, _ := strings.Cut(c.Arg(), " ")
	f, err := os.Create(file)
	if err != nil {
		return err
	}
	defer f.Close()
	if code := run([]string{"top", "-d", "10ms", name}, f, os.Stderr); code != 0 {
		return fmt.Errorf("top exit %d", code)
	}
	_, err = fmt.Fprintln(f, "ended")
	return err
})

// TestTopInterrupt: SIGINT ends top cleanly, with exit code 0.
func TestTopInterrupt(t *testing.T) {
	seg := counterSegment(t)
	file := filepath.Join(t.TempDir(), "screens")
	p := testproc.Start(t, childTop, testproc.Arg(file+" "+seg.Name()))
	// Wait for a second screen: top has set up its signal handling.
	for guard := time.Now(); ; time.Sleep(5 * time.Millisecond) {
		b, _ := os.ReadFile(file)
		if strings.Count(string(b), "shmctl top  ") >= 2 {
			break
		}
		if time.Since(guard) > time.Minute {
			t.Fatalf("top printed no second screen in a minute:\n%s", b)
		}
	}
	if err := syscall.Kill(p.Pid(), syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	if r := p.Succeed(); r.Killed() {
		t.Fatalf("SIGINT killed top: %+v", r)
	}
	if b, _ := os.ReadFile(file); !strings.HasSuffix(string(b), "ended\n") {
		t.Fatalf("top did not return after SIGINT:\n%s", b)
	}
}

// childRing opens the ring "jobs" of the segment its argument names,
// leaves 3 messages in it, and then pushes and pops one message a
// millisecond until the parent lets it go from the point "moving".
var childRing = testproc.Register("shmctl-ring", func(c *testproc.Child) error {
	ctx := context.Background()
	seg, err := shm.Open(ctx, c.Arg(), nil)
	if err != nil {
		return err
	}
	defer seg.Close()
	r, err := ringbuffer.OpenRing[uint64](ctx, seg, "jobs")
	if err != nil {
		return err
	}
	defer r.Close()
	for i := range uint64(3) {
		if err := r.TryPush(i); err != nil {
			return err
		}
	}
	stop, done := make(chan struct{}), make(chan error, 1)
	go func() {
		for i := uint64(3); ; i++ {
			select {
			case <-stop:
				done <- nil
				return
			case <-time.After(time.Millisecond):
			}
			if err := r.TryPush(i); err != nil {
				done <- err
				return
			}
			if _, err := r.TryPop(); err != nil {
				done <- err
				return
			}
		}
	}()
	c.Point("moving")
	close(stop)
	return <-done
})

// TestTopRing: top reads a live ring's counters through the reader its
// package registers, and their rates, while another process moves it.
func TestTopRing(t *testing.T) {
	seg, err := shm.Create(testName(t), 1<<20, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { seg.Free() })
	r, err := ringbuffer.NewSPSCRing[uint64](16, shm.In(seg, "jobs"))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	p := testproc.Start(t, childRing, testproc.Arg(seg.Name()))
	p.WaitPoint("moving")
	defer p.Succeed()

	out, _ := want(t, 0, "top", "-json", "-d", "200ms", seg.Name())
	top := decode[topOutput](t, out)
	if len(top.Segments) != 1 || len(top.Segments[0].Objects) != 1 {
		t.Fatalf("top -json:\n%s", out)
	}
	o := top.Segments[0].Objects[0]
	if o.Name != "jobs" || o.Kind != "ring" || o.Error != "" {
		t.Fatalf("object %+v\n%s", o, out)
	}
	got := map[string]metricJSON{}
	for _, m := range o.Metrics {
		got[m.Name] = m
	}
	for _, name := range []string{"pushed", "popped"} {
		if m := got[name]; m.Gauge || m.Value < 3 || m.Rate == nil || *m.Rate <= 0 {
			t.Errorf("%s: %+v", name, m)
		}
	}
	if m := got["len"]; !m.Gauge || m.Value != 3 || m.Rate != nil {
		t.Errorf("len: %+v", m)
	}
	if t.Failed() {
		t.Logf("top -json:\n%s", out)
	}
}

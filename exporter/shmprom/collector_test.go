//go:build linux && (amd64 || arm64)

package shmprom_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/shmkit/shmkit/exporter/shmprom"
	"github.com/shmkit/shmkit/internal/mem"
	"github.com/shmkit/shmkit/internal/testproc"
	"github.com/shmkit/shmkit/shm"
)

func TestMain(m *testing.M) { testproc.Main(m) }

const (
	// kindCounter is the tests' own kind: a count of operations in its
	// first word, a depth (a gauge) in its second.
	kindCounter = shm.Kind(1001)
	counterSize = 16
	// kindNoReader is a kind no package reads.
	kindNoReader = shm.Kind(99)
)

func init() {
	shm.RegisterMetrics(kindCounter, func(o *shm.Object) ([]shm.Metric, error) {
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

// newSegment creates a segment under name holding a counter "ops" and an
// object without a reader, "opaque".
func newSegment(t *testing.T, name string) *shm.Segment {
	t.Helper()
	seg, err := shm.Create(name, 1<<20, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { seg.Free() })
	if _, err := shm.Place(shm.Spec{Kind: kindCounter, Size: counterSize}, nil, shm.In(seg, "ops")); err != nil {
		t.Fatal(err)
	}
	if _, err := shm.Place(shm.Spec{Kind: kindNoReader, Size: 8}, nil, shm.In(seg, "opaque")); err != nil {
		t.Fatal(err)
	}
	return seg
}

// childCount opens the segment its argument names, adds 41 to the count of
// its object "ops" and sets its depth to 7.
var childCount = testproc.Register("shmprom-count", func(c *testproc.Child) error {
	ctx := context.Background()
	seg, err := shm.Open(ctx, c.Arg(), nil)
	if err != nil {
		return err
	}
	defer seg.Close()
	o, err := seg.Find(ctx, "ops", shm.Spec{Kind: kindCounter, Size: counterSize})
	if err != nil {
		return err
	}
	for range 41 {
		atomic.AddUint64(mem.Uint64(o.Bytes(), 0), 1)
	}
	atomic.StoreUint64(mem.Uint64(o.Bytes(), 8), 7)
	return nil
})

func newCollector(t *testing.T, patterns ...string) *shmprom.Collector {
	t.Helper()
	c, err := shmprom.NewCollector(patterns...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// expect is the exposition of the tests' counters for the segments given
// as name, count, depth, and of the scrape errors.
func expect(errs int, segs ...any) string {
	var ops, depth strings.Builder
	for i := 0; i < len(segs); i += 3 {
		fmt.Fprintf(&ops, "shmkit_kind_1001_ops_total{object=\"ops\",segment=%q} %d\n", segs[i], segs[i+1])
		fmt.Fprintf(&depth, "shmkit_kind_1001_depth{object=\"ops\",segment=%q} %d\n", segs[i], segs[i+2])
	}
	return `# HELP shmkit_exporter_scrape_errors_total Segments and objects whose metrics a scrape could not read, since the exporter started.
# TYPE shmkit_exporter_scrape_errors_total counter
shmkit_exporter_scrape_errors_total ` + fmt.Sprint(errs) + `
# HELP shmkit_kind_1001_depth Items waiting.
# TYPE shmkit_kind_1001_depth gauge
` + depth.String() + `# HELP shmkit_kind_1001_ops_total Operations done.
# TYPE shmkit_kind_1001_ops_total counter
` + ops.String()
}

// compare collects c and compares every metric it exports with want.
func compare(t *testing.T, c prometheus.Collector, want string) {
	t.Helper()
	if err := testutil.CollectAndCompare(c, strings.NewReader(want)); err != nil {
		t.Fatal(err)
	}
}

// TestCollect: the counts a child process moved in a live segment, as a
// counter and a gauge labelled with the segment and the object; an object
// without a reader is left out.
func TestCollect(t *testing.T) {
	seg := newSegment(t, testproc.ShmName(t))
	testproc.Start(t, childCount, testproc.Arg(seg.Name())).Succeed()
	c := newCollector(t, seg.Name())
	compare(t, c, expect(0, seg.Name(), 41, 7))
	if problems, err := testutil.CollectAndLint(c); err != nil || len(problems) > 0 {
		t.Fatalf("lint: %v %v", problems, err)
	}

	// Through a registry that checks what collectors send.
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(c)
	if err := testutil.GatherAndCompare(reg, strings.NewReader(expect(0, seg.Name(), 41, 7))); err != nil {
		t.Fatal(err)
	}
}

// TestSegmentsComeAndGo: a pattern exports a segment made after the
// Collector; a segment removed between scrapes drops out and is let go,
// and one made again under its name is read anew.
func TestSegmentsComeAndGo(t *testing.T) {
	base := testproc.ShmName(t)
	a := newSegment(t, base+"-a")
	c := newCollector(t, base+"-*")
	compare(t, c, expect(0, a.Name(), 0, 0))

	b := newSegment(t, base+"-b")
	testproc.Start(t, childCount, testproc.Arg(b.Name())).Succeed()
	compare(t, c, expect(0, a.Name(), 0, 0, b.Name(), 41, 7))

	if !mapped(t, a.Name()) {
		t.Fatalf("the collector does not hold %s open between scrapes", a.Name())
	}
	if err := a.Free(); err != nil {
		t.Fatal(err)
	}
	compare(t, c, expect(0, b.Name(), 41, 7))
	if mapped(t, a.Name()) {
		t.Fatalf("the collector still holds %s, removed", a.Name())
	}

	again := newSegment(t, a.Name())
	compare(t, c, expect(0, again.Name(), 0, 0, b.Name(), 41, 7))
	testproc.Start(t, childCount, testproc.Arg(again.Name())).Succeed()
	compare(t, c, expect(0, again.Name(), 41, 7, b.Name(), 41, 7))

	// Replaced between two scrapes, which never see the name missing.
	if err := again.Free(); err != nil {
		t.Fatal(err)
	}
	third := newSegment(t, a.Name())
	compare(t, c, expect(0, third.Name(), 0, 0, b.Name(), 41, 7))

	// An object freed and made again under its name, elsewhere: its
	// memory now holds another object.
	ops, err := b.Find(context.Background(), "ops", shm.Spec{Kind: kindCounter})
	if err != nil {
		t.Fatal(err)
	}
	if err := ops.Free(); err != nil {
		t.Fatal(err)
	}
	other, err := shm.Place(shm.Spec{Kind: kindNoReader, Size: 64}, nil, shm.In(b, "other"))
	if err != nil {
		t.Fatal(err)
	}
	atomic.StoreUint64(mem.Uint64(other.Bytes(), 0), 99)
	if _, err := shm.Place(shm.Spec{Kind: kindCounter, Size: counterSize}, nil, shm.In(b, "ops")); err != nil {
		t.Fatal(err)
	}
	compare(t, c, expect(0, third.Name(), 0, 0, b.Name(), 0, 0))
}

// TestNamedSegments: segments named without a pattern are read by name;
// a missing one is no error, a bad one is, and one removed is let go.
func TestNamedSegments(t *testing.T) {
	base := testproc.ShmName(t)
	seg := newSegment(t, base+"-a")
	testproc.Start(t, childCount, testproc.Arg(seg.Name())).Succeed()
	if err := os.WriteFile(shm.Dir+"/"+base+"-bad", []byte("not a segment"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Remove(shm.Dir + "/" + base + "-bad") })
	c := newCollector(t, seg.Name(), base+"-missing", base+"-bad", seg.Name())
	compare(t, c, expect(1, seg.Name(), 41, 7))
	if err := seg.Free(); err != nil {
		t.Fatal(err)
	}
	compare(t, c, expect(2))
	if mapped(t, seg.Name()) {
		t.Fatalf("the collector still holds %s, removed", seg.Name())
	}
}

// mapped reports whether this process has the segment of that name (or
// the one it named before its removal) open.
func mapped(t *testing.T, name string) bool {
	t.Helper()
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	for _, fd := range fds {
		link, err := os.Readlink(filepath.Join("/proc/self/fd", fd.Name()))
		if err == nil && strings.TrimSuffix(link, " (deleted)") == shm.Dir+"/"+name {
			return true
		}
	}
	return false
}

// TestScrapeErrors: an object whose metrics cannot be read and a file
// with a corrupted header are counted as errors; the rest is exported.
func TestScrapeErrors(t *testing.T) {
	base := testproc.ShmName(t)
	seg := newSegment(t, base+"-a")
	// Too small for a counter: its reader reports it corrupted.
	if _, err := shm.Place(shm.Spec{Kind: kindCounter, Size: 8}, nil, shm.In(seg, "short")); err != nil {
		t.Fatal(err)
	}
	c := newCollector(t, base+"-*")
	compare(t, c, expect(1, seg.Name(), 0, 0))

	bad := append([]byte("shmkitSG"), make([]byte, 4096)...)
	bad[8] = 3 // format version 3, zero checksum
	if err := os.WriteFile(shm.Dir+"/"+base+"-bad", bad, 0o600); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Remove(shm.Dir + "/" + base + "-bad") })
	compare(t, c, expect(3, seg.Name(), 0, 0))
}

func TestNewCollectorInvalid(t *testing.T) {
	for _, p := range [][]string{nil, {"["}, {"ok", "a[b"}} {
		if _, err := shmprom.NewCollector(p...); !errors.Is(err, shmprom.ErrInvalid) {
			t.Errorf("NewCollector(%q): %v, want ErrInvalid", p, err)
		}
	}
}

func TestClose(t *testing.T) {
	seg := newSegment(t, testproc.ShmName(t))
	c := newCollector(t, seg.Name())
	reg := prometheus.NewRegistry()
	reg.MustRegister(c)
	if _, err := reg.Gather(); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if mapped(t, seg.Name()) {
		t.Fatal("Close left the segment open")
	}
	if err := c.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := reg.Gather(); !errors.Is(err, shmprom.ErrClosed) {
		t.Fatalf("Gather after Close: %v, want ErrClosed", err)
	}
}

func TestMetricName(t *testing.T) {
	for _, c := range []struct {
		kind shm.Kind
		m    shm.Metric
		name string
		vt   prometheus.ValueType
	}{
		{shm.KindQueue, shm.Metric{Name: "pushed"}, "shmkit_queue_pushed_total", prometheus.CounterValue},
		{shm.KindQueue, shm.Metric{Name: "depth", Gauge: true}, "shmkit_queue_depth", prometheus.GaugeValue},
		{shm.KindMutex, shm.Metric{Name: "sleeps_total"}, "shmkit_mutex_sleeps_total", prometheus.CounterValue},
		{shm.Kind(99), shm.Metric{Name: "Odd-Name"}, "shmkit_kind_99_odd_name_total", prometheus.CounterValue},
	} {
		if name, vt := shmprom.MetricName(c.kind, c.m); name != c.name || vt != c.vt {
			t.Errorf("MetricName(%v, %q) = %s, %v; want %s, %v", c.kind, c.m.Name, name, vt, c.name, c.vt)
		}
	}
}

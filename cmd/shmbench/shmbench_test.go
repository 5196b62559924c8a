//go:build linux && (amd64 || arm64)

package main

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/shmkit/shmkit/internal/shmtest"
	"github.com/shmkit/shmkit/process"
)

func TestMain(m *testing.M) {
	process.Main() // in a child a measure started: runs its part and exits
	shmtest.Main(m)
}

// tinyDur is the timed loop of the in-process runs: the tests check what
// the suite prints, not how fast anything is.
const tinyDur = 5 * time.Millisecond

// zeroOK are the figures for which 0 is a measurement, not a placeholder.
var zeroOK = map[string]bool{"hot_path_allocs_per_op": true}

// guard bounds a whole in-process run.
func guard(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func TestEveryRequiredFigureHasAMeasure(t *testing.T) {
	declared := map[string]string{}
	for _, m := range measures {
		for _, name := range m.names {
			if other, dup := declared[name]; dup {
				t.Errorf("%s is given by two measures: %q and %q", name, other, m.label)
			}
			declared[name] = m.label
		}
	}
	for _, name := range required {
		if _, ok := declared[name]; !ok {
			t.Errorf("no measure gives %s", name)
		}
	}
	for _, r := range rows {
		for _, name := range []string{r.shmkit, r.peer} {
			if _, ok := declared[name]; name != "" && !ok {
				t.Errorf("row %q: no measure gives %s", r.metric, name)
			}
		}
	}
}

// TestSuite runs every measure once with a tiny loop, as main does, and
// checks what -json, the table and -svg make of it.
func TestSuite(t *testing.T) {
	svg := filepath.Join(t.TempDir(), "chart.svg")
	bench := filepath.Join(t.TempDir(), "bench.txt")
	o := options{cfg: config{quick: true, dur: tinyDur}, json: true, svg: svg, bench: bench}
	var stdout, stderr bytes.Buffer
	res, code := execute(guard(t), o, measures, &stdout, &stderr)
	t.Logf("stderr:\n%s", stderr.String())
	if res == nil {
		t.Fatalf("no run; exit status %d", code)
	}
	for _, out := range res.outcomes {
		if out.err != nil && !errors.Is(out.err, errSkip) {
			t.Errorf("%s: %v", out.m.label, out.err)
		}
	}
	if want := exitOK; code != want && !t.Failed() {
		t.Errorf("exit status %d, want %d", code, want)
	}

	// -json: exactly one object on stdout, with every required figure
	// whose measure ran, and no placeholder zeros.
	out := decodeJSON(t, stdout.Bytes())
	got := out.Metrics
	skipped := map[string]bool{}
	for _, out := range res.outcomes {
		if errors.Is(out.err, errSkip) {
			for _, name := range out.m.names {
				skipped[name] = true
			}
		}
	}
	for _, name := range required {
		if _, ok := got[name]; !ok && !skipped[name] {
			t.Errorf("-json has no %s, and its measure was not skipped", name)
		}
	}
	for name, v := range got {
		if v < 0 || v == 0 && !zeroOK[name] {
			t.Errorf("-json: %s = %v", name, v)
		}
		if skipped[name] {
			t.Errorf("-json has %s, which was skipped", name)
		}
	}
	// Each figure of a timed loop has the repetitions of each session that
	// measured it (beside each of its peers): quickReps, or pyReps beside
	// Python, as the plan says; it is their median. The counts (threads,
	// allocations) are measured once.
	once := map[string]bool{"parked_goroutines_threads": true, "hot_path_allocs_per_op": true}
	wantReps, pairs := map[string]int{}, map[string]int{}
	for _, s := range plan(ordered(measures)) {
		if s.b == nil {
			for _, name := range s.a.names {
				wantReps[name] += cmp.Or(s.a.pairReps, quickReps)
			}
			continue
		}
		n := s.pairReps(o.cfg)
		for _, name := range s.a.names {
			wantReps[name] += n
			for _, peer := range s.b.names {
				wantReps[peer] += n
				pairs[name+"/"+peer] = n
			}
		}
	}
	for name, v := range got {
		xs, ok := out.Repetitions[name]
		switch {
		case !ok:
			t.Errorf("-json: %s has no repetitions", name)
		case once[name]:
			if len(xs) != 1 || xs[0] != v {
				t.Errorf("-json: %s = %v has repetitions %v, want the one", name, v, xs)
			}
		case len(xs) != wantReps[name]:
			t.Errorf("-json: %s has repetitions %v, want %d", name, xs, wantReps[name])
		case median(xs) != v:
			t.Errorf("-json: %s is %v, but the median of its repetitions %v is %v", name, v, xs, median(xs))
		}
	}
	for name := range out.Repetitions {
		if _, ok := got[name]; !ok {
			t.Errorf("-json: repetitions of %s, which is no figure", name)
		}
	}
	// Every row with both figures has its ratio, paired, of as many pairs
	// as its session made: Python's peers too.
	for _, r := range rows {
		_, ok1 := got[r.shmkit]
		_, ok2 := got[r.peer]
		st, ok := out.Ratios[r.ratioKey()]
		n, planned := pairs[r.ratioKey()]
		if !planned {
			n = quickReps // a measure that alternates its figures itself
		}
		switch {
		case r.peer == "" || !ok1 || !ok2:
			if ok {
				t.Errorf("-json: a ratio %s without both figures", r.ratioKey())
			}
		case !ok:
			t.Errorf("-json: no ratio %s", r.ratioKey())
		case st.N != n || !st.Paired || !(st.Min > 0 && st.Min <= st.Q1 && st.Q1 <= st.Median && st.Median <= st.Q3 && st.Q3 <= st.Max):
			t.Errorf("-json: %s = %+v, want %d pairs in order", r.ratioKey(), st, n)
		}
	}
	if !(out.Seconds > 0) || out.Seconds != math.Round(res.took.Seconds()*10)/10 {
		t.Errorf("-json: seconds %v, the run took %v", out.Seconds, res.took)
	}

	// The table (on stderr with -json) has a line per row.
	checkTable(t, stderr.String())

	b, err := os.ReadFile(svg)
	if err != nil {
		t.Fatal(err)
	}
	checkSVG(t, b)

	b, err = os.ReadFile(bench)
	if err != nil {
		t.Fatal(err)
	}
	checkBenchfmt(t, b, res)
}

// jsonOut is what -json prints.
type jsonOut struct {
	Metrics     map[string]float64   `json:"metrics"`
	Ratios      map[string]ratioStat `json:"ratios"`
	Repetitions map[string][]float64 `json:"repetitions"`
	Seconds     float64              `json:"seconds"`
}

// decodeJSON checks that b is one JSON object {"metrics": {...},
// "repetitions": {...}, "seconds": ...} and nothing else, and returns it.
func decodeJSON(t *testing.T, b []byte) jsonOut {
	t.Helper()
	var v jsonOut
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("-json output does not parse: %v\n%s", err, b)
	}
	if _, err := dec.Token(); err != io.EOF {
		t.Fatalf("-json output has more than one object: %s", b)
	}
	if v.Metrics == nil || v.Repetitions == nil || v.Ratios == nil {
		t.Fatalf("-json output has no metrics, ratios or repetitions: %s", b)
	}
	return v
}

func checkTable(t *testing.T, out string) {
	t.Helper()
	var lines []string
	for line := range strings.Lines(out) {
		if strings.HasPrefix(line, "| ") {
			lines = append(lines, line)
		}
	}
	if len(lines) != len(rows)+2 {
		t.Fatalf("the table has %d lines, want %d (a header, a rule, and %d rows):\n%s", len(lines), len(rows)+2, len(rows), out)
	}
	for i, r := range rows {
		if !strings.HasPrefix(lines[i+2], "| "+r.metric+" ") {
			t.Errorf("line %d of the table is %q, want the row %q", i+3, lines[i+2], r.metric)
		}
	}
	if !strings.Contains(out, "\n"+legend+"\n") {
		t.Errorf("no legend under the table:\n%s", out)
	}
}

// checkSVG parses b as XML and returns the fill colors of its bars.
func checkSVG(t *testing.T, b []byte) []string {
	t.Helper()
	dec := xml.NewDecoder(bytes.NewReader(b))
	var fills []string
	root := ""
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("the SVG is not valid XML: %v\n%s", err, b)
		}
		if se, ok := tok.(xml.StartElement); ok {
			if root == "" {
				root = se.Name.Local
			}
			for _, a := range se.Attr {
				if se.Name.Local == "rect" && a.Name.Local == "rx" {
					fills = append(fills, attr(se, "fill"))
				}
			}
		}
	}
	if root != "svg" {
		t.Fatalf("the SVG's root is %q", root)
	}
	return fills
}

func attr(se xml.StartElement, name string) string {
	for _, a := range se.Attr {
		if a.Name.Local == name {
			return a.Value
		}
	}
	return ""
}

func TestCeiling(t *testing.T) {
	if _, err := compiler(); err != nil {
		t.Skip(err)
	}
	t.Cleanup(removeCeiling)
	for _, which := range []string{"ring", "ring1", "spin", "futex", "memcpy"} {
		xs, err := runCeiling(guard(t), config{quick: true, dur: 20 * time.Millisecond}, which)
		if err != nil {
			t.Fatal(err)
		}
		if len(xs) != quickReps || !(slices.Min(xs) > 0) {
			t.Errorf("%s: %v, want %d positive repetitions", which, xs, quickReps)
		}
	}
	if _, err := runCeiling(guard(t), config{quick: true, dur: tinyDur}, "nothing"); err == nil || !strings.Contains(err.Error(), "unknown figure") {
		t.Errorf("an unknown figure: %v, want the program's complaint", err)
	}
}

// TestMemcpyWithoutCompiler: Go's copy stands in for memcpy, and the
// peer's label says so.
func TestMemcpyWithoutCompiler(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	t.Setenv("CC", "")
	t.Cleanup(func() { setPeerLabel("memcpy_64k_gb_per_s", "") })
	if _, err := runCeiling(context.Background(), config{quick: true, dur: tinyDur}, "ring"); !errors.Is(err, errSkip) {
		t.Errorf("the ceiling without a compiler: %v, want a skip", err)
	}
	xs, err := runMemcpy(context.Background(), config{quick: true, dur: tinyDur})
	if err != nil || len(xs) != quickReps || !(slices.Min(xs) > 0) {
		t.Fatalf("runMemcpy = %v, %v", xs, err)
	}
	if l := peerLabels()["memcpy_64k_gb_per_s"]; !strings.Contains(l, "Go copy") {
		t.Errorf("the peer's label is %q", l)
	}
}

func TestCompilerHonoursCC(t *testing.T) {
	gcc, err := exec.LookPath("gcc")
	if err != nil {
		t.Skip("no gcc")
	}
	t.Setenv("CC", "gcc -DSHMBENCH")
	cc, err := compiler()
	if err != nil || len(cc) != 2 || cc[0] != gcc || cc[1] != "-DSHMBENCH" {
		t.Errorf("compiler() = %q, %v", cc, err)
	}
}

func TestGoCopy(t *testing.T) {
	xs, err := goCopy(context.Background(), config{quick: true, dur: time.Millisecond})
	if err != nil || len(xs) != quickReps || !(slices.Min(xs) > 0) {
		t.Errorf("goCopy = %v, %v, want %d positive repetitions", xs, err, quickReps)
	}
}

func TestParseFigures(t *testing.T) {
	f, err := parseFigures([]byte("a 1.5\n\nb 2e+08 1e+08 3e+08\n"))
	if err != nil || len(f) != 2 || !slices.Equal(f["a"], []float64{1.5}) || !slices.Equal(f["b"], []float64{2e8, 1e8, 3e8}) {
		t.Errorf("parseFigures = %v, %v", f, err)
	}
	for _, bad := range []string{"a\n", "a 1 x\n", "a x\n"} {
		if _, err := parseFigures([]byte(bad)); err == nil {
			t.Errorf("parseFigures(%q) took it", bad)
		}
	}
}

func TestFormatValue(t *testing.T) {
	for _, c := range []struct {
		v    float64
		unit string
		want string
	}{
		{84.4e6, "msg/s", "84.4 M msg/s"},
		{1.2e9, "msg/s", "1.20 G msg/s"},
		{120e3, "msg/s", "120 k msg/s"},
		{999, "op/s", "999 op/s"},
		{12.1e6, "item/s", "12.1 M item/s"},
		{240, "ns", "240 ns"},
		{14200, "ns", "14.2 us"},
		{14.2, "us", "14.2 us"},
		{1234, "us", "1.23 ms"},
		{0.85, "ms", "850 us"},
		{12.26, "ms", "12.3 ms"},
		{2500, "ms", "2.50 s"},
		{47, "GB/s", "47.0 GB/s"},
		{0.5, "GB/s", "0.50 GB/s"},
		{0.0123, "GB/s", "0.012 GB/s"},
		{9, "threads", "9 threads"},
		{0, "alloc/op", "0 alloc/op"},
		{0.25, "alloc/op", "0.25 alloc/op"},
	} {
		if got := formatValue(c.v, c.unit); got != c.want {
			t.Errorf("formatValue(%v, %q) = %q, want %q", c.v, c.unit, got, c.want)
		}
	}
}

// findRow is the row of figure shmkit beside peer.
func findRow(t *testing.T, shmkit, peer string) *row {
	t.Helper()
	for _, r := range rows {
		if r.shmkit == shmkit && r.peer == peer {
			return r
		}
	}
	t.Fatalf("no row of %s beside %q", shmkit, peer)
	return nil
}

// TestRowScores puts made-up figures through the rows: the ratios and
// verdicts are worked out by hand.
func TestRowScores(t *testing.T) {
	res := &result{figs: figures{
		"pingpong_spin_rtt_ns":       240,
		"ceiling_spin_rtt_ns":        117,
		"ring_spsc_batch_msgs_per_s": 600e6,
		"ceiling_ring_msgs_per_s":    937.5e6,
		"pingpong_park_rtt_ns":       13.2e3,
		"pipe_pingpong_rtt_ns":       261.36e3,
		"ceiling_futex_rtt_ns":       12e3,
		"ring_spsc_msgs_per_s":       84.4e6,
		"python_queue_msgs_per_s":    120e3,
		"pool_apply_rtt_us":          15,
		"python_pool_apply_rtt_us":   140,
		"process_start_join_ms":      2,
		"python_fork_start_join_ms":  13,
		"parked_goroutines_threads":  9,
		"hot_path_allocs_per_op":     0,
		"bulk_64k_gb_per_s":          30,
		"queue_mpmc_1p1c_msgs_per_s": 24e6,
		"queue_mpmc_2p2c_msgs_per_s": 23e6,
		// PubSub beside rings written by one producer: rows with no target.
		"pubsub_lossless_1sub_msgs_per_s": 30e6,
		"ring_spsc_fanout_1_msgs_per_s":   60e6,
		"pubsub_lossless_4sub_msgs_per_s": 12e6,
		"ring_spsc_fanout_4_msgs_per_s":   4e6,
		// memcpy_64k_gb_per_s is missing: skipped
	}, missing: map[string]error{
		"memcpy_64k_gb_per_s": fmt.Errorf("%w: no C compiler", errSkip),
	}}
	for _, c := range []struct {
		shmkit, peer string
		ratio, met   string
	}{
		// A time: 240 / 117 = 2.051 times the C spin's, more than 1.3.
		{"pingpong_spin_rtt_ns", "ceiling_spin_rtt_ns", "2.05x slower (unpaired)", "no"},
		// A rate: 937.5 / 600 = 1.5625 times slower, more than 1.25.
		{"ring_spsc_batch_msgs_per_s", "ceiling_ring_msgs_per_s", "1.56x slower (unpaired)", "no"},
		// 261.36 / 13.2 = 19.8, faster than the pipe.
		{"pingpong_park_rtt_ns", "pipe_pingpong_rtt_ns", "19.8x faster (unpaired)", "yes"},
		// 13.2 / 12 = 1.1 <= 1.2.
		{"pingpong_park_rtt_ns", "ceiling_futex_rtt_ns", "1.10x slower (unpaired)", "yes"},
		// 84.4 M < 100 M, and 84.4e6 / 120e3 = 703 < 1000.
		{"ring_spsc_msgs_per_s", "python_queue_msgs_per_s", "703x faster (unpaired)", "no; no"},
		// 15 us > 3 us, and 140 / 15 = 9.33 < 10.
		{"pool_apply_rtt_us", "python_pool_apply_rtt_us", "9.33x faster (unpaired)", "no; no"},
		// 2 ms <= 3 ms, and 13 / 2 = 6.5 >= 4.
		{"process_start_join_ms", "python_fork_start_join_ms", "6.50x faster (unpaired)", "yes; yes"},
		// The peer was skipped: no ratio, no verdict.
		{"bulk_64k_gb_per_s", "memcpy_64k_gb_per_s", "—", "—"},
		// The figures were not measured at all.
		{"mutex_uncontended_ns", "sync_mutex_uncontended_ns", "—", "—"},
		{"pool_map_items_per_s", "python_pool_map_items_per_s", "—", "—; —"},
		{"parked_goroutines_threads", "", "", "yes"}, // 9 <= 16
		// 24 M < 25 M; 2p2c measured, but 23 M below 1p1c's 24 M.
		{"queue_mpmc_1p1c_msgs_per_s", "chan_msgs_per_s", "—", "no"},
		{"queue_mpmc_2p2c_msgs_per_s", "", "", "yes; no"},
		{"hot_path_allocs_per_op", "", "", "yes"},
		// No target: a ratio only, which counts in no tally.
		{"pubsub_lossless_1sub_msgs_per_s", "ring_spsc_fanout_1_msgs_per_s", "2.00x slower (unpaired)", ""},
		{"pubsub_lossless_2sub_msgs_per_s", "ring_spsc_fanout_2_msgs_per_s", "—", ""},
		{"pubsub_lossless_4sub_msgs_per_s", "ring_spsc_fanout_4_msgs_per_s", "3.00x faster (unpaired)", ""},
	} {
		r := findRow(t, c.shmkit, c.peer)
		if got := res.ratioText(r); got != c.ratio {
			t.Errorf("%s beside %s: ratio %q, want %q", c.shmkit, c.peer, got, c.ratio)
		}
		if got := res.met(r); got != c.met {
			t.Errorf("%s beside %s: met %q, want %q", c.shmkit, c.peer, got, c.met)
		}
	}

	// The scores themselves.
	score := func(shmkit, peer string) float64 {
		s, ok := findRow(t, shmkit, peer).score(res.figs)
		if !ok {
			t.Fatalf("%s beside %s: no score", shmkit, peer)
		}
		return s
	}
	near := func(what string, got, want float64) {
		if d := got - want; d > 1e-9 || d < -1e-9 {
			t.Errorf("%s: score %.6f, want %.6f", what, got, want)
		}
	}
	near("spin", score("pingpong_spin_rtt_ns", "ceiling_spin_rtt_ns"), 1.3/(240.0/117))
	near("ring batch", score("ring_spsc_batch_msgs_per_s", "ceiling_ring_msgs_per_s"), 0.64*1.25)
	near("ring beside Python", score("ring_spsc_msgs_per_s", "python_queue_msgs_per_s"), 84.4e6/120e3/1000)
	near("threads", score("parked_goroutines_threads", ""), 16.0/9)

	// Of the 20 targets, 5 are met (park beside the futex and the pipe,
	// start+join, threads, allocations), 6 missed (the ring, the batch
	// ring, the MPMC queues, spin, Pool.Apply), and 9 open: the ring
	// beside C's one per call, the two mutex rows and the counter beside
	// Python, bulk, Pool.Map, start+join with spares, and the map beside
	// Python and beside a Go map. The PubSub rows have no target.
	if met, all, open := res.tally(); met != 5 || all != 20 || open != 9 {
		t.Errorf("tally: %d met of %d, %d open; want 5 of 20, 9 open", met, all, open)
	}

	// A ratio that rounds to 1 reads "as fast", either way.
	res.figs["pipe_pingpong_rtt_ns"] = 13.21e3
	if got := res.ratioText(findRow(t, "pingpong_park_rtt_ns", "pipe_pingpong_rtt_ns")); got != "as fast (unpaired)" {
		t.Errorf("park beside a pipe as fast: %q", got)
	}
	res.figs["pipe_pingpong_rtt_ns"] = 13.19e3
	if got := res.ratioText(findRow(t, "pingpong_park_rtt_ns", "pipe_pingpong_rtt_ns")); got != "as fast (unpaired)" {
		t.Errorf("park beside a pipe as fast: %q", got)
	}
	// A time slower than its peer reads "slower".
	res.figs["pipe_pingpong_rtt_ns"] = 6.6e3
	if got := res.ratioText(findRow(t, "pingpong_park_rtt_ns", "pipe_pingpong_rtt_ns")); got != "2.00x slower (unpaired)" {
		t.Errorf("park beside a faster pipe: %q", got)
	}
	// A part is judged even where the other part cannot be: the rate
	// without Python's figure.
	delete(res.figs, "python_queue_msgs_per_s")
	r := findRow(t, "ring_spsc_msgs_per_s", "python_queue_msgs_per_s")
	if got, v := res.met(r), res.verdict(r); got != "no; —" || v != "no" {
		t.Errorf("the ring without Python: met %q, verdict %q; want \"no; —\", \"no\"", got, v)
	}
	res.figs["ring_spsc_msgs_per_s"] = 150e6
	if got, v := res.met(r), res.verdict(r); got != "yes; —" || v != "—" {
		t.Errorf("a fast ring without Python: met %q, verdict %q; want \"yes; —\", \"—\"", got, v)
	}
	// An allocation on a hot path misses its target.
	res.figs["hot_path_allocs_per_op"] = 1
	if got := res.met(findRow(t, "hot_path_allocs_per_op", "")); got != "no" {
		t.Errorf("1 alloc/op: met %q", got)
	}
}

// fake is a measure that gives fixed figures, or an error.
func fake(label string, f figures, err error) measure {
	names := make([]string, 0, len(f))
	for name := range f {
		names = append(names, name)
	}
	return measure{label: label, names: names, run: func(context.Context, config) (figures, error) { return f, err }}
}

func fakeErr(label string, err error, names ...string) measure {
	return measure{label: label, names: names, run: func(context.Context, config) (figures, error) { return nil, err }}
}

func TestOrdered(t *testing.T) {
	ms := []measure{
		fake("other", figures{"something_else": 1}, nil),
		fake("threads", figures{"parked_goroutines_threads": 9}, nil),
		fake("python queue", figures{"python_queue_msgs_per_s": 1}, nil),
		fake("ring", figures{"ring_spsc_msgs_per_s": 1}, nil),
		fake("chan", figures{"chan_msgs_per_s": 1}, nil),
		fake("other 2", figures{"something_more": 1}, nil),
	}
	var got []string
	for _, m := range ordered(ms) {
		got = append(got, m.label)
	}
	want := "ring,python queue,chan,threads,other,other 2"
	if strings.Join(got, ",") != want {
		t.Errorf("ordered: %v, want %s", got, want)
	}
	sel := selectMeasures(ms, regexp.MustCompile("^other"))
	if len(sel) != 2 || sel[0].label != "other" || sel[1].label != "other 2" {
		t.Errorf("selectMeasures: %v", sel)
	}
}

// TestExecute runs made-up measures: a failed shmkit figure fails the run,
// a skipped or failed peer does not, and the table says why each is
// missing.
func TestExecute(t *testing.T) {
	boom := errors.New("boom")
	for _, c := range []struct {
		name string
		ms   []measure
		code int
		says []string
	}{
		{"peers missing", []measure{
			fake("ring", figures{"ring_spsc_msgs_per_s": 150e6}, nil),
			fakeErr("python", fmt.Errorf("%w: no python3", errSkip), "python_queue_msgs_per_s"),
			fakeErr("chan", boom, "chan_msgs_per_s"),
		}, exitOK, []string{"150 M msg/s", "Python mp.Queue: skipped: no python3", "chan int64: failed: boom", "python: skipped: no python3"}},
		{"shmkit failed", []measure{
			fakeErr("ring", boom, "ring_spsc_msgs_per_s"),
			fake("python", figures{"python_queue_msgs_per_s": 120e3}, nil),
		}, exitFailed, []string{"failed: boom", "Python mp.Queue 120 k msg/s"}},
		{"shmkit skipped", []measure{
			fakeErr("ring", fmt.Errorf("%w: not here", errSkip), "ring_spsc_msgs_per_s"),
		}, exitOK, []string{"skipped: not here"}},
		{"shmkit panicked", []measure{
			{label: "ring", names: []string{"ring_spsc_msgs_per_s"}, run: func(context.Context, config) (figures, error) { panic("oops") }},
		}, exitFailed, []string{"failed: panic: oops"}},
		{"a figure left out", []measure{
			{label: "ring", names: []string{"ring_spsc_msgs_per_s", "ring_spsc_batch_msgs_per_s"},
				run: func(context.Context, config) (figures, error) { return figures{"ring_spsc_msgs_per_s": 1e8}, nil }},
		}, exitFailed, []string{"failed: not measured"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			o := options{cfg: config{quick: true, dur: tinyDur}}
			_, code := execute(context.Background(), o, c.ms, &stdout, &stderr)
			if code != c.code {
				t.Errorf("exit status %d, want %d", code, c.code)
			}
			checkTable(t, stdout.String())
			for _, s := range c.says {
				if !strings.Contains(stdout.String(), s) {
					t.Errorf("the table does not say %q:\n%s", s, stdout.String())
				}
			}
			if n := strings.Count(stderr.String(), "\n"); n != len(c.ms) {
				t.Errorf("%d progress lines, want %d:\n%s", n, len(c.ms), stderr.String())
			}
			if !strings.HasPrefix(stderr.String(), fmt.Sprintf("[1/%d] ", len(c.ms))) {
				t.Errorf("progress: %q", stderr.String())
			}
		})
	}
}

func TestExecuteJSON(t *testing.T) {
	ms := []measure{
		fake("ring", figures{"ring_spsc_msgs_per_s": 150e6, "hot_path_allocs_per_op": 0}, nil),
		fakeErr("python", fmt.Errorf("%w: no python3", errSkip), "python_queue_msgs_per_s"),
		fake("nan", figures{"chan_msgs_per_s": -1}, nil),
	}
	var stdout, stderr bytes.Buffer
	o := options{cfg: config{quick: true, dur: tinyDur}, json: true}
	if _, code := execute(context.Background(), o, ms, &stdout, &stderr); code != exitOK {
		t.Errorf("exit status %d", code)
	}
	got := decodeJSON(t, stdout.Bytes()).Metrics
	want := map[string]float64{"ring_spsc_msgs_per_s": 150e6, "hot_path_allocs_per_op": 0}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("-json: %v, want %v", got, want)
	}
	checkTable(t, stderr.String())
}

func TestExecuteNoMatch(t *testing.T) {
	var stdout, stderr bytes.Buffer
	o := options{cfg: config{quick: true, dur: tinyDur}, run: regexp.MustCompile("^no such measure$")}
	if _, code := execute(context.Background(), o, measures, &stdout, &stderr); code != exitUsage {
		t.Errorf("exit status %d, want %d", code, exitUsage)
	}
}

func TestExecuteInterrupted(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	ms := []measure{
		{label: "first", names: []string{"ring_spsc_msgs_per_s"}, run: func(ctx context.Context, _ config) (figures, error) {
			cancel()
			<-ctx.Done()
			return nil, ctx.Err()
		}},
		fake("second", figures{"chan_msgs_per_s": 1}, nil),
	}
	var stdout, stderr bytes.Buffer
	res, code := execute(ctx, options{cfg: config{quick: true, dur: tinyDur}}, ms, &stdout, &stderr)
	if code != exitInterrupted {
		t.Errorf("exit status %d, want %d", code, exitInterrupted)
	}
	if len(res.outcomes) != 1 {
		t.Errorf("%d measures ran after the interrupt, want none", len(res.outcomes)-1)
	}
	if stdout.Len() != 0 {
		t.Errorf("stdout: %q", stdout.String())
	}
}

func TestParseArgs(t *testing.T) {
	o, err := parseArgs([]string{"-quick", "-json", "-svg", "x.svg", "-benchfmt", "b.txt", "-run", "ring", "-dur", "7ms"}, io.Discard)
	if err != nil || !o.cfg.quick || !o.json || o.svg != "x.svg" || o.bench != "b.txt" || o.run.String() != "ring" || o.cfg.dur != 7*time.Millisecond {
		t.Errorf("parseArgs = %+v, %v", o, err)
	}
	if o, err := parseArgs(nil, io.Discard); err != nil || o.cfg.quick || o.cfg.dur != fullDur || o.run != nil {
		t.Errorf("parseArgs() = %+v, %v", o, err)
	}
	if o, err := parseArgs([]string{"-quick"}, io.Discard); err != nil || o.cfg.dur != quickDur {
		t.Errorf("parseArgs(-quick) = %+v, %v", o, err)
	}
	for _, bad := range [][]string{{"-run", "("}, {"extra"}, {"-dur", "-1s"}, {"-nosuch"}} {
		if _, err := parseArgs(bad, io.Discard); err == nil {
			t.Errorf("parseArgs(%q) took it", bad)
		}
	}
	if code := run([]string{"-nosuch"}, io.Discard, io.Discard); code != exitUsage {
		t.Errorf("run(-nosuch) = %d", code)
	}
	if code := run([]string{"-h"}, io.Discard, io.Discard); code != exitOK {
		t.Errorf("run(-h) = %d", code)
	}
}

// TestSVG draws made-up figures: a green bar for a target met, a red one
// for one missed, none for one not measured.
func TestSVG(t *testing.T) {
	res := &result{figs: figures{
		"pingpong_spin_rtt_ns":        240, // 2.05x C spin: missed
		"ceiling_spin_rtt_ns":         117,
		"parked_goroutines_threads":   9,    // met
		"pool_map_items_per_s":        50e6, // met by far: 10x
		"python_pool_map_items_per_s": 2.5e6,
		"hot_path_allocs_per_op":      0, // met
		"process_start_join_ms":       0.01,
		"python_fork_start_join_ms":   1e5, // beyond the scale
	}, missing: map[string]error{}, machine: `a <machine> & "such"`, date: time.Now()}
	var b bytes.Buffer
	writeSVG(&b, res)
	fills := checkSVG(t, b.Bytes())
	green, red := strings.Count(strings.Join(fills, " "), "#2e9e5b"), strings.Count(strings.Join(fills, " "), "#d64541")
	if green != 4 || red != 1 {
		t.Errorf("%d green bars and %d red, want 4 and 1: %v\n%s", green, red, fills, b.String())
	}
	if !strings.Contains(b.String(), "2.05x slower") {
		t.Errorf("the chart does not give the spin's ratio:\n%s", b.String())
	}
}

func TestMachine(t *testing.T) {
	m := machine()
	if !strings.Contains(m, "cores") || !strings.Contains(m, "go1") {
		t.Errorf("machine() = %q", m)
	}
}

// TestTargetParts: a target has as many parts, split by "; ", as the row
// has scores, and a ratio in a target reads as the ratio column does.
func TestTargetParts(t *testing.T) {
	for _, r := range rows {
		if r.target == "" {
			if len(r.parts) != 0 {
				t.Errorf("row %q: scores without a target", r.metric)
			}
			continue
		}
		if n := len(strings.Split(r.target, "; ")); n != len(r.parts) {
			t.Errorf("row %q: target %q has %d parts, the row %d scores", r.metric, r.target, n, len(r.parts))
		}
		if regexp.MustCompile(`\dx `).MatchString(r.target) && !regexp.MustCompile(`\dx (faster|slower)`).MatchString(r.target) {
			t.Errorf("row %q: target %q has a ratio that is not faster or slower", r.metric, r.target)
		}
		if strings.Contains(r.target, "x faster") || strings.Contains(r.target, "x slower") {
			if r.peer == "" {
				t.Errorf("row %q: a ratio in the target, and no peer", r.metric)
			}
		}
	}
}

// TestMoved: the moved column gives the spread of each figure's
// repetitions, shmkit's and then the peer's.
func TestMoved(t *testing.T) {
	res := &result{figs: figures{
		"ring_spsc_msgs_per_s":    100,
		"python_queue_msgs_per_s": 101,
		"chan_msgs_per_s":         5,
		"pipe_msgs_per_s":         7,
		"hot_path_allocs_per_op":  0,
	}, reps: map[string][]float64{
		"ring_spsc_msgs_per_s":    {110, 90, 100}, // (110 - 90) / 100
		"python_queue_msgs_per_s": {100, 101, 102},
		"chan_msgs_per_s":         {5},
		"hot_path_allocs_per_op":  {0, 0, 0},
		"unix_socket_msgs_per_s":  {1, 2, 3}, // no figure: not shown
	}}
	for _, c := range []struct{ shmkit, peer, want string }{
		{"ring_spsc_msgs_per_s", "python_queue_msgs_per_s", "20% / 2.0%"},
		{"ring_spsc_msgs_per_s", "chan_msgs_per_s", "20% / 1 run"},
		{"ring_spsc_msgs_per_s", "pipe_msgs_per_s", "20% / —"}, // no repetitions kept
		{"ring_spsc_msgs_per_s", "unix_socket_msgs_per_s", "20% / —"},
		{"hot_path_allocs_per_op", "", "0%"},
		{"parked_goroutines_threads", "", "—"}, // not measured
	} {
		if got := res.movedText(findRow(t, c.shmkit, c.peer)); got != c.want {
			t.Errorf("%s beside %q: moved %q, want %q", c.shmkit, c.peer, got, c.want)
		}
	}
}

// TestExecuteRepetitions: what a measure notes of its repetitions reaches
// the table's moved column and -json, and the footer gives the run's
// repetitions and time.
func TestExecuteRepetitions(t *testing.T) {
	ms := []measure{{label: "ring", names: []string{"ring_spsc_msgs_per_s"},
		run: func(_ context.Context, cfg config) (figures, error) {
			return figures{"ring_spsc_msgs_per_s": cfg.note("ring_spsc_msgs_per_s", []float64{150e6, 120e6, 180e6})}, nil
		}}}
	var stdout, stderr bytes.Buffer
	o := options{cfg: config{quick: true, dur: tinyDur}, json: true}
	if _, code := execute(context.Background(), o, ms, &stdout, &stderr); code != exitOK {
		t.Errorf("exit status %d", code)
	}
	got := decodeJSON(t, stdout.Bytes())
	if got.Metrics["ring_spsc_msgs_per_s"] != 150e6 || !slices.Equal(got.Repetitions["ring_spsc_msgs_per_s"], []float64{150e6, 120e6, 180e6}) {
		t.Errorf("-json: %+v", got)
	}
	table := stderr.String()
	checkTable(t, table)
	// (180 - 120) / 150 = 40%; the peers did not run.
	if !regexp.MustCompile(`\| 150 M msg/s +\| Python mp.Queue: not run +\| — +\| 40% / — +\|`).MatchString(table) {
		t.Errorf("the ring's row does not show its spread:\n%s", table)
	}
	if want := fmt.Sprintf("quick run, timed loops of %v, %d repetitions each (Python %d); took 0 s", tinyDur, quickReps, pyReps); !strings.Contains(table, want) {
		t.Errorf("the footer does not say %q:\n%s", want, table)
	}
}

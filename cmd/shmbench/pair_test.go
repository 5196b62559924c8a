//go:build linux

package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shmkit/shmkit/bench"
)

// pairLog records, in order, what the made-up measures of a pairing do:
// "A+" when A has set up, "A0", "A1"... for its repetitions, "A-" when
// its repetitions have returned.
type pairLog struct {
	mu     sync.Mutex
	events []string
	moment int // repetitions run so far, both sides
	busy   int // repetitions running now
	over   bool
}

func (l *pairLog) add(e string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.events = append(l.events, e)
}

// speed is the machine's speed at a moment: it changes by 10x from one
// pair of repetitions to the next (moments 2i and 2i+1 share one).
func speed(moment int) float64 { return math.Pow(10, float64(moment/2%4)) }

// timedPair makes a measure of name, side "A" or "B", that sets up for
// setup, then makes its repetitions through cfg.repeat: each measures
// scale times the speed of its moment. When failAt >= 0 its repetition
// failAt fails.
func timedPair(l *pairLog, side, name string, scale float64, setup time.Duration, failAt int) measure {
	return measure{label: side, names: []string{name}, pairable: true, run: func(ctx context.Context, cfg config) (figures, error) {
		time.Sleep(setup)
		l.add(side + "+")
		i := 0
		xs, err := cfg.repeat(ctx, reps(cfg, rateReps), func() (float64, error) {
			l.mu.Lock()
			l.events = append(l.events, side+strconv.Itoa(i))
			m := l.moment
			l.moment++
			l.busy++
			l.over = l.over || l.busy > 1
			l.mu.Unlock()
			time.Sleep(time.Millisecond) // the other side would run now, if it could
			l.mu.Lock()
			l.busy--
			l.mu.Unlock()
			if i == failAt {
				return 0, errors.New("boom")
			}
			i++
			return scale * speed(m), nil
		})
		l.add(side + "-")
		if err != nil {
			return nil, err
		}
		return figures{name: cfg.note(name, xs)}, nil
	}}
}

// TestPairing: a figure and its peer are measured in turn, A B A B ...,
// after both have set up and before either tears down, and the row's
// ratio is the median of the pairwise ratios. The made-up ring is twice as
// fast as the made-up channel at every moment, while the machine's speed
// moves 1000x between pairs: only repetitions taken in turn give 2 for
// every pair.
func TestPairing(t *testing.T) {
	l := &pairLog{}
	ms := []measure{
		timedPair(l, "A", "ring_spsc_msgs_per_s", 2e6, 0, -1),
		timedPair(l, "B", "chan_msgs_per_s", 1e6, 30*time.Millisecond, -1),
	}
	var stdout, stderr bytes.Buffer
	o := options{cfg: config{quick: true, dur: tinyDur}, json: true}
	res, code := execute(guard(t), o, ms, &stdout, &stderr)
	if code != exitOK {
		t.Fatalf("exit status %d\n%s", code, stderr.String())
	}
	if l.over {
		t.Errorf("two repetitions ran at once: %v", l.events)
	}
	ev := l.events
	if len(ev) != 4+2*quickReps {
		t.Fatalf("events %v", ev)
	}
	if a, b := ev[:2], ev[len(ev)-2:]; !slices.Contains(a, "A+") || !slices.Contains(a, "B+") ||
		!slices.Contains(b, "A-") || !slices.Contains(b, "B-") {
		t.Errorf("a side set up after, or tore down before, the other's repetitions: %v", ev)
	}
	for i := range quickReps {
		if got, want := ev[2+2*i:4+2*i], []string{"A" + strconv.Itoa(i), "B" + strconv.Itoa(i)}; !slices.Equal(got, want) {
			t.Errorf("pair %d is %v, want %v: %v", i, got, want, ev)
		}
	}

	st := res.ratios["ring_spsc_msgs_per_s/chan_msgs_per_s"]
	if want := (ratioStat{Median: 2, Min: 2, Q1: 2, Q3: 2, Max: 2, N: quickReps, Paired: true}); st != want {
		t.Errorf("ratio %+v, want %+v", st, want)
	}
	got := decodeJSON(t, stdout.Bytes())
	if got.Ratios["ring_spsc_msgs_per_s/chan_msgs_per_s"] != st {
		t.Errorf("-json ratios: %+v", got.Ratios)
	}
	table := stderr.String()
	checkTable(t, table)
	if !strings.Contains(table, "| 2.00x faster (2.00-2.00) |") {
		t.Errorf("the table does not show the paired ratio:\n%s", table)
	}
}

// TestPairingSideFails: when one side of a pair fails, the other goes on
// alone, and the row has no paired ratio.
func TestPairingSideFails(t *testing.T) {
	l := &pairLog{}
	ms := []measure{
		timedPair(l, "A", "ring_spsc_msgs_per_s", 2e6, 0, -1),
		timedPair(l, "B", "chan_msgs_per_s", 1e6, 0, 1),
	}
	var stdout, stderr bytes.Buffer
	res, code := execute(guard(t), options{cfg: config{quick: true, dur: tinyDur}}, ms, &stdout, &stderr)
	if code != exitOK {
		t.Errorf("exit status %d, want %d (a peer failed)", code, exitOK)
	}
	if xs := res.reps["ring_spsc_msgs_per_s"]; len(xs) != quickReps {
		t.Errorf("the ring's repetitions: %v (events %v)", xs, l.events)
	}
	if _, ok := res.ratios["ring_spsc_msgs_per_s/chan_msgs_per_s"]; ok {
		t.Errorf("a ratio without the peer's figure: %+v", res.ratios)
	}
	if !strings.Contains(stdout.String(), "chan int64: failed: boom") {
		t.Errorf("the table does not say the peer failed:\n%s", stdout.String())
	}
}

// TestPlan: a row's figure and its peer are paired, Python's too, a
// figure is paired with each of its peers, a measure that gives both
// figures runs alone, and a pair beside Python makes its pyReps pairs.
func TestPlan(t *testing.T) {
	one := func(name string) measure {
		return measure{label: name, names: []string{name}, pairable: true}
	}
	py := pyPeers[0].measure(nil)
	if py.names[0] != "python_queue_msgs_per_s" || !py.pairable || py.pairReps != pyReps {
		t.Fatalf("Python's queue: %+v", py)
	}
	both := measure{label: "mutexes", names: []string{"mutex_uncontended_ns", "sync_mutex_uncontended_ns"}, alternates: true}
	ms := []measure{one("ring_spsc_msgs_per_s"), py, one("chan_msgs_per_s"), one("pipe_msgs_per_s"), both, one("parked_goroutines_threads"),
		one("ring_spsc_fanout_2_msgs_per_s"), one("pubsub_lossless_2sub_msgs_per_s")}
	var got []string
	for _, s := range plan(ms) {
		got = append(got, s.label()+" "+strconv.Itoa(s.pairReps(config{quick: true})))
	}
	want := []string{
		"ring_spsc_msgs_per_s | Python mp.Queue " + strconv.Itoa(pyReps),
		"ring_spsc_msgs_per_s | chan_msgs_per_s " + strconv.Itoa(quickReps),
		"ring_spsc_msgs_per_s | pipe_msgs_per_s " + strconv.Itoa(quickReps),
		"pubsub_lossless_2sub_msgs_per_s | ring_spsc_fanout_2_msgs_per_s " + strconv.Itoa(quickReps),
		"mutexes " + strconv.Itoa(quickReps),
		"parked_goroutines_threads " + strconv.Itoa(quickReps),
	}
	if !slices.Equal(got, want) {
		t.Errorf("plan:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// TestPairingPython: a peer of Python's, whose every repetition is a
// process that starts slowly before it measures, is paired as the others
// are: each call, start-up and all, is one turn, A B A B ..., and the
// ratio is exact however the machine's speed moves between pairs. The
// first call's n comes from the guess, each other's from what the one
// before measured.
func TestPairingPython(t *testing.T) {
	l := &pairLog{}
	var ns []int
	call := func(ctx context.Context, figure string, n int) (float64, error) {
		l.mu.Lock()
		l.events = append(l.events, "P"+strconv.Itoa(len(ns)))
		ns = append(ns, n)
		m := l.moment
		l.moment++
		l.busy++
		l.over = l.over || l.busy > 1
		l.mu.Unlock()
		time.Sleep(20 * time.Millisecond) // the interpreter's start-up, untimed
		l.mu.Lock()
		l.busy--
		l.mu.Unlock()
		if figure != bench.Queue {
			return 0, fmt.Errorf("figure %q", figure)
		}
		return 1e5 * speed(m), nil
	}
	peer := pyPeers[0]
	peer.guess, peer.minN = 1e6, 1
	ms := []measure{timedPair(l, "A", "ring_spsc_msgs_per_s", 2e8, 0, -1), peer.measure(call)}
	var stdout, stderr bytes.Buffer
	res, code := execute(guard(t), options{cfg: config{quick: true, dur: tinyDur}, json: true}, ms, &stdout, &stderr)
	if code != exitOK {
		t.Fatalf("exit status %d\n%s", code, stderr.String())
	}
	if l.over {
		t.Errorf("two repetitions ran at once: %v", l.events)
	}
	var want []string
	for i := range pyReps {
		want = append(want, "A"+strconv.Itoa(i), "P"+strconv.Itoa(i))
	}
	if got := slices.DeleteFunc(slices.Clone(l.events), func(e string) bool { return e == "A+" || e == "A-" }); !slices.Equal(got, want) {
		t.Errorf("turns %v, want %v", l.events, want)
	}
	if l.events[0] != "A+" || l.events[len(l.events)-1] != "A-" {
		t.Errorf("the ring set up after, or tore down before, Python's turns: %v", l.events)
	}
	// 1e6 msg/s guessed, then what the last repetition measured (1e5
	// times the speed of its moment, Python's every other one), for calls
	// that each time tinyDur.
	d := tinyDur.Seconds()
	want = want[:0:0]
	for i := range pyReps {
		rate := 1e6
		if i > 0 {
			rate = 1e5 * speed(2*i-1)
		}
		want = append(want, strconv.Itoa(int(rate*d)))
	}
	if got := fmt.Sprint(ns); got != "["+strings.Join(want, " ")+"]" {
		t.Errorf("Python's n: %v, want %v", ns, want)
	}
	st := res.ratios["ring_spsc_msgs_per_s/python_queue_msgs_per_s"]
	if want := (ratioStat{Median: 2000, Min: 2000, Q1: 2000, Q3: 2000, Max: 2000, N: pyReps, Paired: true}); st != want {
		t.Errorf("ratio %+v, want %+v", st, want)
	}
	if !strings.Contains(stderr.String(), "| 2000x faster (2000-2000) |") {
		t.Errorf("the table does not show the paired ratio:\n%s", stderr.String())
	}
}

// TestAlternatesPaired: a measure that takes two figures' repetitions in
// turn itself gives a paired ratio.
func TestAlternatesPaired(t *testing.T) {
	m := measure{label: "mutexes", names: []string{"mutex_uncontended_ns", "sync_mutex_uncontended_ns"}, alternates: true,
		run: func(_ context.Context, cfg config) (figures, error) {
			return figures{
				"mutex_uncontended_ns":      cfg.note("mutex_uncontended_ns", []float64{10, 100, 1000}),
				"sync_mutex_uncontended_ns": cfg.note("sync_mutex_uncontended_ns", []float64{20, 200, 2000}),
			}, nil
		}}
	var stdout, stderr bytes.Buffer
	res, _ := execute(guard(t), options{cfg: config{quick: true, dur: tinyDur}}, []measure{m}, &stdout, &stderr)
	if st := res.ratios["mutex_uncontended_ns/sync_mutex_uncontended_ns"]; st.Median != 2 || st.Min != 2 || st.Max != 2 || st.N != 3 || !st.Paired {
		t.Errorf("ratio %+v, want 2x faster in each of 3 pairs", st)
	}
}

func TestPairRatios(t *testing.T) {
	if got := pairRatios([]float64{4, 9, 1}, []float64{2, 3}, false); !slices.Equal(got, []float64{2, 3}) {
		t.Errorf("rates: %v", got)
	}
	// Times: the peer's over shmkit's, how many times faster shmkit is.
	if got := pairRatios([]float64{100, 50}, []float64{200, 0}, true); !slices.Equal(got, []float64{2}) {
		t.Errorf("times: %v", got)
	}
	st := newRatioStat([]float64{5, 1, 4, 2, 3})
	if want := (ratioStat{Median: 3, Min: 1, Q1: 2, Q3: 4, Max: 5, N: 5, Paired: true}); st != want {
		t.Errorf("newRatioStat = %+v, want %+v", st, want)
	}
	if q := quantile([]float64{1, 2}, 0.25); q != 1.25 {
		t.Errorf("quantile = %v", q)
	}
}

// TestRatioText: the ratio cell shows the median and the extremes of the
// pairwise ratios, read as faster or slower, or says it is unpaired.
func TestRatioText(t *testing.T) {
	r := findRow(t, "ring_spsc_msgs_per_s", "chan_msgs_per_s")
	for _, c := range []struct {
		st   ratioStat
		want string
	}{
		{ratioStat{Median: 2.5, Min: 2, Max: 3, N: 5, Paired: true}, "2.50x faster (2.00-3.00)"},
		{ratioStat{Median: 0.5, Min: 0.25, Max: 0.8, N: 5, Paired: true}, "2.00x slower (1.25-4.00)"},
		{ratioStat{Median: 1, Min: 0.9, Max: 1.1, N: 5, Paired: true}, "as fast (0.90-1.10)"},
		{ratioStat{Median: 350}, "350x faster (unpaired)"},
	} {
		res := &result{ratios: map[string]ratioStat{r.ratioKey(): c.st}}
		if got := res.ratioText(r); got != c.want {
			t.Errorf("%+v: %q, want %q", c.st, got, c.want)
		}
	}
	if got := (&result{}).ratioText(r); got != "—" {
		t.Errorf("no ratio: %q", got)
	}
}

// TestPairedRatioScores: a target is judged on the median of the pairwise
// ratios, not on the ratio of the medians.
func TestPairedRatioScores(t *testing.T) {
	r := findRow(t, "ring_spsc_batch_msgs_per_s", "ceiling_ring_msgs_per_s") // <= 1.25x slower
	res := &result{figs: figures{"ring_spsc_batch_msgs_per_s": 1e8, "ceiling_ring_msgs_per_s": 1e9}}
	if got := res.verdict(r); got != "no" {
		t.Errorf("10x slower by the medians: %q", got)
	}
	res.ratios = map[string]ratioStat{r.ratioKey(): {Median: 0.9, Min: 0.7, Max: 1.1, N: 5, Paired: true}}
	if got := res.verdict(r); got != "yes" {
		t.Errorf("1.1x slower paired: %q", got)
	}
}

// benchLine is a line of a result in the Go benchmark format: a name that
// starts with Benchmark and an upper-case letter or non-letter, the
// iterations, then pairs of a value and a unit.
var (
	benchLine  = regexp.MustCompile(`^Benchmark[^a-z\s]\S*\s+[0-9]+((\s+\S+\s+\S+)+)$`)
	configLine = regexp.MustCompile(`^[a-z][^\sA-Z:]*:\s`)
	unitLine   = regexp.MustCompile(`^Unit \S+( [a-z]+=\S+)+$`)
)

// checkBenchfmt checks that b parses as the Go benchmark format, with a
// line for each repetition of each figure of res, and for each pairwise
// ratio.
func checkBenchfmt(t *testing.T, b []byte, res *result) {
	t.Helper()
	for _, p := range benchfmtProblems(b, res) {
		t.Error("-benchfmt: " + p)
	}
}

// benchfmtProblems is what checkBenchfmt finds wrong with b.
func benchfmtProblems(b []byte, res *result) []string {
	var out []string
	errorf := func(format string, args ...any) { out = append(out, fmt.Sprintf(format, args...)) }
	count := map[string]int{}
	units := map[string]bool{}
	for line := range strings.Lines(string(b)) {
		line = strings.TrimSuffix(line, "\n")
		switch {
		case configLine.MatchString(line):
		case unitLine.MatchString(line):
			units[strings.Fields(line)[1]] = true
		default:
			m := benchLine.FindStringSubmatch(line)
			if m == nil {
				errorf("a line that is no result, unit or configuration: %q", line)
				continue
			}
			f := strings.Fields(m[1])
			for i := 0; i < len(f); i += 2 {
				if v, err := strconv.ParseFloat(f[i], 64); err != nil || math.IsNaN(v) {
					errorf("%q: value %q", line, f[i])
				}
				if !units[f[i+1]] {
					errorf("%q: unit %q has no Unit line before it", line, f[i+1])
				}
			}
			count[strings.Fields(line)[0]]++
		}
	}
	for name := range res.figs {
		want := max(len(res.reps[name]), 1)
		if got := count["BenchmarkShmbench/"+name]; got != want {
			errorf("%d lines for %s, want %d", got, name, want)
		}
	}
	for _, r := range rows {
		st := res.ratios[r.ratioKey()]
		if !st.Paired {
			continue
		}
		if got := count[fmt.Sprintf("BenchmarkRatio/%s-vs-%s", r.shmkit, r.peer)]; got != st.N {
			errorf("%d lines for the ratio %s, want %d", got, r.ratioKey(), st.N)
		}
	}
	return out
}

// TestBenchfmt: -benchfmt writes each repetition and each pairwise ratio
// in the Go benchmark format.
func TestBenchfmt(t *testing.T) {
	l := &pairLog{}
	ms := []measure{
		timedPair(l, "A", "ring_spsc_msgs_per_s", 2e6, 0, -1),
		timedPair(l, "B", "chan_msgs_per_s", 1e6, 0, -1),
		fake("allocs", figures{"hot_path_allocs_per_op": 0}, nil),
	}
	path := filepath.Join(t.TempDir(), "bench.txt")
	var stdout, stderr bytes.Buffer
	res, code := execute(guard(t), options{cfg: config{quick: true, dur: tinyDur}, bench: path}, ms, &stdout, &stderr)
	if code != exitOK {
		t.Fatalf("exit status %d", code)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	checkBenchfmt(t, b, res)
	for _, want := range []string{
		"\nUnit msg/s better=higher\n", "\nUnit alloc/op better=lower\n", "\nUnit x-faster better=higher\n",
		"\nBenchmarkShmbench/ring_spsc_msgs_per_s 1 2e+06 msg/s\n",
		"\nBenchmarkShmbench/hot_path_allocs_per_op 1 0 alloc/op\n",
		"\nBenchmarkRatio/ring_spsc_msgs_per_s-vs-chan_msgs_per_s 1 2 x-faster\n",
	} {
		if !strings.Contains(string(b), want) {
			t.Errorf("-benchfmt does not have %q:\n%s", want, b)
		}
	}
	for _, bad := range []string{"Benchmarkfoo 1 2 ns\n", "BenchmarkX 1 2\n", "BenchmarkX 1 x ns\n"} {
		if len(benchfmtProblems([]byte("Unit ns better=lower\n"+bad), &result{})) == 0 {
			t.Errorf("checkBenchfmt took %q", bad)
		}
	}
}

//go:build linux

package main

import (
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"math"
	"os"
	"os/signal"
	"regexp"
	"slices"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/shmkit/shmkit/process"
)

func main() {
	process.Main() // in a child this program started: runs its part and exits
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// The durations of a timed loop (config.dur): a quick run takes about 15
// seconds on 2 cores, a full one about a minute.
const (
	quickDur = 25 * time.Millisecond
	fullDur  = 100 * time.Millisecond
)

// Exit statuses.
const (
	exitOK          = 0
	exitFailed      = 1 // a measure of shmkit failed
	exitUsage       = 2
	exitInterrupted = 130
)

// options are the command line's.
type options struct {
	cfg   config
	json  bool
	svg   string
	bench string         // -benchfmt's file
	run   *regexp.Regexp // nil: every measure
}

func parseArgs(args []string, stderr io.Writer) (options, error) {
	fs := flag.NewFlagSet("shmbench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	quick := fs.Bool("quick", false, "a quick run: shorter timed loops, 7 repetitions each (5 pairs beside Python)")
	jsonOut := fs.Bool("json", false, `print one JSON object {"metrics": {NAME: number, ...}, "ratios": {"SHMKIT/PEER": {"median": ..., "min": ..., ...}, ...}, "repetitions": {NAME: [number, ...], ...}, "seconds": number} on stdout (the table goes to stderr)`)
	svg := fs.String("svg", "", "write a chart of the targets met and missed to `FILE` (SVG)")
	benchOut := fs.String("benchfmt", "", "write each repetition and pairwise ratio to `FILE` in the Go benchmark format, for benchstat")
	runRE := fs.String("run", "", "run only the measures whose label matches `REGEXP`")
	dur := fs.Duration("dur", 0, "how long each timed loop runs (default 25ms with -quick, 100ms without)")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: shmbench [-quick] [-json] [-svg FILE] [-benchfmt FILE] [-run REGEXP] [-dur D]\n\n"+
			"Measures shmkit across processes beside its peers and the machine's ceiling.\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return options{}, err
	}
	if fs.NArg() > 0 {
		fs.Usage()
		return options{}, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	o := options{cfg: config{quick: *quick, dur: fullDur}, json: *jsonOut, svg: *svg, bench: *benchOut}
	if *quick {
		o.cfg.dur = quickDur
	}
	if *dur < 0 {
		return options{}, fmt.Errorf("-dur %v: must be positive", *dur)
	}
	if *dur > 0 {
		o.cfg.dur = *dur
	}
	if *runRE != "" {
		re, err := regexp.Compile(*runRE)
		if err != nil {
			return options{}, fmt.Errorf("-run: %w", err)
		}
		o.run = re
	}
	return o, nil
}

// run is the program: main without os.Exit.
func run(args []string, stdout, stderr io.Writer) int {
	o, err := parseArgs(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return exitOK
	}
	if err != nil {
		fmt.Fprintln(stderr, "shmbench:", err)
		return exitUsage
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		stop() // a second ctrl-C ends the program at once
	}()
	_, code := execute(ctx, o, measures, stdout, stderr)
	return code
}

// execute runs the measures of ms that o selects, in the order of the
// rows, and prints what o asks for; it returns the run and the exit
// status.
func execute(ctx context.Context, o options, ms []measure, stdout, stderr io.Writer) (*result, int) {
	sel := selectMeasures(ordered(ms), o.run)
	if len(sel) == 0 {
		fmt.Fprintf(stderr, "shmbench: no measure matches -run %q\n", o.run)
		return nil, exitUsage
	}
	res := runSuite(ctx, o.cfg, sel, newProgress(stderr))
	removeCeiling()
	// The measures reap their children; a non-daemon one left over is
	// waited for, briefly.
	jctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	process.JoinAll(jctx)
	cancel()
	if ctx.Err() != nil {
		fmt.Fprintln(stderr, "shmbench: interrupted")
		return res, exitInterrupted
	}

	table := stdout
	if o.json {
		table = stderr
		if err := writeJSON(stdout, res); err != nil {
			fmt.Fprintln(stderr, "shmbench:", err)
			return res, exitFailed
		}
	}
	writeTable(table, res)
	if o.svg != "" {
		if err := writeSVGFile(o.svg, res); err != nil {
			fmt.Fprintln(stderr, "shmbench:", err)
			return res, exitFailed
		}
	}
	if o.bench != "" {
		if err := writeBenchfmtFile(o.bench, res); err != nil {
			fmt.Fprintln(stderr, "shmbench:", err)
			return res, exitFailed
		}
	}
	if res.shmkitFailed() {
		return res, exitFailed
	}
	return res, exitOK
}

// ordered returns the measures in the order of the rows that use their
// figures (shmkit's before its peer's), then the others as registered.
func ordered(ms []measure) []measure {
	rank := map[string]int{}
	for i, r := range rows {
		for j, name := range []string{r.shmkit, r.peer} {
			if _, seen := rank[name]; name != "" && !seen {
				rank[name] = 2*i + j
			}
		}
	}
	key := func(m measure) int {
		k := math.MaxInt
		for _, name := range m.names {
			if r, ok := rank[name]; ok {
				k = min(k, r)
			}
		}
		return k
	}
	out := slices.Clone(ms)
	slices.SortStableFunc(out, func(a, b measure) int { return key(a) - key(b) })
	return out
}

// selectMeasures keeps the measures whose label matches re (all of them
// for a nil re).
func selectMeasures(ms []measure, re *regexp.Regexp) []measure {
	if re == nil {
		return ms
	}
	var out []measure
	for _, m := range ms {
		if re.MatchString(m.label) {
			out = append(out, m)
		}
	}
	return out
}

// outcome is what one measure gave.
type outcome struct {
	m    measure
	figs figures
	reps map[string][]float64 // the repetitions behind figs, as noted
	err  error                // nil, errSkip wrapped with a reason, or a failure
	took time.Duration
}

// result is a run: its figures, and for each name that was to be
// measured, why it was not.
type result struct {
	cfg      config
	outcomes []*outcome
	figs     figures
	reps     map[string][]float64 // name -> what each repetition of figs[name] measured
	missing  map[string]error     // name -> why it is not in figs
	labels   map[string]string    // peer labels that differ from the row's
	// pairs are the repetitions of two figures taken in turn, by
	// row.ratioKey: shmkit's, then the peer's.
	pairs   map[string][2][]float64
	ratios  map[string]ratioStat // by row.ratioKey, for every row with both figures
	machine string
	date    time.Time
	took    time.Duration // the whole run
}

// session is what the suite runs at one time: a measure alone, or two
// paired (see pairing), a row's shmkit figure's then its peer's.
type session struct {
	a, b *measure // b is nil for a measure alone
	// n is the pairs of a pair's repetitions, when its measures set it
	// (see measure.pairReps); 0 for the run's count.
	n int
}

// pairReps is how many repetitions each side of s makes in cfg's run.
func (s session) pairReps(cfg config) int {
	if s.n > 0 {
		return s.n
	}
	return reps(cfg, rateReps)
}

func (s session) label() string {
	if s.b == nil {
		return s.a.label
	}
	return s.a.label + " | " + s.b.label
}

// plan makes the sessions of a run of ms: a pair for each row whose
// shmkit figure and peer come from two measures that can be paired (a
// measure may be in several), then each measure that is in none, alone.
func plan(ms []measure) []session {
	by := map[string]int{}
	for i, m := range ms {
		for _, name := range m.names {
			by[name] = i
		}
	}
	var out []session
	inPair := map[int]bool{}
	seen := map[[2]int]bool{}
	for _, r := range rows {
		i, ok1 := by[r.shmkit]
		j, ok2 := by[r.peer]
		if r.peer == "" || !ok1 || !ok2 || i == j || !ms[i].pairable || !ms[j].pairable || seen[[2]int{i, j}] {
			continue
		}
		seen[[2]int{i, j}] = true
		inPair[i], inPair[j] = true, true
		n := ms[i].pairReps
		if m := ms[j].pairReps; n == 0 || m > 0 && m < n {
			n = m
		}
		out = append(out, session{a: &ms[i], b: &ms[j], n: n})
	}
	for i := range ms {
		if !inPair[i] {
			out = append(out, session{a: &ms[i]})
		}
	}
	return out
}

// runSuite runs the measures of ms, paired where they can be (see plan),
// showing each session on p, and stops early when ctx ends.
func runSuite(ctx context.Context, cfg config, ms []measure, p *progress) *result {
	res := &result{cfg: cfg, figs: figures{}, reps: map[string][]float64{}, missing: map[string]error{},
		pairs: map[string][2][]float64{}, date: time.Now()}
	sessions := plan(ms)
	for i, s := range sessions {
		if ctx.Err() != nil {
			break
		}
		p.start(i+1, len(sessions), s.label())
		start := time.Now()
		var outs []*outcome
		if s.b == nil {
			mcfg := cfg
			mcfg.reps = map[string][]float64{}
			figs, err := runOne(ctx, mcfg, *s.a)
			outs = []*outcome{{m: *s.a, figs: figs, reps: mcfg.reps, err: err}}
		} else {
			oa, ob := runPair(ctx, cfg, s.pairReps(cfg), *s.a, *s.b)
			outs = []*outcome{oa, ob}
			if oa.err == nil && ob.err == nil {
				for name, xs := range oa.reps {
					for peer, ys := range ob.reps {
						res.pairs[name+"/"+peer] = [2][]float64{xs, ys}
					}
				}
			}
		}
		var first error
		for _, o := range outs {
			if o.err != nil && ctx.Err() != nil {
				o.err = errInterrupted
			}
			o.took = time.Since(start)
			first = cmp.Or(first, o.err)
		}
		p.done(time.Since(start), first)
		for _, o := range outs {
			res.outcomes = append(res.outcomes, o)
			res.add(o)
		}
	}
	p.finish()
	res.took = time.Since(res.date)
	res.labels = peerLabels()
	res.machine = machine()
	res.setRatios()
	return res
}

// errInterrupted is the error of the measure that ctrl-C stopped.
var errInterrupted = errors.New("interrupted")

// runOne runs m, turning a panic into its error.
func runOne(ctx context.Context, cfg config, m measure) (f figures, err error) {
	defer func() {
		if v := recover(); v != nil {
			f, err = nil, fmt.Errorf("panic: %v", v)
		}
	}()
	return m.run(ctx, cfg)
}

// add records o's figures, or why its names are missing. A figure
// measured in several sessions is the median of all its repetitions.
func (res *result) add(o *outcome) {
	if o.err != nil {
		for _, name := range o.m.names {
			if _, ok := res.figs[name]; !ok {
				res.missing[name] = o.err
			}
		}
		return
	}
	for name, v := range o.figs {
		if math.IsNaN(v) || math.IsInf(v, 0) || v < 0 {
			if _, ok := res.figs[name]; !ok {
				res.missing[name] = fmt.Errorf("measured %v", v)
			}
			continue
		}
		delete(res.missing, name)
		xs := o.reps[name]
		if o.m.alternates {
			for _, peer := range o.m.names {
				if ys := o.reps[peer]; peer != name && len(xs) > 0 && len(ys) == len(xs) {
					res.pairs[name+"/"+peer] = [2][]float64{xs, ys}
				}
			}
		}
		if prev := res.reps[name]; len(prev) > 0 && len(xs) > 0 {
			res.reps[name] = append(slices.Clone(prev), xs...)
			res.figs[name] = median(res.reps[name])
			continue
		}
		if _, ok := res.figs[name]; ok && len(xs) == 0 {
			continue // measured before, with its repetitions
		}
		res.figs[name] = v
		if len(xs) > 0 {
			res.reps[name] = xs
		}
	}
	for _, name := range o.m.names {
		if _, ok := o.figs[name]; !ok {
			if _, had := res.figs[name]; !had {
				res.missing[name] = errors.New("not measured")
			}
		}
	}
}

// setRatios sums up, for each row with a peer and both figures, its
// pairwise ratios, or the ratio of its two figures when they were not
// measured in turn.
func (res *result) setRatios() {
	res.ratios = map[string]ratioStat{}
	for _, r := range rows {
		if r.peer == "" {
			continue
		}
		if pr, ok := res.pairs[r.ratioKey()]; ok {
			if rs := pairRatios(pr[0], pr[1], lowerIsBetter(r.unit)); len(rs) > 0 {
				res.ratios[r.ratioKey()] = newRatioStat(rs)
				continue
			}
		}
		if v, ok := r.value(res.figs); ok {
			res.ratios[r.ratioKey()] = ratioStat{Median: v}
		}
	}
}

// scored are the figures with the median of each row's pairwise ratios
// under its ratioKey: what the targets are scored on.
func (res *result) scored() figures {
	f := maps.Clone(res.figs)
	for k, st := range res.ratios {
		if st.Paired {
			f[k] = st.Median
		}
	}
	return f
}

// shmkitFailed tells whether a figure of shmkit's own (a row's shmkit
// figure, not a peer's) failed; a skip is no failure.
func (res *result) shmkitFailed() bool {
	own := map[string]bool{}
	for _, r := range rows {
		own[r.shmkit] = true
	}
	for name, err := range res.missing {
		if own[name] && !errors.Is(err, errSkip) {
			return true
		}
	}
	return false
}

// progress shows the measure that runs on one line of stderr: a line
// rewritten in place on a terminal, a line per measure otherwise.
type progress struct {
	w    io.Writer
	tty  bool
	mu   sync.Mutex
	line string    // the running measure's, without its time
	t0   time.Time // when it started
	stop chan struct{}
	wg   sync.WaitGroup
}

func newProgress(w io.Writer) *progress {
	p := &progress{w: w}
	if f, ok := w.(*os.File); ok {
		_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
		p.tty = err == nil
	}
	if p.tty {
		p.stop = make(chan struct{})
		p.wg.Add(1)
		go p.tick()
	}
	return p
}

// tick redraws the running measure's line with its time so far.
func (p *progress) tick() {
	defer p.wg.Done()
	t := time.NewTicker(200 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-p.stop:
			return
		case <-t.C:
			p.mu.Lock()
			if p.line != "" {
				fmt.Fprintf(p.w, "\r\x1b[K%s %.1fs", p.line, time.Since(p.t0).Seconds())
			}
			p.mu.Unlock()
		}
	}
}

func (p *progress) start(i, n int, label string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.line = fmt.Sprintf("[%d/%d] %s ...", i, n, label)
	p.t0 = time.Now()
	if p.tty {
		fmt.Fprintf(p.w, "\r\x1b[K%s", p.line)
	}
}

func (p *progress) done(took time.Duration, err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	line := fmt.Sprintf("%s %.1fs", p.line, took.Seconds())
	switch {
	case err == nil:
	case errors.Is(err, errSkip), err == errInterrupted:
		line += " " + err.Error()
	default:
		line += " failed: " + err.Error()
	}
	p.line = ""
	if p.tty {
		fmt.Fprintf(p.w, "\r\x1b[K%s", line)
		if err != nil && !errors.Is(err, errSkip) {
			fmt.Fprintln(p.w) // a failure stays on the screen
		}
		return
	}
	fmt.Fprintln(p.w, line)
}

// finish clears the line on a terminal.
func (p *progress) finish() {
	if p.tty {
		close(p.stop)
		p.wg.Wait()
		fmt.Fprint(p.w, "\r\x1b[K")
	}
}

//go:build linux

package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
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

// The durations of a timed loop (config.dur): a quick run takes under 30
// seconds on 2 cores, a full one under 3 minutes.
const (
	quickDur = 50 * time.Millisecond
	fullDur  = 300 * time.Millisecond
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
	cfg  config
	json bool
	svg  string
	run  *regexp.Regexp // nil: every measure
}

func parseArgs(args []string, stderr io.Writer) (options, error) {
	fs := flag.NewFlagSet("shmbench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	quick := fs.Bool("quick", false, "a quick run: shorter timed loops, 3 repetitions each")
	jsonOut := fs.Bool("json", false, `print one JSON object {"metrics": {NAME: number, ...}, "repetitions": {NAME: [number, ...], ...}, "seconds": number} on stdout (the table goes to stderr)`)
	svg := fs.String("svg", "", "write a chart of the targets met and missed to `FILE` (SVG)")
	runRE := fs.String("run", "", "run only the measures whose label matches `REGEXP`")
	dur := fs.Duration("dur", 0, "how long each timed loop runs (default 50ms with -quick, 300ms without)")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: shmbench [-quick] [-json] [-svg FILE] [-run REGEXP] [-dur D]\n\n"+
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
	o := options{cfg: config{quick: *quick, dur: fullDur}, json: *jsonOut, svg: *svg}
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
	machine  string
	date     time.Time
	took     time.Duration // the whole run
}

// runSuite runs the measures in turn, showing each on p, and stops early
// when ctx ends.
func runSuite(ctx context.Context, cfg config, ms []measure, p *progress) *result {
	res := &result{cfg: cfg, figs: figures{}, reps: map[string][]float64{}, missing: map[string]error{}, date: time.Now()}
	for i, m := range ms {
		if ctx.Err() != nil {
			break
		}
		p.start(i+1, len(ms), m.label)
		start := time.Now()
		mcfg := cfg
		mcfg.reps = map[string][]float64{}
		figs, err := runOne(ctx, mcfg, m)
		if err != nil && ctx.Err() != nil {
			err = errInterrupted
		}
		o := &outcome{m: m, figs: figs, reps: mcfg.reps, err: err, took: time.Since(start)}
		p.done(o)
		res.outcomes = append(res.outcomes, o)
		res.add(o)
	}
	p.finish()
	res.took = time.Since(res.date)
	res.labels = peerLabels()
	res.machine = machine()
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

// add records o's figures, or why its names are missing.
func (res *result) add(o *outcome) {
	if o.err != nil {
		for _, name := range o.m.names {
			res.missing[name] = o.err
		}
		return
	}
	for name, v := range o.figs {
		if math.IsNaN(v) || math.IsInf(v, 0) || v < 0 {
			res.missing[name] = fmt.Errorf("measured %v", v)
			continue
		}
		res.figs[name] = v
		if xs := o.reps[name]; len(xs) > 0 {
			res.reps[name] = xs
		}
	}
	for _, name := range o.m.names {
		if _, ok := o.figs[name]; !ok {
			res.missing[name] = errors.New("not measured")
		}
	}
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

func (p *progress) done(o *outcome) {
	p.mu.Lock()
	defer p.mu.Unlock()
	line := fmt.Sprintf("%s %.1fs", p.line, o.took.Seconds())
	switch {
	case o.err == nil:
	case errors.Is(o.err, errSkip), o.err == errInterrupted:
		line += " " + o.err.Error()
	default:
		line += " failed: " + o.err.Error()
	}
	p.line = ""
	if p.tty {
		fmt.Fprintf(p.w, "\r\x1b[K%s", line)
		if o.err != nil && !errors.Is(o.err, errSkip) {
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

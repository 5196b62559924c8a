package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"time"

	"github.com/shmkit/shmkit/shm"

	// Their packages register the readers of their kinds' metrics.
	_ "github.com/shmkit/shmkit/array"
	_ "github.com/shmkit/shmkit/ringbuffer"
	_ "github.com/shmkit/shmkit/semaphore"
	_ "github.com/shmkit/shmkit/shmap"
	_ "github.com/shmkit/shmkit/value"
)

// openWait bounds the opens of a segment or object that top has just seen
// listed, which would otherwise wait for one removed since.
const openWait = 2 * time.Second

// watcher keeps the segments top reads open between refreshes, and the
// objects found in them, so that a refresh costs a directory listing and
// the metric reads.
type watcher struct {
	names []string
	segs  map[string]*watched
}

// watched is one open segment and its objects found so far, by name.
type watched struct {
	seg  *shm.Segment
	objs map[string]foundObject
}

// foundObject is an object as the directory listed it when it was found.
type foundObject struct {
	info shm.ObjectInfo
	obj  *shm.Object
}

// errNoReader marks an object whose kind no package of this program reads.
var errNoReader = errors.New("no metrics reader for its kind")

// snapshot is one reading of every watched segment.
type snapshot struct {
	at   time.Time
	segs []segmentSample
}

type segmentSample struct {
	name    string
	id      uint64
	err     error
	objects []objectSample
}

type objectSample struct {
	info    shm.ObjectInfo
	metrics []shm.Metric
	err     error // errNoReader, or why the metrics could not be read
}

func newWatcher(names []string) *watcher {
	return &watcher{names: names, segs: map[string]*watched{}}
}

// close releases every segment the watcher holds open.
func (w *watcher) close() {
	for name, ws := range w.segs {
		ws.seg.Close()
		delete(w.segs, name)
	}
}

// segment returns the open segment under name, opening it again when the
// name now holds another segment (or was removed).
func (w *watcher) segment(name string) (*watched, error) {
	ws := w.segs[name]
	if ws != nil {
		fi, err := os.Lstat(shm.Dir + "/" + name)
		same := false
		if err == nil {
			if own, err := ws.seg.File().Stat(); err == nil {
				same = os.SameFile(fi, own)
			}
		}
		if same {
			return ws, nil
		}
		ws.seg.Close()
		delete(w.segs, name)
	}
	// Stat first: it fails at once on a missing name, where Open waits.
	if _, err := shm.Stat(name); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), openWait)
	defer cancel()
	seg, err := shm.Open(ctx, name, nil)
	if err != nil {
		return nil, err
	}
	ws = &watched{seg: seg, objs: map[string]foundObject{}}
	w.segs[name] = ws
	return ws, nil
}

// read reads the metrics of every object of every watched segment.
func (w *watcher) read() snapshot {
	snap := snapshot{at: time.Now()}
	for _, name := range w.names {
		snap.segs = append(snap.segs, w.readSegment(name))
	}
	return snap
}

func (w *watcher) readSegment(name string) segmentSample {
	ss := segmentSample{name: name}
	ws, err := w.segment(name)
	if err != nil {
		ss.err = err
		return ss
	}
	ss.id = ws.seg.ID()
	infos, err := ws.seg.Objects()
	if err != nil {
		ss.err = err
		return ss
	}
	listed := map[string]bool{}
	for _, in := range infos {
		listed[in.Name] = true
		ob := objectSample{info: in}
		if in.Ready {
			ob.metrics, ob.err = ws.object(in)
		}
		ss.objects = append(ss.objects, ob)
	}
	for name := range ws.objs {
		if !listed[name] {
			delete(ws.objs, name) // freed since
		}
	}
	return ss
}

// object reads the metrics of the object the directory lists as in,
// finding it anew when it is not the one found before.
func (ws *watched) object(in shm.ObjectInfo) ([]shm.Metric, error) {
	fo, ok := ws.objs[in.Name]
	if !ok || !sameObject(fo.info, in) {
		ctx, cancel := context.WithTimeout(context.Background(), openWait)
		obj, err := ws.seg.Find(ctx, in.Name, shm.Spec{Kind: in.Kind, Fingerprint: in.Fingerprint})
		cancel()
		if err != nil {
			delete(ws.objs, in.Name)
			return nil, err
		}
		fo = foundObject{info: in, obj: obj}
		ws.objs[in.Name] = fo
	}
	m, err := shm.Metrics(fo.obj)
	if errors.Is(err, shm.ErrInvalid) {
		return nil, errNoReader
	}
	return m, err
}

// sameObject reports whether two listings of a name describe the same
// block.
func sameObject(a, b shm.ObjectInfo) bool {
	return a.Kind == b.Kind && a.Fingerprint == b.Fingerprint && a.Offset == b.Offset && a.Length == b.Length
}

// rateKey names one count of one object across snapshots: an object freed
// and made again elsewhere, or in a new segment under the same name,
// starts afresh.
type rateKey struct {
	seg    string
	id     uint64
	object string
	offset uint64
	metric string
}

// rates returns, for each count of cur also in prev, its increase per
// second between them. A count wraps at 2^64: the unsigned difference is
// the increase.
func rates(prev, cur snapshot) map[rateKey]float64 {
	dt := cur.at.Sub(prev.at).Seconds()
	out := map[rateKey]float64{}
	if dt <= 0 {
		return out
	}
	before := map[rateKey]uint64{}
	each(prev, func(k rateKey, m shm.Metric) { before[k] = m.Value })
	each(cur, func(k rateKey, m shm.Metric) {
		if v, ok := before[k]; ok {
			out[k] = float64(m.Value-v) / dt
		}
	})
	return out
}

// each calls f for every count (not gauge) of snap.
func each(snap snapshot, f func(rateKey, shm.Metric)) {
	for _, ss := range snap.segs {
		for _, ob := range ss.objects {
			for _, m := range ob.metrics {
				if !m.Gauge {
					f(rateKey{ss.name, ss.id, ob.info.Name, ob.info.Offset, m.Name}, m)
				}
			}
		}
	}
}

// topJSON is top -json's output; its field names are part of shmctl's
// interface (see the package documentation).
type topJSON struct {
	Time     string           `json:"time"`
	Interval float64          `json:"interval"`
	Segments []topSegmentJSON `json:"segments"`
}

type topSegmentJSON struct {
	Name    string          `json:"name"`
	ID      string          `json:"id,omitempty"`
	Objects []topObjectJSON `json:"objects"`
	Error   string          `json:"error,omitempty"`
}

type topObjectJSON struct {
	Name    string       `json:"name"`
	Kind    string       `json:"kind"`
	Ready   bool         `json:"ready"`
	Metrics []metricJSON `json:"metrics,omitempty"`
	Error   string       `json:"error,omitempty"`
}

type metricJSON struct {
	Name  string   `json:"name"`
	Help  string   `json:"help"`
	Value uint64   `json:"value"`
	Gauge bool     `json:"gauge"`
	Rate  *float64 `json:"rate,omitempty"`
}

func toTopJSON(cur snapshot, interval time.Duration, r map[rateKey]float64) topJSON {
	out := topJSON{Time: cur.at.UTC().Format(time.RFC3339Nano), Interval: interval.Seconds(), Segments: []topSegmentJSON{}}
	for _, ss := range cur.segs {
		sj := topSegmentJSON{Name: ss.name, Objects: []topObjectJSON{}}
		if ss.err != nil {
			sj.Error = ss.err.Error()
			out.Segments = append(out.Segments, sj)
			continue
		}
		sj.ID = hex64(ss.id)
		for _, ob := range ss.objects {
			oj := topObjectJSON{Name: ob.info.Name, Kind: ob.info.Kind.String(), Ready: ob.info.Ready}
			if ob.err != nil && ob.err != errNoReader {
				oj.Error = ob.err.Error()
			}
			for _, m := range ob.metrics {
				mj := metricJSON{Name: m.Name, Help: m.Help, Value: m.Value, Gauge: m.Gauge}
				if v, ok := r[rateKey{ss.name, ss.id, ob.info.Name, ob.info.Offset, m.Name}]; ok && !m.Gauge {
					mj.Rate = &v
				}
				oj.Metrics = append(oj.Metrics, mj)
			}
			sj.Objects = append(sj.Objects, oj)
		}
		out.Segments = append(out.Segments, sj)
	}
	return out
}

// clearScreen moves the cursor home and clears the terminal.
const clearScreen = "\x1b[H\x1b[2J"

// isTerminal reports whether w is a character device, where top redraws
// in place instead of printing screen after screen.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// screen writes one refresh of top: a title line, then a row per metric.
func (c *cli) screen(cur snapshot, every time.Duration, r map[rateKey]float64) error {
	fmt.Fprintf(c.stdout, "shmctl top  %s  every %v\n\n", cur.at.Local().Format("2006-01-02 15:04:05"), every)
	tw := newTable(c.stdout)
	fmt.Fprintln(tw, "SEGMENT\tOBJECT\tKIND\tMETRIC\tVALUE\tRATE/S")
	for _, ss := range cur.segs {
		if ss.err != nil {
			fmt.Fprintf(tw, "%s\t-\t-\t-\t-\terror: %v\n", ss.name, ss.err)
			continue
		}
		if len(ss.objects) == 0 {
			fmt.Fprintf(tw, "%s\t-\t-\t-\t-\tno objects\n", ss.name)
		}
		for _, ob := range ss.objects {
			kind := ob.info.Kind.String()
			switch {
			case !ob.info.Ready:
				fmt.Fprintf(tw, "%s\t%s\t%s\t-\t-\tnot ready\n", ss.name, ob.info.Name, kind)
				continue
			case ob.err == errNoReader:
				fmt.Fprintf(tw, "%s\t%s\t%s\t-\t-\t-\n", ss.name, ob.info.Name, kind)
				continue
			case ob.err != nil:
				fmt.Fprintf(tw, "%s\t%s\t%s\t-\t-\terror: %v\n", ss.name, ob.info.Name, kind, ob.err)
				continue
			}
			for _, m := range ob.metrics {
				rate := "-"
				if v, ok := r[rateKey{ss.name, ss.id, ob.info.Name, ob.info.Offset, m.Name}]; ok && !m.Gauge {
					rate = strconv.FormatFloat(v, 'f', 1, 64)
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\n", ss.name, ob.info.Name, kind, m.Name, m.Value, rate)
			}
		}
	}
	return tw.Flush()
}

// unique returns names without repeats, in their order.
func unique(names []string) []string {
	var out []string
	for _, n := range names {
		if !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	return out
}

// top shows the metrics of every object of the named segments, refreshed
// every -d, with the rate of each count.
func (c *cli) top(args []string) int {
	fs := c.flags()
	n := fs.Int("n", 0, "refresh this many times, then exit; 0: until interrupted")
	every := fs.Duration("d", time.Second, "time between refreshes")
	jsonOut := fs.Bool("json", false, "print one snapshot as JSON and exit")
	names, code, ok := c.parse(fs, args)
	if !ok {
		return code
	}
	nSet := false
	fs.Visit(func(f *flag.Flag) { nSet = nSet || f.Name == "n" })
	switch {
	case len(names) == 0:
		return c.usageError("top needs at least one segment NAME")
	case *n < 0:
		return c.usageError("-n must be 0 or more, got %d", *n)
	case *every < 0 || (*every == 0 && !*jsonOut):
		return c.usageError("-d must be positive (0 only with -json), got %v", *every)
	case *jsonOut && nSet:
		return c.usageError("-n does not go with -json, which prints one snapshot")
	}

	// From here on, SIGINT ends top with exit code 0.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	w := newWatcher(unique(names))
	defer w.close()
	// A name that cannot be read at the start is a mistake on the command
	// line; one that goes away later is shown as such.
	code = exitOK
	for _, name := range names {
		if _, err := w.segment(name); err != nil {
			code = max(code, c.fail(err))
		}
	}
	if code != exitOK {
		return code
	}

	wait := func() bool {
		t := time.NewTimer(*every)
		defer t.Stop()
		select {
		case <-t.C:
			return true
		case <-ctx.Done():
			return false
		}
	}

	prev := w.read()
	if *jsonOut {
		if *every == 0 || !wait() {
			return c.writeJSON(toTopJSON(prev, 0, nil))
		}
		cur := w.read()
		return c.writeJSON(toTopJSON(cur, cur.at.Sub(prev.at), rates(prev, cur)))
	}

	term := isTerminal(c.stdout)
	show := func(cur snapshot, r map[rateKey]float64, first bool) error {
		switch {
		case term:
			fmt.Fprint(c.stdout, clearScreen)
		case !first:
			fmt.Fprintln(c.stdout)
		}
		return c.screen(cur, *every, r)
	}
	if err := show(prev, nil, true); err != nil {
		return c.fail(err)
	}
	for i := 1; *n == 0 || i < *n; i++ {
		if !wait() {
			break // interrupted: a clean end
		}
		cur := w.read()
		if err := show(cur, rates(prev, cur), false); err != nil {
			return c.fail(err)
		}
		prev = cur
	}
	return exitOK
}

package shmprom

import (
	"context"
	"errors"
	"fmt"
	"path"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/shmkit/shmkit/shm"

	// Their packages register the readers of their kinds' metrics.
	_ "github.com/shmkit/shmkit/array"
	_ "github.com/shmkit/shmkit/ringbuffer"
	_ "github.com/shmkit/shmkit/semaphore"
	_ "github.com/shmkit/shmkit/shmap"
	_ "github.com/shmkit/shmkit/value"
)

// Namespace begins the name of every metric the Collector exports.
const Namespace = "shmkit"

// openWait bounds the opens of a segment or object a scrape has just seen
// listed, which would otherwise wait for one removed since.
const openWait = 2 * time.Second

// The labels of every object's metrics.
var objectLabels = []string{"segment", "object"}

var scrapeErrorsDesc = prometheus.NewDesc(Namespace+"_exporter_scrape_errors_total",
	"Segments and objects whose metrics a scrape could not read, since the exporter started.", nil, nil)

// Collector is a prometheus.Collector of the metrics of every object of
// the shmkit segments whose names match its patterns. Its methods are safe
// for concurrent use.
type Collector struct {
	patterns []string

	// names: no pattern holds a special character, so the segments are
	// read by name, without a listing of /dev/shm, which reads every
	// segment there.
	names bool

	mu     sync.Mutex
	closed bool
	segs   map[string]*watched    // open segments, by name
	descs  map[descKey]metricDesc // by kind and metric
	byName map[string]metricDesc  // the same, by exported name
	errors uint64                 // scrape errors so far
}

// descKey names one metric of one kind.
type descKey struct {
	kind  shm.Kind
	name  string
	gauge bool
}

// watched is an open segment and its objects found so far, by name.
type watched struct {
	seg  *shm.Segment
	objs map[string]foundObject
}

// foundObject is an object as the directory listed it when it was found.
type foundObject struct {
	info shm.ObjectInfo
	obj  *shm.Object
}

// metricDesc is the description of one exported metric name: every
// object of a kind gives the same help and type for the same name.
type metricDesc struct {
	desc      *prometheus.Desc
	valueType prometheus.ValueType
}

// NewCollector returns a Collector of the segments whose names match one
// of patterns, in path.Match syntax: a plain name matches itself. Each
// scrape lists /dev/shm anew, so a segment made later is exported from
// the next scrape on. It fails with ErrInvalid without a pattern or with a
// malformed one.
func NewCollector(patterns ...string) (*Collector, error) {
	if len(patterns) == 0 {
		return nil, fmt.Errorf("shmprom: %w: no segment name or pattern", ErrInvalid)
	}
	for _, p := range patterns {
		if _, err := path.Match(p, ""); err != nil {
			return nil, fmt.Errorf("shmprom: %w: pattern %q: %v", ErrInvalid, p, err)
		}
	}
	c := &Collector{
		patterns: append([]string(nil), patterns...),
		names:    true,
		segs:     map[string]*watched{},
		descs:    map[descKey]metricDesc{},
		byName:   map[string]metricDesc{},
	}
	for _, p := range patterns {
		c.names = c.names && !strings.ContainsAny(p, `*?[\`)
	}
	return c, nil
}

// Describe sends no description: the Collector is unchecked, as the
// metrics it exports depend on the objects the segments hold at each
// scrape (see prometheus.Collector).
func (c *Collector) Describe(chan<- *prometheus.Desc) {}

// Collect reads the metrics of every object of every matching segment and
// sends them, and the count of scrape errors. A segment or object that
// cannot be read is left out and counted; it does not fail the scrape.
// After Close, it sends an invalid metric wrapping ErrClosed.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		ch <- prometheus.NewInvalidMetric(scrapeErrorsDesc, fmt.Errorf("shmprom: collecting: %w", ErrClosed))
		return
	}
	infos, err := c.list()
	if err != nil {
		c.errors++
	}
	matched := map[string]bool{}
	for _, in := range infos {
		if !c.match(in.Name) || matched[in.Name] {
			continue
		}
		matched[in.Name] = true
		if in.Err != nil {
			c.errors++
			continue
		}
		if !in.Ready {
			continue // its creator is making it: exported from a later scrape
		}
		c.collectSegment(ch, in)
	}
	for name, ws := range c.segs {
		if !matched[name] { // removed since the last scrape
			ws.seg.Close()
			delete(c.segs, name)
		}
	}
	ch <- prometheus.MustNewConstMetric(scrapeErrorsDesc, prometheus.CounterValue, float64(c.errors))
}

// list describes the segments the patterns may match: those under the
// names, or every segment.
func (c *Collector) list() ([]shm.Info, error) {
	if !c.names {
		return shm.List()
	}
	var out []shm.Info
	for _, name := range c.patterns {
		in, err := shm.Stat(name)
		switch {
		case errors.Is(err, shm.ErrNotExist):
			continue
		case err != nil:
			in = shm.Info{Name: name, Err: err}
		}
		out = append(out, in)
	}
	return out, nil
}

func (c *Collector) match(name string) bool {
	for _, p := range c.patterns {
		if ok, _ := path.Match(p, name); ok {
			return true
		}
	}
	return false
}

// collectSegment sends the metrics of the objects of the segment List
// described as in.
func (c *Collector) collectSegment(ch chan<- prometheus.Metric, in shm.Info) {
	ws, err := c.segment(in)
	if err != nil {
		c.errors++
		return
	}
	objs, err := ws.seg.Objects()
	if err != nil {
		c.errors++
		return
	}
	listed := map[string]bool{}
	for _, o := range objs {
		listed[o.Name] = true
		if !o.Ready {
			continue
		}
		ms, err := ws.metrics(o)
		switch {
		case errors.Is(err, errNoReader):
			continue
		case err != nil:
			c.errors++
			continue
		}
		for _, m := range ms {
			metric, err := c.constMetric(o.Kind, m, in.Name, o.Name)
			if err != nil {
				c.errors++
				continue
			}
			ch <- metric
		}
	}
	for name := range ws.objs {
		if !listed[name] {
			delete(ws.objs, name) // freed since
		}
	}
}

// segment returns the open segment List described as in, opening it when
// it is not open yet or was replaced by another under its name.
func (c *Collector) segment(in shm.Info) (*watched, error) {
	if ws := c.segs[in.Name]; ws != nil {
		if ws.seg.ID() == in.ID {
			return ws, nil
		}
		ws.seg.Close()
		delete(c.segs, in.Name)
	}
	ctx, cancel := context.WithTimeout(context.Background(), openWait)
	defer cancel()
	seg, err := shm.Open(ctx, in.Name, nil)
	if err != nil {
		return nil, err
	}
	ws := &watched{seg: seg, objs: map[string]foundObject{}}
	c.segs[in.Name] = ws
	return ws, nil
}

// errNoReader marks an object whose kind no package of this program reads.
var errNoReader = errors.New("no metrics reader for its kind")

// metrics reads the metrics of the object the directory lists as in,
// finding it anew when it is not the one found before.
func (ws *watched) metrics(in shm.ObjectInfo) ([]shm.Metric, error) {
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

// constMetric makes the sample of metric m of an object of kind k.
func (c *Collector) constMetric(k shm.Kind, m shm.Metric, segment, object string) (prometheus.Metric, error) {
	key := descKey{k, m.Name, m.Gauge}
	d, ok := c.descs[key]
	if !ok {
		// Two metric names may come to one exported name: they share
		// its description, or are refused if of two types.
		name, vt := MetricName(k, m)
		if d, ok = c.byName[name]; !ok {
			d = metricDesc{prometheus.NewDesc(name, m.Help, objectLabels, nil), vt}
			c.byName[name] = d
		}
		if d.valueType != vt {
			return nil, fmt.Errorf("shmprom: metric %s is both a counter and a gauge", name)
		}
		c.descs[key] = d
	}
	return prometheus.NewConstMetric(d.desc, d.valueType, float64(m.Value), segment, object)
}

// MetricName is the name under which the Collector exports metric m of
// objects of kind k, and its type: shmkit_<kind>_<name>, with the suffix
// _total for a count (a counter), none for a gauge. Characters a metric
// name may not hold become underscores.
func MetricName(k shm.Kind, m shm.Metric) (string, prometheus.ValueType) {
	name := Namespace + "_" + sanitize(k.String()) + "_" + sanitize(m.Name)
	if m.Gauge {
		return name, prometheus.GaugeValue
	}
	if !strings.HasSuffix(name, "_total") {
		name += "_total"
	}
	return name, prometheus.CounterValue
}

// sanitize lowers s and turns what is not a letter, digit or underscore
// into an underscore, trimming those at either end: Kind(99) is kind_99.
func sanitize(s string) string {
	b := []byte(strings.ToLower(s))
	for i, r := range b {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '_') {
			b[i] = '_'
		}
	}
	return strings.Trim(string(b), "_")
}

// Close releases the segments the Collector holds open between scrapes.
// It is idempotent; Collect after it exports nothing.
func (c *Collector) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closed = true
	for name, ws := range c.segs {
		ws.seg.Close()
		delete(c.segs, name)
	}
	return nil
}

package shm

import (
	"fmt"
	"sync"
)

// Metric is one figure an object keeps in its shared memory: a count of
// events (messages pushed, sleeps, owner deaths) or a gauge (a queue's
// depth). Tools read them with Metrics, without a typed handle and without
// disturbing the processes that use the object (shmctl top, the
// Prometheus exporter); each type's Stats method returns the same figures
// typed.
type Metric struct {
	// Name is lower_snake_case and unique within the object: "pushed".
	Name string
	// Help says in one line what it counts.
	Help string
	// Value is the figure when read. A count only grows while the object
	// lives (wrapping at 2^64); a gauge goes up and down.
	Value uint64
	// Gauge: the figure is a level (a depth, a number of holders), not a
	// count of events.
	Gauge bool
}

// MetricsFunc reads the metrics of an object of one kind.
type MetricsFunc func(o *Object) ([]Metric, error)

var metricsFuncs sync.Map // Kind → MetricsFunc

// RegisterMetrics makes Metrics read the objects of kind k with f. The
// package that defines a kind's type registers it when it is initialised,
// so that a program that imports the package reads its objects' metrics;
// a later registration of the same kind replaces the earlier one.
func RegisterMetrics(k Kind, f MetricsFunc) { metricsFuncs.Store(k, f) }

// Metrics reads the metrics of o, always in the same order for its kind.
// It fails with ErrInvalid when no package linked into the program
// registered o's kind (import the package that defines the type), and
// with ErrCorrupt when o's header does not hold together. Objects that
// are the storage of another (KindTable, KindShard) have none of their
// own: their owner counts them.
func Metrics(o *Object) ([]Metric, error) {
	f, ok := metricsFuncs.Load(o.Kind())
	if !ok {
		return nil, fmt.Errorf("shm: metrics of %v %q: %w: no package in this program reads them", o.Kind(), o.Name(), ErrInvalid)
	}
	return f.(MetricsFunc)(o)
}

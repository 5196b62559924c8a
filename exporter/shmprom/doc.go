// Package shmprom exports the metrics that shmkit's shared objects keep in
// shared memory to Prometheus: a prometheus.Collector over named segments.
//
//	c, err := shmprom.NewCollector("orders", "myapp-*") // names or path.Match patterns
//	defer c.Close()
//	reg := prometheus.NewRegistry()
//	reg.MustRegister(c)
//	http.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
//
// Command shmkit-exporter (in cmd/shmkit-exporter) does that for segments
// named on its command line.
//
// # What it exports
//
// At each scrape the Collector lists /dev/shm, so that segments made after
// it started are exported too (when no pattern holds a special character
// it reads the named segments only), opens each matching segment (it keeps them
// open between scrapes, and opens a segment again when another has replaced
// it under its name), and reads shm.Metrics of every object of the
// segment's directory. Each metric of an object of kind KIND becomes
//
//	shmkit_KIND_NAME_total{segment="orders",object="incoming"}  a count: a counter
//	shmkit_KIND_NAME{segment="orders",object="incoming"}        a gauge
//
// with the metric's help (shmctl top shows the same figures). KIND is the
// kind's name as shmctl shows it (queue, mutex, map; Kind(N) becomes
// kind_N); MetricName gives the name and type. Objects of a kind no
// package in the program reads are left out: this package imports every
// package of shmkit that defines shared types (array, ringbuffer,
// semaphore, shmap, value), so that all of shmkit's kinds are read;
// a program registering readers of its own (shm.RegisterMetrics) gets
// those too.
//
// A segment or object that cannot be read (corrupted, removed between the
// listing and the read) is left out of that scrape and counted in
//
//	shmkit_exporter_scrape_errors_total
//
// instead of failing the scrape. A counter of an object freed, or of a
// segment removed, disappears with it; one made anew under the same name
// starts again from its own count, which Prometheus's rate() takes as a
// counter reset.
//
// The Collector is unchecked (Describe sends nothing, see
// prometheus.Collector): what it exports depends on the objects the
// segments hold at each scrape.
//
// # A module of its own
//
// This package is the module github.com/shmkit/shmkit/exporter, apart from
// shmkit's, because it needs github.com/prometheus/client_golang, and with
// it a dozen other modules (prometheus/common and procfs, protobuf,
// golang.org/x/net and text, klauspost/compress, ...). Were it a package of
// shmkit's own module, every program using shmkit would have them in its
// module graph, and minimal version selection would raise the versions of
// those it shares with them, whether or not it exports any metric. shmkit
// itself requires only golang.org/x/sys and mmap-go.
//
// # Caveats
//
//   - The Collector keeps the segments it exports open, so that shmctl info
//     and gc count the exporter among their users: gc does not remove a
//     segment the exporter holds, even after its creator died. A segment
//     removed by name is let go at the next scrape.
//   - Figures are read while the processes go on, without taking any lock:
//     two figures of one object may be a moment apart.
//   - Values are exported as float64: a count beyond 2^53 loses its lowest
//     bits.
package shmprom

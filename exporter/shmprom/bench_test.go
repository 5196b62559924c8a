//go:build linux && (amd64 || arm64)

package shmprom_test

import (
	"fmt"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/shmkit/shmkit/exporter/shmprom"
	"github.com/shmkit/shmkit/internal/testproc"
	"github.com/shmkit/shmkit/shm"
)

// BenchmarkCollect measures a scrape of a segment of 100 counters: the
// listing of /dev/shm, the directory, and the reads.
func BenchmarkCollect(b *testing.B) {
	const objects = 100
	seg, err := shm.Create(testproc.ShmName(b), 1<<20, &shm.SegmentOptions{MaxObjects: 128})
	if err != nil {
		b.Fatal(err)
	}
	defer seg.Free()
	for i := range objects {
		if _, err := shm.Place(shm.Spec{Kind: kindCounter, Size: counterSize}, nil, shm.In(seg, fmt.Sprint("c", i))); err != nil {
			b.Fatal(err)
		}
	}
	c, err := shmprom.NewCollector(seg.Name())
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	ch := make(chan prometheus.Metric, 4*objects)
	b.ReportAllocs()
	for b.Loop() {
		c.Collect(ch)
		if n := len(ch); n != 2*objects+1 {
			b.Fatalf("%d metrics, want %d", n, 2*objects+1)
		}
		for len(ch) > 0 {
			<-ch
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*objects), "ns/object")
}

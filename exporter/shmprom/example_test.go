//go:build linux && (amd64 || arm64)

package shmprom_test

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/shmkit/shmkit/exporter/shmprom"
	"github.com/shmkit/shmkit/shm"
)

// A collector serving /metrics for one segment.
// The metrics of shmkit's own types (queues, locks, maps) are read by
// their packages; here a program keeps a count in a bytes object of its
// own, and tells shm how to read it. (Counts that several processes move
// need atomic words, as shmkit's own types keep.)
func ExampleNewCollector() {
	shm.RegisterMetrics(shm.KindBytes, func(o *shm.Object) ([]shm.Metric, error) {
		if len(o.Bytes()) < 8 {
			return nil, shm.ErrCorrupt
		}
		n := binary.LittleEndian.Uint64(o.Bytes())
		return []shm.Metric{{Name: "requests", Help: "Requests served.", Value: n}}, nil
	})

	// The pid keeps examples run at once apart.
	name := fmt.Sprintf("shmkit-example-web-%d", os.Getpid())
	seg, err := shm.Create(name, 1<<20, nil)
	if err != nil {
		log.Fatal(err)
	}
	defer seg.Free()
	hits, err := shm.Place(shm.Spec{Kind: shm.KindBytes, Size: 8}, nil, shm.In(seg, "hits"))
	if err != nil {
		log.Fatal(err)
	}
	binary.LittleEndian.PutUint64(hits.Bytes(), 3)

	c, err := shmprom.NewCollector(name) // names, or patterns: "myapp-*"
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	reg := prometheus.NewRegistry()
	reg.MustRegister(c)
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	srv := httptest.NewServer(mux) // http.ListenAndServe(":9464", mux) in a program
	defer srv.Close()

	resp, err := srv.Client().Get(srv.URL + "/metrics")
	if err != nil {
		log.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if line := sc.Text(); strings.Contains(line, name) || strings.HasPrefix(line, "shmkit_exporter") {
			fmt.Println(strings.ReplaceAll(line, name, "web"))
		}
	}
	// Output:
	// shmkit_bytes_requests_total{object="hits",segment="web"} 3
	// shmkit_exporter_scrape_errors_total 0
}

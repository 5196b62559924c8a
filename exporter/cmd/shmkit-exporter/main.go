// Command shmkit-exporter serves the metrics of shmkit's shared objects to
// Prometheus: those of every object of the named segments, as package
// shmprom exports them, and the exporter's own Go and process metrics.
//
// Usage:
//
//	shmkit-exporter [-listen ADDR] NAME...
//
// NAME is a segment name or a path.Match pattern ('myapp-*'); segments made
// after the exporter started are exported from the next scrape on. The
// metrics are served at http://ADDR/metrics; -listen defaults to :9464.
// SIGINT or SIGTERM stops the exporter, which exits 0; a usage error exits
// 2, and a failure to listen 1.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/shmkit/shmkit/exporter/shmprom"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stderr, nil))
}

const usage = "usage: shmkit-exporter [-listen ADDR] NAME...\n"

// run serves until ctx ends and returns the exit code. ready, if not nil,
// is told the address it listens on.
func run(ctx context.Context, args []string, stderr io.Writer, ready func(addr string)) int {
	fs := flag.NewFlagSet("shmkit-exporter", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, usage); fs.PrintDefaults() }
	listen := fs.String("listen", ":9464", "address to serve /metrics on")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() == 0 {
		fmt.Fprint(stderr, "shmkit-exporter: no segment NAME\n"+usage)
		return 2
	}
	c, err := shmprom.NewCollector(fs.Args()...)
	if err != nil {
		fmt.Fprintf(stderr, "shmkit-exporter: %v\n%s", err, usage)
		return 2
	}
	defer c.Close()
	reg := prometheus.NewRegistry()
	reg.MustRegister(c, collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))

	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		fmt.Fprintf(stderr, "shmkit-exporter: %v\n", err)
		return 1
	}
	if ready != nil {
		ready(ln.Addr().String())
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	select {
	case err := <-done:
		fmt.Fprintf(stderr, "shmkit-exporter: %v\n", err)
		return 1
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdown); err != nil {
		fmt.Fprintf(stderr, "shmkit-exporter: stopping: %v\n", err)
		return 1
	}
	return 0
}

//go:build linux && (amd64 || arm64)

package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/shmkit/shmkit/internal/testproc"
	"github.com/shmkit/shmkit/semaphore"
	"github.com/shmkit/shmkit/shm"
)

func TestMain(m *testing.M) { testproc.Main(m) }

// TestServe: the exporter serves a segment's objects at /metrics and stops
// cleanly when its context ends.
func TestServe(t *testing.T) {
	seg, err := shm.Create(testproc.ShmName(t), 1<<20, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer seg.Free()
	mu, err := semaphore.NewMutex(shm.In(seg, "lock"))
	if err != nil {
		t.Fatal(err)
	}
	defer mu.Close()
	mu.Lock()
	mu.Unlock()

	ctx, cancel := context.WithCancel(context.Background())
	addr := make(chan string, 1)
	code := make(chan int, 1)
	var stderr bytes.Buffer
	go func() {
		code <- run(ctx, []string{"-listen", "127.0.0.1:0", seg.Name()}, &stderr, func(a string) { addr <- a })
	}()
	var body []byte
	select {
	case a := <-addr:
		// No connection kept: the test leaves no descriptor open.
		client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
		resp, err := client.Get("http://" + a + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		body, err = io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("GET /metrics: %v %v\n%s", resp.Status, err, body)
		}
	case c := <-code:
		t.Fatalf("exporter exited %d before listening:\n%s", c, stderr.String())
	}
	cancel()
	if c := <-code; c != 0 {
		t.Fatalf("exit %d after its context ended:\n%s", c, stderr.String())
	}
	for _, s := range []string{"shmkit_exporter_scrape_errors_total 0", "go_goroutines", "process_open_fds"} {
		if !strings.Contains(string(body), s) {
			t.Errorf("/metrics lacks %q:\n%s", s, body)
		}
	}
}

func TestUsage(t *testing.T) {
	for _, args := range [][]string{nil, {"-bogus", "x"}, {"["}, {"-listen"}} {
		var stderr bytes.Buffer
		if c := run(context.Background(), args, &stderr, nil); c != 2 || !strings.Contains(stderr.String(), "usage:") &&
			!strings.Contains(stderr.String(), "flag") {
			t.Errorf("run(%q) = %d, want 2:\n%s", args, c, stderr.String())
		}
	}
	var stderr bytes.Buffer
	if c := run(context.Background(), []string{"-listen", "bad:address:here", "x"}, &stderr, nil); c != 1 {
		t.Errorf("a bad address: exit %d, want 1:\n%s", c, stderr.String())
	}
}

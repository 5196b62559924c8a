// Package bench holds helpers shared by shmkit's benchmarks and by
// cmd/shmbench: the peers that shmkit's figures are put beside.
//
// Python runs the project's own Python script (peer/mp_peer.py, embedded),
// which measures what Python's multiprocessing does for the same job, so
// that a benchmark reports a Go figure and its Python peer from one run on
// one machine. Only ratios between figures of the same run mean anything.
package bench

import (
	"bytes"
	"context"
	_ "embed"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"
)

//go:embed peer/mp_peer.py
var mpPeer []byte

// The figures of the Python peer, with the unit of the value Python
// returns for each.
const (
	// LockedValue: 2 processes each increment a multiprocessing.Value('q')
	// under its get_lock() n times; ops/s over the 2n increments.
	LockedValue = "locked_value"
	// EventPingPong: 2 processes take turns n times through two
	// multiprocessing.Event; round trip in microseconds.
	EventPingPong = "event_pingpong"
	// PipeRTT: a byte goes to another process and back through a
	// multiprocessing.Pipe, n times; round trip in microseconds.
	PipeRTT = "pipe_rtt"
	// Queue: one process puts the ints 0 to n-1 on a
	// multiprocessing.Queue, another gets them; messages per second.
	Queue = "queue"
	// ArrayCopy: a multiprocessing.Array('B') of 1 MiB is copied into a
	// new bytes object under its get_lock() n times, in one process;
	// GB/s (10^9 bytes per second).
	ArrayCopy = "array_copy"
	// StartJoinFork: a multiprocessing.Process (fork start method)
	// running a function that does nothing is started and joined, n times
	// in turn; milliseconds per start and join.
	StartJoinFork = "start_join_fork"
	// StartJoinSpawn: StartJoinFork with the spawn start method (a new
	// interpreter each time); milliseconds per start and join.
	StartJoinSpawn = "start_join_spawn"
	// PoolApply: pool.apply of a function that returns its argument on a
	// multiprocessing.Pool(2), n times after a few untimed calls; round
	// trip in microseconds.
	PoolApply = "pool_apply"
	// PoolMap: pool.map(square, range(n)) on a multiprocessing.Pool(2)
	// with the default chunks (n/8 items each), after an untimed warm-up
	// map; items per second.
	PoolMap = "pool_map"
	// PoolMapChunk1: PoolMap with chunksize=1, a task per item; items per
	// second.
	PoolMapChunk1 = "pool_map_chunk1"
	// ManagerDict: 2 processes each set n int keys of their own in one
	// multiprocessing.Manager().dict() (fork), then get them back, after
	// a few untimed gets; ops/s over the 4n sets and gets (each a round
	// trip to the manager's server process).
	ManagerDict = "manager_dict"
)

// ErrNoPython is wrapped by the error Python returns when there is no
// python3 to run: benchmarks skip their Python peer then.
var ErrNoPython = errors.New("bench: python3 not found")

// waitDelay bounds the wait for the script's output once it was killed
// (ctx ended): its helper process may hold the pipe a little longer.
const waitDelay = 5 * time.Second

// Python runs one figure of the Python peer with parameter n (n >= 1; see
// the figure constants) and returns the value it measured. It returns an
// error wrapping ErrNoPython when python3 is not on PATH. The script runs
// from a temporary file, removed before Python returns. When ctx ends,
// python3 is killed.
func Python(ctx context.Context, figure string, n int) (float64, error) {
	if n < 1 {
		return 0, fmt.Errorf("bench: python %s: n = %d, must be at least 1", figure, n)
	}
	py, err := exec.LookPath("python3")
	if err != nil {
		return 0, fmt.Errorf("%w: %v", ErrNoPython, err)
	}
	script, err := writeScript()
	if err != nil {
		return 0, fmt.Errorf("bench: python %s: %w", figure, err)
	}
	defer os.Remove(script)

	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, py, script, figure, strconv.Itoa(n))
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.WaitDelay = waitDelay
	if err := cmd.Run(); err != nil {
		if cerr := ctx.Err(); cerr != nil {
			err = cerr
		}
		return 0, fmt.Errorf("bench: python %s %d: %w: %s", figure, n, err, strings.TrimSpace(stderr.String()))
	}
	v, err := parse(stdout.String(), figure)
	if err != nil {
		return 0, fmt.Errorf("bench: python %s %d: %w", figure, n, err)
	}
	return v, nil
}

// writeScript writes the embedded script to a new temporary file: Python's
// multiprocessing needs a real file for start methods other than fork.
func writeScript() (string, error) {
	f, err := os.CreateTemp("", "shmkit-mp-peer-*.py")
	if err != nil {
		return "", err
	}
	_, err = f.Write(mpPeer)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(f.Name())
		return "", err
	}
	return f.Name(), nil
}

// parse finds the line "FIGURE VALUE UNIT" in out and returns VALUE.
func parse(out, figure string) (float64, error) {
	for line := range strings.Lines(out) {
		f := strings.Fields(line)
		if len(f) != 3 || f[0] != figure {
			continue
		}
		v, err := strconv.ParseFloat(f[1], 64)
		if err != nil {
			return 0, fmt.Errorf("bad value in %q: %w", strings.TrimSpace(line), err)
		}
		return v, nil
	}
	return 0, fmt.Errorf("no %q line in the output %q", figure, out)
}

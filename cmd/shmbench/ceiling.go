//go:build linux

package main

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// ceilingC is the machine's ceiling in C: see the comment at its top.
//
//go:embed ceiling.c
var ceilingC []byte

func init() {
	for _, c := range []struct{ label, name, which string }{
		{"C ceiling: SPSC ring, batched (2 processes)", "ceiling_ring_msgs_per_s", "ring"},
		{"C ceiling: SPSC ring, one message per call (2 processes)", "ceiling_ring1_msgs_per_s", "ring1"},
		{"C ceiling: spinning round trip (2 processes)", "ceiling_spin_rtt_ns", "spin"},
		{"C ceiling: futex round trip (2 processes)", "ceiling_futex_rtt_ns", "futex"},
	} {
		registerOne(c.label, c.name, func(ctx context.Context, cfg config) ([]float64, error) {
			return runCeiling(ctx, cfg, c.which)
		})
	}
	registerOne("memcpy of 64 KiB in cache", "memcpy_64k_gb_per_s", runMemcpy)
}

// errNoCompiler is why the C figures are skipped.
var errNoCompiler = fmt.Errorf("%w: no C compiler", errSkip)

// compiler returns the C compiler's command: $CC when it names one
// (with its arguments), else cc, gcc or clang, whichever is on PATH.
func compiler() ([]string, error) {
	if cc := strings.Fields(os.Getenv("CC")); len(cc) > 0 {
		if path, err := exec.LookPath(cc[0]); err == nil {
			return append([]string{path}, cc[1:]...), nil
		}
	}
	for _, name := range []string{"cc", "gcc", "clang"} {
		if path, err := exec.LookPath(name); err == nil {
			return []string{path}, nil
		}
	}
	return nil, errNoCompiler
}

// The compiled ceiling program, built once per run of shmbench in a
// temporary directory that removeCeiling removes.
var ceilingBin struct {
	mu       sync.Mutex
	cc       string // the compiler that built it
	dir, bin string
}

// ceilingBinary compiles ceiling.c with cc, unless it is compiled already.
func ceilingBinary(ctx context.Context, cc []string) (string, error) {
	ceilingBin.mu.Lock()
	defer ceilingBin.mu.Unlock()
	if ceilingBin.bin != "" && ceilingBin.cc == strings.Join(cc, " ") {
		return ceilingBin.bin, nil
	}
	removeCeilingLocked()
	dir, err := os.MkdirTemp("", "shmbench-ceiling-")
	if err != nil {
		return "", err
	}
	src, bin := filepath.Join(dir, "ceiling.c"), filepath.Join(dir, "ceiling")
	if err := os.WriteFile(src, ceilingC, 0o600); err != nil {
		os.RemoveAll(dir)
		return "", err
	}
	build := exec.CommandContext(ctx, cc[0], append(cc[1:], "-O2", "-o", bin, src)...)
	if out, err := build.CombinedOutput(); err != nil {
		os.RemoveAll(dir)
		return "", fmt.Errorf("compiling ceiling.c with %s: %w: %s", filepath.Base(cc[0]), err, bytes.TrimSpace(out))
	}
	ceilingBin.cc, ceilingBin.dir, ceilingBin.bin = strings.Join(cc, " "), dir, bin
	return bin, nil
}

// removeCeiling removes the compiled ceiling program, if any.
func removeCeiling() {
	ceilingBin.mu.Lock()
	defer ceilingBin.mu.Unlock()
	removeCeilingLocked()
}

func removeCeilingLocked() {
	if ceilingBin.dir != "" {
		os.RemoveAll(ceilingBin.dir)
	}
	ceilingBin.cc, ceilingBin.dir, ceilingBin.bin = "", "", ""
}

// runCeiling runs the C program's figure which (ring, ring1, spin, futex,
// memcpy) one repetition at a time, through its serve mode, and returns
// what each measured: so that, paired, each repetition of the ceiling
// lies between two of the figure it is the ceiling of.
func runCeiling(ctx context.Context, cfg config, which string) ([]float64, error) {
	cc, err := compiler()
	if err != nil {
		return nil, err
	}
	bin, err := ceilingBinary(ctx, cc)
	if err != nil {
		return nil, err
	}
	n := reps(cfg, rateReps)
	// A repetition takes 1.25 cfg.dur with its warm-up, and a paired one
	// waits as long again for the other side's; the slack covers forks
	// and a loaded machine.
	ctx, cancel := context.WithTimeout(ctx, time.Duration(n)*cfg.dur*3+30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, strconv.FormatFloat(cfg.dur.Seconds(), 'g', -1, 64), "serve")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	// Its own process group, killed as a whole: a child that spins is
	// killed too (it also dies with its parent, PR_SET_PDEATHSIG).
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	failed := func(err error) error {
		in.Close()
		werr := cmd.Wait()
		switch {
		case ctx.Err() != nil:
			err = ctx.Err()
		case werr != nil:
			err = werr
		}
		return fmt.Errorf("running ceiling %s: %w: %s", which, err, bytes.TrimSpace(stderr.Bytes()))
	}
	lines := bufio.NewScanner(out)
	xs, err := cfg.repeat(ctx, n, func() (float64, error) {
		if _, err := io.WriteString(in, which+"\n"); err != nil {
			return 0, err
		}
		if !lines.Scan() {
			return 0, cmp.Or(lines.Err(), io.ErrUnexpectedEOF)
		}
		got, err := parseFigures(lines.Bytes())
		if err != nil {
			return 0, err
		}
		for _, v := range got {
			if len(v) != 1 {
				return 0, fmt.Errorf("ceiling: bad line %q", lines.Text())
			}
			return v[0], nil
		}
		return 0, fmt.Errorf("ceiling: empty line")
	})
	if err != nil {
		return nil, failed(err)
	}
	in.Close()
	if err := cmd.Wait(); err != nil {
		return nil, failed(err)
	}
	return xs, nil
}

// parseFigures reads "NAME VALUE..." lines: each figure's repetitions.
func parseFigures(out []byte) (map[string][]float64, error) {
	f := map[string][]float64{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) == 0 {
			continue
		}
		if len(fields) < 2 {
			return nil, fmt.Errorf("ceiling: bad line %q", sc.Text())
		}
		xs := make([]float64, 0, len(fields)-1)
		for _, field := range fields[1:] {
			v, err := strconv.ParseFloat(field, 64)
			if err != nil {
				return nil, fmt.Errorf("ceiling: bad line %q: %w", sc.Text(), err)
			}
			xs = append(xs, v)
		}
		f[fields[0]] = xs
	}
	return f, sc.Err()
}

// runMemcpy measures memcpy in C, or Go's copy when there is no C
// compiler, which the table's peer label then says.
func runMemcpy(ctx context.Context, cfg config) ([]float64, error) {
	xs, err := runCeiling(ctx, cfg, "memcpy")
	if !errors.Is(err, errNoCompiler) {
		setPeerLabel("memcpy_64k_gb_per_s", "")
		return xs, err
	}
	setPeerLabel("memcpy_64k_gb_per_s", "Go copy 64 KiB (no C compiler)")
	return goCopy(ctx, cfg)
}

// goCopy is the copy bandwidth of 64 KiB blocks in cache, in GB/s, of each
// repetition, each after a quarter of one that warms up, as in the C
// program.
func goCopy(ctx context.Context, cfg config) ([]float64, error) {
	const size, group = 64 << 10, 64
	x, y := make([]byte, size), make([]byte, size)
	for i := range x {
		x[i] = byte(i)
	}
	var sink byte // what the copies leave, kept alive below
	loop := func(d time.Duration) float64 {
		n, start := 0, time.Now()
		for time.Since(start) < d {
			for i := 0; i < group; i++ {
				copy(y, x)
				sink += y[(n+i)&(size-1)]
			}
			n += group
		}
		return float64(n) * size / time.Since(start).Seconds() / 1e9
	}
	xs, err := cfg.repeat(ctx, reps(cfg, rateReps), func() (float64, error) {
		loop(cfg.dur / 4)
		return loop(cfg.dur), nil
	})
	runtime.KeepAlive(sink)
	return xs, err
}

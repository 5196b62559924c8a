//go:build linux

package main

import (
	"bufio"
	"bytes"
	"context"
	_ "embed"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// ceilingC is the machine's ceiling in C: see the comment at its top.
//
//go:embed ceiling.c
var ceilingC []byte

func init() {
	register(measure{
		label: "C ceiling: ring, spin and futex round trips",
		names: []string{"ceiling_ring_msgs_per_s", "ceiling_spin_rtt_ns", "ceiling_futex_rtt_ns"},
		run: func(ctx context.Context, cfg config) (figures, error) {
			return runCeiling(ctx, cfg, "ring", "spin", "futex")
		},
	})
	register(measure{
		label: "memcpy of 64 KiB in cache",
		names: []string{"memcpy_64k_gb_per_s"},
		run:   runMemcpy,
	})
}

// errNoCompiler is why the C figures are skipped.
var errNoCompiler = fmt.Errorf("%w: no C compiler", errSkip)

// ceilingReps is how many timed repetitions of cfg.dur the C program runs
// for each figure (and Go's copy without it); it reports each, and the
// figure is their median, as for shmkit's own measures.
func ceilingReps(cfg config) int {
	return reps(cfg, 5)
}

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

// runCeiling compiles ceiling.c in a temporary directory, removed before
// it returns, and runs the figures named (ring, spin, futex, memcpy).
func runCeiling(ctx context.Context, cfg config, which ...string) (figures, error) {
	cc, err := compiler()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "shmbench-ceiling-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	src, bin := filepath.Join(dir, "ceiling.c"), filepath.Join(dir, "ceiling")
	if err := os.WriteFile(src, ceilingC, 0o600); err != nil {
		return nil, err
	}
	build := exec.CommandContext(ctx, cc[0], append(cc[1:], "-O2", "-o", bin, src)...)
	if out, err := build.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("compiling ceiling.c with %s: %w: %s", filepath.Base(cc[0]), err, bytes.TrimSpace(out))
	}

	reps := ceilingReps(cfg)
	// Each figure runs a quarter of a repetition to warm up, then reps;
	// the slack covers forks and a loaded machine.
	limit := time.Duration(len(which))*(cfg.dur*time.Duration(4*reps+1)/4) + 30*time.Second
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	args := append([]string{strconv.FormatFloat(cfg.dur.Seconds(), 'g', -1, 64), strconv.Itoa(reps)}, which...)
	cmd := exec.CommandContext(ctx, bin, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	// Its own process group, killed as a whole: a child that spins is
	// killed too (it also dies with its parent, PR_SET_PDEATHSIG).
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Run(); err != nil {
		if ctx.Err() != nil {
			err = ctx.Err()
		}
		return nil, fmt.Errorf("running ceiling: %w: %s", err, bytes.TrimSpace(stderr.Bytes()))
	}
	got, err := parseFigures(stdout.Bytes())
	if err != nil {
		return nil, err
	}
	f := figures{}
	for name, xs := range got {
		f[name] = cfg.note(name, xs)
	}
	return f, nil
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
func runMemcpy(ctx context.Context, cfg config) (figures, error) {
	f, err := runCeiling(ctx, cfg, "memcpy")
	if !errors.Is(err, errNoCompiler) {
		setPeerLabel("memcpy_64k_gb_per_s", "")
		return f, err
	}
	setPeerLabel("memcpy_64k_gb_per_s", "Go copy 64 KiB (no C compiler)")
	xs := goCopy(ctx, cfg)
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return figures{"memcpy_64k_gb_per_s": cfg.note("memcpy_64k_gb_per_s", xs)}, nil
}

// goCopy is the copy bandwidth of 64 KiB blocks in cache, in GB/s, of each
// repetition.
func goCopy(ctx context.Context, cfg config) []float64 {
	const size, group = 64 << 10, 64
	x, y := make([]byte, size), make([]byte, size)
	for i := range x {
		x[i] = byte(i)
	}
	var got []float64
	var sink byte // what the copies leave, kept alive below
	for k := 0; k <= ceilingReps(cfg) && ctx.Err() == nil; k++ {
		n, start := 0, time.Now()
		for time.Since(start) < cfg.dur {
			for i := 0; i < group; i++ {
				copy(y, x)
				sink += y[(n+i)&(size-1)]
			}
			n += group
		}
		if k > 0 { // repetition 0 warms up
			got = append(got, float64(n)*size/time.Since(start).Seconds()/1e9)
		}
	}
	runtime.KeepAlive(sink)
	return got
}

//go:build linux

package main

// -benchfmt: the run in the Go benchmark format, so that benchstat
// compares two runs of shmbench (before and after a change) as it
// compares two runs of go test -bench:
//
//	goos: linux
//	pkg: github.com/shmkit/shmkit/cmd/shmbench
//	Unit msg/s better=higher
//	BenchmarkShmbench/ring_spsc_msgs_per_s 1 4.51e+07 msg/s
//	BenchmarkRatio/ring_spsc_msgs_per_s-vs-chan_msgs_per_s 1 2.41 x-faster
//
// A line for each repetition of each figure, in the figure's unit; a line
// for each pair of repetitions of a row's ratio, paired ones only, in
// times faster.

import (
	"bufio"
	"fmt"
	"io"
	"maps"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
)

// ratioUnit is the unit of the ratio lines: how many times faster shmkit
// is than its peer.
const ratioUnit = "x-faster"

// figureUnits are the units of the figures the rows show, by name.
func figureUnits() map[string]string {
	u := map[string]string{}
	for _, r := range rows {
		u[r.shmkit] = r.unit
		if r.peer != "" {
			u[r.peer] = r.unit
		}
	}
	return u
}

// writeBenchfmt writes res in the Go benchmark format.
func writeBenchfmt(w io.Writer, res *result) error {
	bw := bufio.NewWriter(w)
	fmt.Fprintf(bw, "goos: %s\ngoarch: %s\npkg: github.com/shmkit/shmkit/cmd/shmbench\n", runtime.GOOS, runtime.GOARCH)
	if cpu := cpuModel(); cpu != "" {
		fmt.Fprintf(bw, "cpu: %s\n", cpu)
	}
	units := figureUnits()
	names := slices.Sorted(maps.Keys(res.figs))
	better := map[string]string{}
	for _, name := range names {
		unit := benchUnit(units[name])
		better[unit] = "higher"
		if lowerIsBetter(units[name]) || unit == "alloc/op" || unit == "threads" {
			better[unit] = "lower"
		}
	}
	better[ratioUnit] = "higher"
	for _, unit := range slices.Sorted(maps.Keys(better)) {
		fmt.Fprintf(bw, "Unit %s better=%s\n", unit, better[unit])
	}
	for _, name := range names {
		xs := res.reps[name]
		if len(xs) == 0 {
			xs = []float64{res.figs[name]}
		}
		for _, x := range xs {
			fmt.Fprintf(bw, "BenchmarkShmbench/%s 1 %s %s\n", name, strconv.FormatFloat(x, 'g', 6, 64), benchUnit(units[name]))
		}
	}
	for _, r := range rows {
		if pr, ok := res.pairs[r.ratioKey()]; ok && res.ratios[r.ratioKey()].Paired {
			for _, x := range pairRatios(pr[0], pr[1], lowerIsBetter(r.unit)) {
				fmt.Fprintf(bw, "BenchmarkRatio/%s-vs-%s 1 %s %s\n", r.shmkit, r.peer, strconv.FormatFloat(x, 'g', 6, 64), ratioUnit)
			}
		}
	}
	return bw.Flush()
}

// benchUnit is unit as one word: the unit of a figure no row shows is
// "value".
func benchUnit(unit string) string {
	if unit == "" {
		return "value"
	}
	return strings.ReplaceAll(unit, " ", "-")
}

// writeBenchfmtFile writes the run in the Go benchmark format to path.
func writeBenchfmtFile(path string, res *result) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := writeBenchfmt(f, res); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

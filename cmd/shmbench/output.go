//go:build linux

package main

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"
)

// Peer labels that a measure changed in this run (a Go copy standing in
// for memcpy without a C compiler), by figure name.
var (
	labelsMu       sync.Mutex
	labelOverrides = map[string]string{}
)

// setPeerLabel makes label the table's name of the peer figure name; ""
// goes back to the row's own.
func setPeerLabel(name, label string) {
	labelsMu.Lock()
	defer labelsMu.Unlock()
	if label == "" {
		delete(labelOverrides, name)
	} else {
		labelOverrides[name] = label
	}
}

func peerLabels() map[string]string {
	labelsMu.Lock()
	defer labelsMu.Unlock()
	m := make(map[string]string, len(labelOverrides))
	for k, v := range labelOverrides {
		m[k] = v
	}
	return m
}

// writeJSON prints {"metrics": {NAME: number, ...}, "ratios": {SHMKIT/PEER:
// {...}, ...}, "repetitions": {NAME: [number, ...]}, "seconds": number}:
// the figures measured, and no others; for each row with a peer, the
// ratio (see ratioStat); what each repetition behind a figure measured,
// in order, for the figures that have them; and how long the run took.
func writeJSON(w io.Writer, res *result) error {
	b, err := json.MarshalIndent(struct {
		Metrics     figures              `json:"metrics"`
		Ratios      map[string]ratioStat `json:"ratios"`
		Repetitions map[string][]float64 `json:"repetitions"`
		Seconds     float64              `json:"seconds"`
	}{res.figs, res.ratios, res.reps, math.Round(res.took.Seconds()*10) / 10}, "", "  ")
	if err != nil {
		return err
	}
	_, err = w.Write(append(b, '\n'))
	return err
}

// sig3 writes x with three significant digits (two decimals from 0.1 to
// 10, two digits below).
func sig3(x float64) string {
	switch ax := math.Abs(x); {
	case ax < 0.1 && ax > 0:
		return strconv.FormatFloat(x, 'g', 2, 64)
	case ax >= 100:
		return strconv.FormatFloat(x, 'f', 0, 64)
	case ax >= 10:
		return strconv.FormatFloat(x, 'f', 1, 64)
	default:
		return strconv.FormatFloat(x, 'f', 2, 64)
	}
}

// formatValue writes v of unit for a person: 84.4 M msg/s, 240 ns,
// 14.2 us, 47.0 GB/s.
func formatValue(v float64, unit string) string {
	switch unit {
	case "ns", "us", "ms", "s":
		s := v * map[string]float64{"ns": 1e-9, "us": 1e-6, "ms": 1e-3, "s": 1}[unit]
		switch {
		case s < 1e-6:
			return sig3(s*1e9) + " ns"
		case s < 1e-3:
			return sig3(s*1e6) + " us"
		case s < 1:
			return sig3(s*1e3) + " ms"
		}
		return sig3(s) + " s"
	case "msg/s", "op/s", "item/s":
		for _, p := range []struct {
			x float64
			p string
		}{{1e9, "G"}, {1e6, "M"}, {1e3, "k"}} {
			if v >= p.x {
				return sig3(v/p.x) + " " + p.p + " " + unit
			}
		}
		return sig3(v) + " " + unit
	case "GB/s":
		return sig3(v) + " " + unit
	}
	if v == math.Trunc(v) && math.Abs(v) < 1e6 {
		return strconv.FormatFloat(v, 'f', 0, 64) + " " + unit
	}
	return sig3(v) + " " + unit
}

// peerLabel is the row's peer, as this run names it.
func (res *result) peerLabel(r *row) string {
	if l, ok := res.labels[r.peer]; ok {
		return l
	}
	return r.label
}

// ratioText is the row's ratio, in one direction for rates and times
// alike: how many times faster shmkit is than the peer ("19.8x faster"),
// or slower ("2.05x slower"), "as fast" when that rounds to 1.00x, then
// the lowest and highest of the pairwise ratios, read the same way
// ("2.05x slower (1.98-2.31)"), or "(unpaired)" for the ratio of two
// figures measured apart; "—" when a figure is missing.
func (res *result) ratioText(r *row) string {
	if r.peer == "" {
		return ""
	}
	st, ok := res.ratios[r.ratioKey()]
	if !ok { // a run not summed up by setRatios
		v, have := r.value(res.figs)
		st, ok = ratioStat{Median: v}, have
	}
	if !ok || !(st.Median > 0) {
		return "—"
	}
	v, lo, hi := st.Median, st.Min, st.Max
	word := "x faster"
	if v < 1 {
		v, lo, hi, word = 1/v, 1/hi, 1/lo, "x slower"
	}
	text := sig3(v) + word
	if sig3(v) == "1.00" {
		text = "as fast"
	}
	if !st.Paired {
		return text + " (unpaired)"
	}
	return text + " (" + sig3(lo) + "-" + sig3(hi) + ")"
}

// moved is how far the repetitions of the figure name spread, as a share
// of their median: (highest - lowest) / median, "4.2%" or "48%"; "1 run"
// for a figure measured once; "—" when there is no figure or no record
// of its repetitions.
func (res *result) moved(name string) string {
	xs := res.reps[name]
	if _, ok := res.figs[name]; !ok || len(xs) == 0 {
		return "—"
	}
	if len(xs) == 1 {
		return "1 run"
	}
	lo, hi := slices.Min(xs), slices.Max(xs)
	med := median(xs)
	switch {
	case hi == lo:
		return "0%"
	case med <= 0:
		return "—"
	}
	p := 100 * (hi - lo) / med
	if p < 10 {
		return strconv.FormatFloat(p, 'f', 1, 64) + "%"
	}
	return strconv.FormatFloat(p, 'f', 0, 64) + "%"
}

// movedText is the row's moved cell: shmkit's figure's, then the peer's
// after a slash when the row has a peer.
func (res *result) movedText(r *row) string {
	s := res.moved(r.shmkit)
	if r.peer != "" {
		s += " / " + res.moved(r.peer)
	}
	return s
}

// figure is a figure's cell: its value, or why there is none.
func (res *result) figure(name, unit string) string {
	if v, ok := res.figs[name]; ok {
		return formatValue(v, unit)
	}
	return res.why(name)
}

// why a figure is missing: "skipped: no python3", "failed: ...", or
// "not run" (left out by -run).
func (res *result) why(name string) string {
	err, ok := res.missing[name]
	switch {
	case !ok:
		return "not run"
	case errors.Is(err, errSkip):
		return err.Error()
	}
	return "failed: " + err.Error()
}

// partsMet are the verdicts on each part of the row's target, in order:
// "yes", "no", or "—" when a figure the part needs is missing.
func (res *result) partsMet(r *row) []string {
	var out []string
	f := res.scored()
	for _, p := range r.parts {
		s, ok := p(f)
		switch {
		case !ok:
			out = append(out, "—")
		case s >= 1:
			out = append(out, "yes")
		default:
			out = append(out, "no")
		}
	}
	return out
}

// met is the row's met cell: a verdict for each part of its target
// ("yes", "no; yes", "yes; —"), "" for a row that only reports.
func (res *result) met(r *row) string {
	if r.target == "" {
		return ""
	}
	return strings.Join(res.partsMet(r), "; ")
}

// verdict is the whole target's: "yes" when every part is met, "no" when
// one is missed, "—" when none is missed but one could not be judged, ""
// for a row that only reports.
func (res *result) verdict(r *row) string {
	if r.target == "" || len(r.parts) == 0 {
		return ""
	}
	ps := res.partsMet(r)
	switch {
	case slices.Contains(ps, "no"):
		return "no"
	case slices.Contains(ps, "—"):
		return "—"
	}
	return "yes"
}

// cellWidth is the widest a cell gets; the rest of a long error is in
// the notes under the table.
const cellWidth = 44

func clip(s string) string {
	if utf8.RuneCountInString(s) <= cellWidth {
		return s
	}
	return string([]rune(s)[:cellWidth-1]) + "…"
}

// writeTable prints the table for a person (a Markdown table, aligned),
// then what was not measured and why, other figures, and the machine.
func writeTable(w io.Writer, res *result) {
	lines := [][]string{{"metric", "shmkit", "peer", "ratio", "moved", "target", "met"}}
	for _, r := range rows {
		peer := ""
		if r.peer != "" {
			if v, ok := res.figs[r.peer]; ok {
				peer = res.peerLabel(r) + " " + formatValue(v, r.unit)
			} else {
				peer = res.peerLabel(r) + ": " + res.why(r.peer)
			}
		}
		lines = append(lines, []string{r.metric, clip(res.figure(r.shmkit, r.unit)), clip(peer),
			res.ratioText(r), res.movedText(r), r.target, res.met(r)})
	}
	widths := make([]int, len(lines[0]))
	for _, l := range lines {
		for i, c := range l {
			widths[i] = max(widths[i], utf8.RuneCountInString(c))
		}
	}
	bw := bufio.NewWriter(w)
	defer bw.Flush()
	for k, l := range lines {
		for i, c := range l {
			fmt.Fprintf(bw, "| %s%s ", c, strings.Repeat(" ", widths[i]-utf8.RuneCountInString(c)))
		}
		fmt.Fprintln(bw, "|")
		if k == 0 {
			for i := range l {
				fmt.Fprintf(bw, "| %s ", strings.Repeat("-", widths[i]))
			}
			fmt.Fprintln(bw, "|")
		}
	}

	fmt.Fprintf(bw, "\n%s\n\nTargets: %s; %s.\n", legend, res.tallyText(), res.partsText())

	var notes []string
	for _, o := range res.outcomes {
		if o.err != nil {
			why := o.err.Error()
			if !errors.Is(o.err, errSkip) {
				why = "failed: " + why
			}
			notes = append(notes, fmt.Sprintf("  %s: %s", o.m.label, why))
		}
	}
	if len(notes) > 0 {
		fmt.Fprintf(bw, "\nNot measured:\n%s\n", strings.Join(notes, "\n"))
	}
	if other := res.otherFigures(); len(other) > 0 {
		fmt.Fprintf(bw, "\nOther figures:\n")
		for _, name := range other {
			fmt.Fprintf(bw, "  %s %s\n", name, strconv.FormatFloat(res.figs[name], 'g', 4, 64))
		}
	}
	fmt.Fprintf(bw, "\n%s\n", res.footer())
}

// legend, under the table, says how to read it.
const legend = `Legend:
  shmkit, peer  the median of each figure's repetitions; the peer is what shmkit stands beside
  ratio         how many times faster or slower shmkit is than the peer, for rates and times alike:
                the median of the ratios of repetitions taken in turn (shmkit, peer, shmkit, ...),
                then the lowest and highest of those ratios; unpaired: the ratio of the two medians,
                measured apart
  moved         how far each figure's repetitions spread, (highest - lowest) / median: shmkit's / the peer's
  target        the design's goal; a ratio in it reads as the ratio column ("<= 2x slower")
  met           yes or no for each part of the target, in its order; — when a figure is missing
  indented      the figure of the row above, beside another peer
Read the ratios, not the times: a machine's load moves the figures of a run, the peers' with shmkit's.`

// tally counts the rows with a target: all of them, those met (every
// part), and those a missing figure leaves open.
func (res *result) tally() (met, all, open int) {
	for _, r := range rows {
		switch res.verdict(r) {
		case "yes":
			met++
		case "—":
			open++
		case "":
			continue
		}
		all++
	}
	return met, all, open
}

// tallyText is the tally for a person: "11 of 16 met (1 not measured)".
func (res *result) tallyText() string {
	met, all, open := res.tally()
	s := fmt.Sprintf("%d of %d met", met, all)
	if open > 0 {
		s += fmt.Sprintf(" (%d not measured)", open)
	}
	return s
}

// partsText counts the parts of the targets met: "23 of 27 parts met".
func (res *result) partsText() string {
	met, all := 0, 0
	for _, r := range rows {
		for _, v := range res.partsMet(r) {
			all++
			if v == "yes" {
				met++
			}
		}
	}
	return fmt.Sprintf("%d of %d parts met", met, all)
}

// otherFigures are the figures measured that no row shows, by name.
func (res *result) otherFigures() []string {
	shown := map[string]bool{}
	for _, r := range rows {
		shown[r.shmkit], shown[r.peer] = true, true
	}
	var out []string
	for name := range res.figs {
		if !shown[name] {
			out = append(out, name)
		}
	}
	slices.Sort(out)
	return out
}

// footer names the machine, the date, and the kind of run: its timed
// loops, its repetitions, and how long it took.
func (res *result) footer() string {
	kind := fmt.Sprintf("full run, timed loops of %v, %d repetitions each (Python %d)",
		res.cfg.dur, rateReps, pyReps)
	if res.cfg.quick {
		kind = fmt.Sprintf("quick run, timed loops of %v, %d repetitions each (Python %d)", res.cfg.dur, quickReps, pyReps)
	}
	return fmt.Sprintf("%s; %s; %s; took %.0f s", res.machine, res.date.Format("2006-01-02 15:04 MST"), kind, res.took.Seconds())
}

// machine describes this machine: CPU model, cores, kernel, Go, and
// python3 and the C compiler when present.
func machine() string {
	cpu := cmp.Or(cpuModel(), "unknown CPU")
	parts := []string{cpu, fmt.Sprintf("%d cores", runtime.NumCPU())}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		parts = append(parts, "Linux "+strings.TrimSpace(string(b)))
	}
	parts = append(parts, runtime.Version())
	if v := version("python3", "--version"); v != "" {
		parts = append(parts, v)
	}
	if cc, err := compiler(); err == nil {
		if v := version(cc[0], "--version"); v != "" {
			parts = append(parts, v)
		}
	}
	return strings.Join(parts, ", ")
}

// cpuModel is the model name of this machine's CPU, "" when unknown.
func cpuModel() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return ""
	}
	for line := range strings.Lines(string(b)) {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// version is the first line a program prints when asked its version.
func version(prog, arg string) string {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, prog, arg).CombinedOutput()
	if err != nil {
		return ""
	}
	line, _, _ := strings.Cut(string(out), "\n")
	return strings.TrimSpace(line)
}

// writeSVGFile writes the chart to path.
func writeSVGFile(path string, res *result) error {
	var b bytes.Buffer
	writeSVG(&b, res)
	return os.WriteFile(path, b.Bytes(), 0o644)
}

// The chart's geometry, in pixels.
const (
	svgLabelW = 390 // the metric names, right-aligned
	svgBarX   = svgLabelW + 14
	svgBarW   = 440
	svgTextX  = svgBarX + svgBarW + 12
	svgTop    = 78 // the first row
	svgRowH   = 36
	svgBarH   = 16
	svgCharW  = 6.6 // a character of 12px sans-serif, about
)

// writeSVG draws a bar per row that has a target: its length the row's
// score on a log scale, the target (a score of 1) a vertical line, green
// when met and red when missed, with the figure and ratio beside it.
func writeSVG(w io.Writer, res *result) {
	type bar struct {
		label, target, text string
		score               float64
		ok                  bool
	}
	var bars []bar
	lo, hi := 0.1, 10.0
	for _, r := range rows {
		if r.target == "" || len(r.parts) == 0 {
			continue
		}
		b := bar{label: strings.TrimSpace(r.metric), target: "target: " + r.target}
		if strings.HasPrefix(r.metric, " ") { // "the same beside X", under the row above
			b.label = "↳ " + strings.TrimPrefix(b.label, "the same ")
		}
		b.score, b.ok = r.score(res.scored())
		if _, have := res.figs[r.shmkit]; !have {
			b.text = "not measured: " + res.why(r.shmkit)
		} else {
			b.text = res.figure(r.shmkit, r.unit)
			if t := res.ratioText(r); t != "" && t != "—" {
				b.text += ", " + t
			}
			if !b.ok && r.peer != "" {
				b.text += " (" + res.peerLabel(r) + " " + res.why(r.peer) + ")"
			}
		}
		if b.ok && b.score > 0 {
			lo, hi = min(lo, b.score), max(hi, b.score)
		}
		bars = append(bars, b)
	}
	// The scale: whole decades, at most 1/1000 to 1000 of the target.
	elo := max(int(math.Floor(math.Log10(lo))), -3)
	ehi := min(int(math.Ceil(math.Log10(hi))), 3)
	lo, hi = math.Pow10(elo), math.Pow10(ehi)
	x := func(s float64) float64 {
		s = math.Min(math.Max(s, lo), hi)
		return svgBarX + (math.Log10(s)-math.Log10(lo))/(math.Log10(hi)-math.Log10(lo))*svgBarW
	}

	textW := 300.0
	for _, b := range bars {
		textW = math.Max(textW, float64(utf8.RuneCountInString(b.text))*svgCharW)
	}
	footer := res.footer()
	width := math.Max(svgTextX+textW+16, float64(utf8.RuneCountInString(footer))*5.6+32)
	bottom := svgTop + len(bars)*svgRowH
	height := bottom + 40

	bw := bufio.NewWriter(w)
	defer bw.Flush()
	p := func(format string, args ...any) { fmt.Fprintf(bw, format, args...) }
	p(`<?xml version="1.0" encoding="UTF-8"?>` + "\n")
	p(`<svg xmlns="http://www.w3.org/2000/svg" width="%.0f" height="%d" viewBox="0 0 %.0f %d" font-family="sans-serif">`+"\n",
		width, height, width, height)
	p(`<rect width="100%%" height="100%%" fill="#ffffff"/>` + "\n")
	p(`<text x="16" y="26" font-size="17" font-weight="bold" fill="#222">%s</text>`+"\n",
		esc("shmkit against its targets: "+res.tallyText()))
	p(`<text x="16" y="45" font-size="12" fill="#555">%s</text>`+"\n",
		esc("Each bar is how a figure stands against its target, on a log scale: reaching the line the target is met (green), short of it missed (red)."))

	// Decades: a grid line and a label each; the target's line is darker.
	for e := elo; e <= ehi; e++ {
		xd := x(math.Pow10(e))
		label := strconv.FormatFloat(math.Pow10(e), 'f', max(-e, 0), 64) + "x"
		color, dash, sw := "#dddddd", "", 1.0
		if e == 0 {
			label, color, sw = "target", "#222222", 2
		} else {
			dash = ` stroke-dasharray="3,3"`
		}
		p(`<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="%s" stroke-width="%.0f"%s/>`+"\n", xd, svgTop-12, xd, bottom, color, sw, dash)
		p(`<text x="%.1f" y="%d" font-size="11" fill="#555" text-anchor="middle">%s</text>`+"\n", xd, svgTop-16, esc(label))
	}

	for i, b := range bars {
		y := svgTop + i*svgRowH
		p(`<text x="%d" y="%d" font-size="12" fill="#222" text-anchor="end">%s</text>`+"\n", svgLabelW, y+13, esc(b.label))
		p(`<text x="%d" y="%d" font-size="10" fill="#777" text-anchor="end">%s</text>`+"\n", svgLabelW, y+26, esc(b.target))
		if !b.ok {
			p(`<text x="%d" y="%d" font-size="12" fill="#888">%s</text>`+"\n", svgBarX+4, y+15, esc(b.text))
			continue
		}
		color := "#d64541" // missed
		if b.score >= 1 {
			color = "#2e9e5b" // met
		}
		bx := x(b.score)
		p(`<rect x="%d" y="%d" width="%.1f" height="%d" rx="2" fill="%s"><title>%s</title></rect>`+"\n",
			svgBarX, y+3, math.Max(bx-svgBarX, 2), svgBarH, color, esc(fmt.Sprintf("score %.3g (1 is the target)", b.score)))
		p(`<text x="%d" y="%d" font-size="12" fill="#222">%s</text>`+"\n", svgTextX, y+15, esc(b.text))
	}
	p(`<text x="16" y="%d" font-size="10" fill="#777">%s</text>`+"\n", height-14, esc(footer))
	p("</svg>\n")
}

// esc escapes s for XML text and attributes.
func esc(s string) string {
	var b strings.Builder
	xml.EscapeText(&b, []byte(s))
	return b.String()
}

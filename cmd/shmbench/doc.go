// Command shmbench measures shmkit across real processes, beside its peers
// in the same run, and prints each figure with how many times faster or
// slower it is than the peer, how much it moved between repetitions, and
// the target of shmkit's design that it meets or misses.
//
//	go run ./cmd/shmbench           # under a minute on 2 cores
//	go run ./cmd/shmbench -quick    # 10 to 15 seconds
//
// # What it measures
//
// Each figure of shmkit (rings, the MPMC queue, ping-pong round trips,
// the shared Mutex, 64 KiB messages, Pool.Apply and Pool.Map, process
// start and join without and with spares (process.Spares), allocations on
// the hot paths, threads for parked goroutines, a lossless PubSub to 1, 2
// and 4 subscribers, round trips of 8 B, 64 KiB and 1 MiB messages
// through loans, in the default mode and spinning) is measured between processes this program starts with
// package process, and stands beside its peers:
//
//   - Go's own: a channel and sync.Mutex between goroutines, os.Pipe and a
//     unix socket between processes, copy.
//   - shmkit's own, for the PubSub: as many SPSC rings as subscribers,
//     into which one producer pushes each message.
//   - shmkit's own, for loans: the same round trips by Push and Pop, which
//     copy each message in and out.
//   - Python's multiprocessing (Queue, a locked Value, Pool.apply, Pool.map,
//     Process start and join with fork and spawn), through the project's
//     own script (package bench) when python3 is on PATH.
//   - The machine's ceiling, through a small C program of the project's own
//     (ceiling.c, embedded), compiled with $CC, cc, gcc or clang when one
//     is there: an SPSC ring of 8-byte messages with batched cursors and
//     the same ring one message per call, spin and futex ping-pong round
//     trips between two processes, and memcpy of 64 KiB in cache. Without a C compiler the ceiling is left out, and Go's
//     copy stands in for memcpy (the table says so).
//
// A peer that cannot run here is skipped, and its row says why ("skipped:
// no python3"); the run goes on. Each timed loop runs for -dur (25 ms with
// -quick, 100 ms without), and is repeated: 7 times with -quick, 9 without,
// and 3 times beside Python's figures. The counts (threads, allocations) are
// measured once.
//
// # Paired repetitions
//
// A figure and its peer are measured in turn: a repetition of shmkit's,
// then one of the peer's, then shmkit's again, each side's processes
// started before the first and left waiting while the other side runs
// (the C program runs one repetition at a time, on command; each of
// Python's repetitions is a Python process of its own, whose start-up its
// figure leaves out). Each pair of repetitions gives a ratio taken
// moments apart, and the row's ratio is the median of those ratios, with
// their lowest and highest: a machine whose speed moves between runs, or
// within one, moves both sides of a pair alike. A pair beside Python makes
// 5 pairs, others as many as the run's repetitions. A figure beside
// several peers is measured beside each in turn; its figure is the median
// of all its repetitions. A ratio of two figures that were not measured
// in turn is marked unpaired.
//
// # Flags
//
//	-quick        shorter loops and 7 repetitions each
//	-json         print one JSON object on stdout, {"metrics": {NAME: number,
//	              ...}, "ratios": {SHMKIT/PEER: {"median", "min", "q1",
//	              "q3", "max": number, "n": pairs, "paired": bool}, ...},
//	              "repetitions": {NAME: [number, ...], ...}, "seconds":
//	              number}: the figures measured (one that could not be
//	              measured is left out, never 0), each row's ratio (how many
//	              times faster shmkit is: the pairwise ratios' median,
//	              extremes and quartiles; an unpaired one has only its
//	              median, of the two figures), what each repetition behind a
//	              figure measured, and how long the run took; the table
//	              goes to stderr
//	-svg FILE     write a chart of the targets, met and missed, as SVG
//	-benchfmt FILE
//	              write each repetition of each figure, and each pairwise
//	              ratio, in the Go benchmark format, so that benchstat
//	              compares two runs: benchstat old.txt new.txt
//	-run REGEXP   run only the measures whose label (as the progress line
//	              shows it) matches
//	-dur D        how long each timed loop runs
//
// A progress line on stderr names the measure, or the pair of measures,
// that runs. Ctrl-C stops the run: the measures' children are ended, and
// nothing is printed. The exit status is 1 when a measure of shmkit itself
// failed (not when a peer is missing), 2 on a bad command line, 130 when
// interrupted.
//
// # Reading the table
//
// Each row is a target of shmkit's design. Its columns:
//
//   - metric: what is measured. A row indented under another ("the same
//     beside os.Pipe") puts the same figure beside another peer.
//   - shmkit, peer: the figures, each the median of its repetitions; the
//     peer is what shmkit's figure stands beside (Go's, Python's, or the C
//     ceiling), named in its cell.
//   - ratio: how many times faster shmkit is than the peer ("19.8x
//     faster"), or slower ("2.05x slower"), whether the figures are rates
//     or times; "as fast" when that rounds to 1.00x. Then, in brackets,
//     the lowest and highest of the pairwise ratios, read the same way
//     ("2.05x slower (1.98-2.31)"), or "unpaired" for figures measured
//     apart.
//   - moved: how far each figure's repetitions spread, (highest - lowest)
//     / median, shmkit's and then the peer's ("4.2% / 31%"); "1 run" for a
//     figure measured once. A figure near its target that moved more than
//     the gap may land on the other side of it in the next run.
//   - target: what the design asks, its parts separated by ";"; a ratio
//     in it reads as the ratio column does ("<= 2x slower": at most twice
//     as slow as the peer).
//   - met: yes or no for each part of the target, in its order ("yes;
//     no"), or "—" for a part whose figure is missing.
//
// A legend under the table says the same in short. Then a line counts the
// targets met (every part of one met) and the parts met, on the paired
// ratios. Only ratios within one run mean much: the machine's load moves
// absolute figures from run to run, and a shared machine moves the ceiling
// too. Under the table: the
// measures that did not run and why, and the machine (CPU, cores, kernel,
// Go, Python, C compiler), the date, the run's loops and repetitions, and
// how long it took.
//
// The chart (-svg) has a bar per target: its length is how the figure
// stands against the target on a log scale, where the vertical line is the
// target exactly; a green bar reaches it, a red one falls short.
package main

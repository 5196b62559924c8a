//go:build linux && (amd64 || arm64)

package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"maps"
	"os"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/shmkit/shmkit/internal/shmtest"
	"github.com/shmkit/shmkit/internal/testproc"
	"github.com/shmkit/shmkit/process"
	"github.com/shmkit/shmkit/shmap"
)

func TestMain(m *testing.M) {
	process.Main() // in a child started by the demos: runs its function and exits
	// The demos wait on their children far more than they compute: run
	// more tests at once than GOMAXPROCS, unless -test.parallel says.
	flag.Set("test.parallel", strconv.Itoa(parallel*runtime.GOMAXPROCS(0)))
	shmtest.Main(m)
}

// parallel is how many tests run at once per CPU.
const parallel = 2

// childRun runs the command line given as its argument, as the program
// does. Every process of the demo writes on the child's stdout and stderr,
// which testproc captures as one stream, in the order of the writes.
var childRun = testproc.Register("mpdemo.run", func(c *testproc.Child) error {
	if code := run(strings.Fields(c.Arg()), os.Stdout, os.Stderr); code != 0 {
		os.Exit(code)
	}
	return nil
})

// childAllFailing runs all over a topic that works and one that fails.
var childAllFailing = testproc.Register("mpdemo.all-failing", func(c *testproc.Child) error {
	return runAll(context.Background(), os.Stdout, []string{"hello", "no-such-topic"})
})

// mpdemo runs the command line in a child and returns its output, failing
// the test unless it exits 0.
func mpdemo(t *testing.T, args string) string {
	t.Helper()
	return testproc.Start(t, childRun, testproc.Arg(args), testproc.Timeout(guard)).Succeed().Output
}

// lines splits output into its lines.
func lines(out string) []string {
	out = strings.TrimSuffix(out, "\n")
	if out == "" {
		return nil
	}
	return strings.Split(out, "\n")
}

// TestTopics runs each topic as `mpdemo TOPIC` and checks its output.
func TestTopics(t *testing.T) {
	t.Parallel()
	for name := range checks {
		if _, ok := lookup(name); !ok {
			t.Errorf("a check for %s, which is no topic", name)
		}
	}
	for _, tp := range topics {
		t.Run(tp.name, func(t *testing.T) {
			t.Parallel()
			check, ok := checks[tp.name]
			if !ok {
				t.Fatalf("no check for topic %s", tp.name)
			}
			out := mpdemo(t, tp.name)
			check(t, lines(out))
			if t.Failed() {
				t.Logf("output:\n%s", out)
			}
		})
	}
}

// header and footer are the lines all writes around each topic.
var (
	header = regexp.MustCompile(`^=== (\S+) \(([a-z ]+)\): `)
	footer = regexp.MustCompile(`^--- (ok|FAIL) (\S+) \(`)
)

// TestAll runs every topic through `mpdemo all`, in order, each under its
// header, and checks each one's output as TestTopics does.
func TestAll(t *testing.T) {
	t.Parallel()
	out := mpdemo(t, "all")
	defer func() {
		if t.Failed() {
			t.Logf("output:\n%s", out)
		}
	}()
	ls := lines(out)
	var seen []string
	for i := 0; i < len(ls); i++ {
		m := header.FindStringSubmatch(ls[i])
		if m == nil {
			continue
		}
		name := m[1]
		seen = append(seen, name)
		if tp, _ := lookup(name); m[2] != tp.subject {
			t.Errorf("topic %s: header %q, want its subject %q", name, ls[i], tp.subject)
		}
		j := i + 1
		for j < len(ls) && !footer.MatchString(ls[j]) && !header.MatchString(ls[j]) {
			j++
		}
		if j == len(ls) || footer.FindStringSubmatch(ls[j])[2] != name {
			t.Errorf("topic %s: no footer", name)
			continue
		}
		if f := footer.FindStringSubmatch(ls[j]); f[1] != "ok" {
			t.Errorf("topic %s: %s", name, ls[j])
		}
		t.Run(name, func(t *testing.T) {
			if check, ok := checks[name]; ok {
				check(t, ls[i+1:j])
			}
		})
		i = j
	}
	if want := topicNames(); !slices.Equal(seen, want) {
		t.Errorf("all ran %v, want %v", seen, want)
	}
	if last := ls[len(ls)-1]; last != fmt.Sprintf("ok: all %d topics", len(topics)) {
		t.Errorf("last line %q", last)
	}
}

// TestAllFails: a topic that fails is reported, the others still run, and
// all fails.
func TestAllFails(t *testing.T) {
	res := testproc.Start(t, childAllFailing, testproc.Timeout(guard)).Wait()
	if res.ExitCode != 1 {
		t.Errorf("exit code %d, want 1", res.ExitCode)
	}
	for _, want := range []string{"--- ok hello (", "hello bob\n", "--- FAIL no-such-topic (", "FAIL: 1 of 2 topics: no-such-topic\n"} {
		if !strings.Contains(res.Output, want) {
			t.Errorf("no %q in the output", want)
		}
	}
	if t.Failed() {
		t.Logf("output:\n%s", res.Output)
	}
}

// TestList: list names every topic, with its subject and a description,
// in order.
func TestList(t *testing.T) {
	var out, errs bytes.Buffer
	if code := run([]string{"list"}, &out, &errs); code != 0 || errs.Len() > 0 {
		t.Fatalf("list: exit %d, stderr %q", code, errs.String())
	}
	ls := lines(out.String())
	if len(ls) != len(topics) {
		t.Fatalf("list has %d lines, want %d:\n%s", len(ls), len(topics), out.String())
	}
	for i, tp := range topics {
		line := regexp.MustCompile("^" + regexp.QuoteMeta(tp.name) + "  +" + regexp.QuoteMeta(tp.subject) + "  +" + regexp.QuoteMeta(tp.desc) + "$")
		if !line.MatchString(ls[i]) {
			t.Errorf("list line %d: %q, want %s, %s, %q", i, ls[i], tp.name, tp.subject, tp.desc)
		}
		if strings.Contains(ls[i], "seed") {
			t.Errorf("list line %d names a seed: %q", i, ls[i])
		}
	}
}

// TestSubjects: every topic has one of the subjects, and the topics come
// in the order of their subjects.
func TestSubjects(t *testing.T) {
	last := 0
	for _, tp := range topics {
		k := slices.Index(subjects, tp.subject)
		if k < 0 {
			t.Errorf("topic %s: subject %q is none of %q", tp.name, tp.subject, subjects)
			continue
		}
		if k < last {
			t.Errorf("topic %s (%s) comes after a topic of %s", tp.name, tp.subject, subjects[last])
		}
		last = k
	}
}

// TestAliases: an old name runs the topic that took its place, and names
// no topic of its own.
func TestAliases(t *testing.T) {
	for old, name := range aliases {
		tp, ok := lookup(old)
		if !ok || tp.name != name {
			t.Errorf("lookup(%q) = %q, %v; want %q", old, tp.name, ok, name)
		}
		if slices.Contains(topicNames(), old) {
			t.Errorf("%q is both an alias and a topic", old)
		}
	}
	if _, ok := lookup("plans"); !ok {
		t.Error(`the old name "plans" runs nothing`)
	}
}

// TestUsage: the command line's errors.
func TestUsage(t *testing.T) {
	for _, c := range []struct {
		args []string
		code int
		out  string // in stdout, or in stderr for a code other than 0
	}{
		{nil, 2, "Usage:"},
		{[]string{"list", "all"}, 2, "Usage:"},
		{[]string{"no-such-topic"}, 2, `no topic "no-such-topic"`},
		{[]string{"help"}, 0, "mpdemo all"},
	} {
		var out, errs bytes.Buffer
		code := run(c.args, &out, &errs)
		got := out.String()
		if c.code != 0 {
			got = errs.String()
		}
		if code != c.code || !strings.Contains(got, c.out) {
			t.Errorf("mpdemo %q: exit %d, output %q; want %d and %q", c.args, code, got, c.code, c.out)
		}
	}
}

// TestDoc: the package documentation's table has a row for every topic,
// with its subject.
func TestDoc(t *testing.T) {
	doc, err := os.ReadFile("doc.go")
	if err != nil {
		t.Fatal(err)
	}
	for _, tp := range topics {
		row := regexp.MustCompile(`(?m)^//\t` + regexp.QuoteMeta(tp.name) + ` +` + regexp.QuoteMeta(tp.subject) + `  `)
		if !row.Match(doc) {
			t.Errorf("doc.go: no row for topic %s (%s)", tp.name, tp.subject)
		}
	}
}

// A check tests the output of a topic, given as its lines.
type check func(t *testing.T, ls []string)

// exactly wants these lines, in this order.
func exactly(want ...string) check {
	return func(t *testing.T, ls []string) {
		t.Helper()
		if !slices.Equal(ls, want) {
			t.Errorf("got lines\n%s\nwant\n%s", strings.Join(ls, "\n"), strings.Join(want, "\n"))
		}
	}
}

// sameLines reports whether got and want hold the same lines, in any
// order, failing the test if not.
func sameLines(t *testing.T, got []string, want ...string) bool {
	t.Helper()
	g, w := slices.Clone(got), slices.Clone(want)
	slices.Sort(g)
	slices.Sort(w)
	if !slices.Equal(g, w) {
		t.Errorf("got lines (any order)\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
		return false
	}
	return true
}

// anyOrder wants these lines, in any order.
func anyOrder(want ...string) check {
	return func(t *testing.T, ls []string) {
		t.Helper()
		sameLines(t, ls, want...)
	}
}

// before fails the test unless each line of want is present once and
// they come in this order.
func before(t *testing.T, ls []string, want ...string) {
	t.Helper()
	last := -1
	for _, w := range want {
		i := slices.Index(ls, w)
		switch {
		case i < 0:
			t.Errorf("no line %q", w)
			return
		case slices.Index(ls[i+1:], w) >= 0:
			t.Errorf("line %q twice", w)
		case i < last:
			t.Errorf("%q comes before %q; want it after", w, want[slices.Index(want, w)-1])
		}
		last = i
	}
}

// repeat is n times line.
func repeat(line string, n int) []string {
	ls := make([]string, n)
	for i := range ls {
		ls[i] = line
	}
	return ls
}

// numbered is format applied to each number from 0 to n-1, through f.
func numbered(format string, n int, f func(int) int) []string {
	ls := make([]string, n)
	for i := range ls {
		ls[i] = fmt.Sprintf(format, f(i))
	}
	return ls
}

func id(i int) int { return i }

// without returns ls without the lines equal to drop, and how many there
// were.
func without(ls []string, drop string) ([]string, int) {
	var out []string
	for _, l := range ls {
		if l != drop {
			out = append(out, l)
		}
	}
	return out, len(ls) - len(out)
}

// intAfter parses the number after prefix in line, failing the test if
// there is none.
func intAfter(t *testing.T, line, prefix string) int {
	t.Helper()
	s, ok := strings.CutPrefix(line, prefix)
	n, err := strconv.Atoi(s)
	if !ok || err != nil || n <= 0 {
		t.Errorf("line %q: want %q and a number", line, prefix)
	}
	return n
}

// intList parses "[a b c]".
func intList(t *testing.T, line string) []int {
	t.Helper()
	s, ok := strings.CutPrefix(line, "[")
	s, ok2 := strings.CutSuffix(s, "]")
	if !ok || !ok2 {
		t.Errorf("line %q: want a list", line)
		return nil
	}
	var ns []int
	for _, f := range strings.Fields(s) {
		n, err := strconv.Atoi(f)
		if err != nil {
			t.Errorf("line %q: want numbers", line)
			return nil
		}
		ns = append(ns, n)
	}
	return ns
}

// names checks names' and the daemons' lines: these lines in any order,
// each process's Starting before its Exiting.
func names(want ...string) check {
	return func(t *testing.T, ls []string) {
		t.Helper()
		sameLines(t, ls, want...)
		for _, n := range []string{"worker 1", "Process-3", "my_service"} {
			if slices.Contains(want, n+" Exiting") {
				before(t, ls, n+" Starting", n+" Exiting")
			}
		}
	}
}

// checks holds the check of every topic: the exact output where it is
// deterministic, else the lines, counts and orders that must hold.
var checks = map[string]check{
	"worker":      anyOrder(repeat("Worker", 5)...),
	"worker-args": anyOrder(numbered("Worker %d", 5, id)...),
	"importable":  anyOrder(repeat("Worker", 5)...),
	"names": names("worker 1 Starting", "worker 1 Exiting", "Process-3 Starting", "Process-3 Exiting",
		"my_service Starting", "my_service Exiting"),
	// The daemon not joined prints its start line only.
	"daemon": names("worker 1 Starting", "worker 1 Exiting", "Process-3 Starting", "Process-3 Exiting",
		"my_service Starting"),
	"daemon-join": names("worker 1 Starting", "worker 1 Exiting", "Process-3 Starting", "Process-3 Exiting",
		"my_service Starting", "my_service Exiting"),
	"daemon-join-timeout": func(t *testing.T, ls []string) {
		names("worker 1 Starting", "worker 1 Exiting", "Process-3 Starting", "Process-3 Exiting",
			"my_service Starting", "service.IsAlive() true")(t, ls)
		before(t, ls, "my_service Starting", "service.IsAlive() true")
	},
	"terminate": func(t *testing.T, ls []string) {
		// The child may get as far as its first line before SIGTERM
		// lands, never to its last; the reaper may have seen it die by
		// the time Terminate returns.
		ls, _ = without(ls, "Starting worker")
		if len(ls) != 4 {
			t.Fatalf("%d lines, want 4", len(ls))
		}
		exactly("Before: Process(Process-1, initial) false", "During: Process(Process-1, started) true")(t, ls[:2])
		if l := ls[2]; l != "Terminate: Process(Process-1, started) true" && l != "Terminate: Process(Process-1, stopped[SIGTERM]) false" {
			t.Errorf("line %q", l)
		}
		exactly("Joined: Process(Process-1, stopped[SIGTERM]) false")(t, ls[3:])
	},
	"exitcode": func(t *testing.T, ls []string) {
		const raised = "process raises: There was an error!" // on raises' stderr
		before(t, ls, "Starting process for raises", raised)
		ls, _ = without(ls, raised)
		exactly(
			"Starting process for exit_error",
			"Starting process for exit_ok",
			"Starting process for raises",
			"Starting process for terminated",
			"     exit_error.exitcode = 1",
			"        exit_ok.exitcode = 0",
			"         raises.exitcode = 1",
			"     terminated.exitcode = -15",
		)(t, ls)
	},
	"logging": func(t *testing.T, ls []string) {
		sameLines(t, ls,
			"[DEBUG/MainProcess] started Process-1",
			"[INFO/Process-1] child process calling run",
			"Doing some work",
			"[INFO/Process-1] process shutting down",
			"[INFO/Process-1] process exiting with exitcode 0",
			"[INFO/MainProcess] process shutting down")
		before(t, ls,
			"[INFO/Process-1] child process calling run",
			"Doing some work",
			"[INFO/Process-1] process shutting down",
			"[INFO/Process-1] process exiting with exitcode 0",
			"[INFO/MainProcess] process shutting down")
		before(t, ls, "[DEBUG/MainProcess] started Process-1", "[INFO/MainProcess] process shutting down")
	},
	"get-logger": exactly(
		"[INFO/MainProcess] starting the worker",
		"[INFO/Process-1] child process calling run",
		"Doing some work",
		"[INFO/Process-1] process shutting down",
		"[INFO/Process-1] process exiting with exitcode 0",
		"[INFO/MainProcess] process shutting down"),
	"derived":      anyOrder(numbered("In Worker-%d", 5, func(i int) int { return i + 1 })...),
	"queue-object": exactly("Doing something fancy in Process-1 for Fancy Dan"),
	"pool-print":   anyOrder(numbered("%d", 10, func(i int) int { return i * i })...),

	"pool-map": exactly("[1 4 9]"),
	"hello":    exactly("hello bob"),
	"info": func(t *testing.T, ls []string) {
		if len(ls) != 9 {
			t.Fatalf("%d lines, want 9", len(ls))
		}
		exactly("main line", "process name: MainProcess")(t, ls[:2])
		intAfter(t, ls[2], "parent process: ")
		main := intAfter(t, ls[3], "process id: ")
		exactly("function f", "process name: Process-1", fmt.Sprintf("parent process: %d", main))(t, ls[4:7])
		if child := intAfter(t, ls[7], "process id: "); child == main {
			t.Errorf("the child's pid is the main's")
		}
		exactly("hello bob")(t, ls[8:])
	},
	"queue":       exactly("[42 <nil> hello]"),
	"pipe":        exactly("[42 <nil> hello]"),
	"lock":        anyOrder(numbered("hello world %d", 10, id)...),
	"value-array": exactly("3.1415927", "[0 -1 -2 -3 -4 -5 -6 -7 -8 -9]"),
	// The dict's keys: 0.25, 1 and '2', sorted; the values None, '1' and 2.
	"manager": exactly("map[0.25:<nil> 1:1 2:2]", "[9 8 7 6 5 4 3 2 1 0]"),
	"pool": func(t *testing.T, ls []string) {
		if len(ls) != 17 {
			t.Fatalf("%d lines, want 17", len(ls))
		}
		exactly("[0 1 4 9 16 25 36 49 64 81]")(t, ls[:1])
		sameLines(t, ls[1:11], numbered("%d", 10, func(i int) int { return i * i })...)
		exactly("400")(t, ls[11:12])
		intAfter(t, ls[12], "")
		if pids := intList(t, ls[13]); len(pids) != 4 || slices.Contains(pids, 0) {
			t.Errorf("line %q: want 4 pids", ls[13])
		}
		exactly(
			"We lacked patience and got a context.DeadlineExceeded",
			"For the moment, the pool remains available for more work",
			"Now the pool is closed and no longer available")(t, ls[14:])
	},

	"pool-sleep": func(t *testing.T, ls []string) {
		if len(ls) != 11 {
			t.Fatalf("%d lines, want 11", len(ls))
		}
		sameLines(t, ls[:10], numbered("%d", 10, func(i int) int { return i + 1 })...)
		exactly("[1 2 3 4 5 6 7 8 9 10]")(t, ls[10:])
	},
	"pool-queues": func(t *testing.T, ls []string) {
		// The results in the order they came, then the same as a list.
		if len(ls) != 11 {
			t.Fatalf("%d lines, want 11", len(ls))
		}
		sameLines(t, ls[:10], numbered("%d", 10, func(i int) int { return i + 1 })...)
		exactly("["+strings.Join(ls[:10], " ")+"]")(t, ls[10:])
	},

	"two-processes": anyOrder(append(repeat("A 计划……", 3), repeat("B 计划……", 3)...)...),
	"keyword-args":  anyOrder(append(repeat("福尔摩斯执行 A 计划……", 3), repeat("诸葛亮执行 B 计划……", 3)...)...),
	"getpid": func(t *testing.T, ls []string) {
		var pids, ppids []int
		var rest []string
		for _, l := range ls {
			switch {
			case strings.HasPrefix(l, "当前子进程的id: "):
				pids = append(pids, intAfter(t, l, "当前子进程的id: "))
			case strings.HasPrefix(l, "当前子进程的父进程id: "):
				ppids = append(ppids, intAfter(t, l, "当前子进程的父进程id: "))
			default:
				rest = append(rest, l)
			}
		}
		sameLines(t, rest, append(repeat("福尔摩斯执行 A 计划……", 3), repeat("诸葛亮执行 B 计划……", 3)...)...)
		// Two children, one parent.
		if len(pids) != 2 || len(ppids) != 2 || pids[0] == pids[1] || ppids[0] != ppids[1] || slices.Contains(pids, ppids[0]) {
			t.Errorf("pids %v, parent pids %v: want two children of one parent", pids, ppids)
		}
	},
	"wait-children": anyOrder(append([]string{"A 计划完毕……"}, repeat("诸葛亮执行B 计划……", 10)...)...),
	"daemon-sleep": func(t *testing.T, ls []string) {
		// How many lines the daemon prints before it dies with the main
		// depends on the machine's speed (about 6); never more than 10.
		if rest, n := without(ls, "诸葛亮执行B 计划……"); len(rest) > 0 || n > 10 {
			t.Errorf("got %d daemon lines and others %q; want at most 10 daemon lines", n, rest)
		}
	},

	"event": func(t *testing.T, ls []string) {
		sameLines(t, ls,
			"main: waiting before calling Event.Set()",
			"waitForEvent: starting",
			"waitForEventTimeout: starting",
			"waitForEventTimeout: e.IsSet() -> false",
			"main: event is set",
			"waitForEvent: e.IsSet() -> true")
		before(t, ls, "main: waiting before calling Event.Set()", "waitForEventTimeout: e.IsSet() -> false", "main: event is set")
		before(t, ls, "waitForEventTimeout: starting", "waitForEventTimeout: e.IsSet() -> false")
		before(t, ls, "waitForEvent: starting", "waitForEvent: e.IsSet() -> true")
	},
	"condition": func(t *testing.T, ls []string) {
		sameLines(t, ls,
			"Starting stage_2[1]", "Starting stage_2[2]", "Starting s1",
			"s1 done and ready for stage 2", "stage_2[1] running", "stage_2[2] running")
		for _, s2 := range []string{"stage_2[1]", "stage_2[2]"} {
			before(t, ls, "Starting s1", "s1 done and ready for stage 2", s2+" running")
			before(t, ls, "Starting "+s2, s2+" running")
		}
	},
	"semaphore": func(t *testing.T, ls []string) {
		// Each worker prints the list with itself in it, the main prints
		// it after each join: never more than three active, and none at
		// the end.
		if len(ls) != 20 {
			t.Fatalf("%d lines, want 20", len(ls))
		}
		seen := map[int]bool{}
		twice := func(ns []int, n int) bool { i := slices.Index(ns, n); return slices.Index(ns[i+1:], n) >= 0 }
		for _, l := range ls {
			s, ok := strings.CutPrefix(l, "Now running: ")
			if !ok {
				t.Errorf("line %q", l)
				continue
			}
			active := intList(t, s)
			if len(active) > 3 {
				t.Errorf("line %q: more than 3 active", l)
			}
			for _, n := range active {
				if n < 0 || n > 9 || twice(active, n) {
					t.Errorf("line %q: want distinct workers 0 to 9", l)
				}
				seen[n] = true
			}
		}
		if len(seen) != 10 {
			t.Errorf("workers seen active: %v, want 0 to 9", seen)
		}
		exactly("Now running: []")(t, ls[19:])
	},
	"manager-dict": exactly("Results: map[0:0 1:2 2:4 3:6 4:8 5:10 6:12 7:14 8:16 9:18]"),
	"namespace": func(t *testing.T, ls []string) {
		if len(ls) != 2 {
			t.Fatalf("%d lines, want 2", len(ls))
		}
		// Before the event the producer may or may not have run.
		if l := ls[0]; l != `Before event, consumer got: ""` && l != `Before event, consumer got: "This is the value"` {
			t.Errorf("line %q", l)
		}
		exactly("After event, consumer got: This is the value")(t, ls[1:])
	},
	// The producer's append never reaches the namespace.
	"namespace-list": exactly("Before event, consumer got: []", "After event, consumer got: []"),
	"loans": exactly(
		"reading 1 from sensor 7: 20.5 C",
		"reading 2 from sensor 7: 21.5 C",
		"reading 3 from sensor 7: 22.5 C",
	),
	"pool-initializer": func(t *testing.T, ls []string) {
		n := process.CPUCount() * 2
		if len(ls) != n+3 {
			t.Fatalf("%d lines, want %d", len(ls), n+3)
		}
		exactly("Input   : [0 1 2 3 4 5 6 7 8 9]", "Built-in: [0 2 4 6 8 10 12 14 16 18]")(t, ls[:2])
		sameLines(t, ls[2:n+2], numbered("Starting PoolWorker-%d", n, func(i int) int { return i + 1 })...)
		exactly("Pool    : [0 2 4 6 8 10 12 14 16 18]")(t, ls[n+2:])
	},
	"joinable-queue": func(t *testing.T, ls []string) {
		n := process.CPUCount() * 2
		if len(ls) != 1+10+n+10 {
			t.Fatalf("%d lines, want %d", len(ls), 1+10+n+10)
		}
		exactly(fmt.Sprintf("Creating %d consumers", n))(t, ls[:1])
		// Which consumer takes which task varies: each task once, each
		// consumer's pill once, all before the results.
		consumer := regexp.MustCompile(`^Consumer-(\d+): (.*)$`)
		tasks, exits := map[string]int{}, map[int]int{}
		for _, l := range ls[1 : 1+10+n] {
			m := consumer.FindStringSubmatch(l)
			if m == nil {
				t.Errorf("line %q", l)
				continue
			}
			k, _ := strconv.Atoi(m[1])
			if k < 1 || k > n {
				t.Errorf("line %q: no such consumer", l)
			}
			if m[2] == "Exiting" {
				exits[k]++
			} else {
				tasks[m[2]]++
			}
		}
		for i := range 10 {
			if c := tasks[fmt.Sprintf("%d * %d", i, i)]; c != 1 {
				t.Errorf("task %d * %d taken %d times", i, i, c)
			}
		}
		for k := 1; k <= n; k++ {
			if exits[k] != 1 {
				t.Errorf("Consumer-%d exited %d times", k, exits[k])
			}
		}
		var results []string
		for i := range 10 {
			results = append(results, fmt.Sprintf("Result: %d * %d = %d", i, i, i*i))
		}
		sameLines(t, ls[1+10+n:], results...)
	},
	"cpu-count": exactly(strconv.Itoa(process.CPUCount())),
	// Each reader sees every message; the late one, the last two.
	"pubsub": exactly("reader 1 got [1 4 9 16 25]", "reader 2 got [1 4 9 16 25]",
		"a reader joining late, with a history of 2, got [16 25]"),
	// The ring's counters outlive the killed producer.
	"counters": exactly("the producer was killed holding its role, exit code -9",
		"pushed 101, popped 101, in the ring 0", "producer roles taken over from dead processes: 1"),
}

// TestDictAny: manager's dict, a shmap.Map[any, any], as keys: equal
// values of one type are one key; an int, an int64 and a float equal to it
// are three (one in Python); a str is not a number; None is a key; the
// dict prints sorted.
func TestDictAny(t *testing.T) {
	d, err := shmap.New[any, any]()
	if err != nil {
		t.Fatal(err)
	}
	defer d.Free()
	for _, k := range []any{1, 1, int64(1), 1.0, "1", nil, -0.5, "a"} {
		if err := d.Set(k, k); err != nil {
			t.Fatal(err)
		}
	}
	got, err := d.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 7 {
		t.Errorf("%d keys, want 7: %v", len(got), got)
	}
	for k, v := range got {
		if k != v {
			t.Errorf("key %#v holds %#v", k, v)
		}
	}
	if s := dictString(got); s != "map[<nil>:<nil> -0.5:-0.5 1:1 1:1 1:1 1:1 a:a]" {
		t.Errorf("dict %s", s)
	}
	var keys []string
	for _, k := range slices.SortedFunc(maps.Keys(got), compareKeys) {
		keys = append(keys, fmt.Sprintf("%T(%v)", k, k))
	}
	if s := strings.Join(keys, " "); s != "<nil>(<nil>) float64(-0.5) float64(1) int(1) int64(1) string(1) string(a)" {
		t.Errorf("keys in order %s", s)
	}
}

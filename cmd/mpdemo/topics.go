package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/shmkit/shmkit/process"
)

// topic is one demo: the counterpart of one Python program of the seeds.
type topic struct {
	name    string
	subject string // what it is about: one of subjects
	desc    string // one line
	// run is the program's main, after process.Main. It prints its own
	// lines on w; its children print on the standard output they
	// inherit, as Python's do.
	run func(ctx context.Context, w io.Writer) error
}

// subjects are what the topics are about, in the order of list and all.
var subjects = []string{"processes", "logging", "messages", "sync", "shared memory", "pools", "beyond python"}

// topics, in the order of list and all: by subject, the simplest first.
var topics = []topic{
	{"worker", "processes", "five processes each print \"Worker\"", demoWorker},
	{"worker-args", "processes", "a worker with an argument: \"Worker\", num", demoWorkerArgs},
	{"importable", "processes", "the target registered in another package (Python's simple.worker)", demoImportable},
	{"hello", "processes", "Process(target=f, args=('bob',))", demoHello},
	{"names", "processes", "process names: given, or the default Process-N", demoNames},
	{"info", "processes", "module, parent process and process ids of the main and a child", demoInfo},
	{"getpid", "processes", "os.getpid and os.getppid in two children", demoGetpid},
	{"two-processes", "processes", "plans A and B in two processes", demoPlans},
	{"keyword-args", "processes", "plans A and B with positional and keyword arguments", demoPlansArgs},
	{"derived", "processes", "a process type of its own (RegisterRunner): Worker-1 ... Worker-5", demoDerived},
	{"daemon", "processes", "a daemon not joined dies with the main: it prints its start line only", demoDaemon},
	{"daemon-join", "processes", "a daemon joined runs to its end", demoDaemonJoin},
	{"daemon-join-timeout", "processes", "Join with a timeout returns; the daemon is still alive", demoDaemonJoinTimeout},
	{"daemon-sleep", "processes", "a daemon printing every half second dies when the main ends", demoDaemonSleep},
	{"wait-children", "processes", "the main ends its work first and waits for its child", demoWaitChildren},
	{"terminate", "processes", "Terminate, and the process's state before and after", demoTerminate},
	{"exitcode", "processes", "exit codes: os.Exit(1), nil, an error, SIGTERM", demoExitCode},
	{"cpu-count", "processes", "cpu_count()", demoCPUCount},
	{"logging", "logging", "LogToStderr(DEBUG): the life-cycle lines of both processes", demoLogging},
	{"get-logger", "logging", "Logger (get_logger) at level INFO", demoGetLogger},
	{"queue", "messages", "a child puts [42, None, 'hello'] on a Queue", demoQueue},
	{"queue-object", "messages", "an object with a method passed through a Queue", demoQueueObject},
	{"pipe", "messages", "a child sends [42, None, 'hello'] through a Pipe", demoPipe},
	{"joinable-queue", "messages", "consumers of a JoinableQueue, with poison pills", demoJoinableQueue},
	{"lock", "sync", "a Lock around printing, ten processes", demoLock},
	{"event", "sync", "Event: one waiter blocks, one times out", demoEvent},
	{"condition", "sync", "Condition: stage 2 runs after stage 1", demoCondition},
	{"semaphore", "sync", "Semaphore(3): never more than three active", demoSemaphore},
	{"value-array", "shared memory", "a child writes a Value and an Array in shared memory", demoValueArray},
	{"manager", "shared memory", "a child fills a dict and reverses a list in shared memory (Manager().dict(), .list())", demoManager},
	{"manager-dict", "shared memory", "ten workers each set a key of a dict in shared memory (Manager().dict())", demoManagerDict},
	{"namespace", "shared memory", "a shared namespace: a Value of a struct, and an Event", demoNamespace},
	{"namespace-list", "shared memory", "a namespace holding a list: an append to its copy does not propagate", demoNamespaceList},
	{"pool-map", "pools", "Pool(5).map(f, [1, 2, 3])", demoPoolMap},
	{"pool-print", "pools", "Pool(5).map of a function that prints squares", demoPoolPrint},
	{"pool", "pools", "Pool: map, imap_unordered, apply_async, get with a timeout", demoPool},
	{"pool-sleep", "pools", "Pool(4).map of a function that sleeps and prints", demoPoolSleep},
	{"pool-queues", "pools", "Pool(4, f, (in_queue, out_queue)): the initializer works two queues", demoPoolQueues},
	{"pool-initializer", "pools", "Pool with an initializer, cpu_count()*2 workers", demoPoolInitializer},
	{"loans", "beyond python", "a child fills loaned slots of a Ring of a struct; the parent borrows them in place", demoLoans},
	{"pubsub", "beyond python", "a feed that two reader processes each see whole, and a late reader's history", demoPubSub},
	{"counters", "beyond python", "a ring's counters in shared memory: a killed producer's role taken over", demoCounters},
}

// aliases are the names some topics had before, which still run them.
var aliases = map[string]string{
	"plans":      "two-processes",
	"plans-args": "keyword-args",
}

const (
	// second is a second of the Python programs' sleeps, shortened so
	// that every demo takes a fraction of a real one.
	second = 100 * time.Millisecond
	// guard bounds every demo, so that a hang fails instead of waiting
	// for ever.
	guard = 2 * time.Minute
)

// sleep is Python's time.sleep, in a child: it ends early, with the
// context's error, when the process is terminated.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// runTopic runs a demo as a program does: then, as Python does at exit,
// it waits for the children that are not daemons.
func runTopic(ctx context.Context, t topic, w io.Writer) error {
	err := t.run(ctx, w)
	if jerr := process.JoinAll(ctx); err == nil {
		err = jerr
	}
	return err
}

// topicArg is what a topic's process gets: the topic, and the file its
// output goes to.
type topicArg struct {
	Name   string
	Output string
}

// topicProcess runs one topic as a program of its own: all starts each
// topic in a child named MainProcess, so that its output (process names,
// logging, daemons that die when it ends) is what running it alone
// prints. Its stdout and stderr, and so its children's, go to a.Output.
// The child exits with the program's status.
var topicProcess = process.Register("mpdemo.topic", func(ctx context.Context, a topicArg) error {
	if err := redirect(a.Output); err != nil {
		return err
	}
	t, ok := lookup(a.Name)
	if !ok {
		return fmt.Errorf("no topic %q", a.Name)
	}
	if err := runTopic(ctx, t, os.Stdout); err != nil {
		fmt.Fprintf(os.Stderr, "mpdemo %s: %v\n", a.Name, err)
		os.Exit(1)
	}
	os.Exit(0) // as a program ends: without the child's life-cycle lines
	return nil
})

// allAtOnce is how many topics all runs at the same time: they wait on
// their children more than they compute.
const allAtOnce = 4

// result is how a topic ran: its output, its error, how long it took.
type result struct {
	out  []byte
	err  error
	took time.Duration
}

// runAll runs the named topics, each in a process of its own, allAtOnce at
// a time, and prints each one's output under its header, in order, once
// it is done. It fails when any of them failed.
func runAll(ctx context.Context, w io.Writer, names []string) error {
	results := make([]chan result, len(names))
	for i := range results {
		results[i] = make(chan result, 1)
	}
	go func() {
		running := make(chan struct{}, allAtOnce)
		for i, name := range names {
			running <- struct{}{}
			go func() {
				defer func() { <-running }()
				start := time.Now()
				out, err := runChild(ctx, name)
				results[i] <- result{out, err, time.Since(start).Round(time.Millisecond)}
			}()
		}
	}()
	var failed []string
	for i, name := range names {
		t, _ := lookup(name)
		fmt.Fprintf(w, "=== %s (%s): %s\n", name, t.subject, t.desc)
		r := <-results[i]
		w.Write(r.out)
		if r.err != nil {
			fmt.Fprintf(w, "--- FAIL %s (%v): %v\n", name, r.took, r.err)
			failed = append(failed, name)
			continue
		}
		fmt.Fprintf(w, "--- ok %s (%v)\n", name, r.took)
	}
	if len(failed) > 0 {
		fmt.Fprintf(w, "FAIL: %d of %d topics: %s\n", len(failed), len(names), strings.Join(failed, ", "))
		return fmt.Errorf("%d of %d topics failed", len(failed), len(names))
	}
	fmt.Fprintf(w, "ok: all %d topics\n", len(names))
	return nil
}

// runChild runs a topic in a child process, for guard at most, and returns
// its output.
func runChild(ctx context.Context, name string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, guard)
	defer cancel()
	f, err := os.CreateTemp("", "mpdemo-*.out")
	if err != nil {
		return nil, err
	}
	defer os.Remove(f.Name())
	defer f.Close()
	p := process.New(topicProcess, topicArg{name, f.Name()}, process.Name("MainProcess"), process.Daemon(true))
	if err := p.Start(); err != nil {
		return nil, err
	}
	err = p.Join(ctx)
	if err != nil && ctx.Err() != nil {
		p.Kill()
		p.Join(context.Background())
		err = fmt.Errorf("killed after %v: %w", guard, ctx.Err())
	}
	out, rerr := io.ReadAll(f)
	if err == nil {
		err = rerr
	}
	return out, err
}

package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"slices"
	"text/tabwriter"

	"github.com/shmkit/shmkit/process"
)

const usageText = `mpdemo runs the examples of Python's multiprocessing, written with shmkit.

Usage:
  mpdemo TOPIC    run one demo
  mpdemo list     list the topics, with what each is about
  mpdemo all      run every topic, each in a process of its own, and
                  print their output in order; exit 1 if any failed
  mpdemo help     show this help
`

func main() {
	process.Main() // in a child: runs its function and exits; here: returns
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run runs the command line and returns the exit status: 0 when it ran,
// 1 when a demo failed, 2 for a usage error.
func run(args []string, stdout, stderr io.Writer) int {
	if len(args) != 1 {
		fmt.Fprint(stderr, usageText)
		return 2
	}
	ctx := context.Background()
	switch args[0] {
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, usageText)
		return 0
	case "list":
		list(stdout)
		return 0
	case "all":
		if err := runAll(ctx, stdout, topicNames()); err != nil {
			fmt.Fprintln(stderr, "mpdemo:", err)
			return 1
		}
		return 0
	}
	t, ok := lookup(args[0])
	if !ok {
		fmt.Fprintf(stderr, "mpdemo: no topic %q (mpdemo list shows them)\n", args[0])
		return 2
	}
	ctx, cancel := context.WithTimeout(ctx, guard)
	defer cancel()
	if err := runTopic(ctx, t, stdout); err != nil {
		fmt.Fprintf(stderr, "mpdemo %s: %v\n", t.name, err)
		return 1
	}
	return 0
}

// list prints the topics, a line each: name, subject, what it shows.
func list(w io.Writer) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, t := range topics {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", t.name, t.subject, t.desc)
	}
	tw.Flush()
}

func topicNames() []string {
	names := make([]string, 0, len(topics))
	for _, t := range topics {
		names = append(names, t.name)
	}
	return names
}

// lookup finds the topic of a name, or of an old name that aliases keeps.
func lookup(name string) (topic, bool) {
	if to, ok := aliases[name]; ok {
		name = to
	}
	i := slices.IndexFunc(topics, func(t topic) bool { return t.name == name })
	if i < 0 {
		return topic{}, false
	}
	return topics[i], true
}

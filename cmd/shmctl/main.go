package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/shmkit/shmkit/shm"
)

// Exit codes; see the package documentation.
const (
	exitOK       = 0 // success
	exitFailed   = 1 // an operation failed: I/O, permission, corrupted segment, unsupported system
	exitUsage    = 2 // unknown command, bad flag, missing or invalid NAME
	exitNotExist = 3 // a named segment does not exist
	exitBadSeg   = 4 // the name exists but is not a valid shmkit segment
)

const usageText = `shmctl inspects and removes shmkit shared-memory segments in /dev/shm.

Usage:
  shmctl ls [-json]                  list every shmkit segment
  shmctl info [-json] NAME           show a segment's header, objects and users
  shmctl rm NAME...                  unlink segments (only shmkit segments)
  shmctl gc [-n] [-json] [PATTERN...]
                                     remove segments whose creator is dead and
                                     that no process uses; -n only shows what
                                     it would do; PATTERNs (path.Match syntax)
                                     limit it to matching names
  shmctl top [-n N] [-d DURATION] [-json] NAME...
                                     show the metrics of every object of the
                                     named segments and the rate of each count,
                                     refreshed every -d (1s) until interrupted
                                     or -n screens; -json prints one snapshot
                                     with rates over -d (none with -d 0)
  shmctl help                        show this help

Flags go after the command: shmctl ls -json.

Exit codes:
  0  success
  1  an operation failed (I/O, permission, corrupted segment, unsupported system)
  2  usage error (unknown command, bad flag, missing or invalid NAME)
  3  a named segment does not exist
  4  the name exists but is not a valid shmkit segment
`

// command is one subcommand: its synopsis and the function running it on
// the arguments after its name.
type command struct {
	synopsis string
	run      func(c *cli, args []string) int
}

var commands map[string]command

func init() {
	commands = map[string]command{
		"ls":   {"shmctl ls [-json]", (*cli).ls},
		"info": {"shmctl info [-json] NAME", (*cli).info},
		"rm":   {"shmctl rm NAME...", (*cli).rm},
		"gc":   {"shmctl gc [-n] [-json] [PATTERN...]", (*cli).gc},
		"top":  {"shmctl top [-n N] [-d DURATION] [-json] NAME...", (*cli).top},
	}
}

// cli holds the output streams of one run.
type cli struct {
	stdout, stderr io.Writer
	name           string // the running subcommand
}

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run executes the command line args (without the program name), writing
// to stdout and stderr, and returns the process exit code.
func run(args []string, stdout, stderr io.Writer) int {
	c := &cli{stdout: stdout, stderr: stderr}
	if len(args) == 0 {
		fmt.Fprint(stderr, usageText)
		return exitUsage
	}
	switch args[0] {
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, usageText)
		return exitOK
	}
	cmd, ok := commands[args[0]]
	if !ok {
		if strings.HasPrefix(args[0], "-") {
			return c.usageError("flags go after the command, e.g. shmctl ls -json; unknown command %q", args[0])
		}
		return c.usageError("unknown command %q", args[0])
	}
	c.name = args[0]
	return cmd.run(c, args[1:])
}

// usageError prints a usage message and returns exitUsage.
func (c *cli) usageError(format string, a ...any) int {
	fmt.Fprintf(c.stderr, "shmctl: "+format+"\n", a...)
	if cmd, ok := commands[c.name]; ok {
		fmt.Fprintf(c.stderr, "usage: %s\n", cmd.synopsis)
	}
	fmt.Fprintln(c.stderr, "Run 'shmctl help' for usage.")
	return exitUsage
}

// flags makes the flag set of the running subcommand.
func (c *cli) flags() *flag.FlagSet {
	fs := flag.NewFlagSet("shmctl "+c.name, flag.ContinueOnError)
	fs.SetOutput(c.stderr)
	fs.Usage = func() {} // run and usageError say it
	return fs
}

// parse parses args with fs, allowing flags before and after the
// positional arguments ("--" ends the flags). It returns the positional
// arguments, or an exit code when parsing ends the run (help, bad flag).
func (c *cli) parse(fs *flag.FlagSet, args []string) ([]string, int, bool) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				fmt.Fprintf(c.stdout, "usage: %s\n\n", commands[c.name].synopsis)
				fmt.Fprint(c.stdout, usageText)
				return nil, exitOK, false
			}
			// The flag package has printed the error.
			return nil, c.usageError("bad flag for %s", c.name), false
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return pos, 0, true
		}
		consumed := len(args) - len(rest)
		if consumed > 0 && args[consumed-1] == "--" {
			return append(pos, rest...), 0, true
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

// exitCode maps an error from package shm to the exit code that says what
// went wrong.
func exitCode(err error) int {
	switch {
	case err == nil:
		return exitOK
	case errors.Is(err, shm.ErrNotExist):
		return exitNotExist
	case errors.Is(err, shm.ErrBadHeader), errors.Is(err, shm.ErrVersion):
		return exitBadSeg
	case errors.Is(err, shm.ErrName):
		return exitUsage
	}
	return exitFailed
}

// fail prints err and returns its exit code.
func (c *cli) fail(err error) int {
	fmt.Fprintf(c.stderr, "shmctl %s: %v\n", c.name, err)
	return exitCode(err)
}

// writeJSON writes v, indented, to stdout.
func (c *cli) writeJSON(v any) int {
	enc := json.NewEncoder(c.stdout)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return c.fail(err)
	}
	return exitOK
}

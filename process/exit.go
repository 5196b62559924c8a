package process

import (
	"bytes"
	"encoding/gob"
	"errors"
	"fmt"
	"io"
	"os"
	"syscall"
	"time"
)

// ExitError is how Join reports a child that did not exit cleanly, as
// exec.Cmd.Wait reports one with *exec.ExitError: its function returned an
// error or panicked, it called os.Exit with a status other than 0, or a
// signal ended it. Match it with errors.As.
type ExitError struct {
	Name    string // the process's name
	Pid     int    // the child's process id
	Code    int    // as ExitCode reports it: 1 for an error or a panic, -N for signal N
	Message string // the error's text, or the panic's value; "" when the child sent none
	Panic   bool   // the child's function panicked
	Stack   string // of a panic, as the child printed it
}

// Error says how the child ended: its error's text, its panic, the
// signal that killed it, or its exit status.
func (e *ExitError) Error() string {
	switch {
	case e.Panic:
		return fmt.Sprintf("process: %s panicked: %s", e.Name, e.Message)
	case e.Message != "":
		return fmt.Sprintf("process: %s: %s", e.Name, e.Message)
	case e.Code < 0:
		return fmt.Sprintf("process: %s: killed by %s", e.Name, signalName(syscall.Signal(-e.Code)))
	}
	return fmt.Sprintf("process: %s: exit status %d", e.Name, e.Code)
}

// ExitCode is the child's exit code, as Process.ExitCode.
func (e *ExitError) ExitCode() int { return e.Code }

// exitReport is what a child whose function failed sends its parent,
// through its exit descriptor, before it exits with status 1.
type exitReport struct {
	Message string
	Panic   bool
	Stack   string
}

// maxReport bounds what the parent reads of a report.
const maxReport = 1 << 20

func reportOf(err error) exitReport {
	var pe *panicError
	if errors.As(err, &pe) {
		return exitReport{Message: pe.value, Panic: true, Stack: pe.stack}
	}
	return exitReport{Message: err.Error()}
}

// sendReport writes r to the exit descriptor; the parent reads it once
// the child is gone.
func sendReport(f *os.File, r exitReport) {
	if len(r.Message)+len(r.Stack) > maxReport/2 {
		r.Message, r.Stack = truncate(r.Message, maxReport/4), truncate(r.Stack, maxReport/4)
	}
	gob.NewEncoder(f).Encode(r)
	f.Close()
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// readReport reads, in the parent, what the child sent through f until
// the child's end closes; waited says when the child was reaped. A child's
// end is closed in its own children (close-on-exec), so it closes when the
// child exits; the deadline is only for a descendant started some other
// way that kept it.
func readReport(f *os.File, waited <-chan struct{}) (exitReport, bool) {
	got := make(chan []byte, 1)
	go func() {
		b, _ := io.ReadAll(io.LimitReader(f, maxReport))
		got <- b
	}()
	var b []byte
	select {
	case b = <-got:
	case <-waited:
		f.SetReadDeadline(time.Now().Add(time.Second))
		b = <-got
	}
	f.Close()
	var r exitReport
	if len(b) == 0 || gob.NewDecoder(bytes.NewReader(b)).Decode(&r) != nil {
		return exitReport{}, false
	}
	return r, true
}

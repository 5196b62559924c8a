package process

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
)

// Spares keeps n spare children started ahead and waiting (Python's
// forkserver start method): Start then hands the function and its
// argument to a spare that is ready, instead of starting the program
// again, which saves most of Start+Join for a short child; with none
// ready, to one still starting, which is ahead of a new start. A spare
// used is replaced in the background; Start never waits for one, and
// starts the program as before when there is none. Spares(0), the
// default, ends the spares and returns once they are gone.
//
// A child run by a spare is the same as one started anew: its name, Pid,
// argument, environment, default heap, exit code and *ExitError, Join,
// Terminate, Kill, daemon or not. ActiveChildren lists a spare only once
// it runs a function, and JoinAll does not wait for spares. A spare
// started before a change it would not see (the environment, the working
// directory, os.Stdout or os.Stderr, the segments of the default heap) is
// ended and replaced, not used; what the environment does not carry (the
// umask, resource limits) is as it was when the spare started. Spares die
// with this process, however it ends.
//
// Each spare is a whole process of this program, waiting: its memory is
// what this program takes at start. A spare that dies before it is ready
// (a program that does not call Main first runs its main in it) turns the
// spares off until the next call. Spares fails with ErrInvalid for a
// negative n, and with ErrNoMain in a child whose program did not call
// Main first.
func Spares(n int) error {
	if n < 0 {
		return fmt.Errorf("%w: %d spares", ErrInvalid, n)
	}
	if os.Getenv(envFunc) != "" || os.Getenv(envSpare) != "" {
		return ErrNoMain
	}
	return setSpares(n)
}

// envSpare makes a child started by the program a spare (see runSpare).
const envSpare = "SHMKIT_PROCESS_SPARE"

// The bytes a spare writes on its exit descriptor: spareReady once it
// waits for its order (a spare that has not is not handed out), then
// spareTook once it read it (a spare that dies before is not the child,
// and the function runs nowhere).
const (
	spareReady = 'r'
	spareTook  = 't'
)

// order is what a spare is told to run, as it travels on its argument
// descriptor: five strings, each after its length as a uvarint, then
// the argument's bytes.
type order struct {
	fn, name, parent, level string
	daemon                  bool
	arg                     []byte
}

var errBadOrder = errors.New("process: malformed order to a spare")

func (o *order) append(b []byte) []byte {
	d := ""
	if o.daemon {
		d = "1"
	}
	for _, s := range []string{o.fn, o.name, o.parent, o.level, d} {
		b = binary.AppendUvarint(b, uint64(len(s)))
		b = append(b, s...)
	}
	return append(b, o.arg...)
}

func parseOrder(b []byte) (order, error) {
	var f [5]string
	for i := range f {
		n, k := binary.Uvarint(b)
		if k <= 0 || n > uint64(len(b)-k) {
			return order{}, errBadOrder
		}
		f[i], b = string(b[k:k+int(n)]), b[k+int(n):]
	}
	if f[0] == "" || (f[4] != "" && f[4] != "1") {
		return order{}, errBadOrder
	}
	return order{fn: f[0], name: f[1], parent: f[2], level: f[3], daemon: f[4] == "1", arg: b}, nil
}

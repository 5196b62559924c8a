//go:build linux && (amd64 || arm64)

package process_test

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/shmkit/shmkit/array"
	"github.com/shmkit/shmkit/process"
	"github.com/shmkit/shmkit/value"
)

// A function a child runs is registered in a package-level variable, so
// that the parent and the child, the same program started again, know it.
var worker = process.Register("example.worker", func(ctx context.Context, num int) error {
	fmt.Println("Worker", num, process.Current().Name)
	return nil
})

// Workers, each in its own process. A program's main calls process.Main()
// before anything else: in a child it runs the registered function and
// exits. (Here the test binary's TestMain does.) Each worker is joined
// before the next starts, so that their lines come in order.
func Example() {
	ctx := context.Background()
	for i := range 3 {
		p := process.New(worker, i, process.Name(fmt.Sprintf("worker %d", i)))
		if err := p.Start(); err != nil {
			fmt.Println(err)
			return
		}
		if err := p.Join(ctx); err != nil {
			fmt.Println(err)
			return
		}
		code, _ := p.ExitCode()
		fmt.Println(p, code)
	}
	// Output:
	// Worker 0 worker 0
	// Process(worker 0, stopped) 0
	// Worker 1 worker 1
	// Process(worker 1, stopped) 0
	// Worker 2 worker 2
	// Process(worker 2, stopped) 0
}

// Shared is what f gets: a Value and an Array, which travel to the child as
// handles to the same shared memory.
type Shared struct {
	Num *value.Value[float64]
	Arr *array.Array[int32]
}

var f = process.Register("example.f", func(ctx context.Context, a Shared) error {
	if err := a.Num.Store(3.1415927); err != nil {
		return err
	}
	return a.Arr.Update(func(s []int32) {
		for i := range s {
			s[i] = -s[i]
		}
	})
})

// Python's Value and Array: the child's writes are the parent's.
func Example_sharedMemory() {
	num, err := value.New(0.0) // Value('d', 0.0), in the default heap that children inherit
	if err != nil {
		fmt.Println(err)
		return
	}
	arr, err := array.From([]int32{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}) // Array('i', range(10))
	if err != nil {
		fmt.Println(err)
		return
	}
	p := process.New(f, Shared{num, arr})
	if err := p.Start(); err != nil {
		fmt.Println(err)
		return
	}
	if err := p.Join(context.Background()); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(num.Load())
	fmt.Println(arr.Copy())
	// Output:
	// 3.1415927
	// [0 -1 -2 -3 -4 -5 -6 -7 -8 -9] <nil>
}

var sleeper = process.Register("example.sleeper", func(ctx context.Context, _ int) error {
	<-ctx.Done() // Terminate cancels the context
	return nil
})

// Terminate sends SIGTERM: the child's context is cancelled, and once its
// function returns it dies of the signal.
func ExampleProcess_Terminate() {
	p := process.New(sleeper, 0, process.Name("sleeper"))
	fmt.Println(p)
	if err := p.Start(); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(p)
	p.Terminate()
	p.Join(context.Background())
	code, _ := p.ExitCode()
	fmt.Println(p, code)
	// Output:
	// Process(sleeper, initial)
	// Process(sleeper, started)
	// Process(sleeper, stopped[SIGTERM]) -15
}

func ExampleCurrent() {
	fmt.Println(process.Current().Name)
	// Output:
	// MainProcess
}

var failing = process.Register("example.failing", func(ctx context.Context, n int) error {
	if n < 0 {
		return fmt.Errorf("negative input %d", n)
	}
	return nil
})

// Join answers as exec.Cmd.Wait does: nil for a clean exit, an
// *ExitError with the exit code and the function's error text otherwise.
func ExampleProcess_Join() {
	p := process.New(failing, -1, process.Name("checker"))
	if err := p.Start(); err != nil {
		fmt.Println(err)
		return
	}
	err := p.Join(context.Background())
	var ee *process.ExitError
	if errors.As(err, &ee) {
		fmt.Println(ee.ExitCode(), ee.Message)
	}
	fmt.Println(err)
	// Output:
	// 1 negative input -1
	// process: checker: negative input -1
}

var parent = process.Register("example.parent", func(ctx context.Context, _ int) error {
	info, ok := process.Parent()
	fmt.Println(process.Current().Name, "started by", info.Name, ok)
	return nil
})

// Parent is Python's parent_process(): who started this process, or ok
// false in the main process.
func ExampleParent() {
	_, ok := process.Parent()
	fmt.Println("in the main process:", ok)
	p := process.New(parent, 0, process.Name("child"))
	if err := p.Start(); err != nil {
		fmt.Println(err)
		return
	}
	if err := p.Join(context.Background()); err != nil {
		fmt.Println(err)
	}
	// Output:
	// in the main process: false
	// child started by MainProcess true
}

// ActiveChildren is Python's active_children(): the children started and
// not yet exited.
func ExampleActiveChildren() {
	p := process.New(sleeper, 0, process.Name("sleeper"))
	if err := p.Start(); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(process.ActiveChildren())
	p.Terminate()
	p.Join(context.Background()) // an *ExitError: it died of SIGTERM
	fmt.Println(process.ActiveChildren())
	// Output:
	// [Process(sleeper, started)]
	// []
}

// A Group starts workers together and waits for them all; Wait returns the
// first failure, and the others, terminated, are gone when it returns.
func ExampleGroup() {
	g := process.NewGroup(context.Background())
	for i := range 3 {
		if err := g.Start(process.New(failing, 1-i, process.Name(fmt.Sprint("worker ", i)))); err != nil {
			break // g.Wait still waits for those started
		}
	}
	err := g.Wait()
	var ee *process.ExitError
	if errors.As(err, &ee) {
		fmt.Println(ee.Name, "failed:", ee.Message)
	}
	for _, p := range g.Processes() {
		_, ok := p.ExitCode()
		fmt.Println(p.Name(), "exited:", ok)
	}
	// Output:
	// worker 2 failed: negative input -1
	// worker 0 exited: true
	// worker 1 exited: true
	// worker 2 exited: true
}

var exiting = process.Register("example.exiting", func(ctx context.Context, how string) error {
	switch how {
	case "error":
		return errors.New("no input")
	case "exit":
		os.Exit(3)
	case "hang":
		<-ctx.Done()
	}
	return nil
})

// An *ExitError says how a child failed, as Python's exitcode does and
// more: the exit code (-N for signal N), and the error's text or the
// panic's value (Message; Panic and Stack for a panic), sent by the child
// itself.
func ExampleExitError() {
	for _, how := range []string{"error", "exit", "hang"} {
		p := process.New(exiting, how, process.Name(how))
		if err := p.Start(); err != nil {
			fmt.Println(err)
			return
		}
		if how == "hang" {
			p.Kill()
		}
		err := p.Join(context.Background())
		var ee *process.ExitError
		if !errors.As(err, &ee) {
			fmt.Println("no ExitError:", err)
			return
		}
		fmt.Printf("%s: code %d, message %q, pid %v\n", ee.Name, ee.Code, ee.Message, ee.Pid == p.Pid())
		fmt.Println(err)
	}
	// Output:
	// error: code 1, message "no input", pid true
	// process: error: no input
	// exit: code 3, message "", pid true
	// process: exit: exit status 3
	// hang: code -9, message "", pid true
	// process: hang: killed by SIGKILL
}

// Spares started ahead: Start hands its function to a child of the program
// that is already running and waiting, instead of starting the program
// again; the child is the same as one started anew.
func ExampleSpares() {
	if err := process.Spares(2); err != nil {
		fmt.Println(err)
		return
	}
	defer process.Spares(0) // ends the spares, and returns once they are gone
	ctx := context.Background()
	for i := range 2 {
		p := process.New(worker, i, process.Name(fmt.Sprintf("spare worker %d", i)))
		if err := p.Start(); err != nil {
			fmt.Println(err)
			return
		}
		if err := p.Join(ctx); err != nil {
			fmt.Println(err)
			return
		}
		code, _ := p.ExitCode()
		fmt.Println(p, code)
	}
	// Output:
	// Worker 0 spare worker 0
	// Process(spare worker 0, stopped) 0
	// Worker 1 spare worker 1
	// Process(spare worker 1, stopped) 0
}

package main

// The demos of seed 000, "Python-multiprocessing进程管理" (after Doug
// Hellmann's PyMOTW): processes, their names, daemons, terminate, exit
// codes, logging, a derived process type, a Queue, a Pool.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/shmkit/shmkit/cmd/mpdemo/internal/simple"
	"github.com/shmkit/shmkit/process"
	"github.com/shmkit/shmkit/ringbuffer"
	"github.com/shmkit/shmkit/semaphore"
)

// none is the argument of a function that takes none: Python's
// Process(target=worker).
type none = struct{}

// worker: def worker(): print 'Worker'
var worker = process.Register("mpdemo.worker", func(ctx context.Context, _ none) error {
	fmt.Println("Worker")
	return nil
})

// demoWorker: for i in range(5): Process(target=worker).start(). The
// children are joined as the program ends (runTopic), as Python joins them
// at exit.
func demoWorker(ctx context.Context, w io.Writer) error {
	for range 5 {
		if err := process.New(worker, none{}).Start(); err != nil {
			return err
		}
	}
	return nil
}

// workerNum: def worker(num): print "Worker", num; time.sleep(0.1)
var workerNum = process.Register("mpdemo.worker_num", func(ctx context.Context, num int) error {
	fmt.Println("Worker", num)
	return sleep(ctx, second/10)
})

// demoWorkerArgs: Process(target=worker, args=(i,)) for i in range(5).
func demoWorkerArgs(ctx context.Context, w io.Writer) error {
	for i := range 5 {
		if err := process.New(workerNum, i).Start(); err != nil {
			return err
		}
	}
	return nil
}

// demoImportable: the target is simple.worker, from a package of its own:
// a Go function is found in the child by the name it was registered under,
// wherever it is declared.
func demoImportable(ctx context.Context, w io.Writer) error {
	for range 5 {
		if err := process.New(simple.Worker, none{}).Start(); err != nil {
			return err
		}
	}
	return nil
}

// namedWorker: def worker(): name = current_process().name; print name,
// 'Starting'; time.sleep(2); print name, 'Exiting'
var namedWorker = process.Register("mpdemo.names.worker", func(ctx context.Context, _ none) error {
	name := process.Current().Name
	fmt.Println(name, "Starting")
	if err := sleep(ctx, 2*second); err != nil {
		return err
	}
	fmt.Println(name, "Exiting")
	return nil
})

// serviceArg is myService's argument: how long it sleeps (Python's
// my_device sleeps 3 seconds), and an Event it sets once it printed its
// first line, if there is one.
type serviceArg struct {
	Sleep   time.Duration
	Started *semaphore.Event
}

// myService: def my_device(): the same as worker, sleeping 3 seconds.
var myService = process.Register("mpdemo.names.my_service", func(ctx context.Context, a serviceArg) error {
	name := process.Current().Name
	fmt.Println(name, "Starting")
	if a.Started != nil {
		if err := a.Started.Set(); err != nil {
			return err
		}
	}
	if err := sleep(ctx, a.Sleep); err != nil {
		return err
	}
	fmt.Println(name, "Exiting")
	return nil
})

// startAll starts the processes in order.
func startAll(ps ...*process.Process) error {
	for _, p := range ps {
		if err := p.Start(); err != nil {
			return err
		}
	}
	return nil
}

// runGroup is Python's "start each, then join each": it starts the
// processes in order in a process.Group and waits for them all. The first
// to fail stops the others (terminated), and its *process.ExitError is the
// answer.
func runGroup(ctx context.Context, ps ...*process.Process) error {
	g := process.NewGroup(ctx)
	for _, p := range ps {
		if err := g.Start(p); err != nil {
			break // Wait still waits for those started, and says why
		}
	}
	return g.Wait()
}

// startWithWorkers starts names' two workers, "worker 1" and Process-3
// (the third made, after service), and then service.
func startWithWorkers(service *process.Process) error {
	worker1 := process.New(namedWorker, none{}, process.Name("worker 1"))
	worker2 := process.New(namedWorker, none{}) // Process-3
	return startAll(worker1, worker2, service)
}

// demoNames: two named processes, my_service and "worker 1", and one
// with the default name, Process-3 (the third made).
func demoNames(ctx context.Context, w io.Writer) error {
	service := process.New(myService, serviceArg{Sleep: 3 * second}, process.Name("my_service"))
	worker1 := process.New(namedWorker, none{}, process.Name("worker 1"))
	worker2 := process.New(namedWorker, none{}) // default name; or process.Name("worker_2")
	return startAll(worker1, worker2, service)
}

// daemonService makes names' my_service a daemon (service.daemon = True).
// It sleeps past the program's end, however loaded the machine (Python's
// sleeps 3 seconds where the program ends after 2), and sets started once
// it printed its first line.
func daemonService(started *semaphore.Event) *process.Process {
	return process.New(myService, serviceArg{Sleep: time.Minute, Started: started},
		process.Name("my_service"), process.Daemon(true))
}

// startDaemon starts names' workers and daemonService, and returns the
// daemon once it printed its first line: Python's workers sleep long
// enough for my_service to print it before the program ends; here it says
// when it did.
func startDaemon(ctx context.Context) (*process.Process, error) {
	started, err := semaphore.NewEvent()
	if err != nil {
		return nil, err
	}
	service := daemonService(started)
	if err := startWithWorkers(service); err != nil {
		return nil, err
	}
	return service, started.Wait(ctx)
}

// demoDaemon: names with service.daemon = True and no join. The program
// waits for its workers as it ends, not for the daemon, which dies with it:
// my_service prints its first line only.
func demoDaemon(ctx context.Context, w io.Writer) error {
	_, err := startDaemon(ctx)
	return err
}

// demoDaemonJoin: the same, and service.join(): the main waits for the
// daemon, which runs to its end.
func demoDaemonJoin(ctx context.Context, w io.Writer) error {
	service := process.New(myService, serviceArg{Sleep: 3 * second}, process.Name("my_service"), process.Daemon(true))
	if err := startWithWorkers(service); err != nil {
		return err
	}
	return service.Join(ctx)
}

// demoDaemonJoinTimeout: service.join(1): Join returns when the timeout
// passes, and the daemon goes on running, until the program ends.
func demoDaemonJoinTimeout(ctx context.Context, w io.Writer) error {
	service, err := startDaemon(ctx)
	if err != nil {
		return err
	}
	timeout, cancel := context.WithTimeout(ctx, second)
	defer cancel()
	if err := service.Join(timeout); !errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("join with a timeout: %v, want the deadline", err)
	}
	fmt.Fprintln(w, "service.IsAlive()", service.IsAlive())
	return nil
}

// slowWorker: def slow_worker(): print 'Starting worker'; time.sleep(10);
// print 'finished worker'
var slowWorker = process.Register("mpdemo.slow_worker", func(ctx context.Context, _ none) error {
	fmt.Println("Starting worker")
	if sleep(ctx, 10*second) != nil {
		return nil // terminated
	}
	fmt.Println("finished worker")
	return nil
})

// demoTerminate: terminate() and the states a Process goes through.
// Terminate only sends SIGTERM; Join waits until the child is gone and its
// state says how it ended.
func demoTerminate(ctx context.Context, w io.Writer) error {
	p := process.New(slowWorker, none{})
	fmt.Fprintln(w, "Before:", p, p.IsAlive())
	if err := p.Start(); err != nil {
		return err
	}
	fmt.Fprintln(w, "During:", p, p.IsAlive())
	if err := p.Terminate(); err != nil {
		return err
	}
	fmt.Fprintln(w, "Terminate:", p, p.IsAlive())
	if err := p.Join(ctx); !exited(err) { // it died of SIGTERM: an *ExitError
		return err
	}
	fmt.Fprintln(w, "Joined:", p, p.IsAlive())
	return nil
}

var (
	// exitError: def exit_error(): sys.exit(1)
	exitError = process.Register("mpdemo.exit_error", func(ctx context.Context, _ none) error {
		os.Exit(1)
		return nil
	})
	// exitOK: def exit_ok(): return
	exitOK = process.Register("mpdemo.exit_ok", func(ctx context.Context, _ none) error {
		return nil
	})
	// raises: def raises(): raise RuntimeError('There was an error!')
	raises = process.Register("mpdemo.raises", func(ctx context.Context, _ none) error {
		//lint:ignore ST1005 the message of the Python original's RuntimeError
		return errors.New("There was an error!")
	})
	// terminated: def terminated(): time.sleep(3)
	terminated = process.Register("mpdemo.terminated", func(ctx context.Context, _ none) error {
		sleep(ctx, 3*second)
		return nil
	})
)

// exited reports whether err, Join's answer, says how the child ended
// (nil, or an *ExitError) rather than that Join gave up.
func exited(err error) bool {
	var ee *process.ExitError
	return err == nil || errors.As(err, &ee)
}

// demoExitCode: the exit codes of a process that calls os.Exit(1), one
// that returns nil, one that returns an error (printed on its stderr, as
// Python prints the traceback) and one terminated (-15, SIGTERM). Python's
// return_value, whose return value is dropped, has no counterpart: a Go
// target returns an error only.
func demoExitCode(ctx context.Context, w io.Writer) error {
	fs := []struct {
		name string
		t    process.Target[none]
	}{{"exit_error", exitError}, {"exit_ok", exitOK}, {"raises", raises}, {"terminated", terminated}}
	var jobs []*process.Process
	for _, f := range fs {
		fmt.Fprintln(w, "Starting process for", f.name)
		j := process.New(f.t, none{}, process.Name(f.name))
		jobs = append(jobs, j)
		if err := j.Start(); err != nil {
			return err
		}
	}
	if err := jobs[len(jobs)-1].Terminate(); err != nil {
		return err
	}
	for _, j := range jobs {
		if err := j.Join(ctx); !exited(err) {
			return err
		}
		code, _ := j.ExitCode()
		fmt.Fprintf(w, "%15s.exitcode = %d\n", j.Name(), code)
	}
	return nil
}

// doSomeWork: def worker(): print "Doing some work"
var doSomeWork = process.Register("mpdemo.do_some_work", func(ctx context.Context, _ none) error {
	fmt.Println("Doing some work")
	return nil
})

// demoLogging: log_to_stderr(logging.DEBUG). The lines go to stderr, from
// the main and from the child, which was started after LogToStderr; the
// last one is the main's, as it joins its children at the end.
func demoLogging(ctx context.Context, w io.Writer) error {
	process.LogToStderr(slog.LevelDebug)
	p := process.New(doSomeWork, none{})
	if err := p.Start(); err != nil {
		return err
	}
	return p.Join(ctx)
}

// demoGetLogger: log_to_stderr(); get_logger().setLevel(logging.INFO).
// A slog level is set with the handler, by LogToStderr; Logger is the
// logger itself, to log through directly.
func demoGetLogger(ctx context.Context, w io.Writer) error {
	process.LogToStderr(slog.LevelInfo)
	logger := process.Logger()
	logger.Debug("not shown: below the level")
	logger.Info("starting the worker")
	p := process.New(doSomeWork, none{})
	if err := p.Start(); err != nil {
		return err
	}
	return p.Join(ctx)
}

// Worker is Python's class Worker(multiprocessing.Process) with its run
// method: a value of it runs as a process itself, named Worker-N.
type Worker struct{}

// Run prints the process's name: print 'In %s' % self.name.
func (*Worker) Run(ctx context.Context) error {
	fmt.Println("In", process.Current().Name)
	return nil
}

var workerType = process.RegisterRunner[*Worker]("mpdemo.Worker")

// demoDerived: five Workers, started and then joined: a Group.
func demoDerived(ctx context.Context, w io.Writer) error {
	jobs := process.NewGroup(ctx)
	for range 5 {
		if err := jobs.Start(process.New(workerType, &Worker{})); err != nil {
			break // Wait waits for those started, and returns the error
		}
	}
	return jobs.Wait()
}

// MyFancyClass is an object passed through a Queue: its data travels, and
// the receiver calls its method.
type MyFancyClass struct {
	Name string
}

// DoSomething prints the process it runs in.
func (c MyFancyClass) DoSomething() {
	procName := process.Current().Name
	fmt.Printf("Doing something fancy in %s for %s\n", procName, c.Name)
}

// fancyWorker: def worker(q): obj = q.get(); obj.do_something()
var fancyWorker = process.Register("mpdemo.fancy_worker", func(ctx context.Context, q *ringbuffer.Queue[MyFancyClass]) error {
	obj, err := q.Get(ctx)
	if err != nil {
		return err
	}
	obj.DoSomething()
	return nil
})

// demoQueueObject: the main puts MyFancyClass('Fancy Dan') on the queue
// the worker waits on, closes its handle of the queue and joins the
// worker.
func demoQueueObject(ctx context.Context, w io.Writer) error {
	queue, err := ringbuffer.NewQueue[MyFancyClass](4)
	if err != nil {
		return err
	}
	p := process.New(fancyWorker, queue)
	if err := p.Start(); err != nil {
		return err
	}
	if err := queue.Put(ctx, MyFancyClass{Name: "Fancy Dan"}); err != nil {
		return err
	}
	// Wait for the worker to finish. Close lets go of this process's
	// handle, as Python's close does (the worker's stays); there is no
	// feeder thread to join.
	if err := queue.Close(); err != nil {
		return err
	}
	return p.Join(ctx)
}

// myFunc: def my_func(x): print x**2
var myFunc = process.RegisterFunc("mpdemo.my_func", func(ctx context.Context, x int) (none, error) {
	fmt.Println(x * x)
	return none{}, nil
})

// demoPoolPrint: Pool(processes=5).map(my_func, range(10)): the workers
// print, in the order they run.
func demoPoolPrint(ctx context.Context, w io.Writer) error {
	pool, err := process.NewPool(5, nil)
	if err != nil {
		return err
	}
	target := []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}
	if _, err := process.Map(ctx, pool, myFunc, target); err != nil {
		pool.Terminate()
		return err
	}
	if err := pool.Close(); err != nil {
		return err
	}
	return pool.Join(ctx)
}

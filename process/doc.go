// Package process starts Go functions in child processes, as Python's
// multiprocessing.Process does, and hands them shmkit's shared objects.
//
//	var worker = process.Register("worker", func(ctx context.Context, num int) error {
//		fmt.Println("Worker", num, process.Current().Name)
//		return nil
//	})
//
//	func main() {
//		process.Main() // in a child: runs its function and exits; here: returns
//		defer process.JoinAll(context.Background())
//		p := process.New(worker, 1, process.Name("worker 1"))
//		if err := p.Start(); err != nil { ... }
//		if err := p.Join(ctx); err != nil { ... } // an *ExitError: it failed
//		code, _ := p.ExitCode()
//		fmt.Println(p, code) // Process(worker 1, stopped) 0
//	}
//
// Go cannot fork a running program, so a child is the same executable
// started again (/proc/self/exe): Main, called first in main, sees that it
// is a child, runs the function named at Start with the argument it was
// given, and exits with its status (compare Python's `if __name__ ==
// "__main__":` with the spawn start method). Functions are registered by
// name in package-level variables, so that parent and child know the same
// names. A test binary calls Main first in TestMain.
//
// A type with a method Run(ctx) error runs as a process itself (Python's
// Process subclass that overrides run): RegisterRunner[*Worker]("worker"),
// then New(target, &Worker{...}), named "Worker-1" by default.
//
// # Arguments
//
// The argument is encoded with encoding/gob (a struct carries several).
// Funcs and channels do not cross processes: an argument holding one, in
// any exported field, fails at Start.
// Shared objects in it (value.Value, array.Array, every semaphore type,
// ringbuffer's Ring, Queue and Conn) encode as their handles, and arrive in
// the child as the same shared memory: named segments are opened by name,
// and the segments of the parent's default heap travel as inherited file
// descriptors, so objects made without shm.In work too. The child adds
// them to its own default heap, so that what it makes there reaches the
// parent, and its own children, the same way.
//
// # Life and death
//
//   - ExitCode is 0 when the function returned nil, 1 when it returned an
//     error (printed on the child's stderr) or panicked, what it passed to
//     os.Exit, or -N when signal N ended it.
//   - Join returns nil for a clean exit and an *ExitError otherwise, as
//     exec.Cmd.Wait does: the exit code and, for an error or a panic, its
//     text or the panic's value and stack, which the child sends its
//     parent through a pipe of its own before it exits.
//   - Terminate sends SIGTERM: the child's context is cancelled; when the
//     function returns, or after a second's grace, the child dies of
//     SIGTERM (-15, "stopped[SIGTERM]"). Kill sends SIGKILL.
//   - A child is signalled only until it was reaped, through a pidfd where
//     the system has them: never a stranger that reused its pid.
//   - A daemon child dies with its parent, even when the parent is
//     SIGKILLed: the kernel's parent-death signal (set from one locked OS
//     thread that never ends, since it fires when the starting thread ends)
//     and a pipe from the parent whose closing the child watches.
//   - JoinAll waits for the non-daemon children: defer it in main.
//     ActiveChildren lists the children not yet exited (Python's
//     active_children), Parent describes the process that started this
//     one (parent_process).
//   - Children inherit stdout and stderr; stdin is /dev/null.
//
// # Spares
//
// Starting the program again costs a child a few milliseconds before its
// function runs: exec, the Go runtime's start, the packages'
// initialisation. Spares(n) keeps n children started ahead, waiting
// (Python's forkserver start method); Start hands the function and its
// argument to one that is ready (or else to one still starting), and
// starts another in the background:
//
//	process.Main()
//	process.Spares(2) // Spares(0) ends them
//
// A child run by a spare is the same as one started anew (name, Pid,
// argument, environment, default heap, exit code and *ExitError,
// Terminate, Kill, daemon or not), and a spare started before a change it
// would not see (the environment, the working directory, os.Stdout or
// os.Stderr, the default heap's segments) is ended and replaced rather
// than used. Start never waits for a spare: with none ready it starts the
// program as before. Spares die with their parent. What they save is the
// wait, not the work: each is a whole process of the program, started and
// replaced as before, so children started back to back, faster than
// spares are replaced, gain less than children started now and then.
//
// # Groups
//
// A Group starts several processes and waits for them together, with the
// first failure, as errgroup does with goroutines:
//
//	g := process.NewGroup(ctx)
//	for i := range n {
//		if err := g.Start(process.New(worker, i)); err != nil {
//			break
//		}
//	}
//	err := g.Wait() // nil, or the first failure: an *ExitError, a Start's error, ctx's
//
// The first failure (or ctx's end) terminates the others, as
// errgroup.WithContext cancels its context; Wait returns once they are all
// gone.
//
// # Pools
//
// A Pool is Python's multiprocessing.Pool: a fixed number of worker
// processes (PoolWorker-N, daemons) that run functions registered with
// RegisterFunc, which take an argument and give a result:
//
//	var square = process.RegisterFunc("square", func(ctx context.Context, x int) (int, error) {
//		return x * x, nil
//	})
//
//	pool, err := process.NewPool(4, nil) // nil: no initializer, default chunks
//	defer pool.Join(ctx)
//	defer pool.Close()
//	out, err := process.Map(ctx, pool, square, []int{1, 2, 3}) // [1 4 9]
//	for v, err := range process.Imap(ctx, pool, square, slices.Values(xs)) { ... }
//	v, err := process.Apply(ctx, pool, square, 7)
//	res := process.ApplyAsync(pool, square, 7) // res.Get(ctx), res.Ready()
//	process.MapAsync(pool, square, xs).Then(onOK, onErr) // callback=, error_callback=
//
// Map, Imap, ImapUnordered and Starmap send the items in chunks
// (PoolOptions.ChunkSize). Each worker has a task queue and a result queue
// of its own in shared memory (package ringbuffer), and holds at most two
// chunks: the one it runs and the next. Plain arguments and results
// (package ctypes) travel as their bytes, written from the caller's slice
// straight into the queue's shared memory and read from there straight
// into the worker's, and the results back the same way, with no copy in
// between; others go through encoding/gob. A chunk too large for the
// queues is split; a single argument or result too large fails its item.
// While a worker holds a few items (an Apply), the pool polls for their
// results for a few tens of microseconds before it sleeps; during a long
// chunk it sleeps at once.
//
// What goes wrong, and what the caller sees:
//
//   - A function that returns an error or panics fails its item with a
//     *TaskError (the error's text, or the panic's value and stack); the
//     pool goes on. Map returns the first failed item's error; Imap yields
//     each item's error and goes on.
//   - A worker that dies (killed, or os.Exit) fails exactly the items it
//     had taken with ErrWorkerDied; the chunk waiting in its queue goes to
//     another worker. A new worker takes its place. Nothing waits for a
//     dead worker: the pool learns of the death from the kernel (it reaps
//     its children), not from a timeout.
//   - An initializer that fails (PoolOptions.Initializer, see Init) ends the
//     pool: every task fails with ErrInitializer, instead of workers being
//     started again and again.
//   - Close lets the workers finish what they were given, then exit;
//     Terminate fails what is unfinished with ErrPoolTerminated and sends
//     the workers SIGTERM (their context is cancelled). Join waits for
//     either. The workers are daemons: they die with the pool's process.
//   - A call whose context ends returns at once; items already running
//     finish in their workers and their results are dropped.
//
// PoolOptions.InProcess runs the same API on goroutines in this process
// (Python's multiprocessing.dummy), without encoding: for tests, and for
// work that does not need other processes.
//
// # Logging
//
// LogToStderr(level) logs the life-cycle events through log/slog as
// Python does, "[INFO/worker 1] child process calling run", in this
// process and in the children it starts afterwards; Logger is Python's
// get_logger.
//
// # Caveats
//
//   - A program that does not call Main first makes every child run its
//     main again. Start notices that (ErrNoMain) instead of starting
//     children without end.
//   - Close or Terminate every Pool: until then its workers wait for work.
//   - A TaskError from another process carries the error's text only:
//     errors.Is against the function's own sentinel errors works in an
//     InProcess pool, not across processes.
//   - Arguments and results that are not plain travel through
//     encoding/gob, which leaves zero values out: a pointer to a zero value,
//     or an empty slice or map, arrives as nil (in an InProcess pool it
//     stays as it was).
//   - Only the default heap's segments are inherited, as they are when
//     the child starts. A child passed an object of another anonymous
//     segment (shm.Anonymous, or one the default heap added since: it grows
//     when full), a Pool's worker included, maps that segment from its
//     parent's open files, or its grandparent's (/proc/PID/fd; see
//     shm.Resolve). That needs the right to read them: granted between
//     processes of one user unless the parent is undumpable (set-uid, or
//     made so with prctl). Where it is refused, or the segment is closed in
//     the parent, passing the object fails with shm.ErrNotMapped: make what
//     a Pool's tasks share before NewPool, or place it in a named segment
//     (shm.In), which any process can open.
package process

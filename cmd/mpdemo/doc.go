// Command mpdemo runs the examples of Python's multiprocessing, written
// with shmkit: each topic is the counterpart of one Python program from
// five articles that teach the module (the seeds, numbered 000 to 004), and
// prints what the Python program prints, in Go's form (false, not False;
// [1 4 9], not [1, 4, 9]).
//
// Usage:
//
//	go run ./cmd/mpdemo TOPIC   run one demo
//	go run ./cmd/mpdemo list    list the topics, with their subject
//	go run ./cmd/mpdemo all     run every topic; exits 1 if any failed
//
// Every demo is a program of its own: its main calls process.Main first,
// starts children through package process, and prints its own lines on
// stdout; its children print on the stdout they inherit, as Python's do.
// As Python does at exit, the demo then waits for its children that are
// not daemons (process.JoinAll).
//
// `all` runs each topic in a child process of its own, named MainProcess,
// so that each prints what it prints alone: processes numbered from
// Process-1, logging off at the start, daemons that die when the topic
// ends. It runs four topics at a time, each writing to a file of its own,
// and prints each topic's output under its header, in the order of list,
// once the topic is done; then a line "--- ok TOPIC (time)" or "--- FAIL
// TOPIC (time): why", and at the end "ok: all N topics" or the failed
// ones, exiting 1.
//
// The Python programs sleep for seconds; the demos sleep a tenth of that.
// Where a Python program counts on a sleep for the order of its lines (a
// child should have started, or timed out, by then), the demo waits for
// the event itself instead, so that its output holds on a loaded machine.
//
// # Topics
//
// The seeds:
//
//   - 000 "Python-multiprocessing进程管理" (after PyMOTW)
//   - 001 "Python multiprocessing" (after the Python documentation)
//   - 002 "Python的多进程编程技巧"
//   - 003 "简单多进程切换、进程传参、异步进程、守护进程"
//   - 004 "Python--multiprocessing" (a summary of PyMOTW's chapter, whose
//     programs the demos follow)
//
// The topics by subject (processes; logging; messages through queues and
// pipes; sync, the locks, events and conditions; shared memory; pools;
// beyond python, what the module has no counterpart for),
// the Python each one follows, and its seed. The topics plans and
// plans-args of earlier versions are two-processes and keyword-args, and
// run under their old names too.
//
//	topic                subject        Python original (seed)
//	worker               processes      for i in range(5): Process(target=worker).start() (000)
//	worker-args          processes      Process(target=worker, args=(i,)); print 'Worker', num (000)
//	importable           processes      Process(target=simple.worker), from another module (000)
//	hello                processes      Process(target=f, args=('bob',)); print('hello', name) (001)
//	names                processes      Process(name='my_service', target=my_device); current_process().name (000)
//	info                 processes      info(title): __name__, os.getppid(), os.getpid() (001)
//	getpid               processes      os.getpid(), os.getppid() in A and B (003)
//	two-processes        processes      Process(target=A), Process(target=B), each printing three times (003)
//	keyword-args         processes      Process(target=A, args=(3, "福尔摩斯")), kwargs={"num": 3, "name": "诸葛亮"} (003)
//	derived              processes      class Worker(multiprocessing.Process): def run(self) (000)
//	daemon               processes      service.daemon = True, not joined (000)
//	daemon-join          processes      service.daemon = True; service.join() (000)
//	daemon-join-timeout  processes      service.join(1); service.is_alive() (000)
//	daemon-sleep         processes      funB.daemon = True; funB.start(); time.sleep(3) (003)
//	wait-children        processes      funB.start(); print("A 计划完毕……"): the program waits for B (003)
//	terminate            processes      p.terminate(); print p, p.is_alive() (000)
//	exitcode             processes      sys.exit(1), return, raise, terminate(); p.exitcode (000)
//	cpu-count            processes      multiprocessing.cpu_count() (004)
//	logging              logging        multiprocessing.log_to_stderr(logging.DEBUG) (000)
//	get-logger           logging        log_to_stderr(); get_logger().setLevel(logging.INFO) (000)
//	queue                messages       q.put([42, None, 'hello']); print(q.get()) (001)
//	queue-object         messages       queue.put(MyFancyClass('Fancy Dan')); obj = q.get(); obj.do_something() (000)
//	pipe                 messages       parent_conn, child_conn = Pipe(); conn.send([42, None, 'hello']) (001)
//	joinable-queue       messages       class Consumer(Process), JoinableQueue, task_done(), tasks.join() (004)
//	lock                 sync           l.acquire(); print('hello world', i); l.release() (001)
//	event                sync           e.wait(), e.wait(t), e.set(), e.is_set() (004)
//	condition            sync           stage_1: cond.notify_all(); stage_2: cond.wait() (004)
//	semaphore            sync           with s: pool.makeActive(name), Semaphore(3), ActivePool (004)
//	value-array          shared memory  Value('d', 0.0), Array('i', range(10)) (001)
//	manager              shared memory  manager.dict(), manager.list(range(10)); d[1] = '1'; d['2'] = 2; d[0.25] = None; l.reverse() (001)
//	manager-dict         shared memory  d = mgr.dict(); Process(target=worker, args=(d, i, i*2)): d[key] = value; print 'Results:', d (004)
//	namespace            shared memory  mgr.Namespace(); ns.value = 'This is the value'; event.set() (004)
//	namespace-list       shared memory  namespace.my_list = []; ns.my_list.append('This is the value'), not propagated (004)
//	pool-map             pools          with Pool(5) as p: print(p.map(f, [1, 2, 3])) (001)
//	pool-print           pools          Pool(processes=5).map(my_func, range(10)), my_func printing x**2 (000)
//	pool                 pools          map, imap_unordered, apply_async(f, (20,)).get(timeout=1), TimeoutError (001)
//	pool-sleep           pools          Pool(4).map(f, range(10)), f sleeping a second (002)
//	pool-queues          pools          Pool(4, f, (in_queue, out_queue)); out_queue.get(); pool.terminate() (002)
//	pool-initializer     pools          Pool(processes=cpu_count()*2, initializer=start_process) (004)
//	loans                beyond python  none: zero-copy messages, iceoryx2's loan and receive
//	pubsub               beyond python  none: a feed every reader sees whole (ringbuffer.PubSub), and a late reader's history
//	counters             beyond python  none: a ring's counters in shared memory (Ring.Stats) after a killed producer
//
// # From Python to Go
//
//   - A target is a function registered in a package-level variable
//     (process.Register, process.RegisterFunc for pools); its arguments are
//     one value, a struct when there are several: a keyed struct literal is
//     Python's kwargs.
//   - Shared objects (semaphore.Mutex, Event, Cond, Semaphore; value.Value;
//     array.Array; shmap.Map and List; ringbuffer.Queue, JoinableQueue,
//     Pipe's Conn) travel in the argument as handles to the same shared
//     memory.
//   - A Value holds plain data only: namespace's Namespace is a struct with a
//     fixed-size text, namespace-list's list is a fixed array of texts and
//     a count, and semaphore's list of active workers (Python's
//     Manager().list()) is a fixed array and a count in a Value, whose lock
//     is the ActivePool's.
//   - Manager().dict() and Manager().list() are a shmap.Map and a
//     shmap.List: in shared memory, not proxies to a server process. Keys,
//     values and elements that are not plain are encoded (gob by default):
//     manager's dict, whose keys and values mix int, str, float and None,
//     is a shmap.Map[any, any], as Python's is. Keys compare by their
//     encoding, so 1 and 1.0 (and int(1) and int64(1)) are different keys
//     there, one in Python. A shmap.Map keeps no order of insertion: the
//     demos print a dict's keys sorted (None, then numbers, then strs),
//     which is the order of Python 2's outputs in the seeds and PyMOTW;
//     Python 3 prints manager's dict in the order of insertion.
//     l.reverse() swaps the elements one At and Set at a time, not in one
//     step.
//   - A namespace's list is copied each time it is read, from a Value as
//     from Python's manager: namespace-list's append changes the
//     producer's copy only, and the consumer prints [] twice, as Python's
//     does.
//   - "Start each, then join each" is a process.Group (derived, condition,
//     manager-dict, namespace, namespace-list): Start each, then Wait,
//     which returns the first failure, Join's *process.ExitError, once
//     the others, terminated, are gone too.
//   - pipe's two ends are each used one way, the child's to send and the
//     main's to receive: a ringbuffer.OneWayPipe, Python's
//     Pipe(duplex=False), where Python's program uses a duplex Pipe().
//   - A wait with a timeout is a context with a deadline:
//     get(timeout=1) is res.Get(ctx), and a timeout is
//     context.DeadlineExceeded.
//   - get-logger logs one line of its own through process.Logger, the
//     logger get_logger returns; the level is LogToStderr's, as slog fixes
//     a handler's level.
//   - exitcode has no return_value: a Go target returns an error only. The
//     error of raises is printed on its stderr, where Python prints the
//     traceback.
//   - info prints the process's name where Python prints the module's.
//
// # Not here
//
// The seeds' examples that have no demo: the programs that show Python
// failing (a Pool given a nested function or a method's, a Pool used from
// the interactive interpreter, a program without its `if __name__ ==
// "__main__":` guard): a Go target cannot be unregistered, and in a program
// that forgets process.Main the children's own Start fails with
// process.ErrNoMain instead of starting children without end; seed 003's
// first program, which starts no process; and seed 002's question about a
// counter shared by threads.
package main

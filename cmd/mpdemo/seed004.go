package main

// The demos of seed 004, "Python--multiprocessing" (a summary of PyMOTW's
// chapter; the programs are PyMOTW's): Event, Condition, Semaphore, a
// manager's dict, a shared namespace, one holding a list, a pool with an
// initializer, a JoinableQueue and cpu_count.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"strconv"
	"strings"
	"time"

	"github.com/shmkit/shmkit/process"
	"github.com/shmkit/shmkit/ringbuffer"
	"github.com/shmkit/shmkit/semaphore"
	"github.com/shmkit/shmkit/shmap"
	"github.com/shmkit/shmkit/value"
)

// waitForEvent: def wait_for_event(e): print 'wait_for_event: starting';
// e.wait(); print 'wait_for_event: e.is_set()->', e.is_set()
var waitForEvent = process.Register("mpdemo.wait_for_event", func(ctx context.Context, e *semaphore.Event) error {
	fmt.Println("waitForEvent: starting")
	if err := e.Wait(ctx); err != nil {
		return err
	}
	fmt.Println("waitForEvent: e.IsSet() ->", e.IsSet())
	return nil
})

// timedWait is wait_for_event_timeout's arguments: (e, t).
type timedWait struct {
	E *semaphore.Event
	T time.Duration
}

// waitForEventTimeout: def wait_for_event_timeout(e, t): the same, with
// e.wait(t), which gives up after t.
var waitForEventTimeout = process.Register("mpdemo.wait_for_event_timeout", func(ctx context.Context, a timedWait) error {
	fmt.Println("waitForEventTimeout: starting")
	timeout, cancel := context.WithTimeout(ctx, a.T)
	defer cancel()
	if err := a.E.Wait(timeout); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	fmt.Println("waitForEventTimeout: e.IsSet() ->", a.E.IsSet())
	return nil
})

// demoEvent: one process waits for the event, one gives up after 2
// seconds, then the main sets it. Python sleeps 3 seconds before Set, so
// that the 2 have passed; here the main joins the process that gives up.
func demoEvent(ctx context.Context, w io.Writer) error {
	e, err := semaphore.NewEvent()
	if err != nil {
		return err
	}
	w1 := process.New(waitForEvent, e, process.Name("block"))
	if err := w1.Start(); err != nil {
		return err
	}
	w2 := process.New(waitForEventTimeout, timedWait{e, 2 * second}, process.Name("nonblock"))
	if err := w2.Start(); err != nil {
		return err
	}
	fmt.Fprintln(w, "main: waiting before calling Event.Set()")
	if err := w2.Join(ctx); err != nil {
		return err
	}
	if err := e.Set(); err != nil {
		return err
	}
	fmt.Fprintln(w, "main: event is set")
	return nil
}

// stage is what both stages get: the Condition, and the state it is about,
// "stage 1 is done" (a value without a lock of its own: the condition's
// mutex guards it).
type stage struct {
	Cond *semaphore.Cond
	Done *value.Value[bool]
}

// stage1: def stage_1(cond): print 'Starting', name; with cond: print '%s
// done and ready for stage 2' % name; cond.notify_all()
var stage1 = process.Register("mpdemo.stage_1", func(ctx context.Context, s stage) error {
	name := process.Current().Name
	fmt.Println("Starting", name)
	if err := s.Cond.Mutex().LockContext(ctx); err != nil {
		return err
	}
	defer s.Cond.Mutex().Unlock()
	fmt.Printf("%s done and ready for stage 2\n", name)
	if err := s.Done.Store(true); err != nil {
		return err
	}
	return s.Cond.Broadcast()
})

// stage2: def stage_2(cond): print 'Starting', name; with cond:
// cond.wait(); print '%s running' % name
var stage2 = process.Register("mpdemo.stage_2", func(ctx context.Context, s stage) error {
	name := process.Current().Name
	fmt.Println("Starting", name)
	if err := s.Cond.Mutex().LockContext(ctx); err != nil {
		return err
	}
	defer s.Cond.Mutex().Unlock()
	if err := s.Cond.WaitFor(ctx, s.Done.Load); err != nil {
		return err
	}
	fmt.Printf("%s running\n", name)
	return nil
})

// demoCondition: two stage_2 processes wait until s1 has done stage 1.
// Python sleeps a second after starting each of them, so that they wait
// before s1 notifies; WaitFor checks the state instead, so it does not
// matter which comes first.
func demoCondition(ctx context.Context, w io.Writer) error {
	mu, err := semaphore.NewMutex()
	if err != nil {
		return err
	}
	cond, err := semaphore.NewCond(mu)
	if err != nil {
		return err
	}
	done, err := value.NewRaw(false)
	if err != nil {
		return err
	}
	s := stage{cond, done}
	s1 := process.New(stage1, s, process.Name("s1"))
	var s2Clients []*process.Process
	for i := 1; i < 3; i++ {
		s2Clients = append(s2Clients, process.New(stage2, s, process.Name(fmt.Sprintf("stage_2[%d]", i))))
	}
	return runGroup(ctx, append(s2Clients, s1)...)
}

// active is the list of the active workers' names, as plain data: a
// shared Value holds no strings or slices, and the names are numbers.
type active struct {
	N     int32
	Names [10]int32
}

// ActivePool is PyMOTW's ActivePool: the names of the workers running now,
// under a lock (the Value's own).
type ActivePool struct {
	Active *value.Value[active]
}

// MakeActive adds name to the list.
func (p ActivePool) MakeActive(name int) error {
	return p.Active.Update(func(a *active) {
		a.Names[a.N] = int32(name)
		a.N++
	})
}

// MakeInactive removes name from the list.
func (p ActivePool) MakeInactive(name int) error {
	return p.Active.Update(func(a *active) {
		for i := range a.N {
			if a.Names[i] == int32(name) {
				copy(a.Names[i:a.N], a.Names[i+1:a.N])
				a.N--
				return
			}
		}
	})
}

// String shows the list as [0 1 2].
func (p ActivePool) String() string {
	a := p.Active.Load()
	names := make([]string, a.N)
	for i := range names {
		names[i] = strconv.Itoa(int(a.Names[i]))
	}
	return "[" + strings.Join(names, " ") + "]"
}

// semArg is the worker's arguments: (s, pool).
type semArg struct {
	S    *semaphore.Semaphore
	Pool ActivePool
}

// semWorker: def worker(s, pool): with s: pool.makeActive(name); print
// 'Now running: %s' % str(pool); time.sleep(random.random());
// pool.makeInactive(name)
var semWorker = process.Register("mpdemo.semaphore_worker", func(ctx context.Context, a semArg) error {
	name, err := strconv.Atoi(process.Current().Name)
	if err != nil {
		return err
	}
	if err := a.S.Acquire(ctx, 1); err != nil {
		return err
	}
	defer a.S.Release(1)
	if err := a.Pool.MakeActive(name); err != nil {
		return err
	}
	fmt.Println("Now running:", a.Pool)
	if err := sleep(ctx, time.Duration(rand.Float64()*float64(second))); err != nil {
		return err
	}
	return a.Pool.MakeInactive(name)
})

// demoSemaphore: ten workers named 0 to 9, at most three of them at once
// inside Semaphore(3); the main prints the list as it joins each.
func demoSemaphore(ctx context.Context, w io.Writer) error {
	list, err := value.New(active{})
	if err != nil {
		return err
	}
	pool := ActivePool{list}
	s, err := semaphore.New(3)
	if err != nil {
		return err
	}
	var jobs []*process.Process
	for i := range 10 {
		jobs = append(jobs, process.New(semWorker, semArg{s, pool}, process.Name(strconv.Itoa(i))))
	}
	if err := startAll(jobs...); err != nil {
		return err
	}
	for _, j := range jobs {
		if err := j.Join(ctx); err != nil {
			return err
		}
		fmt.Fprintln(w, "Now running:", pool)
	}
	return nil
}

// dictArg is the worker's arguments: (d, key, value).
type dictArg struct {
	D          *shmap.Map[int, int]
	Key, Value int
}

// dictWorker: def worker(d, key, value): d[key] = value
var dictWorker = process.Register("mpdemo.manager_dict_worker", func(ctx context.Context, a dictArg) error {
	return a.D.Set(a.Key, a.Value)
})

// demoManagerDict: d = mgr.dict(); ten workers each set d[i] = i*2; print
// 'Results:', d. The dict is a shmap.Map in shared memory, not a proxy to
// a manager's server process; Go prints a map's keys in order, where
// Python 2 printed these in the order of their hashes, the same here.
func demoManagerDict(ctx context.Context, w io.Writer) error {
	d, err := shmap.New[int, int]()
	if err != nil {
		return err
	}
	var jobs []*process.Process
	for i := range 10 {
		jobs = append(jobs, process.New(dictWorker, dictArg{d, i, i * 2}))
	}
	if err := runGroup(ctx, jobs...); err != nil {
		return err
	}
	results, err := d.Snapshot()
	if err != nil {
		return err
	}
	fmt.Fprintln(w, "Results:", results)
	return nil
}

// text is a string of at most 32 bytes, as plain data.
type text [32]byte

func (t text) String() string {
	s, _, _ := bytes.Cut(t[:], []byte{0})
	return string(s)
}

// Namespace is Python's manager Namespace, with the one attribute the demo
// uses: a struct in a shared Value, which every process sees.
type Namespace struct {
	Value text
}

// nsArg is (ns, event).
type nsArg struct {
	NS    *value.Value[Namespace]
	Event *semaphore.Event
}

var (
	// producer: def producer(ns, event): ns.value = 'This is the value';
	// event.set()
	producer = process.Register("mpdemo.producer", func(ctx context.Context, a nsArg) error {
		var v text
		copy(v[:], "This is the value")
		if err := a.NS.Update(func(ns *Namespace) { ns.Value = v }); err != nil {
			return err
		}
		return a.Event.Set()
	})
	// consumer: def consumer(ns, event): print 'Before event, consumer
	// got:', ns.value; event.wait(); print 'After event, consumer got:',
	// ns.value. Before the event the value may be unset: Python's
	// AttributeError, the zero value here.
	consumer = process.Register("mpdemo.consumer", func(ctx context.Context, a nsArg) error {
		fmt.Printf("Before event, consumer got: %q\n", a.NS.Load().Value)
		if err := a.Event.Wait(ctx); err != nil {
			return err
		}
		fmt.Println("After event, consumer got:", a.NS.Load().Value)
		return nil
	})
)

// demoNamespace: the producer sets the namespace's value and the event;
// the consumer, waiting on the event, then sees the value.
func demoNamespace(ctx context.Context, w io.Writer) error {
	namespace, err := value.New(Namespace{})
	if err != nil {
		return err
	}
	event, err := semaphore.NewEvent()
	if err != nil {
		return err
	}
	p := process.New(producer, nsArg{namespace, event})
	c := process.New(consumer, nsArg{namespace, event})
	return runGroup(ctx, c, p)
}

// textList is a list of at most four texts, as plain data: Python's plain
// list, as a namespace holds it.
type textList struct {
	N     int64
	Items [4]text
}

// Append adds s at the end.
func (l *textList) Append(s string) error {
	if l.N == int64(len(l.Items)) {
		return fmt.Errorf("a list of %d texts is full", len(l.Items))
	}
	if len(s) > len(l.Items[0]) {
		return fmt.Errorf("a text of %d bytes: at most %d", len(s), len(l.Items[0]))
	}
	copy(l.Items[l.N][:], s)
	l.N++
	return nil
}

// String is the list's Go form, as a []string's: [a b].
func (l textList) String() string {
	items := make([]string, l.N)
	for i := range items {
		items[i] = l.Items[i].String()
	}
	return fmt.Sprint(items)
}

// ListNamespace is a manager Namespace with a list in it: namespace.my_list
// = [].
type ListNamespace struct {
	MyList textList
}

// nsListArg is (ns, event).
type nsListArg struct {
	NS    *value.Value[ListNamespace]
	Event *semaphore.Event
}

var (
	// listProducer: def producer(ns, event):
	// ns.my_list.append('This is the value'); event.set(). ns.my_list
	// is a copy of the namespace's list, as Load is of the Value: the
	// append changes the copy only.
	listProducer = process.Register("mpdemo.producer_mutable", func(ctx context.Context, a nsListArg) error {
		ns := a.NS.Load()
		if err := ns.MyList.Append("This is the value"); err != nil { // DOES NOT UPDATE GLOBAL VALUE!
			return err
		}
		return a.Event.Set()
	})
	// listConsumer: def consumer(ns, event): print 'Before event,
	// consumer got:', ns.my_list; event.wait(); print 'After event,
	// consumer got:', ns.my_list
	listConsumer = process.Register("mpdemo.consumer_mutable", func(ctx context.Context, a nsListArg) error {
		fmt.Println("Before event, consumer got:", a.NS.Load().MyList)
		if err := a.Event.Wait(ctx); err != nil {
			return err
		}
		fmt.Println("After event, consumer got:", a.NS.Load().MyList)
		return nil
	})
)

// demoNamespaceList: PyMOTW's namespace holding a list: an append to the
// list the producer got from the namespace changes its copy, not the
// namespace's, and the consumer sees the empty list both times. The seed
// says how to propagate it: assign the list to the namespace again (here,
// Store or Update the Value). A shmap.List shared by both processes, as
// Python's mgr.list() would be, would show the append.
func demoNamespaceList(ctx context.Context, w io.Writer) error {
	namespace, err := value.New(ListNamespace{}) // namespace.my_list = []
	if err != nil {
		return err
	}
	event, err := semaphore.NewEvent()
	if err != nil {
		return err
	}
	p := process.New(listProducer, nsListArg{namespace, event})
	c := process.New(listConsumer, nsListArg{namespace, event})
	return runGroup(ctx, c, p)
}

// calculation: def do_calculation(data): return data * 2
func calculation(data int) int { return data * 2 }

var (
	doCalculation = process.RegisterFunc("mpdemo.do_calculation", func(ctx context.Context, data int) (int, error) {
		return calculation(data), nil
	})
	// startProcess: def start_process(): print 'Starting',
	// multiprocessing.current_process().name
	startProcess = process.Register("mpdemo.start_process", func(ctx context.Context, _ none) error {
		fmt.Println("Starting", process.Current().Name)
		return nil
	})
)

// demoPoolInitializer: Pool(processes=cpu_count()*2,
// initializer=start_process), map(do_calculation, inputs), close, join.
func demoPoolInitializer(ctx context.Context, w io.Writer) error {
	inputs := []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}
	fmt.Fprintln(w, "Input   :", inputs)
	var builtinOutputs []int
	for _, x := range inputs {
		builtinOutputs = append(builtinOutputs, calculation(x))
	}
	fmt.Fprintln(w, "Built-in:", builtinOutputs)

	poolSize := process.CPUCount() * 2
	pool, err := process.NewPool(poolSize, &process.PoolOptions{Initializer: process.Init(startProcess, none{})})
	if err != nil {
		return err
	}
	poolOutputs, err := process.Map(ctx, pool, doCalculation, inputs)
	if err != nil {
		pool.Terminate()
		return err
	}
	if err := pool.Close(); err != nil { // no more tasks
		return err
	}
	if err := pool.Join(ctx); err != nil { // wrap up current tasks
		return err
	}
	fmt.Fprintln(w, "Pool    :", poolOutputs)
	return nil
}

// Task is PyMOTW's Task(a, b), as plain data; Pill marks the poison pill
// (Python's None), which tells a consumer to exit.
type Task struct {
	A, B int
	Pill bool
}

// Call computes the task: __call__, which pretends to take some time.
func (t Task) Call(ctx context.Context) (string, error) {
	if err := sleep(ctx, second/10); err != nil {
		return "", err
	}
	return fmt.Sprintf("%d * %d = %d", t.A, t.B, t.A*t.B), nil
}

func (t Task) String() string { return fmt.Sprintf("%d * %d", t.A, t.B) }

// Consumer is PyMOTW's Consumer(multiprocessing.Process): it takes tasks
// until a poison pill, and puts their answers on the result queue.
type Consumer struct {
	TaskQueue   *ringbuffer.JoinableQueue[Task]
	ResultQueue *ringbuffer.Queue[string]
}

// Run is the consumer's run method.
func (c *Consumer) Run(ctx context.Context) error {
	procName := process.Current().Name
	for {
		nextTask, err := c.TaskQueue.Get(ctx)
		if err != nil {
			return err
		}
		if nextTask.Pill {
			// Poison pill means shutdown
			fmt.Printf("%s: Exiting\n", procName)
			return c.TaskQueue.TaskDone()
		}
		fmt.Printf("%s: %s\n", procName, nextTask)
		answer, err := nextTask.Call(ctx)
		if err != nil {
			return err
		}
		if err := c.TaskQueue.TaskDone(); err != nil {
			return err
		}
		if err := c.ResultQueue.Put(ctx, answer); err != nil {
			return err
		}
	}
}

var consumerType = process.RegisterRunner[*Consumer]("mpdemo.Consumer")

// demoJoinableQueue: cpu_count()*2 consumers share a JoinableQueue of ten
// tasks and a poison pill each; the main waits until every task is done
// (tasks.join()), then prints the results.
func demoJoinableQueue(ctx context.Context, w io.Writer) error {
	numJobs := 10
	numConsumers := process.CPUCount() * 2
	tasks, err := ringbuffer.NewJoinableQueue[Task](numJobs + numConsumers)
	if err != nil {
		return err
	}
	results, err := ringbuffer.NewQueue[string](numJobs)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "Creating %d consumers\n", numConsumers)
	for range numConsumers {
		if err := process.New(consumerType, &Consumer{tasks, results}).Start(); err != nil {
			return err
		}
	}
	for i := range numJobs {
		if err := tasks.Put(ctx, Task{A: i, B: i}); err != nil {
			return err
		}
	}
	for range numConsumers {
		if err := tasks.Put(ctx, Task{Pill: true}); err != nil {
			return err
		}
	}
	if err := tasks.Join(ctx); err != nil { // wait for all of the tasks to finish
		return err
	}
	for ; numJobs > 0; numJobs-- {
		result, err := results.Get(ctx)
		if err != nil {
			return err
		}
		fmt.Fprintln(w, "Result:", result)
	}
	return nil
}

// demoCPUCount: print(multiprocessing.cpu_count())
func demoCPUCount(ctx context.Context, w io.Writer) error {
	fmt.Fprintln(w, process.CPUCount())
	return nil
}

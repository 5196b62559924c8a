package main

// The demos of seed 001, "Python multiprocessing" (after the Python
// documentation of the module): a Pool, a Process, process ids, a Queue, a
// Pipe, a Lock, shared memory, a manager's dict and list, and a pool of
// workers.

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/shmkit/shmkit/array"
	"github.com/shmkit/shmkit/process"
	"github.com/shmkit/shmkit/ringbuffer"
	"github.com/shmkit/shmkit/semaphore"
	"github.com/shmkit/shmkit/shmap"
	"github.com/shmkit/shmkit/value"
)

// square: def f(x): return x*x
var square = process.RegisterFunc("mpdemo.square", func(ctx context.Context, x int) (int, error) {
	return x * x, nil
})

// demoPoolMap: with Pool(5) as p: print(p.map(f, [1, 2, 3]))
func demoPoolMap(ctx context.Context, w io.Writer) error {
	p, err := process.NewPool(5, nil)
	if err != nil {
		return err
	}
	out, err := process.Map(ctx, p, square, []int{1, 2, 3})
	if err != nil {
		p.Terminate()
		return err
	}
	fmt.Fprintln(w, out)
	if err := p.Close(); err != nil {
		return err
	}
	return p.Join(ctx)
}

// hello: def f(name): print('hello', name)
var hello = process.Register("mpdemo.hello", func(ctx context.Context, name string) error {
	fmt.Println("hello", name)
	return nil
})

// helloInfo: def f(name): info('function f'); print('hello', name)
var helloInfo = process.Register("mpdemo.hello_info", func(ctx context.Context, name string) error {
	info(os.Stdout, "function f")
	fmt.Println("hello", name)
	return nil
})

// demoHello: p = Process(target=f, args=('bob',)); p.start(); p.join()
func demoHello(ctx context.Context, w io.Writer) error {
	p := process.New(hello, "bob")
	if err := p.Start(); err != nil {
		return err
	}
	return p.Join(ctx)
}

// info is Python's info(title). Where Python prints the module's name
// (__main__ in the main process), this prints the process's.
func info(w io.Writer, title string) {
	fmt.Fprintln(w, title)
	fmt.Fprintln(w, "process name:", process.Current().Name)
	fmt.Fprintln(w, "parent process:", os.Getppid())
	fmt.Fprintln(w, "process id:", os.Getpid())
}

// demoInfo: info('main line'), then f('bob') in a child: the child's
// parent process is the main's process id.
func demoInfo(ctx context.Context, w io.Writer) error {
	info(w, "main line")
	p := process.New(helloInfo, "bob")
	if err := p.Start(); err != nil {
		return err
	}
	return p.Join(ctx)
}

// putList: def f(q): q.put([42, None, 'hello'])
var putList = process.Register("mpdemo.queue_f", func(ctx context.Context, q *ringbuffer.Queue[[]any]) error {
	return q.Put(ctx, []any{42, nil, "hello"})
})

// demoQueue: q = Queue(); Process(target=f, args=(q,)); print(q.get())
func demoQueue(ctx context.Context, w io.Writer) error {
	q, err := ringbuffer.NewQueue[[]any](4)
	if err != nil {
		return err
	}
	p := process.New(putList, q)
	if err := p.Start(); err != nil {
		return err
	}
	v, err := q.Get(ctx) // prints "[42 <nil> hello]"
	if err != nil {
		return err
	}
	fmt.Fprintln(w, v)
	return p.Join(ctx)
}

// sendList: def f(conn): conn.send([42, None, 'hello']); conn.close().
// The child only sends: its end is a OneWayPipe's Sender.
var sendList = process.Register("mpdemo.pipe_f", func(ctx context.Context, conn *ringbuffer.Sender[[]any]) error {
	if err := conn.Send(ctx, []any{42, nil, "hello"}); err != nil {
		return err
	}
	return conn.Close()
})

// demoPipe: parent_conn, child_conn = Pipe(); print(parent_conn.recv()).
// Each end is used one way only, the parent's to receive and the child's
// to send, so the pipe is a OneWayPipe (Python's Pipe(duplex=False)),
// reader first. The parent closes its copy of the child's end, so that
// once the child is gone a Recv would end with io.EOF instead of waiting.
func demoPipe(ctx context.Context, w io.Writer) error {
	parentConn, childConn, err := ringbuffer.OneWayPipe[[]any](4)
	if err != nil {
		return err
	}
	defer parentConn.Close()
	p := process.New(sendList, childConn)
	if err := p.Start(); err != nil {
		return err
	}
	if err := childConn.Close(); err != nil {
		return err
	}
	v, err := parentConn.Recv(ctx) // prints "[42 <nil> hello]"
	if err != nil {
		return err
	}
	fmt.Fprintln(w, v)
	return p.Join(ctx)
}

// lockArg is Python's args=(lock, num).
type lockArg struct {
	L   *semaphore.Mutex
	Num int
}

// lockPrint: def f(l, i): l.acquire(); try: print('hello world', i)
// finally: l.release()
var lockPrint = process.Register("mpdemo.lock_f", func(ctx context.Context, a lockArg) error {
	if err := a.L.LockContext(ctx); err != nil && !errors.Is(err, semaphore.ErrOwnerDead) {
		return err
	}
	defer a.L.Unlock()
	fmt.Println("hello world", a.Num)
	return nil
})

// demoLock: for num in range(10): Process(target=f, args=(lock, num)).start()
func demoLock(ctx context.Context, w io.Writer) error {
	lock, err := semaphore.NewMutex()
	if err != nil {
		return err
	}
	for num := range 10 {
		if err := process.New(lockPrint, lockArg{lock, num}).Start(); err != nil {
			return err
		}
	}
	return nil
}

// shared is f's argument: Python's args=(num, arr). Both travel as
// handles to the same shared memory.
type shared struct {
	Num *value.Value[float64]
	Arr *array.Array[int32]
}

// negate: def f(n, a): n.value = 3.1415927; for i in range(len(a)): a[i] = -a[i]
var negate = process.Register("mpdemo.value_array_f", func(ctx context.Context, a shared) error {
	if err := a.Num.Store(3.1415927); err != nil {
		return err
	}
	return a.Arr.Update(func(s []int32) {
		for i := range s {
			s[i] = -s[i]
		}
	})
})

// demoValueArray: num = Value('d', 0.0); arr = Array('i', range(10)); the
// child's writes are the main's.
func demoValueArray(ctx context.Context, w io.Writer) error {
	num, err := value.New(0.0)
	if err != nil {
		return err
	}
	arr, err := array.From([]int32{0, 1, 2, 3, 4, 5, 6, 7, 8, 9})
	if err != nil {
		return err
	}
	p := process.New(negate, shared{num, arr})
	if err := p.Start(); err != nil {
		return err
	}
	if err := p.Join(ctx); err != nil {
		return err
	}
	s, err := arr.Copy()
	if err != nil {
		return err
	}
	fmt.Fprintln(w, num.Load())
	fmt.Fprintln(w, s)
	return nil
}

// dictString is the Go form of a dict: map[k:v ...], its keys in
// compareKeys' order (fmt's order for keys of type any is that of their
// types in memory, which changes with the build).
func dictString(d map[any]any) string {
	keys := slices.SortedFunc(maps.Keys(d), compareKeys)
	items := make([]string, len(keys))
	for i, k := range keys {
		items[i] = fmt.Sprintf("%v:%v", k, d[k])
	}
	return "map[" + strings.Join(items, " ") + "]"
}

// compareKeys orders None (nil) first, then the numbers by their value,
// then the strs, then any other key by its Go form; keys that tie (1 and
// 1.0, two keys here) by their type's name.
func compareKeys(a, b any) int {
	ra, na, sa := sortKey(a)
	rb, nb, sb := sortKey(b)
	return cmp.Or(cmp.Compare(ra, rb), cmp.Compare(na, nb), strings.Compare(sa, sb),
		strings.Compare(fmt.Sprintf("%T", a), fmt.Sprintf("%T", b)))
}

// sortKey is x's rank (0 nil, 1 number, 2 string, 3 other), its value as
// a number and its text.
func sortKey(x any) (rank int, num float64, text string) {
	v := reflect.ValueOf(x)
	switch {
	case x == nil:
		return 0, 0, ""
	case v.CanInt():
		return 1, float64(v.Int()), ""
	case v.CanUint():
		return 1, float64(v.Uint()), ""
	case v.CanFloat():
		return 1, v.Float(), ""
	case v.Kind() == reflect.String:
		return 2, 0, v.String()
	}
	return 3, 0, fmt.Sprint(x)
}

// reverse is Python's l.reverse(), element by element: each At and Set is
// atomic, the whole is not (Python's proxy reverses in one call to the
// manager), which is as good here, where no other process uses the list.
func reverse[T any](l *shmap.List[T]) error {
	n := l.Len()
	for i, j := 0, n-1; i < j; i, j = i+1, j-1 {
		a, err := l.At(i)
		if err != nil {
			return err
		}
		b, err := l.At(j)
		if err != nil {
			return err
		}
		if err := l.Set(i, b); err != nil {
			return err
		}
		if err := l.Set(j, a); err != nil {
			return err
		}
	}
	return nil
}

// managed is f's argument: Python's args=(d, l), a dict and a list in
// shared memory where Python's are proxies to a manager's server process.
type managed struct {
	D *shmap.Map[any, any]
	L *shmap.List[int]
}

// fillReverse: def f(d, l): d[1] = '1'; d['2'] = 2; d[0.25] = None;
// l.reverse()
var fillReverse = process.Register("mpdemo.manager_f", func(ctx context.Context, a managed) error {
	if err := a.D.Set(1, "1"); err != nil {
		return err
	}
	if err := a.D.Set("2", 2); err != nil {
		return err
	}
	if err := a.D.Set(0.25, nil); err != nil {
		return err
	}
	return reverse(a.L)
})

// demoManager: "Server process": with Manager() as manager: d =
// manager.dict(); l = manager.list(range(10)); a child fills d and
// reverses l; print(d); print(l). The dict is a shmap.Map[any, any]: its
// keys and values are encoded (gob), so they mix int, str, float and None
// as Python's do. Python 3 prints the dict in the order of insertion,
// {1: '1', '2': 2, 0.25: None}; the seed, in Python 2's order,
// {0.25: None, 1: '1', '2': 2}, which is the order here (dictString).
// Leaving the with-block shuts the manager down; here Free gives the
// memory back.
func demoManager(ctx context.Context, w io.Writer) error {
	d, err := shmap.New[any, any]()
	if err != nil {
		return err
	}
	defer d.Free()
	l, err := shmap.NewList[int]()
	if err != nil {
		return err
	}
	defer l.Free()
	for i := range 10 {
		if err := l.Append(i); err != nil {
			return err
		}
	}
	p := process.New(fillReverse, managed{d, l})
	if err := p.Start(); err != nil {
		return err
	}
	if err := p.Join(ctx); err != nil {
		return err
	}
	dict, err := d.Snapshot()
	if err != nil {
		return err
	}
	list, err := l.Snapshot()
	if err != nil {
		return err
	}
	fmt.Fprintln(w, dictString(dict)) // prints "map[0.25:<nil> 1:1 2:2]"
	fmt.Fprintln(w, list)             // prints "[9 8 7 6 5 4 3 2 1 0]"
	return nil
}

var (
	// getpid: os.getpid, as a pool task.
	getpid = process.RegisterFunc("mpdemo.getpid", func(ctx context.Context, _ none) (int, error) {
		return os.Getpid(), nil
	})
	// sleepTask: time.sleep, as a pool task.
	sleepTask = process.RegisterFunc("mpdemo.sleep", func(ctx context.Context, d time.Duration) (none, error) {
		return none{}, sleep(ctx, d)
	})
)

// patience is how long the demos wait for a result that comes: Python's
// get(timeout=1), made long enough that a loaded machine does not fail it.
const patience = 30 * time.Second

// get is Python's res.get(timeout=...).
func get[R any](ctx context.Context, res *process.AsyncResult[R], timeout time.Duration) (R, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	return res.Get(ctx)
}

// demoPool: "Using a pool of workers". Leaving Python's with-block
// terminates the pool; here Terminate and Join do.
func demoPool(ctx context.Context, w io.Writer) error {
	pool, err := process.NewPool(4, nil) // start 4 worker processes
	if err != nil {
		return err
	}
	err = usePool(ctx, w, pool) // the with-block
	pool.Terminate()
	if jerr := pool.Join(ctx); err == nil {
		err = jerr
	}
	if err != nil {
		return err
	}
	fmt.Fprintln(w, "Now the pool is closed and no longer available")
	return nil
}

// usePool is the body of demoPool's with-block.
func usePool(ctx context.Context, w io.Writer, pool *process.Pool) error {
	xs := []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}

	// print "[0 1 4 ... 81]"
	out, err := process.Map(ctx, pool, square, xs)
	if err != nil {
		return err
	}
	fmt.Fprintln(w, out)

	// print the same numbers in arbitrary order
	for v, err := range process.ImapUnordered(ctx, pool, square, slices.Values(xs)) {
		if err != nil {
			return err
		}
		fmt.Fprintln(w, v)
	}

	// evaluate "f(20)" asynchronously
	res := process.ApplyAsync(pool, square, 20) // runs in *only* one process
	v, err := get(ctx, res, patience)           // prints "400"
	if err != nil {
		return err
	}
	fmt.Fprintln(w, v)

	// evaluate "os.getpid()" asynchronously
	pidRes := process.ApplyAsync(pool, getpid, none{}) // runs in *only* one process
	pid, err := get(ctx, pidRes, patience)             // prints the pid of that process
	if err != nil {
		return err
	}
	fmt.Fprintln(w, pid)

	// launching several evaluations asynchronously *may* use more processes
	var multiple []*process.AsyncResult[int]
	for range 4 {
		multiple = append(multiple, process.ApplyAsync(pool, getpid, none{}))
	}
	var pids []int
	for _, res := range multiple {
		pid, err := get(ctx, res, patience)
		if err != nil {
			return err
		}
		pids = append(pids, pid)
	}
	fmt.Fprintln(w, pids)

	// make a single worker sleep for 10 seconds (Terminate cuts it short)
	sleepRes := process.ApplyAsync(pool, sleepTask, 10*time.Second)
	_, err = get(ctx, sleepRes, second)
	if !errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("a task of 10 s, within %v: %v, want the deadline", second, err)
	}
	fmt.Fprintln(w, "We lacked patience and got a context.DeadlineExceeded")

	fmt.Fprintln(w, "For the moment, the pool remains available for more work")
	return nil
}

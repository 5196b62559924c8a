package main

// The demos of seed 001, "Python multiprocessing" (after the Python
// documentation of the module): a Pool, a Process, process ids, a Queue, a
// Pipe, a Lock, shared memory, and a pool of workers.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"time"

	"github.com/shmkit/shmkit/array"
	"github.com/shmkit/shmkit/process"
	"github.com/shmkit/shmkit/ringbuffer"
	"github.com/shmkit/shmkit/semaphore"
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

// sendList: def f(conn): conn.send([42, None, 'hello']); conn.close()
var sendList = process.Register("mpdemo.pipe_f", func(ctx context.Context, conn *ringbuffer.Conn[[]any]) error {
	if err := conn.Send(ctx, []any{42, nil, "hello"}); err != nil {
		return err
	}
	return conn.Close()
})

// demoPipe: parent_conn, child_conn = Pipe(); print(parent_conn.recv())
func demoPipe(ctx context.Context, w io.Writer) error {
	parentConn, childConn, err := ringbuffer.Pipe[[]any](4)
	if err != nil {
		return err
	}
	p := process.New(sendList, childConn)
	if err := p.Start(); err != nil {
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

package main

// The demos of seed 003, "简单多进程切换、进程传参、异步进程、守护进程":
// plans A and B in two processes, with arguments, with their process ids,
// a main that waits for its child, and a daemon that does not outlive the
// main.

import (
	"context"
	"fmt"
	"io"

	"github.com/shmkit/shmkit/process"
)

// planLines prints line num times, a second apart: the body of Python's
// A and B.
func planLines(ctx context.Context, num int, line string) error {
	for range num {
		fmt.Println(line)
		if err := sleep(ctx, second); err != nil {
			return err
		}
	}
	return nil
}

var (
	// planA: def A(): for i in range(3): print("A 计划……"); time.sleep(1)
	planA = process.Register("mpdemo.plan_a", func(ctx context.Context, _ none) error {
		return planLines(ctx, 3, "A 计划……")
	})
	// planB: the same for B.
	planB = process.Register("mpdemo.plan_b", func(ctx context.Context, _ none) error {
		return planLines(ctx, 3, "B 计划……")
	})
)

// demoPlans: funA = Process(target=A); funB = Process(target=B); both
// started, and joined as the program ends.
func demoPlans(ctx context.Context, w io.Writer) error {
	funA := process.New(planA, none{})
	funB := process.New(planB, none{})
	return startAll(funA, funB)
}

// plan is the arguments of A(num, name) and B(num, name): a struct is a Go
// function's tuple of arguments, and its keyed literal is Python's kwargs.
type plan struct {
	Num  int
	Name string
}

var (
	// planArgsA: def A(num, name): for i in range(num):
	// print("{}执行 A 计划……".format(name)); time.sleep(1)
	planArgsA = process.Register("mpdemo.plan_args_a", func(ctx context.Context, a plan) error {
		return planLines(ctx, a.Num, a.Name+"执行 A 计划……")
	})
	// planArgsB: the same for B.
	planArgsB = process.Register("mpdemo.plan_args_b", func(ctx context.Context, a plan) error {
		return planLines(ctx, a.Num, a.Name+"执行 B 计划……")
	})
)

// demoPlansArgs: Process(target=A, args=(3, "福尔摩斯")) and
// Process(target=B, kwargs={"num": 3, "name": "诸葛亮"}).
func demoPlansArgs(ctx context.Context, w io.Writer) error {
	funA := process.New(planArgsA, plan{3, "福尔摩斯"})
	funB := process.New(planArgsB, plan{Num: 3, Name: "诸葛亮"})
	return startAll(funA, funB)
}

// printIDs: print("当前子进程的id: {}".format(os.getpid())) and the same
// for os.getppid().
func printIDs() {
	me := process.Current()
	fmt.Printf("当前子进程的id: %d\n", me.Pid)
	fmt.Printf("当前子进程的父进程id: %d\n", me.PPid)
}

var (
	// planIDsA: A(num, name), printing its ids first.
	planIDsA = process.Register("mpdemo.plan_ids_a", func(ctx context.Context, a plan) error {
		printIDs()
		return planLines(ctx, a.Num, a.Name+"执行 A 计划……")
	})
	// planIDsB: B(num, name), printing its ids first.
	planIDsB = process.Register("mpdemo.plan_ids_b", func(ctx context.Context, a plan) error {
		printIDs()
		return planLines(ctx, a.Num, a.Name+"执行 B 计划……")
	})
)

// demoGetpid: the two children print their ids: different pids, the same
// parent.
func demoGetpid(ctx context.Context, w io.Writer) error {
	funA := process.New(planIDsA, plan{3, "福尔摩斯"})
	funB := process.New(planIDsB, plan{Num: 3, Name: "诸葛亮"})
	return startAll(funA, funB)
}

// planB10: def B(name): for i in range(10): print("{}执行B 计划……".format(name))
var planB10 = process.Register("mpdemo.plan_b10", func(ctx context.Context, name string) error {
	for range 10 {
		fmt.Println(name + "执行B 计划……")
	}
	return nil
})

// demoWaitChildren: the main prints "A 计划完毕……" at once, and the
// program ends only after its child has printed its ten lines.
func demoWaitChildren(ctx context.Context, w io.Writer) error {
	funB := process.New(planB10, "诸葛亮")
	if err := funB.Start(); err != nil {
		return err
	}
	fmt.Fprintln(w, "A 计划完毕……")
	return nil
}

// planBDaemon: def B(name): for i in range(10):
// print("{}执行B 计划……".format(name)); time.sleep(0.5)
var planBDaemon = process.Register("mpdemo.plan_b_daemon", func(ctx context.Context, name string) error {
	for range 10 {
		fmt.Println(name + "执行B 计划……")
		if err := sleep(ctx, second/2); err != nil {
			return err
		}
	}
	return nil
})

// demoDaemonSleep: funB.daemon = True; funB.start(); time.sleep(3). The
// daemon dies when the main ends, after about six of its ten lines.
func demoDaemonSleep(ctx context.Context, w io.Writer) error {
	funB := process.New(planBDaemon, "诸葛亮", process.Daemon(true))
	if err := funB.Start(); err != nil {
		return err
	}
	return sleep(ctx, 3*second)
}

//go:build linux && (amd64 || arm64)

package process

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/shmkit/shmkit/value"
)

type smokeArg struct {
	N   int
	Out *value.Value[int64]
}

var smokeTarget = Register("smoke-square", func(ctx context.Context, a smokeArg) error {
	if a.N < 0 {
		return errors.New("negative")
	}
	return a.Out.Store(int64(a.N * a.N))
})

var smokeSleep = Register("smoke-sleep", func(ctx context.Context, _ int) error {
	<-ctx.Done()
	return nil
})

func TestSmokeProcess(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := value.New[int64](0)
	if err != nil {
		t.Fatal(err)
	}
	p := New(smokeTarget, smokeArg{N: 7, Out: out}, Name("worker 1"))
	if p.String() != "Process(worker 1, initial)" {
		t.Fatal(p)
	}
	if err := p.Start(); err != nil {
		t.Fatal(err)
	}
	if err := p.Join(ctx); err != nil {
		t.Fatal(err)
	}
	if c, ok := p.ExitCode(); c != 0 || !ok || out.Load() != 49 || p.String() != "Process(worker 1, stopped)" {
		t.Fatal(c, ok, out.Load(), p)
	}
	q := New(smokeTarget, smokeArg{N: -1, Out: out})
	q.Start()
	q.Join(ctx)
	if c, _ := q.ExitCode(); c != 1 {
		t.Fatal(c, q)
	}
	s := New(smokeSleep, 0)
	s.Start()
	time.Sleep(100 * time.Millisecond)
	s.Terminate()
	s.Join(ctx)
	if c, _ := s.ExitCode(); c != -15 || s.String() != "Process("+s.Name()+", stopped[SIGTERM])" {
		t.Fatal(c, s)
	}
}

// A child whose program did not call Main runs the parent's main again:
// Start must refuse there instead of starting children without end.
func TestStartWithoutMain(t *testing.T) {
	t.Setenv(envFunc, "smoke-square")
	p := New(smokeTarget, smokeArg{N: 1})
	if err := p.Start(); !errors.Is(err, ErrNoMain) {
		t.Fatalf("Start in a child without Main: %v, want ErrNoMain", err)
	}
}

type withFunc struct {
	N  int
	Fn func()
}

type nested struct {
	Inner []map[string]*withFunc
}

var (
	smokeFunc   = Register("smoke-func", func(ctx context.Context, _ withFunc) error { return nil })
	smokeNested = Register("smoke-nested", func(ctx context.Context, _ nested) error { return nil })
)

// Funcs and channels anywhere in the argument fail at Start, before any
// child runs, rather than arriving as nil.
func TestStartRejectsFuncFields(t *testing.T) {
	for _, p := range []*Process{New(smokeFunc, withFunc{N: 1}), New(smokeNested, nested{})} {
		err := p.Start()
		if err == nil || !strings.Contains(err.Error(), "do not cross processes") || p.Pid() != 0 {
			t.Errorf("%s: Start = %v (pid %d), want a refusal", p, err, p.Pid())
		}
	}
}

// Worker is a Runner: a type whose values run as processes (Python's
// Process subclass overriding run).
type Worker struct {
	N   int64
	Out *value.Value[int64]
}

func (w *Worker) Run(ctx context.Context) error { return w.Out.Store(w.N * 10) }

var workerType = RegisterRunner[*Worker]("smoke-worker")

func TestRunner(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := value.New[int64](0)
	if err != nil {
		t.Fatal(err)
	}
	p := New(workerType, &Worker{N: 4, Out: out})
	if !strings.HasPrefix(p.Name(), "Worker-") {
		t.Fatalf("a Worker process is named %q, want Worker-N", p.Name())
	}
	if err := p.Start(); err != nil {
		t.Fatal(err)
	}
	if err := p.Join(ctx); err != nil {
		t.Fatal(err)
	}
	if c, _ := p.ExitCode(); c != 0 || out.Load() != 40 {
		t.Fatalf("%s: exit code %d, stored %d", p, c, out.Load())
	}
}

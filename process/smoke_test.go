//go:build linux && (amd64 || arm64)

package process

import (
	"context"
	"errors"
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

//go:build linux && (amd64 || arm64)

package process

import (
	"context"
	"errors"
	"slices"
	"strings"
	"syscall"
	"testing"
)

var (
	square = RegisterFunc("square", func(ctx context.Context, x int) (int, error) { return x * x, nil })
	shout  = RegisterFunc("shout", func(ctx context.Context, s string) (string, error) {
		switch s {
		case "bad":
			return "", errors.New("bad input")
		case "panic":
			panic("boom")
		}
		return strings.ToUpper(s), nil
	})
)

func TestSmokePool(t *testing.T) {
	for _, local := range []bool{false, true} {
		ctx := guard(t)
		p, err := NewPool(2, &PoolOptions{InProcess: local})
		if err != nil {
			t.Fatal(err)
		}
		out, err := Map(ctx, p, square, []int{1, 2, 3})
		if err != nil || !slices.Equal(out, []int{1, 4, 9}) {
			t.Fatalf("Map: %v %v", out, err)
		}
		xs := make([]int, 100000)
		for i := range xs {
			xs[i] = i
		}
		out, err = Map(ctx, p, square, xs)
		if err != nil {
			t.Fatal(err)
		}
		for i, v := range out {
			if v != i*i {
				t.Fatalf("item %d: %d", i, v)
			}
		}
		var got []string
		var errs []string
		for v, err := range Imap(ctx, p, shout, slices.Values([]string{"a", "bad", "b", "panic", "c"})) {
			if err != nil {
				errs = append(errs, err.Error())
				continue
			}
			got = append(got, v)
		}
		t.Logf("local=%v got %v errs %q", local, got, errs)
		if !slices.Equal(got, []string{"A", "B", "C"}) || len(errs) != 2 {
			t.Fatalf("Imap: %v %v", got, errs)
		}
		n := 0
		for v, err := range ImapUnordered(ctx, p, square, slices.Values(xs[:1000])) {
			if err != nil {
				t.Fatal(err)
			}
			n += v
		}
		v, err := Apply(ctx, p, square, 7)
		if v != 49 || err != nil {
			t.Fatal(v, err)
		}
		r := ApplyAsync(p, shout, "bad")
		_, err = r.Get(ctx)
		var te *TaskError
		if !errors.As(err, &te) || te.Message != "bad input" {
			t.Fatalf("ApplyAsync: %v", err)
		}
		if !local {
			pids := p.Pids()
			syscallKill(t, pids[0])
			out, err = Map(ctx, p, square, xs[:10])
			t.Log(out, err, p.Pids())
		}
		if err := p.Join(ctx); !errors.Is(err, ErrPoolRunning) {
			t.Fatal(err)
		}
		p.Close()
		if _, err := Apply(ctx, p, square, 1); !errors.Is(err, ErrPoolClosed) {
			t.Fatal(err)
		}
		if err := p.Join(ctx); err != nil {
			t.Fatal(err)
		}
	}
}

func syscallKill(t *testing.T, pid int) {
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
}

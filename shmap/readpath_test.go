//go:build linux && (amd64 || arm64)

package shmap

// Get of plain keys and values reads without the lock, as a seqlock
// reader. These tests read while a writer changes the map as fast as it
// can: overwrites of a value of four words (which a torn reading would
// show as unequal words), inserts that make the table grow, and deletes.
// The writer is another process, or a goroutine (under -race, the
// detector sees the reader's and the writer's accesses).

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/shmkit/shmkit/process"
)

type readArg struct {
	M      *Map[int64, [4]int64]
	Rounds int
}

const (
	readHot   = 0  // the key the writer overwrites
	readFixed = -1 // a key set once, before the writer starts
	readStop  = -2 // set by the reader when it is done
)

// readWriter overwrites readHot, sets keys 1 to 20000 in turn (the table
// grows, then rehashes at its size as tombstones fill it) and deletes
// every third, until readStop appears or it made rounds rounds.
func readWriter(m *Map[int64, [4]int64], rounds int) error {
	for i := int64(1); i <= int64(rounds); i++ {
		if err := m.Set(readHot, [4]int64{i, i, i, i}); err != nil {
			return err
		}
		k := 1 + i%20000
		if err := m.Set(k, [4]int64{k, -k, k, -k}); err != nil {
			return err
		}
		if i%3 == 0 {
			if _, err := m.Delete(1 + (i/3)%20000); err != nil {
				return err
			}
		}
		if i%1024 == 0 {
			if _, stop, err := m.Get(readStop); err != nil || stop {
				return err
			}
		}
	}
	return nil
}

var readChild = process.Register("shmap-read-writer", func(ctx context.Context, a readArg) error {
	return readWriter(a.M, a.Rounds)
})

// readCheck reads readHot and readFixed n times: never a torn value, the
// hot value never going back, the fixed key always there.
func readCheck(m *Map[int64, [4]int64], n int) error {
	last := int64(0)
	for range n {
		v, ok, err := m.Get(readHot)
		if err != nil {
			return err
		}
		if ok && (v[0] != v[1] || v[1] != v[2] || v[2] != v[3] || v[0] < last) {
			return fmt.Errorf("Get read %v after %d", v, last)
		}
		last = v[0]
		f, ok, err := m.Get(readFixed)
		if err != nil || !ok || f != [4]int64{7, 7, 7, 7} {
			return fmt.Errorf("the fixed key: %v, %v, %v", f, ok, err)
		}
	}
	return nil
}

func TestGetWhileWriting(t *testing.T) {
	reads := 300000
	if testing.Short() || raceEnabled {
		reads = 30000
	}
	for _, by := range []string{"process", "goroutine"} {
		t.Run(by, func(t *testing.T) {
			m, err := New[int64, [4]int64]()
			if err != nil {
				t.Fatal(err)
			}
			defer m.Free()
			if err := m.Set(readFixed, [4]int64{7, 7, 7, 7}); err != nil {
				t.Fatal(err)
			}
			var wait func() error
			if by == "process" {
				p := process.New(readChild, readArg{M: m, Rounds: 1 << 30})
				if err := p.Start(); err != nil {
					t.Fatal(err)
				}
				wait = func() error {
					ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
					defer cancel()
					if err := p.Join(ctx); err != nil {
						return err
					}
					if code, _ := p.ExitCode(); code != 0 {
						return fmt.Errorf("the writer exited with %d", code)
					}
					return nil
				}
			} else {
				done := make(chan error, 1)
				go func() { done <- readWriter(m, 1<<30) }()
				wait = func() error { return <-done }
			}
			var wg sync.WaitGroup
			errs := make([]error, 2)
			for r := range errs {
				wg.Go(func() { errs[r] = readCheck(m, reads) })
			}
			wg.Wait()
			stopErr := m.Set(readStop, [4]int64{})
			if err := errors.Join(append(errs, stopErr, wait())...); err != nil {
				t.Fatal(err)
			}
			hot, _, _ := m.Get(readHot)
			t.Logf("%d reads by each of 2 readers while the writer made %d rounds (%s)", reads, hot[0], partsInfo(m))
		})
	}
}

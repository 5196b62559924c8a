//go:build linux && (amd64 || arm64)

package process

import (
	"errors"
	"testing"

	"github.com/shmkit/shmkit/shm"
)

// TestPoolNewInvalid: a negative size or a negative option is
// ErrInvalid (shm's sentinel), and no pool is made; 0 keeps its meaning
// (CPUCount workers, no task limit, the default chunk and queue size).
func TestPoolNewInvalid(t *testing.T) {
	for _, local := range []bool{false, true} {
		for _, c := range []struct {
			n    int
			opts PoolOptions
		}{
			{-1, PoolOptions{}},
			{1, PoolOptions{MaxTasksPerChild: -1}},
			{1, PoolOptions{ChunkSize: -2}},
			{1, PoolOptions{QueueBytes: -1}},
		} {
			c.opts.InProcess = local
			p, err := NewPool(c.n, &c.opts)
			if !errors.Is(err, ErrInvalid) || !errors.Is(err, shm.ErrInvalid) {
				t.Errorf("NewPool(%d, %+v): %v, want ErrInvalid", c.n, c.opts, err)
			}
			if p != nil {
				t.Errorf("NewPool(%d, %+v) made a pool", c.n, c.opts)
				p.Terminate()
				p.Join(guard(t))
			}
		}
	}
	ptModes(t, func(t *testing.T, local bool) {
		p, tr := ptPool(t, 0, PoolOptions{InProcess: local, MaxTasksPerChild: 0})
		if p.Size() != CPUCount() {
			t.Errorf("NewPool(0): Size %d, want CPUCount %d", p.Size(), CPUCount())
		}
		if got, err := Map(guard(t), p, ptSquare, ptRange(50)); err != nil || len(got) != 50 || got[49] != 49*49 {
			t.Errorf("Map in a pool of size 0: %v, %v", got, err)
		}
		ptJoin(t, tr)
	})
}

//go:build !linux

package park

import (
	"context"
	"time"

	"github.com/shmkit/shmkit/internal/sys"
)

func wait(ctx context.Context, addr *uint32, val uint32, timeout time.Duration) error {
	return sys.ErrNotSupported
}

func snapshot() Stats { return Stats{} }

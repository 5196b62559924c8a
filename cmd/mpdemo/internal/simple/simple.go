// Package simple holds a process target declared outside the program's
// main package, as Python's simple.py holds the worker that
// Process(target=simple.worker) imports: a child finds a function by the
// name it was registered under, whichever package registered it.
package simple

import (
	"context"
	"fmt"

	"github.com/shmkit/shmkit/process"
)

// Worker prints "Worker": def worker(): print 'Worker'.
var Worker = process.Register("simple.worker", func(ctx context.Context, _ struct{}) error {
	fmt.Println("Worker")
	return nil
})

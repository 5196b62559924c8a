package main

// Beyond Python: what its multiprocessing module has no counterpart for.

import (
	"context"
	"fmt"
	"io"

	"github.com/shmkit/shmkit/process"
	"github.com/shmkit/shmkit/ringbuffer"
)

// reading is a plain struct: a Ring holds it in its slots as it is.
type reading struct {
	Seq     uint32
	Sensor  uint32
	Celsius float64
}

// fillLoans: the child writes three readings straight into the ring's
// slots, each a loan that Commit publishes: no copy of the message.
var fillLoans = process.Register("mpdemo.loans_f", func(ctx context.Context, r *ringbuffer.Ring[reading]) error {
	defer r.Close()
	for i := range 3 {
		l, err := r.Loan(ctx) // the next slot, in shared memory
		if err != nil {
			return err
		}
		v := l.Value()
		v.Seq, v.Sensor, v.Celsius = uint32(i+1), 7, 20.5+float64(i)
		if err := l.Commit(); err != nil {
			return err
		}
	}
	return nil
})

// demoLoans: a child fills loaned slots of a Ring of a struct; the parent
// borrows each message where it lies, prints it and releases it.
func demoLoans(ctx context.Context, w io.Writer) error {
	r, err := ringbuffer.NewSPSCRing[reading](4)
	if err != nil {
		return err
	}
	defer r.Free()
	p := process.New(fillLoans, r)
	if err := p.Start(); err != nil {
		return err
	}
	for range 3 {
		b, err := r.Borrow(ctx) // the oldest message, in place
		if err != nil {
			return err
		}
		v := b.Value()
		fmt.Fprintf(w, "reading %d from sensor %d: %.1f C\n", v.Seq, v.Sensor, v.Celsius)
		if err := b.Release(); err != nil { // its slot may be reused now
			return err
		}
	}
	return p.Join(ctx)
}

// Package rawq gives package process byte-level access to the messages of
// a ringbuffer.Queue of encoded values, for its pool: a message is written
// straight into the queue's cells from the caller's buffers, and read
// where it lies in them, with no copy in between. Package ringbuffer fills
// in Of when it is initialised; nothing here is public API.
package rawq

import "context"

// Of gives the byte-level access to q, a *ringbuffer.Queue[T] of encoded
// T (not plain). Set by package ringbuffer.
var Of func(q any) (Queue, error)

// Queue is the byte-level access to one handle of a queue. A message's
// bytes are those its Codec writes and reads, so that a message put one
// way may be taken the other. Errors are those of the Queue's calls of
// the same names.
type Queue interface {
	// TryPut adds the message head followed by body, copied straight
	// into the queue, if there is room now.
	TryPut(head, body []byte) error
	// Put is TryPut waiting for room until ctx ends.
	Put(ctx context.Context, head, body []byte) error
	// TryGet takes the oldest message, calling r.Read on its bytes
	// where they lie in the queue (a copy only when the message wraps
	// around the ring's end) before the message leaves the queue: a
	// consumer that dies during Read leaves the message in the queue.
	// Read's error is TryGet's, the message taken all the same. The
	// bytes are valid only during Read.
	//
	// With other consumers at once, another may take the message during
	// Read, and producers write over its bytes: TryGet then goes on to
	// the next message and calls Read again, and only the last call's
	// work counts. A queue with one consumer at a time (the pool's) calls
	// Read once per message.
	TryGet(r Reader) error
	// Get is TryGet waiting for a message until ctx ends.
	Get(ctx context.Context, r Reader) error
	// Ready reports whether a Get would not wait now: the oldest message
	// is written, or the queue is shut down or this handle closed. It
	// is a few loads, for polling.
	Ready() bool
}

// Reader reads a message in place (see Queue.TryGet).
type Reader interface {
	// Read reads message b, which is valid only during the call.
	Read(b []byte) error
}

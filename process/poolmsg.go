package process

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// The messages between a pool and its workers. Each worker has two
// queues of its own: tasks from the pool, results back. Every integer is
// little-endian; every message starts with its kind and an item count.
//
// A task (kind 1) asks for the items off..off+count of the piece id:
//
//	0  u32 kind          4  u32 count
//	8  u64 id            16 u32 off
//	20 u32 name length   24 name, padded to 8 bytes
//	then the arguments: count values (codec)
//
// A result (kind 2) answers count items from off; a ready (kind 3) says
// the worker's initializer returned; an init failure (kind 4) carries the
// initializer's error as its one item error:
//
//	0  u32 kind          4  u32 count
//	8  u64 id            16 u32 off
//	20 u32 errors        24 each error: u32 index (from off), u32 flags
//	                        (1: a panic), u32 message length, u32 stack
//	                        length, message, stack
//	padded to 8 bytes, then the results: count values (codec), or
//	nothing when every item failed
const (
	msgTask       = 1
	msgResult     = 2
	msgReady      = 3
	msgInitFailed = 4

	msgHeader = 24
	maxItems  = 1 << 28
	maxName   = 1 << 10
)

// errBadMessage: a message that no shmkit worker or pool writes.
var errBadMessage = errors.New("process: malformed pool message")

type itemErr struct {
	index int
	panic bool
	msg   string
	stack string
}

type taskMsg struct {
	id         uint64
	off, count int
	fn         string
	payload    []byte
}

type resultMsg struct {
	kind       uint32
	id         uint64
	off, count int
	errs       []itemErr
	payload    []byte
}

var le = binary.LittleEndian

func pad8(b []byte) []byte {
	for len(b)%8 != 0 {
		b = append(b, 0)
	}
	return b
}

// appendTask appends a task's header; the caller appends the arguments.
func appendTask(b []byte, id uint64, off, count int, fn string) []byte {
	b = le.AppendUint32(b, msgTask)
	b = le.AppendUint32(b, uint32(count))
	b = le.AppendUint64(b, id)
	b = le.AppendUint32(b, uint32(off))
	b = le.AppendUint32(b, uint32(len(fn)))
	return pad8(append(b, fn...))
}

func parseTask(b []byte) (taskMsg, error) {
	t, name, err := parseTaskName(b)
	t.fn = string(name)
	return t, err
}

// parseTaskName is parseTask leaving t.fn empty: the name is returned as
// the message's bytes, which a worker compares with the name it has
// looked up already, rather than allocating a string per task.
func parseTaskName(b []byte) (t taskMsg, name []byte, err error) {
	if len(b) < msgHeader || le.Uint32(b) != msgTask {
		return taskMsg{}, nil, fmt.Errorf("%w: not a task", errBadMessage)
	}
	t = taskMsg{count: int(le.Uint32(b[4:])), id: le.Uint64(b[8:]), off: int(le.Uint32(b[16:]))}
	n := int(le.Uint32(b[20:]))
	if t.count == 0 || t.count > maxItems || t.off > maxItems || n == 0 || n > maxName {
		return taskMsg{}, nil, fmt.Errorf("%w: task of %d items from %d, name of %d bytes", errBadMessage, t.count, t.off, n)
	}
	end := msgHeader + (n+7)&^7
	if end > len(b) {
		return taskMsg{}, nil, fmt.Errorf("%w: task name past its end", errBadMessage)
	}
	t.payload = b[end:]
	return t, b[msgHeader : msgHeader+n], nil
}

// appendResult appends a result's header and errors; unless every item
// failed, the caller appends the results.
func appendResult(b []byte, kind uint32, id uint64, off, count int, errs []itemErr) []byte {
	b = le.AppendUint32(b, kind)
	b = le.AppendUint32(b, uint32(count))
	b = le.AppendUint64(b, id)
	b = le.AppendUint32(b, uint32(off))
	b = le.AppendUint32(b, uint32(len(errs)))
	for _, e := range errs {
		flags := uint32(0)
		if e.panic {
			flags = 1
		}
		b = le.AppendUint32(b, uint32(e.index))
		b = le.AppendUint32(b, flags)
		b = le.AppendUint32(b, uint32(len(e.msg)))
		b = le.AppendUint32(b, uint32(len(e.stack)))
		b = append(append(b, e.msg...), e.stack...)
	}
	return pad8(b)
}

func parseResult(b []byte) (resultMsg, error) {
	if len(b) < msgHeader {
		return resultMsg{}, fmt.Errorf("%w: %d bytes", errBadMessage, len(b))
	}
	r := resultMsg{kind: le.Uint32(b), count: int(le.Uint32(b[4:])), id: le.Uint64(b[8:]), off: int(le.Uint32(b[16:]))}
	nerr := int(le.Uint32(b[20:]))
	switch r.kind {
	case msgResult:
		if r.count == 0 || r.count > maxItems || r.off > maxItems || nerr > r.count {
			return resultMsg{}, fmt.Errorf("%w: result of %d items from %d with %d errors", errBadMessage, r.count, r.off, nerr)
		}
	case msgReady:
		if r.count != 0 || nerr != 0 {
			return resultMsg{}, fmt.Errorf("%w: ready with items", errBadMessage)
		}
	case msgInitFailed:
		if r.count != 1 || nerr != 1 {
			return resultMsg{}, fmt.Errorf("%w: init failure of %d items with %d errors", errBadMessage, r.count, nerr)
		}
	default:
		return resultMsg{}, fmt.Errorf("%w: kind %d", errBadMessage, r.kind)
	}
	p := msgHeader
	for range nerr {
		if len(b)-p < 16 {
			return resultMsg{}, fmt.Errorf("%w: error past its end", errBadMessage)
		}
		i, flags := int(le.Uint32(b[p:])), le.Uint32(b[p+4:])
		ml, sl := int(le.Uint32(b[p+8:])), int(le.Uint32(b[p+12:]))
		p += 16
		if i >= r.count || (len(r.errs) > 0 && i <= r.errs[len(r.errs)-1].index) || flags > 1 {
			return resultMsg{}, fmt.Errorf("%w: error for item %d of %d (flags %d)", errBadMessage, i, r.count, flags)
		}
		if ml > len(b)-p || sl > len(b)-p-ml {
			return resultMsg{}, fmt.Errorf("%w: error text past its end", errBadMessage)
		}
		r.errs = append(r.errs, itemErr{index: i, panic: flags == 1, msg: string(b[p : p+ml]), stack: string(b[p+ml : p+ml+sl])})
		p += ml + sl
	}
	p = (p + 7) &^ 7
	if p > len(b) {
		return resultMsg{}, fmt.Errorf("%w: padding past its end", errBadMessage)
	}
	r.payload = b[p:]
	if (r.kind != msgResult || nerr == r.count) && len(r.payload) != 0 {
		return resultMsg{}, fmt.Errorf("%w: %d bytes of results where none belong", errBadMessage, len(r.payload))
	}
	return r, nil
}

package shm

import "strconv"

// Kind says what sort of object a block holds. Attaching checks it, so that
// a queue is never read as a value.
type Kind uint32

// The kinds of shmkit's objects. Values are part of the on-memory format and
// never change.
const (
	KindBytes     Kind = 1 // raw bytes handed out by Segment.Alloc
	KindValue     Kind = 2 // value.Value
	KindArray     Kind = 3 // array.Array
	KindMutex     Kind = 4 // semaphore.Mutex
	KindRLock     Kind = 5 // semaphore.RLock
	KindSemaphore Kind = 6 // semaphore.Semaphore
	KindCond      Kind = 7 // semaphore.Cond
	KindEvent     Kind = 8 // semaphore.Event
	KindBarrier   Kind = 9 // semaphore.Barrier
	KindRing      Kind = 10
	KindQueue     Kind = 11
	KindPipe      Kind = 12
	KindMap       Kind = 13 // shmap.Map
	KindList      Kind = 14 // shmap.List
	KindTable     Kind = 15 // the storage of a Map or List
	KindShard     Kind = 16 // one part of a shmap.Map
	KindRWMutex   Kind = 17 // semaphore.RWMutex
	KindPubSub    Kind = 18 // ringbuffer.PubSub
)

var kindNames = [...]string{"", "bytes", "value", "array", "mutex", "rlock", "semaphore",
	"cond", "event", "barrier", "ring", "queue", "pipe", "map", "list", "table", "shard", "rwmutex", "pubsub"}

// String is the kind's name as shmctl shows it ("queue"), or Kind(N)
// for a number no kind has.
func (k Kind) String() string {
	if int(k) > 0 && int(k) < len(kindNames) {
		return kindNames[k]
	}
	return "Kind(" + strconv.FormatUint(uint64(k), 10) + ")"
}

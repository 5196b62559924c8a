//go:build amd64 && !race

package mem

// PlainRelease is whether StoreRelease is a plain store, which later loads
// may pass (see StoreRelease).
const PlainRelease = true

// StoreRelease stores v at p with release order: every load and store
// before it in program order is visible before it is. It does not order
// it before later loads, as sync/atomic's stores do (a full fence): a
// caller that needs that, a Dekker-style handshake, pairs it with a
// barrier on the other side (sys.MembarrierGlobal).
//
// On amd64 every store has release order (TSO), so this is a plain MOV,
// where atomic.StoreUint64 is an XCHG that drains the store buffer. The
// compiler keeps it, in its place: it is a store through a pointer the
// compiler cannot see the end of, scheduled after the loads and stores
// before it on the memory chain, and never merged with a later store
// across the atomic operations a caller makes in between. Checked in the
// generated code (go test -c, go tool objdump) of ringbuffer's push, a
// MOVQ to the tail after the MOVQ of the value into its slot and before
// the load of the sleep word, and of its pop, a MOVQ to the head after
// the load of the slot.
func StoreRelease(p *uint64, v uint64) { *p = v }

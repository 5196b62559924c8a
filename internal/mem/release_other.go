//go:build !amd64 || race

package mem

import "sync/atomic"

// PlainRelease is whether StoreRelease is a plain store, which later loads
// may pass: not here.
const PlainRelease = false

// StoreRelease stores v at p with at least release order. Here it is
// atomic.StoreUint64: on arm64 a store-release (STLR) that later
// load-acquires never pass, cheap already; under the race detector, an
// atomic store the detector understands.
func StoreRelease(p *uint64, v uint64) { atomic.StoreUint64(p, v) }

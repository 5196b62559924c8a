//go:build !linux

package process

func launch(p *Process, arg []byte) error { return ErrNotSupported }

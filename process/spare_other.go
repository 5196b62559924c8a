//go:build !linux

package process

func setSpares(n int) error { return ErrNotSupported }

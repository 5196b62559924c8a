//go:build !linux

package main

import "github.com/shmkit/shmkit/process"

// redirect is not implemented here, nor is package process.
func redirect(path string) error { return process.ErrNotSupported }

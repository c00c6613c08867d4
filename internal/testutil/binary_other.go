//go:build !linux

package testutil

import "syscall"

// binaryProcAttr is nil where the kernel offers no parent-death signal.
func binaryProcAttr() *syscall.SysProcAttr { return nil }

package testutil

import "syscall"

// binaryProcAttr makes the kernel kill a server binary whose test process
// died without cleaning up, so no orphan keeps a port.
func binaryProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}

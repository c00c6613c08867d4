//go:build !unix

package main

import (
	"os"
	"syscall"
)

// taskProcAttr is nil where there are no process groups: stopping a task's
// command reaches that process only.
func taskProcAttr() *syscall.SysProcAttr { return nil }

// terminateTask ends a task's command; without SIGTERM it is killed. An
// error (the process is gone) needs no action: it is waited for next.
func terminateTask(p *os.Process) { _ = p.Kill() }

// killTask kills a task's command. An error (the process is gone) needs no
// action: it is waited for next.
func killTask(p *os.Process) { _ = p.Kill() }

//go:build unix

package main

import (
	"os"
	"syscall"
)

// taskProcAttr puts a task's command in a process group of its own, so that
// stopping it reaches whatever it started, and a Ctrl-C at the terminal
// reaches arqon alone, which decides.
func taskProcAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{Setpgid: true} }

// terminateTask sends SIGTERM to the process group of a task's command. An
// error (the group is gone) needs no action: the command is waited for next.
func terminateTask(p *os.Process) { _ = syscall.Kill(-p.Pid, syscall.SIGTERM) }

// killTask sends SIGKILL to the process group of a task's command. An error
// (the group is gone) needs no action: the command is waited for next.
func killTask(p *os.Process) { _ = syscall.Kill(-p.Pid, syscall.SIGKILL) }

//go:build unix && !linux

package procattr

import "syscall"

// Child puts each program in a process group of its own, so that a
// Ctrl-C in the terminal reaches only the parent, which then stops the
// programs in order.
func Child() *syscall.SysProcAttr { return &syscall.SysProcAttr{Setpgid: true} }

// Package procattr gives child processes the attributes that keep them
// tied to their parent.
package procattr

import "syscall"

// Child puts each program in a process group of its own, so that a
// Ctrl-C in the terminal reaches only the parent, which then stops the
// programs in order; and it sends SIGTERM to a program whose parent dies,
// so that none outlives a crashed test binary or launcher.
func Child() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
}

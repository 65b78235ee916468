//go:build unix

package upstream

import (
	"os/exec"
	"syscall"
)

// signalGroup signals the process group the command leads (procattr
// puts it in one of its own), so that its children stop too.
func signalGroup(cmd *exec.Cmd, force bool) {
	sig := syscall.SIGTERM
	if force {
		sig = syscall.SIGKILL
	}
	if err := syscall.Kill(-cmd.Process.Pid, sig); err != nil {
		cmd.Process.Signal(sig)
	}
}

//go:build !unix

package upstream

import "os/exec"

// signalGroup kills the process; without process groups its children
// are left alone.
func signalGroup(cmd *exec.Cmd, _ bool) { cmd.Process.Kill() }

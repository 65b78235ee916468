//go:build !unix

package procattr

import "syscall"

// Child returns no attributes where process groups do not exist.
func Child() *syscall.SysProcAttr { return nil }

//go:build !unix

package suite

import "syscall"

func sysProcAttr() *syscall.SysProcAttr { return nil }

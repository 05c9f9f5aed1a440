//go:build !linux

package bench

import (
	"os"
	"os/exec"
)

func childAttrs(*exec.Cmd) {}

// terminate asks the child to stop (an interrupt, where the system has one).
func terminate(cmd *exec.Cmd) { _ = cmd.Process.Signal(os.Interrupt) }

// kill ends the child at once.
func kill(cmd *exec.Cmd) { _ = cmd.Process.Kill() }

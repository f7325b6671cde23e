package bench

import (
	"os/exec"
	"syscall"
)

// dieWithParent has the kernel stop the goka process if the harness dies
// without stopping it (killed), so that it does not keep consuming.
func dieWithParent(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
}

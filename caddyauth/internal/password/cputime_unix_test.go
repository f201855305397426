//go:build unix

package password

import (
	"syscall"
	"time"
)

// processCPUTime is the CPU time (user and system) this process has used,
// garbage collection and page faults included. On a shared machine it
// varies far less with other load than wall time does.
func processCPUTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

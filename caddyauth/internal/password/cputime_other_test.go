//go:build !unix

package password

import "time"

// processCPUTime is not measured here: the benchmarks report 0 for it.
func processCPUTime() time.Duration { return 0 }

// Package benchutil helps benchmarks report what they cost in CPU time, which
// a loaded machine inflates far less than wall time.
package benchutil

import (
	"syscall"
	"testing"
	"time"
)

// CPU is the process's CPU time (user + system) at StartCPU.
type CPU struct{ start time.Duration }

// StartCPU reads the process's CPU time.
func StartCPU() CPU { return CPU{processCPU()} }

// Report adds cpu-ms/op, the process CPU time (every goroutine, the garbage
// collector included) per iteration since StartCPU, to b's results.
func (c CPU) Report(b *testing.B) {
	if b.N == 0 {
		return
	}
	used := processCPU() - c.start
	b.ReportMetric(float64(used)/float64(time.Millisecond)/float64(b.N), "cpu-ms/op")
}

func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

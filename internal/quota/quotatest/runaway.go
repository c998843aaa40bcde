// Package quotatest holds what the quota tests of hallmark-ca and
// hallmark-log share: a runaway client looping during chosen phases.
package quotatest

import (
	"slices"
	"time"
)

// Runaway calls a function in a tight loop during the phases it is given,
// one at a time, and idles between them.
type Runaway struct {
	phases chan chan struct{}
	ack    chan struct{}
}

// StartRunaway starts an idle loop of do.
func StartRunaway(do func()) *Runaway {
	r := &Runaway{phases: make(chan chan struct{}), ack: make(chan struct{})}
	go func() {
		for end := range r.phases {
			for running := true; running; {
				select {
				case <-end:
					running = false
				default:
					do()
				}
			}
			r.ack <- struct{}{} // the call in flight returned
		}
	}()
	return r
}

// During runs f while the loop runs; when it returns, the loop is idle.
func (r *Runaway) During(f func()) {
	end := make(chan struct{})
	r.phases <- end
	f()
	close(end)
	<-r.ack
}

// Stop ends the loop.
func (r *Runaway) Stop() { close(r.phases) }

// Median returns the median of d (the upper one of an even count).
func Median(d []time.Duration) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[len(s)/2]
}

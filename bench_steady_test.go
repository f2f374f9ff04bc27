package main

import (
	"fmt"
	"net/http"
	"slices"
	gosync "sync"
	"sync/atomic"
	"testing"
	"time"
)

// steadyRun is what a steady run measured, per event (in send order).
type steadyRun struct {
	ids     []string
	sentAt  []time.Time
	ackIn   []time.Duration // from send to the answer
	arrived []time.Time     // first arrival at the receiver
	lat     []time.Duration // from send to arrival
	took    time.Duration   // from the first send to the last arrival
}

// benchSteady posts benchSteadyRate events a second for benchSteadyFor to
// url(i), each from one of benchClients clients as it comes due, and waits
// until rc has them all (it had before distinct ids already). Send times
// are paced, not waiting for work; ids are prefix and the index.
func benchSteady(b *testing.B, client *http.Client, url func(i int) string, token string, rc *benchReceiver, prefix string, before int64) *steadyRun {
	n := int(benchSteadyRate * benchSteadyFor.Seconds())
	interval := time.Second / benchSteadyRate
	st := &steadyRun{ids: make([]string, n), sentAt: make([]time.Time, n), ackIn: make([]time.Duration, n),
		arrived: make([]time.Time, n), lat: make([]time.Duration, n)}
	jobs := make(chan int, n)
	var wg gosync.WaitGroup
	var sendErrs atomic.Int64
	for range benchClients {
		wg.Go(func() {
			for i := range jobs {
				st.ids[i] = fmt.Sprintf("%s%06d", prefix, i)
				body := benchBody(st.ids[i], i)
				st.sentAt[i] = time.Now()
				if err := post(client, url(i), token, body); err != nil {
					sendErrs.Add(1)
				}
				st.ackIn[i] = time.Since(st.sentAt[i])
			}
		})
	}
	start := time.Now()
	for i := range n {
		time.Sleep(time.Until(start.Add(time.Duration(i) * interval)))
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	if e := sendErrs.Load(); e > 0 {
		b.Fatalf("%d of %d paced events were not acknowledged", e, n)
	}
	rc.waitDistinct(b, before+int64(n))
	st.took = time.Since(start)
	for i := range n {
		st.arrived[i], _ = rc.arrival(st.ids[i])
		st.lat[i] = st.arrived[i].Sub(st.sentAt[i])
	}
	return st
}

// row adds the p50 and p99 rows to t, the p99's against its target if
// target, and answers the p99.
func (st *steadyRun) row(t *benchTable, target bool) (p99 time.Duration) {
	lat := slices.Sorted(slices.Values(st.lat))
	p50, p99 := percentile(lat, 0.50), percentile(lat, 0.99)
	t.row(fmt.Sprintf("  ingest-to-receive p50 at %d events/s", benchSteadyRate), fmt.Sprintf("%.1f ms", ms(p50)), "", "")
	verdict := ""
	if target {
		verdict = fmt.Sprintf("%s (<= %.0f ms)", passMiss(ms(p99) <= targetP99), targetP99)
	}
	t.row(fmt.Sprintf("  ingest-to-receive p99 at %d events/s", benchSteadyRate), fmt.Sprintf("%.1f ms", ms(p99)), "", verdict)
	return p99
}

// String sums up a run for a note.
func (st *steadyRun) String() string {
	ack := slices.Sorted(slices.Values(st.ackIn))
	return fmt.Sprintf("%d events over %s; ack p50 %.1f ms, p99 %.1f ms; receive max %.1f ms",
		len(st.ids), st.took.Round(time.Millisecond),
		ms(percentile(ack, 0.5)), ms(percentile(ack, 0.99)), ms(slices.Max(st.lat)))
}

package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkHeraldPostgres is BenchmarkHerald on PostgreSQL
// (HERALD_TEST_DATABASE_URL; `make bench` starts a throwaway server with
// fsync on), with one node and with two nodes sharing the database.
func BenchmarkHeraldPostgres(b *testing.B) {
	bin := buildHerald(b)
	for _, n := range []int{1, 2} {
		b.Run(fmt.Sprintf("nodes=%d", n), func(b *testing.B) {
			dbURL := testPostgresSchema(b)
			var nodes []*heraldProc
			for range n {
				vars := benchVars(b.TempDir())
				vars["HERALD_DATABASE_URL"] = dbURL
				nodes = append(nodes, startHerald(b, bin, vars))
			}
			runBenchNodes(b, fmt.Sprintf("PostgreSQL, %d node(s)", n), nodes)
		})
	}
}

// benchVars is the environment of a benchmarked herald.
func benchVars(dataDir string) map[string]string {
	return map[string]string{
		"HERALD_DATA_DIR":               dataDir,
		"HERALD_ADMIN_TOKEN":            benchToken,
		"HERALD_SYNC":                   "normal",
		"HERALD_ALLOW_HTTP":             "true",
		"HERALD_ALLOW_PRIVATE_NETWORKS": "true",
		"HERALD_LOG_LEVEL":              "warn",
	}
}

// runBenchNodes runs the first-generation workload (ingest, burst, steady
// latency) against nodes sharing one PostgreSQL database: requests go to
// them in turn.
func runBenchNodes(b *testing.B, title string, nodes []*heraldProc) {
	const token = benchToken
	p := nodes[0]
	rc := newBenchReceiver(b, http.StatusOK, true)
	createHook(b, p.URL, token, rc.URL)
	client := benchClient()
	eventsURLs := make([]string, len(nodes))
	for i, n := range nodes {
		eventsURLs[i] = n.URL + "/api/v1/events"
	}
	eventsAt := func(i int) string { return eventsURLs[i%len(eventsURLs)] }
	cpuNow := func() time.Duration {
		var sum time.Duration
		for _, n := range nodes {
			c, _ := procStat(n.cmd.Process.Pid)
			sum += c
		}
		return sum
	}
	var rows [][4]string
	var notes []string
	note := func(format string, args ...any) { notes = append(notes, fmt.Sprintf(format, args...)) }
	row := func(name, value, ratio, target string) { rows = append(rows, [4]string{name, value, ratio, target}) }
	cpuSince := func(c0 time.Duration, wall time.Duration) string {
		return fmt.Sprintf("herald used %.2f cores", float64(cpuNow()-c0)/float64(wall))
	}

	// Baseline: the same clients and bodies against a server that does nothing.
	base := newBenchReceiver(b, http.StatusAccepted, false)
	baseBody := benchBody("evt_baseline_0000000000000000", 0)
	took := hammer(b, benchBaselineN, benchClients, func(int) error { return post(client, base.URL, "", baseBody) })
	baseline := float64(benchBaselineN) / took.Seconds()
	_ = base.srv.Close()
	row("raw loopback HTTP, 64 clients (baseline)", fmt.Sprintf("%.0f req/s", baseline), "1.00", "")
	b.ReportMetric(baseline, "baseline-req/s")

	// Warm up Herald (connections, page cache, prepared statements).
	hammer(b, 1000, benchClients, func(i int) error { return post(client, eventsAt(i), token, benchBody("warm-"+strconv.Itoa(i), i)) })
	sent := int64(1000)
	rc.waitDistinct(b, sent)

	// Ingest through the single-event API while deliveries run alongside.
	bodies := make([][]byte, benchIngestN)
	for i := range bodies {
		bodies[i] = benchBody(fmt.Sprintf("ing-%06d", i), i)
	}
	cpu0 := cpuNow()
	took = hammer(b, benchIngestN, benchClients, func(i int) error { return post(client, eventsAt(i), token, bodies[i]) })
	ingest := float64(benchIngestN) / took.Seconds()
	cpuNote := cpuSince(cpu0, took)
	row("ingest, POST /events, 64 clients", fmt.Sprintf("%.0f events/s", ingest), fmt.Sprintf("%.2f", ingest/baseline),
		fmt.Sprintf("%s (>= %.0f)", passMiss(ingest >= targetIngest), targetIngest))
	sent += benchIngestN
	drainStart := time.Now()
	rc.waitDistinct(b, sent)
	note("ingest: %d events in %s, %s; deliveries finished %s after the last ack", benchIngestN, took.Round(time.Millisecond), cpuNote, time.Since(drainStart).Round(time.Millisecond))
	b.ReportMetric(ingest, "ingest-events/s")
	b.ReportMetric(ingest/baseline, "ingest-x-baseline")

	// Burst: batches in, then time until the last one arrives.
	batches := make([][]byte, benchBurstN/benchBatchSize)
	burstIDs := make([]string, 0, benchBurstN)
	for k := range batches {
		evs := make([]map[string]any, benchBatchSize)
		for j := range evs {
			id := fmt.Sprintf("burst-%06d", k*benchBatchSize+j)
			burstIDs = append(burstIDs, id)
			evs[j] = benchEvent(id, k*benchBatchSize+j)
		}
		batches[k], _ = json.Marshal(map[string]any{"events": evs})
	}
	cpu0 = cpuNow()
	start := time.Now()
	ingestTook := hammer(b, len(batches), 4, func(k int) error { return post(client, eventsAt(k)+"/batch", token, batches[k]) })
	sent += benchBurstN
	rc.waitDistinct(b, sent)
	var last time.Time
	for _, id := range burstIDs {
		if t, ok := rc.arrival(id); ok && t.After(last) {
			last = t
		}
	}
	batchRate := benchBurstN / ingestTook.Seconds()
	row("ingest, POST /events/batch (500 each), 4 clients", fmt.Sprintf("%.0f events/s", batchRate), fmt.Sprintf("%.2f", batchRate/baseline), "")
	burstWall := last.Sub(start)
	deliveries := float64(benchBurstN) / burstWall.Seconds()
	cpuNote = cpuSince(cpu0, time.Since(start))
	row("deliveries end to end, 20k burst", fmt.Sprintf("%.0f deliveries/s", deliveries), fmt.Sprintf("%.2f", deliveries/baseline),
		fmt.Sprintf("%s (>= %.0f)", passMiss(deliveries >= targetDeliveries), targetDeliveries))
	note("burst: %d events in %d batches ingested in %s; last arrival after %s; %s",
		benchBurstN, len(batches), ingestTook.Round(time.Millisecond), burstWall.Round(time.Millisecond), cpuNote)
	b.ReportMetric(deliveries, "deliveries/s")
	b.ReportMetric(deliveries/baseline, "deliveries-x-baseline")

	// Latency at a steady, moderate rate: send times paced, matched by id.
	n := int(benchSteadyRate * benchSteadyFor.Seconds())
	interval := time.Second / benchSteadyRate
	sentAt := make([]time.Time, n)
	ackIn := make([]time.Duration, n)
	jobs := make(chan int)
	var wg sync.WaitGroup
	var sendErrs atomic.Int64
	for range benchClients {
		wg.Go(func() {
			for i := range jobs {
				body := benchBody(fmt.Sprintf("lat-%06d", i), i)
				sentAt[i] = time.Now()
				if err := post(client, eventsAt(i), token, body); err != nil {
					sendErrs.Add(1)
				}
				ackIn[i] = time.Since(sentAt[i])
			}
		})
	}
	cpu0 = cpuNow()
	start = time.Now()
	for i := range n {
		time.Sleep(time.Until(start.Add(time.Duration(i) * interval))) // pacing, not waiting for work
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	cpuNote = cpuSince(cpu0, time.Since(start))
	if e := sendErrs.Load(); e > 0 {
		b.Fatalf("%d of %d paced events were not acknowledged", e, n)
	}
	sent += int64(n)
	rc.waitDistinct(b, sent)
	lat := make([]time.Duration, n)
	for i := range n {
		t, _ := rc.arrival(fmt.Sprintf("lat-%06d", i))
		lat[i] = t.Sub(sentAt[i])
	}
	slices.Sort(lat)
	slices.Sort(ackIn)
	p50, p99 := percentile(lat, 0.50), percentile(lat, 0.99)
	row(fmt.Sprintf("ingest-to-receive p50 at %d events/s", benchSteadyRate), fmt.Sprintf("%.1f ms", ms(p50)), "", "")
	row(fmt.Sprintf("ingest-to-receive p99 at %d events/s", benchSteadyRate), fmt.Sprintf("%.1f ms", ms(p99)), "",
		fmt.Sprintf("%s (< %.0f ms)", passMiss(ms(p99) < targetP99), targetP99))
	note("steady: %d events over %s; ack p50 %.1f ms, p99 %.1f ms; receive max %.1f ms; %s",
		n, time.Since(start).Round(time.Millisecond), ms(percentile(ackIn, 0.5)), ms(percentile(ackIn, 0.99)), ms(lat[n-1]), cpuNote)
	b.ReportMetric(ms(p50), "p50-ms")
	b.ReportMetric(ms(p99), "p99-ms")

	var hwm int64
	for _, n := range nodes {
		_, h := procStat(n.cmd.Process.Pid)
		hwm = max(hwm, h)
	}
	row("peak RSS of herald (VmHWM, largest node)", fmt.Sprintf("%.1f MiB", float64(hwm)/1024), "", "")
	b.ReportMetric(float64(hwm)/1024, "peak-rss-MiB")
	b.ReportMetric(0, "ns/op") // one long workload: time per op means nothing here
	if dup := rc.total.Load() - rc.distinct.Load(); dup > 0 {
		note("%d duplicate deliveries", dup)
	}

	for _, nd := range nodes {
		if n := failedAttempts(nd.URL); n != 0 {
			note("%d delivery attempts did not succeed (see /metrics herald_delivery_attempts_total)", n)
		}
	}

	// The same ingest with HERALD_SYNC=full: every commit is also fsynced,
	// so an acknowledged event survives power loss, not just a killed process.

	// Printed, not b.Log: the testing package cuts benchmark logs at 10 lines.
	fmt.Printf("\nBenchmarkHerald: %s (%d cores shared with whatever else runs)\n", title, runtime.NumCPU())
	fmt.Printf("%-48s %20s %11s  %s\n", "measure", "value", "x baseline", "target")
	for _, r := range rows {
		fmt.Printf("%-48s %20s %11s  %s\n", r[0], r[1], r[2], r[3])
	}
	for _, n := range notes {
		fmt.Println("  " + n)
	}
}

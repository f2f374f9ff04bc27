package main

// BenchmarkHerald measures the built binary end to end on loopback. Run it
// once (it is one long workload, not a per-op loop) with `make bench`:
//
//	go test -run '^$' -bench BenchmarkHerald -benchtime 1x -timeout 20m .
//
// Rates are also given as a ratio to raw loopback HTTP measured in the same
// run, because the machine's cores are usually shared and absolute numbers
// drift from run to run.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

const (
	benchClients     = 64
	benchBaselineN   = 50_000
	benchIngestN     = 30_000
	benchBurstN      = 20_000
	benchBatchSize   = 500
	benchSteadyRate  = 500 // events/s
	benchSteadyFor   = 10 * time.Second
	benchDrainWithin = 5 * time.Minute

	targetIngest     = 5000.0 // events/s, acknowledged durably
	targetDeliveries = 3000.0 // deliveries/s, end to end
	targetP99        = 50.0   // ms at benchSteadyRate
)

// benchEvent is one ~300-byte new_message event with id id.
func benchEvent(id string, i int) map[string]any {
	return map[string]any{"id": id, "event": "new_message", "data": map[string]any{
		"contact": map[string]any{"id": "ct_" + strconv.Itoa(i%1000), "name": "Ada Lovelace", "phone": "+15551234567", "channel": "whatsapp"},
		"message": map[string]any{"text": "Hi, I would like to book an appointment for next Tuesday afternoon if that works, thanks!", "channel": "whatsapp"},
	}}
}

func benchBody(id string, i int) []byte {
	b, _ := json.Marshal(benchEvent(id, i))
	return b
}

// benchReceiver answers 200 at once and keeps each event id's first arrival.
type benchReceiver struct {
	srv      *http.Server
	URL      string
	distinct atomic.Int64
	total    atomic.Int64
	mu       sync.Mutex
	first    map[string]time.Time
}

func newBenchReceiver(b *testing.B, status int, record bool) *benchReceiver {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	rc := &benchReceiver{URL: "http://" + ln.Addr().String(), first: map[string]time.Time{}}
	rc.srv = &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		now := time.Now()
		_, _ = io.Copy(io.Discard, r.Body)
		if record {
			id := r.Header.Get("webhook-id")
			rc.total.Add(1)
			rc.mu.Lock()
			if _, ok := rc.first[id]; !ok {
				rc.first[id] = now
				rc.distinct.Add(1)
			}
			rc.mu.Unlock()
		}
		w.WriteHeader(status)
	})}
	go func() { _ = rc.srv.Serve(ln) }()
	b.Cleanup(func() { _ = rc.srv.Close() })
	return rc
}

// waitDistinct polls until n distinct ids have arrived.
func (rc *benchReceiver) waitDistinct(b *testing.B, n int64) {
	deadline := time.Now().Add(benchDrainWithin)
	for rc.distinct.Load() < n {
		if time.Now().After(deadline) {
			b.Fatalf("only %d of %d events arrived within %s", rc.distinct.Load(), n, benchDrainWithin)
		}
		time.Sleep(5 * time.Millisecond) // poll the receiver while deliveries drain
	}
}

func (rc *benchReceiver) arrival(id string) (time.Time, bool) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	t, ok := rc.first[id]
	return t, ok
}

func benchClient() *http.Client {
	// Idle connections close before Herald's 30 s ReadTimeout, which would
	// otherwise answer a never-used one with an unsolicited 408.
	return &http.Client{Timeout: time.Minute, Transport: &http.Transport{
		MaxIdleConns: 2 * benchClients, MaxIdleConnsPerHost: 2 * benchClients, IdleConnTimeout: 20 * time.Second}}
}

// post sends body and fails unless the answer is 2xx.
func post(c *http.Client, url, token string, body []byte) error {
	req, err := http.NewRequest("POST", url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("POST %s: %d: %.200s", url, resp.StatusCode, raw)
	}
	return nil
}

// hammer runs send(i) for i in [0,n) on clients goroutines and returns the
// wall time; the first error fails the benchmark.
func hammer(b *testing.B, n, clients int, send func(i int) error) time.Duration {
	var next atomic.Int64
	var firstErr atomic.Pointer[error]
	var wg sync.WaitGroup
	start := time.Now()
	for range clients {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= n || firstErr.Load() != nil {
					return
				}
				if err := send(i); err != nil {
					firstErr.CompareAndSwap(nil, &err)
					return
				}
			}
		})
	}
	wg.Wait()
	if e := firstErr.Load(); e != nil {
		b.Fatal(*e)
	}
	return time.Since(start)
}

// procStat reads a process's CPU time (user+system) and peak RSS from /proc.
func procStat(pid int) (cpu time.Duration, hwmKB int64) {
	if raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid)); err == nil {
		// Fields after the ")" that ends the command name; utime and stime are 14 and 15.
		f := strings.Fields(string(raw[bytes.LastIndexByte(raw, ')')+2:]))
		if len(f) > 12 {
			u, _ := strconv.ParseInt(f[11], 10, 64)
			s, _ := strconv.ParseInt(f[12], 10, 64)
			cpu = time.Duration(u+s) * time.Second / 100 // USER_HZ is 100 on Linux
		}
	}
	if raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid)); err == nil {
		for line := range strings.Lines(string(raw)) {
			if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
				hwmKB, _ = strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			}
		}
	}
	return cpu, hwmKB
}

func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	return sorted[min(len(sorted)-1, int(float64(len(sorted))*p))]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func passMiss(ok bool) string {
	if ok {
		return "PASS"
	}
	return "MISS"
}

const benchToken = "hrld_bench_admin"

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

func BenchmarkHerald(b *testing.B) {
	bin := buildHerald(b)
	p := startHerald(b, bin, benchVars(b.TempDir()))
	full := benchVars(b.TempDir())
	full["HERALD_SYNC"] = "full"
	runBench(b, "SQLite, 1 node", []*heraldProc{p}, startHerald(b, bin, full))
}

// runBench runs the workload against nodes (one, or several sharing a
// database): requests go to them in turn. full, if not nil, is a node with
// HERALD_SYNC=full whose ingest is measured too.
func runBench(b *testing.B, title string, nodes []*heraldProc, full *heraldProc) {
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
	if full != nil {
		benchFullSync(b, full, client, bodies, batches, baseline, row, note)
	}

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

// failedAttempts sums Herald's attempt counter for every outcome but
// succeeded: retries would distort the delivery figures.
func failedAttempts(baseURL string) int {
	resp, err := http.Get(baseURL + "/metrics")
	if err != nil {
		return -1
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	n := 0
	for line := range strings.Lines(string(raw)) {
		if strings.HasPrefix(line, "herald_delivery_attempts_total{") && !strings.Contains(line, `outcome="succeeded"`) {
			f := strings.Fields(line)
			v, _ := strconv.ParseFloat(f[len(f)-1], 64)
			n += int(v)
		}
	}
	return n
}

// benchFullSync measures ingest on a HERALD_SYNC=full node: every commit
// waits for fsync, so an acknowledged event survives power loss too.
func benchFullSync(b *testing.B, full *heraldProc, client *http.Client, bodies, batches [][]byte, baseline float64,
	row func(name, value, ratio, target string), note func(format string, args ...any)) {
	const token = benchToken
	sink := newBenchReceiver(b, http.StatusOK, false)
	createHook(b, full.URL, token, sink.URL)
	fullURL := full.URL + "/api/v1/events"
	hammer(b, 1000, benchClients, func(i int) error { return post(client, fullURL, token, benchBody("fwarm-"+strconv.Itoa(i), i)) })
	took := hammer(b, benchIngestN/3, benchClients, func(i int) error { return post(client, fullURL, token, bodies[i]) })
	fullIngest := float64(benchIngestN/3) / took.Seconds()
	row("ingest, POST /events, HERALD_SYNC=full", fmt.Sprintf("%.0f events/s", fullIngest), fmt.Sprintf("%.2f", fullIngest/baseline), "")
	took = hammer(b, len(batches), 4, func(k int) error { return post(client, fullURL+"/batch", token, batches[k]) })
	fullBatch := benchBurstN / took.Seconds()
	row("ingest, POST /events/batch, HERALD_SYNC=full", fmt.Sprintf("%.0f events/s", fullBatch), fmt.Sprintf("%.2f", fullBatch/baseline), "")
	b.ReportMetric(fullIngest, "full-ingest-events/s")
	note("sync: normal (the default) keeps every acknowledged event through a killed process (kill -9, crash); full also through power loss or a kernel crash, since each commit waits for fsync")
}

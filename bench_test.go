package main

// BenchmarkHerald measures the built binary end to end on loopback, in both
// sync modes. Run it once (it is one long workload, not a per-op loop) with
// `make bench`:
//
//	go test -run '^$' -bench BenchmarkHerald -benchtime 1x -timeout 60m .
//
// HERALD_BENCH_BACKLOG sets the size of the backlog run (default 1,000,000;
// a smaller one is quicker while iterating).
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
	"strconv"
	"strings"
	gosync "sync"
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
	benchSteadyRate  = 2000 // events/s
	benchSteadyFor   = 10 * time.Second
	benchDrainWithin = 10 * time.Minute
	benchFanoutN     = 2_000 // events, each matching 10 of 100 webhooks
	benchBacklogN    = 1_000_000

	targetIngest     = 0.4  // single-event ingest, x baseline
	targetBatch      = 0.9  // batch ingest, x baseline
	targetDeliveries = 0.3  // deliveries end to end, x baseline
	targetP99        = 10.0 // ms at benchSteadyRate
	targetBacklogRSS = 100  // MiB
)

// benchBacklog is how many deliveries the backlog run queues:
// HERALD_BENCH_BACKLOG, or 1,000,000.
func benchBacklog() int {
	if n, err := strconv.Atoi(os.Getenv("HERALD_BENCH_BACKLOG")); err == nil && n > 0 {
		return n
	}
	return benchBacklogN
}

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
	mu       gosync.Mutex
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
	var wg gosync.WaitGroup
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

// benchTable collects the printed rows.
type benchTable struct {
	b     *testing.B
	rows  [][4]string
	notes []string
}

func (t *benchTable) row(name, value, ratio, target string) {
	t.rows = append(t.rows, [4]string{name, value, ratio, target})
}

func (t *benchTable) note(format string, args ...any) {
	t.notes = append(t.notes, fmt.Sprintf(format, args...))
}

// rate adds a row for a rate with its ratio to the baseline, and a target
// ratio if min > 0.
func (t *benchTable) rate(name string, v float64, unit string, baseline, min float64) {
	target := ""
	if min > 0 {
		target = fmt.Sprintf("%s (>= %.2fx)", passMiss(v/baseline >= min), min)
	}
	t.row(name, fmt.Sprintf("%.0f %s", v, unit), fmt.Sprintf("%.2f", v/baseline), target)
}

func BenchmarkHerald(b *testing.B) {
	bin := buildHerald(b)
	t := &benchTable{b: b}

	// The baseline is measured again before each mode: the load the
	// machine's other users put on it changes over a long run.
	for _, sync := range []string{"normal", "full"} {
		baseline := benchBaseline(b)
		t.row("", "", "", "")
		t.row("raw loopback HTTP, 64 clients (baseline for "+sync+")", fmt.Sprintf("%.0f req/s", baseline), "1.00", "")
		b.ReportMetric(baseline, sync+"-baseline-req/s")
		relay := benchRelay(b, t, baseline)
		benchMode(b, t, bin, sync, baseline, relay)
	}
	t.note("sync: normal (the default) keeps every acknowledged event through a killed process (kill -9, crash); full also through power loss or a kernel crash, since each commit waits for fsync")
	b.ReportMetric(0, "ns/op") // one long workload: time per op means nothing here

	fmt.Printf("\nBenchmarkHerald (%d cores shared with whatever else runs)\n", runtime.NumCPU())
	t.print()
}

// print writes the table. Printed, not b.Log: the testing package cuts
// benchmark logs at 10 lines.
func (t *benchTable) print() {
	fmt.Printf("%-56s %22s %11s  %s\n", "measure", "value", "x baseline", "target")
	for _, r := range t.rows {
		fmt.Printf("%-56s %22s %11s  %s\n", r[0], r[1], r[2], r[3])
	}
	for _, n := range t.notes {
		fmt.Println("  " + n)
	}
}

// benchBaseline is the rate of the same clients and bodies against a server
// that does nothing.
func benchBaseline(b *testing.B) float64 {
	client := benchClient()
	base := newBenchReceiver(b, http.StatusAccepted, false)
	defer base.srv.Close()
	body := benchBody("evt_baseline_0000000000000000", 0)
	took := hammer(b, benchBaselineN, benchClients, func(int) error { return post(client, base.URL, "", body) })
	return float64(benchBaselineN) / took.Seconds()
}

const benchToken = "hrld_bench_admin"

func startBenchHerald(b *testing.B, bin, sync string, extra ...string) (*heraldProc, string) {
	dir := b.TempDir()
	vars := map[string]string{
		"HERALD_DATA_DIR":               dir,
		"HERALD_ADMIN_TOKEN":            benchToken,
		"HERALD_SYNC":                   sync,
		"HERALD_ALLOW_HTTP":             "true",
		"HERALD_ALLOW_PRIVATE_NETWORKS": "true",
		"HERALD_LOG_LEVEL":              "warn",
	}
	for i := 0; i+1 < len(extra); i += 2 {
		vars[extra[i]] = extra[i+1]
	}
	return startHerald(b, bin, vars), dir
}

// benchMode runs every measure against a fresh Herald in one sync mode.
func benchMode(b *testing.B, t *benchTable, bin, sync string, baseline float64, relay benchRates) {
	p, _ := startBenchHerald(b, bin, sync)
	got := benchWorkload(b, t, []*heraldProc{p}, "HERALD_SYNC="+sync, sync, baseline)
	p.kill()
	benchDrift(b, t, sync, baseline, relay, got)

	benchFanout(b, t, bin, sync, baseline)
	benchBacklogRun(b, t, bin, sync, baseline, got.deliveries)
}

// benchRates are what the relay and Herald's workload measured.
type benchRates struct{ ingest, deliveries float64 }

// benchDrift measures the baseline again once the workload is done, and
// sets Herald's rates against the relay's of the same mode. The targets
// stay ratios to the baseline measured first; these say how far to trust
// them: on these shared machines the baseline has moved by a third between
// two measurements minutes apart, while the relay, a service measured the
// way Herald is, moved much less.
func benchDrift(b *testing.B, t *benchTable, sync string, baseline float64, relay, got benchRates) {
	after := benchBaseline(b)
	t.row("  raw loopback HTTP again, after the measures above", fmt.Sprintf("%.0f req/s", after), fmt.Sprintf("%.2f", after/baseline), "")
	t.note("HERALD_SYNC=%s against the raw relay measured just before it: ingest %.2fx, deliveries %.2fx", sync,
		got.ingest/relay.ingest, got.deliveries/relay.deliveries)
	b.ReportMetric(after, sync+"-baseline-after-req/s")
	b.ReportMetric(got.ingest/relay.ingest, sync+"-ingest-x-relay")
	b.ReportMetric(got.deliveries/relay.deliveries, sync+"-deliveries-x-relay")
}

// benchWorkload runs ingest, the burst and steady latency against nodes
// (one, or several sharing a database: requests go to them in turn), adds
// its rows under tag, and returns the single-event ingest rate and the
// burst's delivery rate. metric prefixes the reported metrics.
func benchWorkload(b *testing.B, t *benchTable, nodes []*heraldProc, tag, metric string, baseline float64) benchRates {
	rc := newBenchReceiver(b, http.StatusOK, true)
	createHook(b, nodes[0].URL, benchToken, rc.URL)
	client := benchClient()
	eventsURL := func(i int) string { return nodes[i%len(nodes)].URL + "/api/v1/events" }
	cpuTotal := func() (cpu time.Duration) {
		for _, n := range nodes {
			c, _ := procStat(n.cmd.Process.Pid)
			cpu += c
		}
		return cpu
	}
	cpuSince := func(c0 time.Duration, wall time.Duration) string {
		return fmt.Sprintf("herald used %.2f cores", float64(cpuTotal()-c0)/float64(wall))
	}
	t.row(tag, "", "", "")

	// Warm up Herald (connections, page cache, prepared statements).
	hammer(b, 1000, benchClients, func(i int) error {
		return post(client, eventsURL(i), benchToken, benchBody("warm-"+strconv.Itoa(i), i))
	})
	sent := int64(1000)
	rc.waitDistinct(b, sent)

	// Ingest through the single-event API while deliveries run alongside.
	bodies := make([][]byte, benchIngestN)
	for i := range bodies {
		bodies[i] = benchBody(fmt.Sprintf("ing-%06d", i), i)
	}
	cpu0 := cpuTotal()
	took := hammer(b, benchIngestN, benchClients, func(i int) error { return post(client, eventsURL(i), benchToken, bodies[i]) })
	ingest := float64(benchIngestN) / took.Seconds()
	cpuNote := cpuSince(cpu0, took)
	t.rate("  ingest, POST /events, 64 clients", ingest, "events/s", baseline, targetIngest)
	sent += benchIngestN
	drainStart := time.Now()
	rc.waitDistinct(b, sent)
	t.note("%s ingest: %d events in %s, %s; deliveries finished %s after the last ack", tag, benchIngestN, took.Round(time.Millisecond), cpuNote, time.Since(drainStart).Round(time.Millisecond))
	b.ReportMetric(ingest/baseline, metric+"-ingest-x-baseline")

	// Burst: batches in, then time until the last one arrives.
	batches, burstIDs := benchBatches("burst", benchBurstN)
	cpu0 = cpuTotal()
	start := time.Now()
	ingestTook := hammer(b, len(batches), 4, func(k int) error { return post(client, eventsURL(k)+"/batch", benchToken, batches[k]) })
	sent += benchBurstN
	rc.waitDistinct(b, sent)
	var last time.Time
	for _, id := range burstIDs {
		if at, ok := rc.arrival(id); ok && at.After(last) {
			last = at
		}
	}
	batchRate := benchBurstN / ingestTook.Seconds()
	t.rate("  ingest, POST /events/batch (500 each), 4 clients", batchRate, "events/s", baseline, targetBatch)
	burstWall := last.Sub(start)
	deliveries := float64(benchBurstN) / burstWall.Seconds()
	cpuNote = cpuSince(cpu0, time.Since(start))
	t.rate("  deliveries end to end, 20k burst", deliveries, "deliveries/s", baseline, targetDeliveries)
	t.note("%s burst: %d events in %d batches ingested in %s; last arrival after %s; %s",
		tag, benchBurstN, len(batches), ingestTook.Round(time.Millisecond), burstWall.Round(time.Millisecond), cpuNote)
	b.ReportMetric(batchRate/baseline, metric+"-batch-x-baseline")
	b.ReportMetric(deliveries/baseline, metric+"-deliveries-x-baseline")

	// Latency at a steady rate.
	cpu0 = cpuTotal()
	start = time.Now()
	st := benchSteady(b, client, eventsURL, benchToken, rc, "lat-", sent)
	cpuNote = cpuSince(cpu0, time.Since(start))
	sent += int64(len(st.ids))
	t.note("%s steady: %s", tag, st.tailNote(nodes[0].URL, benchTailN))
	p99 := st.row(t, true)
	t.note("%s steady: %s; %s", tag, st, cpuNote)
	b.ReportMetric(ms(p99), metric+"-p99-ms")

	var hwm int64
	for _, n := range nodes {
		_, h := procStat(n.cmd.Process.Pid)
		hwm = max(hwm, h)
	}
	t.row("  peak RSS of herald so far (VmHWM, largest node)", fmt.Sprintf("%.1f MiB", float64(hwm)/1024), "", "")
	if dup := rc.total.Load() - rc.distinct.Load(); dup > 0 {
		t.note("%s: %d duplicate deliveries", tag, dup)
	}
	for _, n := range nodes {
		if failed := failedAttempts(n.URL); failed != 0 {
			t.note("%s: %d delivery attempts did not succeed (see /metrics herald_delivery_attempts_total)", tag, failed)
		}
	}
	return benchRates{ingest: ingest, deliveries: deliveries}
}

// benchBatches makes n events in batches of benchBatchSize.
func benchBatches(prefix string, n int) (batches [][]byte, ids []string) {
	for k := 0; k < n; k += benchBatchSize {
		evs := make([]map[string]any, 0, benchBatchSize)
		for i := k; i < min(k+benchBatchSize, n); i++ {
			id := fmt.Sprintf("%s-%07d", prefix, i)
			ids = append(ids, id)
			evs = append(evs, benchEvent(id, i))
		}
		body, _ := json.Marshal(map[string]any{"events": evs})
		batches = append(batches, body)
	}
	return batches, ids
}

// benchCounter answers 200 and counts; while down, it holds each request
// until it is up.
type benchCounter struct {
	URL  string
	n    atomic.Int64
	up   chan struct{}
	once gosync.Once
}

func newBenchCounter(b *testing.B, up bool) *benchCounter {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	c := &benchCounter{URL: "http://" + ln.Addr().String(), up: make(chan struct{})}
	if up {
		c.setUp()
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		select {
		case <-c.up:
		case <-r.Context().Done():
			return
		}
		c.n.Add(1)
	})}
	go func() { _ = srv.Serve(ln) }()
	b.Cleanup(func() { c.setUp(); _ = srv.Close() })
	return c
}

func (c *benchCounter) setUp() { c.once.Do(func() { close(c.up) }) }

func (c *benchCounter) wait(b *testing.B, n int64, within time.Duration, sample func()) {
	deadline := time.Now().Add(within)
	for c.n.Load() < n {
		if time.Now().After(deadline) {
			b.Fatalf("only %d of %d deliveries arrived within %s", c.n.Load(), n, within)
		}
		if sample != nil {
			sample()
		}
		time.Sleep(20 * time.Millisecond) // poll the receiver while deliveries drain
	}
}

// benchFanout: 100 webhooks, each event matches 10 of them.
func benchFanout(b *testing.B, t *benchTable, bin, sync string, baseline float64) {
	p, _ := startBenchHerald(b, bin, sync)
	rc := newBenchCounter(b, true)
	for i := range 100 {
		ev := "new_message"
		if i%10 != 0 {
			ev = "contact_created"
		}
		var h struct{ ID string }
		if _, err := api(http.DefaultClient, "POST", p.URL+"/api/v1/webhooks", benchToken,
			map[string]any{"url": fmt.Sprintf("%s/h%d", rc.URL, i), "events": []string{ev}}, &h); err != nil {
			b.Fatalf("create webhook: %v", err)
		}
	}
	client := benchClient()
	batches, _ := benchBatches("fan", benchFanoutN)
	start := time.Now()
	hammer(b, len(batches), 4, func(k int) error { return post(client, p.URL+"/api/v1/events/batch", benchToken, batches[k]) })
	want := int64(10 * benchFanoutN)
	rc.wait(b, want, benchDrainWithin, nil)
	rate := float64(want) / time.Since(start).Seconds()
	t.rate(fmt.Sprintf("  fan-out: 100 webhooks, %d events x 10 matching", benchFanoutN), rate, "deliveries/s", baseline, 0)
	b.ReportMetric(rate/baseline, sync+"-fanout-x-baseline")
	p.kill()
}

// benchBacklogRun queues deliveries while the receiver is down (it holds
// every request), then lets it answer and times the drain. RSS is sampled
// throughout.
//
// HERALD_SYNC=full queues a tenth as many: each batch waits for its fsync,
// and the full size twice would keep the bench past half an hour here.
func benchBacklogRun(b *testing.B, t *benchTable, bin, sync string, baseline, burstRate float64) {
	n := benchBacklog()
	if sync == "full" {
		n = max(n/10, 1)
	}
	rc := newBenchCounter(b, false)
	p, dir := startBenchHerald(b, bin, sync, "HERALD_DELIVERY_TIMEOUT", "2m", "HERALD_PROBE_INTERVAL", "1s")
	pid := p.cmd.Process.Pid
	createHook(b, p.URL, benchToken, rc.URL)
	var maxRSS int64
	sample := func() {
		if raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid)); err == nil {
			for line := range strings.Lines(string(raw)) {
				if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
					kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
					maxRSS = max(maxRSS, kb)
				}
			}
		}
	}
	client := benchClient()
	stop := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				sample()
			}
		}
	}()
	// Built as it goes, so the bench's own memory stays small.
	var next atomic.Int64
	start := time.Now()
	hammer(b, (n+benchBatchSize-1)/benchBatchSize, 4, func(k int) error {
		lo := k * benchBatchSize
		evs := make([]map[string]any, 0, benchBatchSize)
		for i := lo; i < min(lo+benchBatchSize, n); i++ {
			evs = append(evs, benchEvent(fmt.Sprintf("bl-%07d", i), i))
		}
		next.Add(int64(len(evs)))
		body, _ := json.Marshal(map[string]any{"events": evs})
		return post(client, p.URL+"/api/v1/events/batch", benchToken, body)
	})
	fill := time.Since(start)
	fillRate := float64(n) / fill.Seconds()
	dbSize := func() int64 {
		var total int64
		for _, f := range []string{"herald.db", "herald.db-wal"} {
			if st, err := os.Stat(dir + "/" + f); err == nil {
				total += st.Size()
			}
		}
		return total
	}
	queuedSize := dbSize()
	start = time.Now()
	rc.setUp()
	rc.wait(b, int64(n), 30*time.Minute, nil)
	drain := time.Since(start)
	close(stop)
	<-sampled
	sample()
	drainRate := float64(n) / drain.Seconds()
	tgt := fmt.Sprintf("%s (>= burst %.0f/s)", passMiss(drainRate >= burstRate), burstRate)
	t.rate(fmt.Sprintf("  backlog: %d queued (receiver down), batches", n), fillRate, "events/s", baseline, 0)
	t.row("  backlog: drained once the receiver is up", fmt.Sprintf("%.0f deliveries/s", drainRate), fmt.Sprintf("%.2f", drainRate/baseline), tgt)
	t.row("  backlog: peak RSS while queued and drained", fmt.Sprintf("%.1f MiB", float64(maxRSS)/1024), "",
		fmt.Sprintf("%s (<= %d MiB)", passMiss(float64(maxRSS)/1024 <= targetBacklogRSS), targetBacklogRSS))
	t.row("  backlog: database size queued / drained", fmt.Sprintf("%.0f / %.0f MiB", float64(queuedSize)/(1<<20), float64(dbSize())/(1<<20)), "", "")
	t.note("HERALD_SYNC=%s backlog: %d events queued in %s, drained in %s (HERALD_BENCH_BACKLOG sets the size)",
		sync, n, fill.Round(time.Millisecond), drain.Round(time.Millisecond))
	b.ReportMetric(drainRate/baseline, sync+"-drain-x-baseline")
	b.ReportMetric(float64(maxRSS)/1024, sync+"-backlog-rss-MiB")
	p.kill()
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

package main

// End-to-end tests of the built binary: kill -9 under load loses nothing
// acknowledged, SIGTERM is clean, and a first start with no config prints an
// admin token once. They run the real `herald` as a subprocess on 127.0.0.1.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/herald-webhooks/herald/sinks"
)

const crashAdminToken = "hrld_test_crash_admin"

// buildHerald builds the real binary into a temp dir and returns its path.
func buildHerald(tb testing.TB) string {
	tb.Helper()
	bin := filepath.Join(tb.TempDir(), "herald")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		tb.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// lockedBuffer collects a process's stderr; the copy runs in os/exec's goroutine.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// heraldProc is one running herald subprocess.
type heraldProc struct {
	cmd    *exec.Cmd
	URL    string
	log    *lockedBuffer
	exited chan struct{} // closed once the process is reaped
}

// freeAddr returns a 127.0.0.1 address that was free a moment ago.
func freeAddr(tb testing.TB) string {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatalf("listen: %v", err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// heraldEnv is the parent environment without HERALD_* plus vars.
func heraldEnv(vars map[string]string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "HERALD_") {
			env = append(env, kv)
		}
	}
	for k, v := range vars {
		env = append(env, k+"="+v)
	}
	return env
}

// startHerald runs bin with vars (HERALD_LISTEN is filled in) and waits for
// /healthz. A port taken between freeAddr and the bind is retried.
func startHerald(tb testing.TB, bin string, vars map[string]string) *heraldProc {
	tb.Helper()
	for try := 0; ; try++ {
		addr := freeAddr(tb)
		vars["HERALD_LISTEN"] = addr
		p := &heraldProc{cmd: exec.Command(bin), URL: "http://" + addr, log: &lockedBuffer{}, exited: make(chan struct{})}
		p.cmd.Env = heraldEnv(vars)
		p.cmd.Stderr = p.log
		p.cmd.Stdout = p.log
		if err := p.cmd.Start(); err != nil {
			tb.Fatalf("start herald: %v", err)
		}
		go func() { _ = p.cmd.Wait(); close(p.exited) }()
		tb.Cleanup(p.kill)
		err := p.waitHealthy(30 * time.Second)
		if err == nil {
			return p
		}
		p.kill()
		if try < 2 && strings.Contains(p.log.String(), "address already in use") {
			continue
		}
		tb.Fatalf("herald did not start: %v\n%s", err, p.log.String())
	}
}

func (p *heraldProc) waitHealthy(timeout time.Duration) error {
	c := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		select {
		case <-p.exited:
			return fmt.Errorf("exited with %v", p.cmd.ProcessState)
		default:
		}
		if resp, err := c.Get(p.URL + "/healthz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(20 * time.Millisecond) // poll interval while the process starts
	}
	return fmt.Errorf("no healthy /healthz within %s", timeout)
}

// kill sends SIGKILL and waits until the process is gone.
func (p *heraldProc) kill() {
	select {
	case <-p.exited:
		return
	default:
	}
	_ = p.cmd.Process.Kill()
	<-p.exited
}

// api sends a JSON request with token and decodes a JSON answer into out (if not nil).
func api(client *http.Client, method, url, token string, body, out any) (int, error) {
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return 0, err
		}
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, url, r)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return resp.StatusCode, err
	}
	if out != nil && resp.StatusCode < 300 {
		if err := json.Unmarshal(raw, out); err != nil {
			return resp.StatusCode, fmt.Errorf("decode %s %s: %w: %s", method, url, err, raw)
		}
	}
	if resp.StatusCode >= 300 {
		return resp.StatusCode, fmt.Errorf("%s %s: %d: %s", method, url, resp.StatusCode, raw)
	}
	return resp.StatusCode, nil
}

// createHook creates a webhook for every event and returns its id and secret.
func createHook(tb testing.TB, baseURL, token, target string) (id, secret string) {
	tb.Helper()
	var h struct{ ID, Secret string }
	if _, err := api(http.DefaultClient, "POST", baseURL+"/api/v1/webhooks", token,
		map[string]any{"url": target, "events": []string{"*"}}, &h); err != nil {
		tb.Fatalf("create webhook: %v", err)
	}
	return h.ID, h.Secret
}

// listEventIDs pages through GET /api/v1/events with the cursor.
func listEventIDs(tb testing.TB, baseURL, token string) map[string]bool {
	tb.Helper()
	ids := map[string]bool{}
	after := ""
	for page := 0; page < 10_000; page++ {
		var l struct {
			Data       []struct{ ID string }
			NextCursor string `json:"next_cursor"`
		}
		if _, err := api(http.DefaultClient, "GET", baseURL+"/api/v1/events?limit=1000&after="+after, token, nil, &l); err != nil {
			tb.Fatalf("list events: %v", err)
		}
		for _, e := range l.Data {
			ids[e.ID] = true
		}
		if l.NextCursor == "" {
			return ids
		}
		after = l.NextCursor
	}
	tb.Fatalf("list events: cursor never ended")
	return nil
}

// crashReceiver records which event ids arrived (answered 2xx) and how often.
// Until healthy is set it is slow now and then and fails an id's first
// attempt at random, so deliveries are mid-flight and retrying when killed.
type crashReceiver struct {
	*httptest.Server
	secret  atomic.Pointer[string]
	healthy atomic.Bool

	mu       sync.Mutex
	arrived  map[string]int
	failed   map[string]bool
	badSigs  int
	injected int
}

func newCrashReceiver(t *testing.T) *crashReceiver {
	rc := &crashReceiver{arrived: map[string]int{}, failed: map[string]bool{}}
	rc.Server = httptest.NewServer(http.HandlerFunc(rc.serve))
	t.Cleanup(rc.Close)
	return rc
}

func (rc *crashReceiver) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	id := r.Header.Get("webhook-id")
	ts, _ := strconv.ParseInt(r.Header.Get("webhook-timestamp"), 10, 64)
	secret := rc.secret.Load()
	sigOK := secret != nil && sinks.Verify(*secret, id, ts, body, r.Header.Get("webhook-signature"))
	if !rc.healthy.Load() && rand.IntN(4) == 0 {
		time.Sleep(time.Duration(10+rand.IntN(30)) * time.Millisecond) // a slow receiver, so attempts overlap the kill
	}
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if !sigOK {
		rc.badSigs++
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	// Fail at most one attempt per id: the retry schedule always has room left.
	if !rc.healthy.Load() && !rc.failed[id] && rand.IntN(5) == 0 {
		rc.failed[id] = true
		rc.injected++
		w.WriteHeader(http.StatusInternalServerError)
		return
	}
	rc.arrived[id]++
	w.WriteHeader(http.StatusOK)
}

// missing returns the acknowledged ids that have not arrived yet.
func (rc *crashReceiver) missing(acked map[string]bool) []string {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	var out []string
	for id := range acked {
		if rc.arrived[id] == 0 {
			out = append(out, id)
		}
	}
	return out
}

// loadPhase runs clients that post unique events to baseURL until stop is
// closed, adding every id answered 2xx to acked.
func loadPhase(baseURL, prefix string, clients int, acked *sync.Map, stop <-chan struct{}) *sync.WaitGroup {
	var wg sync.WaitGroup
	tr := &http.Transport{MaxIdleConnsPerHost: clients}
	hc := &http.Client{Transport: tr, Timeout: 5 * time.Second}
	for c := range clients {
		wg.Go(func() {
			tick := time.NewTicker(5 * time.Millisecond) // ~200 events/s per client: deliveries keep up
			defer tick.Stop()
			for n := 0; ; n++ {
				select {
				case <-stop:
					return
				case <-tick.C:
				}
				id := fmt.Sprintf("%s-c%d-%d", prefix, c, n)
				ev := map[string]any{"id": id, "event": "contact_created",
					"data": map[string]any{"contact": map[string]any{"id": "ct_" + strconv.Itoa(c), "name": "Crash Test"}}}
				if code, err := api(hc, "POST", baseURL+"/api/v1/events", crashAdminToken, ev, nil); err == nil && code/100 == 2 {
					acked.Store(id, true)
				}
			}
		})
	}
	go func() { wg.Wait(); tr.CloseIdleConnections() }()
	return &wg
}

func TestCrashKillNineLosesNothingAcknowledged(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := buildHerald(t)
	dir := t.TempDir()
	rc := newCrashReceiver(t)
	vars := map[string]string{
		"HERALD_DATA_DIR":               dir,
		"HERALD_ADMIN_TOKEN":            crashAdminToken,
		"HERALD_ALLOW_HTTP":             "true",
		"HERALD_ALLOW_PRIVATE_NETWORKS": "true",
		"HERALD_RETRY_SCHEDULE":         "50ms,100ms,200ms,400ms,800ms",
		"HERALD_DELIVERY_TIMEOUT":       "2s",
	}
	const kills, clients = 3, 6
	var acked sync.Map
	var logs []string
	p := startHerald(t, bin, vars)
	hookID, secret := createHook(t, p.URL, crashAdminToken, rc.URL)
	rc.secret.Store(&secret)

	for round := 0; round <= kills; round++ {
		if round > 0 {
			p = startHerald(t, bin, vars)
		}
		stop := make(chan struct{})
		wg := loadPhase(p.URL, fmt.Sprintf("r%d", round), clients, &acked, stop)
		load := time.Duration(300+rand.IntN(1200)) * time.Millisecond
		if round == kills {
			load = 500 * time.Millisecond // the last process stays up: a little more load, then drain
		}
		time.Sleep(load) // the load phase's length: the clients are doing the work
		if round < kills {
			p.kill() // SIGKILL mid-load: requests, commits and attempts are all in flight
		}
		close(stop)
		wg.Wait()
		logs = append(logs, p.log.String())
		t.Logf("round %d: load %s, %d acknowledged so far", round, load, syncMapLen(&acked))
	}
	rc.healthy.Store(true)

	ackedIDs := map[string]bool{}
	acked.Range(func(k, _ any) bool { ackedIDs[k.(string)] = true; return true })
	if len(ackedIDs) < 100 {
		t.Fatalf("only %d events were acknowledged; the load did not run", len(ackedIDs))
	}
	deadline := time.Now().Add(60 * time.Second)
	missing := rc.missing(ackedIDs)
	for len(missing) > 0 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond) // poll the receiver while deliveries drain
		missing = rc.missing(ackedIDs)
	}
	if len(missing) > 0 {
		t.Errorf("%d of %d acknowledged events never arrived, e.g. %v", len(missing), len(ackedIDs), missing[:min(5, len(missing))])
	}

	stored := listEventIDs(t, p.URL, crashAdminToken)
	lost := 0
	for id := range ackedIDs {
		if !stored[id] {
			lost++
		}
	}
	if lost > 0 {
		t.Errorf("GET /api/v1/events lacks %d of %d acknowledged events", lost, len(ackedIDs))
	}
	var failed struct {
		Data []struct {
			ID      string
			EventID string `json:"event_id"`
		}
	}
	if _, err := api(http.DefaultClient, "GET", p.URL+"/api/v1/webhooks/"+hookID+"/deliveries?status=failed", crashAdminToken, nil, &failed); err != nil {
		t.Fatal(err)
	}
	if len(failed.Data) > 0 {
		t.Errorf("%d deliveries failed for good though the receiver failed each id at most once, e.g. %+v", len(failed.Data), failed.Data[0])
	}

	rc.mu.Lock()
	dups, arrivals := 0, 0
	for _, n := range rc.arrived {
		arrivals += n
		dups += n - 1
	}
	if rc.badSigs > 0 {
		t.Errorf("%d requests had a signature that does not verify", rc.badSigs)
	}
	t.Logf("%d kills; %d events acknowledged, %d stored, %d distinct arrived, %d arrivals, %d duplicates (allowed: at least once), %d injected 500s",
		kills, len(ackedIDs), len(stored), len(rc.arrived), arrivals, dups, rc.injected)
	rc.mu.Unlock()
	for i, l := range logs {
		if strings.Contains(l, "panic") || strings.Contains(l, "DATA RACE") {
			t.Errorf("process %d logged a panic or race:\n%s", i, l)
		}
	}
	if t.Failed() {
		for i, l := range logs {
			t.Logf("log of process %d:\n%s", i, l)
		}
	}
}

func syncMapLen(m *sync.Map) int {
	n := 0
	m.Range(func(_, _ any) bool { n++; return true })
	return n
}

func TestCrashSIGTERMExitsCleanlyAndKeepsDeliveries(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := buildHerald(t)
	vars := map[string]string{
		"HERALD_DATA_DIR":               t.TempDir(),
		"HERALD_ADMIN_TOKEN":            crashAdminToken,
		"HERALD_ALLOW_HTTP":             "true",
		"HERALD_ALLOW_PRIVATE_NETWORKS": "true",
		"HERALD_RETRY_SCHEDULE":         "50ms,100ms,200ms,400ms,800ms",
		"HERALD_DELIVERY_TIMEOUT":       "2s",
	}
	const timeout = 2 * time.Second
	// The receiver holds every request until released, or (slow) for 500 ms:
	// some attempts are still in flight when SIGTERM arrives.
	var mu sync.Mutex
	arrived := map[string]int{}
	inFlight := make(chan struct{}, 100)
	var slow atomic.Bool
	slow.Store(true)
	rc := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		if slow.Load() {
			select {
			case inFlight <- struct{}{}:
			default:
			}
			select {
			case <-time.After(500 * time.Millisecond): // a slow receiver
			case <-r.Context().Done():
				return
			}
		}
		mu.Lock()
		arrived[r.Header.Get("webhook-id")]++
		mu.Unlock()
	}))
	t.Cleanup(rc.Close)

	p := startHerald(t, bin, vars)
	hookID, _ := createHook(t, p.URL, crashAdminToken, rc.URL)
	var ids []string
	for i := range 20 {
		id := fmt.Sprintf("term-%d", i)
		ev := map[string]any{"id": id, "event": "contact_created", "data": map[string]any{"contact": map[string]any{"id": "ct_1"}}}
		if _, err := api(http.DefaultClient, "POST", p.URL+"/api/v1/events", crashAdminToken, ev, nil); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	select {
	case <-inFlight:
	case <-time.After(10 * time.Second):
		t.Fatalf("no delivery started within 10s\n%s", p.log.String())
	}

	start := time.Now()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	limit := timeout + 4*time.Second // attempts get the timeout plus 2 s of grace, then are released
	select {
	case <-p.exited:
	case <-time.After(timeout + 10*time.Second):
		t.Fatalf("still running %s after SIGTERM\n%s", timeout+10*time.Second, p.log.String())
	}
	took := time.Since(start)
	if code := p.cmd.ProcessState.ExitCode(); code != 0 {
		t.Errorf("exit status %d after SIGTERM, want 0\n%s", code, p.log.String())
	}
	if took > limit {
		t.Errorf("SIGTERM took %s to exit, want under %s", took.Round(time.Millisecond), limit)
	}
	if !strings.Contains(p.log.String(), "Stopped") {
		t.Errorf("log does not say it stopped cleanly:\n%s", p.log.String())
	}
	mu.Lock()
	before := len(arrived)
	mu.Unlock()
	t.Logf("SIGTERM: exited in %s with %d of %d events delivered", took.Round(time.Millisecond), before, len(ids))

	slow.Store(false)
	p = startHerald(t, bin, vars)
	deadline := time.Now().Add(20 * time.Second)
	for {
		var ds struct {
			Data []struct {
				Status  string
				EventID string `json:"event_id"`
			}
		}
		done := 0
		if _, err := api(http.DefaultClient, "GET", p.URL+"/api/v1/webhooks/"+hookID+"/deliveries?limit=100", crashAdminToken, nil, &ds); err != nil {
			t.Fatal(err)
		}
		for _, d := range ds.Data {
			if d.Status == "succeeded" {
				done++
			}
		}
		mu.Lock()
		got := len(arrived)
		mu.Unlock()
		if done == len(ids) && got == len(ids) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after restart: %d of %d deliveries succeeded, %d events arrived: %+v\n%s", done, len(ids), got, ds.Data, p.log.String())
		}
		time.Sleep(50 * time.Millisecond) // poll while the restarted process delivers
	}
}

var adminTokenLine = regexp.MustCompile(`admin_token=(hrld_adm_[A-Za-z0-9_\-]+)`)

func TestFirstStartPrintsAdminTokenOnce(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := buildHerald(t)
	dir := t.TempDir()
	// Only the data dir, and the quietest log level: the token was once
	// logged at Warn, so HERALD_LOG_LEVEL=error hid it for good.
	vars := map[string]string{"HERALD_DATA_DIR": dir, "HERALD_LOG_LEVEL": "error"}

	// A start that cannot listen fails before it makes a token, so the
	// token is still printed by the first start that works.
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	failed := exec.Command(bin)
	failed.Env = heraldEnv(map[string]string{"HERALD_DATA_DIR": dir, "HERALD_LISTEN": busy.Addr().String()})
	out, err := failed.CombinedOutput()
	busy.Close()
	if err == nil || strings.Contains(string(out), "admin_token") {
		t.Fatalf("a start on a taken port: err = %v, output:\n%s", err, out)
	}

	p := startHerald(t, bin, vars)
	log := p.log.String()
	found := adminTokenLine.FindAllStringSubmatch(log, -1)
	if len(found) != 1 {
		t.Fatalf("first start: want one admin_token=hrld_adm_... line, got %d:\n%s", len(found), log)
	}
	token := found[0][1]
	if _, err := api(http.DefaultClient, "GET", p.URL+"/api/v1/webhooks", token, nil, nil); err != nil {
		t.Errorf("the printed token does not work: %v", err)
	}
	if code, _ := api(http.DefaultClient, "GET", p.URL+"/api/v1/webhooks", token+"x", nil, nil); code != http.StatusUnauthorized {
		t.Errorf("a wrong token answered %d, want 401", code)
	}
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	<-p.exited

	// Stored hashed: the value is nowhere in the database files.
	files, _ := filepath.Glob(filepath.Join(dir, "herald.db*"))
	if len(files) == 0 {
		t.Fatalf("no database in %s", dir)
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(b, []byte(token)) {
			t.Errorf("%s holds the admin token in clear text", filepath.Base(f))
		}
	}

	p = startHerald(t, bin, vars)
	if log := p.log.String(); strings.Contains(log, "admin_token") {
		t.Errorf("second start printed a token again:\n%s", log)
	}
	if _, err := api(http.DefaultClient, "GET", p.URL+"/api/v1/webhooks", token, nil, nil); err != nil {
		t.Errorf("the first start's token stopped working: %v", err)
	}
}

package main

// Several Herald processes on one PostgreSQL database (DESIGN.md §10): the
// real binary, three nodes, one killed with -9 half-way through the load.

import (
	"context"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/herald-webhooks/herald/app/store/pgtest"
	"github.com/herald-webhooks/herald/sinks"
)

// spanReceiver logs every request as a span per delivery, so overlapping
// attempts of one delivery show, and counts requests running at once.
type spanReceiver struct {
	*httptest.Server
	secret atomic.Pointer[string]
	slow   atomic.Bool // every request takes 300 ms

	mu      sync.Mutex
	spans   map[string][][2]time.Time // delivery id -> [start, end] of each request
	arrived map[string]int            // event id -> 2xx answers
	badSigs int
	running int
	maxRun  int
}

func newSpanReceiver(t *testing.T) *spanReceiver {
	rc := &spanReceiver{spans: map[string][][2]time.Time{}, arrived: map[string]int{}}
	rc.Server = httptest.NewServer(http.HandlerFunc(rc.serve))
	t.Cleanup(rc.Close)
	return rc
}

func (rc *spanReceiver) serve(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	rc.mu.Lock()
	rc.running++
	rc.maxRun = max(rc.maxRun, rc.running)
	rc.mu.Unlock()
	body, _ := io.ReadAll(r.Body)
	id := r.Header.Get("webhook-id")
	ts, _ := strconv.ParseInt(r.Header.Get("webhook-timestamp"), 10, 64)
	secret := rc.secret.Load()
	ok := secret != nil && sinks.Verify(*secret, id, ts, body, r.Header.Get("webhook-signature"))
	if rc.slow.Load() {
		time.Sleep(300 * time.Millisecond) // held, so that the node about to be killed has attempts in flight
	} else if mrand.IntN(4) == 0 {
		time.Sleep(time.Duration(5+mrand.IntN(20)) * time.Millisecond) // a receiver that is slow now and then: attempts are in flight at the kill
	}
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.running--
	d := r.Header.Get("herald-delivery-id")
	rc.spans[d] = append(rc.spans[d], [2]time.Time{start, time.Now()})
	if !ok {
		rc.badSigs++
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	rc.arrived[id]++
}

// overlaps lists deliveries that had two requests running at the same time.
func (rc *spanReceiver) overlaps() []string {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	var out []string
	for d, spans := range rc.spans {
		slices.SortFunc(spans, func(a, b [2]time.Time) int { return a[0].Compare(b[0]) })
		for i := 1; i < len(spans); i++ {
			if spans[i][0].Before(spans[i-1][1]) {
				out = append(out, d)
				break
			}
		}
	}
	return out
}

func (rc *spanReceiver) missing(ids []string) int {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	n := 0
	for _, id := range ids {
		if rc.arrived[id] == 0 {
			n++
		}
	}
	return n
}

func TestMultiNodeKillNineOneOfThree(t *testing.T) {
	dbURL := pgtest.Schema(t)
	bin := buildHerald(t)
	rc := newSpanReceiver(t)
	const perWebhook = 8
	vars := func() map[string]string {
		return map[string]string{
			"HERALD_DATABASE_URL":            dbURL,
			"HERALD_DATA_DIR":                t.TempDir(), // plugins only: the data is in PostgreSQL
			"HERALD_ADMIN_TOKEN":             crashAdminToken,
			"HERALD_ALLOW_HTTP":              "true",
			"HERALD_ALLOW_PRIVATE_NETWORKS":  "true",
			"HERALD_RETRY_SCHEDULE":          "50ms,100ms,200ms,400ms,800ms",
			"HERALD_DELIVERY_TIMEOUT":        "1s",
			"HERALD_PER_WEBHOOK_CONCURRENCY": strconv.Itoa(perWebhook),
		}
	}
	nodes := []*heraldProc{startHerald(t, bin, vars())}
	nodes = append(nodes, startHerald(t, bin, vars()), startHerald(t, bin, vars()))
	_, secret := createHook(t, nodes[0].URL, crashAdminToken, rc.URL)
	rc.secret.Store(&secret)

	const total, clients = 3000, 6
	ids := make([]string, total)
	for i := range ids {
		ids[i] = fmt.Sprintf("mn-%04d", i)
	}
	var dead atomic.Int32
	dead.Store(-1)
	var next, acked atomic.Int64
	killed := make(chan struct{})
	var held []string // deliveries the killed node had claimed
	hc := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: clients}}
	var wg sync.WaitGroup
	for range clients {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= total {
					return
				}
				if i == total/2 {
					held = killWithLeases(t, dbURL, nodes[2], rc)
					dead.Store(2)
					close(killed)
				}
				ev := map[string]any{"id": ids[i], "event": "contact_created",
					"data": map[string]any{"contact": map[string]any{"id": "ct_" + strconv.Itoa(i%50), "name": "Node Test"}}}
				// Round-robin; a request to the dead node (or cut by the kill)
				// is sent again to the next one: ids make that safe.
				for try := 0; ; try++ {
					n := (i + try) % len(nodes)
					if int(dead.Load()) == n {
						continue
					}
					if code, err := api(hc, "POST", nodes[n].URL+"/api/v1/events", crashAdminToken, ev, nil); err == nil && code/100 == 2 {
						acked.Add(1)
						break
					}
					if try > 20 {
						t.Errorf("event %s was not acknowledged by any node", ids[i])
						return
					}
				}
			}
		})
	}
	wg.Wait()
	<-killed
	if acked.Load() != total {
		t.Fatalf("%d of %d events acknowledged", acked.Load(), total)
	}

	// Every event arrives, including those the dead node had claimed (taken
	// over when their lease ran out: 2×timeout + 5 s).
	deadline := time.Now().Add(90 * time.Second)
	for rc.missing(ids) > 0 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond) // poll the receiver while deliveries drain
	}
	if n := rc.missing(ids); n > 0 {
		t.Errorf("%d of %d events never arrived", n, total)
	}
	conn, err := pgx.Connect(context.Background(), dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	// Their requests may have reached the receiver before the kill; they
	// are sent again once the lease runs out, and recorded this time.
	settled := 0
	for settled < len(held) && time.Now().Before(deadline) {
		if err := conn.QueryRow(context.Background(), "SELECT count(*) FROM deliveries WHERE id = ANY($1) AND status = 'succeeded'", held).Scan(&settled); err != nil {
			t.Fatal(err)
		}
		time.Sleep(50 * time.Millisecond) // poll while the leases run out
	}
	if settled != len(held) {
		t.Errorf("%d of the %d deliveries the killed node held were taken over and succeeded", settled, len(held))
	}
	if o := rc.overlaps(); len(o) > 0 {
		t.Errorf("%d deliveries had overlapping attempts, e.g. %s", len(o), o[0])
	}
	rc.mu.Lock()
	if rc.badSigs > 0 {
		t.Errorf("%d requests had a signature that does not verify", rc.badSigs)
	}
	if rc.maxRun > perWebhook {
		t.Errorf("%d requests ran at once; the cap across nodes is %d", rc.maxRun, perWebhook)
	}
	requests, dups := 0, 0
	for _, n := range rc.arrived {
		dups += n - 1
	}
	for _, s := range rc.spans {
		requests += len(s)
	}
	t.Logf("%d events, %d requests, %d duplicates (at least once: the killed node's unrecorded attempts), at most %d at once; %d taken over from the killed node",
		total, requests, dups, rc.maxRun, len(held))
	rc.mu.Unlock()

	// The killed node comes back; it takes no live lease, and every node
	// lists every event.
	nodes[2] = startHerald(t, bin, vars())
	for i, n := range nodes {
		listed := listEventIDs(t, n.URL, crashAdminToken)
		lacking := 0
		for _, id := range ids {
			if !listed[id] {
				lacking++
			}
		}
		if lacking > 0 {
			t.Errorf("node %d: GET /api/v1/events lacks %d of %d events", i, lacking, total)
		}
	}
	for i, n := range nodes {
		if l := n.log.String(); strings.Contains(l, "panic") || strings.Contains(l, "DATA RACE") {
			t.Errorf("node %d logged a panic or race:\n%s", i, l)
		}
		if t.Failed() {
			t.Logf("log of node %d:\n%s", i, n.log.String())
		}
	}
}

// killWithLeases holds the receiver until node p has deliveries in flight
// (its leases in the database), kills it with -9, and returns what it held.
func killWithLeases(t *testing.T, dbURL string, p *heraldProc, rc *spanReceiver) []string {
	var health struct{ Node string }
	if _, err := api(http.DefaultClient, "GET", p.URL+"/healthz", "", nil, &health); err != nil || health.Node == "" {
		t.Errorf("healthz names no node: %v", err)
	}
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		t.Errorf("connect: %v", err)
		return nil
	}
	defer conn.Close(ctx)
	rc.slow.Store(true)
	defer rc.slow.Store(false)
	var held []string
	deadline := time.Now().Add(20 * time.Second)
	for len(held) == 0 && time.Now().Before(deadline) {
		rows, err := conn.Query(ctx, "SELECT id FROM deliveries WHERE status = 'in_flight' AND lease_owner = $1", health.Node)
		if err == nil {
			held, err = pgx.CollectRows(rows, pgx.RowTo[string])
		}
		if err != nil {
			t.Errorf("read leases: %v", err)
			break
		}
		time.Sleep(10 * time.Millisecond) // poll while the node claims
	}
	p.kill() // kill -9, half-way: its requests and attempts are in flight
	if len(held) == 0 {
		t.Errorf("node %s held no delivery when killed: the takeover went untested", health.Node)
	}
	return held
}

func TestMigrateCommandMovesSQLiteToPostgres(t *testing.T) {
	dbURL := pgtest.Schema(t)
	bin := buildHerald(t)
	dir := t.TempDir()
	vars := map[string]string{
		"HERALD_DATA_DIR":               dir,
		"HERALD_ADMIN_TOKEN":            crashAdminToken,
		"HERALD_ALLOW_HTTP":             "true",
		"HERALD_ALLOW_PRIVATE_NETWORKS": "true",
	}
	lite := startHerald(t, bin, vars)
	hookID, _ := createHook(t, lite.URL, crashAdminToken, "http://127.0.0.1:1/unreachable")
	for i := range 20 {
		ev := map[string]any{"id": fmt.Sprintf("mig-%d", i), "event": "contact_created", "data": map[string]any{"contact": map[string]any{"id": "c1"}}}
		if _, err := api(http.DefaultClient, "POST", lite.URL+"/api/v1/events", crashAdminToken, ev, nil); err != nil {
			t.Fatal(err)
		}
	}
	lite.kill()

	cmd := exec.Command(bin, "migrate", "--to", dbURL)
	cmd.Env = heraldEnv(map[string]string{"HERALD_DATA_DIR": dir})
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "20 events") {
		t.Fatalf("herald migrate: %v\n%s", err, out)
	}
	vars["HERALD_DATABASE_URL"] = dbURL
	vars["HERALD_DATA_DIR"] = t.TempDir()
	pg := startHerald(t, bin, vars)
	if got := listEventIDs(t, pg.URL, crashAdminToken); len(got) != 20 {
		t.Fatalf("PostgreSQL node lists %d events, want 20", len(got))
	}
	var h struct{ ID string }
	if _, err := api(http.DefaultClient, "GET", pg.URL+"/api/v1/webhooks/"+hookID, crashAdminToken, nil, &h); err != nil || h.ID != hookID {
		t.Fatalf("webhook not copied: %v", err)
	}
	// A second copy into the same database is refused, touching nothing.
	again := exec.Command(bin, "migrate", "--to", dbURL)
	again.Env = heraldEnv(map[string]string{"HERALD_DATA_DIR": dir})
	if out, err := again.CombinedOutput(); err == nil || !strings.Contains(string(out), "already holds") {
		t.Fatalf("second migrate: %v\n%s", err, out)
	}
}

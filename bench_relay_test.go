package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/herald-webhooks/herald/app"
)

// The relay ceiling: what any service that takes events over HTTP and
// posts each on to a receiver can do on this machine, with the clients,
// bodies and receiver of Herald's own run. It stores, checks and signs
// nothing: it reads the id, answers 202 and hands the body to one of as
// many senders as Herald's cap for one webhook. The raw loopback baseline
// is one exchange; a delivery is two, plus the receiver's work, so Herald's
// figures are best read against this one too.

// benchRelay measures the relay's single-event ingest, its deliveries
// meanwhile and its latency at the steady rate, and adds them to t.
func benchRelay(b *testing.B, t *benchTable, baseline float64) benchRates {
	rc := newBenchReceiver(b, http.StatusOK, true)
	out := make(chan relayed, benchIngestN)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var ev struct{ ID string }
		if err := json.Unmarshal(body, &ev); err != nil || ev.ID == "" {
			http.Error(w, "no id", http.StatusBadRequest)
			return
		}
		out <- relayed{ev.ID, body}
		w.WriteHeader(http.StatusAccepted)
	})}
	go func() { _ = srv.Serve(ln) }()
	defer close(out) // last: no handler runs once the server is closed
	defer srv.Close()
	sender := benchClient()
	for range app.DefaultPerWebhook {
		go func() {
			for ev := range out {
				req, _ := http.NewRequest("POST", rc.URL, bytes.NewReader(ev.body))
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("webhook-id", ev.id)
				if resp, err := sender.Do(req); err == nil {
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
			}
		}()
	}
	url := "http://" + ln.Addr().String()
	client := benchClient()

	t.row("raw relay: reads, answers 202, posts on; stores nothing", "", "", "")
	start := time.Now()
	took := hammer(b, benchIngestN, benchClients, func(i int) error {
		return post(client, url, "", benchBody("relay-"+strconv.Itoa(i), i))
	})
	rc.waitDistinct(b, benchIngestN)
	ingest, deliveries := benchIngestN/took.Seconds(), benchIngestN/time.Since(start).Seconds()
	t.row("  ingest, 64 clients, delivering meanwhile", fmt.Sprintf("%.0f events/s", ingest), fmt.Sprintf("%.2f", ingest/baseline), "")
	t.row("  deliveries, the same events", fmt.Sprintf("%.0f deliveries/s", deliveries), fmt.Sprintf("%.2f", deliveries/baseline), "")
	st := benchSteady(b, client, func(int) string { return url }, "", rc, "relay-steady-", benchIngestN)
	st.row(t, false)
	t.note("relay steady: %s", st)
	b.ReportMetric(ingest/baseline, "relay-ingest-x-baseline")
	return benchRates{ingest: ingest, deliveries: deliveries}
}

type relayed struct {
	id   string
	body []byte
}

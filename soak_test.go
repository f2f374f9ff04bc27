package main

// The soak test (make soak): the real binary takes events from parallel
// clients and is killed with SIGKILL again and again while they post; a
// loopback receiver counts what arrives by webhook-id. It reports what was
// acknowledged, delivered, duplicated and lost; lost must be 0.
//
// By default it runs a short version (500 events, 3 kills); -soak runs the
// full one (10,000 events, 20 kills):
//
//	go test -run TestSoak -soak -v .

import (
	"flag"
	"fmt"
	"math/rand/v2"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

var soakFlag = flag.Bool("soak", false, "TestSoak: the full soak (10,000 events, 20 kill -9 cycles) instead of the short one")

func TestSoakKillNineWhileIngesting(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	events, kills := 500, 3
	if *soakFlag {
		events, kills = 10_000, 20
	}
	began := time.Now()
	bin := buildHerald(t)
	rc := newCrashReceiver(t)
	vars := map[string]string{
		"HERALD_DATA_DIR":               t.TempDir(),
		"HERALD_ADMIN_TOKEN":            crashAdminToken,
		"HERALD_ALLOW_HTTP":             "true",
		"HERALD_ALLOW_PRIVATE_NETWORKS": "true",
		"HERALD_RETRY_SCHEDULE":         "50ms,100ms,200ms,400ms,800ms",
		"HERALD_DELIVERY_TIMEOUT":       "2s",
	}
	p := startHerald(t, bin, vars)
	_, secret := createHook(t, p.URL, crashAdminToken, rc.URL)
	rc.secret.Store(&secret)

	// Every id is posted until some answer acknowledges it; a post cut off
	// by a kill is posted again to the next process, as a client would.
	todo := make([]string, events)
	for i := range todo {
		todo[i] = fmt.Sprintf("soak-%d", i)
	}
	acked := map[string]bool{}
	var posts, refused int
	for round := 0; round <= kills; round++ {
		if round > 0 {
			p = startHerald(t, bin, vars)
		}
		last := round == kills
		// Kill once this round's share is about half to fully acknowledged:
		// clients are still posting, and deliveries are in flight.
		share := len(todo) / (kills - round + 1)
		killAt := share/2 + rand.IntN(share/2+1)
		got, failed, n := soakRound(p, todo, killAt, last)
		posts += n
		refused += len(failed)
		for _, id := range got {
			acked[id] = true
		}
		todo = failed
		t.Logf("round %d: %d acknowledged (%d in all), %d to post again", round, len(got), len(acked), len(todo))
	}
	if len(todo) > 0 || len(acked) != events {
		t.Fatalf("the last process left %d events unacknowledged", len(todo))
	}
	rc.healthy.Store(true)
	deadline := time.Now().Add(3 * time.Minute)
	missing := rc.missing(acked)
	for len(missing) > 0 && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond) // poll the receiver while deliveries drain
		missing = rc.missing(acked)
	}
	stored := listEventIDs(t, p.URL, crashAdminToken)
	notStored := 0
	for id := range acked {
		if !stored[id] {
			notStored++
		}
	}

	rc.mu.Lock()
	delivered, arrivals := len(rc.arrived), 0
	for _, n := range rc.arrived {
		arrivals += n
	}
	badSigs, injected := rc.badSigs, rc.injected
	rc.mu.Unlock()
	t.Logf("soak: %d kill -9 cycles, %d posts: acked %d, delivered %d, duplicated %d, lost %d (not stored %d); %d injected 500s; %s",
		kills, posts, len(acked), delivered, arrivals-delivered, len(missing), notStored, injected, time.Since(began).Round(time.Second))
	if len(missing) > 0 || notStored > 0 {
		t.Errorf("lost %d acknowledged events (%d not stored), e.g. %v", len(missing), notStored, missing[:min(5, len(missing))])
	}
	if badSigs > 0 {
		t.Errorf("%d requests had a signature that does not verify", badSigs)
	}
}

// soakRound posts ids to p from 8 clients. Unless last, it kills p once
// killAt of them are acknowledged. It returns the ids acknowledged, those to
// post again (no answer, or not 2xx), and how many posts it made.
func soakRound(p *heraldProc, ids []string, killAt int, last bool) (got, again []string, posts int) {
	const clients = 8
	work := make(chan string)
	var mu sync.Mutex
	var nAcked, nPosts atomic.Int64
	var wg sync.WaitGroup
	tr := &http.Transport{MaxIdleConnsPerHost: clients}
	hc := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	defer tr.CloseIdleConnections()
	var killOnce sync.Once
	for range clients {
		wg.Go(func() {
			for id := range work {
				nPosts.Add(1)
				ev := map[string]any{"id": id, "event": "contact_created",
					"data": map[string]any{"contact": map[string]any{"id": "ct_" + id, "name": "Soak"}}}
				code, err := api(hc, "POST", p.URL+"/api/v1/events", crashAdminToken, ev, nil)
				mu.Lock()
				if err == nil && code/100 == 2 {
					got = append(got, id)
				} else {
					again = append(again, id)
				}
				mu.Unlock()
				if err == nil && code/100 == 2 && nAcked.Add(1) == int64(killAt) && !last {
					killOnce.Do(p.kill) // SIGKILL mid-load: requests, commits and attempts are all in flight
				}
			}
		})
	}
	for i, id := range ids {
		select {
		case <-p.exited:
			// Killed: what was not sent goes to the next process.
			mu.Lock()
			again = append(again, ids[i:]...)
			mu.Unlock()
			close(work)
			wg.Wait()
			return got, again, int(nPosts.Load())
		case work <- id:
		}
	}
	close(work)
	wg.Wait()
	if !last {
		killOnce.Do(p.kill) // the share ran out first: kill it idle
	}
	return got, again, int(nPosts.Load())
}

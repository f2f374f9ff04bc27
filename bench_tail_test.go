package main

import (
	"cmp"
	"fmt"
	"net/http"
	"slices"
	"time"
)

// The latency tail, explained: for the slowest steady events, where the
// time went, from Herald's own records. A slow tail alone says nothing
// about its cause; these three spans tell a slow commit, a dispatcher that
// did not start the attempt, and a slow connection or receiver apart.
//
//   - read: from the request's send to the event's created_at, set as
//     Herald parsed it (the client, the connection, the HTTP server);
//   - acked: from created_at to the client's receipt of the answer, sent
//     once the event was committed (the writer, the answer's way back);
//   - started: from created_at to the first attempt's started_at (the
//     commit, then waiting for a claim or a free worker);
//   - sent: from started_at to the receiver's first sight of the request
//     (dialling, writing the request).
//
// Herald's times are to the millisecond, so each span is within a
// millisecond or so.

// benchTailN is how many of the slowest events are looked up.
const benchTailN = 20

type tailSpans struct {
	read, acked, started, sent time.Duration
	attempts                   int
}

// tailNote looks up the n slowest of st's events on the node at baseURL
// and says how their time split, on average and at worst.
func (st *steadyRun) tailNote(baseURL string, n int) string {
	order := make([]int, len(st.ids))
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(a, b int) int { return cmp.Compare(st.lat[b], st.lat[a]) })
	order = order[:min(n, len(order))]
	if len(order) == 0 {
		return "tail: no events"
	}
	var sum, worst tailSpans
	for _, i := range order {
		s, err := eventSpans(baseURL, st.ids[i], st.sentAt[i], st.sentAt[i].Add(st.ackIn[i]), st.arrived[i])
		if err != nil {
			return "tail: " + err.Error()
		}
		sum.read += s.read
		sum.acked += s.acked
		sum.started += s.started
		sum.sent += s.sent
		sum.attempts += s.attempts
		worst.read = max(worst.read, s.read)
		worst.acked = max(worst.acked, s.acked)
		worst.started = max(worst.started, s.started)
		worst.sent = max(worst.sent, s.sent)
		worst.attempts = max(worst.attempts, s.attempts)
	}
	avg := func(d time.Duration) float64 { return ms(d) / float64(len(order)) }
	return fmt.Sprintf("slowest %d (%.1f to %.1f ms), avg / max ms: read %.1f / %.1f, acked %.1f / %.1f, attempt started %.1f / %.1f, arrived %.1f / %.1f; attempts %d (most for one: %d)",
		len(order), ms(st.lat[order[len(order)-1]]), ms(st.lat[order[0]]),
		avg(sum.read), ms(worst.read), avg(sum.acked), ms(worst.acked), avg(sum.started), ms(worst.started), avg(sum.sent), ms(worst.sent),
		sum.attempts, worst.attempts)
}

// eventSpans reads one event, its (only) delivery and that delivery's
// first attempt.
func eventSpans(baseURL, id string, sentAt, ackedAt, arrived time.Time) (tailSpans, error) {
	var ev struct {
		CreatedAt  time.Time `json:"created_at"`
		Deliveries []struct {
			ID           string
			AttemptCount int `json:"attempt_count"`
		}
	}
	if _, err := api(http.DefaultClient, "GET", baseURL+"/api/v1/events/"+id, benchToken, nil, &ev); err != nil {
		return tailSpans{}, err
	}
	if len(ev.Deliveries) != 1 {
		return tailSpans{}, fmt.Errorf("event %s has %d deliveries; want 1", id, len(ev.Deliveries))
	}
	var d struct {
		Attempts []struct {
			Number    int
			StartedAt time.Time `json:"started_at"`
		}
	}
	if _, err := api(http.DefaultClient, "GET", baseURL+"/api/v1/deliveries/"+ev.Deliveries[0].ID, benchToken, nil, &d); err != nil {
		return tailSpans{}, err
	}
	if len(d.Attempts) == 0 {
		return tailSpans{}, fmt.Errorf("delivery %s has no attempts", ev.Deliveries[0].ID)
	}
	first := d.Attempts[0].StartedAt
	for _, a := range d.Attempts {
		if a.StartedAt.Before(first) {
			first = a.StartedAt
		}
	}
	return tailSpans{
		read:     ev.CreatedAt.Sub(sentAt),
		acked:    ackedAt.Sub(ev.CreatedAt),
		started:  first.Sub(ev.CreatedAt),
		sent:     arrived.Sub(first),
		attempts: ev.Deliveries[0].AttemptCount,
	}, nil
}

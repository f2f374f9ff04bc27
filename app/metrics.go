package app

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// Metrics are Herald's Prometheus series, on their own registry.
type Metrics struct {
	Registry   *prometheus.Registry
	ingested   *prometheus.CounterVec
	deliveries *prometheus.CounterVec
	attempts   *prometheus.CounterVec
	latency    *prometheus.HistogramVec
	reconciled *prometheus.CounterVec
}

func newMetrics(store Store) *Metrics {
	m := &Metrics{
		Registry: prometheus.NewRegistry(),
		ingested: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "herald_events_ingested_total", Help: "Events acknowledged by the ingest API, by event type.",
		}, []string{"event"}),
		deliveries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "herald_deliveries_total", Help: "Deliveries that reached an outcome: succeeded, or failed after their last try.",
		}, []string{"sink", "outcome"}),
		attempts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "herald_delivery_attempts_total", Help: "Delivery attempts by sink and outcome: succeeded, retry (failed, will be tried again) or failed (no more tries).",
		}, []string{"sink", "outcome"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "herald_attempt_duration_seconds", Help: "How long delivery attempts took.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, []string{"sink"}),
		reconciled: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "herald_reconcile_repairs_total", Help: "What reconciliation repaired, by kind.",
		}, []string{"kind"}),
	}
	queue := func(status string) prometheus.GaugeFunc {
		return prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "herald_queue_depth", Help: "Deliveries waiting (pending: not yet attempted or retrying) or being attempted (in_flight).",
			ConstLabels: prometheus.Labels{"status": status},
		}, func() float64 {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			p, f, err := store.QueueDepth(ctx)
			if err != nil {
				return -1
			}
			if status == StatusPending {
				return float64(p)
			}
			return float64(f)
		})
	}
	// So the series exist (at 0) before the first attempt or repair.
	for _, sink := range []string{"webhook", "slack", "plugin"} {
		m.latency.WithLabelValues(sink)
	}
	for _, kind := range []string{"requeued", "gap_filled", "source_ingested", "replayed", "caught_up", "disabled", "pruned_events"} {
		m.reconciled.WithLabelValues(kind)
	}
	size := func(file string, pick func(wal, db int64) int64) prometheus.GaugeFunc {
		return prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "herald_database_bytes", Help: "Size of the database file (db) and of its write-ahead log (wal), in bytes.",
			ConstLabels: prometheus.Labels{"file": file},
		}, func() float64 { return float64(pick(store.Sizes())) })
	}
	m.Registry.MustRegister(m.ingested, m.deliveries, m.attempts, m.latency, m.reconciled, queue(StatusPending), queue(StatusInFlight),
		size("db", func(_, db int64) int64 { return db }), size("wal", func(wal, _ int64) int64 { return wal }),
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

func (m *Metrics) observeAttempt(sink, status string, d time.Duration) {
	outcome := status
	if status == StatusRetrying {
		outcome = "retry"
	} else {
		m.deliveries.WithLabelValues(sink, outcome).Inc()
	}
	m.attempts.WithLabelValues(sink, outcome).Inc()
	m.latency.WithLabelValues(sink).Observe(d.Seconds())
}

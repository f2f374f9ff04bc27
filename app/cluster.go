package app

import (
	"context"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/herald-webhooks/herald/app/store"
)

// runExclusive runs fn on this node alone when the store is shared by
// several nodes (PostgreSQL), else just runs it. ran is false when another
// node holds the job.
func runExclusive(ctx context.Context, st Store, job string, fn func() error) (ran bool, err error) {
	if ex, ok := st.(store.Exclusive); ok {
		return ex.TryExclusive(ctx, job, fn)
	}
	return true, fn()
}

// registerNodeInfo adds herald_node_info{node, engine} = 1, so that series
// scraped through a load balancer say which node answered.
func registerNodeInfo(m *Metrics, st Store) {
	g := prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "herald_node_info", Help: "This node's id and database engine (always 1).",
		ConstLabels: prometheus.Labels{"node": store.NodeID(st), "engine": store.Engine(st)},
	})
	g.Set(1)
	m.Registry.MustRegister(g)
}

package app

import (
	"slices"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/herald-webhooks/herald/app/store"
)

// statsWindow is one choice of GET /stats?window=: how far back, in how
// many bars. About 50 bars stay readable on a 390 px phone.
type statsWindow struct {
	width time.Duration
	n     int
}

var statsWindows = map[string]statsWindow{
	"1h":  {time.Minute, 60},
	"24h": {30 * time.Minute, 48},
	"7d":  {3 * time.Hour, 56},
}

type statsBucketJSON struct {
	Start     string `json:"start"`
	Succeeded int    `json:"succeeded"`
	Failed    int    `json:"failed"`
	Retried   int    `json:"retried"`
	P50MS     int64  `json:"p50_ms"`
	P99MS     int64  `json:"p99_ms"`
}

type statsJSON struct {
	Window        string            `json:"window"`
	WebhookID     string            `json:"webhook_id"`
	BucketSeconds int               `json:"bucket_seconds"`
	Buckets       []statsBucketJSON `json:"buckets"`
}

// handleStats feeds the charts: deliveries (not attempts) per bucket, by
// when they were created, with the latency of those that succeeded.
func (a *App) handleStats(c *fiber.Ctx) error {
	if err := onlyQuery(c, "webhook_id", "window"); err != nil {
		return err
	}
	name := "24h"
	if c.Context().QueryArgs().Has("window") {
		name = c.Query("window")
	}
	win, ok := statsWindows[name]
	if !ok {
		return invalid("window", "window must be 1h, 24h or 7d")
	}
	webhookID := c.Query("webhook_id")
	if webhookID != "" {
		if _, err := a.store.FindWebhookByID(c.UserContext(), webhookID); err != nil {
			return err
		}
	}
	w := win.width.Milliseconds()
	end := (a.store.NowMS()/w + 1) * w // the last bucket holds now
	buckets, err := a.store.DeliveryStats(c.UserContext(), webhookID, end-int64(win.n)*w, win.width, win.n)
	if err != nil {
		return err
	}
	out := statsJSON{Window: name, WebhookID: webhookID, BucketSeconds: int(win.width.Seconds()), Buckets: make([]statsBucketJSON, len(buckets))}
	for i, b := range buckets {
		out.Buckets[i] = statsBucketJSON{Start: store.FormatTime(b.Start), Succeeded: b.Succeeded, Failed: b.Failed, Retried: b.Retried, P50MS: b.P50MS, P99MS: b.P99MS}
	}
	return c.JSON(out)
}

// onlyQuery answers 422 for a query parameter the endpoint does not take.
func onlyQuery(c *fiber.Ctx, allowed ...string) error {
	var bad string
	c.Context().QueryArgs().VisitAll(func(k, _ []byte) {
		if bad == "" && !slices.Contains(allowed, string(k)) {
			bad = string(k)
		}
	})
	if bad != "" {
		return invalid(bad, "unknown query parameter %q", bad)
	}
	return nil
}

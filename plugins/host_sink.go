package plugins

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/herald-webhooks/herald/sinks"
)

// Sink returns the "plugin" sink: it delivers req.Envelope with
// req.Target.Config to the plugin named req.Target.Plugin. It also
// implements sinks.Validator.
func (h *Host) Sink() sinks.Sink { return hostSink{h: h} }

type hostSink struct{ h *Host }

// NotInstalledWait is how long a delivery to a plugin that is not installed
// waits before it looks again (POST /api/v1/plugins/reload wakes it sooner).
const NotInstalledWait = 30 * time.Second

func (s hostSink) Deliver(ctx context.Context, req *sinks.Request) (sinks.Result, error) {
	return sinks.Result{}, s.h.deliver(ctx, req)
}

func (s hostSink) Validate(t sinks.Target) error { return s.h.Validate(t) }

// deliver makes one attempt. A missing, crashed or restarting plugin is a
// retryable error, so deliveries wait for it instead of being lost.
func (h *Host) deliver(ctx context.Context, req *sinks.Request) error {
	name := req.Target.Plugin
	if name == "" {
		return sinks.Permanent(errors.New("plugin: the webhook names no plugin"))
	}
	body := req.Body
	if len(body) == 0 {
		var err error
		if body, err = json.Marshal(req.Envelope); err != nil {
			return sinks.Permanent(fmt.Errorf("plugin %s: encode envelope: %w", name, err))
		}
	}
	p, err := h.lookup(name)
	if err != nil {
		// Not installed (any more): wait for it without using up retries.
		return sinks.Unavailable(fmt.Errorf("plugin %s: %w", name, err), NotInstalledWait)
	}
	ctx, cancel := context.WithTimeout(ctx, h.timeout)
	defer cancel()
	rpc, err := p.get(ctx)
	if err != nil {
		return fmt.Errorf("plugin %s: %w", name, err)
	}
	if err := rpc.deliver(ctx, body, req.Target.Config); err != nil {
		if connectionLost(err) {
			p.markBroken(rpc)
		}
		return fmt.Errorf("plugin %s: %w", name, err)
	}
	p.succeeded()
	return nil
}

// Validate checks a webhook's plugin settings when it is saved: the plugin
// must be installed and must accept the config. Errors are
// *sinks.ValidationError on "plugin", "config" or "config.<key>".
func (h *Host) Validate(t sinks.Target) error {
	if t.Plugin == "" {
		return &sinks.ValidationError{Field: "plugin", Message: "is required"}
	}
	p, err := h.lookup(t.Plugin)
	if err != nil {
		return &sinks.ValidationError{Field: "plugin", Message: err.Error()}
	}
	ctx, cancel := context.WithTimeout(context.Background(), h.timeout)
	defer cancel()
	rpc, err := p.get(ctx)
	if err != nil {
		return &sinks.ValidationError{Field: "plugin", Message: fmt.Sprintf("plugin %s is not available: %v", t.Plugin, err)}
	}
	if err := rpc.validate(ctx, t.Config); err != nil {
		return err
	}
	p.succeeded()
	return nil
}

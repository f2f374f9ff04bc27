package plugins

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/herald-webhooks/herald/plugins/sdk/protocol"
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

// sharedCrashWait is how soon a delivery that was in flight at a crash,
// with others, is sent again (alone). The plugin restarts at once.
const sharedCrashWait = 100 * time.Millisecond

func (s hostSink) Deliver(ctx context.Context, req *sinks.Request) (sinks.Result, error) {
	return s.h.deliver(ctx, req)
}

func (s hostSink) Validate(t sinks.Target) error { return s.h.Validate(t) }

// deliver makes one attempt. Errors start with "plugin <name>: " and carry
// no secret config value. A delivery that never reached the plugin (it is
// missing, starting, or the event waited its turn too long) is
// sinks.Unavailable: it waits without using up a retry.
func (h *Host) deliver(ctx context.Context, req *sinks.Request) (sinks.Result, error) {
	name := req.Target.Plugin
	if name == "" {
		return sinks.Result{}, sinks.Permanent(errors.New("plugin: the webhook names no plugin"))
	}
	body := req.Body
	if len(body) == 0 {
		var err error
		if body, err = json.Marshal(req.Envelope); err != nil {
			return sinks.Result{}, sinks.Permanent(fmt.Errorf("plugin %s: encode envelope: %w", name, err))
		}
	}
	p, err := h.lookup(name)
	if err != nil {
		// Not installed (any more): wait for it without using up retries.
		return sinks.Result{}, sinks.Unavailable(fmt.Errorf("plugin %s: %w", name, err), NotInstalledWait)
	}
	secrets := secretValues(p.fields(), req.Target.Config)
	p.secrets.add(secrets)
	key := req.DeliveryID
	if key == "" {
		key = req.Envelope.ID
	}
	ctx, cancel := context.WithTimeout(ctx, h.timeout)
	defer cancel()
	res, err := p.deliver(ctx, key, body, req.Target.Config)
	if err != nil {
		err = &redactedError{msg: sinks.Redact(fmt.Sprintf("plugin %s: %v", name, err), secrets...), err: err}
	}
	return res, err
}

// redactedError shows a scrubbed message but keeps the classification.
type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }

// deliver sends one event, in turn with the others or alone if it was in
// flight at a crash, and retries on a new process a call that never
// reached the old one.
func (p *instance) deliver(ctx context.Context, key string, body []byte, config map[string]any) (sinks.Result, error) {
	leave, err := p.gate.enter(ctx, p.strikes.count(key) > 0)
	if err != nil {
		return sinks.Result{}, sinks.Unavailable(errors.New("not sent: it waited too long for its turn to go alone after a crash"), time.Second)
	}
	defer leave()
	for {
		proc, err := p.get(ctx)
		if err != nil {
			var nr *notReadyError
			wait := time.Second
			if errors.As(err, &nr) {
				wait = nr.wait
			}
			return sinks.Result{}, sinks.Unavailable(fmt.Errorf("not sent: %w", err), wait)
		}
		res, err := proc.rpc.Deliver(ctx, protocol.DeliverRequest{Envelope: body, Config: config})
		// A lost connection retires the process before this call stops
		// counting as in flight on it: the calls in flight at its end
		// decide whether a crash was this call's alone. (Counted after, a
		// crash that two calls shared looked like each one's own to
		// whichever of them came second, and a healthy event was charged.)
		switch {
		case err == nil:
		case neverSent(err) && ctx.Err() == nil:
			p.died(proc, "the plugin process is gone")
		case connectionLost(err):
			p.died(proc, "the connection broke during a call")
		}
		p.callDone(proc, err)
		if err == nil {
			return p.outcome(key, res)
		}
		if neverSent(err) && ctx.Err() == nil {
			continue // to the new process
		}
		ended, alone := p.endedBy(proc)
		switch ended {
		case endDied:
			return sinks.Result{}, p.crashed(key, "the plugin process died while delivering this event", alone)
		case endHung:
			return sinks.Result{}, errors.New("no answer: the plugin stopped answering and was restarted")
		case endStopped:
			return sinks.Result{}, sinks.Unavailable(errors.New("the plugin was stopped (reload or shutdown) during the call"), time.Second)
		}
		return sinks.Result{}, callError(err)
	}
}

// crashed counts a crash against the delivery key. A crash the call was
// alone for is surely its own and charged; one shared with other calls is
// not charged, and the event is sent again alone to find out. The
// maxCrashes-th crash fails the delivery for good.
func (p *instance) crashed(key, what string, alone bool) error {
	n := p.strikes.add(key)
	switch {
	case n >= maxCrashes:
		p.strikes.clear(key)
		p.log.Warn("Plugin crashed on the same delivery again; failing it", "delivery", key, "crashes", n)
		return sinks.Permanent(fmt.Errorf("%s (%d times)", crashReason, n))
	case !alone:
		return sinks.Unavailable(fmt.Errorf("%s, with other calls in flight; not counted: it is sent again alone", what), sharedCrashWait)
	}
	return fmt.Errorf("%s (crash %d; it fails at %d)", what, n, maxCrashes)
}

// outcome turns the plugin's answer into the sinks result and error.
func (p *instance) outcome(key string, res protocol.Result) (sinks.Result, error) {
	out := sinks.Result{StatusCode: res.StatusCode}
	if res.Body != "" {
		out.Body = []byte(res.Body)
	}
	if res.Outcome == protocol.OutcomePanic {
		return out, p.crashed(key, "the plugin panicked while delivering this event: "+res.Error, true)
	}
	p.strikes.clear(key)
	msg := res.Error
	if msg == "" {
		msg = "failed"
	}
	switch res.Outcome {
	case protocol.OutcomeOK:
		return out, nil
	case protocol.OutcomePermanent:
		return out, sinks.Permanent(errors.New(msg))
	case protocol.OutcomeGone:
		return out, sinks.Gone(errors.New(msg))
	case protocol.OutcomeRetry:
		if res.RetryAfterMS > 0 {
			return out, sinks.RetryAfter(errors.New(msg), time.Duration(res.RetryAfterMS)*time.Millisecond)
		}
		return out, errors.New(msg)
	}
	return out, fmt.Errorf("unknown outcome %q: %s", res.Outcome, msg)
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
	proc, err := p.get(ctx)
	if err != nil {
		return &sinks.ValidationError{Field: "plugin", Message: fmt.Sprintf("plugin %s is not available: %v", t.Plugin, err)}
	}
	secrets := secretValues(p.fields(), t.Config)
	p.secrets.add(secrets)
	// Checked here too, so plugins built for protocol 1 refuse unknown keys.
	err = protocol.CheckConfig(p.fields(), t.Config)
	if err == nil {
		err = proc.rpc.Validate(ctx, t.Config)
	}
	var fe *protocol.FieldError
	switch {
	case err == nil:
		p.callDone(proc, nil)
		return nil
	case errors.As(err, &fe):
		p.callDone(proc, nil)
		field := "config"
		if fe.Field != "" {
			field += "." + fe.Field
		}
		return &sinks.ValidationError{Field: field, Message: sinks.Redact(fe.Message, secrets...)}
	}
	p.callDone(proc, err)
	if connectionLost(err) {
		p.died(proc, "the connection broke during a call")
	}
	return &sinks.ValidationError{Field: "plugin", Message: sinks.Redact(fmt.Sprintf("the plugin could not check the config: %v", callError(err)), secrets...)}
}

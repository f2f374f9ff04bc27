package plugins

import (
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-plugin"
	"github.com/herald-webhooks/herald/sinks"
)

// fakeSink behaves as config["mode"] says, so each case exercises one
// outcome across the gRPC hop.
type fakeSink struct {
	release chan struct{} // closed at cleanup to free calls that block
	got     chan delivery
}

type delivery struct {
	env    sinks.Envelope
	config map[string]any
}

func newFakeSink(t *testing.T) *fakeSink {
	f := &fakeSink{release: make(chan struct{}), got: make(chan delivery, 16)}
	t.Cleanup(func() { close(f.release) })
	return f
}

func (f *fakeSink) Describe() Info {
	return Info{
		Name:        "fake",
		Version:     "0.1.0",
		Description: "A sink that does what it is told.",
		Fields: []Field{
			{Name: "mode", Type: FieldString, Description: "what to do"},
			{Name: "url", Type: FieldString, Required: true},
			{Name: "token", Type: FieldSecret},
			{Name: "retries", Type: FieldNumber},
			{Name: "verbose", Type: FieldBool},
		},
	}
}

func (f *fakeSink) Validate(config map[string]any) error {
	switch config["url"] {
	case "reject-field":
		return &sinks.ValidationError{Field: "url", Message: "must be https"}
	case "reject":
		return errors.New("not today")
	}
	return nil
}

func (f *fakeSink) Deliver(_ context.Context, env sinks.Envelope, config map[string]any) error {
	switch config["mode"] {
	case "permanent":
		return Permanent(errors.New("bad request"))
	case "gone":
		return Gone(errors.New("channel deleted"))
	case "retry":
		return errors.New("upstream busy")
	case "retry_after":
		return RetryAfter(errors.New("slow down"), 3*time.Second)
	case "block":
		<-f.release // ignores ctx on purpose: the host must not wait for it
		return nil
	}
	f.got <- delivery{env: env, config: config}
	return nil
}

// connect serves impl in process over go-plugin's gRPC test connection.
func connect(t *testing.T, impl Sink) *sinkClient {
	t.Helper()
	c, s := plugin.TestPluginGRPCConn(t, false, pluginSets(impl)[ProtocolVersion])
	t.Cleanup(func() {
		// Stop the server first: the client's Close asks the server to stop
		// itself, and go-plugin's GRPCServer.Stop is not safe to run twice
		// at once.
		s.Stop()
		_ = c.Close()
	})
	raw, err := c.Dispense(pluginKey)
	if err != nil {
		t.Fatalf("dispense: %v", err)
	}
	return raw.(*sinkClient)
}

func TestProtocolDeliver(t *testing.T) {
	fake := newFakeSink(t)
	rpc := connect(t, fake)
	body := []byte(`{"id":"evt_1","event":"contact_created","timestamp":"2026-11-27T08:00:00.123Z","data":{"contact":{"id":"c_1","name":"Ana"}}}`)

	tests := []struct {
		name          string
		mode          string
		timeout       time.Duration
		wantErr       string
		wantPermanent bool
		wantGone      bool
		wantAfter     time.Duration
	}{
		{name: "a success returns no error", mode: ""},
		{name: "a permanent error stays permanent across the wire", mode: "permanent", wantErr: "bad request", wantPermanent: true},
		{name: "a gone error stays gone across the wire", mode: "gone", wantErr: "channel deleted", wantPermanent: true, wantGone: true},
		{name: "a plain error is retryable", mode: "retry", wantErr: "upstream busy"},
		{name: "a retry-after error keeps its delay", mode: "retry_after", wantErr: "slow down", wantAfter: 3 * time.Second},
		{name: "a call that blocks past its deadline returns promptly and retryable", mode: "block", timeout: 200 * time.Millisecond, wantErr: "no answer before the deadline"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			timeout := tt.timeout
			if timeout == 0 {
				timeout = 5 * time.Second
			}
			ctx, cancel := context.WithTimeout(t.Context(), timeout)
			defer cancel()
			start := time.Now()
			err := rpc.deliver(ctx, body, map[string]any{"mode": tt.mode, "n": 2.5})
			if elapsed := time.Since(start); elapsed > timeout+2*time.Second {
				t.Fatalf("deliver took %s with a %s deadline", elapsed, timeout)
			}
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("deliver: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("error = %v, want one containing %q", err, tt.wantErr)
			}
			permanent, gone, after := sinks.Classify(err)
			if permanent != tt.wantPermanent || gone != tt.wantGone || after != tt.wantAfter {
				t.Errorf("Classify = (permanent %v, gone %v, after %s), want (%v, %v, %s)",
					permanent, gone, after, tt.wantPermanent, tt.wantGone, tt.wantAfter)
			}
		})
	}

	t.Run("the plugin gets the envelope and config as sent", func(t *testing.T) {
		select {
		case d := <-fake.got:
			want := sinks.Envelope{ID: "evt_1", Event: "contact_created", Timestamp: "2026-11-27T08:00:00.123Z",
				Data: json.RawMessage(`{"contact":{"id":"c_1","name":"Ana"}}`)}
			if !reflect.DeepEqual(d.env, want) {
				t.Errorf("envelope = %+v\nwant %+v", d.env, want)
			}
			if !reflect.DeepEqual(d.config, map[string]any{"mode": "", "n": 2.5}) {
				t.Errorf("config = %v", d.config)
			}
		default:
			t.Fatal("the successful delivery never reached the plugin")
		}
	})
}

func TestProtocolDescribe(t *testing.T) {
	rpc := connect(t, newFakeSink(t))
	info, err := rpc.describe(t.Context())
	if err != nil {
		t.Fatalf("describe: %v", err)
	}
	want := (&fakeSink{}).Describe()
	want.Fields[2].Secret = true // secret-typed fields are flagged for the UI
	if !reflect.DeepEqual(info, want) {
		t.Errorf("info = %+v\nwant %+v", info, want)
	}
}

func TestProtocolValidate(t *testing.T) {
	rpc := connect(t, newFakeSink(t))
	tests := []struct {
		name      string
		config    map[string]any
		wantField string // empty: valid
		wantMsg   string
	}{
		{name: "a complete config is accepted", config: map[string]any{"url": "https://x", "retries": 3.0, "verbose": true}},
		{name: "a missing required field is named", config: map[string]any{}, wantField: "config.url", wantMsg: "is required"},
		{name: "an empty required field is named", config: map[string]any{"url": ""}, wantField: "config.url", wantMsg: "is required"},
		{name: "a string where a number belongs is refused", config: map[string]any{"url": "x", "retries": "3"}, wantField: "config.retries", wantMsg: "must be a number"},
		{name: "a number where a bool belongs is refused", config: map[string]any{"url": "x", "verbose": 1.0}, wantField: "config.verbose", wantMsg: "must be a bool"},
		{name: "a plugin can point at the field it rejects", config: map[string]any{"url": "reject-field"}, wantField: "config.url", wantMsg: "must be https"},
		{name: "a plain rejection points at the whole config", config: map[string]any{"url": "reject"}, wantField: "config", wantMsg: "not today"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := rpc.validate(t.Context(), tt.config)
			if tt.wantField == "" {
				if err != nil {
					t.Fatalf("validate: %v", err)
				}
				return
			}
			var ve *sinks.ValidationError
			if !errors.As(err, &ve) {
				t.Fatalf("error = %v (%T), want *sinks.ValidationError", err, err)
			}
			if ve.Field != tt.wantField || ve.Message != tt.wantMsg {
				t.Errorf("got %q %q, want %q %q", ve.Field, ve.Message, tt.wantField, tt.wantMsg)
			}
		})
	}

	t.Run("an unreachable plugin is reported on the plugin field", func(t *testing.T) {
		c, s := plugin.TestPluginGRPCConn(t, false, pluginSets(newFakeSink(t))[ProtocolVersion])
		raw, err := c.Dispense(pluginKey)
		if err != nil {
			t.Fatal(err)
		}
		s.Stop()
		_ = c.Close()
		ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
		defer cancel()
		err = raw.(*sinkClient).validate(ctx, map[string]any{"url": "x"})
		var ve *sinks.ValidationError
		if !errors.As(err, &ve) || ve.Field != "plugin" {
			t.Fatalf("error = %v, want a ValidationError on plugin", err)
		}
	})
}

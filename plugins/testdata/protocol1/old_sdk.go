package main

import (
	"context"
	"time"

	"github.com/hashicorp/go-plugin"
	"github.com/herald-webhooks/herald/sinks"
)

// Sink is what a plugin author implements.
type Sink interface {
	// Describe says who the plugin is and which config fields it takes;
	// Herald lists it at GET /api/v1/plugins and the UI builds forms from it.
	Describe() Info
	// Validate is called when a webhook using the plugin is saved. Required
	// fields and field types from Describe are checked before it is called.
	// Return a *sinks.ValidationError with Field set to a config key to
	// point the user at it; any other error points at the whole config.
	Validate(config map[string]any) error
	// Deliver sends one event. Errors are retried on Herald's schedule
	// unless wrapped with Permanent or Gone. A delivery may arrive more than
	// once (at least once): env.ID is stable and can be used to deduplicate.
	Deliver(ctx context.Context, env sinks.Envelope, config map[string]any) error
}

// Info describes a plugin.
type Info struct {
	Name        string  `json:"name"`
	Version     string  `json:"version"`
	Description string  `json:"description"`
	Fields      []Field `json:"fields"`
}

// Field is one config setting a plugin takes.
type Field struct {
	Name        string `json:"name"`
	Type        string `json:"type"` // FieldString, FieldNumber, FieldBool or FieldSecret
	Description string `json:"description"`
	Required    bool   `json:"required"`
	Secret      bool   `json:"secret"` // never shown back or logged
}

// Field types. A secret is a string the UI masks.
const (
	FieldString = "string"
	FieldNumber = "number"
	FieldBool   = "bool"
	FieldSecret = "secret"
)

// Serve runs impl as a Herald sink plugin. Call it from main; it returns
// only when Herald stops the plugin.
func Serve(impl Sink) {
	plugin.Serve(&plugin.ServeConfig{
		HandshakeConfig:  handshake(),
		VersionedPlugins: pluginSets(impl),
		GRPCServer:       plugin.DefaultGRPCServer,
	})
}

// Permanent marks a Deliver error as not worth retrying (a bad request,
// rejected credentials). Errors are retryable unless marked.
func Permanent(err error) error { return sinks.Permanent(err) }

// Gone marks a Deliver error as a target that no longer exists: the
// delivery fails and Herald disables the webhook.
func Gone(err error) error { return sinks.Gone(err) }

// RetryAfter marks a Deliver error as retryable no sooner than d (the far
// side answered 429 with Retry-After, for instance).
func RetryAfter(err error, d time.Duration) error { return sinks.RetryAfter(err, d) }

// describe returns impl's Info with secret-typed fields flagged secret and
// a non-nil field list, so every host and UI sees the same shape.
func describe(impl Sink) Info {
	info := impl.Describe()
	fields := make([]Field, 0, len(info.Fields))
	for _, f := range info.Fields {
		if f.Type == FieldSecret {
			f.Secret = true
		}
		fields = append(fields, f)
	}
	info.Fields = fields
	return info
}

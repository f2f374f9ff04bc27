// Package sdk is what a Herald sink plugin imports. A plugin is a small
// program that implements Sink and calls Serve from main:
//
//	type chat struct{}
//
//	func (chat) Describe() sdk.Info {
//		return sdk.Info{Name: "chat", Version: "1.0.0", Fields: []sdk.Field{
//			{Name: "url", Type: sdk.FieldSecret, Required: true, Description: "Incoming webhook URL"},
//		}}
//	}
//
//	func (chat) Validate(cfg sdk.Config) error { return sdk.CheckURL("url", cfg.String("url")) }
//
//	func (chat) Deliver(ctx context.Context, env sdk.Envelope, cfg sdk.Config) error {
//		return sdk.PostJSON(ctx, cfg.String("url"), map[string]string{"text": env.Event})
//	}
//
//	func main() { sdk.Serve(chat{}) }
//
// Build it as herald-sink-<name> and put it in Herald's plugin folder. See
// plugins/README.md in the Herald repository for the whole story.
package sdk

import (
	"context"

	"github.com/hashicorp/go-plugin"
	"github.com/herald-webhooks/herald/plugins/sdk/protocol"
)

// Sink is what a plugin implements.
type Sink interface {
	// Describe says who the plugin is and which config fields it takes.
	// Herald lists it at GET /api/v1/plugins and the UI builds a form from it.
	Describe() Info
	// Validate is called when a webhook using the plugin is saved. Required
	// fields, field types and unknown keys are checked before it is called.
	// Return a *ValidationError to point the user at one field.
	Validate(cfg Config) error
	// Deliver sends one event. Errors are retried on Herald's schedule
	// unless wrapped with Permanent or Gone; RetryAfter sets the next try.
	// An event may arrive more than once: env.ID is stable across retries.
	// ctx ends at the delivery timeout; pass it to HTTP requests.
	Deliver(ctx context.Context, env Envelope, cfg Config) error
}

// Info describes a plugin.
type Info struct {
	Name        string // should match the file name herald-sink-<Name>
	Version     string
	Description string
	Fields      []Field
}

// Field is one config setting a plugin takes.
type Field struct {
	Name        string
	Type        string // FieldString, FieldNumber, FieldBool or FieldSecret
	Description string
	Required    bool
}

// Field types. A secret is a string that Herald never shows back in full
// and removes from error messages.
const (
	FieldString = "string"
	FieldNumber = "number"
	FieldBool   = "bool"
	FieldSecret = "secret"
)

// Serve runs s as a Herald sink plugin. Call it from main; it returns only
// when Herald stops the plugin.
func Serve(s Sink) {
	plugin.Serve(&plugin.ServeConfig{
		HandshakeConfig:  protocol.Handshake(),
		VersionedPlugins: protocol.PluginSets(handler{s}),
		GRPCServer:       plugin.DefaultGRPCServer,
	})
}

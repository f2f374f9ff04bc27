// Package protocol is the wire contract between Herald and its sink plugins:
// the go-plugin handshake, the gRPC services of each protocol version, and
// the messages they carry. Plugin authors use package sdk, which serves it;
// Herald's plugin host uses the Client here. sink.proto documents the same
// wire format for plugins written in other languages.
package protocol

import (
	"context"
	"errors"

	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"
)

// Protocol versions. Version 1 is the original protocol; version 2 adds the
// far side's status code and response excerpt to Deliver's answer. Both
// sides offer every version they speak and go-plugin picks the highest
// common one, so plugins built for version 1 keep working.
const (
	Version1 = 1
	Version2 = 2
)

// The handshake is not security: it only stops a plugin binary from being
// run by hand or by another go-plugin host by mistake.
const (
	MagicCookieKey   = "HERALD_PLUGIN"
	MagicCookieValue = "herald-sink-b7f3c2e1"
)

// The operator's URL policy, passed to plugin processes in the environment
// as "true" or "false".
const (
	EnvAllowHTTP    = "HERALD_ALLOW_HTTP"
	EnvAllowPrivate = "HERALD_ALLOW_PRIVATE_NETWORKS"
)

// PluginKey is the name the sink is dispensed under in every plugin set.
const PluginKey = "sink"

// MaxResponseBody is how much of the far side's answer a plugin reports.
const MaxResponseBody = 16 << 10

// Handshake is the go-plugin handshake shared by Herald and plugins. Its
// ProtocolVersion is only the fallback for peers that don't list versions.
func Handshake() plugin.HandshakeConfig {
	return plugin.HandshakeConfig{
		ProtocolVersion:  Version1,
		MagicCookieKey:   MagicCookieKey,
		MagicCookieValue: MagicCookieValue,
	}
}

// PluginSets maps each protocol version to what is served under it. A
// plugin passes its Handler; the host passes nil.
func PluginSets(h Handler) map[int]plugin.PluginSet {
	return map[int]plugin.PluginSet{
		Version1: {PluginKey: &grpcPlugin{version: Version1, h: h}},
		Version2: {PluginKey: &grpcPlugin{version: Version2, h: h}},
	}
}

// Handler is what a plugin process serves, in Go terms; package sdk adapts
// an author's Sink to it.
type Handler interface {
	Describe() Info
	// Validate returns nil, a *FieldError naming the offending key, or any
	// other error to reject the whole config.
	Validate(ctx context.Context, config map[string]any) error
	Deliver(ctx context.Context, req DeliverRequest) Result
}

// grpcPlugin binds one protocol version's service to go-plugin. net/rpc is
// not offered.
type grpcPlugin struct {
	plugin.NetRPCUnsupportedPlugin
	version int
	h       Handler
}

func (p *grpcPlugin) GRPCServer(_ *plugin.GRPCBroker, s *grpc.Server) error {
	if p.h == nil {
		return errors.New("no handler to serve")
	}
	s.RegisterService(serviceDesc(p.version), &server{version: p.version, h: p.h})
	return nil
}

func (p *grpcPlugin) GRPCClient(_ context.Context, _ *plugin.GRPCBroker, c *grpc.ClientConn) (any, error) {
	return &Client{conn: c, version: p.version}, nil
}

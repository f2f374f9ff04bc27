// The old package plugins ran external sink plugins: executables named
// herald-sink-<name> that Herald starts with hashicorp/go-plugin and talks to
// over gRPC. It holds the three parts both sides share or need: the protocol
// (handshake, plugin map, gRPC service), the SDK a plugin author calls
// (Sink, Serve, Permanent), and the Host that adapts plugins to sinks.Sink.
package main

import (
	"context"
	"errors"

	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"
)

// ProtocolVersion is the plugin protocol this build speaks. A later version
// is added as another entry in pluginSets, so old plugins keep working.
const ProtocolVersion = 1

// The handshake is not security: it only stops a plugin binary from being
// run by hand or by another go-plugin host by mistake.
const (
	MagicCookieKey   = "HERALD_PLUGIN"
	MagicCookieValue = "herald-sink-b7f3c2e1"
)

// pluginKey is the name the sink is dispensed under in the plugin set.
const pluginKey = "sink"

// handshake is the go-plugin handshake shared by the host and plugins.
func handshake() plugin.HandshakeConfig {
	return plugin.HandshakeConfig{
		ProtocolVersion:  ProtocolVersion,
		MagicCookieKey:   MagicCookieKey,
		MagicCookieValue: MagicCookieValue,
	}
}

// pluginSets maps each protocol version to what is served under it. The
// host passes a nil impl; a plugin passes its Sink.
func pluginSets(impl Sink) map[int]plugin.PluginSet {
	return map[int]plugin.PluginSet{
		1: {pluginKey: &grpcPlugin{impl: impl}},
	}
}

// grpcPlugin binds the gRPC service to go-plugin. net/rpc is not offered.
type grpcPlugin struct {
	plugin.NetRPCUnsupportedPlugin
	impl Sink
}

func (p *grpcPlugin) GRPCServer(_ *plugin.GRPCBroker, s *grpc.Server) error {
	s.RegisterService(serviceDesc(), &server{impl: p.impl})
	return nil
}

func (p *grpcPlugin) GRPCClient(_ context.Context, _ *plugin.GRPCBroker, c *grpc.ClientConn) (any, error) {
	return nil, errors.New("this copy has only the plugin side")
}

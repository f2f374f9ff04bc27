package plugins

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/herald-webhooks/herald/sinks"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// sinkClient calls a plugin over its gRPC connection (host side). Its errors
// are already classified: sinks.Permanent/Gone/RetryAfter for Deliver,
// *sinks.ValidationError for Validate.
type sinkClient struct {
	conn *grpc.ClientConn
}

func (c *sinkClient) describe(ctx context.Context) (Info, error) {
	out := new(wrapperspb.BytesValue)
	if err := c.conn.Invoke(ctx, methodDescribe, &emptypb.Empty{}, out); err != nil {
		return Info{}, deliverError(err) // a plugin answers Describe like Deliver
	}
	var info Info
	if err := json.Unmarshal(out.GetValue(), &info); err != nil {
		return Info{}, fmt.Errorf("decode info: %w", err)
	}
	return info, nil
}

func (c *sinkClient) validate(ctx context.Context, config map[string]any) error {
	b, err := json.Marshal(nonNil(config))
	if err != nil {
		return &sinks.ValidationError{Field: "config", Message: fmt.Sprintf("not encodable as JSON: %v", err)}
	}
	if err := c.conn.Invoke(ctx, methodValidate, wrapperspb.Bytes(b), new(emptypb.Empty)); err != nil {
		return validateError(err)
	}
	return nil
}

// deliver sends body, the envelope's exact JSON, so the plugin sees the
// same bytes on every retry.
func (c *sinkClient) deliver(ctx context.Context, body []byte, config map[string]any) error {
	b, err := json.Marshal(deliverRequest{Envelope: body, Config: nonNil(config)})
	if err != nil {
		return sinks.Permanent(fmt.Errorf("encode request: %w", err))
	}
	if err := c.conn.Invoke(ctx, methodDeliver, wrapperspb.Bytes(b), new(emptypb.Empty)); err != nil {
		return deliverError(err)
	}
	return nil
}

func nonNil(config map[string]any) map[string]any {
	if config == nil {
		return map[string]any{}
	}
	return config
}

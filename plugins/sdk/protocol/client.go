package protocol

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// Client calls a plugin over the version of the protocol go-plugin
// negotiated (host side). Its methods return an error only when the plugin
// did not answer: the error is then the gRPC status of the failed call.
type Client struct {
	conn    *grpc.ClientConn
	version int
}

// Version is the protocol version this plugin speaks with Herald.
func (c *Client) Version() int { return c.version }

// Conn is the gRPC connection, for watching its state.
func (c *Client) Conn() *grpc.ClientConn { return c.conn }

// Describe asks the plugin who it is. Secret-typed fields come back with
// Secret set and Fields is never nil.
func (c *Client) Describe(ctx context.Context) (Info, error) {
	out := new(wrapperspb.BytesValue)
	if err := c.conn.Invoke(ctx, method(c.version, "Describe"), &emptypb.Empty{}, out); err != nil {
		return Info{}, err
	}
	var info Info
	if err := json.Unmarshal(out.GetValue(), &info); err != nil {
		return Info{}, fmt.Errorf("decode info: %w", err)
	}
	fields := make([]Field, 0, len(info.Fields))
	for _, f := range info.Fields {
		f.Secret = f.Secret || f.Type == FieldSecret
		fields = append(fields, f)
	}
	info.Fields = fields
	return info, nil
}

// Validate checks a config. A rejection is a *FieldError (Field is the
// config key, or "" for the whole config); any other error means the
// plugin could not be asked.
func (c *Client) Validate(ctx context.Context, config map[string]any) error {
	b, err := json.Marshal(nonNil(config))
	if err != nil {
		return &FieldError{Message: fmt.Sprintf("not encodable as JSON: %v", err)}
	}
	err = c.conn.Invoke(ctx, method(c.version, "Validate"), wrapperspb.Bytes(b), new(emptypb.Empty))
	if err == nil {
		return nil
	}
	st, ok := status.FromError(err)
	if !ok || st.Code() != codes.InvalidArgument {
		return err
	}
	fe := &FieldError{Message: st.Message()}
	for _, d := range st.Details() {
		if key, ok := d.(*wrapperspb.StringValue); ok {
			fe.Field = strings.TrimPrefix(key.GetValue(), "config.")
		}
	}
	return fe
}

// Deliver sends one envelope (its exact JSON) with the webhook's config.
func (c *Client) Deliver(ctx context.Context, req DeliverRequest) (Result, error) {
	req.Config = nonNil(req.Config)
	b, err := json.Marshal(req)
	if err != nil {
		return Result{Outcome: OutcomePermanent, Error: fmt.Sprintf("encode request: %v", err)}, nil
	}
	out := new(wrapperspb.BytesValue)
	err = c.conn.Invoke(ctx, method(c.version, "Deliver"), wrapperspb.Bytes(b), out)
	if c.version >= Version2 {
		if err != nil {
			return Result{}, err
		}
		var res Result
		if err := json.Unmarshal(out.GetValue(), &res); err != nil {
			return Result{Outcome: OutcomeRetry, Error: fmt.Sprintf("the plugin's answer is not a result: %v", err)}, nil
		}
		return res, nil
	}
	if err == nil {
		return Result{Outcome: OutcomeOK}, nil
	}
	st, _ := status.FromError(err)
	res := Result{Error: st.Message()}
	switch st.Code() {
	case codeGone:
		res.Outcome = OutcomeGone
	case codePermanent:
		res.Outcome = OutcomePermanent
	case codeRetry:
		res.Outcome = OutcomeRetry
		for _, d := range st.Details() {
			if after, ok := d.(*durationpb.Duration); ok && after.AsDuration() > 0 {
				res.RetryAfterMS = after.AsDuration().Milliseconds()
			}
		}
	default:
		return Result{}, err
	}
	return res, nil
}

func nonNil(config map[string]any) map[string]any {
	if config == nil {
		return map[string]any{}
	}
	return config
}

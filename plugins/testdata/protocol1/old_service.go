package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/herald-webhooks/herald/sinks"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// The service is written by hand over protobuf well-known types, so there is
// no protoc step; sink.proto describes the same wire format for authors in
// other languages. Payloads are JSON carried in BytesValue.
const (
	serviceName    = "herald.plugin.v1.Sink"
	methodDescribe = "/" + serviceName + "/Describe"
	methodValidate = "/" + serviceName + "/Validate"
	methodDeliver  = "/" + serviceName + "/Deliver"
)

// deliverRequest is the JSON inside a Deliver call's BytesValue.
type deliverRequest struct {
	Envelope json.RawMessage `json:"envelope"`
	Config   map[string]any  `json:"config"`
}

// sinkService is the server-side contract; grpc checks implementations
// against it when the service is registered.
type sinkService interface {
	describe(context.Context, *emptypb.Empty) (*wrapperspb.BytesValue, error)
	validate(context.Context, *wrapperspb.BytesValue) (*emptypb.Empty, error)
	deliver(context.Context, *wrapperspb.BytesValue) (*emptypb.Empty, error)
}

func serviceDesc() *grpc.ServiceDesc {
	return &grpc.ServiceDesc{
		ServiceName: serviceName,
		HandlerType: (*sinkService)(nil),
		Methods: []grpc.MethodDesc{
			{MethodName: "Describe", Handler: unary(methodDescribe, sinkService.describe)},
			{MethodName: "Validate", Handler: unary(methodValidate, sinkService.validate)},
			{MethodName: "Deliver", Handler: unary(methodDeliver, sinkService.deliver)},
		},
		Metadata: "sink.proto",
	}
}

// unary adapts a typed method to grpc's untyped handler, as protoc-gen-go-grpc would.
func unary[In any, Out any](fullMethod string, call func(sinkService, context.Context, *In) (*Out, error)) grpc.MethodHandler {
	return func(srv any, ctx context.Context, dec func(any) error, intercept grpc.UnaryServerInterceptor) (any, error) {
		in := new(In)
		if err := dec(in); err != nil {
			return nil, err
		}
		s := srv.(sinkService)
		if intercept == nil {
			return call(s, ctx, in)
		}
		info := &grpc.UnaryServerInfo{Server: srv, FullMethod: fullMethod}
		return intercept(ctx, in, info, func(ctx context.Context, req any) (any, error) {
			return call(s, ctx, req.(*In))
		})
	}
}

// server runs inside the plugin process and calls the author's Sink.
type server struct {
	impl Sink
}

func (s *server) describe(context.Context, *emptypb.Empty) (*wrapperspb.BytesValue, error) {
	b, err := json.Marshal(describe(s.impl))
	if err != nil {
		return nil, status.Errorf(codes.Internal, "encode info: %v", err)
	}
	return wrapperspb.Bytes(b), nil
}

func (s *server) validate(_ context.Context, in *wrapperspb.BytesValue) (*emptypb.Empty, error) {
	var config map[string]any
	if err := json.Unmarshal(in.GetValue(), &config); err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "config is not a JSON object: %v", err)
	}
	if err := checkFields(describe(s.impl).Fields, config); err != nil {
		return nil, validateStatus(err)
	}
	if err := s.impl.Validate(config); err != nil {
		return nil, validateStatus(err)
	}
	return &emptypb.Empty{}, nil
}

func (s *server) deliver(ctx context.Context, in *wrapperspb.BytesValue) (*emptypb.Empty, error) {
	var req deliverRequest
	if err := json.Unmarshal(in.GetValue(), &req); err != nil {
		return nil, status.Errorf(codes.Internal, "decode request: %v", err)
	}
	var env sinks.Envelope
	if err := json.Unmarshal(req.Envelope, &env); err != nil {
		return nil, status.Errorf(codes.Internal, "decode envelope: %v", err)
	}
	if err := s.impl.Deliver(ctx, env, req.Config); err != nil {
		return nil, deliverStatus(err)
	}
	return &emptypb.Empty{}, nil
}

// checkFields enforces what Describe promises (required fields, value
// types), so authors don't repeat those checks in Validate.
func checkFields(fields []Field, config map[string]any) error {
	for _, f := range fields {
		v, ok := config[f.Name]
		if !ok || v == nil || v == "" {
			if f.Required {
				return &sinks.ValidationError{Field: f.Name, Message: "is required"}
			}
			continue
		}
		var typeOK bool
		switch f.Type {
		case FieldString, FieldSecret:
			_, typeOK = v.(string)
		case FieldNumber:
			_, typeOK = v.(float64)
		case FieldBool:
			_, typeOK = v.(bool)
		default:
			typeOK = true
		}
		if !typeOK {
			return &sinks.ValidationError{Field: f.Name, Message: fmt.Sprintf("must be a %s", f.Type)}
		}
	}
	return nil
}

// validateStatus turns a rejected config into INVALID_ARGUMENT, naming the
// config key in a StringValue detail when the plugin gave one.
func validateStatus(err error) error {
	var ve *sinks.ValidationError
	if !errors.As(err, &ve) {
		return status.Error(codes.InvalidArgument, err.Error())
	}
	st := status.New(codes.InvalidArgument, ve.Message)
	if ve.Field == "" {
		return st.Err()
	}
	if withField, derr := st.WithDetails(wrapperspb.String(ve.Field)); derr == nil {
		st = withField
	}
	return st.Err()
}

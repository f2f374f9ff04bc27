package protocol

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// The services are written by hand over protobuf well-known types, so there
// is no protoc step. Payloads are JSON carried in BytesValue.
//
// How a version 1 Deliver outcome crosses the wire. Codes the transport
// itself produces (UNAVAILABLE, DEADLINE_EXCEEDED...) are never used for a
// plugin's own answer, so the host can tell a plugin's "try again" from a
// dead plugin. Version 2 answers every outcome with OK and a Result.
const (
	codeRetry     = codes.Aborted            // retryable; optional Duration detail: retry after
	codePermanent = codes.FailedPrecondition // do not retry
	codeGone      = codes.NotFound           // target gone: fail and disable the webhook
)

func serviceName(version int) string { return fmt.Sprintf("herald.plugin.v%d.Sink", version) }

func method(version int, name string) string { return "/" + serviceName(version) + "/" + name }

// service is the server-side contract; grpc checks implementations against
// it when the service is registered.
type service interface {
	describe(context.Context, *emptypb.Empty) (*wrapperspb.BytesValue, error)
	validate(context.Context, *wrapperspb.BytesValue) (*emptypb.Empty, error)
	deliver(context.Context, *wrapperspb.BytesValue) (*wrapperspb.BytesValue, error)
}

func serviceDesc(version int) *grpc.ServiceDesc {
	return &grpc.ServiceDesc{
		ServiceName: serviceName(version),
		HandlerType: (*service)(nil),
		Methods: []grpc.MethodDesc{
			{MethodName: "Describe", Handler: unary(method(version, "Describe"), service.describe)},
			{MethodName: "Validate", Handler: unary(method(version, "Validate"), service.validate)},
			{MethodName: "Deliver", Handler: unary(method(version, "Deliver"), service.deliver)},
		},
		Metadata: "sink.proto",
	}
}

// unary adapts a typed method to grpc's untyped handler, as protoc-gen-go-grpc would.
func unary[In any, Out any](fullMethod string, call func(service, context.Context, *In) (*Out, error)) grpc.MethodHandler {
	return func(srv any, ctx context.Context, dec func(any) error, intercept grpc.UnaryServerInterceptor) (any, error) {
		in := new(In)
		if err := dec(in); err != nil {
			return nil, err
		}
		s := srv.(service)
		if intercept == nil {
			return call(s, ctx, in)
		}
		info := &grpc.UnaryServerInfo{Server: srv, FullMethod: fullMethod}
		return intercept(ctx, in, info, func(ctx context.Context, req any) (any, error) {
			return call(s, ctx, req.(*In))
		})
	}
}

// server runs inside the plugin process.
type server struct {
	version int
	h       Handler
}

func (s *server) describe(context.Context, *emptypb.Empty) (*wrapperspb.BytesValue, error) {
	b, err := json.Marshal(s.h.Describe())
	if err != nil {
		return nil, status.Errorf(codes.Internal, "encode info: %v", err)
	}
	return wrapperspb.Bytes(b), nil
}

func (s *server) validate(ctx context.Context, in *wrapperspb.BytesValue) (*emptypb.Empty, error) {
	var config map[string]any
	if err := json.Unmarshal(in.GetValue(), &config); err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "config is not a JSON object: %v", err)
	}
	err := CheckConfig(s.h.Describe().Fields, config)
	if err == nil {
		err = s.h.Validate(ctx, config)
	}
	if err == nil {
		return &emptypb.Empty{}, nil
	}
	// A rejected config is INVALID_ARGUMENT, naming the config key in a
	// StringValue detail when there is one.
	var fe *FieldError
	if !errors.As(err, &fe) {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	st := status.New(codes.InvalidArgument, fe.Message)
	if fe.Field != "" {
		if withField, derr := st.WithDetails(wrapperspb.String(fe.Field)); derr == nil {
			st = withField
		}
	}
	return nil, st.Err()
}

func (s *server) deliver(ctx context.Context, in *wrapperspb.BytesValue) (*wrapperspb.BytesValue, error) {
	var req DeliverRequest
	if err := json.Unmarshal(in.GetValue(), &req); err != nil {
		return nil, status.Errorf(codes.Internal, "decode request: %v", err)
	}
	if req.Config == nil {
		req.Config = map[string]any{}
	}
	res := s.h.Deliver(ctx, req)
	if s.version >= Version2 {
		b, err := json.Marshal(res)
		if err != nil {
			return nil, status.Errorf(codes.Internal, "encode result: %v", err)
		}
		return wrapperspb.Bytes(b), nil
	}
	switch res.Outcome {
	case OutcomeOK:
		return wrapperspb.Bytes(nil), nil
	case OutcomeGone:
		return nil, status.Error(codeGone, res.Error)
	case OutcomePermanent:
		return nil, status.Error(codePermanent, res.Error)
	}
	st := status.New(codeRetry, res.Error)
	if res.RetryAfterMS > 0 {
		if withDelay, derr := st.WithDetails(durationpb.New(time.Duration(res.RetryAfterMS) * time.Millisecond)); derr == nil {
			st = withDelay
		}
	}
	return nil, st.Err()
}

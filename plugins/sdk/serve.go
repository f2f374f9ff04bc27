package sdk

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"runtime/debug"

	"github.com/herald-webhooks/herald/plugins/sdk/protocol"
)

// handler adapts an author's Sink to the wire protocol.
type handler struct{ s Sink }

func (h handler) Describe() protocol.Info {
	info := h.s.Describe()
	out := protocol.Info{Name: info.Name, Version: info.Version, Description: info.Description,
		Fields: make([]protocol.Field, 0, len(info.Fields))}
	for _, f := range info.Fields {
		out.Fields = append(out.Fields, protocol.Field{Name: f.Name, Type: f.Type, Description: f.Description,
			Required: f.Required, Secret: f.Type == FieldSecret})
	}
	return out
}

func (h handler) Validate(_ context.Context, config map[string]any) error {
	err := h.s.Validate(Config(config))
	var ve *ValidationError
	if errors.As(err, &ve) {
		return &protocol.FieldError{Field: ve.Field, Message: ve.Message}
	}
	return err
}

// Deliver runs the author's Deliver with a recorder for HTTPClient's
// answers in ctx. A panic is answered as such, so one bad event does not
// take down the deliveries running beside it.
func (h handler) Deliver(ctx context.Context, req protocol.DeliverRequest) (res protocol.Result) {
	rec := &recorder{}
	ctx = context.WithValue(ctx, recorderKey{}, rec)
	defer func() {
		if p := recover(); p != nil {
			fmt.Fprintf(os.Stderr, "panic while delivering: %v\n%s", p, debug.Stack())
			res = protocol.Result{Outcome: protocol.OutcomePanic, Error: fmt.Sprintf("panic: %v", p)}
		}
		res.StatusCode, res.Body = rec.last()
	}()
	var env Envelope
	if err := json.Unmarshal(req.Envelope, &env); err != nil {
		return protocol.Result{Outcome: protocol.OutcomePermanent, Error: fmt.Sprintf("decode envelope: %v", err)}
	}
	return result(h.s.Deliver(ctx, env, Config(req.Config)))
}

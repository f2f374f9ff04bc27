// Command crashy is a test plugin built on the SDK that misbehaves on
// demand: the event's data.mode says how. Before anything else it appends
// the event id to <path>.received, so tests can tell which calls really
// reached it.
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/herald-webhooks/herald/plugins/sdk"
)

type crashy struct{}

func (crashy) Describe() sdk.Info {
	return sdk.Info{Name: "crashy", Version: "0.1.0", Description: "Misbehaves on demand.", Fields: []sdk.Field{
		{Name: "path", Type: sdk.FieldString, Required: true, Description: "File each delivered event id is appended to"},
		{Name: "token", Type: sdk.FieldSecret, Description: "A secret it may leak in its errors"},
	}}
}

func (crashy) Validate(sdk.Config) error { return nil }

func (crashy) Deliver(ctx context.Context, env sdk.Envelope, cfg sdk.Config) error {
	var data struct{ Mode string }
	if err := env.Decode(&data); err != nil {
		return sdk.Permanent(err)
	}
	path := cfg.String("path")
	if err := appendLine(path+".received", env.ID); err != nil {
		return err
	}
	switch data.Mode {
	case "crash": // a bug no recover can catch takes the process down
		go func() { panic("crashy: poison event " + env.ID) }()
		select {}
	case "panic":
		panic("crashy: panic on " + env.ID)
	case "hang":
		select {}
	case "leak":
		return fmt.Errorf("calling https://bob:hunter2@api.example.com/v1/send?api_key=k3y-in-query failed; token %s was refused", cfg.String("token"))
	}
	return appendLine(path, env.ID)
}

func appendLine(path, line string) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return err
	}
	_, err = f.WriteString(line + "\n")
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

func main() { sdk.Serve(crashy{}) }

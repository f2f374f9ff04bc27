// Command herald-sink-jsonl is the simplest Herald sink plugin: it appends
// each event as one JSON line to the file at config.path.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"sync"

	"github.com/herald-webhooks/herald/plugins/sdk"
)

type jsonl struct {
	mu sync.Mutex // one write at a time, so lines never interleave
}

func (*jsonl) Describe() sdk.Info {
	return sdk.Info{
		Name:        "jsonl",
		Version:     "1.1.0",
		Description: "Appends each event as one JSON line to a file.",
		Fields: []sdk.Field{
			{Name: "path", Type: sdk.FieldString, Description: "Absolute path of the file to append to", Required: true},
		},
	}
}

func (*jsonl) Validate(cfg sdk.Config) error {
	if !filepath.IsAbs(cfg.String("path")) {
		return &sdk.ValidationError{Field: "path", Message: "must be an absolute path"}
	}
	return nil
}

func (j *jsonl) Deliver(_ context.Context, env sdk.Envelope, cfg sdk.Config) error {
	line, err := json.Marshal(env)
	if err != nil {
		return sdk.Permanent(err)
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	f, err := os.OpenFile(cfg.String("path"), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return err // retryable: the disk or folder may come back
	}
	_, err = f.Write(append(line, '\n'))
	if err == nil {
		err = f.Sync() // the line is on disk before Herald marks the delivery done
	}
	return errors.Join(err, f.Close())
}

func main() { sdk.Serve(&jsonl{}) }

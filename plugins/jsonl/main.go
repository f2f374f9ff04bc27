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

	"github.com/herald-webhooks/herald/plugins"
	"github.com/herald-webhooks/herald/sinks"
)

type jsonl struct {
	mu sync.Mutex // one write at a time, so lines never interleave
}

func (*jsonl) Describe() plugins.Info {
	return plugins.Info{
		Name:        "jsonl",
		Version:     "1.0.0",
		Description: "Appends each event as one JSON line to a file.",
		Fields: []plugins.Field{
			{Name: "path", Type: plugins.FieldString, Description: "Absolute path of the file to append to", Required: true},
		},
	}
}

func (*jsonl) Validate(config map[string]any) error {
	if path, _ := config["path"].(string); !filepath.IsAbs(path) {
		return &sinks.ValidationError{Field: "path", Message: "must be an absolute path"}
	}
	return nil
}

func (j *jsonl) Deliver(_ context.Context, env sinks.Envelope, config map[string]any) error {
	line, err := json.Marshal(env)
	if err != nil {
		return plugins.Permanent(err)
	}
	path, _ := config["path"].(string)
	j.mu.Lock()
	defer j.mu.Unlock()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return err // retryable: the disk or folder may come back
	}
	_, err = f.Write(append(line, '\n'))
	if err == nil {
		err = f.Sync() // the line is on disk before Herald marks the delivery done
	}
	return errors.Join(err, f.Close())
}

func main() { plugins.Serve(&jsonl{}) }

// Command protocol1 is the jsonl example plugin as it was built with the
// host module's package plugins, which spoke only plugin protocol 1. The
// old_*.go files are that package's plugin side, frozen: Herald must keep
// delivering to plugins built this way.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"sync"

	"github.com/herald-webhooks/herald/sinks"
)

type jsonl struct {
	mu sync.Mutex // one write at a time, so lines never interleave
}

func (*jsonl) Describe() Info {
	return Info{
		Name:        "jsonl",
		Version:     "1.0.0",
		Description: "Appends each event as one JSON line to a file.",
		Fields: []Field{
			{Name: "path", Type: FieldString, Description: "Absolute path of the file to append to", Required: true},
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
		return Permanent(err)
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

func main() { Serve(&jsonl{}) }

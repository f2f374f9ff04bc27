// Package plugins is Herald's plugin host: it finds sink plugin executables
// (herald-sink-<name>), runs them with hashicorp/go-plugin, and adapts them
// to sinks.Sink. The protocol lives in the SDK module
// (plugins/sdk/protocol); plugin authors import only plugins/sdk.
//
// A plugin that dies is restarted at once. Only the calls in flight when it
// died are charged an attempt; calls waiting for it go to the new process.
// An event that was in flight at a crash is then sent alone, so an event
// that crashes the plugin again is known for sure, and after maxCrashes it
// fails for good. A plugin that stops answering (hangLimit timeouts in a
// row) is killed and restarted.
package plugins

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/herald-webhooks/herald/plugins/sdk/protocol"
)

const (
	// BinaryPrefix starts the file name of every plugin executable.
	BinaryPrefix = "herald-sink-"
	// DefaultCallTimeout bounds each call when HostOptions leaves it zero;
	// it matches the default delivery timeout.
	DefaultCallTimeout = 10 * time.Second
)

// validName keeps plugin names to what fits in a URL, a TOML key and JSON.
var validName = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]*$`)

// HostOptions configures a Host.
type HostOptions struct {
	Dir         string            // HERALD_PLUGIN_DIR: scanned for executables named herald-sink-<name>
	Pins        map[string]string // plugin name -> expected SHA-256 hex; a binary that doesn't match is refused
	CallTimeout time.Duration     // deadline of each call to a plugin (the delivery timeout)
	Logger      *slog.Logger
	// AllowHTTP and AllowPrivateNetworks pass the operator's URL policy to
	// plugin processes as HERALD_ALLOW_HTTP and HERALD_ALLOW_PRIVATE_NETWORKS.
	// Plugins inherit no other HERALD_* variable: those hold Herald's tokens.
	AllowHTTP            bool
	AllowPrivateNetworks bool
}

// Status is what GET /api/v1/plugins shows for one plugin.
type Status struct {
	protocol.Info
	Path    string `json:"path"`
	SHA256  string `json:"sha256"`
	Running bool   `json:"running"`
	// Protocol is the plugin protocol version in use (0 while not running).
	Protocol int    `json:"protocol"`
	Error    string `json:"error,omitempty"`
}

// Host finds plugin executables, runs them, and adapts them to sinks.Sink.
// It is safe for concurrent use.
type Host struct {
	dir     string
	pins    map[string]string
	timeout time.Duration
	log     *slog.Logger
	env     []string

	loadMu sync.Mutex // one Load or Close at a time

	mu      sync.Mutex
	plugins map[string]*instance
	closed  bool
}

// NewHost returns a Host; call Load to start the plugins.
func NewHost(opts HostOptions) *Host {
	h := &Host{
		dir:     opts.Dir,
		pins:    opts.Pins,
		timeout: opts.CallTimeout,
		log:     opts.Logger,
		env:     pluginEnv(opts.AllowHTTP, opts.AllowPrivateNetworks),
		plugins: map[string]*instance{},
	}
	if h.timeout <= 0 {
		h.timeout = DefaultCallTimeout
	}
	if h.log == nil {
		h.log = slog.New(slog.DiscardHandler)
	}
	return h
}

// Load scans the plugin folder and starts what it finds. Called again (POST
// /api/v1/plugins/reload), it stops plugins whose file was removed or
// changed, starts new ones, and retries those that failed. It returns an
// error only when the folder can't be read; a plugin that fails to start is
// logged and shown by List, and its deliveries retry.
func (h *Host) Load() error {
	h.loadMu.Lock()
	defer h.loadMu.Unlock()

	found, err := h.scan()
	if err != nil {
		return err
	}

	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return errors.New("plugin host is closed")
	}
	old := h.plugins
	next := make(map[string]*instance, len(found))
	for _, c := range found {
		if p := old[c.name]; p != nil && p.path == c.path && p.sum == c.sum && p.refused == c.refused {
			next[c.name] = p
			continue
		}
		next[c.name] = h.newInstance(c)
	}
	h.plugins = next
	h.mu.Unlock()

	var wg sync.WaitGroup
	for name, p := range old {
		if next[name] != p {
			wg.Go(p.stop)
		}
	}
	for _, p := range next {
		if p.refused != "" {
			h.log.Warn("Plugin refused", "plugin", p.name, "path", p.path, "error", p.refused)
			continue
		}
		wg.Go(p.startNow)
	}
	wg.Wait()
	return nil
}

// List describes every plugin found by the last Load, sorted by name.
func (h *Host) List() []Status {
	h.mu.Lock()
	ps := make([]*instance, 0, len(h.plugins))
	for _, p := range h.plugins {
		ps = append(ps, p)
	}
	h.mu.Unlock()
	slices.SortFunc(ps, func(a, b *instance) int { return strings.Compare(a.name, b.name) })
	out := make([]Status, 0, len(ps))
	for _, p := range ps {
		out = append(out, p.status())
	}
	return out
}

// Close stops all plugin processes. Deliveries after Close fail retryably.
func (h *Host) Close() {
	h.loadMu.Lock()
	defer h.loadMu.Unlock()
	h.mu.Lock()
	h.closed = true
	ps := h.plugins
	h.plugins = nil
	h.mu.Unlock()

	var wg sync.WaitGroup
	for _, p := range ps {
		wg.Go(p.stop)
	}
	wg.Wait()
}

func (h *Host) lookup(name string) (*instance, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return nil, errors.New("plugin host is closed")
	}
	p := h.plugins[name]
	if p == nil {
		return nil, fmt.Errorf("no plugin named %q is installed", name)
	}
	return p, nil
}

// candidate is a plugin file found by scan.
type candidate struct {
	name, path, sum string
	pin             []byte // decoded pin, nil when unpinned
	refused         string // why it may not run; empty when it may
}

func (h *Host) scan() ([]candidate, error) {
	if h.dir == "" {
		return nil, nil
	}
	dir, err := filepath.Abs(h.dir)
	if err != nil {
		return nil, fmt.Errorf("plugin folder: %w", err)
	}
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		h.log.Info("Plugin folder does not exist; no plugins loaded", "dir", dir)
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read plugin folder: %w", err)
	}
	var found []candidate
	for _, e := range entries {
		name, ok := strings.CutPrefix(e.Name(), BinaryPrefix)
		if !ok {
			continue
		}
		if !validName.MatchString(name) {
			h.log.Warn("Plugin file name ignored: use lowercase letters, digits, - and _", "file", e.Name())
			continue
		}
		c := candidate{name: name, path: filepath.Join(dir, e.Name())}
		c.sum, c.refused = inspect(c.path)
		if c.refused == "" {
			c.pin, c.refused = checkPin(h.pins[name], c.sum)
		}
		found = append(found, c)
	}
	return found, nil
}

// inspect hashes an executable, or says why it can't be run.
func inspect(path string) (sum, refused string) {
	fi, err := os.Stat(path)
	switch {
	case err != nil:
		return "", err.Error()
	case !fi.Mode().IsRegular():
		return "", "not a regular file"
	case fi.Mode().Perm()&0o111 == 0:
		return "", "not executable"
	}
	f, err := os.Open(path)
	if err != nil {
		return "", err.Error()
	}
	defer f.Close()
	hash := sha256.New()
	if _, err := io.Copy(hash, f); err != nil {
		return "", fmt.Sprintf("read: %v", err)
	}
	return hex.EncodeToString(hash.Sum(nil)), ""
}

// checkPin compares a file's SHA-256 with its pin, if it has one.
func checkPin(pin, sum string) ([]byte, string) {
	if pin == "" {
		return nil, ""
	}
	pin = strings.ToLower(strings.TrimSpace(pin))
	want, err := hex.DecodeString(pin)
	if err != nil || len(want) != sha256.Size {
		return nil, "the pinned sha256 is not 64 hex digits"
	}
	if pin != sum {
		return nil, fmt.Sprintf("sha256 %s does not match the pinned %s", sum, pin)
	}
	return want, ""
}

// pluginEnv is Herald's environment minus its own settings, which include
// tokens a third-party plugin has no business reading, plus the URL policy.
func pluginEnv(allowHTTP, allowPrivate bool) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "HERALD_") {
			env = append(env, kv)
		}
	}
	return append(env,
		protocol.EnvAllowHTTP+"="+strconv.FormatBool(allowHTTP),
		protocol.EnvAllowPrivate+"="+strconv.FormatBool(allowPrivate),
	)
}

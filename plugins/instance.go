package plugins

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"os/exec"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/hashicorp/go-plugin"
)

const (
	// startTimeout bounds the handshake: a plugin that hasn't printed its
	// address by then is broken, not slow.
	startTimeout = 10 * time.Second
	// killTimeout is how long a plugin gets to exit on request before it is
	// killed; go-plugin itself waits 2s for a graceful exit.
	killTimeout = 5 * time.Second
	// Restarts after a crash or a failed start back off so a plugin that
	// dies on every call doesn't become a fork loop.
	restartBackoffMin = 200 * time.Millisecond
	restartBackoffMax = 30 * time.Second
)

var errStopped = errors.New("plugin was stopped")

// instance is one plugin executable and, while it runs, its process.
type instance struct {
	name, path, sum string
	pin             []byte
	refused         string
	env             []string
	timeout         time.Duration
	log             *slog.Logger

	mu       sync.Mutex
	proc     *process
	info     Info
	broken   bool          // the connection failed: replace the process on next use
	stopped  bool          // removed by Load or Close: never start again
	starting chan struct{} // closed when the start in progress ends
	failures int           // crashes and failed starts since the last good call
	retryAt  time.Time     // no restart before this
	lastErr  string
	reaping  sync.WaitGroup // dead processes being cleaned up
}

func (h *Host) newInstance(c candidate) *instance {
	return &instance{
		name: c.name, path: c.path, sum: c.sum, pin: c.pin, refused: c.refused,
		env:     h.env,
		timeout: h.timeout,
		log:     h.log.With("plugin", c.name),
		info:    Info{Name: c.name},
	}
}

// get returns a connection to a running process, starting or restarting
// it as needed, and waits no longer than ctx allows. Its errors are
// retryable: the caller's delivery waits for the plugin.
func (p *instance) get(ctx context.Context) (*sinkClient, error) {
	for {
		p.mu.Lock()
		if p.stopped {
			p.mu.Unlock()
			return nil, errStopped
		}
		if p.refused != "" {
			p.mu.Unlock()
			return nil, errors.New(p.refused)
		}
		if ch := p.starting; ch != nil {
			p.mu.Unlock()
			select {
			case <-ch:
				continue
			case <-ctx.Done():
				return nil, fmt.Errorf("waiting for the plugin to start: %w", ctx.Err())
			}
		}
		if p.proc != nil && !p.broken && !p.proc.client.Exited() {
			rpc := p.proc.rpc
			p.mu.Unlock()
			return rpc, nil
		}
		if dead := p.proc; dead != nil {
			p.proc = nil
			if dead.client.Exited() {
				p.failWith("the plugin process exited")
			} else {
				p.failWith("the connection to the plugin was lost")
			}
			p.log.Warn("Plugin failed; restarting it", "pid", dead.pid(), "error", p.lastErr,
				"failures", p.failures, "restart_in", time.Until(p.retryAt).Round(time.Millisecond))
			p.reaping.Go(dead.stop)
		}
		if wait := time.Until(p.retryAt); wait > 0 {
			err := fmt.Errorf("%s; restarting in %s", p.lastErr, wait.Round(time.Millisecond))
			p.mu.Unlock()
			return nil, err
		}
		ch := make(chan struct{})
		p.starting = ch
		p.mu.Unlock()
		go p.start(ch)
	}
}

// start launches a process and records the outcome, then closes ch. It
// runs on its own so that callers can give up waiting.
func (p *instance) start(ch chan struct{}) {
	defer close(ch)
	proc, info, err := p.launch()

	p.mu.Lock()
	stopped := p.stopped
	switch {
	case stopped:
	case err != nil:
		p.failWith(err.Error())
	default:
		p.proc, p.info, p.broken, p.lastErr = proc, info, false, ""
	}
	p.starting = nil
	p.mu.Unlock()

	switch {
	case stopped && proc != nil:
		proc.stop()
	case err != nil:
		p.log.Error("Plugin failed to start", "path", p.path, "error", err)
	case !stopped:
		p.log.Info("Plugin started", "version", info.Version, "pid", proc.pid(), "sha256", p.sum)
	}
}

// startNow starts the plugin if it isn't running, skipping any backoff:
// Load calls it so a reload is also a retry.
func (p *instance) startNow() {
	p.mu.Lock()
	p.retryAt = time.Time{}
	p.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout+p.timeout)
	defer cancel()
	_, _ = p.get(ctx) // failures are logged by start and shown by status
}

// failWith records a crash or failed start. Call with p.mu held.
func (p *instance) failWith(reason string) {
	p.failures++
	p.retryAt = time.Now().Add(restartDelay(p.failures))
	p.lastErr = reason
}

func restartDelay(failures int) time.Duration {
	d := restartBackoffMin
	for i := 1; i < failures && d < restartBackoffMax; i++ {
		d *= 2
	}
	return min(d, restartBackoffMax)
}

// succeeded resets the backoff after a call the plugin answered.
func (p *instance) succeeded() {
	p.mu.Lock()
	p.failures = 0
	p.mu.Unlock()
}

// markBroken flags rpc's process for replacement if it is still current.
func (p *instance) markBroken(rpc *sinkClient) {
	p.mu.Lock()
	if p.proc != nil && p.proc.rpc == rpc {
		p.broken = true
	}
	p.mu.Unlock()
}

// stop ends the process for good, waiting for a start in progress.
func (p *instance) stop() {
	p.mu.Lock()
	p.stopped = true
	proc, starting := p.proc, p.starting
	p.proc = nil
	p.mu.Unlock()
	if proc != nil {
		proc.stop()
		p.log.Info("Plugin stopped", "pid", proc.pid())
	}
	if starting != nil {
		<-starting
	}
	p.reaping.Wait()
}

func (p *instance) status() Status {
	p.mu.Lock()
	defer p.mu.Unlock()
	st := Status{Info: p.info, Path: p.path, SHA256: p.sum}
	st.Name = p.name
	if st.Fields == nil {
		st.Fields = []Field{}
	}
	st.Running = p.proc != nil && !p.broken && !p.proc.client.Exited()
	switch {
	case p.refused != "":
		st.Error = p.refused
	case st.Running:
	case p.proc != nil:
		st.Error = "the plugin process failed; it restarts on next use"
	case p.stopped:
		st.Error = errStopped.Error()
	default:
		st.Error = p.lastErr
	}
	return st
}

// launch starts the executable and asks it to describe itself.
func (p *instance) launch() (*process, Info, error) {
	cmd := exec.Command(p.path)
	cmd.Env = slices.Clip(p.env) // go-plugin appends to it; instances share p.env
	cfg := &plugin.ClientConfig{
		HandshakeConfig:  handshake(),
		VersionedPlugins: pluginSets(nil),
		Cmd:              cmd,
		AllowedProtocols: []plugin.Protocol{plugin.ProtocolGRPC},
		AutoMTLS:         true,
		SkipHostEnv:      true, // cmd.Env is already the filtered environment
		StartTimeout:     startTimeout,
		Logger:           newHCLogger(p.log, filepath.Base(p.path)),
		SyncStdout:       &lineWriter{log: p.log, stream: "stdout"},
		SyncStderr:       &lineWriter{log: p.log, stream: "stderr"},
	}
	if p.pin != nil {
		// Checked again at every (re)start, so a binary swapped after Load is refused too.
		cfg.SecureConfig = &plugin.SecureConfig{Checksum: p.pin, Hash: sha256.New()}
	}
	proc := &process{client: plugin.NewClient(cfg), cmd: cmd}

	conn, err := proc.client.Client()
	if err != nil {
		proc.stop()
		return nil, Info{}, fmt.Errorf("start: %w", err)
	}
	raw, err := conn.Dispense(pluginKey)
	if err != nil {
		proc.stop()
		return nil, Info{}, fmt.Errorf("dispense: %w", err)
	}
	proc.rpc = raw.(*sinkClient)

	ctx, cancel := context.WithTimeout(context.Background(), p.timeout)
	defer cancel()
	info, err := proc.rpc.describe(ctx)
	if err != nil {
		proc.stop()
		return nil, Info{}, fmt.Errorf("describe: %w", err)
	}
	if info.Name != p.name {
		p.log.Warn("Plugin describes itself under another name; its file name is used", "described_as", info.Name)
		info.Name = p.name
	}
	return proc, info, nil
}

// process is one running plugin executable.
type process struct {
	client *plugin.Client
	cmd    *exec.Cmd
	rpc    *sinkClient
}

func (pr *process) pid() int {
	if pr.cmd.Process == nil {
		return 0
	}
	return pr.cmd.Process.Pid
}

// stop asks the plugin to exit and kills it if it hasn't within
// killTimeout, so a wedged plugin can't hang Herald.
func (pr *process) stop() {
	done := make(chan struct{})
	go func() {
		pr.client.Kill()
		close(done)
	}()
	select {
	case <-done:
		return
	case <-time.After(killTimeout):
	}
	if pr.cmd.Process != nil {
		_ = pr.cmd.Process.Kill()
	}
	select {
	case <-done:
	case <-time.After(killTimeout):
	}
}

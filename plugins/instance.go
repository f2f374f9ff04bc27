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
	"google.golang.org/grpc/connectivity"

	"github.com/herald-webhooks/herald/plugins/sdk/protocol"
)

const (
	// startTimeout bounds the handshake: a plugin that hasn't printed its
	// address by then is broken, not slow.
	startTimeout = 10 * time.Second
	// killTimeout is how long a plugin gets to exit on request before it is
	// killed; go-plugin itself waits 2s for a graceful exit.
	killTimeout = 5 * time.Second
	// A plugin that dies is started again at once. Only after quickRestarts
	// deaths or failed starts in a row, with no call answered in between,
	// do restarts back off, so a plugin that dies on start can't become a
	// fork loop.
	quickRestarts     = 3
	restartBackoffMin = 200 * time.Millisecond
	restartBackoffMax = 30 * time.Second
	// hangLimit calls in a row that get no answer in time mean the plugin
	// is stuck: it is killed and started again.
	hangLimit = 3
)

// Why Herald stopped using a process.
const (
	endDied    = "died"    // it exited or dropped its connection
	endHung    = "hung"    // it stopped answering and was killed
	endStopped = "stopped" // Load or Close stopped it
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

	gate    gate    // events suspected of crashing the plugin are sent alone
	strikes strikes // crashes per delivery
	secrets secretSet

	mu       sync.Mutex
	proc     *process
	info     protocol.Info
	stopped  bool          // removed by Load or Close: never start again
	starting chan struct{} // closed when the start in progress ends
	failures int           // deaths and failed starts since the last answered call
	retryAt  time.Time     // no start before this
	lastErr  string
	reaping  sync.WaitGroup // dead processes being cleaned up
}

func (h *Host) newInstance(c candidate) *instance {
	return &instance{
		name: c.name, path: c.path, sum: c.sum, pin: c.pin, refused: c.refused,
		env:     h.env,
		timeout: h.timeout,
		log:     h.log.With("plugin", c.name),
		info:    protocol.Info{Name: c.name},
	}
}

// notReadyError says the plugin can't take a call now, and roughly when
// it may: the call was never sent.
type notReadyError struct {
	err  error
	wait time.Duration
}

func (e *notReadyError) Error() string { return e.err.Error() }
func (e *notReadyError) Unwrap() error { return e.err }

// get returns the running process, starting one as needed, and waits no
// longer than ctx allows. Its errors are *notReadyError.
func (p *instance) get(ctx context.Context) (*process, error) {
	for {
		p.mu.Lock()
		switch {
		case p.stopped:
			p.mu.Unlock()
			return nil, &notReadyError{err: errStopped, wait: time.Second}
		case p.refused != "":
			p.mu.Unlock()
			return nil, &notReadyError{err: errors.New(p.refused), wait: NotInstalledWait}
		case p.starting != nil:
			ch := p.starting
			p.mu.Unlock()
			select {
			case <-ch:
				if err := p.startFailed(); err != nil {
					return nil, err // one try per call: a broken binary fails fast
				}
				continue
			case <-ctx.Done():
				return nil, &notReadyError{err: fmt.Errorf("waiting for the plugin to start: %w", ctx.Err()), wait: time.Second}
			}
		case p.proc != nil && !p.proc.client.Exited():
			proc := p.proc
			proc.inFlight++
			p.mu.Unlock()
			return proc, nil
		case p.proc != nil:
			p.endLocked(p.proc, endDied, "the plugin process exited")
			p.mu.Unlock()
			continue
		}
		if wait := time.Until(p.retryAt); wait > 0 {
			reason := p.lastErr
			p.mu.Unlock()
			if deadline, ok := ctx.Deadline(); ok && time.Until(deadline) < wait {
				return nil, &notReadyError{err: fmt.Errorf("%s; next start in %s", reason, wait.Round(time.Millisecond)), wait: wait}
			}
			select {
			case <-time.After(wait):
				continue
			case <-ctx.Done():
				return nil, &notReadyError{err: fmt.Errorf("%s: %w", reason, ctx.Err()), wait: time.Second}
			}
		}
		p.startLocked()
		p.mu.Unlock()
	}
}

// startFailed returns a *notReadyError if the last start failed.
func (p *instance) startFailed() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.proc != nil || p.stopped || p.starting != nil || p.lastErr == "" {
		return nil
	}
	return &notReadyError{err: errors.New(p.lastErr), wait: max(time.Until(p.retryAt), time.Second)}
}

// startLocked starts a process in the background. Call with p.mu held.
func (p *instance) startLocked() {
	ch := make(chan struct{})
	p.starting = ch
	go p.start(ch)
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
		p.proc, p.info, p.lastErr = proc, info, ""
	}
	p.starting = nil
	p.mu.Unlock()

	switch {
	case stopped && proc != nil:
		proc.stop()
	case err != nil:
		p.log.Error("Plugin failed to start", "path", p.path, "error", err, "failures", p.failures)
	case !stopped:
		p.log.Info("Plugin started", "version", info.Version, "pid", proc.pid(), "protocol", proc.rpc.Version(), "sha256", p.sum)
		go p.watch(proc)
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
	if proc, err := p.get(ctx); err == nil {
		p.callDone(proc, nil)
	} // failures are logged by start and shown by status
}

// failWith records a death or failed start. Call with p.mu held.
func (p *instance) failWith(reason string) {
	p.failures++
	p.lastErr = reason
	if p.failures > quickRestarts {
		p.retryAt = time.Now().Add(restartDelay(p.failures - quickRestarts))
	}
}

func restartDelay(n int) time.Duration {
	d := restartBackoffMin
	for i := 1; i < n && d < restartBackoffMax; i++ {
		d *= 2
	}
	return min(d, restartBackoffMax)
}

// watch notices at once when a process's connection breaks (it exited or
// closed it), so the plugin is restarted without waiting for a call.
func (p *instance) watch(proc *process) {
	conn := proc.rpc.Conn()
	ready := false
	for {
		state := conn.GetState()
		switch state {
		case connectivity.Ready:
			ready = true
		case connectivity.Shutdown:
			return // Herald closed it
		case connectivity.Idle, connectivity.TransientFailure:
			if ready {
				p.died(proc, "the plugin process exited or closed its connection")
				return
			}
		}
		if !conn.WaitForStateChange(proc.watchCtx, state) {
			return
		}
	}
}

// died retires proc after its connection broke, starting a new process,
// and says why proc ended: endDied, or how Herald ended it before.
func (p *instance) died(proc *process, reason string) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.endLocked(proc, endDied, reason)
	return proc.ended
}

// endLocked retires proc if it is current: it is stopped in the background
// and, unless the plugin was stopped for good, a new process is started
// now (or after the backoff). Call with p.mu held.
func (p *instance) endLocked(proc *process, why, reason string) {
	if proc.ended != "" || p.proc != proc {
		return
	}
	proc.ended = why
	proc.inFlightAtEnd = proc.inFlight
	p.proc = nil
	p.reaping.Go(func() { p.reap(proc) })
	if why == endStopped || p.stopped {
		return
	}
	p.failWith(reason)
	args := []any{"pid", proc.pid(), "reason", reason, "calls_in_flight", proc.inFlight, "failures", p.failures}
	if wait := time.Until(p.retryAt); wait > 0 {
		p.log.Warn("Plugin process lost again; starting a new one after a pause", append(args, "restart_in", wait.Round(time.Millisecond))...)
		return
	}
	if why == endHung {
		p.log.Warn("Plugin stopped answering; killing it and starting a new one now", args...)
	} else {
		p.log.Warn("Plugin process lost; starting a new one now", args...)
	}
	if p.starting == nil {
		p.startLocked()
	}
}

// reap stops a retired process and logs how it ended.
func (p *instance) reap(proc *process) {
	if !proc.stop() {
		p.log.Error("Plugin process did not exit when killed", "pid", proc.pid())
		return
	}
	exit := "unknown"
	if st := proc.cmd.ProcessState; st != nil {
		exit = st.String()
	}
	p.log.Info("Plugin process ended", "pid", proc.pid(), "exit", exit, "ended_by", proc.ended)
}

// callDone records the end of a call on proc: an answer resets the crash
// and timeout counts; hangLimit timeouts in a row retire the process.
func (p *instance) callDone(proc *process, err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	proc.inFlight--
	switch {
	case err == nil:
		proc.timeouts = 0
		if p.proc == proc {
			p.failures = 0
		}
	case timedOut(err):
		proc.timeouts++
		if proc.timeouts >= hangLimit {
			p.endLocked(proc, endHung, fmt.Sprintf("%d calls in a row got no answer within the deadline", proc.timeouts))
		}
	}
}

// endedBy says how Herald ended proc ("" while it is in use) and whether
// a single call was in flight then.
func (p *instance) endedBy(proc *process) (why string, alone bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return proc.ended, proc.inFlightAtEnd <= 1
}

// stop ends the process for good, waiting for a start in progress.
func (p *instance) stop() {
	p.mu.Lock()
	p.stopped = true
	proc, starting := p.proc, p.starting
	if proc != nil {
		p.endLocked(proc, endStopped, "")
	}
	p.mu.Unlock()
	if starting != nil {
		<-starting
	}
	p.reaping.Wait()
	if proc != nil {
		p.log.Info("Plugin stopped", "pid", proc.pid())
	}
}

func (p *instance) status() Status {
	p.mu.Lock()
	defer p.mu.Unlock()
	st := Status{Info: p.info, Path: p.path, SHA256: p.sum}
	st.Name = p.name
	if st.Fields == nil {
		st.Fields = []protocol.Field{}
	}
	st.Running = p.proc != nil && !p.proc.client.Exited()
	if st.Running {
		st.Protocol = p.proc.rpc.Version()
	}
	switch {
	case p.refused != "":
		st.Error = p.refused
	case st.Running:
	case p.stopped:
		st.Error = errStopped.Error()
	case p.starting != nil:
		st.Error = "starting"
	default:
		st.Error = p.lastErr
	}
	return st
}

// fields is what the plugin last described.
func (p *instance) fields() []protocol.Field {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.info.Fields
}

// launch starts the executable and asks it to describe itself.
func (p *instance) launch() (*process, protocol.Info, error) {
	cmd := exec.Command(p.path)
	cmd.Env = slices.Clip(p.env) // go-plugin appends to it; instances share p.env
	cfg := &plugin.ClientConfig{
		HandshakeConfig:  protocol.Handshake(),
		VersionedPlugins: protocol.PluginSets(nil),
		Cmd:              cmd,
		AllowedProtocols: []plugin.Protocol{plugin.ProtocolGRPC},
		AutoMTLS:         true,
		SkipHostEnv:      true, // cmd.Env is already the filtered environment
		StartTimeout:     startTimeout,
		Logger:           newHCLogger(p.log, filepath.Base(p.path), p.secrets.redact),
		SyncStdout:       &lineWriter{log: p.log, stream: "stdout", redact: p.secrets.redact},
		SyncStderr:       &lineWriter{log: p.log, stream: "stderr", redact: p.secrets.redact},
	}
	if p.pin != nil {
		// Checked again at every (re)start, so a binary swapped after Load is refused too.
		cfg.SecureConfig = &plugin.SecureConfig{Checksum: p.pin, Hash: sha256.New()}
	}
	proc := &process{client: plugin.NewClient(cfg), cmd: cmd}
	proc.watchCtx, proc.unwatch = context.WithCancel(context.Background())

	conn, err := proc.client.Client()
	if err != nil {
		proc.stop()
		return nil, protocol.Info{}, fmt.Errorf("start: %w", err)
	}
	raw, err := conn.Dispense(protocol.PluginKey)
	if err != nil {
		proc.stop()
		return nil, protocol.Info{}, fmt.Errorf("dispense: %w", err)
	}
	proc.rpc = raw.(*protocol.Client)

	ctx, cancel := context.WithTimeout(context.Background(), p.timeout)
	defer cancel()
	info, err := proc.rpc.Describe(ctx)
	if err != nil {
		proc.stop()
		return nil, protocol.Info{}, fmt.Errorf("describe: %w", callError(err))
	}
	if info.Name != p.name {
		p.log.Warn("Plugin describes itself under another name; its file name is used", "described_as", info.Name)
		info.Name = p.name
	}
	return proc, info, nil
}

// process is one running plugin executable.
type process struct {
	client   *plugin.Client
	cmd      *exec.Cmd
	rpc      *protocol.Client
	watchCtx context.Context
	unwatch  context.CancelFunc

	// Guarded by the instance's mu.
	ended    string // endDied, endHung or endStopped once retired
	inFlight int    // calls sent and not yet answered
	// inFlightAtEnd is inFlight when it was retired: 1 means the call
	// that saw it die was alone on it.
	inFlightAtEnd int
	timeouts      int // calls in a row that got no answer in time
}

func (pr *process) pid() int {
	if pr.cmd.Process == nil {
		return 0
	}
	return pr.cmd.Process.Pid
}

// stop asks the plugin to exit and kills it if it hasn't within
// killTimeout, so a wedged plugin can't hang Herald. It reports whether
// the process is known to have ended.
func (pr *process) stop() bool {
	pr.unwatch()
	done := make(chan struct{})
	go func() {
		pr.client.Kill()
		close(done)
	}()
	select {
	case <-done:
		return true
	case <-time.After(killTimeout):
	}
	if pr.cmd.Process != nil {
		_ = pr.cmd.Process.Kill()
	}
	select {
	case <-done:
		return true
	case <-time.After(killTimeout):
		return false
	}
}

package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/herald-webhooks/herald/app/store"
	"github.com/robfig/cron/v3"
)

// Bounds that keep one run short and its write transactions small.
const (
	gapSettle       = time.Minute // younger events are left to the next run: never race ingest or a webhook being set up
	gapBatch        = 500         // events checked per transaction
	gapBatches      = 20          // per run; the mark carries the rest over
	sourcePageSize  = 100
	sourcePages     = 20 // per run: a long backlog is caught up over several runs
	sourceTimeout   = 30 * time.Second
	sourceMaxBody   = 32 << 20
	replayPerRun    = 100   // per webhook: a receiver that just came back is not flooded
	pruneBatch      = 500   // rows per transaction: never one long write lock
	pruneBatches    = 200   // per run
	keepRuns        = 10000 // about a week of runs at the default schedule
	runRecordWindow = 10 * time.Second
)

// errReconcileBusy says a run was not started because one is in progress.
var errReconcileBusy = errors.New("a reconciliation run is in progress")

// reconciler is the cron job that finds what was missed and repairs it.
type reconciler struct {
	a       *App
	log     *slog.Logger
	cron    *cron.Cron
	ctx     context.Context // the app's: cancelled at shutdown
	client  *http.Client    // for the operator's own source URL, which is trusted
	running sync.Mutex      // one run at a time, cron or manual

	replayLimit int               // replayPerRun; tests lower it
	beforeStep  func(step string) // test hook, called inside each step's recover
}

// stepFunc is one step of a run; it adds what it did to st.
type stepFunc func(ctx context.Context, st *ReconcileSteps) error

func (a *App) startReconcile(ctx context.Context) error {
	r := &reconciler{a: a, log: a.log, ctx: ctx, client: &http.Client{Timeout: sourceTimeout}, replayLimit: replayPerRun}
	logger := cronLogger{a.log}
	r.cron = cron.New(cron.WithLogger(logger), cron.WithChain(cron.Recover(logger), cron.SkipIfStillRunning(logger)))
	if _, err := r.cron.AddFunc(a.cfg.Reconcile.Schedule, r.cronRun); err != nil {
		return fmt.Errorf("reconcile schedule: %w", err)
	}
	a.extras.reconcile = r
	r.cron.Start()
	return nil
}

// stopReconcile stops the schedule and waits for a run in progress.
func (a *App) stopReconcile() {
	r := a.extras.reconcile
	if r == nil {
		return
	}
	<-r.cron.Stop().Done()
	r.running.Lock() // a manual run
	r.running.Unlock()
}

func (r *reconciler) cronRun() {
	_, err := r.run(r.ctx, "cron")
	switch {
	case errors.Is(err, errReconcileBusy):
		r.log.Info("Reconcile run skipped: another run is in progress")
	case err != nil && r.ctx.Err() == nil:
		r.log.Error("Reconcile run failed", "error", err)
	}
}

// run runs every step once and records the run. A step that fails or
// panics is recorded and the others go ahead.
func (r *reconciler) run(ctx context.Context, trigger string) (*ReconcileRun, error) {
	if !r.running.TryLock() {
		return nil, errReconcileBusy
	}
	defer r.running.Unlock()
	var out *ReconcileRun
	ran, err := runExclusive(ctx, r.a.store, "reconcile", func() (err error) {
		out, err = r.runSteps(ctx, trigger)
		return err
	})
	if err == nil && !ran {
		return nil, errReconcileBusy // another node is running it
	}
	return out, err
}

// runSteps is one run, on this node alone.
func (r *reconciler) runSteps(ctx context.Context, trigger string) (*ReconcileRun, error) {
	s := r.a.store
	run := &ReconcileRun{ID: r.a.ids.New("rec_", s.Now()), Trigger: trigger, StartedAt: s.NowMS()}
	if err := s.CreateReconcileRun(ctx, run); err != nil {
		return nil, err
	}
	steps := []struct {
		name string
		fn   stepFunc
	}{
		{"requeue", r.requeue},
		{"gap_check", r.fillGaps},
		{"source", r.catchUpSource},
		{"auto_replay", r.replayRecovered},
		{"auto_disable", r.disableFailing},
		{"retention", r.prune},
	}
	for _, step := range steps {
		r.runStep(ctx, run, step.name, step.fn)
	}
	run.FinishedAt = s.NowMS()
	run.Error = strings.Join(run.Steps.Errors, "; ")
	// Recorded even when shutdown cancelled ctx: the run happened.
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), runRecordWindow)
	defer cancel()
	if err := s.FinishReconcileRun(wctx, run); err != nil {
		return run, err
	}
	r.logRun(run)
	return run, nil
}

func (r *reconciler) runStep(ctx context.Context, run *ReconcileRun, name string, fn stepFunc) {
	defer func() {
		if p := recover(); p != nil {
			r.log.Error("Reconcile step panicked", "run_id", run.ID, "step", name, "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
			run.Steps.Errors = append(run.Steps.Errors, fmt.Sprintf("%s: panic: %v", name, p))
		}
	}()
	if r.beforeStep != nil {
		r.beforeStep(name)
	}
	if err := fn(ctx, &run.Steps); err != nil {
		r.log.Warn("Reconcile step failed", "run_id", run.ID, "step", name, "error", err)
		run.Steps.Errors = append(run.Steps.Errors, name+": "+err.Error())
	}
}

func (r *reconciler) logRun(run *ReconcileRun) {
	st := run.Steps
	attrs := []any{"run_id", run.ID, "trigger", run.Trigger, "duration_ms", run.FinishedAt - run.StartedAt,
		"requeued", st.Requeued, "gap_filled", st.GapFilled, "source_ingested", st.Source.Ingested, "replayed", st.Replayed,
		"disabled", st.Disabled, "pruned_events", st.Pruned.Events, "errors", len(st.Errors)}
	if st.Requeued+st.GapFilled+st.Source.Ingested+st.Replayed+st.Disabled+st.Pruned.Events+len(st.Errors) == 0 {
		r.log.Debug("Reconcile run finished", attrs...)
		return
	}
	r.log.Info("Reconcile run finished", attrs...)
}

// count adds n repairs of a kind to the metrics.
func (r *reconciler) count(kind string, n int) {
	if n > 0 {
		r.a.metrics.reconciled.WithLabelValues(kind).Add(float64(n))
	}
}

// requeue puts deliveries whose lease ran out back in the queue: the
// process that held them died or lost its write.
func (r *reconciler) requeue(ctx context.Context, st *ReconcileSteps) error {
	n, err := r.a.store.RequeueInFlight(ctx, r.a.store.NowMS())
	st.Requeued = n
	r.count("requeued", n)
	if n > 0 {
		r.a.disp.Wake()
	}
	return err
}

// fillGaps creates deliveries that events should have got at ingest.
// Deliveries are written with their event, so a gap means a bug or a hand
// edit; finding one is worth a warning.
func (r *reconciler) fillGaps(ctx context.Context, st *ReconcileSteps) error {
	now := r.a.store.Now()
	settled := now.Add(-gapSettle).UnixMilli()
	since := now.Add(-r.a.cfg.Reconcile.Retention.Duration).UnixMilli()
	var err error
	for range gapBatches {
		var res store.GapScan
		res, err = r.a.store.FillDeliveryGaps(ctx, settled, since, gapBatch)
		st.GapFilled += res.Filled
		if err != nil || !res.More {
			break
		}
	}
	r.count("gap_filled", st.GapFilled)
	if st.GapFilled > 0 {
		r.log.Warn("Created deliveries that were missing", "count", st.GapFilled)
		r.a.disp.Wake()
	}
	return err
}

// replayRecovered sends again, in batches, what failed while a webhook
// with auto_replay was down, once it succeeds again.
func (r *reconciler) replayRecovered(ctx context.Context, st *ReconcileSteps) error {
	ids, err := r.a.store.RecoveredWebhooks(ctx)
	if err != nil {
		return err
	}
	for _, id := range ids {
		n, err := r.a.store.ReplayRecovered(ctx, id, r.replayLimit)
		if err != nil {
			return err
		}
		if n > 0 {
			r.log.Info("Replaying failed deliveries of a recovered webhook", "webhook_id", id, "count", n)
			st.Replayed += n
		}
	}
	r.count("replayed", st.Replayed)
	if st.Replayed > 0 {
		r.a.disp.Wake()
	}
	return nil
}

// disableFailing switches off webhooks that have failed for the whole
// disable_after window without one success.
func (r *reconciler) disableFailing(ctx context.Context, st *ReconcileSteps) error {
	disabled, err := r.a.store.DisableFailingWebhooks(ctx, r.a.cfg.Reconcile.DisableAfter.Duration)
	for _, d := range disabled {
		r.log.Warn("Webhook disabled", "webhook_id", d.ID, "failing_since", store.FormatTime(d.FailingSince),
			"disable_after", r.a.cfg.Reconcile.DisableAfter.Duration.String())
		r.a.alertDisabled(d.ID, fmt.Sprintf("no delivery has succeeded since %s (%s)", store.FormatTime(d.FailingSince),
			store.HumanDuration(r.a.cfg.Reconcile.DisableAfter.Duration)))
	}
	st.Disabled = len(disabled)
	r.count("disabled", st.Disabled)
	return err
}

// prune deletes what is past retention, in small transactions. The
// conversation memory is the stored events, so it goes with them.
func (r *reconciler) prune(ctx context.Context, st *ReconcileSteps) error {
	s := r.a.store
	now := s.Now()
	cutoff := now.Add(-r.a.cfg.Reconcile.Retention.Duration).UnixMilli()
	err := inBatches(ctx, &st.Pruned.Events, func() (int, bool, error) {
		n, err := s.PruneEvents(ctx, cutoff, pruneBatch)
		return n, n == pruneBatch, err
	})
	r.count("pruned_events", st.Pruned.Events)
	if err != nil {
		return err
	}
	if st.Pruned.Runs, err = s.PruneReconcileRuns(ctx, cutoff, keepRuns); err != nil {
		return err
	}
	if st.Pruned.Events+st.Pruned.Runs > 0 {
		return s.Checkpoint(ctx)
	}
	return nil
}

// inBatches calls batch until it says there is no more, adding what it
// deleted to total, for at most pruneBatches rounds.
func inBatches(ctx context.Context, total *int, batch func() (n int, more bool, err error)) error {
	for range pruneBatches {
		n, more, err := batch()
		*total += n
		if err != nil || !more {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
	}
	return nil
}

// sourcePage is one answer of the source (DESIGN.md §8).
type sourcePage struct {
	Data       []json.RawMessage `json:"data"`
	NextCursor string            `json:"next_cursor"`
}

// catchUpSource pulls the events the platform failed to push, page by
// page from the stored cursor, and ingests those Herald never received.
func (r *reconciler) catchUpSource(ctx context.Context, st *ReconcileSteps) (err error) {
	src := r.a.cfg.Reconcile.SourceURL
	if src == "" {
		return nil
	}
	defer func() {
		if err != nil {
			st.Source.Error = err.Error()
		}
		r.count("source_ingested", st.Source.Ingested)
	}()
	cursor, err := r.a.store.SourceCursor(ctx, src)
	if err != nil {
		return err
	}
	for range sourcePages {
		page, err := r.fetchSource(ctx, src, cursor)
		if err != nil {
			return err
		}
		st.Source.Pages++
		if err := r.ingestSource(ctx, page.Data, &st.Source); err != nil {
			return err
		}
		if page.NextCursor == "" || page.NextCursor == cursor {
			if len(page.Data) > 0 {
				r.log.Warn("Source answered events without a new next_cursor; the same page will be asked for again next run")
			}
			return nil
		}
		if err := r.a.store.SaveSourceCursor(ctx, src, page.NextCursor); err != nil {
			return err
		}
		cursor = page.NextCursor
		if len(page.Data) == 0 {
			return nil // caught up
		}
	}
	return nil
}

func (r *reconciler) fetchSource(ctx context.Context, src, cursor string) (*sourcePage, error) {
	u, err := url.Parse(src)
	if err != nil {
		return nil, errors.New("source URL does not parse")
	}
	q := u.Query()
	q.Set("after", cursor)
	q.Set("limit", strconv.Itoa(sourcePageSize))
	u.RawQuery = q.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, fmt.Errorf("fetch page: %w", err)
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "Herald/"+r.a.version)
	if token := r.a.cfg.Reconcile.SourceToken; token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := r.client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // without the URL, which may carry a key
		}
		return nil, fmt.Errorf("fetch page: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, sourceMaxBody+1))
	if err != nil {
		return nil, fmt.Errorf("fetch page: %w", err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return nil, fmt.Errorf("fetch page: the source answered %s", resp.Status)
	}
	if len(body) > sourceMaxBody {
		return nil, fmt.Errorf("fetch page: the answer is over %d MiB", sourceMaxBody>>20)
	}
	var page sourcePage
	if err := json.Unmarshal(body, &page); err != nil {
		return nil, fmt.Errorf(`fetch page: the answer is not {"data": [...], "next_cursor": "..."}: %w`, err)
	}
	return &page, nil
}

// ingestSource validates and stores one page. Invalid events and ids
// reused with other content are logged and skipped: one bad event must not
// stop the catch-up.
func (r *reconciler) ingestSource(ctx context.Context, items []json.RawMessage, st *SourceStats) error {
	now := r.a.store.Now()
	evs := make([]*Event, 0, len(items))
	for i, raw := range items {
		var in EventInput
		if err := json.Unmarshal(raw, &in); err != nil || in.ID == "" {
			r.log.Warn("Source event skipped", "index", i, "error", "not an event object with an id")
			st.Skipped++
			continue
		}
		ev, verr := prepareEvent(&in, "", now, r.a.ids)
		if verr != nil {
			r.log.Warn("Source event skipped", "event_id", in.ID, "error", verr.Message)
			st.Skipped++
			continue
		}
		ev.Source = "source"
		evs = append(evs, ev)
	}
	if len(evs) == 0 {
		return nil
	}
	results, err := r.a.store.InsertEvents(ctx, evs, nil)
	if e := (*store.Error)(nil); errors.As(err, &e) && e.Code == store.CodeConflict {
		results, err = r.ingestEach(ctx, evs, st)
	}
	if err != nil {
		return err
	}
	wake := false
	for _, res := range results {
		if res.Existing {
			st.Known++
			continue
		}
		st.Ingested++
		wake = wake || res.Deliveries > 0
	}
	if wake {
		r.a.disp.Wake()
	}
	return nil
}

// ingestEach stores events one by one, skipping those that conflict.
func (r *reconciler) ingestEach(ctx context.Context, evs []*Event, st *SourceStats) ([]store.IngestResult, error) {
	var out []store.IngestResult
	for _, ev := range evs {
		res, err := r.a.store.InsertEvents(ctx, []*Event{ev}, nil)
		if e := (*store.Error)(nil); errors.As(err, &e) && e.Code == store.CodeConflict {
			r.log.Warn("Source event skipped", "event_id", ev.ID, "error", e.Message)
			st.Skipped++
			continue
		}
		if err != nil {
			return out, err
		}
		out = append(out, res...)
	}
	return out, nil
}

// onRecover is called by the dispatcher when a failing webhook succeeds.
func (a *App) onRecover(webhookID string) {
	if err := a.store.MarkRecovered(context.Background(), webhookID); err != nil {
		a.log.Error("Remember webhook recovery failed", "webhook_id", webhookID, "error", err)
	}
}

// cronLogger sends robfig/cron's logs to slog; its routine chatter is debug.
type cronLogger struct{ log *slog.Logger }

func (l cronLogger) Info(msg string, kv ...any) { l.log.Debug("Cron: "+msg, kv...) }

func (l cronLogger) Error(err error, msg string, kv ...any) {
	l.log.Error("Cron: "+msg, append(kv, "error", err)...)
}

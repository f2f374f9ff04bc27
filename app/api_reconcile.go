package app

import (
	"errors"

	"github.com/gofiber/fiber/v2"
	"github.com/herald-webhooks/herald/app/store"
)

type reconcileRunJSON struct {
	ID         string         `json:"id"`
	Trigger    string         `json:"trigger"`
	StartedAt  string         `json:"started_at"`
	FinishedAt string         `json:"finished_at"` // empty while running
	Steps      ReconcileSteps `json:"steps"`
	Error      string         `json:"error"`
}

func toReconcileRunJSON(r *ReconcileRun) reconcileRunJSON {
	out := reconcileRunJSON{ID: r.ID, Trigger: r.Trigger, StartedAt: store.FormatTime(r.StartedAt), FinishedAt: store.FormatTime(r.FinishedAt),
		Steps: r.Steps, Error: r.Error}
	if out.Steps.Errors == nil {
		out.Steps.Errors = []string{}
	}
	return out
}

func (a *App) handleReconcileRuns(c *fiber.Ctx) error {
	limit, after, err := listParams(c)
	if err != nil {
		return err
	}
	if err := idCursor(after, "rec_"); err != nil {
		return err
	}
	runs, err := a.store.FindReconcileRuns(c.UserContext(), after, limit+1)
	if err != nil {
		return err
	}
	out := make([]reconcileRunJSON, len(runs))
	for i, r := range runs {
		out[i] = toReconcileRunJSON(r)
	}
	return c.JSON(pageOf(out, runs, limit, func(r *ReconcileRun) string { return r.ID }))
}

// handleReconcileRun runs the job now and answers when it is done.
func (a *App) handleReconcileRun(c *fiber.Ctx) error {
	r := a.extras.reconcile
	if r == nil {
		return errorf(CodeUnavailable, "", "reconciliation has not started yet")
	}
	// The app's context, not the request's: a client that hangs up does not
	// cut a run short.
	run, err := r.run(r.ctx, "manual")
	if errors.Is(err, errReconcileBusy) {
		return errorf(CodeConflict, "", "a reconciliation run is in progress; try again when it has finished (GET /api/v1/reconcile/runs)")
	}
	if err != nil {
		return err
	}
	return c.JSON(toReconcileRunJSON(run))
}

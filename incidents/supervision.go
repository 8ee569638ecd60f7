package incidents

import (
	"context"
	"time"
)

// FireTimers fires the supervision timers that are due: a reminder before a
// deadline (催办, to the department), a notice when the signing or
// completion deadline passes (to the department and the leadership group),
// and escalation to the leadership group after it (督办), repeated every
// Repeat interval until the task is handled. Timers live in the store:
// they survive restarts and each fires once, whichever node fires it. It
// returns how many fired.
func (w *Workflow) FireTimers(ctx context.Context) (int, error) {
	total := 0
	for {
		n, err := w.cfg.Store.FireDueTimers(ctx, w.now(), 100, w.fire)
		total += n
		if err != nil || n < 100 {
			return total, err
		}
	}
}

// fire handles one due timer inside its transaction.
func (w *Workflow) fire(ctx context.Context, tx Tx, tm Timer) error {
	t, err := tx.Task(ctx, tm.TaskID)
	if ErrorCode(err) == CodeNotFound {
		return nil // a timer without its task has nothing to supervise
	}
	if err != nil {
		return err
	}
	if !t.State.Open() {
		return nil // handled since: nothing to do
	}
	now := w.now()
	l := w.cfg.Limits[t.Class]
	ch := change{actor: System, timer: &tm}
	switch tm.Kind {
	case TimerSign:
		if t.State != TaskDispatched && t.State != TaskReopened {
			return nil
		}
		ch.typ, ch.notice = EventTaskSignOverdue, &Notice{Kind: NoticeSignOverdue, SignBy: t.SignBy}
	case TimerRemind:
		ch.typ, ch.notice = EventTaskReminder, &Notice{Kind: NoticeReminder, Deadline: t.Deadline}
	case TimerOverdue:
		t.Overdue = true
		ch.typ, ch.notice = EventTaskOverdue, &Notice{Kind: NoticeOverdue, Deadline: t.Deadline}
	case TimerEscalate:
		t.Overdue = true
		t.Escalations++
		ch.typ = EventTaskEscalated
		ch.notice = &Notice{Kind: NoticeEscalated, Attempt: tm.Attempt, Deadline: t.Deadline, LateS: int64(now.Sub(t.Deadline) / time.Second)}
		next := Timer{TaskID: t.ID, Kind: TimerEscalate, DueAt: tm.DueAt.Add(time.Duration(l.Repeat)), Attempt: tm.Attempt + 1}
		for !next.DueAt.After(now) { // a node that was down long does not fire a backlog
			next.DueAt = next.DueAt.Add(time.Duration(l.Repeat))
		}
		if err := tx.SetTimers(ctx, t.ID, []Timer{next}); err != nil {
			return err
		}
	default:
		return nil // a kind this version does not know: fired and forgotten, so it cannot block the others
	}
	if err := w.save(ctx, tx, &t, t.Version, ch); err != nil {
		return err
	}
	if tm.Kind != TimerEscalate && tm.Kind != TimerSign {
		return nil
	}
	inc, err := tx.Incident(ctx, t.IncidentID)
	if err != nil {
		return err
	}
	a := incidentAlert(AlertEscalation, inc)
	a.TaskID, a.Dept, a.Attempt, a.Notice = t.ID, t.Dept, tm.Attempt, ch.notice
	return w.alert(ctx, tx, a)
}

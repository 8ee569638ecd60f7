package incidents

import (
	"context"
	"fmt"
	"time"
)

// supervisionEvent is the data of a reminder, overdue or escalation event.
type supervisionEvent struct {
	Task
	Timer   Timer  `json:"timer"`
	Message string `json:"message"`
}

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
	prev := t.Version
	ev := supervisionEvent{Timer: tm}
	var evType string
	switch tm.Kind {
	case TimerSign:
		if t.State != TaskDispatched && t.State != TaskReopened {
			return nil
		}
		evType = EventTaskSignOverdue
		ev.Message = fmt.Sprintf("未在 %s 前签收", t.SignBy.In(shanghai).Format("01-02 15:04"))
	case TimerRemind:
		evType = EventTaskReminder
		ev.Message = fmt.Sprintf("催办：请于 %s 前办结", t.Deadline.In(shanghai).Format("01-02 15:04"))
	case TimerOverdue:
		t.Overdue = true
		evType = EventTaskOverdue
		ev.Message = fmt.Sprintf("已超过办结时限 %s", t.Deadline.In(shanghai).Format("01-02 15:04"))
	case TimerEscalate:
		t.Overdue = true
		t.Escalations++
		evType = EventTaskEscalated
		ev.Message = fmt.Sprintf("督办（第 %d 次）：超期 %s 未办结", tm.Attempt, now.Sub(t.Deadline).Round(time.Minute))
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
	t.Version, t.UpdatedAt = prev+1, now
	if err := tx.PutTask(ctx, t, prev); err != nil {
		return err
	}
	ev.Task = t
	if err := tx.Append(ctx, EventInput{Type: evType, Actor: System.Name, Data: ev}); err != nil {
		return err
	}
	if tm.Kind != TimerEscalate && tm.Kind != TimerSign {
		return nil
	}
	inc, err := tx.Incident(ctx, t.IncidentID)
	if err != nil {
		return err
	}
	return tx.Append(ctx, EventInput{Type: EventAlertRaised, Actor: System.Name, Data: alert{
		Kind: "escalation", IncidentID: inc.ID, TaskID: t.ID, Grade: inc.Grade, Colour: inc.Grade.Colour(),
		Title: inc.Title, Message: t.Dept + ": " + ev.Message, Centroid: inc.Centroid, Dept: t.Dept,
	}})
}

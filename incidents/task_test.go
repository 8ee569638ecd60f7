package incidents_test

import (
	"errors"
	"fmt"
	"testing"

	"flare/incidents"
)

func TestNextStateCoversEveryStateAndAction(t *testing.T) {
	states := []incidents.TaskState{incidents.TaskDispatched, incidents.TaskSigned, incidents.TaskInProgress,
		incidents.TaskCompleted, incidents.TaskVerified, incidents.TaskReturned, incidents.TaskReopened, incidents.TaskCancelled}
	// legal[action][from] = to; every pair not listed must be refused.
	legal := map[incidents.TaskAction]map[incidents.TaskState]incidents.TaskState{
		incidents.ActSign:             {"dispatched": "signed", "reopened": "signed"},
		incidents.ActProgress:         {"signed": "in_progress", "in_progress": "in_progress"},
		incidents.ActComplete:         {"signed": "completed", "in_progress": "completed"},
		incidents.ActReturn:           {"dispatched": "returned", "signed": "returned"},
		incidents.ActRequestExtension: {"dispatched": "dispatched", "signed": "signed", "in_progress": "in_progress", "reopened": "reopened"},
		incidents.ActDecideExtension:  {"dispatched": "dispatched", "signed": "signed", "in_progress": "in_progress", "reopened": "reopened"},
		incidents.ActVerify:           {"completed": "verified"},
		incidents.ActRejectResult:     {"completed": "in_progress"},
		incidents.ActReassign:         {"returned": "dispatched"},
		incidents.ActReopen:           {"completed": "reopened", "verified": "reopened"},
		incidents.ActCancel: {"dispatched": "cancelled", "signed": "cancelled", "in_progress": "cancelled",
			"returned": "cancelled", "reopened": "cancelled", "completed": "cancelled"},
	}
	for action, froms := range legal {
		for _, from := range states {
			want, ok := froms[from]
			name := fmt.Sprintf("%s from %s", action, from)
			if ok {
				name += " is allowed"
			} else {
				name += " is refused"
			}
			t.Run(name, func(t *testing.T) {
				got, err := incidents.NextState(from, action)
				if ok {
					if err != nil || got != want {
						t.Errorf("NextState(%s, %s) = %q, %v; want %q", from, action, got, err, want)
					}
					return
				}
				var e *incidents.Error
				if !errors.As(err, &e) || e.Code != incidents.CodeInvalidTransition {
					t.Errorf("NextState(%s, %s) = %q, %v; want invalid_transition", from, action, got, err)
				}
			})
		}
	}
	if _, err := incidents.NextState(incidents.TaskSigned, "dance"); incidents.ErrorCode(err) != incidents.CodeInvalid {
		t.Errorf("NextState(signed, dance) = %v, want invalid", err)
	}
	for _, s := range states {
		want := s == incidents.TaskDispatched || s == incidents.TaskSigned || s == incidents.TaskInProgress || s == incidents.TaskReopened
		if s.Open() != want {
			t.Errorf("%s.Open() = %v, want %v", s, s.Open(), want)
		}
	}
}

package api

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"time"

	"flare/incidents"
)

// workflowRoutes registers the command workflow's endpoints: incidents,
// tasks, callbacks, departments and the audit log.
func (s *Server) workflowRoutes() {
	s.mux.Handle("GET /api/v1/departments", s.authorizeFunc(s.handleDepartments, incidents.OpReadReference))
	s.mux.Handle("GET /api/v1/incidents", s.authorizeFunc(s.handleListIncidents, incidents.OpReadIncidents))
	s.mux.Handle("GET /api/v1/incidents/{id}", s.authorizeFunc(byID(s, (*incidents.Workflow).GetIncident), incidents.OpReadIncidents))
	s.mux.Handle("GET /api/v1/incidents/{id}/tasks", s.authorizeFunc(s.handleIncidentTasks, incidents.OpReadIncidents))
	s.mux.Handle("POST /api/v1/incidents/{id}/actions", s.authorizeFunc(act(s, http.StatusOK, (*incidents.Workflow).ActOnIncident), incidents.OpActOnIncidents))
	s.mux.Handle("POST /api/v1/incidents/{id}/merge", s.authorizeFunc(act(s, http.StatusOK, mergeIncidents), incidents.OpActOnIncidents))
	s.mux.Handle("GET /api/v1/tasks", s.authorizeFunc(s.handleListTasks, incidents.OpReadTasks))
	s.mux.Handle("GET /api/v1/tasks/{id}", s.authorizeFunc(byID(s, (*incidents.Workflow).GetTask), incidents.OpReadTasks))
	s.mux.Handle("POST /api/v1/tasks/{id}/actions", s.authorizeFunc(act(s, http.StatusOK, (*incidents.Workflow).ActOnTask), incidents.OpActOnTasks))
	s.mux.Handle("POST /api/v1/tasks/{id}/callbacks", s.authorizeFunc(act(s, http.StatusCreated, (*incidents.Workflow).RecordCallback), incidents.OpRecordCallbacks))
	s.mux.Handle("GET /api/v1/tasks/{id}/timers", s.authorizeFunc(s.handleTaskTimers, incidents.OpReadTimers))
	s.mux.Handle("GET /api/v1/audit", s.authorizeFunc(s.handleAudit, incidents.OpReadAudit))
}

// actor is the domain's view of the request's principal.
func actor(r *http.Request) incidents.Actor {
	p := principalFrom(r.Context())
	return incidents.Actor{Name: p.Actor(), Role: p.Role, Dept: p.Dept, Origin: r.RemoteAddr}
}

// workflow returns the workflow, or answers 503 when this node has none.
func (s *Server) workflow(w http.ResponseWriter, r *http.Request) *incidents.Workflow {
	if s.cfg.Workflow == nil {
		writeError(w, r, incidents.Errorf(incidents.CodeUnavailable, "the command workflow is not running on this node"))
	}
	return s.cfg.Workflow
}

func (s *Server) handleDepartments(w http.ResponseWriter, r *http.Request) {
	if wf := s.workflow(w, r); wf != nil {
		writeJSON(w, http.StatusOK, wf.Departments())
	}
}

// limitParam reads ?limit (1..max, default def).
func limitParam(r *http.Request, def, max int) (int, error) {
	v := r.URL.Query().Get("limit")
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > max {
		return 0, incidents.FieldError(incidents.CodeBadRequest, "limit", "limit must be a whole number from 1 to %d", max)
	}
	return n, nil
}

func (s *Server) handleListIncidents(w http.ResponseWriter, r *http.Request) {
	wf := s.workflow(w, r)
	if wf == nil {
		return
	}
	f := incidents.IncidentFilter{}
	var err error
	if f.Limit, err = limitParam(r, 200, 1000); err != nil {
		writeError(w, r, err)
		return
	}
	if v := r.URL.Query().Get("state"); v != "" {
		for _, st := range strings.Split(v, ",") {
			switch incidents.IncidentState(st) {
			case incidents.IncidentOpen, incidents.IncidentConfirmed, incidents.IncidentClosed, incidents.IncidentMerged:
				f.States = append(f.States, incidents.IncidentState(st))
			default:
				writeError(w, r, incidents.FieldError(incidents.CodeBadRequest, "state", "unknown incident state %q (open, confirmed, closed, merged)", st))
				return
			}
		}
	}
	list, err := wf.ListIncidents(r.Context(), actor(r), f)
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeList(w, "incidents", list)
}

func (s *Server) handleIncidentTasks(w http.ResponseWriter, r *http.Request) {
	wf := s.workflow(w, r)
	if wf == nil {
		return
	}
	a := actor(r)
	if _, err := wf.GetIncident(r.Context(), a, r.PathValue("id")); err != nil {
		writeError(w, r, err)
		return
	}
	tasks, err := wf.ListTasks(r.Context(), a, incidents.TaskFilter{IncidentID: r.PathValue("id"), Limit: 1000})
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeList(w, "tasks", tasks)
}

func (s *Server) handleListTasks(w http.ResponseWriter, r *http.Request) {
	wf := s.workflow(w, r)
	if wf == nil {
		return
	}
	q := r.URL.Query()
	f := incidents.TaskFilter{Dept: q.Get("dept"), IncidentID: q.Get("incident")}
	var err error
	if f.Limit, err = limitParam(r, 500, 5000); err != nil {
		writeError(w, r, err)
		return
	}
	if v := q.Get("state"); v != "" {
		for _, st := range strings.Split(v, ",") {
			ts := incidents.TaskState(st)
			switch ts {
			case incidents.TaskDispatched, incidents.TaskSigned, incidents.TaskInProgress, incidents.TaskCompleted,
				incidents.TaskVerified, incidents.TaskReturned, incidents.TaskReopened, incidents.TaskCancelled:
				f.States = append(f.States, ts)
			default:
				writeError(w, r, incidents.FieldError(incidents.CodeBadRequest, "state", "unknown task state %q", st))
				return
			}
		}
	}
	a := actor(r)
	if a.Role == incidents.RoleDept && f.Dept != "" && f.Dept != a.Dept {
		writeError(w, r, incidents.FieldError(incidents.CodeForbidden, "dept", "a department sees only its own tasks"))
		return
	}
	tasks, err := wf.ListTasks(r.Context(), a, f)
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeList(w, "tasks", tasks)
}

func (s *Server) handleTaskTimers(w http.ResponseWriter, r *http.Request) {
	wf := s.workflow(w, r)
	if wf == nil {
		return
	}
	if _, err := wf.GetTask(r.Context(), actor(r), r.PathValue("id")); err != nil {
		writeError(w, r, err)
		return
	}
	timers, err := wf.PendingTimers(r.Context(), r.PathValue("id"))
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeList(w, "timers", timers)
}

func (s *Server) handleAudit(w http.ResponseWriter, r *http.Request) {
	wf := s.workflow(w, r)
	if wf == nil {
		return
	}
	q := r.URL.Query()
	f := incidents.AuditFilter{Actor: q.Get("actor"), TypePrefix: q.Get("type")}
	var err error
	if f.Limit, err = limitParam(r, 200, 1000); err != nil {
		writeError(w, r, err)
		return
	}
	for _, p := range []struct {
		name string
		dst  *time.Time
	}{{"from", &f.From}, {"to", &f.To}} {
		if v := q.Get(p.name); v != "" {
			t, err := time.Parse(time.RFC3339Nano, v)
			if err != nil {
				writeError(w, r, incidents.FieldError(incidents.CodeBadRequest, p.name, "%s must be an RFC 3339 time", p.name))
				return
			}
			*p.dst = t.UTC()
		}
	}
	if v := q.Get("before"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 1 {
			writeError(w, r, incidents.FieldError(incidents.CodeBadRequest, "before", "before must be a seq (a positive whole number)"))
			return
		}
		f.BeforeSeq = n
	}
	entries, err := wf.Audit(r.Context(), actor(r), f)
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeList(w, "entries", entries)
}

// byID returns a handler that answers with the record get finds for the
// request's actor and the path's id.
func byID[Out any](s *Server, get func(*incidents.Workflow, context.Context, incidents.Actor, string) (Out, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		wf := s.workflow(w, r)
		if wf == nil {
			return
		}
		out, err := get(wf, r.Context(), actor(r), r.PathValue("id"))
		if err != nil {
			writeError(w, r, err)
			return
		}
		writeJSON(w, http.StatusOK, out)
	}
}

// act returns a handler that reads the body into In, applies do for the
// request's actor to the path's id, and answers status with the result.
func act[In, Out any](s *Server, status int, do func(*incidents.Workflow, context.Context, incidents.Actor, string, In) (Out, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		wf := s.workflow(w, r)
		if wf == nil {
			return
		}
		var in In
		if err := s.decodeJSON(w, r, &in); err != nil {
			writeError(w, r, err)
			return
		}
		out, err := do(wf, r.Context(), actor(r), r.PathValue("id"), in)
		if err != nil {
			writeError(w, r, err)
			return
		}
		writeJSON(w, status, out)
	}
}

// mergeRequest is the body of POST /api/v1/incidents/{id}/merge.
type mergeRequest struct {
	Other  string `json:"other"`
	Reason string `json:"reason"`
}

func mergeIncidents(wf *incidents.Workflow, ctx context.Context, a incidents.Actor, id string, in mergeRequest) (incidents.Incident, error) {
	if in.Other == "" {
		return incidents.Incident{}, incidents.FieldError(incidents.CodeInvalid, "other", "other (the incident to merge in) is required")
	}
	return wf.MergeIncidents(ctx, a, id, in.Other, in.Reason)
}

// writeList answers {key: items}, with [] rather than null when there are
// none.
func writeList[T any](w http.ResponseWriter, key string, items []T) {
	if items == nil {
		items = []T{}
	}
	writeJSON(w, http.StatusOK, map[string]any{key: items})
}

package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"time"

	"flare/geo"
	"flare/incidents"
	"flare/incidents/defaults"
)

// workflowFlags configure the command workflow of `flare serve`.
type workflowFlags struct {
	departmentsFile string
	districtsFile   string
	rulesFile       string
	limitsFile      string
	autoDispatch    int
	lateness        time.Duration
}

func (w *workflowFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&w.departmentsFile, "departments", "", "departments JSON file (default: the built-in Zhuhai member departments)")
	fs.StringVar(&w.districtsFile, "districts", "", "GeoJSON file of the jurisdictions that route incidents to district governments (default: coarse Zhuhai districts)")
	fs.StringVar(&w.rulesFile, "rules", "", "cluster rules JSON file (default: the built-in rules, see docs/DETECT.md)")
	fs.StringVar(&w.limitsFile, "time-limits", "", "task time limits JSON file (default: 12345 practice, see docs/WORKFLOW.md)")
	fs.IntVar(&w.autoDispatch, "auto-dispatch-grade", 3, "incidents of this grade or more severe (1 = I, red .. 4 = IV, blue) are dispatched without waiting for a leader")
	fs.DurationVar(&w.lateness, "lateness", 2*time.Minute, "how late a call may arrive and still be clustered")
}

// readOr reads path, or returns def when path is empty.
func readOr(path string, def []byte) ([]byte, error) {
	if path == "" {
		return def, nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return b, nil
}

// ruleJSON is a cluster rule as a rules file writes it.
type ruleJSON struct {
	Name       string   `json:"name"`
	Categories []string `json:"categories"`
	Eps        float64  `json:"eps_m"`
	MinCalls   int      `json:"min_calls"`
	Window     string   `json:"window"` // a Go duration, such as "30m"
}

// parseRules reads a JSON array of rules and validates them.
func parseRules(data []byte) ([]geo.Rule, error) {
	var in []ruleJSON
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&in); err != nil {
		return nil, fmt.Errorf("rules are not a JSON array of {name, categories, eps_m, min_calls, window}: %w", err)
	}
	rules := make([]geo.Rule, 0, len(in))
	for i, r := range in {
		w, err := time.ParseDuration(r.Window)
		if err != nil {
			return nil, fmt.Errorf("rules[%d] (%s): window %q is not a duration such as 30m", i, r.Name, r.Window)
		}
		rules = append(rules, geo.Rule{Name: r.Name, Categories: r.Categories, Eps: r.Eps, MinCalls: r.MinCalls, Window: w})
	}
	if err := geo.ValidateRules(rules); err != nil {
		return nil, err
	}
	return rules, nil
}

// workflowSetup is what the workflow needs besides the store.
type workflowSetup struct {
	departments *incidents.Departments
	districts   *incidents.Regions
	rules       []geo.Rule
	limits      map[incidents.UrgencyClass]incidents.TimeLimit
	grade       incidents.Grade
}

// load reads and checks the workflow's configuration.
func (w *workflowFlags) load(tax *incidents.Taxonomy) (workflowSetup, error) {
	var s workflowSetup
	data, err := readOr(w.departmentsFile, defaults.Departments)
	if err != nil {
		return s, fmt.Errorf("--departments: %w", err)
	}
	if s.departments, err = incidents.ParseDepartments(data, tax); err != nil {
		return s, fmt.Errorf("departments %s: %w", orDefault(w.departmentsFile), err)
	}
	if data, err = readOr(w.districtsFile, defaults.ZhuhaiDistricts); err != nil {
		return s, fmt.Errorf("--districts: %w", err)
	}
	if s.districts, err = incidents.ParseRegions(orDefault(w.districtsFile), data); err != nil {
		return s, fmt.Errorf("districts %s: %w", orDefault(w.districtsFile), err)
	}
	s.rules = geo.DefaultRules()
	if w.rulesFile != "" {
		if data, err = os.ReadFile(w.rulesFile); err != nil {
			return s, fmt.Errorf("--rules: %w", err)
		}
		if s.rules, err = parseRules(data); err != nil {
			return s, fmt.Errorf("rules %s: %w", w.rulesFile, err)
		}
	}
	s.limits = incidents.DefaultTimeLimits()
	if w.limitsFile != "" {
		if data, err = os.ReadFile(w.limitsFile); err != nil {
			return s, fmt.Errorf("--time-limits: %w", err)
		}
		s.limits = map[incidents.UrgencyClass]incidents.TimeLimit{}
		if err := json.Unmarshal(data, &s.limits); err != nil {
			return s, fmt.Errorf("time limits %s: %w", w.limitsFile, err)
		}
	}
	if err := incidents.ValidateLimits(s.limits); err != nil {
		return s, fmt.Errorf("time limits %s: %w", orDefault(w.limitsFile), err)
	}
	s.grade = incidents.Grade(w.autoDispatch)
	if !s.grade.Valid() {
		return s, fmt.Errorf("--auto-dispatch-grade %d: want 1 (I) to 4 (IV)", w.autoDispatch)
	}
	if w.lateness < 0 || w.lateness > time.Hour {
		return s, fmt.Errorf("--lateness %s: want 0 to 1h", w.lateness)
	}
	return s, nil
}

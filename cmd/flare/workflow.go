package main

import (
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
	detector        bool
}

func (w *workflowFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&w.departmentsFile, "departments", "", "departments JSON file (default: the built-in Zhuhai member departments)")
	fs.StringVar(&w.districtsFile, "districts", "", "GeoJSON file of the jurisdictions that route incidents to district governments (default: coarse Zhuhai districts)")
	fs.StringVar(&w.rulesFile, "rules", "", "cluster rules JSON file (default: the built-in rules, see docs/DETECT.md)")
	fs.StringVar(&w.limitsFile, "time-limits", "", "task time limits JSON file (default: 12345 practice, see docs/WORKFLOW.md)")
	fs.IntVar(&w.autoDispatch, "auto-dispatch-grade", 3, "incidents of this grade or more severe (1 = I, red .. 4 = IV, blue) are dispatched without waiting for a leader")
	fs.DurationVar(&w.lateness, "lateness", 2*time.Minute, "how late a call may arrive and still be clustered")
	fs.BoolVar(&w.detector, "detector", true, "run the incident tracker when this node holds the detector lease (false: a node that only takes calls and serves dashboards)")
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
		if s.rules, err = geo.ParseRules(data); err != nil {
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

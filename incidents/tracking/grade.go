package tracking

import "flare/incidents"

// Grading rules (documented in docs/WORKFLOW.md). An incident's automatic
// grade comes from its size relative to the rule that found it, weighted by
// its categories, raised by fast growth and by urgent calls. The automatic
// grade only ever rises; a leader's regrade stops it.
const (
	hazardWeight      = 2 // gas leaks, fires and building safety weigh double
	urgentForGradeII  = 3 // urgent calls that make an incident at least grade II
	recentWindowCalls = 2 // calls in the growth span, in multiples of minCalls, that raise the grade
)

var hazardCategories = map[string]bool{"gas_leak": true, "fire": true, "building_safety": true}

// AutoGrade returns the automatic grade of an incident of calls calls with
// the given categories, urgentCalls urgent ones and recent calls in the last
// growth span, found by a rule needing minCalls calls, and why.
func AutoGrade(calls int, categories map[string]int, urgentCalls, recent, minCalls int) (incidents.Grade, incidents.GradeReason) {
	if minCalls < 1 {
		minCalls = 1
	}
	weight := 1
	for c := range categories {
		if hazardCategories[c] {
			weight = hazardWeight
		}
	}
	score := float64(calls*weight) / float64(minCalls)
	g := incidents.GradeIV
	switch {
	case score >= 8:
		g = incidents.GradeI
	case score >= 4:
		g = incidents.GradeII
	case score >= 2:
		g = incidents.GradeIII
	}
	r := incidents.GradeReason{Kind: incidents.GradeByCalls, Calls: calls, MinCalls: minCalls, Hazard: weight > 1}
	if recent >= minCalls*recentWindowCalls && g > incidents.GradeI {
		g--
		r.Recent = recent
	}
	if urgentCalls >= urgentForGradeII && g > incidents.GradeII {
		g = incidents.GradeII
		r.UrgentCalls = urgentCalls
	} else if urgentCalls > 0 && g > incidents.GradeIII {
		g = incidents.GradeIII
		r.UrgentCalls = urgentCalls
	}
	return g, r
}

package geo

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// AllCategories is the category list entry that makes a rule take calls of
// every category.
const AllCategories = "all"

// Limits on rule parameters. They keep the grid well formed and the cost per
// call bounded.
const (
	MinEps      = 1.0       // metres
	MaxEps      = 100_000.0 // metres
	MaxMinCalls = 100_000
	MaxWindow   = 7 * 24 * time.Hour
)

// ErrInvalidRule is wrapped by every error that Rule.Validate returns.
var ErrInvalidRule = errors.New("invalid rule")

// Rule says which calls form a cluster: calls of the rule's categories,
// within Eps metres of each other, at least MinCalls of them (the call itself
// included) in a time window of length Window.
type Rule struct {
	// Name identifies the rule in clusters and events.
	Name string
	// Categories lists the call categories the rule takes; empty, or the
	// single entry "all", takes every category.
	Categories []string
	// Eps is the neighbourhood radius in metres.
	Eps float64
	// MinCalls is how many neighbours, the call itself included, make a
	// call core.
	MinCalls int
	// Window is how long a call stays in the detector.
	Window time.Duration
}

// ruleJSON is the configuration form of a Rule: the window as a duration
// such as "30m".
type ruleJSON struct {
	Name       string          `json:"name"`
	Categories []string        `json:"categories,omitempty"`
	Eps        float64         `json:"eps_m"`
	MinCalls   int             `json:"min_calls"`
	Window     json.RawMessage `json:"window"`
}

// MarshalJSON encodes the rule with its window as a duration string, such
// as {"name":"waterlogging","categories":["waterlogging"],"eps_m":500,
// "min_calls":5,"window":"30m0s"}.
func (r Rule) MarshalJSON() ([]byte, error) {
	w, err := json.Marshal(r.Window.String())
	if err != nil {
		return nil, err
	}
	return json.Marshal(ruleJSON{Name: r.Name, Categories: r.Categories, Eps: r.Eps, MinCalls: r.MinCalls, Window: w})
}

// UnmarshalJSON decodes a rule whose window is a duration string ("30m",
// "1h") or a number of seconds. Unknown fields are errors, so that a
// misspelt setting is not silently dropped. It does not validate the rule;
// ParseRules does.
func (r *Rule) UnmarshalJSON(b []byte) error {
	var j ruleJSON
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&j); err != nil {
		return fmt.Errorf("rule: %w", err)
	}
	*r = Rule{Name: j.Name, Categories: j.Categories, Eps: j.Eps, MinCalls: j.MinCalls}
	w := bytes.TrimSpace(j.Window)
	switch {
	case len(w) == 0 || string(w) == "null":
	case w[0] == '"':
		var s string
		if err := json.Unmarshal(w, &s); err != nil {
			return fmt.Errorf("rule %s: window: %w", j.Name, err)
		}
		d, err := time.ParseDuration(s)
		if err != nil {
			return fmt.Errorf("rule %s: window %q is not a duration such as 30m: %w", j.Name, s, ErrInvalidRule)
		}
		r.Window = d
	default:
		var secs float64
		if err := json.Unmarshal(w, &secs); err != nil {
			return fmt.Errorf("rule %s: window %s is not a duration or a number of seconds: %w", j.Name, w, ErrInvalidRule)
		}
		r.Window = time.Duration(secs * float64(time.Second))
	}
	return nil
}

// ParseRules reads a JSON array of rules, such as
// [{"name":"floods","categories":["waterlogging"],"eps_m":500,"min_calls":5,"window":"30m"}],
// and validates them with ValidateRules. Its errors wrap ErrInvalidRule.
func ParseRules(data []byte) ([]Rule, error) {
	var rules []Rule
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&rules); err != nil {
		if errors.Is(err, ErrInvalidRule) {
			return nil, err
		}
		return nil, fmt.Errorf("parse rules: %v: %w", err, ErrInvalidRule)
	}
	if err := ValidateRules(rules); err != nil {
		return nil, err
	}
	return rules, nil
}

// String returns the rule in a compact human form, such as
// "waterlogging: waterlogging 500m/5 in 30m0s".
func (r Rule) String() string {
	cats := AllCategories
	if !r.allCategories() {
		cats = strings.Join(r.Categories, ",")
	}
	return fmt.Sprintf("%s: %s %gm/%d in %s", r.Name, cats, r.Eps, r.MinCalls, r.Window)
}

func (r Rule) allCategories() bool {
	return len(r.Categories) == 0 || (len(r.Categories) == 1 && r.Categories[0] == AllCategories)
}

// Matches reports whether the rule takes calls of the category.
func (r Rule) Matches(category string) bool {
	return r.allCategories() || slices.Contains(r.Categories, category)
}

// Validate checks the rule and returns an error wrapping ErrInvalidRule that
// names the first field that is wrong.
func (r Rule) Validate() error {
	name := r.Name
	if name == "" {
		name = "(unnamed)"
	}
	fail := func(format string, args ...any) error {
		return fmt.Errorf("rule %s: %s: %w", name, fmt.Sprintf(format, args...), ErrInvalidRule)
	}
	if r.Name == "" {
		return fail("name is empty")
	}
	for _, c := range r.Name {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-' || c == '.') {
			return fail("name %q may hold only letters, digits, '_', '-' and '.'", r.Name)
		}
	}
	if !(r.Eps >= MinEps && r.Eps <= MaxEps) { // also rejects NaN
		return fail("eps %g m is outside [%g, %g]", r.Eps, MinEps, MaxEps)
	}
	if r.MinCalls < 1 || r.MinCalls > MaxMinCalls {
		return fail("min_calls %d is outside [1, %d]", r.MinCalls, MaxMinCalls)
	}
	if r.Window <= 0 || r.Window > MaxWindow {
		return fail("window %s is outside (0, %s]", r.Window, MaxWindow)
	}
	seen := make(map[string]bool, len(r.Categories))
	for _, c := range r.Categories {
		switch {
		case c == "":
			return fail("a category is empty")
		case c == AllCategories && len(r.Categories) > 1:
			return fail("%q must be the only category", AllCategories)
		case seen[c]:
			return fail("category %q is listed twice", c)
		}
		seen[c] = true
	}
	return nil
}

// ValidateRules checks every rule and that no two rules share a name.
func ValidateRules(rules []Rule) error {
	if len(rules) == 0 {
		return fmt.Errorf("no rules: %w", ErrInvalidRule)
	}
	names := make(map[string]bool, len(rules))
	for _, r := range rules {
		if err := r.Validate(); err != nil {
			return err
		}
		if names[r.Name] {
			return fmt.Errorf("rule %s: name is used twice: %w", r.Name, ErrInvalidRule)
		}
		names[r.Name] = true
	}
	return nil
}

// DefaultRules returns the rules that fit a city hotline: any category
// densely reported, and tighter rules for the categories where a few calls
// close together already mean an emergency.
func DefaultRules() []Rule {
	return []Rule{
		{Name: "any", Eps: 300, MinCalls: 8, Window: 60 * time.Minute},
		{Name: "waterlogging", Categories: []string{"waterlogging"}, Eps: 500, MinCalls: 5, Window: 30 * time.Minute},
		{Name: "fallen_tree", Categories: []string{"fallen_tree"}, Eps: 400, MinCalls: 5, Window: 60 * time.Minute},
		{Name: "power_outage", Categories: []string{"power_outage"}, Eps: 800, MinCalls: 6, Window: 30 * time.Minute},
		{Name: "gas_leak_fire", Categories: []string{"gas_leak", "fire"}, Eps: 200, MinCalls: 3, Window: 15 * time.Minute},
	}
}

// DefaultRule returns the default rule with the name, and false when there
// is none.
func DefaultRule(name string) (Rule, bool) {
	for _, r := range DefaultRules() {
		if r.Name == name {
			return r, true
		}
	}
	return Rule{}, false
}

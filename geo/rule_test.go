package geo

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestRuleValidate(t *testing.T) {
	ok := Rule{Name: "floods", Categories: []string{"waterlogging"}, Eps: 500, MinCalls: 5, Window: 30 * time.Minute}
	with := func(f func(*Rule)) Rule {
		r := ok
		r.Categories = append([]string(nil), ok.Categories...)
		f(&r)
		return r
	}
	tests := []struct {
		name string
		rule Rule
		want string // part of the error; "" for valid
	}{
		{"valid rule passes", ok, ""},
		{"all categories pass", with(func(r *Rule) { r.Categories = []string{"all"} }), ""},
		{"no categories pass", with(func(r *Rule) { r.Categories = nil }), ""},
		{"empty name fails", with(func(r *Rule) { r.Name = "" }), "name is empty"},
		{"name with spaces fails", with(func(r *Rule) { r.Name = "my rule" }), "may hold only"},
		{"zero eps fails", with(func(r *Rule) { r.Eps = 0 }), "eps 0 m"},
		{"huge eps fails", with(func(r *Rule) { r.Eps = 1e6 }), "eps 1e+06 m"},
		{"zero min calls fails", with(func(r *Rule) { r.MinCalls = 0 }), "min_calls 0"},
		{"zero window fails", with(func(r *Rule) { r.Window = 0 }), "window 0s"},
		{"long window fails", with(func(r *Rule) { r.Window = 8 * 24 * time.Hour }), "window 192h"},
		{"empty category fails", with(func(r *Rule) { r.Categories = []string{""} }), "a category is empty"},
		{"repeated category fails", with(func(r *Rule) { r.Categories = []string{"fire", "fire"} }), "listed twice"},
		{"all with others fails", with(func(r *Rule) { r.Categories = []string{"all", "fire"} }), "only category"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.rule.Validate()
			if tt.want == "" {
				if err != nil {
					t.Errorf("Validate(%v) = %v, want nil", tt.rule, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) || !errors.Is(err, ErrInvalidRule) {
				t.Errorf("Validate(%v) = %v, want an ErrInvalidRule mentioning %q", tt.rule, err, tt.want)
			}
		})
	}
}

func TestDefaultRulesAreValid(t *testing.T) {
	if err := ValidateRules(DefaultRules()); err != nil {
		t.Fatalf("ValidateRules(DefaultRules()) = %v", err)
	}
	if err := ValidateRules(append(DefaultRules(), DefaultRules()[0])); err == nil {
		t.Errorf("ValidateRules(repeated name) = nil, want an error")
	}
	if r, ok := DefaultRule("waterlogging"); !ok || r.Eps != 500 || r.MinCalls != 5 || r.Window != 30*time.Minute {
		t.Errorf("DefaultRule(waterlogging) = %v, %v; want 500 m / 5 / 30m", r, ok)
	}
}

func TestParseRules(t *testing.T) {
	tests := []struct {
		name string
		src  string
		want []Rule
		err  string
	}{
		{"duration strings parse", `[{"name":"floods","categories":["waterlogging"],"eps_m":500,"min_calls":5,"window":"30m"}]`,
			[]Rule{{Name: "floods", Categories: []string{"waterlogging"}, Eps: 500, MinCalls: 5, Window: 30 * time.Minute}}, ""},
		{"seconds parse", `[{"name":"any","eps_m":300,"min_calls":8,"window":3600}]`,
			[]Rule{{Name: "any", Eps: 300, MinCalls: 8, Window: time.Hour}}, ""},
		{"bad duration fails", `[{"name":"any","eps_m":300,"min_calls":8,"window":"soon"}]`, nil, "not a duration"},
		{"unknown field fails", `[{"name":"any","eps":300,"min_calls":8,"window":"1h"}]`, nil, "unknown field"},
		{"invalid rule fails", `[{"name":"any","eps_m":0,"min_calls":8,"window":"1h"}]`, nil, "eps 0 m"},
		{"empty list fails", `[]`, nil, "no rules"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseRules([]byte(tt.src))
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) || !errors.Is(err, ErrInvalidRule) {
					t.Errorf("ParseRules(%s) = %v, want an ErrInvalidRule mentioning %q", tt.src, err, tt.err)
				}
				return
			}
			if err != nil || !reflect.DeepEqual(got, tt.want) {
				t.Errorf("ParseRules(%s) = %v, %v; want %v", tt.src, got, err, tt.want)
			}
		})
	}
}

func TestRuleJSONRoundTrip(t *testing.T) {
	for _, r := range DefaultRules() {
		b, err := r.MarshalJSON()
		if err != nil {
			t.Fatal(err)
		}
		got, err := ParseRules([]byte("[" + string(b) + "]"))
		if err != nil || !reflect.DeepEqual(got[0], r) {
			t.Errorf("ParseRules(MarshalJSON(%v)) = %v, %v; want the rule back", r, got, err)
		}
	}
}

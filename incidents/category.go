package incidents

import (
	"encoding/json"
	"fmt"
	"regexp"
)

// Category is one code of the category taxonomy, with its names and group.
type Category struct {
	Code   string `json:"code"`
	NameZh string `json:"name_zh"`
	NameEn string `json:"name_en"`
	Group  string `json:"group"`
}

// CategoryGroup groups related categories (for example gas leak and fire).
type CategoryGroup struct {
	Code   string `json:"code"`
	NameZh string `json:"name_zh"`
	NameEn string `json:"name_en"`
}

// Taxonomy is the set of categories a hotline registers calls under. It is
// data (see incidents/defaults), not code, and read-only once parsed.
type Taxonomy struct {
	Groups     []CategoryGroup `json:"groups"`
	Categories []Category      `json:"categories"`
	byCode     map[string]int
}

var codePattern = regexp.MustCompile(`^[a-z][a-z0-9_]{0,39}$`)

// ParseTaxonomy reads a taxonomy from JSON ({"groups":[...],"categories":[...]})
// and checks it: codes are lower-case identifiers, unique, with both names,
// and each category's group exists. It returns an *Error with CodeInvalid
// naming the first fault.
func ParseTaxonomy(data []byte) (*Taxonomy, error) {
	var t Taxonomy
	if err := json.Unmarshal(data, &t); err != nil {
		return nil, Errorf(CodeInvalid, "category taxonomy is not valid JSON: %v", err)
	}
	if len(t.Categories) == 0 {
		return nil, FieldError(CodeInvalid, "categories", "category taxonomy has no categories")
	}
	groups := make(map[string]bool, len(t.Groups))
	for i, g := range t.Groups {
		if !codePattern.MatchString(g.Code) {
			return nil, FieldError(CodeInvalid, fmt.Sprintf("groups[%d].code", i), "group code %q must match %s", g.Code, codePattern)
		}
		if groups[g.Code] {
			return nil, FieldError(CodeInvalid, fmt.Sprintf("groups[%d].code", i), "group code %q appears twice", g.Code)
		}
		if g.NameZh == "" || g.NameEn == "" {
			return nil, FieldError(CodeInvalid, fmt.Sprintf("groups[%d]", i), "group %q needs name_zh and name_en", g.Code)
		}
		groups[g.Code] = true
	}
	t.byCode = make(map[string]int, len(t.Categories))
	for i, c := range t.Categories {
		field := fmt.Sprintf("categories[%d]", i)
		if !codePattern.MatchString(c.Code) {
			return nil, FieldError(CodeInvalid, field+".code", "category code %q must match %s", c.Code, codePattern)
		}
		if _, dup := t.byCode[c.Code]; dup {
			return nil, FieldError(CodeInvalid, field+".code", "category code %q appears twice", c.Code)
		}
		if c.NameZh == "" || c.NameEn == "" {
			return nil, FieldError(CodeInvalid, field, "category %q needs name_zh and name_en", c.Code)
		}
		if !groups[c.Group] {
			return nil, FieldError(CodeInvalid, field+".group", "category %q names unknown group %q", c.Code, c.Group)
		}
		t.byCode[c.Code] = i
	}
	return &t, nil
}

// Category returns the category with the given code.
func (t *Taxonomy) Category(code string) (Category, bool) {
	i, ok := t.byCode[code]
	if !ok {
		return Category{}, false
	}
	return t.Categories[i], true
}

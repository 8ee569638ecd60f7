package incidents

import (
	"encoding/json"
	"fmt"
	"slices"
)

// Department is a member department (成员单位) or a district government:
// who receives pushed tasks for the categories it owns.
type Department struct {
	Code       string   `json:"code"`
	NameZh     string   `json:"name_zh"`
	NameEn     string   `json:"name_en"`
	Categories []string `json:"categories"`         // category codes it owns
	District   string   `json:"district,omitempty"` // jurisdiction code, for district governments
	DutyPhone  string   `json:"duty_phone,omitempty"`
}

// Departments is the set of departments and the category routing they
// imply. It is data (see incidents/defaults) and read-only once parsed.
type Departments struct {
	List       []Department `json:"departments"`
	byCode     map[string]int
	byCategory map[string][]string // category -> owning department codes, in file order
	byDistrict map[string]string   // jurisdiction code -> district government
}

// ParseDepartments reads departments from JSON ({"departments":[...]}) and
// checks them against the taxonomy: codes unique and well-formed, both
// names, known categories, and every category owned by some department. It
// returns an *Error with CodeInvalid naming the first fault.
func ParseDepartments(data []byte, tax *Taxonomy) (*Departments, error) {
	var d Departments
	if err := json.Unmarshal(data, &d); err != nil {
		return nil, Errorf(CodeInvalid, "departments are not valid JSON: %v", err)
	}
	if len(d.List) == 0 {
		return nil, FieldError(CodeInvalid, "departments", "no departments")
	}
	d.byCode = map[string]int{}
	d.byCategory = map[string][]string{}
	d.byDistrict = map[string]string{}
	for i, dep := range d.List {
		field := fmt.Sprintf("departments[%d]", i)
		if !codePattern.MatchString(dep.Code) {
			return nil, FieldError(CodeInvalid, field+".code", "department code %q must match %s", dep.Code, codePattern)
		}
		if _, dup := d.byCode[dep.Code]; dup {
			return nil, FieldError(CodeInvalid, field+".code", "department code %q appears twice", dep.Code)
		}
		if dep.NameZh == "" || dep.NameEn == "" {
			return nil, FieldError(CodeInvalid, field, "department %q needs name_zh and name_en", dep.Code)
		}
		for _, c := range dep.Categories {
			if _, ok := tax.Category(c); !ok {
				return nil, FieldError(CodeInvalid, field+".categories", "department %q owns unknown category %q", dep.Code, c)
			}
			d.byCategory[c] = append(d.byCategory[c], dep.Code)
		}
		if dep.District != "" {
			if other, dup := d.byDistrict[dep.District]; dup {
				return nil, FieldError(CodeInvalid, field+".district", "district %q already belongs to %q", dep.District, other)
			}
			d.byDistrict[dep.District] = dep.Code
		}
		d.byCode[dep.Code] = i
	}
	for _, c := range tax.Categories {
		if len(d.byCategory[c.Code]) == 0 {
			return nil, FieldError(CodeInvalid, "departments", "no department owns category %q", c.Code)
		}
	}
	return &d, nil
}

// Department returns the department with the given code.
func (d *Departments) Department(code string) (Department, bool) {
	i, ok := d.byCode[code]
	if !ok {
		return Department{}, false
	}
	return d.List[i], true
}

// Owners returns the codes of the departments that own a category.
func (d *Departments) Owners(category string) []string {
	return slices.Clone(d.byCategory[category])
}

// DistrictGovernment returns the department that governs a jurisdiction.
func (d *Departments) DistrictGovernment(jurisdiction string) (string, bool) {
	code, ok := d.byDistrict[jurisdiction]
	return code, ok
}

package dashboard

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// The i18n tables' tests: every key in both languages with the same
// placeholders, and every key the scripts ask for in the tables. They read
// the files as the browser gets them, with no browser.

// readTables returns the keys and strings of the zh and en tables of js/i18n.js.
func readTables(tb testing.TB) (zh, en map[string]string) {
	tb.Helper()
	src, err := os.ReadFile(filepath.Join("js", "i18n.js"))
	if err != nil {
		tb.Fatal(err)
	}
	return readTable(tb, string(src), "zh"), readTable(tb, string(src), "en")
}

var entryRE = regexp.MustCompile(`^\s*'([^']+)':\s*'((?:[^'\\]|\\.)*)',\s*$`)

// readTable reads the object literal `const name = { ... };` of src, one
// 'key': 'string', per line.
func readTable(tb testing.TB, src, name string) map[string]string {
	tb.Helper()
	start := strings.Index(src, "const "+name+" = {\n")
	if start < 0 {
		tb.Fatalf("js/i18n.js has no table %q (want `const %s = {` on a line of its own)", name, name)
	}
	body := src[start+len("const "+name+" = {\n"):]
	end := strings.Index(body, "\n};")
	if end < 0 {
		tb.Fatalf("js/i18n.js: table %q does not end with `};`", name)
	}
	out := map[string]string{}
	for i, line := range strings.Split(body[:end], "\n") {
		if strings.TrimSpace(line) == "" || strings.HasPrefix(strings.TrimSpace(line), "//") {
			continue
		}
		m := entryRE.FindStringSubmatch(line)
		if m == nil {
			tb.Fatalf("js/i18n.js table %s, line %d: %q is not `'key': 'string',`", name, i+1, line)
		}
		if _, dup := out[m[1]]; dup {
			tb.Errorf("js/i18n.js table %s has key %q twice", name, m[1])
		}
		out[m[1]] = m[2]
	}
	if len(out) == 0 {
		tb.Fatalf("js/i18n.js table %s is empty", name)
	}
	return out
}

var placeholderRE = regexp.MustCompile(`\{(\w+)\}`)

func placeholders(s string) []string {
	var out []string
	for _, m := range placeholderRE.FindAllStringSubmatch(s, -1) {
		out = append(out, m[1])
	}
	slices.Sort(out)
	return slices.Compact(out)
}

func TestI18nTablesHaveTheSameKeysAndPlaceholders(t *testing.T) {
	zh, en := readTables(t)
	for k, v := range zh {
		e, ok := en[k]
		if !ok {
			t.Errorf("key %q is in the Chinese table and not in the English one", k)
			continue
		}
		if pz, pe := placeholders(v), placeholders(e); !slices.Equal(pz, pe) {
			t.Errorf("key %q: Chinese %q has placeholders %v, English %q has %v, want the same", k, v, pz, e, pe)
		}
	}
	for k := range en {
		if _, ok := zh[k]; !ok {
			t.Errorf("key %q is in the English table and not in the Chinese one", k)
		}
	}
	cjk := regexp.MustCompile(`\p{Han}`)
	for k, v := range en {
		// The language switch names the other language in its own script.
		if k != "lang.switch" && cjk.MatchString(v) {
			t.Errorf("English string %q = %q holds Chinese", k, v)
		}
	}
}

// A call of t in the scripts: t('key', ...) or t(`prefix.${expr}`, ...).
var (
	literalCallRE  = regexp.MustCompile(`\bt\(\s*'([^']+)'`)
	templateCallRE = regexp.MustCompile("\\bt\\(\\s*`([^`]*)`")
	hasKeyRE       = regexp.MustCompile("\\bhasKey\\(\\s*`([^`]*)`")
)

// domainValues are the values the server sends where the scripts make a
// key from one (t(`tstate.${task.state}`)): the API's enumerations
// (docs/API.md, docs/MESSAGES.md). A new template key whose values are the
// server's must be listed here.
var domainValues = map[string][]string{
	"grade.":       {"1", "2", "3", "4"},
	"grade.short.": {"1", "2", "3", "4"},
	"istate.":      {"open", "confirmed", "closed", "merged"},
	"tstate.":      {"dispatched", "signed", "in_progress", "completed", "verified", "returned", "reopened", "cancelled"},
	"class.":       {"emergency", "utility", "general", "complex"},
	"sat.":         {"satisfied", "basically_satisfied", "unsatisfied"},
	"role.":        {"leader", "admin", "agent", "dept"},
	"alert.kind.":  {"incident_opened", "grade_raised", "urgent_call", "escalation"},
	"err.code.":    nil, // the error codes of the Go source, see errorCodes
}

// pageValues are template keys whose values the page itself chooses (its
// views, columns, filters): their keys need only exist.
var pageValues = map[string][]string{
	"nav.":            {"leader", "dept", "floor"},
	"board.col.":      {"todo", "doing", "done", "returned", "closed"},
	"dept.filter.":    {"open", "all"},
	"task.extension.": {"approved", "denied"},
}

func TestI18nKeysUsedByTheScriptsAreInTheTables(t *testing.T) {
	zh, _ := readTables(t)
	withPrefix := func(prefix string) bool {
		for k := range zh {
			if strings.HasPrefix(k, prefix) {
				return true
			}
		}
		return false
	}
	literal, made := 0, 0
	for name, src := range scripts(t) {
		// hasKey(`prefix${...}`) guards a made key that has a fallback: its
		// prefix must still name keys, or the guard is dead.
		guarded := map[string]bool{}
		for _, m := range hasKeyRE.FindAllStringSubmatch(src, -1) {
			guarded[m[1]] = true
			if prefix, _, _ := strings.Cut(m[1], "${"); !withPrefix(prefix) {
				t.Errorf("%s guards keys `%s` with hasKey, and no key starts with %q", name, m[1], prefix)
			}
		}
		for _, m := range literalCallRE.FindAllStringSubmatch(src, -1) {
			literal++
			if _, ok := zh[m[1]]; !ok {
				t.Errorf("%s calls t(%q), which is not in the tables", name, m[1])
			}
		}
		for _, m := range templateCallRE.FindAllStringSubmatch(src, -1) {
			key := m[1]
			open := strings.Index(key, "${")
			if open < 0 {
				literal++
				if _, ok := zh[key]; !ok {
					t.Errorf("%s calls t(`%s`), which is not in the tables", name, key)
				}
				continue
			}
			made++
			prefix := key[:open]
			if _, domain := domainValues[prefix]; guarded[key] && !domain {
				continue
			}
			if strings.Count(key, "${") != 1 || !strings.HasSuffix(key, "}") {
				t.Errorf("%s calls t(`%s`): a made key must be a fixed prefix and one value (or be guarded by hasKey)", name, key)
				continue
			}
			values, ok := domainValues[prefix]
			if !ok {
				values, ok = pageValues[prefix]
			}
			if !ok {
				t.Errorf("%s calls t(`%s`): list the values of %q in domainValues or pageValues of this test", name, key, prefix)
				continue
			}
			if prefix == "err.code." {
				values = errorCodes(t)
			}
			for _, v := range values {
				if _, ok := zh[prefix+v]; !ok {
					t.Errorf("%s calls t(`%s`), and key %q is not in the tables", name, key, prefix+v)
				}
			}
		}
	}
	if literal < 100 || made < 10 {
		t.Fatalf("found %d calls of t with a literal key and %d with a made one in js/, want the scripts' hundreds: has the way they call t changed?", literal, made)
	}
}

// scripts returns the dashboard's own scripts (not vendor/) by path.
func scripts(tb testing.TB) map[string]string {
	tb.Helper()
	out := map[string]string{}
	err := fs.WalkDir(os.DirFS("js"), ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(p, ".js") {
			return err
		}
		b, err := os.ReadFile(filepath.Join("js", p))
		out["js/"+p] = string(b)
		return err
	})
	if err != nil {
		tb.Fatal(err)
	}
	return out
}

// errorCodes returns the API's error codes: the string constants named
// Code... in the module's Go source (incidents/errors.go), each of which
// the dashboard translates.
func errorCodes(tb testing.TB) []string {
	tb.Helper()
	var codes []string
	fset := token.NewFileSet()
	err := filepath.WalkDir("..", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && p != ".." && (strings.HasPrefix(d.Name(), ".") || d.Name() == "testdata" || d.Name() == "vendor" || d.Name() == "node_modules") {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(p, ".go") || strings.HasSuffix(p, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, p, nil, parser.SkipObjectResolution)
		if err != nil {
			return err
		}
		for _, decl := range f.Decls {
			gd, ok := decl.(*ast.GenDecl)
			if !ok || gd.Tok != token.CONST {
				continue
			}
			for _, spec := range gd.Specs {
				vs := spec.(*ast.ValueSpec)
				for i, name := range vs.Names {
					if !strings.HasPrefix(name.Name, "Code") || len(name.Name) < 5 || !ast.IsExported(name.Name[4:]) || i >= len(vs.Values) {
						continue
					}
					if lit, ok := vs.Values[i].(*ast.BasicLit); ok && lit.Kind == token.STRING {
						v, _ := strconv.Unquote(lit.Value)
						codes = append(codes, v)
					}
				}
			}
		}
		return nil
	})
	if err != nil {
		tb.Fatal(err)
	}
	if len(codes) < 5 {
		tb.Fatalf("found error codes %v in the module's Go source, want the API's (consts named Code... such as CodeInvalid)", codes)
	}
	slices.Sort(codes)
	return slices.Compact(codes)
}

package forges

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// drivers are the forge drivers: the directory of each one's fake, and
// the function that turns its API's main object into a change.
var drivers = map[string]struct{ fake, convert string }{
	"patchwork": {"pwfake", "Source.seriesChange"},
	"github":    {"ghfake", "Source.convert"},
	"gitlab":    {"glfake", "Source.convert"},
}

// TestLayout checks that every driver keeps each job in the file doc.go
// names for it, so that the drivers stay laid out one way.
func TestLayout(t *testing.T) {
	// where says which file declares a name (a type, a function, or a
	// method as Type.Method), in every driver that has it.
	where := []struct{ name, file string }{
		{"Source", "source.go"},
		{"New", "source.go"},
		{"Source.Fetch", "source.go"},
		{"Source.Claim", "deps.go"},
		{"Source.ChangeState", "deps.go"},
		{"resolver", "deps.go"},
		{"Reporter", "reporter.go"},
		{"ReporterOpts", "reporter.go"},
		{"Reporter.Report", "reporter.go"},
		{"Reporter.current", "lookup.go"},
		{"Source.Statuses", "lookup.go"},
		{"Source.CheckProject", "project.go"},
	}
	for forge, d := range drivers {
		t.Run(forge, func(t *testing.T) {
			for _, f := range []string{"doc.go", "client.go", "source.go", "convert.go", "deps.go", "reporter.go", "lookup.go", "project.go", "config.go"} {
				if _, err := os.Stat(filepath.Join(forge, f)); err != nil {
					t.Errorf("no %s: %v", f, err)
				}
			}
			if st, err := os.Stat(filepath.Join(forge, d.fake)); err != nil || !st.IsDir() {
				t.Errorf("no fake %s/: %v", d.fake, err)
			}
			if _, err := os.Stat(filepath.Join(forge, "cycle.go")); err == nil {
				t.Errorf("cycle.go is back: its jobs belong in deps.go, reporter.go and lookup.go")
			}
			decls := declarations(t, forge)
			for _, w := range append(where, struct{ name, file string }{d.convert, "convert.go"}) {
				got, ok := decls[w.name]
				if !ok && w.name == "Source.Statuses" && forge == "patchwork" {
					continue // Patchwork relays no statuses
				}
				if got != w.file {
					t.Errorf("%s is declared in %q, want %s", w.name, got, w.file)
				}
			}
			if imports(t, filepath.Join(forge, "convert.go"), "context") {
				t.Errorf("convert.go imports context: it must convert, not look anything up")
			}
		})
	}
}

// declarations maps each top-level name of a driver's non-test files to
// the file that declares it.
func declarations(t *testing.T, dir string) map[string]string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, path := range files {
		if strings.HasSuffix(path, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.SkipObjectResolution)
		if err != nil {
			t.Fatal(err)
		}
		name := filepath.Base(path)
		for _, d := range f.Decls {
			switch d := d.(type) {
			case *ast.FuncDecl:
				key := d.Name.Name
				if d.Recv != nil && len(d.Recv.List) == 1 {
					typ := d.Recv.List[0].Type
					if s, ok := typ.(*ast.StarExpr); ok {
						typ = s.X
					}
					if id, ok := typ.(*ast.Ident); ok {
						key = id.Name + "." + key
					}
				}
				out[key] = name
			case *ast.GenDecl:
				for _, s := range d.Specs {
					if ts, ok := s.(*ast.TypeSpec); ok {
						out[ts.Name.Name] = name
					}
				}
			}
		}
	}
	return out
}

// imports reports whether the file at path imports the package path pkg.
func imports(t *testing.T, path, pkg string) bool {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.ImportsOnly)
	if err != nil {
		t.Fatal(err)
	}
	for _, im := range f.Imports {
		if p, _ := strconv.Unquote(im.Path.Value); p == pkg {
			return true
		}
	}
	return false
}

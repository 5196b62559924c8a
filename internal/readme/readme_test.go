package readme

// The tests of this file type-check every ```go block of README.md, as
// the compiler would, against the packages of this repository as they are.
//
// Rules for a Go block in README.md:
//
//  1. A block whose first line of code is a package clause is a complete
//     file: it must compile exactly as written, imports and all, unused
//     variables included. Each such block is a package of its own.
//  2. Any other block is a fragment: either all top-level declarations
//     (func, type, var, const, import), compiled as the body of a file,
//     or all statements, compiled as the body of a function. Unused
//     variables and imports in a fragment are not errors. Lines for a
//     second process that reuse a name (seg, err) assign it with =, as
//     := there would declare it twice.
//  3. A fragment needs no import lines: a package it names as pkg.Name is
//     imported when pkg is in knownPackages below (every public package of
//     this module and the usual standard ones). Add a standard package
//     there if a fragment needs one that is missing.
//  4. A fragment may use the names of prelude below without declaring
//     them: ctx (a context.Context) and the example types Order and Msg.
//     Everything else it uses it declares. A top-level fragment must not
//     declare these names again.
//  5. Placeholders such as `{ ... }` do not compile: write a short body.
//
// Errors are reported at the block's lines in README.md.

import (
	"bufio"
	"bytes"
	"fmt"
	"go/ast"
	"go/importer"
	"go/parser"
	"go/token"
	"go/types"
	"io"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// knownPackages are the packages a fragment may name without importing
// them, by the name it uses.
var knownPackages = map[string]string{
	"array":      "github.com/shmkit/shmkit/array",
	"bench":      "github.com/shmkit/shmkit/bench",
	"ctypes":     "github.com/shmkit/shmkit/ctypes",
	"process":    "github.com/shmkit/shmkit/process",
	"ringbuffer": "github.com/shmkit/shmkit/ringbuffer",
	"semaphore":  "github.com/shmkit/shmkit/semaphore",
	"shm":        "github.com/shmkit/shmkit/shm",
	"shmap":      "github.com/shmkit/shmkit/shmap",
	"value":      "github.com/shmkit/shmkit/value",

	"bytes":   "bytes",
	"context": "context",
	"errors":  "errors",
	"fmt":     "fmt",
	"io":      "io",
	"log":     "log",
	"os":      "os",
	"signal":  "os/signal",
	"slog":    "log/slog",
	"strings": "strings",
	"sync":    "sync",
	"syscall": "syscall",
	"time":    "time",
	"unsafe":  "unsafe",
}

// prelude is compiled beside every fragment (rule 4).
const prelude = `package snippet

import "context"

var ctx = context.Background()

// Order is a plain type: it travels through shared memory as its bytes.
type Order struct {
	ID    int64
	Qty   int32
	Price float64
}

// Msg is a message of the pipe examples.
type Msg struct {
	Seq  uint64
	Body [56]byte
}
`

const readmePath = "../../README.md"

// A block is one ```go block of README.md.
type block struct {
	line int    // line of README.md its first line of code is on
	src  string // its code, the fence's indentation removed
}

// goBlocks returns the ```go blocks of a Markdown text.
func goBlocks(md []byte) ([]block, error) {
	var (
		blocks []block
		cur    *block
		indent string
		body   strings.Builder
	)
	sc := bufio.NewScanner(bytes.NewReader(md))
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		trimmed := strings.TrimLeft(line, " \t")
		if cur == nil {
			if strings.HasPrefix(trimmed, "```go") && strings.TrimSpace(trimmed[len("```go"):]) == "" {
				cur = &block{line: n + 1}
				indent = line[:len(line)-len(trimmed)]
				body.Reset()
			}
			continue
		}
		if strings.HasPrefix(trimmed, "```") {
			cur.src = body.String()
			blocks = append(blocks, *cur)
			cur = nil
			continue
		}
		body.WriteString(strings.TrimPrefix(line, indent))
		body.WriteByte('\n')
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if cur != nil {
		return nil, fmt.Errorf("README.md:%d: a ```go block is never closed", cur.line-1)
	}
	return blocks, nil
}

// A unit is what one block compiles to: a package of one or two files.
type unit struct {
	b        block
	complete bool     // rule 1: compiled as written
	files    []string // sources, prelude first for a fragment
	bad      string   // why a fragment parses neither way, if it does not
}

// makeUnit turns a block into the source it compiles as.
func makeUnit(b block) unit {
	fset := token.NewFileSet()
	if _, err := parser.ParseFile(fset, "", b.src, parser.PackageClauseOnly); err == nil {
		return unit{b: b, complete: true, files: []string{b.src}}
	}
	// Declarations at top level, or statements inside a function.
	top := fmt.Sprintf("package snippet\n\n//line README.md:%d:1\n%s", b.line, b.src)
	file, declErr := parser.ParseFile(fset, "", top, parser.SkipObjectResolution)
	bad := ""
	if declErr != nil {
		file = nil
		top = fmt.Sprintf("package snippet\n\nfunc _() {\n//line README.md:%d:1\n%s\n}\n", b.line, b.src)
		if _, err := parser.ParseFile(fset, "", top, parser.SkipObjectResolution); err != nil {
			bad = fmt.Sprintf("a fragment must parse as top-level declarations or as statements (rule 2), and this one parses as neither\nas declarations: %v\nas statements: %v", declErr, err)
		}
	}
	imports := fragmentImports(b.src, file)
	var head strings.Builder
	head.WriteString("package snippet\n\n")
	for _, path := range imports {
		fmt.Fprintf(&head, "import %q\n", path)
	}
	return unit{b: b, files: []string{prelude, head.String() + strings.TrimPrefix(top, "package snippet\n")}, bad: bad}
}

// fragmentImports returns the known packages a fragment names as pkg.Name
// and does not import itself (rule 3). file is the fragment parsed as
// top-level declarations, or nil.
func fragmentImports(src string, file *ast.File) []string {
	own := map[string]bool{}
	if file != nil {
		for _, spec := range file.Imports {
			own[strings.Trim(spec.Path.Value, `"`)] = true
		}
	}
	// Parse the statements on their own to find every selector; the
	// wrapping makes both kinds of fragment parse.
	f, err := parser.ParseFile(token.NewFileSet(), "", "package p\nfunc _() {\n"+src+"\n}\n", parser.SkipObjectResolution)
	if err != nil && file != nil {
		f = file
	}
	seen := map[string]bool{}
	if f != nil {
		ast.Inspect(f, func(n ast.Node) bool {
			if sel, ok := n.(*ast.SelectorExpr); ok {
				if id, ok := sel.X.(*ast.Ident); ok {
					if path, ok := knownPackages[id.Name]; ok && !own[path] {
						seen[path] = true
					}
				}
			}
			return true
		})
	}
	return slices.Sorted(maps.Keys(seen))
}

// exportData builds the packages the units import, and those they import,
// and returns where the go command put each one's export data.
func exportData(t *testing.T, fset *token.FileSet, units []unit) map[string]string {
	t.Helper()
	need := map[string]bool{}
	for _, u := range units {
		for i, src := range u.files {
			f, err := parser.ParseFile(fset, fmt.Sprint(i), src, parser.ImportsOnly)
			if err != nil {
				continue // reported by the type check
			}
			for _, spec := range f.Imports {
				need[strings.Trim(spec.Path.Value, `"`)] = true
			}
		}
	}
	args := []string{"list", "-e", "-export", "-deps", "-f", "{{.ImportPath}}\t{{.Export}}"}
	for p := range need {
		args = append(args, p)
	}
	slices.Sort(args[6:])
	goCmd, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the go command is needed to build the packages the README uses: %v", err)
	}
	cmd := exec.Command(goCmd, args...)
	cmd.Dir = filepath.Dir(readmePath)
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go %s: %v", strings.Join(args, " "), err)
	}
	exports := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		path, file, _ := strings.Cut(line, "\t")
		if file != "" {
			exports[path] = file
		}
	}
	return exports
}

// compile type-checks units and returns, for each, its errors.
func compile(t *testing.T, units []unit) [][]string {
	t.Helper()
	fset := token.NewFileSet()
	exports := exportData(t, fset, units)
	imp := importer.ForCompiler(fset, "gc", func(path string) (io.ReadCloser, error) {
		file, ok := exports[path]
		if !ok {
			return nil, fmt.Errorf("package %s: no export data (does it exist? does it build?)", path)
		}
		return os.Open(file)
	})
	all := make([][]string, len(units))
	for n, u := range units {
		if u.bad != "" {
			all[n] = []string{u.bad}
			continue
		}
		var files []*ast.File
		for i, src := range u.files {
			name := "README.md"
			if !u.complete && i == 0 {
				name = "prelude.go"
			}
			f, err := parser.ParseFile(fset, name, src, parser.ParseComments|parser.SkipObjectResolution)
			if err != nil {
				all[n] = append(all[n], err.Error())
				continue
			}
			if u.complete {
				// Line directives are only in generated files.
				fset.File(f.Pos()).AddLineInfo(0, "README.md", u.b.line)
			}
			files = append(files, f)
		}
		if len(all[n]) > 0 {
			continue
		}
		conf := types.Config{
			Importer: imp,
			Error: func(err error) {
				if e, ok := err.(types.Error); ok && !u.complete && e.Soft &&
					(strings.Contains(e.Msg, "declared and not used") || strings.Contains(e.Msg, "imported and not used")) {
					return // rule 2
				}
				all[n] = append(all[n], err.Error())
			},
		}
		conf.Check(fmt.Sprintf("readme/line%d", u.b.line), fset, files, nil)
	}
	return all
}

// units returns the units of a Markdown text's Go blocks.
func units(t *testing.T, md []byte) []unit {
	t.Helper()
	blocks, err := goBlocks(md)
	if err != nil {
		t.Fatal(err)
	}
	us := make([]unit, len(blocks))
	for i, b := range blocks {
		us[i] = makeUnit(b)
	}
	return us
}

func TestSnippetsCompile(t *testing.T) {
	md, err := os.ReadFile(readmePath)
	if err != nil {
		t.Fatal(err)
	}
	us := units(t, md)
	if len(us) == 0 {
		t.Fatal("README.md has no ```go block: has the fence changed?")
	}
	for i, errs := range compile(t, us) {
		if len(errs) == 0 {
			continue
		}
		kind := "a fragment"
		if us[i].complete {
			kind = "a complete file"
		}
		t.Errorf("the Go block at README.md:%d (%s) does not compile:\n%s\n(the rules are at the top of internal/readme/readme_test.go)",
			us[i].b.line, kind, strings.Join(errs, "\n"))
	}
}

// TestRules checks the checker itself on blocks that follow the rules
// and blocks that break them.
func TestRules(t *testing.T) {
	cases := []struct {
		name, src string
		ok        bool
	}{
		{"complete program", "package main\n\nimport \"fmt\"\n\nfunc main() { fmt.Println(1) }\n", true},
		{"complete program, an import missing", "package main\n\nfunc main() { fmt.Println(1) }\n", false},
		{"complete program, a variable unused", "package main\n\nfunc main() { x := 1 }\n", false},
		{"statements, unused and given again", "seg, err := shm.Create(\"x\", 1<<20, nil)\nseg, err = shm.Open(ctx, \"x\", nil)\nq, err := ringbuffer.NewQueue[Order](8)\n", true},
		{"statements, a name redeclared", "seg, err := shm.Create(\"x\", 1<<20, nil)\nseg, err := shm.Open(ctx, \"x\", nil)\n", false},
		{"statements, a wrong argument", "v, err := value.New(0.0)\nv.Store(\"pi\")\n", false},
		{"statements, a name that does not exist", "mu, err := semaphore.NewMutexes()\n", false},
		{"a placeholder body", "var w = process.Register(\"w\", func(ctx context.Context, n int) error { ... })\n", false},
		{"declarations", "var square = process.RegisterFunc(\"square\", func(ctx context.Context, x int) (int, error) { return x * x, nil })\n\nfunc main() {\n\tprocess.Main()\n\tfmt.Println(square)\n}\n", true},
		{"declarations with their own imports", "import (\n\t\"fmt\"\n\t\"github.com/shmkit/shmkit/value\"\n)\n\nfunc main() { v, _ := value.New(1); fmt.Println(v.Load()) }\n", true},
		{"declarations and statements mixed", "func f() {}\n\nf()\n", false},
		{"declarations, the prelude's ctx again", "var ctx = context.TODO()\n", false},
		{"an indented block", "  ```go\n  a, b, err := ringbuffer.Pipe[Msg](16)\n  ```\n", true},
	}
	var md strings.Builder
	for _, c := range cases {
		if strings.HasPrefix(c.src, "  ```") {
			md.WriteString("- item\n\n" + c.src + "\n")
			continue
		}
		md.WriteString("text\n\n```go\n" + c.src + "```\n\n```sh\ngo test\n```\n")
	}
	us := units(t, []byte(md.String()))
	if len(us) != len(cases) {
		t.Fatalf("found %d Go blocks, want %d", len(us), len(cases))
	}
	for i, errs := range compile(t, us) {
		if c := cases[i]; c.ok != (len(errs) == 0) {
			t.Errorf("%s: errors %q, want ok=%v", c.name, errs, c.ok)
		}
	}
}

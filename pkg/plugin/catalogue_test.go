package plugin

import (
	"go/ast"
	"go/parser"
	"go/scanner"
	"go/token"
	"io/fs"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// foreignCodes are quoted literals of a catalogue code that are not ours:
// stand-ins for other servers answering their own error names, which
// happen to be the same word.
var foreignCodes = map[string]Code{
	// Supabase Storage's error name for a missing object.
	"internal/testenv/storagetest/storagetest.go": CodeNotFound,
}

// sourceFile is one non-test Go file of the module.
type sourceFile struct {
	rel  string // slash-separated, from the module root
	path string
	src  []byte
}

// moduleSources reads every non-test .go file of the module (skipping
// testdata and hidden directories, which the go tool ignores too).
func moduleSources(t *testing.T) []sourceFile {
	t.Helper()
	root, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(root, "go.mod")); err == nil {
			break
		}
		parent := filepath.Dir(root)
		if parent == root {
			t.Fatal("go.mod not found above the test's directory")
		}
		root = parent
	}
	var files []sourceFile
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		name := d.Name()
		if d.IsDir() {
			if path != root && (name == "testdata" || name == "vendor" || strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_")) {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(name, ".go") || strings.HasSuffix(name, "_test.go") {
			return nil
		}
		src, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		files = append(files, sourceFile{rel: filepath.ToSlash(rel), path: path, src: src})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 20 {
		t.Fatalf("found %d Go files under %s; is this the module root?", len(files), root)
	}
	return files
}

// TestCatalogueCodesAppearOnce: every code's quoted literal ("code" or
// `code`) is on exactly one line of the module's non-test code, its
// constant in catalogue.go, and no string literal is the start of a code
// that concatenation would complete ("disable_" + what).
func TestCatalogueCodesAppearOnce(t *testing.T) {
	t.Parallel()
	files := moduleSources(t)
	lines := map[Code][]string{} // code → "file:line" of each line quoting it
	for _, f := range files {
		for i, line := range strings.Split(string(f.src), "\n") {
			for code := range catalogue {
				if strings.Contains(line, `"`+string(code)+`"`) || strings.Contains(line, "`"+string(code)+"`") {
					if foreignCodes[f.rel] == code {
						continue
					}
					lines[code] = append(lines[code], f.rel+":"+strconv.Itoa(i+1))
				}
			}
		}
		checkNoCodePrefixes(t, f)
	}
	for code := range catalogue {
		got := lines[code]
		if len(got) != 1 || !strings.HasPrefix(got[0], "pkg/plugin/catalogue.go:") {
			t.Errorf("%q is quoted on %d lines %v; want one, its constant in pkg/plugin/catalogue.go (use plugin.Code… elsewhere)", code, len(got), got)
		}
	}
}

// checkNoCodePrefixes reports string literals that end in "_" and start a
// code: the first half of a code built by concatenation, which grep for
// the code cannot find.
func checkNoCodePrefixes(t *testing.T, f sourceFile) {
	t.Helper()
	fset := token.NewFileSet()
	var s scanner.Scanner
	s.Init(fset.AddFile(f.rel, -1, len(f.src)), f.src, nil, 0)
	for {
		pos, tok, lit := s.Scan()
		if tok == token.EOF {
			return
		}
		if tok != token.STRING {
			continue
		}
		v, err := strconv.Unquote(lit)
		if err != nil || !strings.HasSuffix(v, "_") {
			continue
		}
		for code := range catalogue {
			if strings.HasPrefix(string(code), v) {
				t.Errorf("%s: %q starts the code %q: write the code whole, as a catalogue constant", fset.Position(pos), v, code)
				break
			}
		}
	}
}

// TestOnlyTheCatalogueBuildsErrors: an Error made anywhere else could
// carry a status, envelope or kind that is not its code's row.
func TestOnlyTheCatalogueBuildsErrors(t *testing.T) {
	t.Parallel()
	for _, f := range moduleSources(t) {
		fset := token.NewFileSet()
		file, err := parser.ParseFile(fset, f.path, f.src, parser.SkipObjectResolution)
		if err != nil {
			t.Fatal(err)
		}
		inPlugin := strings.HasPrefix(f.rel, "pkg/plugin/")
		ast.Inspect(file, func(n ast.Node) bool {
			lit, ok := n.(*ast.CompositeLit)
			if !ok {
				return true
			}
			isError := false
			switch typ := lit.Type.(type) {
			case *ast.Ident:
				isError = inPlugin && typ.Name == "Error"
			case *ast.SelectorExpr:
				x, _ := typ.X.(*ast.Ident)
				isError = x != nil && x.Name == "plugin" && typ.Sel.Name == "Error"
			}
			if isError && f.rel != "pkg/plugin/catalogue.go" {
				t.Errorf("%s: builds a plugin.Error by hand; use a constructor of the catalogue", fset.Position(lit.Pos()))
			}
			return true
		})
	}
}

// TestCatalogueRows: every Code constant has a row, and the rows are
// consistent with how they are rendered.
func TestCatalogueRows(t *testing.T) {
	t.Parallel()
	constants := 0
	for _, f := range moduleSources(t) {
		if path.Dir(f.rel) != "pkg/plugin" {
			continue
		}
		file, err := parser.ParseFile(token.NewFileSet(), f.path, f.src, parser.SkipObjectResolution)
		if err != nil {
			t.Fatal(err)
		}
		for _, decl := range file.Decls {
			gen, ok := decl.(*ast.GenDecl)
			if !ok || gen.Tok != token.CONST {
				continue
			}
			for _, spec := range gen.Specs {
				vs := spec.(*ast.ValueSpec)
				if typ, ok := vs.Type.(*ast.Ident); !ok || typ.Name != "Code" {
					continue
				}
				for i, name := range vs.Names {
					constants++
					lit, ok := vs.Values[i].(*ast.BasicLit)
					if !ok {
						t.Errorf("%s is not a literal", name.Name)
						continue
					}
					v, _ := strconv.Unquote(lit.Value)
					if _, ok := catalogue[Code(v)]; !ok {
						t.Errorf("%s (%q) has no row in the catalogue", name.Name, v)
					}
				}
			}
		}
	}
	if constants != len(catalogue) {
		t.Errorf("%d Code constants, %d rows", constants, len(catalogue))
	}
	for code, r := range catalogue {
		switch {
		case r.Kind != "" && r.Status != http.StatusOK && !r.Also200:
			t.Errorf("%s: a kind, but never a 200 answer", code)
		case r.Also200 && r.Status == http.StatusOK:
			t.Errorf("%s: Also200 on a 200 row", code)
		case r.Status == http.StatusOK && r.Shape != ShapeSpread && r.Shape != ShapeItem:
			t.Errorf("%s: a 200 answer must be spread (or an item)", code)
		case r.Status != http.StatusOK && r.Shape != ShapePlain && r.Shape != ShapeMoreInfo:
			t.Errorf("%s: a thrown answer is plain or has moreInfo", code)
		case r.Status < 200 || r.Status > 599:
			t.Errorf("%s: status %d", code, r.Status)
		}
	}
}

// TestUpdateKind: the kinds are exactly Capgo's getUpdateResponseKind
// sets (supabase/functions/_backend/plugin_runtime/utils/update.ts), every other code
// failed.
func TestUpdateKind(t *testing.T) {
	t.Parallel()
	want := map[string][]string{
		KindUpToDate: {"no_new_version_available", "already_on_builtin"},
		KindBlocked: {"cannot_update_via_private_channel", "disabled_platform_ios", "disabled_platform_android",
			"disabled_platform_electron", "disable_auto_update_to_major", "disable_auto_update_to_minor",
			"disable_auto_update_to_patch", "disable_auto_update_to_metadata", "disable_auto_update_under_native",
			"disable_prod_build", "disable_dev_build", "disable_device", "disable_emulator", "key_id_mismatch",
			"provider_infrastructure_request_blocked"},
	}
	for kind, codes := range want {
		for _, c := range codes {
			if got := UpdateKind(Code(c)); got != kind {
				t.Errorf("UpdateKind(%q) = %q, want %q", c, got, kind)
			}
		}
	}
	for code := range catalogue {
		if k := UpdateKind(code); k != KindFailed && !slices.Contains(want[k], string(code)) {
			t.Errorf("UpdateKind(%q) = %q; Capgo says failed", code, k)
		}
	}
	for _, c := range []Code{CodeNoChannel, CodeSemverError, CodeMisconfiguredChannel, "not_a_code"} {
		if got := UpdateKind(c); got != KindFailed {
			t.Errorf("UpdateKind(%q) = %q, want failed", c, got)
		}
	}
}

// TestConstructorsFollowTheirRows renders answers that are built from
// arguments, with their exact bodies.
func TestConstructorsFollowTheirRows(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		err    *Error
		status int
		body   string
	}{
		{SemverError("1.0.0.0.1"), 400, `{"error":"semver_error","message":"Native version: 1.0.0.0.1 doesn't follow semver convention, please check https://capgo.app/semver_tester/ to learn more about semver usage in Capgo","moreInfo":{"version_build":"1.0.0.0.1"}}`},
		{SemverError200("9007199254740993.0.0"), 200, `{"error":"semver_error","message":"Native version: 9007199254740993.0.0 doesn't follow semver convention, please check https://capgo.app/semver_tester/ to learn more about semver usage in Capgo","kind":"failed"}`},
		{InvalidAppID("App ID is required"), 400, `{"error":"invalid_app_id","message":"App ID is required","moreInfo":{}}`},
		{InvalidAppID200("App ID is required"), 200, `{"error":"invalid_app_id","message":"App ID is required"}`},
		{PayloadTooLarge(1 << 20), 413, `{"error":"payload_too_large","message":"Request body exceeds 1048576 bytes"}`},
		{DisableAutoUpdateTo("metadata", "1.0.0", "0.9.0"), 200, `{"error":"disable_auto_update_to_metadata","message":"Cannot upgrade version, min update version > current version","major":true,"version":"1.0.0","old":"0.9.0","kind":"blocked"}`},
		{DisabledBuild("prod_build", "1.0.0", "0.9.0"), 200, `{"error":"disable_prod_build","message":"Cannot update, prod build is disabled","version":"1.0.0","old":"0.9.0","kind":"blocked"}`},
		{DisabledPlatform("electron", "1.0.0", "0.9.0"), 200, `{"error":"disabled_platform_electron","message":"Cannot update, electron is disabled","version":"1.0.0","old":"0.9.0","kind":"blocked"}`},
		{MisconfiguredChannel("beta", "1.0.0", "0.9.0"), 200, `{"error":"misconfigured_channel","message":"Channel beta is misconfigured","version":"1.0.0","old":"0.9.0","kind":"failed"}`},
		{UnsupportedPluginVersion("4.1.0"), 200, `{"error":"unsupported_plugin_version","message":"Plugin version 4.1.0 (v4) is no longer supported. Please upgrade to v5.10.0 or later.","kind":"failed"}`},
		{OverrideNotAllowed("Cannot do channel override"), 200, `{"error":"override_not_allowed","message":"Cannot do channel override"}`},
		{KO(), 500, `{"error":"unknown_error","message":"KO","moreInfo":{}}`},
		{BadGateway(), 502, `{"error":"bad_gateway","message":"Supabase gateway unavailable, retry later"}`},
	} {
		got, err := Marshal(tc.err.Body())
		if err != nil {
			t.Fatal(err)
		}
		if tc.err.Status != tc.status || string(got) != tc.body {
			t.Errorf("%s: %d %s\nwant %d %s", tc.err.Code, tc.err.Status, got, tc.status, tc.body)
		}
	}
}

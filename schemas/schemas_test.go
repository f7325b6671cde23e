package schemas_test

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/leadscore/leadscore/schemas"
	"github.com/santhosh-tekuri/jsonschema/v6"
)

func TestNames(t *testing.T) {
	want := []string{schemas.AccountStageChange, schemas.DeadLetter, schemas.EmailEvent, schemas.SalesFeedback, schemas.StageChange, schemas.WebEvent}
	slices.Sort(want)
	if got := schemas.Names(); !slices.Equal(got, want) {
		t.Fatalf("Names() = %v, want %v", got, want)
	}
}

// TestSchemasAreDocumented checks what every schema file must declare.
func TestSchemasAreDocumented(t *testing.T) {
	for _, name := range schemas.Names() {
		b, err := schemas.FS.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		var head struct {
			Schema      string `json:"$schema"`
			ID          string `json:"$id"`
			Title       string `json:"title"`
			Description string `json:"description"`
		}
		if err := json.Unmarshal(b, &head); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if head.Schema != "https://json-schema.org/draft/2020-12/schema" {
			t.Errorf("%s: $schema = %q, want draft 2020-12", name, head.Schema)
		}
		if filepath.Base(head.ID) != name {
			t.Errorf("%s: $id %q does not end in the file name", name, head.ID)
		}
		if head.Title == "" || head.Description == "" {
			t.Errorf("%s: title and description are required", name)
		}
	}
}

func TestCompile(t *testing.T) {
	for _, name := range schemas.Names() {
		if _, err := schemas.Compile(name); err != nil {
			t.Errorf("Compile(%q): %v", name, err)
		}
	}
	if _, err := schemas.Compile("nope.schema.json"); err == nil {
		t.Error("Compile of an unknown name succeeded")
	}
}

// TestInputExamplesAreValid checks every valid input example against its schema. The
// invalid ones are checked, with the reasons they carry, by package events.
func TestInputExamplesAreValid(t *testing.T) {
	for dir, name := range map[string]string{"web": schemas.WebEvent, "email": schemas.EmailEvent, "feedback": schemas.SalesFeedback} {
		files := glob(t, filepath.Join("testdata", dir, "valid", "*.json"))
		if len(files) < 10 {
			t.Errorf("%s: only %d valid examples", dir, len(files))
		}
		checkFiles(t, mustCompile(t, name), files, true)
	}
}

// TestOutputExamples checks sample stage-change and dead-letter documents, valid and
// invalid, against their schemas.
func TestOutputExamples(t *testing.T) {
	for dir, name := range map[string]string{"stage-change": schemas.StageChange, "dead-letter": schemas.DeadLetter,
		"account-stage-change": schemas.AccountStageChange} {
		sch := mustCompile(t, name)
		for _, valid := range []bool{true, false} {
			sub := "invalid"
			if valid {
				sub = "valid"
			}
			files := glob(t, filepath.Join("testdata", "outputs", dir, sub, "*.json"))
			if len(files) == 0 {
				t.Errorf("no %s %s examples", sub, dir)
			}
			checkFiles(t, sch, files, valid)
		}
	}
}

func mustCompile(t *testing.T, name string) *jsonschema.Schema {
	t.Helper()
	sch, err := schemas.Compile(name)
	if err != nil {
		t.Fatal(err)
	}
	return sch
}

func glob(t *testing.T, pattern string) []string {
	t.Helper()
	files, err := filepath.Glob(pattern)
	if err != nil {
		t.Fatal(err)
	}
	return files
}

func checkFiles(t *testing.T, sch *jsonschema.Schema, files []string, wantValid bool) {
	t.Helper()
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
		if err != nil {
			t.Errorf("%s: %v", f, err)
			continue
		}
		err = sch.Validate(doc)
		switch {
		case wantValid && err != nil:
			t.Errorf("%s: want valid, got %v", f, err)
		case !wantValid && err == nil:
			t.Errorf("%s: want invalid, got valid", f)
		}
	}
}

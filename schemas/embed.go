// Package schemas holds leadscore's contract with the systems around it: the JSON
// Schema (draft 2020-12) files of its three inputs (web events, e-mail events, sales
// feedback) and two outputs (stage changes, dead letters). The files are embedded, so
// binaries and tests use exactly the files of this directory; docs/schemas.md explains
// them field by field.
//
// Package events implements the input schemas as a fast hand-written check; this
// package is for tools and tests that need the schemas themselves.
package schemas

import (
	"embed"
	"fmt"
	"io/fs"
	"sort"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// FS holds the schema files, at its root.
//
//go:embed *.json
var FS embed.FS

// File names of the schemas in FS.
const (
	WebEvent      = "web-event.schema.json"
	EmailEvent    = "email-event.schema.json"
	SalesFeedback = "sales-feedback.schema.json"
	StageChange   = "stage-change.schema.json"
	// AccountStageChange is the schema of account stage changes.
	AccountStageChange = "account-stage-change.schema.json"
	DeadLetter         = "dead-letter.schema.json"
)

// Names returns the file names of the schemas in FS, sorted.
func Names() []string {
	names, err := fs.Glob(FS, "*.json")
	if err != nil { // only for a malformed pattern
		panic(err)
	}
	sort.Strings(names)
	return names
}

// Compile compiles the named schema (one of the constants above). Format assertions
// are on, as the schemas require for "date-time". Every schema is registered under
// its $id, so nothing is fetched from the network.
func Compile(name string) (*jsonschema.Schema, error) {
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	c.AssertFormat()
	var want string
	for _, n := range Names() {
		id, doc, err := load(n)
		if err != nil {
			return nil, err
		}
		if err := c.AddResource(id, doc); err != nil {
			return nil, fmt.Errorf("schemas: add %s: %w", n, err)
		}
		if n == name {
			want = id
		}
	}
	if want == "" {
		return nil, fmt.Errorf("schemas: no schema named %q", name)
	}
	sch, err := c.Compile(want)
	if err != nil {
		return nil, fmt.Errorf("schemas: compile %s: %w", name, err)
	}
	return sch, nil
}

// load reads a schema file and returns its $id and its content.
func load(name string) (id string, doc any, err error) {
	f, err := FS.Open(name)
	if err != nil {
		return "", nil, fmt.Errorf("schemas: %w", err)
	}
	defer f.Close()
	doc, err = jsonschema.UnmarshalJSON(f)
	if err != nil {
		return "", nil, fmt.Errorf("schemas: read %s: %w", name, err)
	}
	if m, ok := doc.(map[string]any); ok {
		id, _ = m["$id"].(string)
	}
	if id == "" {
		return "", nil, fmt.Errorf("schemas: %s has no $id", name)
	}
	return id, doc, nil
}

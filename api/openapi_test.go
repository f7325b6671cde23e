package api_test

import (
	"bytes"
	"encoding/json"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"gopkg.in/yaml.v3"
)

const openAPIFile = "../schemas/openapi.yaml"

// openAPIBase is the URL under which the document is registered with the
// schema compiler (nothing is fetched).
const openAPIBase = "https://github.com/leadscore/leadscore/raw/main/schemas/openapi.json"

var (
	oaOnce    sync.Once
	oaDoc     map[string]any
	oaErr     error
	oaSchemas sync.Map // pointer → *jsonschema.Schema
)

// openAPI loads schemas/openapi.yaml as JSON values.
func openAPI(t *testing.T) map[string]any {
	t.Helper()
	oaOnce.Do(func() {
		var raw any
		b, err := os.ReadFile(openAPIFile)
		if err != nil {
			oaErr = err
			return
		}
		if oaErr = yaml.Unmarshal(b, &raw); oaErr != nil {
			return
		}
		j, err := json.Marshal(raw)
		if err != nil {
			oaErr = err
			return
		}
		doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(j))
		if err != nil {
			oaErr = err
			return
		}
		oaDoc, _ = doc.(map[string]any)
	})
	if oaErr != nil || oaDoc == nil {
		t.Fatalf("loading %s: %v", openAPIFile, oaErr)
	}
	return oaDoc
}

// schemaAt compiles the schema at JSON pointer ptr of the document.
func schemaAt(t *testing.T, ptr string) *jsonschema.Schema {
	t.Helper()
	if s, ok := oaSchemas.Load(ptr); ok {
		return s.(*jsonschema.Schema)
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	c.AssertFormat()
	if err := c.AddResource(openAPIBase, openAPI(t)); err != nil {
		t.Fatal(err)
	}
	s, err := c.Compile(openAPIBase + "#" + ptr)
	if err != nil {
		t.Fatalf("compiling %s: %v", ptr, err)
	}
	oaSchemas.Store(ptr, s)
	return s
}

func escapePtr(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "~", "~0"), "/", "~1")
}

// matchPath returns the document's path template that path falls under.
func matchPath(doc map[string]any, path string) string {
	for tmpl := range doc["paths"].(map[string]any) {
		prefix, _, param := strings.Cut(tmpl, "{")
		if !param && tmpl == path || param && strings.HasPrefix(path, prefix) && len(path) > len(prefix) {
			return tmpl
		}
	}
	return ""
}

// checkOpenAPI validates a JSON response body against the document: the schema
// of the operation's response for that status, or the Error schema for
// answers outside the documented operations (unknown routes and methods).
func checkOpenAPI(t *testing.T, method, path string, status int, body []byte) {
	t.Helper()
	doc := openAPI(t)
	ptr := "/components/schemas/Error"
	if tmpl := matchPath(doc, path); tmpl != "" {
		ops := doc["paths"].(map[string]any)[tmpl].(map[string]any)
		if op, ok := ops[strings.ToLower(method)].(map[string]any); ok {
			resps := op["responses"].(map[string]any)
			resp, ok := resps[strconv.Itoa(status)].(map[string]any)
			if !ok {
				t.Errorf("%s %s answered %d, which %s does not document", method, tmpl, status, openAPIFile)
				return
			}
			ptr = "/paths/" + escapePtr(tmpl) + "/" + strings.ToLower(method) + "/responses/" + strconv.Itoa(status)
			if ref, ok := resp["$ref"].(string); ok {
				ptr = strings.TrimPrefix(ref, "#")
			}
			ptr += "/content/application~1json/schema"
		}
	}
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(body))
	if err != nil {
		t.Errorf("%s %s: body is not JSON: %v", method, path, err)
		return
	}
	if err := schemaAt(t, ptr).Validate(v); err != nil {
		t.Errorf("%s %s (%d): body does not match %s#%s: %v\n%s", method, path, status, openAPIFile, ptr, err, body)
	}
}

// TestOpenAPIDocumentsTheRoutes checks that the document lists exactly the
// routes the handler serves, with their methods.
func TestOpenAPIDocumentsTheRoutes(t *testing.T) {
	doc := openAPI(t)
	if doc["openapi"] != "3.1.0" {
		t.Errorf("openapi: %v", doc["openapi"])
	}
	var got []string
	for tmpl, ops := range doc["paths"].(map[string]any) {
		for m := range ops.(map[string]any) {
			if m != "parameters" {
				got = append(got, strings.ToUpper(m)+" "+tmpl)
			}
		}
	}
	sort.Strings(got)
	want := []string{"DELETE /v1/leads/{id}", "GET /healthz", "GET /metrics", "GET /readyz", "GET /v1/leads", "GET /v1/leads/{id}"}
	if !slices.Equal(got, want) {
		t.Errorf("documented operations %v, want %v", got, want)
	}
	// Every component schema compiles (refs resolve, keywords are valid).
	for name := range doc["components"].(map[string]any)["schemas"].(map[string]any) {
		schemaAt(t, "/components/schemas/"+name)
	}
}

package api_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"gopkg.in/yaml.v3"

	"github.com/leadscore/leadscore/api"
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

// serve serves req with h and checks the response against the OpenAPI
// document (checkOpenAPI). Every API test goes through it, so that no answer
// the tests see escapes the contract.
func serve(t *testing.T, h http.Handler, req *http.Request) *httptest.ResponseRecorder {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	checkOpenAPI(t, req.Method, req.URL.Path, rec.Result())
	return rec
}

// checkOpenAPI validates a response against the document: for a documented
// operation, its status must be documented and its body must match that
// response's schema, with the response's required headers present; a method a
// documented path lacks must be a 405 whose Allow header names exactly the
// path's methods; an undocumented path must be a 404. Answers given before
// routing (413, 414) follow components/responses/TooLarge wherever they occur.
func checkOpenAPI(t *testing.T, method, path string, resp *http.Response) {
	t.Helper()
	doc := openAPI(t)
	status := resp.StatusCode
	var ptr string // the response object, as a JSON pointer
	tmpl := matchPath(doc, path)
	var ops map[string]any
	if tmpl != "" {
		ops = doc["paths"].(map[string]any)[tmpl].(map[string]any)
	}
	op, documented := ops[strings.ToLower(method)].(map[string]any)
	if method == http.MethodHead { // net/http serves HEAD wherever it serves GET
		op, documented = ops["get"].(map[string]any)
	}
	switch {
	case status == http.StatusRequestEntityTooLarge || status == http.StatusRequestURITooLong:
		ptr = "/components/responses/TooLarge"
	case documented:
		if _, ok := op["responses"].(map[string]any)[strconv.Itoa(status)]; !ok {
			t.Errorf("%s %s answered %d, which %s does not document", method, tmpl, status, openAPIFile)
			return
		}
		ptr = "/paths/" + escapePtr(tmpl) + "/" + strings.ToLower(method) + "/responses/" + strconv.Itoa(status)
	case tmpl != "":
		if status != http.StatusMethodNotAllowed {
			t.Errorf("%s %s answered %d; a method %s does not list must be answered 405", method, path, status, openAPIFile)
			return
		}
		var allow []string
		for m := range ops {
			if m != "parameters" {
				allow = append(allow, strings.ToUpper(m))
			}
		}
		got := strings.Split(strings.ReplaceAll(resp.Header.Get("Allow"), " ", ""), ",")
		sort.Strings(allow)
		sort.Strings(got)
		if !slices.Equal(got, allow) {
			t.Errorf("%s %s: Allow %q, want the documented methods %v", method, path, resp.Header.Get("Allow"), allow)
		}
		ptr = "/components/responses/MethodNotAllowed"
	default:
		if status != http.StatusNotFound {
			t.Errorf("%s %s answered %d; a path %s does not list must be answered 404", method, path, status, openAPIFile)
			return
		}
		ptr = "/components/responses/NotFound"
	}
	r := resolve(t, doc, ptr)
	if ref, ok := r["$ref"].(string); ok {
		ptr = strings.TrimPrefix(ref, "#")
		r = resolve(t, doc, ptr)
	}
	for name, hv := range mapOf(r["headers"]) {
		if req, _ := mapOf(hv)["required"].(bool); req && resp.Header.Get(name) == "" {
			t.Errorf("%s %s (%d): header %s, required by %s#%s, is missing", method, path, status, name, openAPIFile, ptr)
		}
	}
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	content := mapOf(r["content"])
	if _, ok := content["application/json"]; !ok {
		return // text/plain (GET /metrics): nothing to validate beyond the status
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("%s %s (%d): content type %q, the document says application/json", method, path, status, ct)
	}
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(body))
	if err != nil {
		t.Errorf("%s %s: body is not JSON: %v", method, path, err)
		return
	}
	sptr := ptr + "/content/application~1json/schema"
	if err := schemaAt(t, sptr).Validate(v); err != nil {
		t.Errorf("%s %s (%d): body does not match %s#%s: %v\n%s", method, path, status, openAPIFile, sptr, err, body)
	}
}

// resolve returns the object at JSON pointer ptr of the document.
func resolve(t *testing.T, doc map[string]any, ptr string) map[string]any {
	t.Helper()
	var cur any = doc
	for _, tok := range strings.Split(strings.TrimPrefix(ptr, "/"), "/") {
		tok = strings.ReplaceAll(strings.ReplaceAll(tok, "~1", "/"), "~0", "~")
		cur = mapOf(cur)[tok]
	}
	m := mapOf(cur)
	if m == nil {
		t.Fatalf("%s#%s: no such object", openAPIFile, ptr)
	}
	return m
}

func mapOf(v any) map[string]any {
	m, _ := v.(map[string]any)
	return m
}

// TestOpenAPIErrorCodes: the Error schema's code enum lists every code the
// handler answers with.
func TestOpenAPIErrorCodes(t *testing.T) {
	codes := []string{api.CodeNotFound, api.CodeBadRequest, api.CodeUnknownStage, api.CodeUnknownModel, api.CodeNoAccounts, api.CodeInvalidLimit, api.CodeUnauthorized,
		api.CodeMethodNotAllowed, api.CodeUnavailable, api.CodeInternal, api.CodeTooLarge}
	enum := resolve(t, openAPI(t), "/components/schemas/Error/properties/error/properties/code")["enum"].([]any)
	for _, c := range codes {
		if !slices.Contains(enum, any(c)) {
			t.Errorf("error code %q is not in %s's Error.code enum %v", c, openAPIFile, enum)
		}
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
	want := []string{"DELETE /v1/leads/{id}", "GET /healthz", "GET /metrics", "GET /readyz", "GET /v1/accounts", "GET /v1/accounts/{id}",
		"GET /v1/leads", "GET /v1/leads/{id}"}
	if !slices.Equal(got, want) {
		t.Errorf("documented operations %v, want %v", got, want)
	}
	// Every component schema compiles (refs resolve, keywords are valid).
	for name := range doc["components"].(map[string]any)["schemas"].(map[string]any) {
		schemaAt(t, "/components/schemas/"+name)
	}
}

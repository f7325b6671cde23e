package events

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"unsafe"

	"github.com/leadscore/leadscore/scoring"
)

// TestInternedValues: events that carry the same values share their strings,
// the payload stays the caller's (no string aliases it), and the table of
// shared values stays bounded however many distinct values pass.
func TestInternedValues(t *testing.T) {
	d := newTestDecoder(t, Options{})
	page := func(anon, path, plan string) []byte {
		return fmt.Appendf(nil, `{"type":"page","name":"Pricing","anonymousId":%q,"timestamp":"2026-03-02T09:20:00Z",`+
			`"properties":{"path":%q,"url":"https://example.com%s","plan":%q,"seats":12},"context":{"userAgent":"Mozilla/5.0 (X11)"}}`,
			anon, path, path, plan)
	}
	p1 := page("a1", "/pricing", "pro")
	e1, err := d.Decode(scoring.SourceWeb, p1)
	if err != nil {
		t.Fatal(err)
	}
	for i := range p1 { // the caller may reuse its buffer at once
		p1[i] = 'x'
	}
	e2, err := d.Decode(scoring.SourceWeb, page("a2", "/pricing", "pro"))
	if err != nil {
		t.Fatal(err)
	}
	if e1.Path != "/pricing" || e1.Name != "Pricing" || e1.UserAgent != "Mozilla/5.0 (X11)" || e1.Identity.AnonymousID != "a1" {
		t.Fatalf("first event changed with its payload or decoded wrong: %+v", e1)
	}
	same := func(field, a, b string) {
		t.Helper()
		if a != b || unsafe.StringData(a) != unsafe.StringData(b) {
			t.Errorf("%s: %q and %q are not one shared string", field, a, b)
		}
	}
	same("name", e1.Name, e2.Name)
	same("path", e1.Path, e2.Path)
	same("url", e1.URL, e2.URL)
	same("user agent", e1.UserAgent, e2.UserAgent)
	for _, k := range []string{"plan", "seats"} {
		v1, ok1 := e1.Properties.Get(k)
		v2, ok2 := e2.Properties.Get(k)
		if !ok1 || !ok2 {
			t.Fatalf("property %s missing: %v / %v", k, e1.Properties, e2.Properties)
		}
		same("property "+k, v1.Str, v2.Str)
	}
	for i := range 3 * maxCommon {
		if _, err := d.Decode(scoring.SourceWeb, page("a", fmt.Sprintf("/p%d", i), fmt.Sprint("plan", i))); err != nil {
			t.Fatal(err)
		}
		if len(d.common) > maxCommon {
			t.Fatalf("%d shared values after %d distinct pages, want at most %d", len(d.common), i+1, maxCommon)
		}
	}
}

// TestDecodeInto: decoding in place over a used Event gives exactly what Decode
// gives, for every valid web example, and rejects what Decode rejects.
func TestDecodeInto(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("..", "schemas", "testdata", "web", "valid", "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no examples: %v", err)
	}
	d := newTestDecoder(t, Options{})
	var into scoring.Event // reused: each decode must start from nothing
	for _, f := range files {
		payload, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		want, err := d.Decode(scoring.SourceWeb, payload)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if err := d.DecodeInto(scoring.SourceWeb, payload, &into); err != nil {
			t.Fatalf("%s: DecodeInto: %v", f, err)
		}
		if !reflect.DeepEqual(into, want) {
			t.Errorf("%s: DecodeInto gave\n%+v\nDecode gave\n%+v", filepath.Base(f), into, want)
		}
	}
	bad := []byte(`{"type":"track","event":"Demo Requested"}`)
	_, want := d.Decode(scoring.SourceWeb, bad)
	got := d.DecodeInto(scoring.SourceWeb, bad, &into)
	if want == nil || got == nil || got.Error() != want.Error() {
		t.Errorf("DecodeInto error %v, Decode error %v: want the same rejection", got, want)
	}
}

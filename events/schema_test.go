package events

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/leadscore/leadscore/schemas"
	"github.com/leadscore/leadscore/scoring"
	"github.com/santhosh-tekuri/jsonschema/v6"
)

// schemaFiles maps the sources to their schema in package schemas.
var schemaFiles = map[scoring.Source]string{
	scoring.SourceWeb:      schemas.WebEvent,
	scoring.SourceEmail:    schemas.EmailEvent,
	scoring.SourceFeedback: schemas.SalesFeedback,
}

// fuzzTargets maps the sources to their fuzz target, whose committed seeds live in
// testdata/fuzz/<target>.
var fuzzTargets = map[scoring.Source]string{
	scoring.SourceWeb:      "FuzzDecodeWeb",
	scoring.SourceEmail:    "FuzzDecodeEmail",
	scoring.SourceFeedback: "FuzzDecodeFeedback",
}

func compileSchema(t testing.TB, src scoring.Source) *jsonschema.Schema {
	t.Helper()
	sch, err := schemas.Compile(schemaFiles[src])
	if err != nil {
		t.Fatal(err)
	}
	return sch
}

// schemaAccepts reports whether the JSON Schema validator accepts payload. decided is
// false when the validator cannot decide: math/big gives up on numbers with exponents
// beyond ±1e6 and the validator then panics on "minimum" (the fast path still
// decides them).
func schemaAccepts(sch *jsonschema.Schema, payload []byte) (ok, decided bool) {
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(payload))
	if err != nil {
		return false, true
	}
	defer func() {
		if recover() != nil {
			ok, decided = false, false
		}
	}()
	return sch.Validate(doc) == nil, true
}

// TestFastPathAgreesWithSchema runs every example of schemas/testdata and every
// committed fuzz seed through both the fast path and the JSON Schema validator
// compiled from the embedded schema files, and fails on any disagreement on accept or
// reject. A payload the fast path rejects for a reason JSON Schema cannot express
// (Reason.fastPathOnly) is exempt: the schema may accept it.
func TestFastPathAgreesWithSchema(t *testing.T) {
	for src := range schemaFiles {
		sch := compileSchema(t, src)
		d := newTestDecoder(t, testOptions)
		var payloads []example
		payloads = append(payloads, examples(t, src)...)
		for _, seed := range fuzzSeeds(t, fuzzTargets[src]) {
			payloads = append(payloads, example{path: seed.path, payload: seed.payload})
		}
		var accepted, rejected, exempt int
		for _, p := range payloads {
			_, err := d.Decode(src, p.payload)
			schemaOK, decided := schemaAccepts(sch, p.payload)
			reason := ReasonOf(err)
			switch {
			case err != nil && reason == "":
				t.Errorf("%s: error without a reason: %v", p.path, err)
			case !decided:
				exempt++
			case err == nil && !schemaOK:
				t.Errorf("%s: the fast path accepts what the schema rejects", p.path)
			case err == nil:
				accepted++
			case reason.fastPathOnly():
				exempt++
			case schemaOK:
				t.Errorf("%s: the fast path rejects (%v) what the schema accepts", p.path, err)
			default:
				rejected++
			}
		}
		t.Logf("%v: %d accepted by both, %d rejected by both, %d rejected for fast-path-only reasons", src, accepted, rejected, exempt)
		if accepted < 10 || rejected < 10 {
			t.Errorf("%v: too few cases to compare (%d accepted, %d rejected)", src, accepted, rejected)
		}
	}
}

type seed struct {
	path    string
	payload []byte
}

// fuzzSeeds reads the committed corpus of a one-argument []byte fuzz target.
func fuzzSeeds(t testing.TB, target string) []seed {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("testdata", "fuzz", target, "*"))
	if err != nil {
		t.Fatal(err)
	}
	var out []seed
	for _, f := range files {
		b, err := readCorpusFile(f)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		out = append(out, seed{path: f, payload: b})
	}
	return out
}

// readCorpusFile decodes a file of the "go test fuzz v1" corpus format holding one
// []byte value.
func readCorpusFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 4<<20)
	if !sc.Scan() || sc.Text() != "go test fuzz v1" {
		return nil, fmt.Errorf("not a go test fuzz v1 file")
	}
	if !sc.Scan() {
		return nil, fmt.Errorf("no value")
	}
	line := strings.TrimSpace(sc.Text())
	lit, ok := strings.CutPrefix(line, "[]byte(")
	if !ok || !strings.HasSuffix(lit, ")") {
		return nil, fmt.Errorf("want one []byte value, got %.40q", line)
	}
	s, err := strconv.Unquote(strings.TrimSuffix(lit, ")"))
	if err != nil {
		return nil, fmt.Errorf("unquote: %w", err)
	}
	return []byte(s), nil
}

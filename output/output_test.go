package output_test

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/leadscore/leadscore/internal/testrules"
	"github.com/leadscore/leadscore/output"
	"github.com/leadscore/leadscore/schemas"
	"github.com/leadscore/leadscore/scoring"
)

func compile(t *testing.T, name string) *jsonschema.Schema {
	t.Helper()
	b, err := schemas.FS.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	if err := c.AddResource(name, doc); err != nil {
		t.Fatal(err)
	}
	s, err := c.Compile(name)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func validate(t *testing.T, s *jsonschema.Schema, b []byte) {
	t.Helper()
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Validate(v); err != nil {
		t.Fatalf("%s\ndoes not match its schema: %v", b, err)
	}
}

// The records the code builds follow the schemas that are the contract.
func TestOutputsMatchSchemas(t *testing.T) {
	e := testrules.Load(t, "../examples/rules/b2b-saas.yaml")
	st := e.NewState()
	const at = 1772622660000
	out := e.Apply(&st, &scoring.Event{ID: "m1", Source: scoring.SourceWeb, Kind: "track", Name: "Demo Requested", Time: at,
		Identity: scoring.Identity{UserID: "crm-1", AnonymousID: "a1"}})
	if len(out.Transitions) == 0 {
		t.Fatal("no transition")
	}
	sc := output.NewStageChange(e, "user:crm-1", output.IdentitiesFromKeys([]string{"user:crm-1", "anon:a1"}), &out.Transitions[0], at+5)
	b, _ := sc.Marshal()
	validate(t, compile(t, "stage-change.schema.json"), b)
	if sc.ID != output.TransitionID("", "user:crm-1", &out.Transitions[0]) || !strings.HasPrefix(sc.ID, "sc_") || len(sc.ID) != 35 {
		t.Fatalf("id %q", sc.ID)
	}

	big := bytes.Repeat([]byte("x"), output.MaxDeadLetterPayload+10)
	for _, v := range [][]byte{[]byte("{not json"), big, nil} {
		dl := output.NewDeadLetter(output.DeadLetterInfo{
			Reason: "invalid_json", Message: "bad",
			Source: output.Source{Topic: "tracking.web", Partition: 2, Offset: 41},
			Key:    []byte("k"), Value: v,
			Headers: [][2][]byte{{[]byte("traceparent"), []byte("00-abc")}, {[]byte("empty"), nil}},
			At:      at, Version: "dev",
		})
		b, _ := dl.Marshal()
		validate(t, compile(t, "dead-letter.schema.json"), b)
		var back map[string]any
		_ = json.Unmarshal(b, &back)
		if int(back["payload_size"].(float64)) != len(v) || (len(v) > output.MaxDeadLetterPayload) != (back["payload_truncated"] == true) {
			t.Fatalf("size/truncation wrong: %v", back)
		}
	}
}

func TestTransitionIDIsDeterministic(t *testing.T) {
	tr := scoring.Transition{From: "mql", To: "sql", At: 1, TriggerID: "m1", Cause: scoring.Cause{Kind: scoring.CauseTrigger, Rule: "demo"}}
	a, b := output.TransitionID("", "user:1", &tr), output.TransitionID("", "user:1", &tr)
	tr2 := tr
	tr2.At = 2
	if a != b || a == output.TransitionID("", "user:1", &tr2) || a == output.TransitionID("", "user:2", &tr) {
		t.Fatal("ids must depend on lead, move, instant and cause only")
	}
}

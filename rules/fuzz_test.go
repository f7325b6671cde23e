package rules_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/leadscore/leadscore/rules"
	"github.com/leadscore/leadscore/scoring"
)

// FuzzParse: any input either parses into a model the engine accepts, or fails
// with positioned errors — never a panic.
func FuzzParse(f *testing.F) {
	for _, glob := range []string{"../examples/rules/*.yaml", "testdata/bad/*.yaml", "../scoring/testdata/*.yaml"} {
		files, _ := filepath.Glob(glob)
		for _, file := range files {
			b, err := os.ReadFile(file)
			if err == nil {
				f.Add(b)
			}
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := rules.Parse("fuzz.yaml", data)
		if err != nil {
			if es, ok := err.(rules.Errors); ok {
				for _, e := range es {
					if e.Line < 1 || e.Col < 1 {
						t.Fatalf("error without a position: %v", e)
					}
				}
			}
			return
		}
		e, err := scoring.NewEngine(m)
		if err != nil {
			t.Fatalf("parsed model rejected by the engine: %v", err)
		}
		st := e.NewState()
		ev := scoring.Event{ID: "x", Source: scoring.SourceWeb, Kind: "page", Path: "/pricing", Time: 1_700_000_000_000,
			Identity: scoring.Identity{UserID: "u"}}
		e.Apply(&st, &ev)
		e.NextChange(&st)
		e.Advance(&st, ev.Time+365*24*3600*1000)
	})
}

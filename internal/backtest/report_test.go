package backtest_test

import (
	"bytes"
	"compress/gzip"
	"encoding/xml"
	"flag"
	"io"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/leadscore/leadscore/internal/backtest"
	"github.com/leadscore/leadscore/rules"
)

var update = flag.Bool("update", false, "rewrite golden files")

// fixedReport replays the small fixed history in testdata (100 journeys people,
// written once by `leadscore backtest generate --leads 100 --seed 3`) under the
// example B2B rules, and optionally a variant of them.
func fixedReport(t testing.TB, compare bool, workers int) *backtest.Report {
	t.Helper()
	a, err := rules.Load("testdata/rules-a.yaml")
	if err != nil {
		t.Fatal(err)
	}
	cfg := backtest.Config{Rules: a, RulesName: "rules-a.yaml", MaxDiffs: 5}
	if compare {
		if cfg.Compare, err = rules.Load("testdata/rules-b.yaml"); err != nil {
			t.Fatal(err)
		}
		cfg.CompareName = "rules-b.yaml"
	}
	of, err := os.Open("testdata/outcomes.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	defer of.Close()
	if cfg.Outcomes, err = backtest.ReadOutcomes(of); err != nil {
		t.Fatal(err)
	}
	rep, err := backtest.Run(cfg, history(t), backtest.LogOptions{Workers: workers})
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

func history(t testing.TB) io.Reader {
	t.Helper()
	f, err := os.Open("testdata/history.jsonl.gz")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	gz, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	return gz
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := "testdata/" + name
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (go test ./backtest -update writes it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file (go test ./backtest -update to accept):\n%s", name, got)
	}
}

func TestGoldenReports(t *testing.T) {
	for _, c := range []struct {
		name    string
		compare bool
	}{{"report", false}, {"compare", true}} {
		t.Run(c.name, func(t *testing.T) {
			rep := fixedReport(t, c.compare, 0)
			var txt, js bytes.Buffer
			if err := rep.WriteText(&txt); err != nil {
				t.Fatal(err)
			}
			if err := rep.WriteJSON(&js); err != nil {
				t.Fatal(err)
			}
			golden(t, c.name+".txt", txt.Bytes())
			golden(t, c.name+".json", js.Bytes())
		})
	}
}

// TestParallelDecodingSameReport: decoding on several goroutines changes nothing.
func TestParallelDecodingSameReport(t *testing.T) {
	var a, b bytes.Buffer
	if err := fixedReport(t, true, 0).WriteJSON(&a); err != nil {
		t.Fatal(err)
	}
	if err := fixedReport(t, true, 3).WriteJSON(&b); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a.Bytes(), b.Bytes()) {
		t.Fatal("the report with 3 decoding workers differs from the sequential one")
	}
}

func TestBadLinesAreCountedOrStop(t *testing.T) {
	log := page("x1", "anon-x", "u9", 0) + "\n{\"type\":\n\n" + `{"type":"track","timestamp":"2026-03-02T09:00:00Z"}` + "\n" + page("x2", "anon-x", "u9", 1) + "\n"
	for _, workers := range []int{0, 2} {
		var bad []int
		rep, err := backtest.Run(backtest.Config{Rules: storyModel(t, "10")}, strings.NewReader(log),
			backtest.LogOptions{Workers: workers, Bad: func(line int, err error) { bad = append(bad, line) }})
		if err != nil {
			t.Fatal(err)
		}
		if rep.Log.Bad != 2 || rep.Log.Events != 2 || len(bad) != 2 || bad[0] != 2 || bad[1] != 4 {
			t.Errorf("workers %d: %+v, bad lines %v; want 2 events and lines 2 and 4 bad", workers, rep.Log, bad)
		}
		_, err = backtest.Run(backtest.Config{Rules: storyModel(t, "10")}, strings.NewReader(log), backtest.LogOptions{Workers: workers, Strict: true})
		if err == nil || !strings.Contains(err.Error(), "events line 2:") {
			t.Errorf("workers %d, strict: error %v, want one naming line 2", workers, err)
		}
	}
}

// TestHTMLIsSelfContained parses the page's SVG charts as XML and checks that the
// page fetches nothing: no script, no link, no remote URL of any kind.
func TestHTMLIsSelfContained(t *testing.T) {
	var buf bytes.Buffer
	if err := fixedReport(t, true, 0).WriteHTML(&buf); err != nil {
		t.Fatal(err)
	}
	page := buf.String()
	for _, bad := range []string{"http://", "https://", "<script", "<link", "<img", "<iframe", "url(", "@import", "src="} {
		if strings.Contains(strings.ToLower(page), bad) {
			t.Errorf("the page contains %q", bad)
		}
	}
	if !strings.HasPrefix(page, "<!DOCTYPE html>") || !strings.Contains(page, "</html>") {
		t.Error("not a complete HTML document")
	}
	svgs := regexp.MustCompile(`(?s)<svg .*?</svg>`).FindAllString(page, -1)
	// Funnel, two calibration charts (A and B), MQLs per week.
	if len(svgs) != 4 {
		t.Fatalf("%d SVG charts, want 4", len(svgs))
	}
	for i, s := range svgs {
		dec := xml.NewDecoder(strings.NewReader(s))
		rects := 0
		for {
			tok, err := dec.Token()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatalf("chart %d is not well-formed XML: %v", i, err)
			}
			if se, ok := tok.(xml.StartElement); ok && se.Name.Local == "rect" {
				rects++
			}
		}
		if rects == 0 {
			t.Errorf("chart %d draws no bar", i)
		}
	}
	for _, want := range []string{"Funnel", "Conversion by score band — A = rules-a.yaml", "MQLs per week", "Comparison: A = rules-a.yaml, B = rules-b.yaml", "<polyline"} {
		if !strings.Contains(page, want) {
			t.Errorf("the page lacks %q", want)
		}
	}
}

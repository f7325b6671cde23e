package events

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/leadscore/leadscore/scoring"
)

// The poison corpus (testdata/poison at the repository root) holds inputs that
// real senders get wrong, each with the reason code it must be rejected with.
// processor/poison_test.go sends the same corpus through Kafka to the dead-letter
// topic; this file checks the decoder alone, so a regression names its file.

const poisonDir = "../testdata/poison"

// poisonCase is one entry of testdata/poison/cases.yaml.
type poisonCase struct {
	Name      string         `yaml:"name"`      // <topic>/<reason>--<what>
	Topic     string         `yaml:"topic"`     // web, email or feedback
	Reason    Reason         `yaml:"reason"`    // expected reason code
	Key       *string        `yaml:"key"`       // record key; nil: a null key
	Headers   []poisonHeader `yaml:"headers"`   // record headers, in order
	Generate  []poisonPart   `yaml:"generate"`  // payload built at run time
	Tombstone bool           `yaml:"tombstone"` // the record value is null
	What      string         `yaml:"what"`      // for people
}

type poisonHeader struct {
	Key   string `yaml:"key"`
	Value string `yaml:"value"`
}

type poisonPart struct {
	Text   string `yaml:"text"`
	Repeat int    `yaml:"repeat"`
}

// poisonSources maps the manifest's topic names to the decoder's sources.
var poisonSources = map[string]scoring.Source{
	"web": scoring.SourceWeb, "email": scoring.SourceEmail, "feedback": scoring.SourceFeedback,
}

// loadPoison reads the manifest and every payload (nil for a tombstone).
func loadPoison(t testing.TB) ([]poisonCase, [][]byte) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(poisonDir, "cases.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var m struct {
		Cases []poisonCase `yaml:"cases"`
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&m); err != nil {
		t.Fatalf("cases.yaml: %v", err)
	}
	payloads := make([][]byte, len(m.Cases))
	for i, c := range m.Cases {
		switch {
		case c.Tombstone:
		case c.Generate != nil:
			var buf bytes.Buffer
			for _, p := range c.Generate {
				buf.WriteString(strings.Repeat(p.Text, max(p.Repeat, 1)))
			}
			payloads[i] = buf.Bytes()
		default:
			if payloads[i], err = os.ReadFile(filepath.Join(poisonDir, c.Name+".json")); err != nil {
				t.Fatalf("case %s: %v", c.Name, err)
			}
		}
	}
	return m.Cases, payloads
}

// Every corpus entry is rejected by the decoder of its topic with its expected
// reason, and by DecodeAny (the offline oracle's decoder) too.
func TestPoisonCorpus(t *testing.T) {
	cases, payloads := loadPoison(t)
	d := newTestDecoder(t, Options{}) // the processor's options
	for i, c := range cases {
		t.Run(c.Name, func(t *testing.T) {
			src, ok := poisonSources[c.Topic]
			if !ok {
				t.Fatalf("unknown topic %q", c.Topic)
			}
			ev, err := d.Decode(src, payloads[i])
			if err == nil {
				t.Fatalf("accepted: %+v", ev)
			}
			if got := ReasonOf(err); got != c.Reason {
				t.Fatalf("reason %q (%v), want %q", got, err, c.Reason)
			}
			if _, err := d.DecodeAny(payloads[i]); err == nil {
				t.Fatal("DecodeAny accepts it: the offline oracle would score what the processor dead-letters")
			}
		})
	}
}

// The manifest is consistent with the files and covers what issue #7 asks for:
// at least 50 inputs, every reason code, every input topic, payloads over 1 MiB.
func TestPoisonManifest(t *testing.T) {
	cases, payloads := loadPoison(t)
	if len(cases) < 50 {
		t.Errorf("%d cases, want at least 50", len(cases))
	}
	names := map[string]bool{}
	reasons := map[Reason]int{}
	topics := map[string]int{}
	var oversized int
	for i, c := range cases {
		if names[c.Name] {
			t.Errorf("%s: listed twice", c.Name)
		}
		names[c.Name] = true
		reasons[c.Reason]++
		topics[c.Topic]++
		dir, base, _ := strings.Cut(c.Name, "/")
		if code, _, ok := strings.Cut(base, "--"); !ok || dir != c.Topic || Reason(code) != c.Reason {
			t.Errorf("%s: the name must be %s/%s--<what>", c.Name, c.Topic, c.Reason)
		}
		if c.What == "" {
			t.Errorf("%s: no description (what)", c.Name)
		}
		if c.Tombstone && c.Generate != nil {
			t.Errorf("%s: both tombstone and generate", c.Name)
		}
		if c.Generate != nil && len(payloads[i]) < 16<<10 && c.Reason != ReasonTooDeep {
			t.Errorf("%s: generated but small (%d bytes): commit it as a file", c.Name, len(payloads[i]))
		}
		if len(payloads[i]) > DefaultMaxBytes {
			oversized++
		}
	}
	for _, r := range Reasons() {
		if reasons[r] == 0 {
			t.Errorf("no case for reason %s", r)
		}
	}
	for topic := range poisonSources {
		if topics[topic] < 10 {
			t.Errorf("only %d cases on topic %s", topics[topic], topic)
		}
	}
	if oversized < 2 {
		t.Errorf("%d payloads over 1 MiB, want at least 2", oversized)
	}
	// Every file is a case, and no committed file is a megabyte.
	err := filepath.WalkDir(poisonDir, func(path string, e os.DirEntry, err error) error {
		if err != nil || e.IsDir() || filepath.Ext(path) != ".json" {
			return err
		}
		rel, _ := filepath.Rel(poisonDir, path)
		if name := strings.TrimSuffix(filepath.ToSlash(rel), ".json"); !names[name] {
			t.Errorf("%s is not listed in cases.yaml", path)
		}
		if info, err := e.Info(); err == nil && info.Size() > 64<<10 {
			t.Errorf("%s: %d bytes; generate large payloads in cases.yaml instead", path, info.Size())
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d cases: %v", len(cases), topics)
}

// testdata/poison/README.md holds a table of the corpus generated from cases.yaml;
// go test ./events -run TestPoisonReadme -update rewrites it.
func TestPoisonReadme(t *testing.T) {
	cases, payloads := loadPoison(t)
	path := filepath.Join(poisonDir, "README.md")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	const begin, end = "<!-- cases:begin -->\n", "<!-- cases:end -->"
	i, j := bytes.Index(b, []byte(begin)), bytes.Index(b, []byte(end))
	if i < 0 || j < i {
		t.Fatalf("%s: no %q … %q markers", path, begin, end)
	}
	table := poisonTable(cases, payloads)
	if string(b[i+len(begin):j]) == table {
		return
	}
	if !*update {
		t.Fatalf("%s is out of date with cases.yaml: run go test ./events -run TestPoisonReadme -update", path)
	}
	out := slices.Concat(b[:i+len(begin)], []byte(table), b[j:])
	if err := os.WriteFile(path, out, 0o644); err != nil {
		t.Fatal(err)
	}
}

// poisonTable renders the corpus as a Markdown table.
func poisonTable(cases []poisonCase, payloads [][]byte) string {
	var sb strings.Builder
	sb.WriteString("| # | input | topic | reason | bytes | key, headers | what |\n|---|---|---|---|---|---|---|\n")
	cell := func(s string) string { return strings.ReplaceAll(s, "|", `\|`) }
	for i, c := range cases {
		input := fmt.Sprintf("[`%s`](%s.json)", c.Name, c.Name)
		switch {
		case c.Tombstone:
			input = fmt.Sprintf("`%s` (null value)", c.Name)
		case c.Generate != nil:
			input = fmt.Sprintf("`%s` (generated)", c.Name)
		}
		rec := "null key"
		if c.Key != nil {
			rec = fmt.Sprintf("key `%s`", *c.Key)
		}
		for _, h := range c.Headers {
			rec += fmt.Sprintf(", `%s: %s`", h.Key, h.Value)
		}
		size := fmt.Sprint(len(payloads[i]))
		if c.Tombstone {
			size = "null"
		}
		fmt.Fprintf(&sb, "| %d | %s | %s | `%s` | %s | %s | %s |\n", i+1, input, c.Topic, c.Reason, size, cell(rec), cell(c.What))
	}
	return sb.String()
}

// Every committed poison file is a seed of the fuzz target of its topic and of
// FuzzDecodeAny (testdata/fuzz/<target>/poison-…), so fuzzing starts from the
// inputs senders really get wrong; -update writes missing or stale seeds.
func TestPoisonFuzzSeeds(t *testing.T) {
	cases, payloads := loadPoison(t)
	seeds := 0
	for i, c := range cases {
		if c.Tombstone || c.Generate != nil {
			continue // tombstones are empty payloads; generated ones are too big
		}
		_, base, _ := strings.Cut(c.Name, "/")
		src := poisonSources[c.Topic]
		for _, path := range []string{
			filepath.Join("testdata", "fuzz", fuzzTargets[src], "poison-"+base),
			filepath.Join("testdata", "fuzz", "FuzzDecodeAny", "poison-"+c.Topic+"-"+base),
		} {
			seeds++
			got, err := readCorpusFile(path)
			if err == nil && bytes.Equal(got, payloads[i]) {
				continue
			}
			if !*update {
				t.Errorf("%s: seed missing or stale (%v): run go test ./events -run TestPoisonFuzzSeeds -update", path, err)
				continue
			}
			if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, fmt.Appendf(nil, "go test fuzz v1\n[]byte(%q)\n", payloads[i]), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	t.Logf("%d poison seeds", seeds)
}

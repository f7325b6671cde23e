package bench

import (
	"bytes"
	"fmt"
	"math"
	"strconv"

	"gopkg.in/yaml.v3"

	"github.com/leadscore/leadscore/internal/journeys"
	"github.com/leadscore/leadscore/rules"
	"github.com/leadscore/leadscore/scoring"
)

// models is what the bench runs: the set of the leadscore scenarios, and the
// first model's rules as a file's text for the scenarios that run one model
// (naive, goka), so that their stage changes carry the same model name and
// hence the same ids as the set's first model's.
type models struct {
	set   *scoring.Set
	first []byte
}

// loadModels compiles the rules b (nil: the journeys' b2b-saas rules) n
// times. With one model the rules are used as they are, so the figures and
// stage-change ids are those of a process running one unnamed model. With
// several, model k is named mk and its rules' points are scaled by
// 1+(k-1)/10: the models differ as two product lines' would, with the same
// stages but not the same decisions, so a change of one cannot stand in for
// another's.
func loadModels(b []byte, n int) (*models, error) {
	name := journeys.B2BRulesFile
	if b == nil {
		b = journeys.B2BRules()
	} else {
		name = "rules"
	}
	ms := &models{first: b}
	engines := make([]*scoring.Engine, n)
	for k := range n {
		src := b
		if n > 1 {
			var err error
			if src, err = variant(b, k+1); err != nil {
				return nil, fmt.Errorf("bench: rules, model m%d: %w", k+1, err)
			}
		}
		if k == 0 {
			ms.first = src
		}
		m, err := rules.Parse(name, src)
		if err != nil {
			return nil, fmt.Errorf("bench: rules, model %d: %w", k+1, err)
		}
		if engines[k], err = scoring.NewEngine(m); err != nil {
			return nil, fmt.Errorf("bench: rules, model %d: %w", k+1, err)
		}
	}
	var err error
	if ms.set, err = scoring.NewSet(engines...); err != nil {
		return nil, fmt.Errorf("bench: rules: %w", err)
	}
	return ms, nil
}

// variant returns the rules src as model k: named mk (replacing any name:
// key) and, for k > 1, each scoring rule's points scaled by 1+(k-1)/10. It
// edits the YAML rather than the compiled model so that the goka process,
// which reads a rules file, can run model m1 too.
func variant(src []byte, k int) ([]byte, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(src, &doc); err != nil {
		return nil, err
	}
	if len(doc.Content) == 0 || doc.Content[0].Kind != yaml.MappingNode {
		return nil, fmt.Errorf("the rules are not a YAML mapping")
	}
	root := doc.Content[0]
	name := "m" + strconv.Itoa(k)
	if v := rules.MappingValue(root, "name"); v != nil {
		v.Value, v.Tag, v.Style = name, "!!str", 0
	} else {
		root.Content = append([]*yaml.Node{
			{Kind: yaml.ScalarNode, Tag: "!!str", Value: "name"},
			{Kind: yaml.ScalarNode, Tag: "!!str", Value: name},
		}, root.Content...)
	}
	if list := rules.MappingValue(root, "rules"); k > 1 && list != nil && list.Kind == yaml.SequenceNode {
		scale := 1 + float64(k-1)/10
		for _, r := range list.Content {
			p := rules.MappingValue(r, "points")
			if p == nil {
				continue
			}
			v, err := strconv.ParseFloat(p.Value, 64)
			if err != nil {
				return nil, fmt.Errorf("rule points %q: %w", p.Value, err)
			}
			// Rounded to a hundredth so the file stays readable; the
			// variation, not its exact size, is what matters.
			p.Value, p.Tag = strconv.FormatFloat(math.Round(v*scale*100)/100, 'f', -1, 64), ""
		}
	}
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(&doc); err != nil {
		return nil, err
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

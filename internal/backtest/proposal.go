package backtest

import (
	"bytes"
	"fmt"
	"math"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	"gopkg.in/yaml.v3"

	"github.com/leadscore/leadscore/rules"
	"github.com/leadscore/leadscore/scoring"
)

func proposedName(base string) string {
	b := filepath.Base(base)
	ext := filepath.Ext(b)
	return strings.TrimSuffix(b, ext) + ".calibrated" + ext
}

// edit replaces the bytes of one scalar of a YAML file.
type edit struct {
	line, col int // 1-based, col in characters (as yaml.v3 reports it)
	node      *yaml.Node
	text      string
}

var plainVersion = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._+-]*$`)

// proposeFromBase returns the base rules file with each rule's points replaced by
// its suggestion and the version replaced, changing nothing else: comments, order
// and layout stay, so the diff shows only what changed. When a scalar cannot be
// located in the source (it never happens with files yaml.v3 reads), the document
// is re-encoded instead, which keeps comments but not the layout.
func proposeFromBase(src []byte, name string, base *scoring.Model, feats []Feature, version string) (string, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(src, &doc); err != nil || len(doc.Content) == 0 {
		return "", fmt.Errorf("calibrate: %s: %v", name, err)
	}
	root := doc.Content[0]
	suggested := map[string]float64{}
	for _, f := range feats {
		suggested[f.Name] = f.Suggested
	}
	var edits []edit
	if v := rules.MappingValue(root, "version"); v != nil && v.Value != version {
		text := version
		if v.Style != 0 || !plainVersion.MatchString(version) {
			text = strconv.Quote(version)
		}
		edits = append(edits, edit{v.Line, v.Column, v, text})
	}
	if list := rules.MappingValue(root, "rules"); list != nil && list.Kind == yaml.SequenceNode {
		for _, item := range list.Content {
			n, p := rules.MappingValue(item, "name"), rules.MappingValue(item, "points")
			if n == nil || p == nil {
				continue
			}
			s, ok := suggested[n.Value]
			if !ok {
				continue
			}
			old, err := strconv.ParseFloat(p.Value, 64)
			if err == nil && old == s {
				continue
			}
			edits = append(edits, edit{p.Line, p.Column, p, strconv.FormatFloat(s, 'f', -1, 64)})
			// A points cap keeps the number of hits it allows.
			if cp := rules.MappingValue(rules.MappingValue(item, "cap"), "points"); cp != nil && err == nil && old > 0 && s > 0 {
				if c, err := strconv.ParseFloat(cp.Value, 64); err == nil {
					edits = append(edits, edit{cp.Line, cp.Column, cp, strconv.FormatFloat(round(c/old*s, 2), 'f', -1, 64)})
				}
			}
		}
	}
	if out, ok := applyEdits(src, edits); ok {
		return string(out), nil
	}
	for _, e := range edits {
		e.node.Value, e.node.Style = strings.Trim(e.text, `"`), 0
		if e.node.Tag == "!!str" && e.text != e.node.Value {
			e.node.Style = yaml.DoubleQuotedStyle
		}
	}
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(&doc); err != nil {
		return "", fmt.Errorf("calibrate: encoding the proposed rules: %w", err)
	}
	return buf.String(), nil
}

// span replaces src[from:to] with text.
type span struct {
	from, to int
	text     string
}

// applyEdits splices the edits into src; false when a scalar is not where the
// parser said (then nothing is changed).
func applyEdits(src []byte, edits []edit) ([]byte, bool) {
	lineStart := []int{0}
	for i, c := range src {
		if c == '\n' {
			lineStart = append(lineStart, i+1)
		}
	}
	var spans []span
	for _, e := range edits {
		if e.line < 1 || e.line > len(lineStart) {
			return nil, false
		}
		off := lineStart[e.line-1]
		for c := 1; c < e.col; c++ { // columns count characters
			if off >= len(src) || src[off] == '\n' {
				return nil, false
			}
			_, w := utf8.DecodeRune(src[off:])
			off += w
		}
		end, ok := scalarEnd(src, off, e.node)
		if !ok {
			return nil, false
		}
		spans = append(spans, span{off, end, e.text})
	}
	// A comment beside a rewritten value may state the old value ("cap: {points:
	// 10, per: 7d}  # at most 10 points of browsing a week"): the number is
	// updated, or the comment dropped when the value changed sign (its words would
	// now say the opposite). Other comments, the why of a rule, stay.
	byLine := map[int][]span{}
	for _, sp := range spans {
		ls := sort.SearchInts(lineStart, sp.from+1) - 1
		byLine[ls] = append(byLine[ls], sp)
	}
	for _, sps := range byLine {
		sort.Slice(sps, func(i, j int) bool { return sps[i].from < sps[j].from })
		last := sps[len(sps)-1].to
		eol := bytes.IndexByte(src[last:], '\n')
		if eol < 0 {
			eol = len(src) - last
		}
		c := commentStart(src[last : last+eol])
		if c < 0 {
			continue
		}
		text, changed := restateComment(string(src[last+c:last+eol]), sps, src)
		if !changed {
			continue
		}
		from := last + c
		if text == "" {
			for from > last && (src[from-1] == ' ' || src[from-1] == '\t') {
				from--
			}
		}
		spans = append(spans, span{from, last + eol, text})
	}
	sort.Slice(spans, func(i, j int) bool { return spans[i].from > spans[j].from })
	out := append([]byte(nil), src...)
	for _, s := range spans {
		out = append(out[:s.from], append([]byte(s.text), out[s.to:]...)...)
	}
	return out, true
}

var commentNumber = regexp.MustCompile(`-?\d+(?:\.\d+)?`)

// restateComment rewrites the numbers of a comment that state an old value of
// its line as the new value; "" (drop it) when a value changed sign and the
// comment stated its magnitude.
func restateComment(comment string, edits []span, src []byte) (string, bool) {
	type change struct{ old, new float64 }
	var cs []change
	for _, e := range edits {
		o, err1 := strconv.ParseFloat(string(src[e.from:e.to]), 64)
		n, err2 := strconv.ParseFloat(e.text, 64)
		if err1 == nil && err2 == nil {
			cs = append(cs, change{o, n})
		}
	}
	changed, drop := false, false
	out := commentNumber.ReplaceAllStringFunc(comment, func(tok string) string {
		v, err := strconv.ParseFloat(tok, 64)
		if err != nil {
			return tok
		}
		for _, c := range cs {
			switch {
			case v == c.old:
				changed = true
				return strconv.FormatFloat(c.new, 'f', -1, 64)
			case v == -c.old && (c.old < 0) == (c.new < 0):
				changed = true
				return strconv.FormatFloat(math.Abs(c.new), 'f', -1, 64)
			case v == -c.old:
				changed, drop = true, true
			}
		}
		return tok
	})
	if drop {
		return "", true
	}
	return out, changed
}

// commentStart returns the offset of a YAML comment in the rest of a line (a "#"
// at its start or after a space, outside quotes), or -1.
func commentStart(rest []byte) int {
	var quote byte
	for i, c := range rest {
		switch {
		case quote != 0:
			if c == quote {
				quote = 0
			}
		case c == '"' || c == '\'':
			quote = c
		case c == '#' && (i == 0 || rest[i-1] == ' ' || rest[i-1] == '\t'):
			return i
		}
	}
	return -1
}

// scalarEnd returns the end offset of the scalar n written at src[off:].
func scalarEnd(src []byte, off int, n *yaml.Node) (int, bool) {
	if off >= len(src) {
		return 0, false
	}
	switch n.Style {
	case 0:
		if bytes.HasPrefix(src[off:], []byte(n.Value)) {
			return off + len(n.Value), true
		}
	case yaml.DoubleQuotedStyle:
		if src[off] != '"' {
			return 0, false
		}
		for i := off + 1; i < len(src) && src[i] != '\n'; i++ {
			switch src[i] {
			case '\\':
				i++
			case '"':
				return i + 1, true
			}
		}
	case yaml.SingleQuotedStyle:
		if src[off] != '\'' {
			return 0, false
		}
		for i := off + 1; i < len(src) && src[i] != '\n'; i++ {
			if src[i] == '\'' {
				if i+1 < len(src) && src[i+1] == '\'' {
					i++
					continue
				}
				return i + 1, true
			}
		}
	}
	return 0, false
}

// describe says what a kind's rule matches, for people.
func (k kind) describe() string {
	switch {
	case k.event != "":
		return fmt.Sprintf("%s %s %q", k.source, k.typ, k.event)
	case k.path != "":
		return fmt.Sprintf("%s %s %s", k.source, k.typ, k.path)
	}
	return k.source + " " + k.typ
}

var notIdent = regexp.MustCompile(`[^a-z0-9]+`)

// ruleName turns a kind's name into a rule name: "track:Demo Requested" →
// "track_demo_requested", "page:/blog/*" → "page_blog".
func ruleName(k string) string {
	if k == "page:/" {
		return "page_home"
	}
	s := strings.Trim(notIdent.ReplaceAllString(strings.ToLower(k), "_"), "_")
	if s == "" {
		s = "kind"
	}
	return s
}

// formatDuration writes milliseconds in the rules file's duration syntax.
func formatDuration(ms int64) string {
	for _, u := range []struct {
		n    int64
		unit string
	}{{7 * 24 * 3600 * 1000, "w"}, {24 * 3600 * 1000, "d"}, {3600 * 1000, "h"}, {60 * 1000, "m"}, {1000, "s"}} {
		if ms%u.n == 0 {
			return strconv.FormatInt(ms/u.n, 10) + u.unit
		}
	}
	return strconv.FormatInt(ms, 10) + "ms"
}

// proposeFromKinds writes a new rules file: one rule per fitted event kind with a
// non-zero suggestion (largest first), the half-life the hits were weighted with,
// and a minimal funnel: visitor, lead (identified), mql (identified and a score
// of at least the report's threshold, with an exit at three quarters of it).
func proposeFromKinds(kinds []kind, feats []Feature, fitted []int, h int64, rep *CalibrateReport, version string) (string, error) {
	if rep.Threshold == nil {
		return "", fmt.Errorf("calibrate: no threshold for the proposed funnel (a bug)")
	}
	var b strings.Builder
	b.WriteString("# Proposed by leadscore calibrate from history: one engagement rule per kind of\n")
	b.WriteString("# event, points from an L2-regularised logistic regression of conversion on\n")
	b.WriteString("# decay-weighted hits (docs/backtest.md). Review it, add fit rules and the rest\n")
	b.WriteString("# of your funnel, then check it with `leadscore backtest --compare`.\n")
	fmt.Fprintf(&b, "version: %s\n", strconv.Quote(version))
	if h > 0 {
		fmt.Fprintf(&b, "decay:\n  half_life: %s\n", formatDuration(h))
	}
	order := append([]int(nil), fitted...)
	sort.SliceStable(order, func(i, j int) bool { return feats[order[i]].Suggested > feats[order[j]].Suggested })
	b.WriteString("rules:\n")
	used := map[string]bool{}
	n := 0
	for _, j := range order {
		f := feats[j]
		if f.Suggested == 0 {
			continue
		}
		k := kinds[j]
		name := ruleName(k.name)
		for i := 2; used[name]; i++ {
			name = ruleName(k.name) + "_" + strconv.Itoa(i)
		}
		used[name] = true
		n++
		lift := "n/a"
		if f.Lift != nil {
			lift = strconv.FormatFloat(*f.Lift, 'f', 2, 64) + "×"
		}
		fmt.Fprintf(&b, "  - name: %s  # %s leads, lift %s, coef %s\n", name, num(f.Leads), lift, strconv.FormatFloat(f.Coef, 'f', 4, 64))
		fmt.Fprintf(&b, "    points: %s\n", strconv.FormatFloat(f.Suggested, 'f', -1, 64))
		fmt.Fprintf(&b, "    match: {source: %s, type: %s", k.source, yamlString(k.typ))
		if k.event != "" {
			fmt.Fprintf(&b, ", event: %s", yamlString(k.event))
		}
		if k.path != "" {
			fmt.Fprintf(&b, ", path: %s", yamlString(k.path))
		}
		b.WriteString("}\n")
	}
	if n == 0 {
		b.WriteString("  []\n")
	}
	t := *rep.Threshold
	exit := float64(int64(t * 3 / 4))
	b.WriteString("stages:\n  - name: visitor\n  - name: lead\n    entry:\n      - identified: true\n")
	fmt.Fprintf(&b, "  - name: mql\n    entry:\n      - identified: true\n        score: %s\n    exit: {below: %s, to: lead}\n",
		strconv.FormatFloat(t, 'f', -1, 64), strconv.FormatFloat(exit, 'f', -1, 64))
	return b.String(), nil
}

var plainWord = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// yamlString writes s as a YAML scalar: plain when it is a simple word, else
// double-quoted (JSON string syntax, which YAML accepts).
func yamlString(s string) string {
	switch strings.ToLower(s) {
	case "true", "false", "yes", "no", "on", "off", "null", "y", "n":
		return strconv.Quote(s)
	}
	if plainWord.MatchString(s) {
		return s
	}
	return strconv.Quote(s)
}

// unifiedDiff returns a unified diff (3 lines of context) from a to b, or "" when
// they are equal. It uses a longest-common-subsequence table, fine for rules files
// (hundreds of lines).
func unifiedDiff(nameA, nameB, a, b string) string {
	if a == b {
		return ""
	}
	al, bl := splitLines(a), splitLines(b)
	n, m := len(al), len(bl)
	lcs := make([][]int32, n+1)
	for i := range lcs {
		lcs[i] = make([]int32, m+1)
	}
	for i := n - 1; i >= 0; i-- {
		for j := m - 1; j >= 0; j-- {
			if al[i] == bl[j] {
				lcs[i][j] = lcs[i+1][j+1] + 1
			} else {
				lcs[i][j] = max(lcs[i+1][j], lcs[i][j+1])
			}
		}
	}
	type op struct {
		kind byte // ' ', '-', '+'
		i, j int  // line indexes in a and b (next ones for inserts/deletes)
		text string
	}
	var ops []op
	i, j := 0, 0
	for i < n || j < m {
		switch {
		case i < n && j < m && al[i] == bl[j]:
			ops = append(ops, op{' ', i, j, al[i]})
			i, j = i+1, j+1
		case i < n && (j == m || lcs[i+1][j] >= lcs[i][j+1]):
			ops = append(ops, op{'-', i, j, al[i]})
			i++
		default:
			ops = append(ops, op{'+', i, j, bl[j]})
			j++
		}
	}
	const ctx = 3
	var out strings.Builder
	fmt.Fprintf(&out, "--- %s\n+++ %s\n", nameA, nameB)
	for k := 0; k < len(ops); {
		if ops[k].kind == ' ' {
			k++
			continue
		}
		start := max(0, k-ctx)
		end := k
		for end < len(ops) {
			if ops[end].kind != ' ' {
				end++
				continue
			}
			run := end
			for run < len(ops) && ops[run].kind == ' ' {
				run++
			}
			if run == len(ops) || run-end > 2*ctx {
				end = min(len(ops), end+ctx)
				break
			}
			end = run
		}
		var as, bs int
		for _, o := range ops[start:end] {
			if o.kind != '+' {
				as++
			}
			if o.kind != '-' {
				bs++
			}
		}
		fmt.Fprintf(&out, "@@ -%s +%s @@\n", hunkRange(ops[start].i, as), hunkRange(ops[start].j, bs))
		for _, o := range ops[start:end] {
			out.WriteByte(o.kind)
			out.WriteString(o.text)
			out.WriteByte('\n')
		}
		k = end
	}
	return out.String()
}

func hunkRange(start, n int) string {
	if n == 0 {
		return strconv.Itoa(start) + ",0"
	}
	if n == 1 {
		return strconv.Itoa(start + 1)
	}
	return strconv.Itoa(start+1) + "," + strconv.Itoa(n)
}

func splitLines(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(strings.TrimSuffix(s, "\n"), "\n")
}

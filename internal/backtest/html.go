package backtest

import (
	"fmt"
	"html/template"
	"io"
	"math"
	"sort"
	"strconv"
	"strings"
)

// WriteHTML writes the report as one self-contained HTML page: tables and inline
// SVG charts (funnel, MQLs per week, conversion by score band), styled inline. It
// loads nothing: no script, font, style sheet or image from anywhere.
func (r *Report) WriteHTML(w io.Writer) error {
	v := htmlView{Report: r, Funnel: template.HTML(funnelSVG(r.Results)),
		Weekly: template.HTML(weeklySVG(r.Results)), FunnelRows: funnelRows(r.Results)}
	for i := range r.Results {
		v.Calibration = append(v.Calibration, calView{Label: label(&r.Results[i]), Letter: letter(r, i),
			Cal: r.Results[i].Calibration, SVG: template.HTML(calibrationSVG(r.Results[i].Calibration, colors[i]))})
	}
	if err := page.Execute(w, v); err != nil {
		return fmt.Errorf("writing report: %w", err)
	}
	return nil
}

type htmlView struct {
	*Report
	Funnel, Weekly template.HTML
	FunnelRows     []funnelRow
	Calibration    []calView
}

// funnelRow is one stage of the funnel table: entered and at end for each model,
// matched by stage name (two rules files may have different stages).
type funnelRow struct {
	Stage string
	Cells []string
}

func funnelRows(rs []Result) []funnelRow {
	var rows []funnelRow
	index := map[string]int{}
	for k, r := range rs {
		for _, s := range r.Funnel {
			i, ok := index[s.Stage]
			if !ok {
				i = len(rows)
				index[s.Stage] = i
				rows = append(rows, funnelRow{Stage: stageName(s), Cells: make([]string, 2*len(rs))})
			}
			rows[i].Cells[2*k], rows[i].Cells[2*k+1] = num(s.Entered), num(s.AtEnd)
		}
	}
	return rows
}

// Multi says whether two models are compared.
func (v htmlView) Multi() bool { return len(v.Results) > 1 }

type calView struct {
	Label, Letter string
	Cal           ScoreBands
	SVG           template.HTML
}

func letter(r *Report, i int) string {
	if len(r.Results) < 2 {
		return ""
	}
	return string(rune('A' + i))
}

var colors = [2]string{"#2f6db3", "#d9822b"}

var page = template.Must(template.New("report").Funcs(template.FuncMap{
	"num": num, "pct": pct, "flt": flt, "days": dayStr, "label": func(r Result) string { return label(&r) },
	"f3":     func(x float64) string { return strconv.FormatFloat(x, 'f', 3, 64) },
	"def":    defName,
	"letter": func(i int) string { return string(rune('A' + i)) },
	"pts":    optPoints,
	"side":   sideText,
	"contrib": func(cs []ContribDiff) string {
		var out []string
		for _, c := range cs {
			out = append(out, c.Rule+" "+flt(c.A)+" → "+flt(c.B))
		}
		return strings.Join(out, ", ")
	},
}).Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>leadscore backtest{{range .Results}} — {{label .}}{{end}}</title>
<style>
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: #1d2733; margin: 2em auto; max-width: 1100px; padding: 0 1em; }
h1 { font-size: 1.5em; margin-bottom: .2em; } h2 { font-size: 1.15em; margin-top: 2em; border-bottom: 1px solid #d8dee6; padding-bottom: .2em; }
table { border-collapse: collapse; margin: .6em 0; } th, td { padding: .25em .7em; text-align: right; border-bottom: 1px solid #eef1f5; }
th:first-child, td:first-child { text-align: left; } th { background: #f4f6f9; font-weight: 600; }
.meta { color: #56606c; } .legend span { display: inline-block; width: .9em; height: .9em; margin: 0 .3em 0 1em; vertical-align: -.1em; }
svg { display: block; margin: .5em 0; } svg text { font: 11px system-ui, sans-serif; fill: #333; }
.note { color: #56606c; font-size: .92em; max-width: 60em; }
</style>
</head>
<body>
<h1>leadscore backtest</h1>
<p class="meta">{{range $i, $r := .Results}}{{if $.Multi}}<b>{{letter $i}}</b> = {{end}}{{label $r}}<br>{{end}}
log: {{num .Log.Events}} events{{if .From}} from {{.From}} to {{.To}}{{end}} ({{num .Log.Duplicates}} duplicates, {{num .Log.Ignored}} ignored, {{num .Log.NoIdentity}} without identity, {{num .Log.Bad}} bad lines); leads brought to {{.At}}<br>
outcomes: {{num .Outcomes.Lines}} lines;{{range .Outcomes.Leads}} {{.Outcome}} {{num .Leads}};{{end}} positive = {{range $i, $k := .Outcomes.Positive}}{{if $i}}, {{end}}{{$k}}{{end}}; {{num .Outcomes.Unmatched}} unmatched, {{num .Outcomes.Late}} late<br>
{{with index .Results 0}}population: {{num .Population}} identified or with an outcome, of {{num .Leads}} leads; {{num .Positives}} positive{{end}}</p>
{{if .Multi}}<p class="legend">{{range $i, $r := .Results}}<span style="background:{{if $i}}#d9822b{{else}}#2f6db3{{end}}"></span>{{letter $i}}{{end}}</p>{{end}}

<h2>Funnel</h2>
{{.Funnel}}
<table><tr><th>stage</th>{{range $i, $r := .Results}}<th>entered{{if $.Multi}} {{letter $i}}{{end}}</th><th>at end{{if $.Multi}} {{letter $i}}{{end}}</th>{{end}}</tr>
{{range .FunnelRows}}<tr><td>{{.Stage}}</td>{{range .Cells}}<td>{{.}}</td>{{end}}</tr>
{{end}}</table>
{{$rs := .Results}}

<h2>Stage definitions against outcomes</h2>
<p class="note">Among the population, a lead <i>predicted</i> by a stage reached it or a later stage (terminal stages aside): at any time (<i>ever</i>), or strictly before its first positive outcome (<i>before outcome</i>: what the stage told sales in advance).</p>
<table><tr><th>definition</th>{{if .Multi}}<th>model</th>{{end}}<th>predicted</th><th>true positives</th><th>precision</th><th>recall</th><th>F1</th></tr>
{{range $k, $d := (index .Results 0).Definitions}}{{range $i, $r := $rs}}{{with index $r.Definitions $k}}<tr><td>{{if not $i}}{{def .}}{{end}}</td>{{if $.Multi}}<td>{{letter $i}}</td>{{end}}<td>{{num .Predicted}}</td><td>{{num .TruePositives}}</td><td>{{pct .Precision}}</td><td>{{pct .Recall}}</td><td>{{f3 .F1}}</td></tr>
{{end}}{{end}}{{end}}</table>

<h2>Time from first identified event to stage</h2>
<table><tr><th>stage</th>{{if .Multi}}<th>model</th>{{end}}<th>leads</th><th>median</th><th>p25</th><th>p75</th></tr>
{{range $k, $x := (index .Results 0).TimeTo}}{{range $i, $r := $rs}}{{with index $r.TimeTo $k}}<tr><td>{{if not $i}}{{.Stage}}{{end}}</td>{{if $.Multi}}<td>{{letter $i}}</td>{{end}}<td>{{num .Leads}}</td><td>{{days .MedianDays}}</td><td>{{days .P25Days}}</td><td>{{days .P75Days}}</td></tr>
{{end}}{{end}}{{end}}</table>

{{range .Calibration}}<h2>Conversion by score band{{if .Letter}} — {{.Letter}} = {{.Label}}{{end}}</h2>
<p class="note">Deciles of the {{.Cal.Basis}}. Base rate {{pct .Cal.BaseRate}} (dashed line), AUC {{f3 .Cal.AUC}}.</p>
{{.SVG}}
<table><tr><th>band</th><th>score</th><th>leads</th><th>positive</th><th>rate</th><th>lift</th></tr>
{{range .Cal.Bands}}<tr><td>{{.Band}}</td><td>{{flt .Min}} – {{flt .Max}}</td><td>{{num .Leads}}</td><td>{{num .Positives}}</td><td>{{pct .Rate}}</td><td>{{printf "%.2f" .Lift}}×</td></tr>
{{end}}</table>
{{end}}
<h2>MQLs per week</h2>
<p class="note">Leads reaching the MQL stage (or a later one) for the first time, per week (Monday, UTC){{if .Multi}}: bars for A, line for B{{end}}.</p>
{{.Weekly}}

{{with .Diff}}<h2>Comparison: A = {{.A}}, B = {{.B}}</h2>
<p>{{if .Rules}}Points changed: {{range $i, $c := .Rules}}{{if $i}}, {{end}}{{$c.Rule}} {{pts $c.A}} → {{pts $c.B}}{{end}}.{{else}}No engagement rule's points differ.{{end}}<br>
{{num .Differ}} of {{num .Leads}} leads end in another stage. Reached mql under one model only: A {{num .MQL.OnlyA}}, B {{num .MQL.OnlyB}}; sql: A {{num .SQL.OnlyA}}, B {{num .SQL.OnlyB}}.</p>
{{if .Moves}}<table><tr><th>stage under A</th><th>under B</th><th>leads</th></tr>
{{range .Moves}}<tr><td>{{.A}}</td><td>{{.B}}</td><td>{{num .Leads}}</td></tr>
{{end}}</table>{{end}}
{{if .Examples}}<table><tr><th>lead</th><th>A: stage score (why)</th><th>B: stage score (why)</th><th>contributions A → B</th></tr>
{{range .Examples}}<tr><td>{{.Lead}}</td><td>{{side .A}}</td><td>{{side .B}}</td><td>{{contrib .Contributions}}</td></tr>
{{end}}</table>{{end}}
{{end}}
<p class="note">Generated by leadscore backtest. Definitions: docs/backtest.md.</p>
</body>
</html>
`))

// esc escapes text for SVG (XML) content and attributes.
func esc(s string) string { return template.HTMLEscapeString(s) }

func f1(x float64) string { return strconv.FormatFloat(x, 'f', 1, 64) }

// short writes a score for an axis label: whole numbers from 10 up.
func short(x float64) string {
	if x >= 10 || x <= -10 {
		return strconv.FormatFloat(x, 'f', 0, 64)
	}
	return strconv.FormatFloat(x, 'f', -1, 64)
}

// funnelSVG draws the leads that entered each stage as horizontal bars, one per
// model.
func funnelSVG(rs []Result) string {
	stages := rs[0].Funnel
	peak := 1
	for _, r := range rs {
		for _, s := range r.Funnel {
			peak = max(peak, s.Entered)
		}
	}
	const left, width, barH = 110.0, 520.0, 14.0
	rowH := barH*float64(len(rs)) + 8
	h := rowH*float64(len(stages)) + 10
	var b strings.Builder
	fmt.Fprintf(&b, `<svg width="%d" height="%s" viewBox="0 0 %d %s" role="img" aria-label="funnel">`, 720, f1(h), 720, f1(h))
	for i, s := range stages {
		y := 5 + rowH*float64(i)
		fmt.Fprintf(&b, `<text x="%s" y="%s" text-anchor="end">%s</text>`, f1(left-6), f1(y+rowH/2+1), esc(s.Stage))
		for k, r := range rs {
			n := 0
			for _, x := range r.Funnel {
				if x.Stage == s.Stage {
					n = x.Entered
				}
			}
			w := width * float64(n) / float64(peak)
			by := y + barH*float64(k)
			fmt.Fprintf(&b, `<rect x="%s" y="%s" width="%s" height="%s" fill="%s"><title>%s: %s</title></rect>`,
				f1(left), f1(by), f1(w), f1(barH-2), colors[k], esc(s.Stage), num(n))
			fmt.Fprintf(&b, `<text x="%s" y="%s">%s</text>`, f1(left+w+4), f1(by+barH-4), num(n))
		}
	}
	b.WriteString(`</svg>`)
	return b.String()
}

// calibrationSVG draws the conversion rate of each score band as bars, with the
// base rate as a dashed line.
func calibrationSVG(c ScoreBands, color string) string {
	const w, h, left, bottom, top = 720.0, 240.0, 50.0, 40.0, 12.0
	peak := c.BaseRate
	for _, bd := range c.Bands {
		peak = max(peak, bd.Rate)
	}
	if peak <= 0 {
		peak = 1
	}
	plotH := h - bottom - top
	y := func(v float64) float64 { return top + plotH*(1-v/peak) }
	var b strings.Builder
	fmt.Fprintf(&b, `<svg width="%d" height="%d" viewBox="0 0 %d %d" role="img" aria-label="conversion by score band">`, int(w), int(h), int(w), int(h))
	axes(&b, left, top, w-10, h-bottom, peak, true)
	n := max(len(c.Bands), 1)
	slot := (w - 10 - left) / float64(n)
	for i, bd := range c.Bands {
		x := left + slot*float64(i) + slot*0.15
		fmt.Fprintf(&b, `<rect x="%s" y="%s" width="%s" height="%s" fill="%s"><title>band %d (%s – %s): %s of %s leads converted</title></rect>`,
			f1(x), f1(y(bd.Rate)), f1(slot*0.7), f1(h-bottom-y(bd.Rate)), color, bd.Band, flt(bd.Min), flt(bd.Max), num(bd.Positives), num(bd.Leads))
		fmt.Fprintf(&b, `<text x="%s" y="%s" text-anchor="middle">%s</text>`, f1(x+slot*0.35), f1(y(bd.Rate)-3), pct(bd.Rate))
		fmt.Fprintf(&b, `<text x="%s" y="%s" text-anchor="middle">%s–%s</text>`, f1(x+slot*0.35), f1(h-bottom+14), short(bd.Min), short(bd.Max))
	}
	fmt.Fprintf(&b, `<line x1="%s" y1="%s" x2="%s" y2="%s" stroke="#444" stroke-dasharray="5,4"/>`, f1(left), f1(y(c.BaseRate)), f1(w-10), f1(y(c.BaseRate)))
	fmt.Fprintf(&b, `<text x="%s" y="%s" text-anchor="middle">peak score band</text>`, f1(left+(w-10-left)/2), f1(h-6))
	b.WriteString(`</svg>`)
	return b.String()
}

// axes draws a y axis from 0 to peak with a few ticks, and the x axis.
func axes(b *strings.Builder, x0, y0, x1, y1, peak float64, percent bool) {
	fmt.Fprintf(b, `<line x1="%s" y1="%s" x2="%s" y2="%s" stroke="#999"/>`, f1(x0), f1(y1), f1(x1), f1(y1))
	fmt.Fprintf(b, `<line x1="%s" y1="%s" x2="%s" y2="%s" stroke="#999"/>`, f1(x0), f1(y0), f1(x0), f1(y1))
	for k := 0; k <= 4; k++ {
		v := peak * float64(k) / 4
		yy := y1 - (y1-y0)*float64(k)/4
		lbl := strconv.FormatFloat(v, 'f', 0, 64)
		if percent {
			lbl = pct(v)
		}
		fmt.Fprintf(b, `<line x1="%s" y1="%s" x2="%s" y2="%s" stroke="#eee"/>`, f1(x0), f1(yy), f1(x1), f1(yy))
		fmt.Fprintf(b, `<text x="%s" y="%s" text-anchor="end">%s</text>`, f1(x0-4), f1(yy+4), lbl)
	}
}

// labelEvery is the stride of x-axis labels of chars characters under slots
// slot pixels wide, so that labels never overlap: an 11 px system font is at
// most ~6.5 px a digit, and labels keep a 12 px gap.
func labelEvery(slot float64, chars int) int {
	need := float64(chars)*6.5 + 12
	return max(1, int(math.Ceil(need/slot)))
}

// weeklySVG draws new MQLs per week: bars for the first model, a line for the
// second.
func weeklySVG(rs []Result) string {
	const w, h, left, bottom, top = 720.0, 220.0, 50.0, 34.0, 12.0
	weeks := map[string][2]int{}
	var order []string
	for k, r := range rs {
		for _, wk := range r.Weekly {
			v, ok := weeks[wk.Week]
			if !ok {
				order = append(order, wk.Week)
			}
			v[k] = wk.NewMQLs
			weeks[wk.Week] = v
		}
	}
	sort.Strings(order)
	peak := 1
	for _, v := range weeks {
		peak = max(peak, v[0], v[1])
	}
	var b strings.Builder
	fmt.Fprintf(&b, `<svg width="%d" height="%d" viewBox="0 0 %d %d" role="img" aria-label="MQLs per week">`, int(w), int(h), int(w), int(h))
	axes(&b, left, top, w-10, h-bottom, float64(peak), false)
	n := max(len(order), 1)
	slot := (w - 10 - left) / float64(n)
	plotH := h - bottom - top
	y := func(v int) float64 { return top + plotH*(1-float64(v)/float64(peak)) }
	var line []string
	every := labelEvery(slot, 10)
	for i, k := range order {
		v := weeks[k]
		x := left + slot*float64(i)
		fmt.Fprintf(&b, `<rect x="%s" y="%s" width="%s" height="%s" fill="%s"><title>week of %s: %s new MQLs</title></rect>`,
			f1(x+slot*0.1), f1(y(v[0])), f1(max(slot*0.8, 0.5)), f1(h-bottom-y(v[0])), colors[0], esc(k), num(v[0]))
		line = append(line, f1(x+slot/2)+","+f1(y(v[1])))
		if i%every == 0 {
			fmt.Fprintf(&b, `<text x="%s" y="%s" text-anchor="middle">%s</text>`, f1(x+slot/2), f1(h-bottom+14), esc(k))
		}
	}
	if len(rs) > 1 && len(line) > 0 {
		fmt.Fprintf(&b, `<polyline points="%s" fill="none" stroke="%s" stroke-width="2"/>`, strings.Join(line, " "), colors[1])
	}
	b.WriteString(`</svg>`)
	return b.String()
}

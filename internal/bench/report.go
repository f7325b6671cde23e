package bench

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// WriteJSON writes the result as indented JSON.
func (r *Result) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(r); err != nil {
		return fmt.Errorf("bench: writing JSON: %w", err)
	}
	return nil
}

// WriteTable writes the result as one Markdown table, preceded by the machine and
// setup and followed by the stage-change agreement, the soak and warnings.
func (r *Result) WriteTable(w io.Writer) error {
	var b strings.Builder
	m, s := r.Machine, r.Setup
	fmt.Fprintf(&b, "machine: %s, %d CPUs (GOMAXPROCS %d), %d MB, %s, %s\n", m.CPU, m.CPUs, m.GOMAXPROCS, m.MemoryMB, m.OS, m.Go)
	fmt.Fprintf(&b, "kafka: %s; redis: %s\n", m.Kafka, m.Redis)
	workload := s.Workload
	if workload == "" {
		workload = Journeys
	}
	fmt.Fprintf(&b, "data: %s, %d events (avg %.0f B) from %d people, %d partitions per topic, seed %d", workload, s.Events, s.AvgEventBytes, s.People, s.Partitions, s.Seed)
	switch {
	case s.LatencyRate > 0 && s.OfferLinger != "":
		fmt.Fprintf(&b, "; latency phases at %.0f events/s, offered with %s linger", s.LatencyRate, s.OfferLinger)
	case s.LatencyRate > 0:
		fmt.Fprintf(&b, "; latency phases at %.0f events/s", s.LatencyRate)
	case s.OfferLinger != "":
		fmt.Fprintf(&b, "; latency phases offered with %s linger", s.OfferLinger)
	}
	if s.Lanes > 0 {
		fmt.Fprintf(&b, "; %d lanes (leadscore and ceiling)", s.Lanes)
	}
	if s.Models > 1 {
		fmt.Fprintf(&b, "; %d models side by side (m1..m%d) in the leadscore scenarios, m1 alone in naive and goka", s.Models, s.Models)
	}
	if s.MaxPollRecords > 0 || s.FetchMaxWait != "" || s.ProducerLinger != "" || s.Compression != "" {
		fmt.Fprintf(&b, "; max poll records %d, fetch max wait %s, linger %s, compression %s", s.MaxPollRecords, s.FetchMaxWait, s.ProducerLinger, s.Compression)
	}
	b.WriteString("\n\n")
	tw := tabwriter.NewWriter(&b, 0, 0, 1, ' ', tabwriter.Debug)
	fmt.Fprintln(tw, "| scenario\t models\t events/s\t × ceiling\t × naive\t × goka\t p50 ms\t p99 ms\t p99.9 ms\t at rate/s\t CPU s/M ev\t Redis CPU s/M ev\t peak RSS MB\t Redis B/lead\t Redis cmds/ev\t outputs\t")
	fmt.Fprintln(tw, "|---\t---:\t---:\t---:\t---:\t---:\t---:\t---:\t---:\t---:\t---:\t---:\t---:\t---:\t---:\t---:\t")
	ratio := func(f float64) string {
		if f == 0 {
			return "–"
		}
		return fmt.Sprintf("%.2f", f)
	}
	for _, sc := range r.Scenarios {
		p50, p99, p999, at := "–", "–", "–", "–"
		if l := sc.Latency; l != nil && l.Samples > 0 {
			p50, p99, p999, at = fmt.Sprintf("%.1f", l.P50), fmt.Sprintf("%.1f", l.P99), fmt.Sprintf("%.1f", l.P999), fmt.Sprintf("%.0f", l.OfferedRate)
			if !l.Kept {
				at += " (fell behind)"
			}
		}
		redisCPU, perLead, cmds := "–", "–", "–"
		if sc.Name != Ceiling && sc.Name != Goka {
			redisCPU, perLead, cmds = fmt.Sprintf("%.1f", sc.RedisCPUPerMillion), fmt.Sprintf("%.0f", sc.RedisBytesPerLead), fmt.Sprintf("%.2f", sc.RedisCommandsPerEvent)
		}
		models := max(sc.Models, 1) // results written before models had a count ran one
		fmt.Fprintf(tw, "| %s\t %d\t %.0f\t %s\t %s\t %s\t %s\t %s\t %s\t %s\t %.1f\t %s\t %.0f\t %s\t %s\t %d\t\n", sc.Name, models, sc.EventsPerSec,
			ratio(sc.VsCeiling), ratio(sc.VsNaive), ratio(sc.VsGoka), p50, p99, p999, at, sc.CPUPerMillion, redisCPU, float64(sc.PeakRSS)/(1<<20), perLead, cmds, sc.Outputs)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, a := range r.Agreement {
		fmt.Fprintf(&b, "\nstage changes, %s vs %s: %d the same, %d only in %s, %d only in %s", a.Scenario, a.Against, a.Same, a.OnlyThis, a.Scenario, a.OnlyNaive, a.Against)
		if s.Models > 1 {
			fmt.Fprintf(&b, ", of %d model(s)", a.Models)
		}
		if a.Against == "oracle" {
			if total := a.Same + a.OnlyThis + a.OnlyNaive; total > 0 {
				fmt.Fprintf(&b, " (%.1f %% agreement)", 100*float64(a.Same)/float64(total))
			}
		}
	}
	if len(r.Agreement) > 0 {
		b.WriteString("\n")
	}
	for _, sc := range r.Scenarios {
		if sc.ProcessPeakRSS > 0 {
			fmt.Fprintf(&b, "\n%s, its own process: %.1f of the %.1f CPU s/M ev, %.0f of the %.0f MB peak RSS (the rest: broker and harness)",
				sc.Name, sc.ProcessCPUPerMillion, sc.CPUPerMillion, mb(sc.ProcessPeakRSS), mb(sc.PeakRSS))
		}
		if bd := sc.Breakdown; bd != nil && bd.Batches > 0 {
			fmt.Fprintf(&b, "\n%s: %d batches (%.0f records each), processing %.0f%% of the wall time", sc.Name, bd.Batches,
				float64(bd.Records)/float64(bd.Batches), bd.BatchMillis/10/sc.Seconds)
			writeOps(&b, bd)
		}
		if bd := sc.LatencyBreakdown; bd != nil && bd.Batches > 0 && sc.Latency != nil {
			fmt.Fprintf(&b, "\n%s latency phase at %.0f events/s: %.1f CPU s/M ev; %d batches (%.0f records each), %.1f ms each", sc.Name,
				sc.Latency.OfferedRate, sc.Latency.CPUPerMillion, bd.Batches, float64(bd.Records)/float64(bd.Batches), bd.BatchMillis/float64(bd.Batches))
			writeOps(&b, bd)
		}
	}
	b.WriteString("\n")
	if sk := r.Soak; sk != nil {
		fmt.Fprintf(&b, "\nsoak (franz-go, %s at %.0f events/s, %d events): RSS start %.0f MB, end %.0f MB, max %.0f MB; Go heap in use %.0f → %.0f MB; kept up: %v\n",
			sk.Duration, sk.Rate, sk.Events, mb(sk.StartRSS), mb(sk.EndRSS), mb(sk.MaxRSS), mb(int64(sk.HeapStart)), mb(int64(sk.HeapEnd)), sk.Kept)
	}
	for _, wn := range r.Warnings {
		fmt.Fprintf(&b, "\nWARNING: %s\n", wn)
	}
	_, err := io.WriteString(w, fixTable(b.String()))
	return err
}

// writeOps appends each store round trip's count and mean time.
func writeOps(b *strings.Builder, bd *Breakdown) {
	for _, op := range bd.ops() {
		t := bd.Store[op]
		fmt.Fprintf(b, "; %s %d× %.1f ms", op, t.Count, t.Millis/float64(max(t.Count, 1)))
	}
}

func mb(b int64) float64 { return float64(b) / (1 << 20) }

// fixTable turns tabwriter's Debug separators ("|" after each cell) into a
// Markdown table row.
func fixTable(s string) string {
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		if strings.HasPrefix(l, "| ") || strings.HasPrefix(l, "|---") {
			lines[i] = strings.TrimRight(l, " ")
		}
	}
	return strings.Join(lines, "\n")
}

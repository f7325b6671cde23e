package events

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/leadscore/leadscore/internal/cputime"
	"github.com/leadscore/leadscore/internal/cputime/cputimetest"
	"github.com/leadscore/leadscore/scoring"
)

// The benchmarks report, besides ns/op, the CPU time per event (cpu-ns/op, all threads
// of the process, GC included) and the events per second of CPU time it allows
// (events/cpu-s): those hold when the machine is busy with other work.

// BenchmarkDecodeTrack decodes, validates and normalises the shared Segment track
// example: the hot path of the web topic.
func BenchmarkDecodeTrack(b *testing.B) {
	benchmarkDecode(b, scoring.SourceWeb, "web/valid/segment-track.json")
}

func BenchmarkDecodePage(b *testing.B) {
	benchmarkDecode(b, scoring.SourceWeb, "web/valid/segment-page.json")
}

func BenchmarkDecodeIdentify(b *testing.B) {
	benchmarkDecode(b, scoring.SourceWeb, "web/valid/segment-identify.json")
}

func BenchmarkDecodeEmailClick(b *testing.B) {
	benchmarkDecode(b, scoring.SourceEmail, "email/valid/sendgrid-batch-5-click.json")
}

func BenchmarkDecodeFeedback(b *testing.B) {
	benchmarkDecode(b, scoring.SourceFeedback, "feedback/valid/qualified-bant.json")
}

// BenchmarkDecodeAny is the track example through source detection.
func BenchmarkDecodeAny(b *testing.B) {
	benchmarkDecode(b, scoring.SourceUnknown, "web/valid/segment-track.json")
}

// BenchmarkRejectMissingIdentity measures the cost of a rejection.
func BenchmarkRejectMissingIdentity(b *testing.B) {
	payload := []byte(`{"type":"track","event":"Demo Requested","properties":{"plan":"pro"},"timestamp":"2026-03-02T09:20:00Z"}`)
	d := newTestDecoder(b, Options{})
	b.SetBytes(int64(len(payload)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := d.Decode(scoring.SourceWeb, payload); err == nil {
			b.Fatal("accepted")
		}
	}
}

func benchmarkDecode(b *testing.B, src scoring.Source, file string) {
	payload, err := os.ReadFile(filepath.Join("..", "schemas", "testdata", file))
	if err != nil {
		b.Fatal(err)
	}
	d := newTestDecoder(b, Options{})
	b.SetBytes(int64(len(payload)))
	b.ReportAllocs()
	start := cputime.Now()
	for b.Loop() {
		if _, err := d.Decode(src, payload); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
	cputimetest.Report(b, start)
}

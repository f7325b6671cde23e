package telemetry_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/leadscore/leadscore/telemetry"
)

func TestRedactEmails(t *testing.T) {
	tests := []struct{ in, want string }{
		{"no address here", "no address here"},
		{"lead email:jane.doe+news@example.co.uk moved", "lead email:***@example.co.uk moved"},
		{"GET /v1/leads/email:jane%40example.com", "GET /v1/leads/email:***@example.com"},
		{"a@b.io,c_d@e-f.org", "***@b.io,***@e-f.org"},
		{"user@localhost and @handle", "user@localhost and @handle"},
	}
	for _, tt := range tests {
		if got := telemetry.RedactEmails(tt.in); got != tt.want {
			t.Errorf("RedactEmails(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

type lead struct {
	ID     string
	Emails []string
}

type stringer struct{}

func (stringer) String() string { return "owner ops.lead@example.com" }

// TestLoggerRedactsPII logs e-mail addresses every way a caller might — in the
// message, plain, wrapped in errors, nested in groups and structs, through
// With — in both formats, and checks that none reaches the output.
func TestLoggerRedactsPII(t *testing.T) {
	for _, format := range []string{"json", "text"} {
		t.Run(format, func(t *testing.T) {
			var buf bytes.Buffer
			log, err := telemetry.NewLogger(&buf, format, "info")
			if err != nil {
				t.Fatal(err)
			}
			log = log.With("requester", "boss@acme-corp.com")
			log.Info("stage change for jane.doe@example.com",
				"lead", "email:jane.doe@example.com",
				"err", fmt.Errorf("load email:jane.doe@example.com: %w", errors.New("timeout")),
				slog.Group("identity", "email", "jane.doe@example.com", "user_id", "crm-42"),
				"record", lead{ID: "u1", Emails: []string{"jane.doe@example.com"}},
				"list", []string{"x@example.org"},
				"owner", stringer{},
				"password", "hunter2",
				"path", "/v1/leads/email:jane.doe%40example.com",
				"count", 3)
			log.WithGroup("g").With("contact", "sam@example.net").Warn("retry", "to", "sam@example.net")
			log.Debug("not shown at info", "email", "dbg@example.com")
			out := buf.String()
			for _, leak := range []string{"jane.doe", "boss@", "x@example", "ops.lead", "sam@", "hunter2", "dbg@"} {
				if strings.Contains(out, leak) {
					t.Errorf("%q leaked:\n%s", leak, out)
				}
			}
			for _, kept := range []string{"***@example.com", "crm-42", "timeout", "[redacted]", "count", "***@acme-corp.com", "retry"} {
				if !strings.Contains(out, kept) {
					t.Errorf("%q missing:\n%s", kept, out)
				}
			}
		})
	}
}

func TestNewLoggerRejectsBadSettings(t *testing.T) {
	if _, err := telemetry.NewLogger(&bytes.Buffer{}, "xml", "info"); err == nil {
		t.Error("format xml accepted")
	}
	if _, err := telemetry.NewLogger(&bytes.Buffer{}, "json", "loud"); err == nil {
		t.Error("level loud accepted")
	}
}

// TestPrintfLogger: a library's Printf line becomes one JSON log record, at
// warning level, redacted like every other.
func TestPrintfLogger(t *testing.T) {
	var buf bytes.Buffer
	log, err := telemetry.NewLogger(&buf, "json", "info")
	if err != nil {
		t.Fatal(err)
	}
	telemetry.PrintfLogger{Log: log, Msg: "redis client"}.Printf(context.Background(),
		"redis: connection pool: failed to dial after %d attempts: %v\n", 1, "dial tcp jane@example.com:6379: refused")
	var rec map[string]any
	if err := json.Unmarshal(buf.Bytes(), &rec); err != nil || strings.Count(buf.String(), "\n") != 1 {
		t.Fatalf("not one JSON line: %v\n%s", err, buf.String())
	}
	if rec["level"] != "WARN" || rec["msg"] != "redis client" ||
		rec["detail"] != "redis: connection pool: failed to dial after 1 attempts: dial tcp ***@example.com:6379: refused" {
		t.Errorf("record %v", rec)
	}
}

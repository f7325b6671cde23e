package telemetry

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"regexp"
	"strings"

	"go.opentelemetry.io/otel"
)

// NewLogger returns a structured logger writing to w in format "json" or
// "text" at level "debug", "info", "warn" or "error", through a
// redactingHandler: no e-mail address reaches the log, at any level.
func NewLogger(w io.Writer, format, level string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("log level %q: %w", level, err)
	}
	opts := &slog.HandlerOptions{Level: lv}
	var h slog.Handler
	switch format {
	case "json":
		h = slog.NewJSONHandler(w, opts)
	case "text":
		h = slog.NewTextHandler(w, opts)
	default:
		return nil, fmt.Errorf("log format %q: want json or text", format)
	}
	return slog.New(newRedactingHandler(h)), nil
}

// LogOTelErrors routes the errors that OpenTelemetry reports asynchronously (an
// exporter that cannot reach its collector) to log, at warn level. It sets the
// OpenTelemetry global error handler: call it once, from main.
func LogOTelErrors(log *slog.Logger) {
	otel.SetErrorHandler(otel.ErrorHandlerFunc(func(err error) {
		log.Warn("opentelemetry", "err", err)
	}))
}

// emailRE matches e-mail addresses, also with the @ percent-encoded (as in a
// logged URL path).
var emailRE = regexp.MustCompile(`[A-Za-z0-9._%+\-]+(?:@|%40)[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,}`)

// RedactEmails masks every e-mail address in s, keeping its domain:
// "jane.doe@example.com" becomes "***@example.com".
func RedactEmails(s string) string {
	if !strings.Contains(s, "@") && !strings.Contains(s, "%40") {
		return s
	}
	return emailRE.ReplaceAllStringFunc(s, func(m string) string {
		if i := strings.LastIndex(m, "@"); i >= 0 {
			return "***" + m[i:]
		}
		i := strings.LastIndex(m, "%40")
		return "***@" + m[i+3:]
	})
}

// sensitiveKeys are attribute keys whose values are always replaced, whatever
// they hold.
var sensitiveKeys = []string{"password", "secret", "token", "authorization", "cookie", "email", "e-mail", "phone"}

func sensitiveKey(k string) bool {
	k = strings.ToLower(k)
	for _, s := range sensitiveKeys {
		if strings.Contains(k, s) {
			return true
		}
	}
	return k == "ip"
}

// redacted replaces the value of a sensitive attribute.
const redacted = "[redacted]"

// redactingHandler wraps a slog.Handler and removes personal data before a
// record reaches it: e-mail addresses are masked (RedactEmails) in the message
// and in every attribute — strings, errors, fmt.Stringers, groups, and any
// other value as it would be rendered — and the values of attributes named
// like a secret or a contact detail (password, token, authorization, cookie,
// email, phone, ip) are replaced entirely.
type redactingHandler struct {
	h slog.Handler
}

// newRedactingHandler wraps h.
func newRedactingHandler(h slog.Handler) *redactingHandler { return &redactingHandler{h: h} }

// Enabled implements slog.Handler.
func (r *redactingHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return r.h.Enabled(ctx, l)
}

// Handle implements slog.Handler.
func (r *redactingHandler) Handle(ctx context.Context, rec slog.Record) error {
	out := slog.NewRecord(rec.Time, rec.Level, RedactEmails(rec.Message), rec.PC)
	rec.Attrs(func(a slog.Attr) bool {
		out.AddAttrs(redactAttr(a))
		return true
	})
	return r.h.Handle(ctx, out)
}

// WithAttrs implements slog.Handler.
func (r *redactingHandler) WithAttrs(as []slog.Attr) slog.Handler {
	red := make([]slog.Attr, len(as))
	for i, a := range as {
		red[i] = redactAttr(a)
	}
	return &redactingHandler{h: r.h.WithAttrs(red)}
}

// WithGroup implements slog.Handler.
func (r *redactingHandler) WithGroup(name string) slog.Handler {
	return &redactingHandler{h: r.h.WithGroup(name)}
}

func redactAttr(a slog.Attr) slog.Attr {
	v := a.Value.Resolve()
	if sensitiveKey(a.Key) && v.Kind() != slog.KindGroup {
		return slog.String(a.Key, redacted)
	}
	switch v.Kind() {
	case slog.KindString:
		return slog.String(a.Key, RedactEmails(v.String()))
	case slog.KindGroup:
		as := v.Group()
		red := make([]slog.Attr, len(as))
		for i, g := range as {
			red[i] = redactAttr(g)
		}
		return slog.Attr{Key: a.Key, Value: slog.GroupValue(red...)}
	case slog.KindAny:
		return slog.Attr{Key: a.Key, Value: redactAny(v.Any())}
	default: // numbers, bools, times, durations: nothing to mask
		return slog.Attr{Key: a.Key, Value: v}
	}
}

// redactAny masks e-mail addresses in a value of any type: errors and
// Stringers become their (masked) text; other values are kept as they are
// unless their JSON or %v rendering holds an address, in which case the
// masked rendering replaces them.
func redactAny(x any) slog.Value {
	switch t := x.(type) {
	case nil:
		return slog.AnyValue(nil)
	case error:
		return slog.StringValue(RedactEmails(t.Error()))
	case fmt.Stringer:
		return slog.StringValue(RedactEmails(t.String()))
	case []string:
		out := make([]string, len(t))
		for i, s := range t {
			out[i] = RedactEmails(s)
		}
		return slog.AnyValue(out)
	case []byte:
		return slog.StringValue(RedactEmails(string(t)))
	}
	var s string
	if b, err := json.Marshal(x); err == nil {
		s = string(b)
	} else {
		s = fmt.Sprintf("%+v", x)
	}
	if r := RedactEmails(s); r != s {
		return slog.StringValue(r)
	}
	return slog.AnyValue(x)
}

// PrintfLogger sends a library's Printf-style log lines to a slog logger, at
// warning level, as Msg with the formatted line as "detail". go-redis logs so
// (redis.SetLogger takes a PrintfLogger): without it, its lines — a refused
// dial, a pool problem — went to the standard logger, as plain text past the
// JSON log.
type PrintfLogger struct {
	Log *slog.Logger
	Msg string
}

// Printf implements go-redis's logging interface.
func (l PrintfLogger) Printf(ctx context.Context, format string, v ...any) {
	l.Log.WarnContext(ctx, l.Msg, "detail", strings.TrimSpace(fmt.Sprintf(format, v...)))
}

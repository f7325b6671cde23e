package kafkago

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestValidate(t *testing.T) {
	valid := func() Config {
		return Config{Brokers: []string{"localhost:9092"}, Group: "g", InputTopics: []string{"in"}}
	}
	tests := []struct {
		name    string
		mod     func(*Config)
		wantErr string // "" means valid
	}{
		{"minimal", func(*Config) {}, ""},
		{"tls and sasl", func(c *Config) {
			c.TLS = &TLSConfig{CAFile: "ca.pem"}
			c.SASL = &SASLConfig{Mechanism: "PLAIN", User: "u", Password: "p"}
		}, ""},
		{"exactly once refused", func(c *Config) { c.ExactlyOnce = true }, "use the franz-go backend for exactly-once"},
		{"transactional id refused", func(c *Config) { c.TransactionalID = "p-1" }, "at-least-once only"},
		{"no brokers", func(c *Config) { c.Brokers = nil }, "brokers"},
		{"no group", func(c *Config) { c.Group = "" }, "group"},
		{"no topics", func(c *Config) { c.InputTopics = nil }, "input topics"},
		{"start offset", func(c *Config) { c.StartOffset = "middle" }, "start offset"},
		{"compression", func(c *Config) { c.Compression = "brotli" }, "compression"},
		{"sasl mechanism", func(c *Config) { c.SASL = &SASLConfig{Mechanism: "GSSAPI"} }, "sasl mechanism"},
		{"cert without key", func(c *Config) { c.TLS = &TLSConfig{KeyFile: "k.pem"} }, "cert file and key file"},
		{"heartbeat too slow", func(c *Config) { c.HeartbeatInterval, c.SessionTimeout = 10*time.Second, 6*time.Second }, "heartbeat interval"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := valid()
			tt.mod(&cfg)
			err := cfg.Validate()
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("Validate: %v", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("Validate: got %v, want an error containing %q", err, tt.wantErr)
			}
		})
	}
	cfg := valid()
	cfg.ExactlyOnce = true
	if err := cfg.Validate(); !errors.Is(err, ErrExactlyOnce) {
		t.Fatalf("Validate with ExactlyOnce: %v, want errors.Is ErrExactlyOnce", err)
	}
}

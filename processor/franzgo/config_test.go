package franzgo

import (
	"strings"
	"testing"
	"time"

	"github.com/leadscore/leadscore/processor/kafkaconfig"
)

func TestValidate(t *testing.T) {
	valid := func() Config {
		return Config{Config: kafkaconfig.Config{Brokers: []string{"localhost:9092"}, Group: "g", InputTopics: []string{"in"}}}
	}
	tests := []struct {
		name    string
		mod     func(*Config)
		wantErr string // "" means valid
	}{
		{"minimal", func(*Config) {}, ""},
		{"exactly once", func(c *Config) { c.ExactlyOnce, c.TransactionalID = true, "p-1" }, ""},
		{"tls and sasl", func(c *Config) {
			c.TLS = &kafkaconfig.TLSConfig{CAFile: "ca.pem"}
			c.SASL = &kafkaconfig.SASLConfig{Mechanism: "scram-sha-512", User: "u", Password: "p"}
		}, ""},
		{"no brokers", func(c *Config) { c.Brokers = nil }, "brokers"},
		{"no group", func(c *Config) { c.Group = "" }, "group"},
		{"no topics", func(c *Config) { c.InputTopics = nil }, "input topics"},
		{"exactly once without id", func(c *Config) { c.ExactlyOnce = true }, "transactional id: required"},
		{"id without exactly once", func(c *Config) { c.TransactionalID = "p-1" }, "exactly-once is off"},
		{"start offset", func(c *Config) { c.StartOffset = "middle" }, "start offset"},
		{"compression", func(c *Config) { c.Compression = "brotli" }, "compression"},
		{"sasl mechanism", func(c *Config) { c.SASL = &kafkaconfig.SASLConfig{Mechanism: "GSSAPI"} }, "sasl mechanism"},
		{"cert without key", func(c *Config) { c.TLS = &kafkaconfig.TLSConfig{CertFile: "c.pem"} }, "cert file and key file"},
		{"heartbeat too slow", func(c *Config) { c.HeartbeatInterval, c.SessionTimeout = 10*time.Second, 6*time.Second }, "heartbeat interval"},
		{"negative poll records", func(c *Config) { c.MaxPollRecords = -1 }, "max poll records"},
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
}

func TestValidateReportsAll(t *testing.T) {
	err := (&Config{}).Validate()
	for _, want := range []string{"brokers", "group", "input topics"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate of an empty config: %v, want it to mention %q", err, want)
		}
	}
}

func TestConnOptsTLSFileErrors(t *testing.T) {
	cfg := Config{Config: kafkaconfig.Config{Brokers: []string{"localhost:9092"}, TLS: &kafkaconfig.TLSConfig{CAFile: t.TempDir() + "/missing.pem"}}}
	if _, err := cfg.ConnOpts(); err == nil || !strings.Contains(err.Error(), "CA file") {
		t.Fatalf("ConnOpts with a missing CA file: %v", err)
	}
}

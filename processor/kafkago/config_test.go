package kafkago

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
		{"tls and sasl", func(c *Config) {
			c.TLS = &kafkaconfig.TLSConfig{CAFile: "ca.pem"}
			c.SASL = &kafkaconfig.SASLConfig{Mechanism: "PLAIN", User: "u", Password: "p"}
		}, ""},
		{"no brokers", func(c *Config) { c.Brokers = nil }, "brokers"},
		{"no group", func(c *Config) { c.Group = "" }, "group"},
		{"no topics", func(c *Config) { c.InputTopics = nil }, "input topics"},
		{"start offset", func(c *Config) { c.StartOffset = "middle" }, "start offset"},
		{"compression", func(c *Config) { c.Compression = "brotli" }, "compression"},
		{"sasl mechanism", func(c *Config) { c.SASL = &kafkaconfig.SASLConfig{Mechanism: "GSSAPI"} }, "sasl mechanism"},
		{"cert without key", func(c *Config) { c.TLS = &kafkaconfig.TLSConfig{KeyFile: "k.pem"} }, "cert file and key file"},
		{"heartbeat too slow", func(c *Config) { c.HeartbeatInterval, c.SessionTimeout = 10*time.Second, 6*time.Second }, "heartbeat interval"},
		{"negative dial timeout", func(c *Config) { c.DialTimeout = -time.Second }, "dial timeout"},
		{"negative linger", func(c *Config) { c.ProducerLinger = -time.Second }, "producer linger: must not be negative"},
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

package franzgo

import (
	"strings"
	"testing"

	"github.com/leadscore/leadscore/processor/kafkaconfig"
	"github.com/leadscore/leadscore/processor/kafkatest"
)

func TestValidate(t *testing.T) {
	shared := func(c *Config) *kafkaconfig.Config { return &c.Config }
	kafkatest.RunValidate(t, shared, (*Config).Validate, []kafkatest.ValidateCase[Config]{
		{Name: "exactly once", Mod: func(c *Config) { c.ExactlyOnce, c.TransactionalID = true, "p-1" }},
		{Name: "tls and sasl", Mod: func(c *Config) {
			c.TLS = &kafkaconfig.TLSConfig{CAFile: "ca.pem"}
			c.SASL = &kafkaconfig.SASLConfig{Mechanism: "scram-sha-512", User: "u", Password: "p"}
		}},
		{Name: "exactly once without id", Mod: func(c *Config) { c.ExactlyOnce = true }, WantErr: "transactional id: required"},
		{Name: "id without exactly once", Mod: func(c *Config) { c.TransactionalID = "p-1" }, WantErr: "exactly-once is off"},
		{Name: "cert without key", Mod: func(c *Config) { c.TLS = &kafkaconfig.TLSConfig{CertFile: "c.pem"} }, WantErr: "cert file and key file"},
		{Name: "negative poll records", Mod: func(c *Config) { c.MaxPollRecords = -1 }, WantErr: "max poll records"},
	}...)
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

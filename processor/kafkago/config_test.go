package kafkago

import (
	"testing"
	"time"

	"github.com/leadscore/leadscore/processor/kafkaconfig"
	"github.com/leadscore/leadscore/processor/kafkatest"
)

func TestValidate(t *testing.T) {
	shared := func(c *Config) *kafkaconfig.Config { return &c.Config }
	kafkatest.RunValidate(t, shared, (*Config).Validate, []kafkatest.ValidateCase[Config]{
		{Name: "tls and sasl", Mod: func(c *Config) {
			c.TLS = &kafkaconfig.TLSConfig{CAFile: "ca.pem"}
			c.SASL = &kafkaconfig.SASLConfig{Mechanism: "PLAIN", User: "u", Password: "p"}
		}},
		{Name: "cert without key", Mod: func(c *Config) { c.TLS = &kafkaconfig.TLSConfig{KeyFile: "k.pem"} }, WantErr: "cert file and key file"},
		{Name: "negative dial timeout", Mod: func(c *Config) { c.DialTimeout = -time.Second }, WantErr: "dial timeout"},
		{Name: "negative linger", Mod: func(c *Config) { c.ProducerLinger = -time.Second }, WantErr: "producer linger: must not be negative"},
	}...)
}

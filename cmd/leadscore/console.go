package main

import (
	"strings"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/leadscore/leadscore/processor/franzgo"
	"github.com/leadscore/leadscore/processor/kafkaconfig"
	"github.com/leadscore/leadscore/scoring"
)

// kafkaConn returns the client options that reach the cluster of f (seed
// brokers, TLS, SASL), for clients beside the processor's.
func kafkaConn(f kafkaFlags) ([]kgo.Opt, error) {
	pw, err := secret(f.SASLPassword, f.SASLPasswordFile)
	if err != nil {
		return nil, err
	}
	fc := franzgo.Config{Config: kafkaconfig.Config{Brokers: f.Brokers}}
	if f.KafkaTLS || f.KafkaTLSCA != "" || f.KafkaTLSCert != "" {
		fc.TLS = &kafkaconfig.TLSConfig{CAFile: f.KafkaTLSCA, CertFile: f.KafkaTLSCert, KeyFile: f.KafkaTLSKey}
	}
	if f.SASLMechanism != "" {
		fc.SASL = &kafkaconfig.SASLConfig{Mechanism: f.SASLMechanism, User: f.SASLUser, Password: pw}
	}
	return fc.ConnOpts()
}

// rulesSummary returns the summary of the models in force, as `rules check`
// prints it for each of files.
func rulesSummary(files []string, models func() *scoring.Set) func() string {
	return func() string {
		var b strings.Builder
		for i, e := range models().Engines() {
			if i > 0 {
				b.WriteString("\n")
			}
			file := strings.Join(files, ", ")
			if len(files) == models().Len() {
				file = files[i]
			}
			b.WriteString(Summary(file, e.Model()))
		}
		return b.String()
	}
}

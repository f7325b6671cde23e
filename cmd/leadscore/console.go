package main

import (
	"fmt"
	"log/slog"
	"net/http"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/leadscore/leadscore/api"
	"github.com/leadscore/leadscore/console"
	"github.com/leadscore/leadscore/processor"
	"github.com/leadscore/leadscore/processor/franzgo"
	"github.com/leadscore/leadscore/processor/kafkaconfig"
	"github.com/leadscore/leadscore/scoring"
)

// consoleSetup is what the web console needs beside the API: the output
// topics to tail (over conn) and the rules summary.
type consoleSetup struct {
	conn    []kgo.Opt
	topics  processor.Topics
	summary func() string
	metrics http.Handler
	token   string
}

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

// withConsole wraps the API in the web console and starts the tail of the
// output topics; stop ends the tail. The caller ends the live streams with
// h.Close when the server starts shutting down.
func withConsole(a *api.API, cs *consoleSetup, log *slog.Logger) (h *console.Console, stop func(), err error) {
	feed := console.NewFeed()
	stages := func() console.Stages {
		s := console.Stages{MQL: "mql", SQL: "sql"}
		for _, st := range a.Engine().Model().Stages {
			s.Order = append(s.Order, st.Name)
		}
		return s
	}
	stopTail, err := console.TailKafka(console.TailConfig{Conn: cs.conn, StageChanges: cs.topics.StageChanges,
		DeadLetter: cs.topics.DeadLetter, Stages: stages, Logger: log}, feed)
	if err != nil {
		return nil, nil, err
	}
	c, err := console.New(console.Config{API: a, Token: cs.token, Feed: feed, Metrics: cs.metrics, RulesSummary: cs.summary, Logger: log})
	if err != nil {
		stopTail()
		return nil, nil, fmt.Errorf("console: %w", err)
	}
	return c, stopTail, nil
}

// rulesSummary returns the summary of the engine in force, as `rules check`
// prints it for file.
func rulesSummary(file string, eng func() *scoring.Engine) func() string {
	return func() string { return Summary(file, eng().Model()) }
}

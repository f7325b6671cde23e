package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/leadscore/leadscore/internal/wiring"
)

// brokerCmd is `leadscore broker`: a Kafka-protocol broker (franz-go's kfake)
// in this process, for local development without Docker and for the
// process-level reliability tests. It is not a production Kafka: one process,
// every record in memory (and on disk with --data-dir), loopback only.
type brokerCmd struct {
	Port              int               `default:"0" env:"LEADSCORE_BROKER_PORT" help:"Port of the first broker on 127.0.0.1 (the others use the next ports); 0 picks free ports. The addresses are printed on stdout, comma-separated, as the first line."`
	Brokers           int               `default:"1" env:"LEADSCORE_BROKER_COUNT" help:"Number of brokers in the cluster."`
	Partitions        int32             `default:"12" env:"LEADSCORE_BROKER_PARTITIONS" help:"Partitions of each seeded topic."`
	Topics            []string          `default:"${topics}" env:"LEADSCORE_BROKER_TOPICS" help:"Topics created at start (comma-separated; \"\" for none). Ignored when --data-dir already holds a cluster."`
	DataDir           string            `env:"LEADSCORE_BROKER_DATA_DIR" help:"Keep the cluster (topics, records, group offsets, transactions) in this directory and reload it at start. Empty: memory only."`
	SyncWrites        bool              `env:"LEADSCORE_BROKER_SYNC_WRITES" help:"Fsync every write (with --data-dir): nothing acknowledged is lost if the process is killed."`
	SASLMechanism     string            `name:"sasl-mechanism" enum:",PLAIN,SCRAM-SHA-256,SCRAM-SHA-512" default:"" env:"LEADSCORE_BROKER_SASL_MECHANISM" help:"Require SASL with this mechanism: PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512 (the user is a superuser)."`
	SASLUser          string            `name:"sasl-user" env:"LEADSCORE_BROKER_SASL_USER" help:"SASL user."`
	SASLPassword      string            `name:"sasl-password" env:"LEADSCORE_BROKER_SASL_PASSWORD" help:"SASL password (prefer the environment or --sasl-password-file; never logged)."`
	SASLPasswordFile  string            `name:"sasl-password-file" type:"existingfile" env:"LEADSCORE_BROKER_SASL_PASSWORD_FILE" help:"File holding the SASL password."`
	TLSCert           string            `name:"tls-cert" type:"existingfile" env:"LEADSCORE_BROKER_TLS_CERT" help:"Serve TLS with this certificate (PEM; valid for 127.0.0.1 or localhost)."`
	TLSKey            string            `name:"tls-key" type:"existingfile" env:"LEADSCORE_BROKER_TLS_KEY" help:"Key of --tls-cert (PEM)."`
	MinSessionTimeout time.Duration     `default:"6s" env:"LEADSCORE_BROKER_MIN_SESSION_TIMEOUT" help:"Smallest consumer-group session timeout the broker accepts (Kafka's group.min.session.timeout.ms); lower it to test failover quickly."`
	BrokerConfig      map[string]string `name:"broker-config" env:"LEADSCORE_BROKER_CONFIG" help:"Broker configs key=value (repeatable), e.g. log.retention.bytes=100000000."`
	LogLevel          string            `default:"warn" enum:"none,error,warn,info,debug" env:"LEADSCORE_BROKER_LOG_LEVEL" help:"Level of kfake's own log lines (stderr); start and stop are always logged."`
	ShutdownTimeout   time.Duration     `default:"30s" env:"LEADSCORE_BROKER_SHUTDOWN_TIMEOUT" help:"Bound on closing (and, with --data-dir, flushing) the cluster on SIGTERM; a second signal exits at once."`
}

// Validate is called by kong before Run.
func (c *brokerCmd) Validate() error {
	var errs []error
	if c.Brokers < 1 {
		errs = append(errs, errors.New("--brokers must be at least 1"))
	}
	if c.Partitions < 1 {
		errs = append(errs, errors.New("--partitions must be at least 1"))
	}
	if c.Port < 0 || c.Port+c.Brokers-1 > 65535 {
		errs = append(errs, fmt.Errorf("--port %d: the brokers' ports must be within 1..65535", c.Port))
	}
	if c.SyncWrites && c.DataDir == "" {
		errs = append(errs, errors.New("--sync-writes needs --data-dir"))
	}
	if c.SASLMechanism != "" && (c.SASLUser == "" || c.SASLPassword == "" && c.SASLPasswordFile == "") {
		errs = append(errs, errors.New("--sasl-mechanism needs --sasl-user and a password (--sasl-password or --sasl-password-file)"))
	}
	if c.SASLMechanism == "" && (c.SASLUser != "" || c.SASLPassword != "" || c.SASLPasswordFile != "") {
		errs = append(errs, errors.New("--sasl-user and --sasl-password need --sasl-mechanism"))
	}
	if (c.TLSCert == "") != (c.TLSKey == "") {
		errs = append(errs, errors.New("--tls-cert needs --tls-key, and the reverse"))
	}
	if c.MinSessionTimeout <= 0 {
		errs = append(errs, errors.New("--min-session-timeout must be positive"))
	}
	return errors.Join(errs...)
}

// Run serves the cluster until SIGINT or SIGTERM, then closes it (flushing the
// data directory) within --shutdown-timeout; a second signal exits at once.
func (c *brokerCmd) Run(e *env) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		stop() // a second signal now kills the process
	}()
	return c.serve(ctx, e)
}

// serve starts the cluster, prints its addresses as the first line of stdout,
// and closes it when ctx ends.
func (c *brokerCmd) serve(ctx context.Context, e *env) error {
	level := "info"
	if c.LogLevel == "debug" {
		level = "debug"
	}
	log := wiring.NewLogger(e.stderr, "text", level)
	opts, err := c.options(log)
	if err != nil {
		return err
	}
	cl, err := kfake.NewCluster(opts...)
	if err != nil {
		return fmt.Errorf("broker: %w", err)
	}
	addrs := cl.ListenAddrs()
	if _, err := fmt.Fprintln(e.stdout, strings.Join(addrs, ",")); err != nil {
		cl.Close()
		return fmt.Errorf("broker: writing the addresses: %w", err)
	}
	if f, ok := e.stdout.(*os.File); ok {
		_ = f.Sync() // a pipe: nothing to sync; a file: the address is on disk
	}
	log.Info("broker running", "addrs", strings.Join(addrs, ","), "data_dir", c.DataDir, "sync_writes", c.SyncWrites,
		"sasl", c.SASLMechanism, "tls", c.TLSCert != "")
	<-ctx.Done()
	closed := make(chan struct{})
	go func() { cl.Close(); close(closed) }()
	select {
	case <-closed:
		log.Info("broker stopped")
		return nil
	case <-time.After(c.ShutdownTimeout):
		return fmt.Errorf("broker: not closed within %s", c.ShutdownTimeout)
	}
}

// options turns the flags into kfake options.
func (c *brokerCmd) options(log *slog.Logger) ([]kfake.Opt, error) {
	opts := []kfake.Opt{kfake.NumBrokers(c.Brokers), kfake.GroupMinSessionTimeout(c.MinSessionTimeout),
		kfake.WithLogger(kfakeLogger{log: log, max: kfakeLevels[c.LogLevel]})}
	if c.Port != 0 {
		ports := make([]int, c.Brokers)
		for i := range ports {
			ports[i] = c.Port + i
		}
		opts = append(opts, kfake.Ports(ports...))
	}
	var topics []string
	for _, t := range c.Topics {
		if t = strings.TrimSpace(t); t != "" {
			topics = append(topics, t)
		}
	}
	if len(topics) > 0 {
		opts = append(opts, kfake.SeedTopics(c.Partitions, topics...))
	}
	if c.DataDir != "" {
		opts = append(opts, kfake.DataDir(c.DataDir))
		if c.SyncWrites {
			opts = append(opts, kfake.SyncWrites())
		}
	}
	if len(c.BrokerConfig) > 0 {
		opts = append(opts, kfake.BrokerConfigs(c.BrokerConfig))
	}
	if c.SASLMechanism != "" {
		pw, err := secret(c.SASLPassword, c.SASLPasswordFile)
		if err != nil {
			return nil, err
		}
		if pw == "" {
			return nil, errors.New("broker: the SASL password is empty")
		}
		opts = append(opts, kfake.EnableSASL(), kfake.Superuser(c.SASLMechanism, c.SASLUser, pw))
	}
	if c.TLSCert != "" {
		cert, err := tls.LoadX509KeyPair(c.TLSCert, c.TLSKey)
		if err != nil {
			return nil, fmt.Errorf("broker: loading --tls-cert/--tls-key: %w", err)
		}
		opts = append(opts, kfake.TLS(&tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert}}))
	}
	return opts, nil
}

var kfakeLevels = map[string]kfake.LogLevel{"none": kfake.LogLevelNone, "error": kfake.LogLevelError,
	"warn": kfake.LogLevelWarn, "info": kfake.LogLevelInfo, "debug": kfake.LogLevelDebug}

// kfakeLogger routes kfake's log lines up to max to slog.
type kfakeLogger struct {
	log *slog.Logger
	max kfake.LogLevel
}

// Logf implements kfake.Logger.
func (l kfakeLogger) Logf(level kfake.LogLevel, msg string, args ...any) {
	if level == kfake.LogLevelNone || level > l.max {
		return
	}
	lv := map[kfake.LogLevel]slog.Level{kfake.LogLevelDebug: slog.LevelDebug, kfake.LogLevelInfo: slog.LevelInfo,
		kfake.LogLevelWarn: slog.LevelWarn, kfake.LogLevelError: slog.LevelError}[level]
	l.log.Log(context.Background(), lv, "kfake: "+fmt.Sprintf(msg, args...))
}

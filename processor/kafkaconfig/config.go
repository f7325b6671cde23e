// Package kafkaconfig holds what the processor's two Kafka backends,
// processor/franzgo and processor/kafkago, share: the connection and
// consumer-group settings (Config) with their defaults and validation, the
// TLS and SASL settings, and the few helpers of their clients' strict
// Poll–Produce–Commit cycle (Turn, CommitError). Each backend's Config embeds
// Config and adds only the settings of its own library.
package kafkaconfig

import (
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/leadscore/leadscore/internal/tlsfiles"
)

// Defaults applied by Config.SetDefaults for zero fields.
const (
	DefaultClientID          = "leadscore"
	DefaultStartOffset       = "earliest"
	DefaultSessionTimeout    = 45 * time.Second
	DefaultRebalanceTimeout  = 60 * time.Second
	DefaultHeartbeatInterval = 3 * time.Second
	DefaultMaxPollRecords    = 5000
	DefaultFetchMaxWait      = 500 * time.Millisecond
	DefaultProducerLinger    = time.Duration(0) // Produce sends at once: the processor's batch is the batch.
	DefaultCompression       = "none"
)

// Config is what both backends' configurations hold: where the cluster is,
// which group consumes which topics, and how the member fetches and produces.
// Zero fields take the defaults above.
type Config struct {
	// Brokers are the seed brokers, host:port. Required.
	Brokers []string
	// Group is the consumer group id shared by every processor instance. Required.
	Group string
	// InputTopics are the topics consumed by the group. Required.
	InputTopics []string
	// ClientID is sent to the brokers (logs, quotas). Default "leadscore".
	ClientID string

	// ReadCommitted consumes with read_committed isolation: records of aborted
	// or still open upstream transactions are never returned. The franz-go
	// backend's exactly-once mode always reads committed.
	ReadCommitted bool

	// SoleOwner gives every input partition to one member of the group at a
	// time (processor.SoleOwnerProtocol); the others stand by and one of them
	// takes over when it leaves or is evicted. Every member of the group must
	// set it alike.
	SoleOwner bool

	// StartOffset says where a partition without a committed offset starts:
	// "earliest" (default) or "latest".
	StartOffset string

	// SessionTimeout: a member that does not heartbeat for this long is removed
	// from the group and its partitions are lost (Commit then returns
	// processor.ErrNotOwner). A kafka-go member stops heartbeating while it
	// holds a rebalance for its batch in flight, so there a batch must finish
	// well within this. Default 45 s.
	SessionTimeout time.Duration
	// RebalanceTimeout bounds how long the group waits for members to rejoin;
	// for a franz-go member it is also how long it may hold a rebalance while it
	// finishes the batch in flight. Default 60 s.
	RebalanceTimeout time.Duration
	// HeartbeatInterval is how often the member heartbeats, and so how quickly it
	// notices a rebalance. Default 3 s.
	HeartbeatInterval time.Duration
	// MaxPollRecords caps the records one Poll returns (kafka-go: it is also the
	// size of the prefetch buffer). Default 5000.
	MaxPollRecords int
	// FetchMaxWait is how long a broker may hold a fetch waiting for data.
	// Default 500 ms.
	FetchMaxWait time.Duration
	// ProducerLinger is how long the producer waits to fill a batch. Default 0:
	// Produce sends its records at once (kafka-go: one batch per partition).
	ProducerLinger time.Duration
	// Compression of produced batches: "none" (default), "gzip", "snappy", "lz4"
	// or "zstd".
	Compression string

	// TLS, when non-nil, encrypts connections to the brokers.
	TLS *TLSConfig
	// SASL, when non-nil, authenticates to the brokers.
	SASL *SASLConfig

	// Logger receives the Kafka library's warnings and errors and (info) the
	// member's partition assignments and revocations; with franz-go also its
	// losses and, when the logger is enabled at debug level, franz-go's own
	// debug log. Default: discard.
	Logger *slog.Logger
}

// TLSConfig configures TLS from PEM files (CA bundle, client certificate and key,
// server name); the same settings as the Redis store's.
type TLSConfig = tlsfiles.Files

// SASLConfig configures SASL authentication.
type SASLConfig struct {
	// Mechanism is PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512, in any case.
	Mechanism string
	// User is the SASL user name.
	User string
	// Password is the user's password; errors never show it.
	Password string
}

// SASL mechanism names accepted in SASLConfig.Mechanism.
const (
	MechanismPlain       = "PLAIN"
	MechanismScramSHA256 = "SCRAM-SHA-256"
	MechanismScramSHA512 = "SCRAM-SHA-512"
)

// MechanismName returns s.Mechanism in upper case (one of the Mechanism
// constants), or an error when it is none of them.
func (s SASLConfig) MechanismName() (string, error) {
	switch m := strings.ToUpper(s.Mechanism); m {
	case MechanismPlain, MechanismScramSHA256, MechanismScramSHA512:
		return m, nil
	}
	return "", fmt.Errorf("sasl mechanism %q: want PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512", s.Mechanism)
}

// SetDefaults sets the zero fields of c to their defaults.
func (c *Config) SetDefaults() {
	if c.ClientID == "" {
		c.ClientID = DefaultClientID
	}
	if c.StartOffset == "" {
		c.StartOffset = DefaultStartOffset
	}
	if c.SessionTimeout == 0 {
		c.SessionTimeout = DefaultSessionTimeout
	}
	if c.RebalanceTimeout == 0 {
		c.RebalanceTimeout = DefaultRebalanceTimeout
	}
	if c.HeartbeatInterval == 0 {
		c.HeartbeatInterval = DefaultHeartbeatInterval
	}
	if c.MaxPollRecords == 0 {
		c.MaxPollRecords = DefaultMaxPollRecords
	}
	if c.FetchMaxWait == 0 {
		c.FetchMaxWait = DefaultFetchMaxWait
	}
	if c.Compression == "" {
		c.Compression = DefaultCompression
	}
}

// Validate reports every problem of the Config (after defaults) in one error,
// nil when there is none. The backends add their own settings' problems and
// name themselves.
func (c Config) Validate() error {
	c.SetDefaults()
	var errs []error
	if len(c.Brokers) == 0 {
		errs = append(errs, errors.New("brokers: at least one is required"))
	}
	if c.Group == "" {
		errs = append(errs, errors.New("group: required"))
	}
	if len(c.InputTopics) == 0 {
		errs = append(errs, errors.New("input topics: at least one is required"))
	}
	switch c.StartOffset {
	case "earliest", "latest":
	default:
		errs = append(errs, fmt.Errorf("start offset %q: want earliest or latest", c.StartOffset))
	}
	for name, d := range map[string]time.Duration{
		"session timeout": c.SessionTimeout, "rebalance timeout": c.RebalanceTimeout,
		"heartbeat interval": c.HeartbeatInterval, "fetch max wait": c.FetchMaxWait,
	} {
		if d < 0 {
			errs = append(errs, fmt.Errorf("%s: must be positive, got %v", name, d))
		}
	}
	if c.HeartbeatInterval >= c.SessionTimeout {
		errs = append(errs, fmt.Errorf("heartbeat interval %v: must be below the session timeout %v", c.HeartbeatInterval, c.SessionTimeout))
	}
	if c.MaxPollRecords < 0 {
		errs = append(errs, fmt.Errorf("max poll records: must be positive, got %d", c.MaxPollRecords))
	}
	switch strings.ToLower(c.Compression) {
	case "none", "gzip", "snappy", "lz4", "zstd":
	default:
		errs = append(errs, fmt.Errorf("compression %q: want none, gzip, snappy, lz4 or zstd", c.Compression))
	}
	if c.TLS != nil && (c.TLS.CertFile == "") != (c.TLS.KeyFile == "") {
		errs = append(errs, errors.New("tls: cert file and key file go together"))
	}
	if c.SASL != nil {
		if _, err := c.SASL.MechanismName(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

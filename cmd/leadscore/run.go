package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/leadscore/leadscore/api"
	"github.com/leadscore/leadscore/console"
	"github.com/leadscore/leadscore/events"
	"github.com/leadscore/leadscore/internal/tlsfiles"
	"github.com/leadscore/leadscore/internal/wiring"
	"github.com/leadscore/leadscore/processor"
	"github.com/leadscore/leadscore/processor/franzgo"
	"github.com/leadscore/leadscore/processor/kafkaconfig"
	"github.com/leadscore/leadscore/rules"
	"github.com/leadscore/leadscore/scoring"
	"github.com/leadscore/leadscore/state"
	"github.com/leadscore/leadscore/telemetry"
)

// kafkaFlags configure the Kafka connection and topics.
type kafkaFlags struct {
	Brokers          []string `default:"127.0.0.1:9092" env:"LEADSCORE_BROKERS" help:"Kafka seed brokers, host:port, comma-separated."`
	KafkaClient      string   `default:"franz-go" enum:"franz-go,kafka-go" env:"LEADSCORE_KAFKA_CLIENT" help:"Kafka client: franz-go (primary; exactly-once capable) or kafka-go (at-least-once)."`
	Group            string   `default:"leadscore" env:"LEADSCORE_GROUP" help:"Consumer group id shared by all processor instances."`
	Ownership        string   `default:"sole" enum:"sole,spread" env:"LEADSCORE_OWNERSHIP" help:"How the group's members share the input: sole (one member owns every partition and applies each lead's events in event-time order across topics; the others stand by and take over when it leaves or dies) or spread (the partitions are spread over the members: more throughput, but a lead whose events reach two members is applied in arrival order between them; docs/processing.md, \"One owner\"). Every member of a group must use the same."`
	ExactlyOnce      bool     `env:"LEADSCORE_EXACTLY_ONCE" help:"Kafka transactions: stage changes and input offsets commit atomically (franz-go only)."`
	TransactionalID  string   `env:"LEADSCORE_TRANSACTIONAL_ID" help:"Transactional id of this instance (exactly-once); unique per running instance, stable across its restarts. Default: leadscore-<hostname>."`
	TopicWeb         string   `default:"${topic_web}" env:"LEADSCORE_TOPIC_WEB" help:"Input: Segment-spec web events."`
	TopicEmail       string   `default:"${topic_email}" env:"LEADSCORE_TOPIC_EMAIL" help:"Input: SendGrid Event Webhook events."`
	TopicFeedback    string   `default:"${topic_feedback}" env:"LEADSCORE_TOPIC_FEEDBACK" help:"Input: sales feedback."`
	TopicStages      string   `default:"${topic_stage_changes}" env:"LEADSCORE_TOPIC_STAGE_CHANGES" help:"Output: stage changes."`
	TopicDLQ         string   `default:"${topic_dead_letter}" env:"LEADSCORE_TOPIC_DEAD_LETTER" help:"Output: dead letters."`
	TopicAccounts    string   `default:"${topic_account_stage_changes}" env:"LEADSCORE_TOPIC_ACCOUNT_STAGE_CHANGES" help:"Output: account stage changes, when a model scores accounts (docs/models.md)."`
	CreateTopics     bool     `env:"LEADSCORE_CREATE_TOPICS" help:"Create missing topics at start (otherwise a missing topic is an error)."`
	Partitions       int32    `default:"12" env:"LEADSCORE_PARTITIONS" help:"Partitions of topics created with --create-topics."`
	Replication      int16    `default:"-1" env:"LEADSCORE_REPLICATION" help:"Replication factor of created topics (-1: broker default)."`
	KafkaTLS         bool     `env:"LEADSCORE_KAFKA_TLS" help:"Connect to Kafka with TLS."`
	KafkaTLSCA       string   `name:"kafka-tls-ca" env:"LEADSCORE_KAFKA_TLS_CA" type:"existingfile" help:"CA bundle (PEM) that signed the brokers' certificates."`
	KafkaTLSCert     string   `env:"LEADSCORE_KAFKA_TLS_CERT" type:"existingfile" help:"Client certificate (PEM) for mutual TLS."`
	KafkaTLSKey      string   `env:"LEADSCORE_KAFKA_TLS_KEY" type:"existingfile" help:"Client key (PEM) for mutual TLS."`
	SASLMechanism    string   `env:"LEADSCORE_KAFKA_SASL_MECHANISM" enum:",PLAIN,SCRAM-SHA-256,SCRAM-SHA-512" default:"" help:"SASL mechanism: PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512."`
	SASLUser         string   `env:"LEADSCORE_KAFKA_SASL_USER" help:"SASL user."`
	SASLPassword     string   `env:"LEADSCORE_KAFKA_SASL_PASSWORD" help:"SASL password (prefer the environment or --sasl-password-file; never logged)."`
	SASLPasswordFile string   `env:"LEADSCORE_KAFKA_SASL_PASSWORD_FILE" type:"existingfile" help:"File holding the SASL password."`
	// Group timing (0 also takes the client's default).
	SessionTimeout    time.Duration `default:"${session_timeout}" env:"LEADSCORE_KAFKA_SESSION_TIMEOUT" help:"Consumer-group session timeout: a member silent this long (crashed, paused) loses its partitions."`
	RebalanceTimeout  time.Duration `default:"${rebalance_timeout}" env:"LEADSCORE_KAFKA_REBALANCE_TIMEOUT" help:"How long the group waits for members to rejoin during a rebalance."`
	HeartbeatInterval time.Duration `default:"${heartbeat_interval}" env:"LEADSCORE_KAFKA_HEARTBEAT_INTERVAL" help:"How often the member heartbeats, i.e. how quickly it notices a rebalance."`
}

// redisFlags configure the state store.
type redisFlags struct {
	RedisAddrs        []string `default:"127.0.0.1:6379" env:"LEADSCORE_REDIS_ADDRS" help:"Redis address(es): one server, Sentinels (with --redis-master), or Cluster seed nodes (with --redis-cluster)."`
	RedisMaster       string   `env:"LEADSCORE_REDIS_MASTER" help:"Sentinel master name (selects Sentinel)."`
	RedisCluster      bool     `env:"LEADSCORE_REDIS_CLUSTER_MODE" help:"Redis Cluster."`
	RedisUser         string   `env:"LEADSCORE_REDIS_USER" help:"Redis ACL user."`
	RedisPassword     string   `env:"LEADSCORE_REDIS_PASSWORD" help:"Redis password (prefer the environment or --redis-password-file; never logged)."`
	RedisPasswordFile string   `env:"LEADSCORE_REDIS_PASSWORD_FILE" type:"existingfile" help:"File holding the Redis password."`
	RedisDB           int      `env:"LEADSCORE_REDIS_DB" help:"Redis logical database (not with Cluster)."`
	RedisTLS          bool     `env:"LEADSCORE_REDIS_TLS" help:"Connect to Redis with TLS."`
	RedisTLSCA        string   `name:"redis-tls-ca" env:"LEADSCORE_REDIS_TLS_CA" type:"existingfile" help:"CA bundle (PEM) for Redis TLS."`
	RedisTLSCert      string   `env:"LEADSCORE_REDIS_TLS_CERT" type:"existingfile" help:"Client certificate (PEM) for Redis TLS."`
	RedisTLSKey       string   `env:"LEADSCORE_REDIS_TLS_KEY" type:"existingfile" help:"Client key (PEM) for Redis TLS."`
	RedisPoolSize     int      `env:"LEADSCORE_REDIS_POOL_SIZE" help:"Connections per Redis node (0: go-redis default)."`
	RedisPrefix       string   `default:"${redis_prefix}" env:"LEADSCORE_REDIS_PREFIX" help:"Prefix of every Redis key."`
}

// httpFlags configure the HTTP API (run and demo).
type httpFlags struct {
	HTTPAddr      string `name:"http-addr" default:"127.0.0.1:8080" env:"LEADSCORE_HTTP_ADDR" help:"Address of the HTTP API (/v1/leads, /healthz, /readyz, /metrics); empty: no HTTP server."`
	HTTPToken     string `name:"http-token" env:"LEADSCORE_HTTP_TOKEN" help:"Bearer token required on /v1 (prefer the environment or --http-token-file; never logged). Empty: no authentication."`
	HTTPTokenFile string `name:"http-token-file" env:"LEADSCORE_HTTP_TOKEN_FILE" type:"existingfile" help:"File holding the bearer token."`
	Console       bool   `default:"true" negatable:"" env:"LEADSCORE_CONSOLE" help:"Serve the web console under /console/ on the HTTP address (it reads the stage-change and dead-letter topics; the API token protects it)."`
}

// runCmd is `leadscore run`: the stream processor.
type runCmd struct {
	Rules           []string      `required:"" type:"path" sep:"none" env:"LEADSCORE_RULES" help:"Rules file (YAML), or a directory of them; repeat it to run several models side by side (docs/models.md). SIGHUP reloads them."`
	Kafka           kafkaFlags    `embed:""`
	Redis           redisFlags    `embed:""`
	HTTP            httpFlags     `embed:""`
	Lanes           int           `default:"${lanes}" env:"LEADSCORE_LANES" help:"Lanes of this process. With --ownership sole: goroutines that apply each batch's events and write its leads side by side, each a share of the leads (the event-time merge still sees every partition). With spread: processors, each its own consumer-group member with its own Kafka client. Default: one per core, at most 8 (docs/processing.md, \"Lanes\")."`
	TimerTick       time.Duration `default:"${timer_tick}" env:"LEADSCORE_TIMER_TICK" help:"How often due decay timers are swept."`
	ReorderWait     time.Duration `default:"0s" env:"LEADSCORE_REORDER_WAIT" help:"Hold each event until the wall clock is this far past its event time, so that one lead's events arriving on different topics a little apart (e-mail webhooks lagging web events) are applied in event-time order. 0: only what Kafka already holds is merged by event time, and latency does not grow."`
	MergeWait       time.Duration `default:"${merge_wait}" env:"LEADSCORE_MERGE_WAIT" help:"Longest the event-time merge waits for a partition the broker holds records of but that delivers none, before applying the others past it."`
	IdleTimeout     time.Duration `default:"${idle_timeout}" env:"LEADSCORE_IDLE_TIMEOUT" help:"Timers fire on the event time of the applied events (a backfill fires the oracle's decay and inactivity changes as history progresses); once the input has been quiet this long, the wall clock takes over. Raise it for history loads with longer pauses (docs/processing.md, \"Order and time\")."`
	WorkingSet      int           `default:"${working_set}" env:"LEADSCORE_WORKING_SET" help:"Leads kept in memory between batches (their records and identity-index answers, least recently used out first; about 1 KB each), so that a batch reads Redis only for leads it does not hold. With --ownership sole only (the one writer of every lead); ignored with spread. 0 keeps none (docs/processing.md, \"The working set\")."`
	MaxEventBytes   int           `default:"${max_event_bytes}" env:"LEADSCORE_MAX_EVENT_BYTES" help:"Largest event payload accepted, in bytes; larger events go to the dead-letter topic as too_large."`
	MaxEventDepth   int           `default:"${max_event_depth}" env:"LEADSCORE_MAX_EVENT_DEPTH" help:"Deepest nesting of JSON arrays and objects accepted; deeper events go to the dead-letter topic as too_deep."`
	ShutdownTimeout time.Duration `default:"${shutdown_timeout}" env:"LEADSCORE_SHUTDOWN_TIMEOUT" help:"Bound on finishing the batch in flight, committing and leaving the group on SIGTERM."`
	LogFormat       string        `default:"json" enum:"json,text" env:"LEADSCORE_LOG_FORMAT" help:"Log format: json or text."`
	LogLevel        string        `default:"info" enum:"debug,info,warn,error" env:"LEADSCORE_LOG_LEVEL" help:"Log level."`
}

// Validate is called by kong before Run: configuration errors are reported before
// anything is contacted.
func (c *runCmd) Validate() error {
	k := c.Kafka
	if k.ExactlyOnce && k.KafkaClient == "kafka-go" {
		return errors.New("--exactly-once needs --kafka-client=franz-go: the kafka-go backend is at-least-once only")
	}
	if k.SASLMechanism != "" && k.SASLUser == "" {
		return errors.New("--sasl-mechanism needs --sasl-user")
	}
	if (k.KafkaTLSCert == "") != (k.KafkaTLSKey == "") || (c.Redis.RedisTLSCert == "") != (c.Redis.RedisTLSKey == "") {
		return errors.New("a TLS client certificate needs its key, and the reverse")
	}
	if c.Lanes < 1 || c.Lanes > maxLanes {
		return fmt.Errorf("--lanes must be between 1 and %d, not %d", maxLanes, c.Lanes)
	}
	if c.Redis.RedisCluster && c.Redis.RedisMaster != "" {
		return errors.New("--redis-cluster and --redis-master exclude each other")
	}
	cfg := processor.Config{Topics: c.topics(), Events: c.events(), ReorderWait: c.ReorderWait, WorkingSet: c.WorkingSet,
		ApplyLanes: c.applyLanes()}
	return cfg.Validate()
}

// applyLanes is how many apply lanes each processor has: --lanes with sole
// ownership; with spread, --lanes is the number of members (Kafka clients,
// processors), each with one apply lane (wiring.Config.Lanes).
func (c *runCmd) applyLanes() int {
	if c.Kafka.Ownership == "spread" {
		return 1
	}
	return c.Lanes
}

func (c *runCmd) events() events.Options {
	return events.Options{MaxBytes: c.MaxEventBytes, MaxDepth: c.MaxEventDepth}
}

func (c *runCmd) topics() processor.Topics {
	k := c.Kafka
	return processor.Topics{Web: k.TopicWeb, Email: k.TopicEmail, Feedback: k.TopicFeedback, StageChanges: k.TopicStages, DeadLetter: k.TopicDLQ,
		AccountStageChanges: k.TopicAccounts}
}

// Run starts the processor and runs it until SIGINT/SIGTERM (graceful: the batch in
// flight is finished and committed), reloading the rules on SIGHUP. A second
// SIGINT/SIGTERM exits at once.
func (c *runCmd) Run(e *env) error {
	log := wiring.NewLogger(e.stderr, c.LogFormat, c.LogLevel)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		stop() // a second signal now kills the process
	}()
	models, err := rules.LoadSet(c.Rules...)
	if err != nil {
		return err
	}
	if models.HasAccounts() && c.Kafka.Ownership == "spread" {
		log.Warn("accounts under --ownership spread: each member applies its people's account updates in its own order, " +
			"so account stage changes may differ from the oracle's (docs/models.md, \"Guarantees\"); run one owner for exact accounts")
	}
	token, err := secret(c.HTTP.HTTPToken, c.HTTP.HTTPTokenFile)
	if err != nil {
		return err
	}
	// The HTTP address is bound before Redis and Kafka are contacted: a busy
	// port must stop this instance before it joins the consumer group, where
	// its arrival and its departure would each cost the running members a
	// rebalance (and a member that never leaves, the rebalance timeout).
	var ln net.Listener
	if c.HTTP.HTTPAddr != "" {
		ln, err = net.Listen("tcp", c.HTTP.HTTPAddr)
		if err != nil {
			return fmt.Errorf("http api: %w", err)
		}
		defer func() {
			if ln != nil { // not handed to the server: a failed start
				ln.Close()
			}
		}()
	}
	tel, err := wiring.StartTelemetry(ctx, log, e.stdout, version)
	if err != nil {
		return err
	}
	defer wiring.StopTelemetry(tel, log)
	cfg, err := c.system(models, tel, log)
	if err != nil {
		return err
	}
	sys, err := wiring.Build(ctx, cfg)
	if err != nil {
		return err
	}
	defer func() { _ = sys.Close(ctx) }() // after a run, the processors have closed the clients
	p := sys.Lanes
	if ln != nil {
		log.Info("http api listening", "addr", ln.Addr().String(), "auth", token != "")
		// The API outlives the processor's graceful shutdown (readiness turns
		// false meanwhile), and stops once Run has returned.
		httpCtx, stopHTTP := context.WithCancel(context.WithoutCancel(ctx))
		var cs *wiring.Console
		if c.HTTP.Console {
			conn, err := kafkaConn(c.Kafka)
			if err != nil {
				stopHTTP()
				return err
			}
			cs = &wiring.Console{Conn: conn, Topics: c.topics(), Summary: rulesSummary(c.Rules, p.Models),
				Metrics: tel.MetricsHandler(), Token: token}
			log.Info("web console", "url", "http://"+ln.Addr().String()+console.Prefix)
		}
		wait, err := wiring.ServeAPI(httpCtx, ln, api.Config{Store: sys.Store, Models: p.Models, Ready: p.Ready, Token: token,
			Metrics: tel.MetricsHandler(), Logger: log}, log, cs)
		ln = nil // ServeAPI owns it now, and closes it
		if err != nil {
			stopHTTP()
			return err
		}
		defer func() {
			stopHTTP()
			if err := wait(); err != nil {
				log.Error("http server", "err", err)
			}
		}()
	}
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	go func() {
		for range hup {
			nm, err := rules.LoadSet(c.Rules...)
			if err != nil {
				log.Error("rules reload refused; keeping the current rules", "files", strings.Join(c.Rules, ","), "err", err)
				continue
			}
			if err := p.SetModels(nm); err != nil {
				log.Error("rules reload refused; keeping the current rules", "files", strings.Join(c.Rules, ","), "err", err)
				continue
			}
			log.Info("rules reloaded", "files", strings.Join(c.Rules, ","), "models", modelVersions(nm))
		}
	}()
	log.Info("leadscore running", "brokers", strings.Join(c.Kafka.Brokers, ","), "kafka_client", c.Kafka.KafkaClient,
		"group", c.Kafka.Group, "lanes", c.Lanes, "members", len(p), "exactly_once", c.Kafka.ExactlyOnce, "models", modelVersions(models),
		"http_addr", c.HTTP.HTTPAddr, "traces", cmp.Or(tel.TracesExporter(), "not exported"))
	return p.Run(ctx)
}

// maxLanes bounds --lanes: each lane is a Kafka client with its own
// connections and a consumer-group member.
const maxLanes = 64

// system is the running system the flags describe: the store, the Kafka
// clients (franz-go's hooks from tel), the processors reporting to tel's
// metrics. Preparing it logs the store's advice and checks (or creates) the
// topics before any client joins the group.
func (c *runCmd) system(models *scoring.Set, tel *telemetry.Telemetry, log *slog.Logger) (wiring.Config, error) {
	opts, err := storeOptions(c.Redis)
	if err != nil {
		return wiring.Config{}, err
	}
	fc, err := clientConfig(c.Kafka, c.topics(), log, tel.KafkaHooks("leadscore", c.Kafka.Group)...)
	if err != nil {
		return wiring.Config{}, err
	}
	explain := func(err error) error {
		if fc.TLS != nil {
			err = explainTLSTimeout(err, c.Kafka.Brokers)
		}
		return franzgo.ExplainConnError(err, fc.SASL, fc.TLS != nil)
	}
	return wiring.Config{
		Store:        opts,
		ExplainStore: func(err error) error { return explainRedis(err, c.Redis) },
		Prepare: func(ctx context.Context, store *state.Store) (wiring.Inputs, error) {
			for _, a := range store.Advice(ctx) {
				log.Warn("redis setting to change (docs/state.md, \"Recommended redis.conf\")", "advice", a)
			}
			return checkKafka(ctx, c.Kafka, fc, c.topics(), models.HasAccounts(), explain)
		},
		Client: c.Kafka.KafkaClient, Kafka: fc, ExplainKafka: explain,
		Spread: c.Kafka.Ownership == "spread", Lanes: c.Lanes,
		Processor: processor.Config{Topics: c.topics(), Events: c.events(), TimerTick: c.TimerTick, IdleTimeout: c.IdleTimeout,
			ReorderWait: c.ReorderWait, MergeWait: c.MergeWait, WorkingSet: c.WorkingSet, ShutdownTimeout: c.ShutdownTimeout, Version: version,
			CommitAck: true}, // off with spread ownership (wiring.Build)
		Models: models, Observer: tel.Metrics(), Telemetry: tel, Logger: log,
	}, nil
}

// modelVersions names the models of a set with their versions, for logs:
// "b2b-saas@b2b-saas-2026.11,shop@b2c-shop-2026.11" (one unnamed: its version).
func modelVersions(set *scoring.Set) string {
	var parts []string
	for _, e := range set.Engines() {
		m := e.Model()
		if m.Name == "" {
			parts = append(parts, m.Version)
			continue
		}
		parts = append(parts, m.Name+"@"+m.Version)
	}
	return strings.Join(parts, ",")
}

// secret returns value, or the trimmed content of file when value is empty.
func secret(value, file string) (string, error) {
	if value != "" || file == "" {
		return value, nil
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return "", fmt.Errorf("reading secret file: %w", err)
	}
	return strings.TrimSpace(string(b)), nil
}

// storeOptions are the state store's options the flags give.
func storeOptions(f redisFlags) (state.Options, error) {
	pw, err := secret(f.RedisPassword, f.RedisPasswordFile)
	if err != nil {
		return state.Options{}, err
	}
	opts := state.Options{Addrs: f.RedisAddrs, MasterName: f.RedisMaster, Cluster: f.RedisCluster, Username: f.RedisUser,
		Password: pw, DB: f.RedisDB, PoolSize: f.RedisPoolSize, KeyPrefix: f.RedisPrefix}
	if f.RedisTLS || f.RedisTLSCA != "" || f.RedisTLSCert != "" {
		opts.TLS = &state.TLSOptions{CAFile: f.RedisTLSCA, CertFile: f.RedisTLSCert, KeyFile: f.RedisTLSKey}
	}
	return opts, nil
}

// explainRedis says what a failed connection to Redis means when the cause
// is a refused AUTH or a failed TLS handshake (naming the user, never the
// password); other errors are returned as they are, already prefixed by the
// store.
func explainRedis(err error, f redisFlags) error {
	user := cmp.Or(f.RedisUser, "default")
	tlsOn := f.RedisTLS || f.RedisTLSCA != "" || f.RedisTLSCert != ""
	addrs := strings.Join(f.RedisAddrs, ",")
	switch {
	case redis.IsAuthError(err):
		return fmt.Errorf("redis %s: authentication as user %q failed (wrong user or password, or the ACL user is disabled): %w", addrs, user, err)
	case tlsOn && (tlsfiles.IsHandshakeError(err) || errors.Is(err, io.EOF)):
		// A server without TLS closes the connection on the ClientHello: the
		// handshake ends in EOF.
		return fmt.Errorf("redis %s: TLS handshake failed (does the server speak TLS on that port, and does --redis-tls-ca sign its certificate?): %w", addrs, err)
	}
	return err
}

// clientConfig is the Kafka clients' configuration the flags give (the
// exactly-once transactional id defaults to leadscore-<hostname>), logging to
// log. hooks
// (telemetry.KafkaHooks) are installed on the franz-go client; the kafka-go
// backend has none (the processor's own spans and header carrier trace it).
func clientConfig(f kafkaFlags, t processor.Topics, log *slog.Logger, hooks ...kgo.Hook) (franzgo.Config, error) {
	pw, err := secret(f.SASLPassword, f.SASLPasswordFile)
	if err != nil {
		return franzgo.Config{}, err
	}
	fc := franzgo.Config{Config: kafkaconfig.Config{Brokers: f.Brokers, Group: f.Group, InputTopics: t.Inputs(),
		Logger: log, SoleOwner: f.Ownership != "spread",
		SessionTimeout: f.SessionTimeout, RebalanceTimeout: f.RebalanceTimeout, HeartbeatInterval: f.HeartbeatInterval},
		ExactlyOnce: f.ExactlyOnce, TransactionalID: f.TransactionalID}
	if len(hooks) > 0 {
		fc.Opts = append(fc.Opts, kgo.WithHooks(hooks...))
	}
	if f.KafkaTLS || f.KafkaTLSCA != "" || f.KafkaTLSCert != "" {
		fc.TLS = &kafkaconfig.TLSConfig{CAFile: f.KafkaTLSCA, CertFile: f.KafkaTLSCert, KeyFile: f.KafkaTLSKey}
	}
	if f.SASLMechanism != "" {
		fc.SASL = &kafkaconfig.SASLConfig{Mechanism: f.SASLMechanism, User: f.SASLUser, Password: pw}
	}
	if f.ExactlyOnce && fc.TransactionalID == "" {
		host, _ := os.Hostname()
		fc.TransactionalID = "leadscore-" + host
	}
	return fc, nil
}

// checkKafka checks (or creates) the topics and learns what the processor
// needs to know of the inputs: the partition count of the first (timer
// shards follow its partitions) and their topic ids. explain says what a
// failed connection means.
func checkKafka(ctx context.Context, f kafkaFlags, fc franzgo.Config, t processor.Topics, accounts bool, explain func(error) error) (wiring.Inputs, error) {
	var in wiring.Inputs
	conn, err := fc.ConnOpts()
	if err != nil {
		return in, err
	}
	all := append(t.Inputs(), t.Outputs(accounts)...)
	actx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if f.CreateTopics {
		var specs []franzgo.TopicSpec
		for _, name := range all {
			specs = append(specs, franzgo.TopicSpec{Name: name, Partitions: f.Partitions, Replication: f.Replication})
		}
		if err := franzgo.EnsureTopics(actx, f.Brokers, specs, conn...); err != nil {
			return in, explain(err)
		}
	} else if err := franzgo.CheckTopics(actx, f.Brokers, all, conn...); err != nil {
		if errors.Is(err, franzgo.ErrMissingTopics) {
			return in, fmt.Errorf("%w (create them, or start with --create-topics)", err)
		}
		return in, explain(err)
	}
	if in.Partitions, err = partitionCount(actx, f.Brokers, t.Inputs()[0], conn); err != nil {
		return in, explain(err)
	}
	if in.TopicIDs, err = franzgo.TopicIDs(actx, f.Brokers, t.Inputs(), conn...); err != nil {
		return in, explain(err)
	}
	return in, nil
}

// explainTLSTimeout recognises a TLS client facing a listener without TLS: the
// listener waits for the rest of what it takes for a request, the handshake
// for its answer, and the dial times out like an unreachable broker's. When a
// dial timed out but a plain TCP connection to a seed broker opens at once,
// the handshake is what hung, and the error says so (as a *franzgo.TLSError).
func explainTLSTimeout(err error, brokers []string) error {
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() || !strings.Contains(err.Error(), "dial") {
		return err
	}
	for _, b := range brokers {
		if conn, derr := net.DialTimeout("tcp", b, 2*time.Second); derr == nil {
			conn.Close()
			return &franzgo.TLSError{Err: fmt.Errorf("%s accepts TCP connections but the TLS handshake timed out: %w", b, err)}
		}
	}
	return err
}

func partitionCount(ctx context.Context, brokers []string, topic string, conn []kgo.Opt) (int, error) {
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(brokers...)}, conn...)...)
	if err != nil {
		return 0, err
	}
	defer cl.Close()
	td, err := kadm.NewClient(cl).ListTopics(ctx, topic)
	if err != nil {
		return 0, fmt.Errorf("kafka: describing %s: %w", topic, err)
	}
	d, ok := td[topic]
	if !ok || d.Err != nil {
		return 0, fmt.Errorf("kafka: describing %s: %v", topic, d.Err)
	}
	return len(d.Partitions), nil
}

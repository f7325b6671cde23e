package main

import (
	"maps"
	"net"
	"net/url"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/alecthomas/kong"
	"gopkg.in/yaml.v3"

	"github.com/leadscore/leadscore/processor"
)

// There is no Docker engine here: these tests read docker-compose.yml, the
// Dockerfile and the configs in deploy/ and check that they agree with each
// other and with the code — service names, ports, environment variables (each
// must be a real flag's variable, and parse), topics, and the collector and
// Prometheus wiring.

type composeFile struct {
	Services map[string]composeService `yaml:"services"`
	Volumes  map[string]any            `yaml:"volumes"`
}

type composeService struct {
	Image       string            `yaml:"image"`
	Build       *composeBuild     `yaml:"build"`
	Command     []string          `yaml:"command"`
	Entrypoint  []string          `yaml:"entrypoint"`
	Environment map[string]string `yaml:"environment"`
	EnvFile     []string          `yaml:"env_file"`
	Ports       []string          `yaml:"ports"`
	Volumes     []string          `yaml:"volumes"`
	DependsOn   dependsOn         `yaml:"depends_on"`
	Healthcheck map[string]any    `yaml:"healthcheck"`
}

type composeBuild struct {
	Context    string `yaml:"context"`
	Dockerfile string `yaml:"dockerfile"`
}

type composeDepends struct {
	Condition string `yaml:"condition"`
}

// dependsOn is depends_on, given as a list or as a map with conditions.
type dependsOn map[string]composeDepends

// UnmarshalYAML implements yaml.Unmarshaler.
func (d *dependsOn) UnmarshalYAML(n *yaml.Node) error {
	*d = dependsOn{}
	if n.Kind == yaml.SequenceNode {
		var names []string
		if err := n.Decode(&names); err != nil {
			return err
		}
		for _, name := range names {
			(*d)[name] = composeDepends{Condition: "service_started"}
		}
		return nil
	}
	m := map[string]composeDepends{}
	if err := n.Decode(&m); err != nil {
		return err
	}
	*d = m
	return nil
}

func readYAML(t *testing.T, file string, v any) {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
}

func loadCompose(t *testing.T) composeFile {
	t.Helper()
	var c composeFile
	readYAML(t, "../../docker-compose.yml", &c)
	return c
}

// hostPort splits "host:port" and fails the test on anything else.
func hostPort(t *testing.T, what, s string) (string, int) {
	t.Helper()
	h, p, err := net.SplitHostPort(s)
	if err != nil {
		t.Fatalf("%s %q: %v", what, s, err)
	}
	n, err := strconv.Atoi(p)
	if err != nil {
		t.Fatalf("%s %q: port: %v", what, s, err)
	}
	return h, n
}

// publishes reports whether svc publishes container port on the same host port.
func publishes(svc composeService, port int) bool {
	p := strconv.Itoa(port)
	return slices.Contains(svc.Ports, p+":"+p)
}

// flagDefault returns the default tag of the field of v whose env tag is env.
func flagDefault(t *testing.T, v any, env string) string {
	t.Helper()
	var find func(reflect.Type) (string, bool)
	find = func(rt reflect.Type) (string, bool) {
		for i := 0; i < rt.NumField(); i++ {
			f := rt.Field(i)
			if f.Tag.Get("env") == env {
				return f.Tag.Get("default"), true
			}
			if f.Type.Kind() == reflect.Struct {
				if d, ok := find(f.Type); ok {
					return d, true
				}
			}
		}
		return "", false
	}
	d, ok := find(reflect.TypeOf(v))
	if !ok {
		t.Fatalf("no flag of %T reads %s", v, env)
	}
	return d
}

// parseWithEnv parses args with kong after setting env, as the container
// would, so that every variable must name a real flag and hold a valid value.
func parseWithEnv(t *testing.T, env map[string]string, args ...string) *cli {
	t.Helper()
	for k, v := range env {
		t.Setenv(k, v)
	}
	var c cli
	p, err := kong.New(&c, kongVars("test"), kong.Exit(func(int) { t.Fatal("kong exited") }))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Parse(args); err != nil {
		t.Fatalf("leadscore %s with %v: %v", strings.Join(args, " "), env, err)
	}
	return &c
}

// envNames lists every LEADSCORE_* variable that a command's flags read.
func envNames(v any) map[string]bool {
	out := map[string]bool{}
	var walk func(reflect.Type)
	walk = func(rt reflect.Type) {
		for i := 0; i < rt.NumField(); i++ {
			f := rt.Field(i)
			if e := f.Tag.Get("env"); e != "" {
				out[e] = true
			}
			if f.Type.Kind() == reflect.Struct {
				walk(f.Type)
			}
		}
	}
	walk(reflect.TypeOf(v))
	return out
}

func TestComposeServices(t *testing.T) {
	c := loadCompose(t)
	for _, name := range []string{"kafka", "kafka-init", "redis", "otel-collector", "jaeger", "prometheus", "leadscore", "generator"} {
		if _, ok := c.Services[name]; !ok {
			t.Errorf("docker-compose.yml has no %q service", name)
		}
	}
	for name, s := range c.Services {
		if s.Image == "" || strings.HasSuffix(s.Image, ":latest") || !strings.Contains(s.Image, ":") {
			t.Errorf("service %s: image %q is not pinned", name, s.Image)
		}
		for dep, d := range s.DependsOn {
			dsvc, ok := c.Services[dep]
			if !ok {
				t.Errorf("service %s depends on unknown %s", name, dep)
			}
			if d.Condition == "service_healthy" && dsvc.Healthcheck == nil {
				t.Errorf("service %s waits for %s to be healthy, which has no healthcheck", name, dep)
			}
		}
		for _, v := range s.Volumes {
			src := strings.Split(v, ":")[0]
			if strings.HasPrefix(src, "./") {
				if _, err := os.Stat("../../" + src); err != nil {
					t.Errorf("service %s mounts %s: %v", name, src, err)
				}
			} else if _, ok := c.Volumes[src]; !ok {
				t.Errorf("service %s mounts volume %s, which is not declared", name, src)
			}
		}
	}
}

func TestComposeKafka(t *testing.T) {
	c := loadCompose(t)
	k := c.Services["kafka"]
	env := k.Environment
	if !strings.HasPrefix(k.Image, "apache/kafka:") {
		t.Errorf("kafka image %s: want Apache Kafka", k.Image)
	}
	roles := strings.Split(env["KAFKA_PROCESS_ROLES"], ",")
	if !slices.Contains(roles, "broker") || !slices.Contains(roles, "controller") {
		t.Errorf("KAFKA_PROCESS_ROLES %q: want a single KRaft node, broker and controller", env["KAFKA_PROCESS_ROLES"])
	}
	if voters := strings.Split(env["KAFKA_CONTROLLER_QUORUM_VOTERS"], ","); len(voters) != 1 || !strings.HasPrefix(voters[0], env["KAFKA_NODE_ID"]+"@") {
		t.Errorf("KAFKA_CONTROLLER_QUORUM_VOTERS %q: want this node alone", env["KAFKA_CONTROLLER_QUORUM_VOTERS"])
	}
	if _, ok := c.Services["zookeeper"]; ok {
		t.Error("a zookeeper service: KRaft needs none")
	}
	advertised := map[string]string{}
	for _, l := range strings.Split(env["KAFKA_ADVERTISED_LISTENERS"], ",") {
		name, addr, _ := strings.Cut(l, "://")
		advertised[name] = addr
	}
	// Containers use the internal listener: leadscore's brokers, the generator's,
	// the topic creation's.
	internal := advertised[env["KAFKA_INTER_BROKER_LISTENER_NAME"]]
	if got := c.Services["leadscore"].Environment["LEADSCORE_BROKERS"]; got != internal {
		t.Errorf("leadscore LEADSCORE_BROKERS %q, want the internal listener %q", got, internal)
	}
	gen := c.Services["generator"].Command
	if i := slices.Index(gen, "--brokers"); i < 0 || i+1 >= len(gen) || gen[i+1] != internal {
		t.Errorf("generator command %v: want --brokers %s", gen, internal)
	}
	// Host tools (kcat, `leadscore run` with its defaults) use the published
	// external listener, which must be where --brokers points by default.
	_, defPort := hostPort(t, "--brokers default", flagDefault(t, runCmd{}, "LEADSCORE_BROKERS"))
	host, port := hostPort(t, "EXTERNAL listener", advertised["EXTERNAL"])
	if (host != "localhost" && host != "127.0.0.1") || port != defPort || !publishes(k, port) {
		t.Errorf("EXTERNAL listener %s: want localhost:%d, published", advertised["EXTERNAL"], defPort)
	}

	// Kafka's log directory is on a declared volume, as Redis's AOF is: a
	// `down && up` keeps both the topics and the lead state, or neither.
	dir := env["KAFKA_LOG_DIRS"]
	onVolume := slices.ContainsFunc(k.Volumes, func(v string) bool {
		src, dst, _ := strings.Cut(v, ":")
		dst, _, _ = strings.Cut(dst, ":")
		_, declared := c.Volumes[src]
		return dst == dir && declared
	})
	if dir == "" || strings.Contains(dir, ",") || !onVolume {
		t.Errorf("kafka: KAFKA_LOG_DIRS %q, volumes %v: want one log directory on a named volume", dir, k.Volumes)
	}

	// The one-shot topic creation makes exactly the topics leadscore uses.
	init := c.Services["kafka-init"]
	if init.DependsOn["kafka"].Condition != "service_healthy" {
		t.Errorf("kafka-init depends_on %v: want kafka healthy", init.DependsOn)
	}
	script := strings.Join(init.Command, "\n")
	if !strings.Contains(script, "--bootstrap-server "+internal) || !strings.Contains(script, "--create --if-not-exists") {
		t.Errorf("kafka-init does not create topics on %s:\n%s", internal, script)
	}
	m := regexp.MustCompile(`for t in ([^;]+);`).FindStringSubmatch(script)
	if m == nil {
		t.Fatalf("kafka-init: no topic list in:\n%s", script)
	}
	topics := processor.DefaultTopics()
	want := append(topics.Inputs(), topics.StageChanges, topics.DeadLetter)
	if got := strings.Fields(m[1]); !slices.Equal(got, want) {
		t.Errorf("kafka-init creates %v, want %v (processor.DefaultTopics())", got, want)
	}
}

func TestComposeRedis(t *testing.T) {
	c := loadCompose(t)
	r := c.Services["redis"]
	cmd := strings.Join(r.Command, " ")
	// docs/state.md's recommended settings: the state and its offsets survive a
	// restart, nothing is evicted, buckets stay listpacks.
	for _, want := range []string{"--appendonly yes", "--appendfsync everysec", "--maxmemory-policy noeviction",
		"--hash-max-listpack-value 4096", "--hash-max-listpack-entries 512"} {
		if !strings.Contains(cmd, want) {
			t.Errorf("redis command %q: want %s", cmd, want)
		}
	}
	if !slices.ContainsFunc(r.Volumes, func(v string) bool { return strings.HasSuffix(v, ":/data") }) {
		t.Errorf("redis volumes %v: the AOF in /data must be on a volume", r.Volumes)
	}
	port := 6379
	if m := regexp.MustCompile(`--port (\d+)`).FindStringSubmatch(cmd); m != nil {
		port, _ = strconv.Atoi(m[1])
	}
	if got, want := c.Services["leadscore"].Environment["LEADSCORE_REDIS_ADDRS"], "redis:"+strconv.Itoa(port); got != want {
		t.Errorf("LEADSCORE_REDIS_ADDRS %q, want %q", got, want)
	}
	_, defPort := hostPort(t, "--redis-addrs default", flagDefault(t, runCmd{}, "LEADSCORE_REDIS_ADDRS"))
	if defPort != port || !publishes(r, port) {
		t.Errorf("redis port %d (published: %v) should be --redis-addrs' default port %d", port, r.Ports, defPort)
	}
}

func TestComposeLeadscore(t *testing.T) {
	c := loadCompose(t)
	s := c.Services["leadscore"]
	if s.Build == nil || s.Build.Context != "." || s.Build.Dockerfile != "Dockerfile" {
		t.Errorf("leadscore build %+v: want the repository's Dockerfile", s.Build)
	}
	if s.DependsOn["kafka-init"].Condition != "service_completed_successfully" || s.DependsOn["redis"].Condition != "service_healthy" {
		t.Errorf("leadscore depends_on %v", s.DependsOn)
	}
	// Every LEADSCORE_* variable is one that `leadscore run` reads, and the
	// whole environment parses (the rules file is the repository's copy of what
	// the image holds).
	known := envNames(runCmd{})
	env := map[string]string{}
	for k, v := range s.Environment {
		switch {
		case strings.HasPrefix(k, "LEADSCORE_"):
			if !known[k] {
				t.Errorf("leadscore: %s is not a variable of `leadscore run`", k)
			}
		case strings.HasPrefix(k, "OTEL_"):
		default:
			t.Errorf("leadscore: unexpected variable %s", k)
		}
		env[k] = v
	}
	rulesInImage := env["LEADSCORE_RULES"]
	env["LEADSCORE_RULES"] = "../../examples/rules/b2b-saas.yaml"
	cl := parseWithEnv(t, env, s.Command...)
	r := cl.Run
	if strings.Join(r.Kafka.Brokers, ",") != "kafka:29092" || strings.Join(r.Redis.RedisAddrs, ",") != "redis:6379" {
		t.Errorf("parsed brokers %v, redis %v", r.Kafka.Brokers, r.Redis.RedisAddrs)
	}
	// The API listens on all interfaces, on the published port, which is
	// --http-addr's default port (so Prometheus and the docs agree).
	_, port := hostPort(t, "LEADSCORE_HTTP_ADDR", r.HTTP.HTTPAddr)
	_, defPort := hostPort(t, "--http-addr default", flagDefault(t, runCmd{}, "LEADSCORE_HTTP_ADDR"))
	if port != defPort || !publishes(s, port) {
		t.Errorf("HTTP port %d (published %v), want --http-addr's default %d", port, s.Ports, defPort)
	}
	// Traces go to the collector's OTLP receiver for the protocol used.
	u, err := url.Parse(env["OTEL_EXPORTER_OTLP_ENDPOINT"])
	if err != nil || u.Hostname() != "otel-collector" {
		t.Fatalf("OTEL_EXPORTER_OTLP_ENDPOINT %q: want the otel-collector service", env["OTEL_EXPORTER_OTLP_ENDPOINT"])
	}
	proto := map[string]string{"http/protobuf": "http", "grpc": "grpc", "": "http"}[env["OTEL_EXPORTER_OTLP_PROTOCOL"]]
	_, recvPort := hostPort(t, "collector receiver", collectorConfig(t).Receivers.OTLP.Protocols[proto].Endpoint)
	if u.Port() != strconv.Itoa(recvPort) {
		t.Errorf("OTEL_EXPORTER_OTLP_ENDPOINT port %s, the collector's OTLP %s receiver listens on %d", u.Port(), proto, recvPort)
	}
	checkDockerfile(t, rulesInImage, port)

	// The generator's command is a valid `leadscore demo --generate-only`.
	g := c.Services["generator"]
	if g.Image != s.Image || g.Build == nil {
		t.Errorf("generator image %q, want leadscore's %q built from the Dockerfile", g.Image, s.Image)
	}
	gc := parseWithEnv(t, nil, g.Command...)
	gcfg, err := gc.Demo.config()
	if err == nil {
		err = gcfg.Validate()
	}
	if !gc.Demo.GenerateOnly || err != nil {
		t.Errorf("generator command %v: not a valid --generate-only: %v", g.Command, err)
	}
	for k := range g.Environment {
		if !strings.HasPrefix(k, "OTEL_") && !envNames(demoCmd{})[k] {
			t.Errorf("generator: %s is not a variable of `leadscore demo`", k)
		}
	}
}

// leadscoreEnvFile is the env file of the compose stack's leadscore service;
// the repository holds its template.
const leadscoreEnvFile = "deploy/leadscore.env"

// TestComposeAPIToken: the API, published on every interface, gets its bearer
// token from an env file that git ignores, never from docker-compose.yml; the
// committed template names only real variables and holds no secret.
func TestComposeAPIToken(t *testing.T) {
	c := loadCompose(t)
	s := c.Services["leadscore"]
	if !slices.Equal(s.EnvFile, []string{leadscoreEnvFile}) {
		t.Errorf("leadscore env_file %v, want [%s]", s.EnvFile, leadscoreEnvFile)
	}
	for k := range s.Environment {
		if k == "LEADSCORE_HTTP_TOKEN" || strings.Contains(k, "PASSWORD") || strings.Contains(k, "TOKEN") {
			t.Errorf("leadscore: secret %s is set in docker-compose.yml; it belongs in %s", k, leadscoreEnvFile)
		}
	}
	ignore, err := os.ReadFile("../../.gitignore")
	if err != nil || !slices.Contains(strings.Split(string(ignore), "\n"), "/"+leadscoreEnvFile) {
		t.Errorf(".gitignore does not ignore /%s (err %v)", leadscoreEnvFile, err)
	}
	b, err := os.ReadFile("../../" + leadscoreEnvFile + ".example")
	if err != nil {
		t.Fatal(err)
	}
	known := envNames(runCmd{})
	vars := map[string]string{}
	for i, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok || !known[k] {
			t.Errorf("%s.example:%d: %q is not VAR=value for a variable of `leadscore run`", leadscoreEnvFile, i+1, line)
		}
		if v != "" {
			t.Errorf("%s.example:%d: %s has a value; the template must hold no secret", leadscoreEnvFile, i+1, k)
		}
		vars[k] = v
	}
	if _, ok := vars["LEADSCORE_HTTP_TOKEN"]; !ok {
		t.Errorf("%s.example does not set LEADSCORE_HTTP_TOKEN", leadscoreEnvFile)
	}
	// With the file filled in, the service's environment parses and carries
	// the token.
	env := maps.Clone(s.Environment)
	env["LEADSCORE_RULES"] = "../../examples/rules/b2b-saas.yaml"
	env["LEADSCORE_HTTP_TOKEN"] = "0123456789abcdef"
	if r := parseWithEnv(t, env, s.Command...).Run; r.HTTP.HTTPToken != "0123456789abcdef" {
		t.Errorf("token from the env file: parsed %q", r.HTTP.HTTPToken)
	}
}

type collectorFile struct {
	Receivers struct {
		OTLP struct {
			Protocols map[string]struct {
				Endpoint string `yaml:"endpoint"`
			} `yaml:"protocols"`
		} `yaml:"otlp"`
	} `yaml:"receivers"`
	Exporters map[string]struct {
		Endpoint string `yaml:"endpoint"`
	} `yaml:"exporters"`
	Service struct {
		Pipelines map[string]struct {
			Receivers []string `yaml:"receivers"`
			Exporters []string `yaml:"exporters"`
		} `yaml:"pipelines"`
	} `yaml:"service"`
}

func collectorConfig(t *testing.T) collectorFile {
	t.Helper()
	var f collectorFile
	readYAML(t, "../../deploy/otel-collector.yaml", &f)
	return f
}

func TestComposeCollectorAndJaeger(t *testing.T) {
	c := loadCompose(t)
	col := c.Services["otel-collector"]
	// The collector reads deploy/otel-collector.yaml where its --config says.
	var cfgPath string
	for _, a := range col.Command {
		if p, ok := strings.CutPrefix(a, "--config="); ok {
			cfgPath = p
		}
	}
	if !slices.Contains(col.Volumes, "./deploy/otel-collector.yaml:"+cfgPath+":ro") {
		t.Errorf("otel-collector: --config=%s is not deploy/otel-collector.yaml (volumes %v)", cfgPath, col.Volumes)
	}
	f := collectorConfig(t)
	for proto, port := range map[string]int{"http": 4318, "grpc": 4317} {
		h, p := hostPort(t, "receiver", f.Receivers.OTLP.Protocols[proto].Endpoint)
		if h != "0.0.0.0" || p != port {
			t.Errorf("OTLP %s receiver on %s:%d, want 0.0.0.0:%d (reachable from other containers)", proto, h, p, port)
		}
	}
	traces, ok := f.Service.Pipelines["traces"]
	if !ok || !slices.Contains(traces.Receivers, "otlp") {
		t.Fatalf("no traces pipeline from the otlp receiver: %+v", f.Service.Pipelines)
	}
	// Traces are forwarded to Jaeger's OTLP gRPC port, and Jaeger's UI is published.
	var toJaeger bool
	for _, name := range traces.Exporters {
		if e, ok := f.Exporters[name]; ok && strings.HasPrefix(name, "otlp") && e.Endpoint == "jaeger:4317" {
			toJaeger = true
		}
	}
	if !toJaeger {
		t.Errorf("the traces pipeline exports to %v, none of them otlp to jaeger:4317", traces.Exporters)
	}
	j := c.Services["jaeger"]
	if !strings.HasPrefix(j.Image, "jaegertracing/jaeger:2.") {
		t.Errorf("jaeger image %s: want Jaeger v2 (OTLP receivers on by default)", j.Image)
	}
	if !publishes(j, 16686) {
		t.Errorf("jaeger does not publish its UI port 16686: %v", j.Ports)
	}
}

func TestComposePrometheus(t *testing.T) {
	c := loadCompose(t)
	p := c.Services["prometheus"]
	var cfgPath string
	for _, a := range p.Command {
		if v, ok := strings.CutPrefix(a, "--config.file="); ok {
			cfgPath = v
		}
	}
	if !slices.Contains(p.Volumes, "./deploy/prometheus.yml:"+cfgPath+":ro") || !publishes(p, 9090) {
		t.Errorf("prometheus: config %s not mounted from deploy/prometheus.yml, or 9090 not published: %v %v", cfgPath, p.Volumes, p.Ports)
	}
	var f struct {
		ScrapeConfigs []struct {
			JobName       string `yaml:"job_name"`
			MetricsPath   string `yaml:"metrics_path"`
			StaticConfigs []struct {
				Targets []string `yaml:"targets"`
			} `yaml:"static_configs"`
		} `yaml:"scrape_configs"`
	}
	readYAML(t, "../../deploy/prometheus.yml", &f)
	_, apiPort := hostPort(t, "LEADSCORE_HTTP_ADDR", c.Services["leadscore"].Environment["LEADSCORE_HTTP_ADDR"])
	var found bool
	for _, sc := range f.ScrapeConfigs {
		for _, st := range sc.StaticConfigs {
			for _, target := range st.Targets {
				if target == "leadscore:"+strconv.Itoa(apiPort) {
					found = true
					if sc.MetricsPath != "" && sc.MetricsPath != "/metrics" {
						t.Errorf("job %s scrapes %s, leadscore serves /metrics", sc.JobName, sc.MetricsPath)
					}
				}
			}
		}
	}
	if !found {
		t.Errorf("deploy/prometheus.yml does not scrape leadscore:%d: %+v", apiPort, f.ScrapeConfigs)
	}
}

// checkDockerfile checks the multi-stage build: a Go image at least as new as
// go.mod's go line, a static binary (CGO off) of ./cmd/leadscore, a minimal
// final stage, the rules file where LEADSCORE_RULES points, and the API port.
func checkDockerfile(t *testing.T, rulesPath string, httpPort int) {
	t.Helper()
	b, err := os.ReadFile("../../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	df := string(b)
	froms := regexp.MustCompile(`(?m)^FROM (\S+)(?: AS (\S+))?`).FindAllStringSubmatch(df, -1)
	if len(froms) < 2 {
		t.Fatalf("Dockerfile has %d stages, want a multi-stage build", len(froms))
	}
	gomod, _ := os.ReadFile("../../go.mod")
	want := regexp.MustCompile(`(?m)^go (\d+\.\d+)`).FindStringSubmatch(string(gomod))
	build := froms[0]
	if m := regexp.MustCompile(`^golang:(\d+\.\d+)`).FindStringSubmatch(build[1]); m == nil || want == nil || versionLess(m[1], want[1]) {
		t.Errorf("build stage %s: want golang:%s or newer (go.mod)", build[1], want[1])
	}
	if !strings.Contains(df, "CGO_ENABLED=0") || !strings.Contains(df, "./cmd/leadscore") || !strings.Contains(df, "COPY --from="+build[2]) {
		t.Error("Dockerfile: want a CGO_ENABLED=0 build of ./cmd/leadscore copied from the build stage")
	}
	final := froms[len(froms)-1][1]
	if !strings.HasPrefix(final, "gcr.io/distroless/static") && final != "scratch" {
		t.Errorf("final stage %s: want a minimal base (distroless/static or scratch)", final)
	}
	if !regexp.MustCompile(`(?m)^COPY \S+ ` + regexp.QuoteMeta(rulesPath) + `$`).MatchString(df) {
		t.Errorf("Dockerfile copies no rules file to %s (LEADSCORE_RULES in docker-compose.yml)", rulesPath)
	}
	if !strings.Contains(df, "EXPOSE "+strconv.Itoa(httpPort)) || !strings.Contains(df, `ENTRYPOINT ["/usr/local/bin/leadscore"]`) {
		t.Errorf("Dockerfile: want EXPOSE %d and the leadscore entrypoint", httpPort)
	}
}

func versionLess(a, b string) bool {
	pa, pb := strings.Split(a, "."), strings.Split(b, ".")
	for i := range 2 {
		x, _ := strconv.Atoi(pa[i])
		y, _ := strconv.Atoi(pb[i])
		if x != y {
			return x < y
		}
	}
	return false
}

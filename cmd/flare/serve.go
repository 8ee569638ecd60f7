package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"flare/api"
	"flare/geo"
	"flare/hub"
	"flare/hub/auth"
	"flare/hub/redisbroker"
	"flare/incidents"
	"flare/incidents/defaults"
	"flare/incidents/tracking"
	dashboard "flare/web-dashboard"
)

type serveConfig struct {
	addr            string
	store           storeFlags
	log             logFlags
	redisURL        string
	demo            bool
	categoriesFile  string
	serviceAreaFile string
	shutdownTimeout time.Duration
	maxBodyBytes    int64
	allowedOrigins  string
	redisPrefix     string
	wsMaxConns      int
	wsConnRate      float64
	wsPerUser       int
	ratePerToken    float64
	ratePerAddress  float64
	wsFlush         time.Duration
	workflow        workflowFlags
	tileURL         string
	tileAttribution string
	sessionTTL      time.Duration
	debugAddr       string
}

func runServe(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	var c serveConfig
	fs := newFlagSet("serve", "Runs the Flare hub: HTTP API, WebSocket hub, dashboard.", stderr)
	fs.StringVar(&c.addr, "addr", ":8080", "address to listen on")
	c.store.register(fs)
	c.log.register(fs)
	fs.StringVar(&c.redisURL, "redis-url", "", "Redis URL (redis://...) for fan-out between hub nodes")
	fs.BoolVar(&c.demo, "demo", false, "feed a simulated city call stream so that the map comes alive")
	fs.StringVar(&c.categoriesFile, "categories", "", "category taxonomy JSON file (default: the built-in 12345 taxonomy)")
	fs.StringVar(&c.serviceAreaFile, "service-area", "", "GeoJSON file of the service area (default: Zhuhai)")
	fs.DurationVar(&c.shutdownTimeout, "shutdown-timeout", 10*time.Second, "how long a stop may take to drain requests")
	fs.Int64Var(&c.maxBodyBytes, "max-body-bytes", 64<<10, "largest request body accepted")
	fs.StringVar(&c.allowedOrigins, "allowed-origins", "", "comma-separated browser origins allowed on /ws besides this host (host patterns such as dash.example.gov.cn or *.example.gov.cn, or scheme://host)")
	fs.StringVar(&c.redisPrefix, "redis-prefix", "flare:", "prefix of every Redis key and channel")
	fs.IntVar(&c.wsMaxConns, "ws-max-conns", 20000, "most WebSocket connections this node holds (503 beyond)")
	fs.IntVar(&c.wsPerUser, "ws-max-conns-per-user", 20, "most WebSocket connections one user or token subject holds on this node (429 beyond; 0: no limit); the last 5% of --ws-max-conns are kept for leaders and admins")
	fs.Float64Var(&c.ratePerToken, "rate-per-token", 1000, "API requests per second one token subject or signed-in user may make, in bursts of twice as many (429 beyond; 0: no limit); system and admin tokens are not limited per token")
	fs.Float64Var(&c.ratePerAddress, "rate-per-address", 10000, "API requests per second one client address may make, in bursts of twice as many (429 beyond; 0: no limit); behind a proxy every client shares its address")
	fs.Float64Var(&c.wsConnRate, "ws-conn-rate", 1000, "new WebSocket connections per second this node accepts (429 beyond; bursts of twice as many)")
	fs.DurationVar(&c.wsFlush, "ws-flush-interval", 10*time.Millisecond, "events committed within this interval reach each WebSocket client in one write (0: no grouping)")
	c.workflow.register(fs)
	fs.StringVar(&c.tileURL, "tile-url", "", "map tile URL template for the dashboard, such as https://tiles.example.gov.cn/{z}/{x}/{y}.png (default: no tiles, district outlines only)")
	fs.StringVar(&c.tileAttribution, "tile-attribution", "", "attribution shown on the dashboard's map with the tiles")
	fs.DurationVar(&c.sessionTTL, "session-ttl", 12*time.Hour, "how long a dashboard sign-in lasts")
	fs.StringVar(&c.debugAddr, "debug-addr", "", "address of a separate listener for Go's profiling endpoints (/debug/pprof/), such as 127.0.0.1:6060; off when empty; keep it off public networks")
	if err := parseFlags(fs, args, getenv); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	log, err := c.log.logger(stderr)
	if err != nil {
		return err
	}
	return serve(ctx, c, getenv, stdout, log)
}

// flushInterval maps the flag to BroadcasterConfig.FlushInterval, where 0
// means the default and a negative value none.
func flushInterval(d time.Duration) time.Duration {
	if d <= 0 {
		return -1
	}
	return d
}

// splitList splits a comma-separated flag value, dropping empty items.
func splitList(v string) []string {
	var out []string
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// loadTaxonomy reads the taxonomy file, or the built-in one.
func loadTaxonomy(path string) (*incidents.Taxonomy, error) {
	data := defaults.Categories
	if path != "" {
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("read categories: %w", err)
		}
		data = b
	}
	t, err := incidents.ParseTaxonomy(data)
	if err != nil {
		return nil, fmt.Errorf("categories %s: %w", orDefault(path), err)
	}
	return t, nil
}

// loadServiceArea reads the service-area file, or the built-in Zhuhai one.
func loadServiceArea(path string) (*incidents.Regions, error) {
	name, data := "Zhuhai", defaults.ZhuhaiDistricts
	if path != "" {
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("read service area: %w", err)
		}
		name, data = path, b
	}
	a, err := incidents.ParseRegions(name, data)
	if err != nil {
		return nil, fmt.Errorf("service area %s: %w", orDefault(path), err)
	}
	return a, nil
}

func orDefault(path string) string {
	if path == "" {
		return "(built-in)"
	}
	return path
}

// signer returns the token signer: FLARE_SECRET, else the secret kept in
// the data dir (created on first use).
func signer(getenv func(string) string, dataDir string) (*auth.Signer, error) {
	secret := []byte(getenv("FLARE_SECRET"))
	if len(secret) == 0 {
		var err error
		if secret, err = auth.LoadOrCreateSecret(dataDir); err != nil {
			return nil, err
		}
	}
	s, err := auth.NewSigner(secret, nil)
	if err != nil {
		return nil, fmt.Errorf("FLARE_SECRET: %w", err)
	}
	return s, nil
}

func serve(ctx context.Context, c serveConfig, getenv func(string) string, stdout io.Writer, log zerolog.Logger) error {
	taxonomy, err := loadTaxonomy(c.categoriesFile)
	if err != nil {
		return err
	}
	area, err := loadServiceArea(c.serviceAreaFile)
	if err != nil {
		return err
	}
	setup, err := c.workflow.load(taxonomy)
	if err != nil {
		return err
	}
	sign, err := signer(getenv, c.store.dataDir)
	if err != nil {
		return err
	}
	sign.SetDepartments(departmentExists(setup.departments))
	dash, err := dashboard.Handler(dashboard.Options{TileURL: c.tileURL, TileAttribution: c.tileAttribution})
	if err != nil {
		return fmt.Errorf("--tile-url: %w", err)
	}
	if c.store.databaseURL != "" && getenv("FLARE_SECRET") == "" {
		log.Warn().Msg("FLARE_SECRET is not set: this node signs tokens with the secret in its data dir; every node of a cluster must share one secret")
	}
	if n, err := raiseOpenFileLimit(); err != nil {
		log.Warn().Err(err).Msg("cannot raise the open file limit")
	} else if n < uint64(c.wsMaxConns) {
		log.Warn().Uint64("limit", n).Int("ws_max_conns", c.wsMaxConns).Msg("the open file limit is below --ws-max-conns")
	}
	// Listen before the slow parts so that a taken port fails at once.
	ln, err := net.Listen("tcp", c.addr)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	defer ln.Close()

	store, kind, err := c.store.open(ctx)
	if err != nil {
		return err
	}
	defer store.Close()
	if err := store.MigrateUp(ctx); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	metrics := api.NewMetrics()
	instrumented := api.InstrumentStore(store, metrics)
	intake := incidents.NewIntake(incidents.IntakeConfig{
		Store: instrumented, Taxonomy: taxonomy, Area: area,
		OnStored: func(n int) { metrics.CallsIngested.Add(float64(n)) },
	})
	var (
		broker   hub.Broker
		presence hub.PresenceManager
	)
	if c.redisURL != "" {
		rb, err := redisbroker.New(c.redisURL, redisbroker.Options{Prefix: c.redisPrefix, Logger: log})
		if err != nil {
			return fmt.Errorf("--redis-url: %w", err)
		}
		defer rb.Close()
		if err := rb.Ping(ctx); err != nil {
			log.Warn().Err(err).Msg("Redis does not answer yet; events reach this node's clients from the store until it does")
		}
		broker, presence = rb, rb
	}
	broadcaster, err := hub.StartBroadcaster(ctx, hub.BroadcasterConfig{
		Log: store, Broker: broker, Presence: presence, Logger: log, Registerer: metrics.Registry,
		FlushInterval: flushInterval(c.wsFlush),
	})
	if err != nil {
		return err
	}
	defer broadcaster.Close()
	workflow := incidents.NewWorkflow(incidents.WorkflowConfig{
		Store: api.InstrumentWorkflowStore(store, metrics), Taxonomy: taxonomy, Departments: setup.departments, Jurisdictions: setup.districts,
		Limits: setup.limits, AutoDispatch: setup.grade,
	})
	// The detector's baseline of normal call levels, rebuilt from the
	// store's last 28 days at each start or takeover; the API reads it on
	// the node that runs the detector (docs/DETECT.md).
	baseline := &tracking.Live{}
	runner, err := tracking.NewRunner(tracking.RunnerConfig{
		Workflow: workflow, Rules: setup.rules, Lateness: c.workflow.lateness, Log: log,
		NoDetector: !c.workflow.detector,
		ListCalls:  store.ListCalls,
		Baseline:   geo.BaselineOptions{Zone: hotlineZone()},
		Surge:      tracking.SurgeOptions{Live: baseline},
	})
	if err != nil {
		return err
	}
	runCtx, stopRunner := context.WithCancel(ctx)
	defer stopRunner()
	runnerDone := make(chan struct{})
	go func() {
		defer close(runnerDone)
		_ = runner.Run(runCtx)
	}()
	srv, err := api.New(api.Config{
		Store: instrumented, Intake: intake, Signer: sign, Metrics: metrics, Logger: log,
		Ready: store.Ready, Version: version(), MaxBodyBytes: c.maxBodyBytes,
		Broadcaster: broadcaster,
		Workflow:    workflow,
		Users:       store, SessionTTL: c.sessionTTL, Districts: setup.districts, Dashboard: dash,
		Baseline: baseline,
		Limits:   api.Limits{PerToken: rateOrNone(c.ratePerToken), PerAddress: rateOrNone(c.ratePerAddress)},
		WS: hub.WSConfig{
			AllowedOrigins:  splitList(c.allowedOrigins),
			MaxConns:        c.wsMaxConns,
			MaxConnsPerUser: orNoLimit(c.wsPerUser),
			ConnRate:        c.wsConnRate,
			ConnBurst:       int(2 * c.wsConnRate),
		},
	})
	if err != nil {
		return err
	}
	httpSrv := &http.Server{
		Handler:           srv.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		IdleTimeout:       120 * time.Second,
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
	serveErr := make(chan error, 1)
	go func() { serveErr <- httpSrv.Serve(ln) }()
	if c.debugAddr != "" {
		stopDebug, err := serveDebug(c.debugAddr, log)
		if err != nil {
			return err
		}
		defer stopDebug()
	}
	log.Info().Str("addr", ln.Addr().String()).Str("store", kind).Str("service_area", area.String()).
		Str("version", version()).Msg("flare is serving")
	fmt.Fprintf(stdout, "flare listening on http://%s\n", ln.Addr())
	demoDone := make(chan struct{})
	if c.demo {
		if err := createDemoUsers(ctx, store, loopbackURL(ln.Addr()), stdout); err != nil {
			log.Error().Err(err).Msg("demo: cannot create the demo users")
		}
		go func() {
			defer close(demoDone)
			runDemo(ctx, loopbackURL(ln.Addr()), sign, log)
		}()
	} else {
		close(demoDone)
	}

	select {
	case <-ctx.Done():
		log.Info().Msg("stopping: draining requests")
	case err := <-serveErr:
		return fmt.Errorf("serve: %w", err)
	}
	stopCtx, cancel := context.WithTimeout(context.Background(), c.shutdownTimeout)
	defer cancel()
	var errs []error
	if err := httpSrv.Shutdown(stopCtx); err != nil {
		errs = append(errs, fmt.Errorf("drain requests: %w", err))
	}
	if err := srv.CloseWebSockets(stopCtx); err != nil {
		errs = append(errs, fmt.Errorf("close websockets: %w", err))
	}
	<-demoDone
	if err := intake.Close(stopCtx); err != nil {
		errs = append(errs, fmt.Errorf("drain intake: %w", err))
	}
	stopRunner()
	<-runnerDone
	log.Info().Msg("stopped")
	return errors.Join(errs...)
}

// loopbackURL returns a URL that reaches the listener from this machine.
func loopbackURL(addr net.Addr) string {
	if tcp, ok := addr.(*net.TCPAddr); ok && tcp.IP.IsUnspecified() {
		return fmt.Sprintf("http://127.0.0.1:%d", tcp.Port)
	}
	return "http://" + addr.String()
}

// hotlineZone is the zone of the hour of the week of the detector's
// baseline: the city's, China Standard Time.
func hotlineZone() *time.Location {
	if z, err := time.LoadLocation("Asia/Shanghai"); err == nil {
		return z
	}
	return time.FixedZone("CST", 8*3600)
}

// orNoLimit maps a flag's 0 ("no limit") to the negative value a config
// takes for it (where 0 means "the default").
func orNoLimit(n int) int {
	if n == 0 {
		return -1
	}
	return n
}

// rateOrNone maps a rate flag's 0 ("no limit") to the negative rate a
// config takes for it.
func rateOrNone(r float64) float64 {
	if r == 0 {
		return -1
	}
	return r
}

// departmentExists reports whether depts has a department with a code.
func departmentExists(depts *incidents.Departments) func(code string) bool {
	return func(code string) bool {
		_, ok := depts.Department(code)
		return ok
	}
}

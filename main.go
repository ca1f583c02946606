// Command ticketapi is a REST API server for a small ticket system: users,
// employees and tickets behind OAuth2 password login, JWT bearer tokens and
// role-based access control. Read this file top to bottom: the command line,
// then serve: read the config (config.go), open the store, build the routes
// (handlers.go), start the server, wait for a signal, shut down. The other
// commands (set-password, backup, copy) follow. docs/tour.md follows three
// requests through the code.
package main

import (
	"bufio"
	"context"
	"crypto/rand"
	_ "embed"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"syscall"
	"time"

	"golang.org/x/term"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	if err := run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr); err != nil {
		priority := "" // journald files the line as an error, like the log's
		if writesToJournal(os.Stderr) {
			priority = journalPriority(slog.LevelError)
		}
		fmt.Fprintln(os.Stderr, priority+"ticketapi:", err)
		os.Exit(1)
	}
}

// run is main without the exit, so tests can call it.
func run(args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	cmd := "serve"
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		cmd, args = args[0], args[1:]
	}
	switch cmd {
	case "serve":
		return cmdServe(args, stderr)
	case "set-password":
		return cmdSetPassword(args, stdin, stdout, stderr)
	case "backup":
		return cmdBackup(args, stdout, stderr)
	case "copy":
		return cmdCopy(args, stdout, stderr)
	case "version":
		fmt.Fprintln(stdout, "ticketapi", version)
		return nil
	default:
		return fmt.Errorf("unknown command %q (commands: serve, set-password, backup, copy, version)", cmd)
	}
}

// commonFlags are the flags every command that opens the database takes.
type commonFlags struct {
	fs         *flag.FlagSet
	configPath string
	db         string
}

func newFlags(name string, stderr io.Writer) *commonFlags {
	f := &commonFlags{fs: flag.NewFlagSet(name, flag.ContinueOnError)}
	f.fs.SetOutput(stderr)
	f.fs.StringVar(&f.configPath, "config", "", "config file (default ./config.json when present, else built-in defaults)")
	f.fs.StringVar(&f.db, "db", "", "SQLite database path or postgres:// URL (overrides the config)")
	return f
}

// load reads the config the flags name and applies the -db override.
func (f *commonFlags) load() (*Config, error) {
	cfg, err := loadConfig(f.configPath)
	if err != nil {
		return nil, err
	}
	if f.db != "" {
		cfg.DatabaseURL = f.db
	}
	return cfg, nil
}

func cmdServe(args []string, stderr io.Writer) error {
	f := newFlags("serve", stderr)
	addr := f.fs.String("addr", "", "listen address HOST:PORT (overrides the config)")
	metricsAddr := f.fs.String("metrics-addr", "", "metrics listen address HOST:PORT (overrides the config's metrics_addr; empty: none)")
	profileAddr := f.fs.String("pprof", "", "also serve Go's profiler (net/http/pprof) on this loopback HOST:PORT; off by default")
	if err := f.fs.Parse(args); err != nil {
		return err
	}
	cfg, err := f.load()
	if err != nil {
		return err
	}
	if *addr != "" {
		cfg.ListenAddr = *addr
	}
	f.fs.Visit(func(given *flag.Flag) { // given, even empty, it wins
		if given.Name == "metrics-addr" {
			cfg.MetricsAddr = *metricsAddr
		}
	})
	logs := newBatchWriter(stderr, logBatchDelay)
	defer logs.Close()
	logger := newLogger(cfg, logs)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	if *profileAddr != "" {
		stopProfiler, err := startProfiler(*profileAddr, logger)
		if err != nil {
			return err
		}
		defer stopProfiler()
	}
	return serve(ctx, cfg, logger, nil)
}

// startProfiler serves net/http/pprof on its own listener, never on the API's
// port. The profiles show the server's internals (and /debug/pprof/cmdline
// its command line), so only a loopback address is accepted: reach it from
// elsewhere through an SSH tunnel.
func startProfiler(addr string, logger *slog.Logger) (stop func(), err error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("-pprof %s: %w", addr, err)
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return nil, fmt.Errorf("-pprof %s: only a loopback address (127.0.0.1, [::1], localhost) is allowed", addr)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("-pprof: listen on %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index) // also heap, goroutine, allocs (block and mutex stay empty: their rates are off)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(ln)
	logger.Info("profiler listening", "addr", ln.Addr().String(), "path", "/debug/pprof/")
	return func() { srv.Close() }, nil
}

// serve runs the server until ctx is done, then drains in-flight requests
// and closes the database. ready, when not nil, receives the bound address.
func serve(ctx context.Context, cfg *Config, logger *slog.Logger, ready chan<- string) error {
	if err := cfg.resolveSecret(); err != nil {
		return err
	}
	// Listen first: a port in use fails the start before anything is
	// written (the first admin's password is printed only once).
	ln, err := net.Listen("tcp", cfg.ListenAddr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.ListenAddr, err)
	}
	defer ln.Close()
	metricsSrv, err := listenMetrics(cfg.MetricsAddr) // its own port, never the API's; nil when metrics_addr is empty
	if err != nil {
		return err
	}
	defer metricsSrv.Close()
	stillStarting := startGoesOn(20*time.Second, logger) // a migration may take minutes
	store, err := openStore(ctx, cfg.databasePath(), logger)
	if err != nil {
		stillStarting()
		return err
	}
	defer store.Close()
	err = bootstrapAdmin(ctx, store, cfg, logger)
	stillStarting()
	if err != nil {
		return err
	}
	app, err := newApp(cfg, store, logger)
	if err != nil {
		return err
	}
	defer store.pruneAuditEvery(time.Hour, cfg.AuditRetentionDays)() // stops before the store closes
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(hashMemoryLimit(cfg.Auth.Argon2.MemoryKiB))
	}
	debug.FreeOSMemory() // give the pages of the start's hashes (first admin, dummy) back to the system
	srv := &http.Server{
		Handler:           app,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second, // logins may queue for a hashing slot
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	// Logins still waiting for a hashing slot are answered 503 at once, so
	// a queue of them cannot hold the stop past its timeout.
	srv.RegisterOnShutdown(app.hasher.stopWaiting)
	metricsSrv.serve(app.metrics, logger) // before ready: whoever hears it may scrape at once
	logger.Info("ticketapi listening", "addr", ln.Addr().String(), "db", displayName(cfg.databasePath()), "version", version)
	if ready != nil {
		ready <- ln.Addr().String()
	}

	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	notifySystemd("READY=1", logger)
	select {
	case err := <-served:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}

	notifySystemd("STOPPING=1", logger)
	logger.Info("shutting down: draining in-flight requests", "timeout_seconds", cfg.ShutdownTimeoutSeconds)
	drainCtx, cancel := context.WithTimeout(context.Background(), time.Duration(cfg.ShutdownTimeoutSeconds)*time.Second)
	defer cancel()
	if err := srv.Shutdown(drainCtx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	logger.Info("stopped")
	return nil
}

// notifySystemd tells systemd (Type=notify) how the service is doing: one
// datagram to the socket systemd names in $NOTIFY_SOCKET. Outside systemd
// there is no socket and nothing to do.
func notifySystemd(state string, logger *slog.Logger) {
	socket := os.Getenv("NOTIFY_SOCKET")
	if socket == "" {
		return
	}
	if strings.HasPrefix(socket, "@") {
		socket = "\x00" + socket[1:] // an abstract socket
	}
	conn, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: socket, Net: "unixgram"})
	if err == nil {
		_, err = conn.Write([]byte(state))
		conn.Close()
	}
	if err != nil {
		logger.Warn("could not notify systemd", "state", state, "error", err)
	}
}

// startGoesOn tells systemd every interval, until the returned stop is
// called, that the start goes on: each message allows three more intervals
// past the unit's TimeoutStartSec, so a migration that indexes millions of
// rows is not killed halfway (and started over at the next try). Outside
// systemd it does nothing.
func startGoesOn(interval time.Duration, logger *slog.Logger) (stop func()) {
	if os.Getenv("NOTIFY_SOCKET") == "" {
		return func() {}
	}
	done, stopped := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(stopped)
		tick := time.NewTicker(interval)
		defer tick.Stop()
		for {
			select {
			case <-tick.C:
				notifySystemd(fmt.Sprintf("EXTEND_TIMEOUT_USEC=%d", (3*interval).Microseconds()), logger)
			case <-done:
				return
			}
		}
	}()
	return func() {
		close(done)
		<-stopped
	}
}

// bootstrapAdmin creates the user "admin" on an empty database, with the
// password from TICKETAPI_ADMIN_PASSWORD or a random one printed once.
func bootstrapAdmin(ctx context.Context, store *Store, cfg *Config, logger *slog.Logger) error {
	n, err := store.CountUsers(ctx)
	if err != nil || n > 0 {
		return err // quick answer without hashing; CreateFirstUser makes sure
	}
	password, generated := os.Getenv("TICKETAPI_ADMIN_PASSWORD"), false
	if password == "" {
		password, generated = randomPassword(), true
	} else if problem := checkNewPassword(password); problem != "" {
		return fmt.Errorf("TICKETAPI_ADMIN_PASSWORD: %s", problem)
	}
	hash, err := newHasher(cfg).Hash(password)
	if err != nil {
		return err
	}
	admin := User{Username: "admin", FirstName: "Admin", LastName: "Admin", Phone: "+0000000000",
		Email: "admin@example.com", Role: []string{"admin"}, hashedPassword: hash}
	created, err := store.CreateFirstUser(ctx, &admin)
	if err != nil {
		return fmt.Errorf("create first admin: %w", err)
	}
	if !created { // another instance on the same database was first
		return nil
	}
	if generated {
		logger.Warn("created the first user \"admin\" with a generated password; it is shown only this once, change it after logging in",
			"password", password)
	} else {
		logger.Info("created the first user \"admin\" with the password from TICKETAPI_ADMIN_PASSWORD")
	}
	return nil
}

// randomPassword meets the password rules: 20 random hex letters and digits
// plus fixed classes so an upper-case letter and a special are always in it.
func randomPassword() string {
	b := make([]byte, 10)
	rand.Read(b)
	return "Tk!" + hex.EncodeToString(b) + "9a"
}

// checkNewPassword applies the password rules of docs/api.md §4 to a password that
// does not come from a JSON body (environment, stdin).
func checkNewPassword(p string) string {
	if problem := checkText(p, 8, 64, ""); problem != nil {
		return problem.Msg
	}
	return passwordProblem(p)
}

func cmdSetPassword(args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	f := newFlags("set-password", stderr)
	if err := f.fs.Parse(args); err != nil {
		return err
	}
	if f.fs.NArg() != 1 {
		return errors.New("usage: ticketapi set-password [-config FILE] [-db PATH] USERNAME (new password on stdin)")
	}
	username := f.fs.Arg(0)
	cfg, err := f.load()
	if err != nil {
		return err
	}
	password, err := readNewPassword(stdin, stderr)
	if err != nil {
		return err
	}
	if problem := checkNewPassword(password); problem != "" {
		return fmt.Errorf("password refused: %s", problem)
	}
	ctx := context.Background()
	store, err := openStore(ctx, cfg.databasePath(), newLogger(cfg, stderr))
	if err != nil {
		return err
	}
	defer store.Close()
	u, err := store.UserByUsername(ctx, username)
	if err != nil {
		return fmt.Errorf("user %q: %w", username, err)
	}
	hash, err := newHasher(cfg).Hash(password)
	if err != nil {
		return err
	}
	if err := store.SetPassword(ctx, u.ID, hash); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "password of %q changed; tokens issued before now no longer work\n", username)
	return nil
}

// readNewPassword reads the new password: on a terminal without echo and
// twice, as passwd does (an unseen typo would lock the user out); from a
// pipe, its first line, so scripts can give it.
func readNewPassword(stdin io.Reader, stderr io.Writer) (string, error) {
	if f, ok := stdin.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		first, err := readWithoutEcho(int(f.Fd()), "New password: ", stderr)
		if err != nil {
			return "", err
		}
		second, err := readWithoutEcho(int(f.Fd()), "Retype new password: ", stderr)
		if err != nil {
			return "", err
		}
		if first != second {
			return "", errors.New("the two passwords differ; nothing was changed")
		}
		return first, nil
	}
	line, err := bufio.NewReader(stdin).ReadString('\n')
	if err != nil && line == "" {
		return "", errors.New("read the new password from stdin: nothing was given")
	}
	return strings.TrimRight(line, "\r\n"), nil
}

// readWithoutEcho prompts on stderr and reads one line from the terminal
// fd with echo off, turning echo back on even when Ctrl-C ends the program.
func readWithoutEcho(fd int, prompt string, stderr io.Writer) (string, error) {
	state, err := term.GetState(fd)
	if err != nil {
		return "", fmt.Errorf("read the new password: %w", err)
	}
	interrupted := make(chan os.Signal, 1)
	signal.Notify(interrupted, os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	done := make(chan struct{})
	defer func() { signal.Stop(interrupted); close(done) }()
	go func() {
		select {
		case <-interrupted:
			term.Restore(fd, state)
			fmt.Fprintln(stderr)
			os.Exit(130)
		case <-done:
		}
	}()
	fmt.Fprint(stderr, prompt)
	password, err := term.ReadPassword(fd)
	fmt.Fprintln(stderr) // the Enter typed was not echoed either
	if err != nil {
		return "", fmt.Errorf("read the new password: %w", err)
	}
	return strings.TrimRight(string(password), "\r"), nil
}

// cmdBackup writes a consistent copy of the database to DEST while the
// server may keep writing (see backupDatabase in store.go).
func cmdBackup(args []string, stdout, stderr io.Writer) error {
	f := newFlags("backup", stderr)
	if err := f.fs.Parse(args); err != nil {
		return err
	}
	if f.fs.NArg() != 1 {
		return errors.New("usage: ticketapi backup [-config FILE] [-db PATH] DEST")
	}
	cfg, err := f.load()
	if err != nil {
		return err
	}
	dest := f.fs.Arg(0)
	if err := backupDatabase(context.Background(), cfg.databasePath(), dest); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "backup of %s written to %s (integrity_check ok)\n", cfg.databasePath(), dest)
	return nil
}

// cmdCopy copies a SQLite database (ticketapi's or the original's) into an
// empty PostgreSQL database, in one transaction (see copyDatabase in
// store.go). The SQLite file is only read.
func cmdCopy(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("copy", flag.ContinueOnError)
	fs.SetOutput(stderr)
	from := fs.String("from", "", "SQLite database to copy (read, never changed)")
	to := fs.String("to", "", "empty PostgreSQL database: postgres://USER:PASSWORD@HOST:PORT/DATABASE")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *from == "" || *to == "" || fs.NArg() != 0 {
		return errors.New("usage: ticketapi copy -from SQLITE_PATH -to postgres://USER:PASSWORD@HOST:PORT/DATABASE")
	}
	copied, err := copyDatabase(context.Background(), *from, *to, slog.New(slog.NewTextHandler(stderr, nil)))
	if err != nil {
		return err
	}
	for _, c := range copied {
		fmt.Fprintf(stdout, "%s: %d rows copied\n", c.table, c.rows)
	}
	return nil
}

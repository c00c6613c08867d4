package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"
)

const usage = `usage: arqonbench WORKLOAD [flags]

workloads:
  fanout    S subscribers on one room:channel, one publisher at R msg/s
  channels  S clients, each publishing to its own channel at R msg/s and
            receiving it back through a second connection (round trip)
  idle      C connections, each joined to its own channel; connect time,
            server RSS and goroutines per connection
  floor     no server: a writer process pinned to --writer-cpu writes a
            frame of the size the server sends fanout subscribers to each
            of C plain TCP connections, R bursts per second, one write per
            connection; the tool reads them. What fanout costs this
            machine's kernel with one write per delivery on one core. A
            burst under way at the deadline is finished and read.
  tasks     W workers join a work-queue group (operator.join) and answer
            each task after --work; S submitters send T tasks with
            op.task.submit, open-loop at R tasks/s in all, or with
            --rate max closed-loop (--inflight submits unanswered per
            submitter). Latency from submit to its reply, to the worker
            and to the completion's acknowledgement; completed tasks/s;
            every acknowledged task must be delivered and completed.
            Prefetch and the other queue limits are the server's.

Publishing (and open-loop submitting) is on an absolute schedule: message i is due at
start + i/R and carries that planned time; latency is measured from it.
Messages of the warm-up period are sent but left out of every statistic.
A run stops by itself at warmup + duration + drain after publishing starts
(connection setup is bounded by --connect-timeout); what has not arrived by
then is loss.

Output: a human summary on stderr; with --json also one JSON object per run
on stdout. Exit status: 0 the run completed (whatever the loss), 1 the
target was unreachable or the run could not be set up or was interrupted,
2 bad flags.

Durations take Go syntax (1500ms, 10s) or a plain number of seconds.
Only loopback targets are allowed unless --allow-remote is given.
`

// floorWriter is the hidden workload the floor workload re-executes this
// binary with: the writer side, in a process of its own so it can be pinned
// to a CPU apart from the readers.
const floorWriter = "floor-writer"

// options is the parsed command line.
type options struct {
	workload    string
	url         string
	token       string
	allowRemote bool
	json        bool
	serverPID   int
	metricsURL  string
	room        string

	concurrency    int
	connectTimeout time.Duration
	retries        int
	sources        int

	clients  int // subscribers (fanout), clients (channels), connections (idle)
	rate     float64
	duration time.Duration
	warmup   time.Duration
	drain    time.Duration
	payload  int
	hold     time.Duration

	writerCPU int // floor: the CPU the writer pins itself to; -1: no pinning

	// tasks: clients is the number of workers.
	submitters int
	tasks      int64
	group      string        // "" : the run's random name
	work       time.Duration // simulated work per task
	closedLoop bool          // --rate max
	inflight   int           // closed loop: submits unanswered per submitter

	spread bool // the target is IPv4 loopback: source addresses can be spread
}

// hasServer tells the workloads that load an ArqonBus server from the floor
// workload (and its writer), which has none.
func (c *options) hasServer() bool { return c.workload != "floor" && c.workload != floorWriter }

// messages is how many messages one publisher plans in total, and how many
// of them belong to the warm-up.
func (c *options) messages() (total, warm int64) {
	warm = int64(c.warmup.Seconds() * c.rate)
	return warm + int64(c.duration.Seconds()*c.rate), warm
}

// connections is how many sockets the workload opens.
func (c *options) connections() int {
	switch c.workload {
	case "fanout":
		return c.clients + 1
	case "channels":
		return 2 * c.clients
	case "tasks":
		return c.clients + c.submitters
	}
	return c.clients
}

var errHelp = errors.New("help requested")

// parseArgs reads the command line. It returns errHelp for -h.
func parseArgs(args []string, stderr io.Writer) (*options, error) {
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help" || args[0] == "-help") {
			fmt.Fprint(stderr, usage)
			return nil, errHelp
		}
		fmt.Fprint(stderr, usage)
		return nil, errors.New("missing workload: fanout, channels, idle, floor or tasks")
	}
	c := &options{workload: args[0]}
	fs := flag.NewFlagSet("arqonbench "+c.workload, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, usage, "\nflags of ", c.workload, ":\n")
		fs.PrintDefaults()
	}
	if c.hasServer() {
		fs.StringVar(&c.url, "url", "ws://127.0.0.1:9100/ws", "server WebSocket URL (loopback only unless --allow-remote)")
		fs.StringVar(&c.token, "token", "", "bearer token for servers with authentication on; every connection shares its subject, so start the server with ARQONBUS_MAX_CONNECTIONS_PER_SUBJECT=0 (or above --connections)")
		fs.BoolVar(&c.allowRemote, "allow-remote", false, "allow a target that is not a loopback address")
		fs.IntVar(&c.serverPID, "server-pid", 0, "server process id: report its CPU and RSS from /proc")
		fs.StringVar(&c.metricsURL, "metrics-url", "", "server Prometheus URL (e.g. http://127.0.0.1:9100/metrics): report the server's goroutines (idle) or the change of its delivered, dropped and slow-consumer counters (fanout, channels)")
		fs.StringVar(&c.room, "room", "", "room to use (default: arqonbench-<random>, fresh per run)")
	}
	fs.BoolVar(&c.json, "json", false, "write one JSON line with the results on stdout")
	fs.IntVar(&c.concurrency, "concurrency", 200, "connection attempts in flight during setup")
	durationVar(fs, &c.connectTimeout, "connect-timeout", 60*time.Second, "bound on setting up all connections (a `duration`)")
	fs.IntVar(&c.retries, "retries", 5, "retries of a connection attempt that failed transiently")
	fs.IntVar(&c.sources, "sources", 250, "spread client source addresses over 127.0.0.1..127.0.0.N (0: let the kernel choose)")

	switch c.workload {
	case "fanout", "channels", "floor", floorWriter:
		name, def, rate, rateHelp := "subscribers", 1000, 1000.0, "messages per second per publisher"
		switch c.workload {
		case "channels":
			name, rate = "clients", 10
		case "floor", floorWriter:
			// 100 bursts/s is the fanout load with nothing to coalesce,
			// where the floor matters most.
			name, rate, rateHelp = "connections", 100, "bursts per second (one frame to every connection each)"
			fs.IntVar(&c.writerCPU, "writer-cpu", 0, "CPU the writer process pins itself to (-1: no pinning)")
		}
		fs.IntVar(&c.clients, name, def, "number of "+name)
		fs.Float64Var(&c.rate, "rate", rate, rateHelp)
		durationVar(fs, &c.duration, "duration", 10*time.Second, "measured publishing `time`")
		durationVar(fs, &c.warmup, "warmup", time.Second, "publishing `time` before the measurement, left out of the stats")
		durationVar(fs, &c.drain, "drain", 5*time.Second, "`time` to wait for missing deliveries after publishing")
		fs.IntVar(&c.payload, "payload", 128, "payload object size in bytes (at least the size of its fields, ~50)")
	case "idle":
		fs.IntVar(&c.clients, "connections", 1000, "number of connections")
		durationVar(fs, &c.hold, "hold", 2*time.Second, "`time` to hold all connections before measuring and closing")
	case "tasks":
		taskFlags(fs, c)
	default:
		fmt.Fprint(stderr, usage)
		return nil, fmt.Errorf("unknown workload %q: fanout, channels, idle, floor or tasks", c.workload)
	}
	if err := fs.Parse(args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil, errHelp
		}
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments: %s", strings.Join(fs.Args(), " "))
	}
	return c, c.validate()
}

func (c *options) validate() error {
	var problems []string
	bad := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	if c.hasServer() {
		spread, err := checkTarget(c.url, c.allowRemote)
		if err != nil {
			bad("%v", err)
		}
		c.spread = spread && c.sources > 0
	} else {
		c.spread = c.sources > 0 // the writer listens on 127.0.0.1
		// unix.CPUSet holds CPUs 0..1023; whether the CPU exists is the
		// writer's to find out (this process may be pinned away from it).
		if c.writerCPU < -1 || c.writerCPU > 1023 {
			bad("--writer-cpu must be -1 (no pinning) or a CPU number")
		}
	}
	if c.clients < 1 {
		bad("the number of connections must be at least 1")
	}
	if c.concurrency < 1 {
		bad("--concurrency must be at least 1")
	}
	if c.retries < 0 {
		bad("--retries must be at least 0")
	}
	if c.sources < 0 || c.sources > 254 {
		bad("--sources must be within 0..254")
	}
	if c.connectTimeout <= 0 {
		bad("--connect-timeout must be positive")
	}
	if c.serverPID < 0 {
		bad("--server-pid must be a process id")
	}
	switch c.workload {
	case "idle":
		if c.hold < 0 {
			bad("--hold must not be negative")
		}
	case "tasks":
		c.validateTasks(bad)
	default:
		if !(c.rate > 0) || c.rate > 1e7 {
			bad("--rate must be within (0, 1e7]")
		}
		if c.duration <= 0 || c.warmup < 0 || c.drain < 0 {
			bad("--duration must be positive, --warmup and --drain not negative")
		}
		if c.payload < 0 || c.payload > maxPayload {
			bad("--payload must be within 0..%d", maxPayload)
		}
		total, warm := c.messages()
		if total-warm < 1 {
			bad("--rate × --duration must plan at least one message")
		}
		// Every receiver keeps one bit per measured message (duplicate and
		// order checks); keep that within 512 MiB.
		if float64(c.clients)*float64(total-warm) > 4e9 {
			bad("receivers × measured messages is over 4e9; shorten --duration or lower --rate")
		}
	}
	if len(problems) > 0 {
		return errors.New(strings.Join(problems, "; "))
	}
	return nil
}

// checkTarget refuses a target that is not a loopback address (unless
// allowRemote) and reports whether it is IPv4 loopback, where client
// source addresses can be spread over 127.0.0.x.
func checkTarget(raw string, allowRemote bool) (spread bool, err error) {
	u, err := url.Parse(raw)
	if err != nil {
		return false, fmt.Errorf("--url: %v", err)
	}
	if u.Scheme != "ws" && u.Scheme != "wss" {
		return false, fmt.Errorf("--url must start with ws:// or wss://, got %q", raw)
	}
	host := u.Hostname()
	if host == "" {
		return false, fmt.Errorf("--url has no host: %q", raw)
	}
	ip := net.ParseIP(host)
	switch {
	case host == "localhost" || (ip != nil && ip.To4() != nil && ip.IsLoopback()):
		return true, nil
	case ip != nil && ip.IsLoopback():
		return false, nil
	case allowRemote:
		return false, nil
	}
	return false, fmt.Errorf("--url host %q is not a loopback address; pass --allow-remote to load another machine", host)
}

// durationFlag accepts Go durations and plain seconds.
type durationFlag struct{ d *time.Duration }

func durationVar(fs *flag.FlagSet, d *time.Duration, name string, def time.Duration, help string) {
	*d = def
	fs.Var(durationFlag{d}, name, help)
}

func (f durationFlag) String() string {
	if f.d == nil {
		return ""
	}
	return f.d.String()
}

func (f durationFlag) Set(s string) error {
	if secs, err := strconv.ParseFloat(s, 64); err == nil {
		*f.d = time.Duration(secs * float64(time.Second))
		return nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("not a duration or a number of seconds: %q", s)
	}
	*f.d = d
	return nil
}

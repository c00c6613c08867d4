package redistest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/client"
	"github.com/testcontainers/testcontainers-go"
	tclog "github.com/testcontainers/testcontainers-go/log"
	tcredis "github.com/testcontainers/testcontainers-go/modules/redis"
	"github.com/testcontainers/testcontainers-go/wait"

	"github.com/arqonbus/arqonbus/internal/testutil"
)

const (
	// redisDockerProbeTimeout bounds the one-time look at the Docker engine.
	redisDockerProbeTimeout = 20 * time.Second
	// redisStartTimeout bounds creating a container, a pull of its image included.
	redisStartTimeout = 3 * time.Minute
	// redisDockerOpTimeout bounds one stop, start, pause or removal.
	redisDockerOpTimeout = 30 * time.Second

	// Labels on every container the harness starts; a later test process removes
	// the ones whose process died before its cleanup ran.
	redisLabelOwner = "org.arqonbus.testutil"
	redisLabelPID   = "org.arqonbus.testutil.pid"
	redisLabelHost  = "org.arqonbus.testutil.host"
	// redisLabelBuilt marks images that scripts/redis-image.sh built.
	redisLabelBuilt = "org.arqonbus.redis-server.sha256"
)

var (
	redisPort = network.MustParsePort("6379/tcp")
	// redisServerArgs run redis-server reachable through a published port and with no
	// persistence. Both the official image's entrypoint and the locally built image
	// (whose entrypoint is redis-server) take bare arguments.
	redisServerArgs = []string{"--protected-mode", "no", "--save", "", "--appendonly", "no", "--bind", "0.0.0.0"}
)

// redisDockerEnv is what the harness learned about the Docker engine, once per process.
type redisDockerEnv struct {
	err error // nil when an engine answers
	// loopback: published ports are reachable on 127.0.0.1 from this process, so
	// ports are bound on and dialled at 127.0.0.1 only.
	loopback bool
	// image to run when EnvRedisImage is unset.
	image string
}

var (
	redisDockerOnce sync.Once
	redisDockerSeen redisDockerEnv
	// tcLog keeps testcontainers' chatter out of test output; its tail goes into
	// error messages.
	tcLog = newTCLineLog(60)
)

// redisDockerState probes the engine on first use.
func redisDockerState() *redisDockerEnv {
	redisDockerOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), redisDockerProbeTimeout)
		defer cancel()
		redisDockerSeen = probeRedisDocker(ctx)
	})
	return &redisDockerSeen
}

// redisDockerAvailable reports why no container can be started, or nil.
func redisDockerAvailable() error { return redisDockerState().err }

func probeRedisDocker(ctx context.Context) redisDockerEnv {
	tclog.SetDefault(tcLog)
	disableRyukWhereMissing(ctx)

	cli, err := testcontainers.NewDockerClientWithOpts(ctx)
	if err != nil {
		return redisDockerEnv{err: err}
	}
	defer cli.Close()
	if _, err := cli.Ping(ctx, client.PingOptions{}); err != nil {
		return redisDockerEnv{err: err}
	}
	env := redisDockerEnv{loopback: dockerOnLoopback(ctx, cli), image: defaultRedisImage}
	if _, err := cli.ImageInspect(ctx, defaultRedisImage); err != nil {
		if built := newestBuiltRedisImage(ctx, cli); built != "" {
			env.image = built
		}
	}
	if n := sweepStaleRedis(ctx, cli); n > 0 {
		fmt.Fprintf(os.Stderr, "redistest: removed %d redis container(s) left by test processes that died\n", n)
	}
	return env
}

// disableRyukWhereMissing sets TESTCONTAINERS_RYUK_DISABLED=true when it is unset
// and the reaper image is not on the engine: where no registry is reachable the
// reaper cannot start and every container would fail. Cleanup then rests on
// t.Cleanup, RunMain and sweepStaleRedis. testcontainers reads its configuration once,
// so this runs before its first call, with a plain client.
func disableRyukWhereMissing(ctx context.Context) {
	if _, set := os.LookupEnv(tcEnvRyukOff); set {
		return
	}
	cli, err := client.New(client.FromEnv)
	if err != nil {
		return
	}
	defer cli.Close()
	if _, err := cli.Ping(ctx, client.PingOptions{}); err != nil {
		return
	}
	//lint:ignore SA1019 the only exported name of the image the reaper runs.
	if _, err := cli.ImageInspect(ctx, testcontainers.ReaperDefaultImage); err != nil {
		_ = os.Setenv(tcEnvRyukOff, "true")
	}
}

// dockerOnLoopback reports whether the engine publishes ports on this host's
// loopback. testcontainers assumes otherwise whenever /.dockerenv exists and then
// dials the default gateway, which on a machine that merely looks like a container
// is the wrong host.
func dockerOnLoopback(ctx context.Context, cli *testcontainers.DockerClient) bool {
	u, err := url.Parse(cli.DaemonHost())
	if err != nil {
		return false
	}
	if u.Scheme != "unix" && u.Scheme != "npipe" {
		h := u.Hostname()
		ip, err := netip.ParseAddr(h)
		return h == "localhost" || (err == nil && ip.IsLoopback())
	}
	if _, err := os.Stat("/.dockerenv"); err != nil {
		return true
	}
	// Inside something container-like: the engine is ours when its default bridge's
	// gateway is one of our own addresses.
	res, err := cli.NetworkInspect(ctx, "bridge", client.NetworkInspectOptions{})
	if err != nil {
		return false
	}
	own := ownIPAddrs()
	for _, c := range res.Network.IPAM.Config {
		gw := c.Gateway
		if !gw.IsValid() && c.Subnet.IsValid() {
			gw = c.Subnet.Masked().Addr().Next()
		}
		if own[gw] {
			return true
		}
	}
	return false
}

func ownIPAddrs() map[netip.Addr]bool {
	out := map[netip.Addr]bool{}
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return out
	}
	for _, a := range addrs {
		if p, err := netip.ParsePrefix(a.String()); err == nil {
			out[p.Addr().Unmap()] = true
		}
	}
	return out
}

// newestBuiltRedisImage returns the newest image scripts/redis-image.sh built, or "".
func newestBuiltRedisImage(ctx context.Context, cli *testcontainers.DockerClient) string {
	res, err := cli.ImageList(ctx, client.ImageListOptions{Filters: make(client.Filters).Add("label", redisLabelBuilt)})
	if err != nil {
		return ""
	}
	var best string
	var created int64
	for _, img := range res.Items {
		if len(img.RepoTags) > 0 && img.Created > created {
			best, created = img.RepoTags[0], img.Created
		}
	}
	return best
}

// sweepStaleRedis removes containers this harness started from a process on this host
// that no longer runs (killed by a timeout, say, before its cleanup ran).
func sweepStaleRedis(ctx context.Context, cli *testcontainers.DockerClient) int {
	host, err := os.Hostname()
	if err != nil {
		return 0
	}
	res, err := cli.ContainerList(ctx, client.ContainerListOptions{
		All:     true,
		Filters: make(client.Filters).Add("label", redisLabelOwner+"=redis"),
	})
	if err != nil {
		return 0
	}
	removed := 0
	for _, c := range res.Items {
		pid, err := strconv.Atoi(c.Labels[redisLabelPID])
		if err != nil || c.Labels[redisLabelHost] != host || pid == os.Getpid() || procAlive(pid) {
			continue
		}
		if _, err := cli.ContainerRemove(ctx, c.ID, client.ContainerRemoveOptions{Force: true, RemoveVolumes: true}); err == nil {
			removed++
		}
	}
	return removed
}

func redisOwnerLabels() map[string]string {
	host, _ := os.Hostname()
	return map[string]string{
		redisLabelOwner: "redis",
		redisLabelPID:   strconv.Itoa(os.Getpid()),
		redisLabelHost:  host,
	}
}

// containerRedis is one Redis container started through testcontainers' redis
// module. With a fixed port, restarts keep the address.
type containerRedis struct {
	image string
	env   *redisDockerEnv
	cli   *testcontainers.DockerClient // for the pause and unpause signals
	c     *tcredis.RedisContainer
	addr  string
}

var _ redisBackend = (*containerRedis)(nil)

// startRedisContainer runs image and waits until it answers PING. fixedPort binds a
// chosen port instead of a random one, so that Stop and Start keep the address.
// The returned value is non-nil whenever something needs close, even with an error.
func startRedisContainer(ctx context.Context, env *redisDockerEnv, image string, fixedPort bool) (*containerRedis, error) {
	cli, err := testcontainers.NewDockerClientWithOpts(ctx)
	if err != nil {
		return nil, err
	}
	cr := &containerRedis{image: image, env: env, cli: cli}
	for attempt := 1; ; attempt++ {
		err := cr.run(ctx, fixedPort)
		if err == nil {
			return cr, nil
		}
		if !fixedPort || attempt >= redisPortAttempts || !redisPortConflict(err) {
			return cr, fmt.Errorf("redis container %s: %w\nrecent testcontainers log:\n%s", image, err, tcLog.String())
		}
		if err := cr.terminate(ctx); err != nil {
			return cr, err
		}
	}
}

func redisPortConflict(err error) bool {
	s := err.Error()
	return strings.Contains(s, "port is already allocated") || strings.Contains(s, "address already in use")
}

func (cr *containerRedis) run(ctx context.Context, fixedPort bool) error {
	var binding network.PortBinding
	if cr.env.loopback {
		binding.HostIP = netip.AddrFrom4([4]byte{127, 0, 0, 1})
	}
	if fixedPort {
		p, err := testutil.PickFreePort()
		if err != nil {
			return err
		}
		binding.HostPort = strconv.Itoa(p)
	}
	c, err := tcredis.Run(ctx, cr.image,
		testcontainers.WithLogger(tcLog),
		testcontainers.WithCmd(redisServerArgs...),
		testcontainers.WithLabels(redisOwnerLabels()),
		testcontainers.WithHostConfigModifier(func(hc *container.HostConfig) {
			hc.PortBindings = network.PortMap{redisPort: {binding}}
		}),
		// The log line alone: testcontainers' port check would dial the host it
		// guesses, which dockerOnLoopback may have overruled.
		testcontainers.WithWaitStrategy(wait.ForLog("Ready to accept connections")),
	)
	cr.c = c
	if err != nil {
		return err
	}
	mapped, err := c.MappedPort(ctx, redisPort.String())
	if err != nil {
		return fmt.Errorf("mapped port: %w", err)
	}
	host, err := cr.host(ctx)
	if err != nil {
		return err
	}
	cr.addr = net.JoinHostPort(host, mapped.Port())
	return waitReady(ctx, tcpOptions(cr.addr), nil)
}

// host is where published ports are dialled: 127.0.0.1 for an engine on this
// host's loopback unless TESTCONTAINERS_HOST_OVERRIDE says otherwise, else what
// testcontainers infers.
func (cr *containerRedis) host(ctx context.Context) (string, error) {
	if _, set := os.LookupEnv(tcEnvHostOverride); !set && cr.env.loopback {
		return "127.0.0.1", nil
	}
	h, err := cr.c.Host(ctx)
	if err != nil {
		return "", fmt.Errorf("container host: %w", err)
	}
	if h == "localhost" {
		h = "127.0.0.1"
	}
	return h, nil
}

func (cr *containerRedis) describe() string { return "container " + cr.image }

func (cr *containerRedis) stop(ctx context.Context) error {
	grace := redisStopGrace
	return cr.c.Stop(ctx, &grace)
}

func (cr *containerRedis) start(ctx context.Context) error {
	if err := cr.c.Start(ctx); err != nil {
		return err
	}
	return waitReady(ctx, tcpOptions(cr.addr), nil)
}

// pause stops the server's processes with SIGSTOP and returns once every one shows
// as stopped. Docker's own pause is not used: the engine records paused and
// resumed from an event queue as well as from the call, so a resume event still
// queued from an earlier unpause can mark a freshly paused container as running,
// after which unpause refuses ("is not paused") and the server stays frozen.
// Signals leave the engine's idea of the container alone.
func (cr *containerRedis) pause(ctx context.Context) error {
	if err := cr.signal(ctx, "STOP"); err != nil {
		return err
	}
	for {
		stopped, err := cr.allStopped(ctx)
		if err != nil {
			return err
		}
		if stopped {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("container %s not stopped after SIGSTOP: %w", cr.c.GetContainerID(), ctx.Err())
		case <-time.After(5 * time.Millisecond):
		}
	}
}

func (cr *containerRedis) unpause(ctx context.Context) error { return cr.signal(ctx, "CONT") }

func (cr *containerRedis) signal(ctx context.Context, sig string) error {
	_, err := cr.cli.ContainerKill(ctx, cr.c.GetContainerID(), client.ContainerKillOptions{Signal: sig})
	return err
}

// allStopped reports whether every process of the container is in the stopped
// state, as ps on the engine's host sees it (so it works with a remote engine too).
func (cr *containerRedis) allStopped(ctx context.Context) (bool, error) {
	top, err := cr.cli.ContainerTop(ctx, cr.c.GetContainerID(), client.ContainerTopOptions{Arguments: []string{"-o", "pid,stat"}})
	if err != nil {
		return false, fmt.Errorf("container top: %w", err)
	}
	col := -1
	for i, title := range top.Titles {
		if title == "STAT" {
			col = i
		}
	}
	if col < 0 || len(top.Processes) == 0 {
		return false, fmt.Errorf("container top: no STAT column or no process in %v", top)
	}
	for _, proc := range top.Processes {
		if col >= len(proc) || !strings.HasPrefix(proc[col], "T") {
			return false, nil
		}
	}
	return true, nil
}

// terminate removes the container, paused or not.
func (cr *containerRedis) terminate(ctx context.Context) error {
	if cr.c == nil || cr.c.Container == nil {
		return nil
	}
	// Resume a paused server so that it can take the stop signal; for one that is
	// not paused, or not running, this does nothing.
	_ = cr.signal(ctx, "CONT")
	err := cr.c.Terminate(ctx, testcontainers.StopTimeout(time.Second))
	cr.c = nil
	return err
}

// close removes the container and releases the client. Idempotent.
func (cr *containerRedis) close(ctx context.Context) error {
	if cr == nil {
		return nil
	}
	err := cr.terminate(ctx)
	if cr.cli != nil {
		err = errors.Join(err, cr.cli.Close())
		cr.cli = nil
	}
	return err
}

// tcLineLog is a testcontainers logger that keeps the last lines in memory.
type tcLineLog struct {
	mu    sync.Mutex
	max   int
	lines []string
}

func newTCLineLog(n int) *tcLineLog { return &tcLineLog{max: n} }

func (l *tcLineLog) Printf(format string, args ...any) {
	line := strings.TrimRight(fmt.Sprintf(format, args...), "\n")
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = append(l.lines, time.Now().Format("15:04:05.000 ")+line)
	if len(l.lines) > l.max {
		l.lines = l.lines[len(l.lines)-l.max:]
	}
}

func (l *tcLineLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.lines, "\n")
}

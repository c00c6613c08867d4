package redistest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"
)

func TestMain(m *testing.M) { RunMain(m) }

func redisPing(c *redis.Client, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	return c.Ping(ctx).Err()
}

// requireRedisKind skips (fails under CI) when this machine cannot run kind.
func requireRedisKind(t *testing.T, kind string) {
	t.Helper()
	var err error
	switch kind {
	case RedisKindContainer:
		err = redisDockerAvailable()
	case RedisKindProcess:
		err = lookRedisServer()
	}
	if err != nil {
		redisUnavailable(t, os.Getenv, fmt.Sprintf("no %s redis here: %s", kind, redisOneLine(err)))
	}
}

var redisPrefixPattern = regexp.MustCompile(`^test:[A-Za-z0-9_.~-]+:[0-9a-f]{6}\.[0-9]+:$`)

func TestSharedRedisAnswersAndHandsOutDistinctPrefixes(t *testing.T) {
	srv := Redis(t)
	require.Contains(t, []string{RedisKindURL, RedisKindContainer, RedisKindProcess}, srv.Kind())
	require.Same(t, srv, Redis(t), "one shared server per process")

	c := RedisClient(t, srv)
	require.NoError(t, redisPing(c, 2*time.Second))
	opt, err := redis.ParseURL(srv.URL())
	require.NoError(t, err)
	require.Equal(t, srv.Addr(), opt.Addr)
	if srv.Kind() != RedisKindURL {
		require.Equal(t, "redis://"+srv.Addr(), srv.URL())
	}

	var mu sync.Mutex
	seen := map[string]bool{}
	for _, name := range []string{"first case", "second/case", "third{tag}*"} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			p := srv.Prefix(t)
			require.Regexp(t, redisPrefixPattern, p)
			require.NotEqual(t, p, srv.Prefix(t), "every call gives a new prefix")
			ctx := context.Background()
			require.NoError(t, c.Set(ctx, p+"k", name, time.Minute).Err())
			require.Equal(t, name, c.Get(ctx, p+"k").Val())
			mu.Lock()
			defer mu.Unlock()
			require.False(t, seen[p], "prefix %s handed out twice", p)
			seen[p] = true
		})
	}
}

func TestFaultControlsWorkOnEveryKind(t *testing.T) {
	for _, kind := range []string{RedisKindContainer, RedisKindProcess} {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			requireRedisKind(t, kind)
			began := time.Now()
			srv := startDedicatedRedis(t, kind)
			t.Logf("%s ready in %s", srv, time.Since(began).Round(time.Millisecond))
			require.Equal(t, kind, srv.Kind())
			addr := srv.Addr()
			c := RedisClient(t, srv)
			require.NoError(t, redisPing(c, 2*time.Second))

			srv.Stop(t)
			require.Error(t, redisPing(c, time.Second), "a stopped server answers nothing")

			srv.Start(t)
			require.Equal(t, addr, srv.Addr(), "Start keeps the address")
			require.NoError(t, redisPing(c, 2*time.Second))

			srv.Pause(t)
			began = time.Now()
			err := redisPing(c, 300*time.Millisecond)
			require.Error(t, err, "a paused server answers nothing")
			var ne net.Error
			require.True(t, errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()),
				"want a timeout, got %v", err)
			require.Less(t, time.Since(began), 3*time.Second)

			srv.Unpause(t)
			require.NoError(t, redisPing(c, 2*time.Second))

			// Stop while paused, then Start: the controls compose.
			srv.Pause(t)
			srv.Stop(t)
			srv.Start(t)
			require.NoError(t, redisPing(c, 2*time.Second))
		})
	}
}

// A paused container must not be paused in the engine's eyes: the engine keeps
// that flag from an event queue as well as from the call, and a stale resume event
// can clear it while the container stays frozen, after which Unpause and Stop are
// refused. See TestRegression_RedisFaultControlsHoldOverRapidPauseCycles.
func TestContainerPauseLeavesTheEnginesStateAlone(t *testing.T) {
	requireRedisKind(t, RedisKindContainer)
	srv := startDedicatedRedis(t, RedisKindContainer)
	cr, ok := srv.backend.(*containerRedis)
	require.True(t, ok, "backend %T", srv.backend)
	c := RedisClient(t, srv)
	inspect := func() container.State {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), redisDockerOpTimeout)
		defer cancel()
		res, err := cr.cli.ContainerInspect(ctx, cr.c.GetContainerID(), client.ContainerInspectOptions{})
		require.NoError(t, err)
		return *res.Container.State
	}

	srv.Pause(t)
	require.Error(t, redisPing(c, 200*time.Millisecond), "a paused server answers nothing")
	st := inspect()
	require.False(t, st.Paused, "the engine must not hold a paused flag for the container")
	require.True(t, st.Running)
	stopped, err := cr.allStopped(context.Background())
	require.NoError(t, err)
	require.True(t, stopped, "every process of a paused container is stopped")

	srv.Unpause(t)
	require.NoError(t, redisPing(c, 2*time.Second))
	stopped, err = cr.allStopped(context.Background())
	require.NoError(t, err)
	require.False(t, stopped)
}

func TestRedisWithFaultsGivesADedicatedServer(t *testing.T) {
	srv := RedisWithFaults(t)
	require.NotEqual(t, RedisKindURL, srv.Kind())
	require.NoError(t, redisPing(RedisClient(t, srv), 2*time.Second))
	if shared := Redis(t); shared.Kind() != RedisKindURL {
		require.NotEqual(t, shared.Addr(), srv.Addr())
	}
}

func TestSharedRedisRefusesFaults(t *testing.T) {
	srv := Redis(t)
	ft := runRecording(t, func(tb testing.TB) { srv.Stop(tb) })
	require.True(t, ft.failed)
	require.Contains(t, ft.msg, "RedisWithFaults")
	require.NoError(t, redisPing(RedisClient(t, srv), 2*time.Second), "the shared server still runs")
}

func TestURLKindReachesTheServerAndDeletesPrefixedKeys(t *testing.T) {
	requireRedisKind(t, RedisKindProcess)
	backing := startDedicatedRedis(t, RedisKindProcess)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(t, RedisClient(t, backing).ConfigSet(ctx, "requirepass", "s3cret").Err())
	env := map[string]string{EnvRedisURL: "redis://:s3cret@" + backing.Addr() + "/3"}

	srv, err := startRedis(ctx, RedisKindURL, false, func(k string) string { return env[k] })
	require.NoError(t, err)
	require.Equal(t, RedisKindURL, srv.Kind())
	require.Equal(t, backing.Addr(), srv.Addr())
	require.Equal(t, env[EnvRedisURL], srv.URL())
	require.NotContains(t, srv.String(), "s3cret", "logs never show the password")

	c := RedisClient(t, srv)
	var prefix string
	t.Run("writes", func(t *testing.T) {
		prefix = srv.Prefix(t)
		require.NoError(t, c.Set(ctx, prefix+"a", "1", 0).Err())
		require.NoError(t, c.Set(ctx, prefix+"b", "2", 0).Err())
		require.NoError(t, c.Set(ctx, "other", "3", 0).Err())
	})
	keys, err := c.Keys(ctx, "*").Result()
	require.NoError(t, err)
	require.Equal(t, []string{"other"}, keys, "the prefix's keys are gone once its test ended")

	for _, bad := range []string{"http://nope", "redis://:n0tit@" + backing.Addr() + "/3"} {
		env[EnvRedisURL] = bad
		short, cancel := context.WithTimeout(ctx, time.Second)
		_, err = startRedis(short, RedisKindURL, false, func(k string) string { return env[k] })
		cancel()
		require.ErrorContains(t, err, EnvRedisURL)
		require.NotContains(t, err.Error(), "n0tit", "errors never show the password")
	}
}

func TestPickKind(t *testing.T) {
	ok := func() error { return nil }
	no := func() error { return errors.New("absent") }
	tests := []struct {
		name       string
		mode       string
		faults     bool
		av         redisAvailability
		kind       string
		missing    string // substring of the reason, when no kind fits
		wantErrStr string
	}{
		{name: "a URL wins in auto mode", av: redisAvailability{url: "redis://x", container: ok, process: ok}, kind: RedisKindURL},
		{name: "a container comes next", av: redisAvailability{container: ok, process: ok}, kind: RedisKindContainer},
		{name: "a process comes last", av: redisAvailability{container: no, process: ok}, kind: RedisKindProcess},
		{name: "nothing gives a how-to", av: redisAvailability{container: no, process: no}, missing: EnvRedisURL},
		{name: "faults never take the URL", faults: true, av: redisAvailability{url: "redis://x", container: no, process: ok}, kind: RedisKindProcess},
		{name: "faults with only a URL have no server", faults: true, av: redisAvailability{url: "redis://x", container: no, process: no}, missing: "fault controls"},
		{name: "process mode skips the container", mode: "process", av: redisAvailability{container: ok, process: ok}, kind: RedisKindProcess},
		{name: "container mode needs docker", mode: "container", av: redisAvailability{container: no, process: ok}, missing: "no Docker engine"},
		{name: "url mode needs the URL", mode: "url", av: redisAvailability{container: ok, process: ok}, missing: "is not set"},
		{name: "url mode has no faults", mode: "URL", faults: true, av: redisAvailability{url: "redis://x"}, missing: "fault controls"},
		{name: "an unknown mode is an error", mode: "cluster", av: redisAvailability{}, wantErrStr: "want auto"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			kind, missing, err := pickRedisKind(tc.mode, tc.faults, tc.av)
			if tc.wantErrStr != "" {
				require.ErrorContains(t, err, tc.wantErrStr)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.kind, kind)
			if tc.missing == "" {
				require.Empty(t, missing)
			} else {
				require.Contains(t, missing, tc.missing)
			}
		})
	}
}

func TestUnavailableSkipsButFailsUnderCI(t *testing.T) {
	for _, ci := range []string{"", "false", "true", "1"} {
		t.Run("CI="+ci, func(t *testing.T) {
			env := func(k string) string { return map[string]string{redisEnvCI: ci}[k] }
			ft := runRecording(t, func(tb testing.TB) { redisUnavailable(tb, env, "no Redis here") })
			wantFail := ci == "true" || ci == "1"
			require.Equal(t, wantFail, ft.failed)
			require.Equal(t, !wantFail, ft.skipped)
			require.Contains(t, ft.msg, "no Redis here")
			require.NotContains(t, ft.msg, "\n", "one line")
		})
	}
}

func TestKeySafe(t *testing.T) {
	require.Equal(t, "TestA_b_c_d_e", redisKeySafe("TestA/b c{d}e"))
	long := redisKeySafe("Test" + strings.Repeat("x", 200))
	require.Len(t, long, redisMaxPrefixName)
	require.NotEqual(t, long, redisKeySafe("Test"+strings.Repeat("x", 201)), "long names keep apart")
}

// recordingTB records how a helper ended the test.
type recordingTB struct {
	testing.TB
	failed, skipped bool
	msg             string
}

func (f *recordingTB) Helper() {}

func (f *recordingTB) Fatal(args ...any) { f.end(&f.failed, fmt.Sprint(args...)) }

func (f *recordingTB) Fatalf(format string, args ...any) {
	f.end(&f.failed, fmt.Sprintf(format, args...))
}

func (f *recordingTB) Skipf(format string, args ...any) {
	f.end(&f.skipped, fmt.Sprintf(format, args...))
}

func (f *recordingTB) end(flag *bool, msg string) {
	*flag, f.msg = true, msg
	runtime.Goexit()
}

// runRecording runs fn on its own goroutine, as a test body, and returns what it did.
func runRecording(t *testing.T, fn func(tb testing.TB)) *recordingTB {
	f := &recordingTB{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		fn(f)
	}()
	<-done
	return f
}

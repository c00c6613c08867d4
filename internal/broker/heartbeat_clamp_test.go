package broker

import (
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
)

// TestTheHeartbeatIsClampedToAThirdOfTheNodeLifetime pins the production
// heartbeat (the tests that exercise it beat every few milliseconds): a
// node's liveness key lives 15 s and is refreshed every 5 s by default, and
// a slower heartbeat is clamped to 5 s, so the key never expires between two
// beats of a live node; a faster one is kept.
func TestTheHeartbeatIsClampedToAThirdOfTheNodeLifetime(t *testing.T) {
	assert.Equal(t, 15*time.Second, nodeTTL)
	mr := miniredis.RunT(t)
	for _, c := range []struct {
		name  string
		given time.Duration
		want  time.Duration
	}{
		{"unset: a third of the lifetime", 0, 5 * time.Second},
		{"negative: a third of the lifetime", -time.Second, 5 * time.Second},
		{"a third of the lifetime is kept", 5 * time.Second, 5 * time.Second},
		{"slower than a third: clamped", 5*time.Second + time.Millisecond, 5 * time.Second},
		{"much slower: clamped", time.Minute, 5 * time.Second},
		{"faster: kept", 50 * time.Millisecond, 50 * time.Millisecond},
	} {
		t.Run(c.name, func(t *testing.T) {
			client := redis.NewClient(&redis.Options{Addr: mr.Addr()})
			r := NewRedis(RedisOptions{Client: client, Local: &fakeHub{clients: map[string]string{}}, Heartbeat: c.given})
			t.Cleanup(func() {
				_ = r.Close()
				_ = client.Close()
			})
			assert.Equal(t, c.want, r.beat)
		})
	}
}

func TestARedisBrokerCallTimesOutAfterTwoSecondsByDefault(t *testing.T) {
	mr := miniredis.RunT(t)
	client := redis.NewClient(&redis.Options{Addr: mr.Addr()})
	r := NewRedis(RedisOptions{Client: client, Local: &fakeHub{clients: map[string]string{}}})
	t.Cleanup(func() {
		_ = r.Close()
		_ = client.Close()
	})
	assert.Equal(t, 2*time.Second, r.timeout)
	assert.Equal(t, "arqonbus:", r.prefix)
}

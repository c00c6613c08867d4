package rediskv_test

import (
	"context"
	"errors"
	"testing"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/arqonbus/arqonbus/internal/kv"
	"github.com/arqonbus/arqonbus/internal/kv/kvtest"
	"github.com/arqonbus/arqonbus/internal/kv/rediskv"
	"github.com/arqonbus/arqonbus/internal/testutil/redistest"
)

func newStore(t *testing.T, clock *kvtest.Clock) (*rediskv.Store, func(error)) {
	t.Helper()
	mr := redistest.MiniRedis(t)
	c := redis.NewClient(&redis.Options{Addr: mr.Addr()})
	t.Cleanup(func() { _ = c.Close() })
	s, err := rediskv.New(rediskv.Options{Client: c, Limits: kvtest.Limits, Clock: clock.Now})
	require.NoError(t, err)
	return s, func(err error) {
		if err == nil {
			mr.SetError("")
			return
		}
		mr.SetError(err.Error())
	}
}

func TestRedisStoreOnMiniredisMeetsTheContract(t *testing.T) {
	kvtest.Run(t, func(t *testing.T, clock *kvtest.Clock) kv.Store {
		s, _ := newStore(t, clock)
		return s
	})
}

func TestARedisFailureIsUnavailable(t *testing.T) {
	s, fail := newStore(t, kvtest.NewClock())
	fail(errors.New("LOADING Redis is loading"))
	sp := kv.Space{Tenant: "acme", Namespace: "default"}
	_, err := s.Set(context.Background(), sp, "k", []byte(`1`), 0)
	assert.ErrorIs(t, err, kv.ErrUnavailable)
	_, _, err = s.Get(context.Background(), sp, "k")
	assert.ErrorIs(t, err, kv.ErrUnavailable)
	_, err = s.List(context.Background(), sp, "", 0)
	assert.ErrorIs(t, err, kv.ErrUnavailable)
	fail(nil)
	_, err = s.Set(context.Background(), sp, "k", []byte(`1`), 0)
	assert.NoError(t, err, "answers again once Redis does")
}

func TestNewNeedsAClient(t *testing.T) {
	_, err := rediskv.New(rediskv.Options{})
	assert.Error(t, err)
}

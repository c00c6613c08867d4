package redisstore

import (
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// NewClient dials nothing: it builds a go-redis client for a redis:// or
// rediss:// URL, choosing the topology from the query, in go-redis's own
// URL conventions:
//
//	redis://[user:pass@]host:port[/db]                       one node (ParseURL)
//	redis://[user:pass@]host:port?master_name=m[&addr=h:p]   Sentinel (ParseFailoverURL;
//	                                                          host and addr are sentinels)
//	redis://[user:pass@]host:port?addr=h:p[&addr=…]          Cluster seeds (ParseClusterURL)
//	redis://[user:pass@]host:port?cluster=true               Cluster with one seed
//
// Other query parameters are go-redis options (dial_timeout, pool_size, …).
// Dial, read and write timeouts the URL leaves unset take timeout, context
// deadlines are honoured, and a failed dial is not retried within one call
// (unless dialer_retries says otherwise, where go-redis reads it). Errors never repeat the URL: it may hold
// a password.
func NewClient(rawURL string, timeout time.Duration) (redis.UniversalClient, error) {
	c, _, err := newClient(rawURL, timeout)
	return c, err
}

// Topologies newClient reports, for tests.
const (
	topoSingle   = "single"
	topoSentinel = "sentinel"
	topoCluster  = "cluster"
)

func newClient(rawURL string, timeout time.Duration) (redis.UniversalClient, string, error) {
	if rawURL == "" {
		return nil, "", errors.New("redisstore: no Redis URL")
	}
	u, err := url.Parse(rawURL)
	if err != nil {
		if uerr, ok := errors.AsType[*url.Error](err); ok {
			err = uerr.Err // *url.Error repeats the URL, password included
		}
		return nil, "", fmt.Errorf("redisstore: invalid Redis URL: %v", err)
	}
	if u.Scheme != "redis" && u.Scheme != "rediss" {
		return nil, "", fmt.Errorf("redisstore: Redis URL scheme must be redis or rediss, not %q", u.Scheme)
	}
	q := u.Query()
	cluster := false
	if v := q.Get("cluster"); v != "" {
		if cluster, err = strconv.ParseBool(v); err != nil {
			return nil, "", errors.New("redisstore: invalid Redis URL: cluster must be true or false")
		}
		q.Del("cluster")
		u.RawQuery = q.Encode()
	}
	// One dial attempt per call: a refused connection then fails fast
	// instead of spending the whole timeout on dial retries; the storage
	// policy's probe is the one that retries.
	fix := func(dial, read, write *time.Duration, ctxTimeout *bool, dialRetries, maxRetries *int) {
		for _, d := range []*time.Duration{dial, read, write} {
			if *d == 0 {
				*d = timeout
			}
		}
		*ctxTimeout = true
		if *dialRetries == 0 {
			*dialRetries = 1
		}
		// No command retries either (go-redis retries 3 times by default):
		// with Redis down a strict write is refused at once instead of after
		// several reconnect attempts. max_retries in the URL overrides it.
		if *maxRetries == 0 {
			*maxRetries = -1
		}
	}
	bad := func(err error) error { return fmt.Errorf("redisstore: invalid Redis URL: %v", err) }
	switch {
	case q.Has("master_name"):
		o, err := redis.ParseFailoverURL(u.String())
		if err != nil {
			return nil, "", bad(err)
		}
		fix(&o.DialTimeout, &o.ReadTimeout, &o.WriteTimeout, &o.ContextTimeoutEnabled, &o.DialerRetries, &o.MaxRetries)
		return redis.NewFailoverClient(o), topoSentinel, nil
	case cluster || q.Has("addr"):
		o, err := redis.ParseClusterURL(u.String())
		if err != nil {
			return nil, "", bad(err)
		}
		fix(&o.DialTimeout, &o.ReadTimeout, &o.WriteTimeout, &o.ContextTimeoutEnabled, &o.DialerRetries, &o.MaxRetries)
		return redis.NewClusterClient(o), topoCluster, nil
	default:
		o, err := redis.ParseURL(u.String())
		if err != nil {
			return nil, "", bad(err)
		}
		fix(&o.DialTimeout, &o.ReadTimeout, &o.WriteTimeout, &o.ContextTimeoutEnabled, &o.DialerRetries, &o.MaxRetries)
		return redis.NewClient(o), topoSingle, nil
	}
}

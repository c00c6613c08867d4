package broker

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/arqonbus/arqonbus/internal/batcher"
	"github.com/arqonbus/arqonbus/internal/metrics"
	"github.com/arqonbus/arqonbus/internal/protocol"
)

// Redis shares deliveries between nodes over Redis pub/sub. Every node
// subscribes to one channel and hands what other nodes publish to its hub;
// the publishing node delivers locally first and never twice. Presence of
// clients (for direct messages across nodes) lives in Redis keys that name
// the node, and a node is believed only while its liveness key exists.
// Presence keys share the liveness key's lifetime and are renewed with it,
// so a node that dies without deleting them (SIGKILL, a lost host) leaves
// them behind for at most one lifetime.
//
// Redis failures never stop local delivery: they are logged and counted
// (arqonbus_failures_total), and the cluster view degrades to this node.
type Redis struct {
	client  redis.UniversalClient
	local   Local
	node    string
	prefix  string
	log     *slog.Logger
	m       *metrics.Metrics
	timeout time.Duration
	beat    time.Duration
	ttl     time.Duration // lifetime of the liveness and presence keys

	sub      *redis.PubSub
	self     string // how this node's own pub/sub bodies begin
	outbox   chan []byte
	presence chan presenceOp
	failing  sync.Map // op → *atomic.Bool: a failure episode is under way
	cancel   context.CancelFunc
	wg       sync.WaitGroup
	once     sync.Once
}

var _ Broker = (*Redis)(nil)

// RedisOptions configures NewRedis.
type RedisOptions struct {
	Client redis.UniversalClient
	Local  Local
	// Prefix namespaces keys and the channel (default "arqonbus:").
	Prefix string
	// Timeout bounds each Redis call (default 2 s).
	Timeout time.Duration
	Logger  *slog.Logger
	// Metrics counts every swallowed Redis failure by operation
	// (arqonbus_failures_total{op}). Default: a private registry.
	Metrics *metrics.Metrics
	// Heartbeat is how often the node's liveness key and its clients'
	// presence keys are refreshed (default, and at most, a third of
	// Lifetime).
	Heartbeat time.Duration
	// Lifetime is how long the liveness and presence keys live without a
	// refresh (default 15 s): the longest a dead node's clients stay in
	// Redis.
	Lifetime time.Duration
}

// presenceQueue bounds queued presence updates.
const presenceQueue = 1 << 16

// outboxSize bounds messages waiting to be published to the other nodes.
const outboxSize = 1 << 14

// nodeTTL is how long a node's liveness key and its clients' presence keys
// live without a refresh, by default; the heartbeat refreshes them three
// times per TTL.
const nodeTTL = 15 * time.Second

// maxRefreshBatch bounds the presence keys one refresh pipeline renews: a
// node of 19,000 clients renews them in 19 round trips per beat.
const maxRefreshBatch = 1000

// NewRedis subscribes to the cluster channel and starts the receive and
// heartbeat goroutines; Close stops them.
func NewRedis(o RedisOptions) *Redis {
	if o.Prefix == "" {
		o.Prefix = "arqonbus:"
	}
	if o.Timeout <= 0 {
		o.Timeout = 2 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Metrics == nil {
		o.Metrics = metrics.New(nil)
	}
	if o.Lifetime <= 0 {
		o.Lifetime = nodeTTL
	}
	if o.Heartbeat <= 0 || o.Heartbeat > o.Lifetime/3 {
		o.Heartbeat = o.Lifetime / 3
	}
	var id [8]byte
	_, _ = rand.Read(id[:])
	ctx, cancel := context.WithCancel(context.Background())
	r := &Redis{
		client: o.Client, local: o.Local, node: hex.EncodeToString(id[:]), prefix: o.Prefix,
		log: o.Logger, m: o.Metrics, timeout: o.Timeout, beat: o.Heartbeat, ttl: o.Lifetime, cancel: cancel,
		presence: make(chan presenceOp, presenceQueue),
		outbox:   make(chan []byte, outboxSize),
	}
	r.self = string(appendNode(nil, r.node))
	r.sub = r.client.Subscribe(ctx, r.channel())
	r.wg.Add(5)
	go r.receive(ctx)
	go r.heartbeat(ctx)
	go r.refreshPresence(ctx)
	go r.writePresence(ctx)
	go r.send(ctx)
	return r
}

func (r *Redis) channel() string         { return r.prefix + "bus" }
func (r *Redis) nodeKey(n string) string { return r.prefix + "node:" + n }
func (r *Redis) presenceKey(tenant, id string) string {
	return r.prefix + "presence:" + escapePart(tenant) + ":" + id
}

// escapePart keeps a tenant name from forging another key's shape.
func escapePart(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// message is the pub/sub body: routing plus the encoded frame, verbatim.
type message struct {
	Node     string          `json:"n"`
	Tenant   string          `json:"t,omitempty"`
	Room     string          `json:"r,omitempty"`
	Channel  string          `json:"c,omitempty"`
	ToClient string          `json:"to,omitempty"`
	SenderID string          `json:"s,omitempty"`
	Frame    json.RawMessage `json:"f"`
}

// Publish delivers d locally, then queues it for the other nodes. The
// sender never waits on Redis: one goroutine publishes the queue in order
// (pipelined), and a full queue drops the remote copy, counted and logged.
func (r *Redis) Publish(_ context.Context, d *Delivery) (int, error) {
	n := r.local.Deliver(d)
	select {
	case r.outbox <- appendMessage(getMessageBuf(), r.node, d):
	default:
		r.fail(metrics.FailBrokerPublish, errors.New("outbox full; the other nodes miss this message"))
	}
	return n, nil
}

// maxSendBatch and maxPresenceBatch bound the messages and presence
// updates one pipeline carries.
const (
	maxSendBatch     = 128
	maxPresenceBatch = 256
)

// send publishes queued messages in order, in pipelined batches.
func (r *Redis) send(ctx context.Context) {
	defer r.wg.Done()
	batcher.Run(ctx.Done(), r.outbox, maxSendBatch, func(batch [][]byte) {
		r.call(ctx, metrics.FailBrokerPublish, func(ctx context.Context) error {
			_, err := r.client.Pipelined(ctx, func(p redis.Pipeliner) error {
				for _, m := range batch {
					p.Publish(ctx, r.channel(), m)
				}
				return nil
			})
			return err
		})
		putMessageBufs(batch) // written (or dropped with the connection): free to reuse
	})
}

// appendNode writes the start of a pub/sub body, which names its node.
// The comma that follows keeps one node's start from being a prefix of
// another's.
func appendNode(b []byte, node string) []byte {
	b = append(b, `{"n":`...)
	b = protocol.AppendString(b, node)
	return append(b, ',')
}

func appendMessage(b []byte, node string, d *Delivery) []byte {
	b = appendNode(b, node)
	for _, f := range [...]struct{ k, v string }{
		{`"t":`, d.Tenant}, {`"r":`, d.Room}, {`"c":`, d.Channel}, {`"to":`, d.ToClient}, {`"s":`, d.SenderID},
	} {
		if f.v != "" {
			b = append(b, f.k...)
			b = protocol.AppendString(b, f.v)
			b = append(b, ',')
		}
	}
	b = append(b, `"f":`...)
	b = append(b, d.Frame...)
	return append(b, '}')
}

func (r *Redis) receive(ctx context.Context) {
	defer r.wg.Done()
	ch := r.sub.Channel(redis.WithChannelSize(4096))
	for {
		select {
		case <-ctx.Done():
			return
		case m, ok := <-ch:
			if !ok {
				return
			}
			if strings.HasPrefix(m.Payload, r.self) {
				// Delivered locally when published. Every node hears its
				// own publishes; skipping them before decoding keeps a
				// single node from paying a JSON decode per message.
				continue
			}
			var msg message
			if err := json.Unmarshal([]byte(m.Payload), &msg); err != nil {
				r.fail(metrics.FailBrokerDecode, err)
				continue
			}
			if msg.Node == r.node {
				continue // ours, though not in appendMessage's spelling
			}
			r.local.Deliver(&Delivery{
				Tenant: msg.Tenant, Room: msg.Room, Channel: msg.Channel,
				ToClient: msg.ToClient, SenderID: msg.SenderID, Frame: msg.Frame,
			})
		}
	}
}

func (r *Redis) heartbeat(ctx context.Context) {
	defer r.wg.Done()
	t := time.NewTicker(r.beat)
	defer t.Stop()
	for {
		r.call(ctx, metrics.FailBrokerHeartbeat, func(ctx context.Context) error {
			err := r.client.SetArgs(ctx, r.nodeKey(r.node), "1", redis.SetArgs{TTL: r.ttl, Get: true}).Err()
			if errors.Is(err, redis.Nil) {
				// The node key was missing: first beat, or Redis lost its
				// data (restart without persistence, failover). Announce
				// every local client again so other nodes can reach them.
				r.local.EachClient(func(tenant, id string) { r.Connected(tenant, id) })
				return nil
			}
			return err
		})
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// refreshPresence renews the presence keys of this node's clients every
// beat, so they live as long as the node does. One goroutine renews them
// all, in pipelined batches of PEXPIRE: a renewal never recreates a key that
// a disconnect deleted. A key found missing while its client is still here
// (a dropped update, an eviction, another node's stale delete) is written
// again through the presence queue, so the delete of a disconnect that
// follows still comes after it. A failed batch ends the round: the next
// beat tries again, and the keys outlive two missed beats.
func (r *Redis) refreshPresence(ctx context.Context) {
	defer r.wg.Done()
	t := time.NewTicker(r.beat)
	defer t.Stop()
	var clients []presentClient
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		clients = clients[:0]
		r.local.EachClient(func(tenant, id string) { clients = append(clients, presentClient{tenant, id}) })
		for start := 0; start < len(clients); start += maxRefreshBatch {
			if !r.refreshBatch(ctx, clients[start:min(start+maxRefreshBatch, len(clients))]) {
				break
			}
		}
		clear(clients) // drop the strings until the next round
	}
}

type presentClient struct{ tenant, id string }

// refreshBatch renews the presence keys of batch in one pipeline and reports
// whether Redis answered.
func (r *Redis) refreshBatch(ctx context.Context, batch []presentClient) bool {
	var renewed []*redis.BoolCmd
	err := r.call(ctx, metrics.FailBrokerPresence, func(ctx context.Context) error {
		renewed = renewed[:0]
		_, err := r.client.Pipelined(ctx, func(p redis.Pipeliner) error {
			for _, c := range batch {
				renewed = append(renewed, p.PExpire(ctx, r.presenceKey(c.tenant, c.id), r.ttl))
			}
			return nil
		})
		return err
	})
	if err != nil {
		return false
	}
	for i, cmd := range renewed {
		if c := batch[i]; !cmd.Val() && r.local.HasClient(c.tenant, c.id) {
			r.Connected(c.tenant, c.id)
		}
	}
	return true
}

// Connected records that a client of tenant is served by this node. The
// write is queued, so a slow or absent Redis never delays a handshake.
func (r *Redis) Connected(tenant, id string) {
	r.queuePresence(presenceOp{key: r.presenceKey(tenant, id), set: true})
}

// Disconnected forgets a client's presence (queued like Connected).
func (r *Redis) Disconnected(tenant, id string) {
	r.queuePresence(presenceOp{key: r.presenceKey(tenant, id)})
}

type presenceOp struct {
	key string
	set bool
}

func (r *Redis) queuePresence(op presenceOp) {
	select {
	case r.presence <- op:
	default:
		r.fail(metrics.FailBrokerPresence, errors.New("presence queue full; update dropped"))
	}
}

// writePresence applies queued presence updates in pipelined batches.
func (r *Redis) writePresence(ctx context.Context) {
	defer r.wg.Done()
	batcher.Run(ctx.Done(), r.presence, maxPresenceBatch, func(batch []presenceOp) {
		r.call(ctx, metrics.FailBrokerPresence, func(ctx context.Context) error {
			_, err := r.client.Pipelined(ctx, func(p redis.Pipeliner) error {
				for _, op := range batch {
					if op.set {
						p.Set(ctx, op.key, r.node, r.ttl)
					} else {
						p.Del(ctx, op.key)
					}
				}
				return nil
			})
			return err
		})
	})
}

// HasClient asks the local hub, then the presence keys; a client is present
// on another node only while that node's liveness key exists. When Redis
// cannot answer, only local clients count.
func (r *Redis) HasClient(ctx context.Context, tenant, id string) (bool, error) {
	if r.local.HasClient(tenant, id) {
		return true, nil
	}
	ctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	node, err := r.client.Get(ctx, r.presenceKey(tenant, id)).Result()
	if errors.Is(err, redis.Nil) {
		return false, nil
	}
	if err != nil {
		r.fail(metrics.FailBrokerPresence, err)
		return false, nil
	}
	n, err := r.client.Exists(ctx, r.nodeKey(node)).Result()
	if err != nil {
		r.fail(metrics.FailBrokerPresence, err)
		return false, nil
	}
	return n == 1, nil
}

// call runs f under the Redis timeout, counts and logs its failure under op
// (a canceled call is shutdown, not a failure) and returns its error.
func (r *Redis) call(ctx context.Context, op string, f func(context.Context) error) error {
	ctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	err := f(ctx)
	switch {
	case err == nil:
		r.ok(op)
	case !errors.Is(err, context.Canceled):
		r.fail(op, err)
	}
	return err
}

// fail counts every failure of op but logs only the first of an episode,
// so an outage is one WARN line per operation, not one per message.
func (r *Redis) fail(op string, err error) {
	r.m.Fail(op)
	if r.episode(op).CompareAndSwap(false, true) {
		r.log.Warn("cluster broker failing; delivery continues on this node (further failures are counted in arqonbus_failures_total)",
			"op", op, "err", err)
	}
}

// ok ends a failure episode of op.
func (r *Redis) ok(op string) {
	if r.episode(op).CompareAndSwap(true, false) {
		r.log.Warn("cluster broker recovered", "op", op)
	}
}

func (r *Redis) episode(op string) *atomic.Bool {
	v, _ := r.failing.LoadOrStore(op, new(atomic.Bool))
	return v.(*atomic.Bool)
}

// Close unsubscribes, removes this node's liveness key and stops the
// goroutines. It does not close the client, which the caller owns.
func (r *Redis) Close() error {
	r.once.Do(func() {
		r.cancel()
		_ = r.sub.Close()
		r.wg.Wait()
		ctx, cancel := context.WithTimeout(context.Background(), r.timeout)
		defer cancel()
		_ = r.client.Del(ctx, r.nodeKey(r.node)).Err()
	})
	return nil
}

// Message buffers are reused once their pipeline has been written: each
// publish would otherwise make a frame-sized buffer of garbage.
var messageBufs sync.Pool

// maxPooledMessage keeps buffers of huge frames out of the pool, bytes.
const maxPooledMessage = 64 << 10

func getMessageBuf() []byte {
	if b, ok := messageBufs.Get().(*[]byte); ok {
		return (*b)[:0]
	}
	return make([]byte, 0, 1024)
}

func putMessageBufs(batch [][]byte) {
	for i, m := range batch {
		if cap(m) <= maxPooledMessage {
			m = m[:0]
			messageBufs.Put(&m)
		}
		batch[i] = nil
	}
}

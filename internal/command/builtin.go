package command

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/arqonbus/arqonbus/internal/auth"
	"github.com/arqonbus/arqonbus/internal/bus"
	"github.com/arqonbus/arqonbus/internal/config"
	"github.com/arqonbus/arqonbus/internal/protocol"
	"github.com/arqonbus/arqonbus/internal/store"
)

// list_channels pages: a reply holds at most maxListChannelsLimit pairs
// (and never more than MaxReplyBytes), so its cost is bounded whatever the
// tenant holds.
const (
	defaultListChannelsLimit = 100
	maxListChannelsLimit     = 500
)

var (
	argRoom    = Arg{Name: "room", Type: ArgString, Required: true, Description: `room name, or "room:channel"`}
	argChannel = Arg{Name: "channel", Type: ArgString, Description: "channel name (required unless room is room:channel)"}
)

func (r *Registry) builtins() []*Command {
	return []*Command{
		{Name: "ping", Summary: "liveness check", Role: auth.RoleGuest, Handler: r.ping},
		{Name: "status", Summary: "server status, with your tenant's connections, rooms and channels", Role: auth.RoleGuest, Handler: r.status},
		{Name: "whoami", Summary: "this connection's identity and subscriptions", Role: auth.RoleGuest, Handler: r.whoami},
		{Name: "join_channel", Summary: "join a room and channel", Role: auth.RoleUser,
			Args: []Arg{argRoom, argChannel}, Handler: r.join},
		{Name: "leave_channel", Summary: "leave a room and channel", Role: auth.RoleUser,
			Args: []Arg{argRoom, argChannel}, Handler: r.leave},
		{Name: "list_channels", Summary: "rooms and channels of your tenant with member counts, one page at a time", Role: auth.RoleUser,
			Args: []Arg{{Name: "room", Type: ArgString, Description: "only this room"},
				{Name: "limit", Type: ArgInteger, Description: fmt.Sprintf("1-%d, default %d", maxListChannelsLimit, defaultListChannelsLimit)},
				{Name: "after", Type: ArgString, Description: "the next of the previous page: continue after it"}},
			Handler: r.listChannels},
		{Name: "channel_info", Summary: "members and stored message count of a room and channel", Role: auth.RoleUser,
			Args: []Arg{argRoom, argChannel}, Handler: r.channelInfo},
		{Name: "history", Summary: "the newest messages of a room and channel, oldest first", Role: auth.RoleUser,
			Args: []Arg{argRoom, argChannel,
				{Name: "limit", Type: ArgInteger, Description: fmt.Sprintf("1-%d, default %d", store.MaxHistoryLimit, store.DefaultHistoryLimit)},
				{Name: "since", Type: ArgString, Description: "only messages after this message id or RFC 3339 time"},
				{Name: "before", Type: ArgString, Description: "only messages before this message id or RFC 3339 time"}},
			Handler: r.history},
		{Name: "op.store.set", Summary: "store a JSON value under a key in your tenant", Role: auth.RoleUser,
			Args: []Arg{argKey, {Name: "value", Type: ArgAny, Required: true, Description: "any JSON value but null, up to " + config.VarStoreMaxValueBytes + " bytes as sent"},
				argNamespace, {Name: "ttl_seconds", Type: ArgInteger, Description: fmt.Sprintf("expire the key after this many seconds, 1-%d; absent keeps it", maxKVTTLSeconds)}},
			Handler: r.kvSet},
		{Name: "op.store.get", Summary: "read a key of your tenant", Role: auth.RoleUser,
			Args: []Arg{argKey, argNamespace}, Handler: r.kvGet},
		{Name: "op.store.delete", Summary: "delete a key of your tenant", Role: auth.RoleUser,
			Args: []Arg{argKey, argNamespace}, Handler: r.kvDelete},
		{Name: "op.store.list", Summary: "the keys of a namespace of your tenant, sorted", Role: auth.RoleUser,
			Args: []Arg{argNamespace, {Name: "prefix", Type: ArgString, Description: "only keys starting with this"},
				{Name: "limit", Type: ArgInteger, Description: fmt.Sprintf("1-%d, default %d", maxKVListLimit, defaultKVListLimit)}},
			Handler: r.kvList},
		{Name: "help", Summary: "the command catalogue", Role: auth.RoleGuest,
			Args: []Arg{{Name: "command", Type: ArgString, Description: "describe only this command"}}, Handler: r.help},
	}
}

func (r *Registry) ping(_ context.Context, req *Request) (string, any, error) {
	return "pong", map[string]any{
		"pong":        true,
		"client_id":   req.Caller.ClientID,
		"server_time": protocol.FormatTimestamp(r.deps.Clock()),
	}, nil
}

// status answers the node's snapshot with connections, rooms and channels
// counted for the caller's tenant only (GET /status keeps the node totals):
// one tenant does not learn another's activity. The counts are the hub's
// per-tenant counters, so the answer costs the same however many pairs
// the node holds.
func (r *Registry) status(_ context.Context, req *Request) (string, any, error) {
	st := r.deps.Status()
	st.Connections, st.Rooms, st.Channels = r.deps.Hub.TenantStats(req.Caller.Tenant)
	st.HistoryRooms, st.HistoryBytes = 0, 0
	if r.deps.TenantHistory != nil {
		st.HistoryRooms, st.HistoryBytes = r.deps.TenantHistory(req.Caller.Tenant)
	}
	return "ok", st, nil
}

type pair struct {
	Room    string `json:"room"`
	Channel string `json:"channel"`
}

func (r *Registry) whoami(_ context.Context, req *Request) (string, any, error) {
	subs := []pair{}
	for _, t := range r.deps.Hub.Subscriptions(req.Caller.ClientID) {
		subs = append(subs, pair{t.Room, t.Channel})
	}
	return "ok", map[string]any{
		"client_id":     req.Caller.ClientID,
		"subject":       req.Caller.Subject,
		"tenant_id":     req.Caller.Tenant,
		"role":          req.Caller.Role.String(),
		"subscriptions": subs,
	}, nil
}

// topic reads room and channel, accepting "room:channel" in room (split at
// the first colon) when channel is absent.
func (req *Request) topic() (bus.Topic, error) {
	room, channel := req.String("room"), req.String("channel")
	if !req.Has("channel") {
		var ok bool
		room, channel, ok = strings.Cut(room, ":")
		if !ok {
			return bus.Topic{}, protocol.ValidationError(`args.channel is required (or pass room as "room:channel")`)
		}
	}
	var problems []string
	if msg := protocol.CheckName(room); msg != "" {
		problems = append(problems, "room "+msg)
	}
	if msg := protocol.CheckName(channel); msg != "" {
		problems = append(problems, "channel "+msg)
	}
	if len(problems) > 0 {
		return bus.Topic{}, protocol.ValidationError(problems...)
	}
	return bus.Topic{Tenant: req.Caller.Tenant, Room: room, Channel: channel}, nil
}

func (r *Registry) join(_ context.Context, req *Request) (string, any, error) {
	t, err := req.topic()
	if err != nil {
		return "", nil, err
	}
	n, err := r.deps.Hub.Join(req.Caller.ClientID, t)
	if err != nil {
		return "", nil, err
	}
	return fmt.Sprintf("joined %s:%s", t.Room, t.Channel),
		map[string]any{"room": t.Room, "channel": t.Channel, "members": n}, nil
}

func (r *Registry) leave(_ context.Context, req *Request) (string, any, error) {
	t, err := req.topic()
	if err != nil {
		return "", nil, err
	}
	n, err := r.deps.Hub.Leave(req.Caller.ClientID, t)
	if err != nil {
		return "", nil, err
	}
	return fmt.Sprintf("left %s:%s", t.Room, t.Channel),
		map[string]any{"room": t.Room, "channel": t.Channel, "members": n}, nil
}

// listChannels answers one page of the caller's tenant's pairs in (room,
// channel) order: {channels, more, next?}. When more is true, next is the
// cursor to pass as after for the following page. A page stops early when
// it would exceed MaxReplyBytes.
func (r *Registry) listChannels(_ context.Context, req *Request) (string, any, error) {
	q := bus.ChannelQuery{Tenant: req.Caller.Tenant, Room: req.String("room"),
		Limit: int(req.Int("limit", defaultListChannelsLimit))}
	var problems []string
	if req.Has("room") {
		if msg := protocol.CheckName(q.Room); msg != "" {
			problems = append(problems, "room "+msg)
		}
	}
	if q.Limit < 1 || q.Limit > maxListChannelsLimit {
		problems = append(problems, fmt.Sprintf("args.limit must be 1-%d", maxListChannelsLimit))
	}
	if req.Has("after") {
		after, ok := decodeChannelCursor(req.String("after"))
		if !ok {
			problems = append(problems, "args.after must be the next of a previous list_channels reply")
		}
		q.After = &after
	}
	if len(problems) > 0 {
		return "", nil, protocol.ValidationError(problems...)
	}
	page := r.deps.Hub.ListChannels(q)
	if n := r.fitChannels(page.Channels); n < len(page.Channels) {
		page.Channels, page.More = page.Channels[:n], true
	}
	if page.Channels == nil {
		page.Channels = []bus.ChannelInfo{} // a list, never null
	}
	data := map[string]any{"channels": page.Channels, "more": page.More}
	if page.More {
		last := page.Channels[len(page.Channels)-1]
		data["next"] = encodeChannelCursor(bus.Pair{Room: last.Room, Channel: last.Channel})
	}
	return fmt.Sprintf("%d channels", len(page.Channels)), data, nil
}

// fitChannels returns how many of list fit in MaxReplyBytes (at least one).
// It counts each pair at the most its JSON can take, every name byte
// escaped as \u00XX, so the page fits whatever the names hold.
func (r *Registry) fitChannels(list []bus.ChannelInfo) int {
	if r.deps.MaxReplyBytes <= 0 {
		return len(list)
	}
	const perPair = len(`{"room":"","channel":"","members":-9223372036854775808},`)
	total := 0
	for i, c := range list {
		if total += perPair + 6*(len(c.Room)+len(c.Channel)); i > 0 && total > r.deps.MaxReplyBytes {
			return i
		}
	}
	return len(list)
}

// encodeChannelCursor and decodeChannelCursor spell a list_channels cursor:
// room and channel joined by a NUL (names never hold control characters),
// base64url without padding so it is one opaque JSON-safe word.
func encodeChannelCursor(p bus.Pair) string {
	return base64.RawURLEncoding.EncodeToString([]byte(p.Room + "\x00" + p.Channel))
}

func decodeChannelCursor(s string) (bus.Pair, bool) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return bus.Pair{}, false
	}
	room, channel, ok := strings.Cut(string(b), "\x00")
	if !ok || protocol.CheckName(room) != "" || protocol.CheckName(channel) != "" {
		return bus.Pair{}, false
	}
	return bus.Pair{Room: room, Channel: channel}, true
}

func (r *Registry) channelInfo(ctx context.Context, req *Request) (string, any, error) {
	t, err := req.topic()
	if err != nil {
		return "", nil, err
	}
	members := r.deps.Hub.Members(t)
	data := map[string]any{
		"room": t.Room, "channel": t.Channel,
		"members": members, "member_count": len(members),
	}
	if r.deps.Store != nil {
		n, err := r.deps.Store.Count(ctx, storeKey(t))
		if err != nil {
			return "", nil, storageError(err)
		}
		data["message_count"] = n
	}
	return "ok", data, nil
}

func (r *Registry) history(ctx context.Context, req *Request) (string, any, error) {
	t, err := req.topic()
	if err != nil {
		return "", nil, err
	}
	if r.deps.Store == nil {
		return "", nil, protocol.NewError(protocol.CodeFeatureDisabled,
			"history is off: persistence is disabled ("+config.VarEnablePersistence+"=false)")
	}
	q := store.Query{Limit: int(req.Int("limit", store.DefaultHistoryLimit))}
	var problems []string
	if q.Limit < 1 || q.Limit > store.MaxHistoryLimit {
		problems = append(problems, fmt.Sprintf("args.limit must be 1-%d", store.MaxHistoryLimit))
	}
	if req.Has("since") {
		if err := parseBound(req.String("since"), &q.SinceID, &q.SinceTime); err != nil {
			problems = append(problems, "args.since "+err.Error())
		}
	}
	if req.Has("before") {
		if err := parseBound(req.String("before"), &q.BeforeID, &q.BeforeTime); err != nil {
			problems = append(problems, "args.before "+err.Error())
		}
	}
	if len(problems) > 0 {
		return "", nil, protocol.ValidationError(problems...)
	}
	if why := r.reads.enter(req.Caller.Tenant); why != readAdmitted {
		r.deps.Metrics.HistoryReadsRefused.Inc()
		return "", nil, r.reads.refused(why)
	}
	q.MaxBytes = r.storeBudget(q.Limit)
	page, err := r.deps.Store.History(ctx, storeKey(t), q)
	r.reads.leave(req.Caller.Tenant, pageBytes(page.Messages))
	if err != nil {
		return "", nil, storageError(err)
	}
	msgs, truncated := r.fitReply(page.Messages)
	return fmt.Sprintf("%d messages", len(msgs)), map[string]any{
		"room": t.Room, "channel": t.Channel, "messages": msgs, "complete": page.Complete,
		"truncated": truncated || page.Truncated,
	}, nil
}

// storeBudget is the Query.MaxBytes of a history read of limit messages:
// the store then reads about what the reply can carry, not a whole page of
// large messages to cut afterwards. store.Size counts a message's fields
// plus a fixed overhead, so it is at most the encoded length plus that
// overhead; allowing the overhead once per message means the store never
// cuts a page shorter than fitReply would.
func (r *Registry) storeBudget(limit int) int {
	if r.deps.MaxReplyBytes <= 0 {
		return 0
	}
	return r.deps.MaxReplyBytes + limit*store.Size(&protocol.Envelope{})
}

// fitReply encodes the page, newest messages first, until the answer would
// exceed MaxReplyBytes, and returns them oldest first. At least the newest
// message is always kept. truncated says older messages were left out: the
// client pages back with `before` set to the oldest id it got.
func (r *Registry) fitReply(page []protocol.Envelope) (msgs []json.RawMessage, truncated bool) {
	msgs = make([]json.RawMessage, 0, len(page))
	total := 0
	for i := len(page) - 1; i >= 0; i-- {
		b := protocol.Encode(&page[i])
		if r.deps.MaxReplyBytes > 0 && len(msgs) > 0 && total+len(b) > r.deps.MaxReplyBytes {
			truncated = true
			break
		}
		total += len(b)
		msgs = append(msgs, b)
	}
	slices.Reverse(msgs)
	return msgs, truncated
}

// pageBytes is what a page materialised, counted as history budgets count.
func pageBytes(msgs []protocol.Envelope) int {
	n := 0
	for i := range msgs {
		n += store.Size(&msgs[i])
	}
	return n
}

// parseBound reads a history bound: an RFC 3339 time, else a message id.
func parseBound(s string, id *string, at *time.Time) error {
	if t, err := protocol.ParseTimestamp(s); err == nil {
		*at = t
		return nil
	}
	if protocol.ValidID(s) {
		*id = s
		return nil
	}
	return errors.New("must be a message id or an RFC 3339 time")
}

func (r *Registry) help(_ context.Context, req *Request) (string, any, error) {
	// FreeArgs says the command takes any args object (its Args only
	// describe it), so a client knows unknown keys are not refused.
	type entry struct {
		Name     string `json:"name"`
		Summary  string `json:"summary"`
		Role     string `json:"role"`
		Args     []Arg  `json:"args"`
		FreeArgs bool   `json:"free_args,omitempty"`
	}
	var out []entry
	want := req.String("command")
	for _, c := range r.Catalogue() {
		if want != "" && c.Name != want {
			continue
		}
		args := c.Args
		if args == nil {
			args = []Arg{}
		}
		out = append(out, entry{c.Name, c.Summary, c.Role.String(), args, c.FreeArgs})
	}
	if want != "" && len(out) == 0 {
		return "", nil, protocol.NewError(protocol.CodeUnknownCommand, fmt.Sprintf("unknown command %q", protocol.Clip(want)))
	}
	return fmt.Sprintf("%d commands", len(out)), map[string]any{"commands": out}, nil
}

func storeKey(t bus.Topic) store.Key {
	return store.Key{Tenant: t.Tenant, Room: t.Room, Channel: t.Channel}
}

func storageError(err error) error {
	if errors.Is(err, store.ErrUnavailable) || errors.Is(err, store.ErrClosed) {
		return protocol.NewError(protocol.CodeStorageUnavailable, "storage is unavailable")
	}
	return err
}

// Package client is a small Go client for the ArqonBus protocol: dial with a
// token, send envelopes, match replies to requests by id, and receive
// deliveries with a deadline. Tests, the arqon CLI and arqonbench use it.
//
// Concurrency: a Client is safe for concurrent use. One goroutine reads the
// socket; it routes replies to waiting requests and everything else to the
// incoming queue that Recv drains.
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/gorilla/websocket"

	"github.com/arqonbus/arqonbus/internal/protocol"
)

// Options configure Dial.
type Options struct {
	// Token is sent as "Authorization: Bearer <token>" (or as ?token= when
	// QueryToken is set).
	Token      string
	QueryToken bool
	// Header adds handshake headers (e.g. Origin).
	Header http.Header
	// IncomingBuffer is the number of deliveries buffered for Recv (default
	// 4096). When it is full the reader waits, which pushes back on the
	// server like a slow consumer would.
	IncomingBuffer int
	// OnFrame, when set, receives every frame that is not a reply to a
	// pending request, raw and undecoded, instead of the Recv queue. It runs
	// on the reader goroutine and must not block. The slice is only valid
	// during the call.
	OnFrame func(data []byte)
	// Dialer defaults to a dialer with a 10 s handshake timeout.
	Dialer *websocket.Dialer
}

// HandshakeError is a refused upgrade: the HTTP status and JSON body.
type HandshakeError struct {
	Status  int
	Body    string
	Headers http.Header
}

func (e *HandshakeError) Error() string {
	return fmt.Sprintf("handshake refused: HTTP %d: %s", e.Status, e.Body)
}

// ErrClosed is returned once the connection has ended.
var ErrClosed = errors.New("connection closed")

// Client is one ArqonBus connection.
type Client struct {
	ws       *websocket.Conn
	clientID string
	welcome  *protocol.Envelope
	onFrame  func([]byte)

	writeMu sync.Mutex

	mu      sync.Mutex
	pending map[string]chan *protocol.Envelope

	incoming chan *protocol.Envelope
	// closing is closed when Close begins: from then on nobody drains the
	// incoming queue, so the reader drops deliveries instead of waiting for
	// room, and keeps reading until the server's close reply.
	closing     chan struct{}
	closingOnce sync.Once
	done        chan struct{}
	closeOnce   sync.Once
	closeCode   int
	closeText   string
	readErr     error
}

// Dial connects to url (ws://host:port/ws) and waits for the welcome frame.
func Dial(ctx context.Context, rawURL string, o Options) (*Client, error) {
	d := o.Dialer
	if d == nil {
		d = &websocket.Dialer{HandshakeTimeout: 10 * time.Second, ReadBufferSize: 16 << 10, WriteBufferSize: 16 << 10}
	}
	header := http.Header{}
	for k, v := range o.Header {
		header[k] = v
	}
	if o.Token != "" {
		if o.QueryToken {
			u, err := url.Parse(rawURL)
			if err != nil {
				return nil, err
			}
			q := u.Query()
			q.Set("token", o.Token)
			u.RawQuery = q.Encode()
			rawURL = u.String()
		} else {
			header.Set("Authorization", "Bearer "+o.Token)
		}
	}
	ws, resp, err := d.DialContext(ctx, rawURL, header)
	if err != nil {
		if resp != nil {
			body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
			_ = resp.Body.Close()
			return nil, &HandshakeError{Status: resp.StatusCode, Body: string(body), Headers: resp.Header}
		}
		return nil, err
	}
	if o.IncomingBuffer <= 0 {
		o.IncomingBuffer = 4096
	}
	c := &Client{
		ws:       ws,
		onFrame:  o.OnFrame,
		pending:  make(map[string]chan *protocol.Envelope),
		incoming: make(chan *protocol.Envelope, o.IncomingBuffer),
		closing:  make(chan struct{}),
		done:     make(chan struct{}),
	}
	if err := c.readWelcome(ctx); err != nil {
		_ = ws.Close()
		return nil, err
	}
	go c.readLoop()
	return c, nil
}

// readWelcome reads the first frame within ctx: its deadline bounds the
// read, and its cancellation (Ctrl-C in the CLI) ends the read at once, so a
// peer that upgrades but never greets cannot hold the caller.
func (c *Client) readWelcome(ctx context.Context) error {
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Now().Add(10 * time.Second)
	}
	_ = c.ws.SetReadDeadline(deadline)
	cut := context.AfterFunc(ctx, func() { _ = c.ws.NetConn().SetReadDeadline(time.Unix(1, 0)) })
	_, data, err := c.ws.ReadMessage()
	if !cut() {
		// ctx ended during the read: the deadline may be in the past now,
		// and the caller asked to stop anyway.
		return fmt.Errorf("read welcome: %w", context.Cause(ctx))
	}
	_ = c.ws.SetReadDeadline(time.Time{})
	if err != nil {
		return fmt.Errorf("read welcome: %w", err)
	}
	env, err := decode(data)
	if err != nil {
		return fmt.Errorf("decode welcome: %w", err)
	}
	var p struct {
		ClientID string `json:"client_id"`
	}
	if err := json.Unmarshal(env.Payload, &p); err != nil || p.ClientID == "" {
		return errors.New("first frame is not a welcome")
	}
	c.clientID, c.welcome = p.ClientID, env
	return nil
}

func decode(data []byte) (*protocol.Envelope, error) {
	return protocol.Decode(data, protocol.Limits{MaxDepth: 64, ServerFrames: true})
}

// ID returns the client id the server assigned.
func (c *Client) ID() string { return c.clientID }

// Welcome returns the welcome frame.
func (c *Client) Welcome() *protocol.Envelope { return c.welcome }

// Conn exposes the socket for tests that need raw frames. Writing to it
// while using Send is the caller's problem.
func (c *Client) Conn() *websocket.Conn { return c.ws }

// maxKeptFrameBuffer bounds the read buffer kept between frames; a larger
// frame gets a buffer of its own that is dropped after it.
const maxKeptFrameBuffer = 64 << 10

func (c *Client) readLoop() {
	defer c.finish()
	var buf []byte
	for {
		data, err := c.readFrame(buf)
		if cap(data) <= maxKeptFrameBuffer {
			buf = data[:0]
		}
		if err != nil {
			c.readErr = err
			var ce *websocket.CloseError
			if errors.As(err, &ce) {
				c.closeCode, c.closeText = ce.Code, ce.Text
			}
			return
		}
		if c.route(data) {
			continue
		}
		if c.onFrame != nil {
			c.onFrame(data)
			continue
		}
		env, err := decode(data)
		if err != nil {
			env = &protocol.Envelope{Type: "undecodable", Error: err.Error(), Payload: bytes.Clone(data)}
		}
		select {
		case c.incoming <- env:
		case <-c.closing:
			// Close waits for the close reply behind this frame; nobody
			// will read the frame.
		}
	}
}

// readFrame reads the next data frame into buf's storage (growing it as
// needed), so that frames a handler consumes at once cost no allocation. What
// keeps a frame past the next read must copy it; decode does.
func (c *Client) readFrame(buf []byte) ([]byte, error) {
	_, r, err := c.ws.NextReader()
	if err != nil {
		return buf, err
	}
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return buf, err
		}
	}
}

// route hands a reply to its waiting request. It reports whether it did.
func (c *Client) route(data []byte) bool {
	c.mu.Lock()
	n := len(c.pending)
	c.mu.Unlock()
	if n == 0 {
		return false
	}
	var probe struct {
		Type      string `json:"type"`
		ID        string `json:"id"`
		RequestID string `json:"request_id"`
	}
	if json.Unmarshal(data, &probe) != nil {
		return false
	}
	// A message_response names the frame it answers by id (and by
	// request_id too, from most servers); a response or an error by
	// request_id only.
	keys := [2]string{probe.RequestID}
	switch probe.Type {
	case protocol.TypeMessageResponse:
		keys[1] = probe.ID
	case protocol.TypeResponse, protocol.TypeError:
	default:
		return false
	}
	var ch chan *protocol.Envelope
	c.mu.Lock()
	for _, key := range keys {
		if key == "" {
			continue
		}
		if ch = c.pending[key]; ch != nil {
			delete(c.pending, key)
			break
		}
	}
	c.mu.Unlock()
	if ch == nil {
		return false
	}
	env, err := decode(data)
	if err != nil {
		env = &protocol.Envelope{Type: "undecodable", Error: err.Error()}
	}
	ch <- env
	return true
}

func (c *Client) finish() {
	c.closeOnce.Do(func() { close(c.done) })
}

// Done is closed when the connection has ended.
func (c *Client) Done() <-chan struct{} { return c.done }

// CloseCode is the close code the server sent (0 when none was received),
// with its reason. Valid after Done.
func (c *Client) CloseCode() (int, string) {
	<-c.done
	return c.closeCode, c.closeText
}

// Err is the error that ended the connection. Valid after Done.
func (c *Client) Err() error {
	<-c.done
	return c.readErr
}

// SendRaw writes one frame as is (messageType is websocket.TextMessage or
// websocket.BinaryMessage).
func (c *Client) SendRaw(messageType int, data []byte) error {
	c.writeMu.Lock()
	defer c.writeMu.Unlock()
	_ = c.ws.SetWriteDeadline(time.Now().Add(10 * time.Second))
	return c.ws.WriteMessage(messageType, data)
}

// Send writes env. A missing id is generated, so the caller can match the
// reply.
func (c *Client) Send(env *protocol.Envelope) error {
	if env.ID == "" {
		env.ID = protocol.NewMessageID()
	}
	return c.SendRaw(websocket.TextMessage, protocol.Encode(env))
}

// Request sends env and waits for its one reply: the message_response,
// response or error carrying env's id.
func (c *Client) Request(ctx context.Context, env *protocol.Envelope) (*protocol.Envelope, error) {
	if env.ID == "" {
		env.ID = protocol.NewMessageID()
	}
	ch := make(chan *protocol.Envelope, 1)
	c.mu.Lock()
	c.pending[env.ID] = ch
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		delete(c.pending, env.ID)
		c.mu.Unlock()
	}()
	if err := c.Send(env); err != nil {
		return nil, err
	}
	select {
	case r := <-ch:
		return r, nil
	case <-ctx.Done():
		return nil, fmt.Errorf("waiting for reply to %s: %w", env.ID, ctx.Err())
	case <-c.done:
		return nil, ErrClosed
	}
}

// ReplyError turns an error reply into a Go error (nil for success).
func ReplyError(r *protocol.Envelope) error {
	if r.Type == protocol.TypeError || r.Status == protocol.StatusError {
		return &protocol.Error{Code: protocol.Code(r.ErrorCode), Message: r.Error}
	}
	return nil
}

// Command runs a command and returns its reply's data, or the error reply as
// a *protocol.Error.
func (c *Client) Command(ctx context.Context, name string, args any) (json.RawMessage, error) {
	env := &protocol.Envelope{Type: protocol.TypeCommand, Command: name}
	if args != nil {
		env.Args = protocol.Object(args)
	}
	r, err := c.Request(ctx, env)
	if err != nil {
		return nil, err
	}
	if err := ReplyError(r); err != nil {
		return nil, err
	}
	var body struct {
		Data json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(r.Payload, &body); err != nil {
		return nil, fmt.Errorf("decode %s reply: %w", name, err)
	}
	return body.Data, nil
}

// Join joins room:channel.
func (c *Client) Join(ctx context.Context, room, channel string) error {
	_, err := c.Command(ctx, "join_channel", map[string]string{"room": room, "channel": channel})
	return err
}

// Ack is a message_response payload.
type Ack struct {
	Delivered int  `json:"delivered"`
	Persisted bool `json:"persisted"`
}

// Publish sends payload to room:channel and waits for the ack.
func (c *Client) Publish(ctx context.Context, room, channel string, payload any) (Ack, error) {
	env := &protocol.Envelope{Type: protocol.TypeMessage, Room: room, Channel: channel, Payload: protocol.Object(payload)}
	r, err := c.Request(ctx, env)
	if err != nil {
		return Ack{}, err
	}
	if err := ReplyError(r); err != nil {
		return Ack{}, err
	}
	var ack Ack
	if err := json.Unmarshal(r.Payload, &ack); err != nil {
		return Ack{}, fmt.Errorf("decode ack: %w", err)
	}
	return ack, nil
}

// Recv returns the next frame that was not a reply to a pending request.
func (c *Client) Recv(ctx context.Context) (*protocol.Envelope, error) {
	select {
	case env := <-c.incoming:
		return env, nil
	default:
	}
	select {
	case env := <-c.incoming:
		return env, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-c.done:
		select {
		case env := <-c.incoming:
			return env, nil
		default:
			return nil, ErrClosed
		}
	}
}

// RecvTimeout is Recv with a timeout.
func (c *Client) RecvTimeout(d time.Duration) (*protocol.Envelope, error) {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	return c.Recv(ctx)
}

// closeGrace is how long Close waits for the server's close reply.
const closeGrace = time.Second

// Close sends a normal close frame and waits (up to a second) for the
// server's close reply before cutting the socket.
func (c *Client) Close() error { return c.CloseWithin(closeGrace) }

// CloseWithin is Close bounded by d: it sends a normal close frame, waits
// until d has passed for the server's close reply, then cuts the socket.
// Deliveries arriving meanwhile are dropped rather than queued for Recv, so
// neither a silent server nor a full queue holds it much past d (a Send
// blocked in a write still holds it up to that write's deadline). The arqon
// CLI closes with a short d on Ctrl-C.
func (c *Client) CloseWithin(d time.Duration) error {
	c.closingOnce.Do(func() { close(c.closing) })
	deadline := time.Now().Add(d)
	c.writeMu.Lock()
	err := c.ws.WriteControl(websocket.CloseMessage,
		websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), deadline)
	c.writeMu.Unlock()
	wait := time.NewTimer(time.Until(deadline))
	defer wait.Stop()
	select {
	case <-c.done:
	case <-wait.C:
	}
	if cerr := c.ws.Close(); err == nil {
		err = cerr
	}
	<-c.done
	if errors.Is(err, websocket.ErrCloseSent) {
		err = nil
	}
	return err
}

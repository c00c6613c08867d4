package config

import (
	"fmt"
	"io"
	"net"
	"net/url"
	"strconv"
	"strings"
)

// redactedPassword replaces a URL password, as url.URL.Redacted does.
const redactedPassword = "xxxxx"

// secretQueryKeys are query parameters some Redis clients read a password from.
var secretQueryKeys = []string{"password", "pass", "auth"}

// RedactURL returns raw with its password replaced by xxxxx so the URL can
// be printed and logged. Both user:pass@ and :pass@ forms are handled, and
// a lone user part (redis://secret@host) is redacted too, because some
// Redis clients take it as the password. Password query parameters are
// redacted as well. A URL that does not parse prints as <invalid url>:
// its text cannot be split safely.
func RedactURL(raw string) string {
	if raw == "" {
		return ""
	}
	u, err := url.Parse(raw)
	if err != nil || u.Opaque != "" {
		return "<invalid url>"
	}
	if u.User != nil {
		if _, has := u.User.Password(); has {
			u.User = url.UserPassword(u.User.Username(), redactedPassword)
		} else if u.User.Username() != "" {
			u.User = url.User(redactedPassword)
		}
	}
	if u.RawQuery != "" {
		q := u.Query()
		changed := false
		for k := range q {
			for _, s := range secretQueryKeys {
				if strings.EqualFold(k, s) {
					q[k] = []string{redactedPassword}
					changed = true
				}
			}
		}
		if changed {
			u.RawQuery = q.Encode()
		}
	}
	return u.String()
}

// redisSecrets returns the secret parts of a Redis URL (password, lone
// user part, password query parameters) so messages can be scrubbed.
func redisSecrets(raw string) []string {
	u, err := url.Parse(raw)
	if err != nil || u.User == nil && u.RawQuery == "" {
		return nil
	}
	var out []string
	if u.User != nil {
		if p, has := u.User.Password(); has {
			out = append(out, p)
		} else if n := u.User.Username(); n != "" {
			out = append(out, n)
		}
	}
	q := u.Query()
	for k, vs := range q {
		for _, s := range secretQueryKeys {
			if strings.EqualFold(k, s) {
				out = append(out, vs...)
			}
		}
	}
	return out
}

// Print writes the effective configuration, one ARQONBUS_NAME=value line
// per variable in a stable order (the order of the reference table), for
// `arqonbus config print`. The HMAC secret prints as <redacted> when set
// and the Redis URL with its password redacted; Print never writes a
// secret.
func (c *Config) Print(w io.Writer) error {
	var b strings.Builder
	for _, s := range settings {
		v := s.get(c)
		if s.name == VarRedisURL {
			v = RedactURL(v)
		}
		b.WriteString(s.name)
		b.WriteByte('=')
		b.WriteString(v)
		b.WriteByte('\n')
	}
	_, err := io.WriteString(w, b.String())
	if err != nil {
		return fmt.Errorf("print config: %w", err)
	}
	return nil
}

// Addr is the WebSocket listen address, host:port (IPv6 hosts bracketed).
func (c *Config) Addr() string {
	return net.JoinHostPort(c.Host, strconv.Itoa(c.Port))
}

// HTTPAddr is the separate ops listen address, or "" when the ops
// endpoints share the WebSocket port (ARQONBUS_HTTP_PORT=0).
func (c *Config) HTTPAddr() string {
	if c.HTTPPort == 0 {
		return ""
	}
	return net.JoinHostPort(c.Host, strconv.Itoa(c.HTTPPort))
}

package config

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// maxQuoted bounds how much of a rejected value a message repeats, so a
// pasted blob does not flood the terminal.
const maxQuoted = 64

// quote renders a user-supplied value for a message: Go-quoted (control
// characters escaped) and truncated.
func quote(s string) string {
	if len(s) > maxQuoted {
		cut := maxQuoted
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		return strconv.Quote(s[:cut]) + "..."
	}
	return strconv.Quote(s)
}

// parseInt reads a base-10 integer. Suffixes ("10k"), fractions and
// overflow are errors; ranges are Validate's job.
func parseInt(raw string) (int, error) {
	s := strings.TrimSpace(raw)
	n, err := strconv.ParseInt(s, 10, strconv.IntSize)
	if err != nil {
		if errors.Is(err, strconv.ErrRange) {
			return 0, fmt.Errorf("%s is out of range for an integer", quote(raw))
		}
		return 0, fmt.Errorf("%s is not an integer", quote(raw))
	}
	return int(n), nil
}

// parseDuration reads Go duration syntax ("30s", "1m30s", "250ms") or a
// bare integer, taken as whole seconds because that is what operators
// coming from the Python server wrote.
func parseDuration(raw string) (time.Duration, error) {
	s := strings.TrimSpace(raw)
	if isInteger(s) {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n > math.MaxInt64/int64(time.Second) || n < math.MinInt64/int64(time.Second) {
			return 0, fmt.Errorf("%s is out of range for a duration", quote(raw))
		}
		return time.Duration(n) * time.Second, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("%s is not a duration (use Go syntax such as 30s or 1m30s, or whole seconds)", quote(raw))
	}
	return d, nil
}

// isInteger reports whether s is an optionally signed run of ASCII digits.
func isInteger(s string) bool {
	s = strings.TrimPrefix(strings.TrimPrefix(s, "+"), "-")
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// parseBool reads true/false, 1/0, yes/no, on/off in any case. Anything
// else is an error: "ture" must not mean false.
func parseBool(raw string) (bool, error) {
	switch strings.ToLower(strings.TrimSpace(raw)) {
	case "true", "1", "yes", "on":
		return true, nil
	case "false", "0", "no", "off":
		return false, nil
	}
	return false, fmt.Errorf("%s is not a boolean (use true/false, 1/0, yes/no or on/off)", quote(raw))
}

// parseList splits a comma list, trims each item and drops empty ones, so
// "a, b,," is [a b]. An all-empty list is nil.
func parseList(raw string) []string {
	var out []string
	for _, item := range strings.Split(raw, ",") {
		if item = strings.TrimSpace(item); item != "" {
			out = append(out, item)
		}
	}
	return out
}

// enum is a closed set of values with aliases: accepted spelling
// (lower-case) to canonical value, plus the text listing the set.
type enum struct {
	values map[string]string
	text   string
}

// parse trims and lower-cases raw and returns its canonical value.
func (e enum) parse(raw string) (string, error) {
	v, ok := e.values[strings.ToLower(strings.TrimSpace(raw))]
	if !ok {
		return "", fmt.Errorf("%s is not one of %s", quote(raw), e.text)
	}
	return v, nil
}

var (
	backendEnum = enum{
		values: map[string]string{"memory": BackendMemory, "redis": BackendRedis, "redis_streams": BackendRedis},
		text:   "memory, redis (alias redis_streams)",
	}
	modeEnum = enum{
		values: map[string]string{"strict": ModeStrict, "degraded": ModeDegraded},
		text:   "strict, degraded",
	}
	logLevelEnum = enum{
		values: map[string]string{"debug": "debug", "info": "info", "warn": "warn", "error": "error"},
		text:   "debug, info, warn, error",
	}
	logFormatEnum = enum{
		values: map[string]string{"text": "text", "json": "json", "": ""},
		text:   "text, json, or empty (text in dev, json elsewhere)",
	}
)

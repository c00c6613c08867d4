package main

import (
	"io"
	"testing"
	"time"
)

func TestOnlyLoopbackTargetsAreAllowedByDefault(t *testing.T) {
	cases := []struct {
		url    string
		ok     bool
		spread bool
	}{
		{"ws://127.0.0.1:9100/ws", true, true},
		{"ws://127.3.2.1:9100/ws", true, true},
		{"ws://localhost:9100/ws", true, true},
		{"wss://127.0.0.1/ws", true, true},
		{"ws://[::1]:9100/ws", true, false},
		{"ws://10.0.0.1:9100/ws", false, false},
		{"ws://0.0.0.0:9100/ws", false, false},
		{"ws://example.invalid/ws", false, false},
		{"ws://127.0.0.1.example.invalid/ws", false, false},
		{"http://127.0.0.1:9100/ws", false, false},
		{"ws:///ws", false, false},
	}
	for _, c := range cases {
		spread, err := checkTarget(c.url, false)
		if (err == nil) != c.ok || spread != c.spread {
			t.Errorf("%s: ok=%v spread=%v (err %v), want ok=%v spread=%v", c.url, err == nil, spread, err, c.ok, c.spread)
		}
	}
}

func TestAllowRemoteLiftsTheGuardButNotSourceSpreading(t *testing.T) {
	spread, err := checkTarget("ws://10.0.0.1:9100/ws", true)
	if err != nil || spread {
		t.Fatalf("spread=%v err=%v", spread, err)
	}
}

func TestBadFlagsAreRefused(t *testing.T) {
	for _, args := range [][]string{
		{},
		{"nosuch"},
		{"fanout", "--rate", "0"},
		{"fanout", "--duration", "soon"},
		{"fanout", "--url", "ws://10.1.2.3/ws"},
		{"channels", "--clients", "0"},
		{"idle", "--rate", "5"},
		{"idle", "extra"},
		{"floor", "--writer-cpu", "-2"},
		{"floor", "--connections", "0"},
		{"floor", "--url", "ws://127.0.0.1:9100/ws"},
		{"floor", "--server-pid", "1"},
	} {
		if _, err := parseArgs(args, io.Discard); err == nil {
			t.Errorf("%q accepted", args)
		}
		if code := run(t.Context(), args, nil, io.Discard, io.Discard); code != 2 {
			t.Errorf("%q: exit %d, want 2", args, code)
		}
	}
}

func TestDurationsTakeGoSyntaxOrSeconds(t *testing.T) {
	c, err := parseArgs([]string{"fanout", "--duration", "2.5", "--warmup", "250ms"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if c.duration != 2500*time.Millisecond || c.warmup != 250*time.Millisecond {
		t.Fatalf("duration %v warmup %v", c.duration, c.warmup)
	}
	if total, warm := c.messages(); total != 2750 || warm != 250 {
		t.Fatalf("messages: total %d warm %d, want 2750 and 250", total, warm)
	}
}

func TestUnreachableTargetExitsOne(t *testing.T) {
	// Port 1 on loopback: nothing listens there.
	code := run(t.Context(), []string{"idle", "--url", "ws://127.0.0.1:1/ws", "--retries", "0", "--connections", "1"},
		nil, io.Discard, io.Discard)
	if code != 1 {
		t.Fatalf("exit %d, want 1", code)
	}
}

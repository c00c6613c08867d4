package main

import (
	"bytes"
	"io"
	"slices"
	"testing"
	"time"

	"github.com/arqonbus/arqonbus/internal/client"
	"github.com/arqonbus/arqonbus/internal/protocol"
	"github.com/arqonbus/arqonbus/internal/testutil"
)

func TestFrameHeadersUseTheShortestLengthFormOfRFC6455(t *testing.T) {
	cases := []struct {
		n    int
		want []byte
	}{
		{0, []byte{0x81, 0}},
		{125, []byte{0x81, 125}},
		{126, []byte{0x81, 126, 0, 126}},
		{398, []byte{0x81, 126, 0x01, 0x8e}},
		{65535, []byte{0x81, 126, 0xff, 0xff}},
		{65536, []byte{0x81, 127, 0, 0, 0, 0, 0, 1, 0, 0}},
	}
	for _, c := range cases {
		if got := appendFrameHeader(nil, c.n); !bytes.Equal(got, c.want) {
			t.Errorf("%d bytes: header % x, want % x", c.n, got, c.want)
		}
	}
}

func TestEveryFloorFrameOfARunHasOneSizeAndCarriesItsPlan(t *testing.T) {
	for _, payload := range []int{0, 128, 1000} {
		f := newFloorFrame(1000, payload)
		size, header := f.layout()
		for _, seq := range []int64{0, 7, 42, 999} {
			planned := timeZero.Add(time.Duration(seq) * 10 * time.Millisecond)
			frame := f.build(planned, seq)
			if len(frame) != size || !bytes.HasPrefix(frame, header) {
				t.Fatalf("payload %d, burst %d: %d bytes starting % x, want %d starting % x",
					payload, seq, len(frame), frame[:4], size, header)
			}
			body := frame[len(header):]
			if !slices.Equal(appendFrameHeader(nil, len(body)), header) {
				t.Fatalf("payload %d: header % x does not state the body's %d bytes", payload, header, len(body))
			}
			ts, got, ok := parsePayload(body)
			if !ok || ts != planned.UnixNano() || got != seq {
				t.Fatalf("payload %d, burst %d: parsed ts=%d seq=%d ok=%v", payload, seq, ts, got, ok)
			}
			env, err := protocol.Decode(body, protocol.Limits{MaxDepth: 32})
			if err != nil || env.Type != protocol.TypeMessage || env.Channel != floorChannel {
				t.Fatalf("payload %d, burst %d: not a message envelope (%v): %s", payload, seq, err, body)
			}
		}
	}
}

func TestTheWriterGetsThePlanOfItsParent(t *testing.T) {
	parent, err := parseArgs([]string{"floor", "--connections", "30", "--rate", "33.3", "--duration", "2.5",
		"--warmup", "250ms", "--drain", "1s", "--payload", "200", "--writer-cpu", "-1", "--connect-timeout", "7s"},
		io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	w, err := parseArgs(writerArgs(parent), io.Discard)
	if err != nil {
		t.Fatalf("writer args %q: %v", writerArgs(parent), err)
	}
	pt, pw := parent.messages()
	wt, ww := w.messages()
	if w.workload != floorWriter || w.clients != 30 || w.rate != 33.3 || w.payload != 200 || w.writerCPU != -1 ||
		w.drain != time.Second || w.connectTimeout != 7*time.Second || wt != pt || ww != pw {
		t.Fatalf("writer plan %+v (%d bursts, %d warm-up), parent %+v (%d, %d)", w, wt, ww, parent, pt, pw)
	}
}

func TestFloorDefaultsAreTheFanoutTargetsLoad(t *testing.T) {
	c, err := parseArgs([]string{"floor"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if c.clients != 1000 || c.rate != 100 || c.payload != 128 || c.writerCPU != 0 ||
		c.duration != 10*time.Second || c.warmup != time.Second || !c.spread {
		t.Fatalf("defaults %+v", c)
	}
}

// The floor is only comparable if the writer writes what the server
// writes: a fanout message of the same id, room and payload must reach a
// subscriber as a body of the floor frame's length.
func TestFloorFramesAreAsLongAsTheServersDelivery(t *testing.T) {
	s := testutil.StartServer(t)
	got := make(chan []byte, 1)
	sub, err := client.Dial(t.Context(), s.URL, client.Options{OnFrame: func(b []byte) {
		select {
		case got <- bytes.Clone(b):
		default:
		}
	}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sub.Close() })
	pub, err := client.Dial(t.Context(), s.URL, client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = pub.Close() })
	room := "arqonbench-1a2b3c4d" // the form of newBench's rooms
	if err := sub.Join(t.Context(), room, "fanout"); err != nil {
		t.Fatal(err)
	}

	const seq, total = 12345, 20000
	f := newFloorFrame(total, 128)
	size, header := f.layout()
	payload := appendPayload(nil, time.Now().UnixNano(), seq, 128)
	if err := pub.SendRaw(1, messageFrame(nil, "b0-12345", room, "fanout", payload)); err != nil {
		t.Fatal(err)
	}
	select {
	case b := <-got:
		if len(b) != size-len(header) {
			t.Errorf("the server delivered %d bytes, the floor frame carries %d:\n%s\n%s",
				len(b), size-len(header), b, f.build(time.Now(), seq)[len(header):])
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no delivery within 5 s")
	}
}

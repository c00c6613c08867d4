package store_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/arqonbus/arqonbus/internal/store"
)

type reasoned struct{ error }

func (reasoned) Reason() string { return "custom" }

func TestErrorReasonsAreShortAndSafe(t *testing.T) {
	wrapped := func(err error) error {
		return fmt.Errorf("append acme/lobby/main via redis://u:secret@10.0.0.1: %w: %w", store.ErrUnavailable, err)
	}
	for _, c := range []struct {
		err  error
		want string
	}{
		{nil, ""},
		{wrapped(context.DeadlineExceeded), "timeout"},
		{wrapped(syscall.ECONNREFUSED), "connection refused"},
		{wrapped(syscall.ECONNRESET), "connection reset"},
		{wrapped(io.EOF), "connection closed"},
		{fmt.Errorf("x: %w", store.ErrClosed), "store closed"},
		{wrapped(errors.New("odd")), "unavailable"},
		{errors.New("anything else"), "error"},
		{fmt.Errorf("outer: %w", reasoned{errors.New("inner")}), "custom"},
	} {
		assert.Equal(t, c.want, store.ErrorReason(c.err), "%v", c.err)
	}
}

func TestKeyStringIsForHumans(t *testing.T) {
	assert.Equal(t, "acme/lobby/main", store.Key{Tenant: "acme", Room: "lobby", Channel: "main"}.String())
}

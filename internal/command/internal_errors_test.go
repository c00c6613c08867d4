package command_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/arqonbus/arqonbus/internal/bus"
	"github.com/arqonbus/arqonbus/internal/command"
	"github.com/arqonbus/arqonbus/internal/store"
	"github.com/arqonbus/arqonbus/internal/store/memstore"
)

// brokenStore fails every read with an error that is not a backend outage.
type brokenStore struct{ *memstore.Store }

func (brokenStore) History(context.Context, store.Key, store.Query) (store.Page, error) {
	return store.Page{}, errors.New("index corrupt at offset 42")
}

func (brokenStore) Count(context.Context, store.Key) (int64, error) {
	return 0, errors.New("index corrupt at offset 42")
}

// TestAnInternalFailureIsLoggedAndHiddenFromTheClient: a command that fails
// for an unexpected reason answers INTERNAL_ERROR with a fixed message and
// logs the cause once at ERROR; a client's own mistake is answered but not
// logged.
func TestAnInternalFailureIsLoggedAndHiddenFromTheClient(t *testing.T) {
	var logs bytes.Buffer
	reg := command.New(command.Deps{
		Hub: bus.NewHub(8), Store: brokenStore{memstore.New(10)},
		Status: func() command.Status { return command.Status{} },
		Logger: slog.New(slog.NewTextHandler(&logs, nil)),
	})
	for _, name := range []string{"history", "channel_info"} {
		logs.Reset()
		r := run(t, reg, alice, name, `{"room":"science","channel":"explore"}`)
		assert.Equal(t, "INTERNAL_ERROR", r.Code, name)
		assert.Equal(t, 1, strings.Count(logs.String(), "level=ERROR"), "%s: %s", name, logs.String())
		assert.Contains(t, logs.String(), "index corrupt", name)
	}

	logs.Reset()
	r := run(t, reg, alice, "history", `{"room":"science"}`)
	assert.Equal(t, "VALIDATION_ERROR", r.Code)
	assert.Empty(t, logs.String(), "a client's mistake is not logged")
}

func TestARegistryWithoutALoggerStillAnswersInternalFailures(t *testing.T) {
	reg := command.New(command.Deps{
		Hub: bus.NewHub(8), Store: brokenStore{memstore.New(10)},
		Status: func() command.Status { return command.Status{} },
	})
	assert.Equal(t, "INTERNAL_ERROR", run(t, reg, alice, "history", `{"room":"science","channel":"explore"}`).Code)
}

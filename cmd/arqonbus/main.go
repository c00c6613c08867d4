// Command arqonbus is the ArqonBus server. See `arqonbus help`.
package main

import (
	"context"
	"os"

	"github.com/arqonbus/arqonbus/internal/app"
)

func main() {
	os.Exit(app.Run(context.Background(), app.Env{
		Args: os.Args[1:], Environ: os.Environ(), Stdout: os.Stdout, Stderr: os.Stderr,
	}))
}

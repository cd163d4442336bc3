package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"

	"github.com/tessella-ml/tessella/generator/local"
	"github.com/tessella-ml/tessella/server"
)

func cmdServe(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("serve", stderr, "")
	addr := fs.String("addr", "127.0.0.1:8080", "address to listen on (127.0.0.1 keeps it on this machine)")
	modelArg := modelFlag(fs)
	key := fs.String("api-key", "", "require this API key (Authorization: Bearer KEY)")
	keyFile := fs.String("api-key-file", "", "read the required API key from this file")
	workers := fs.Int("workers", 1, "images generated at once")
	maxQueue := fs.Int("max-queue", 16, "requests waiting for a worker before 429 (0: none, refuse when every worker is busy)")
	maxBody := fs.Int64("max-body", 1<<20, "largest request body in bytes")
	threads := fs.Int("threads", 0, "threads per generation (0: all cores)")
	dtype := fs.String("dtype", "", "weights precision in memory: f32, f16, bf16 or q8")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 0 {
		return usageError("serve takes no arguments, got %q", fs.Args())
	}
	if *key != "" && *keyFile != "" {
		return usageError("give --api-key or --api-key-file, not both")
	}
	if *keyFile != "" {
		b, err := os.ReadFile(*keyFile)
		if err != nil {
			return err
		}
		if *key = strings.TrimSpace(string(b)); *key == "" {
			return fmt.Errorf("the API key file %s is empty", *keyFile)
		}
	}
	switch {
	case *workers < 1 || *workers > server.MaxWorkers:
		return usageError("--workers must be between 1 and %d, got %d", server.MaxWorkers, *workers)
	case *maxQueue < 0 || *maxQueue > server.MaxQueueLimit:
		return usageError("--max-queue must be between 0 and %d, got %d", server.MaxQueueLimit, *maxQueue)
	case *maxBody < 1024:
		return usageError("--max-body must be ≥ 1024 bytes, got %d", *maxBody)
	}
	if err := checkThreads(*threads); err != nil {
		return err
	}
	eng, err := openEngine(local.Options{Model: *modelArg, Threads: *threads, DType: *dtype})
	if err != nil {
		return err
	}
	defer eng.Close()
	logger := slog.New(slog.NewTextHandler(stderr, nil))
	srv, err := server.New(eng, server.Options{Addr: *addr, APIKey: *key, Workers: *workers,
		MaxQueue: queueOption(*maxQueue), MaxBody: *maxBody, Logger: logger})
	if err != nil {
		return err
	}
	// Listen here rather than in ListenAndServe so that the address printed is
	// the one bound (":0" picks a free port).
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		srv.Close()
		return fmt.Errorf("listen on %s: %w", *addr, err)
	}
	bound := ln.Addr().String()
	fmt.Fprintf(stderr, "tessella: serving %s on http://%s (OpenAI base URL http://%s/v1)\n", eng.Name(), bound, bound)
	return srv.Serve(ctx, ln)
}

// queueOption maps --max-queue to server.Options.MaxQueue, which reads 0 as
// its default and a negative value as no queue.
func queueOption(n int) int {
	if n == 0 {
		return -1
	}
	return n
}

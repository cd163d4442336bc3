// Command tessella generates images from text on a CPU, offline.
//
//	tessella generate [flags] PROMPT    text → PNG (local engine or --backend openai)
//	tessella decode   [flags]           image tokens (JSON) → PNG
//	tessella tokenize [flags] TEXT      subwords and ids
//	tessella inspect [PATH]            tensors, parameter counts, metadata (none: the built-in model)
//	tessella trace    [flags] PROMPT    an offline HTML report of one generation
//	tessella serve    [flags]           OpenAI-compatible HTTP API and web page
//	tessella convert  --dtype D IN OUT  weights → f32/f16/bf16/q8 safetensors
//	tessella pull     mini|mega         download min-dalle's files
//	tessella bench    attention|gemm|scaling|model  benchmark suites
//	tessella version
//
// The command knows flags and I/O only; the work is done by the packages.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"os/signal"
	"syscall"

	"github.com/tessella-ml/tessella/generator/local"
	"github.com/tessella-ml/tessella/model"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "0.1.0-dev"

// exitError carries a process exit code with its message.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

// usageError marks a mistake in the command line (exit code 2).
func usageError(format string, args ...any) error {
	return &exitError{code: 2, err: fmt.Errorf(format, args...)}
}

// checkTemperature refuses a --temperature the sampler cannot use: it
// samples in float32, where 1e308 is +Inf and 1e-300 is 0.
func checkTemperature(t float64) error {
	if f := float64(float32(t)); !(f > 0) || math.IsInf(f, 0) {
		return usageError("--temperature must be > 0 and finite as a float32 (about 1.2e-38 to 3.4e38), got %v", t)
	}
	return nil
}

// checkSupercondition refuses a --supercondition that is negative (the
// server's rule too: f ≥ 0), NaN or above model.MaxSupercondition (beyond
// it the mixed logits can overflow float32).
func checkSupercondition(f float64) error {
	if !(f >= 0) || f > model.MaxSupercondition {
		return usageError("--supercondition must be between 0 and %g, got %v", model.MaxSupercondition, f)
	}
	return nil
}

// checkSamplingFlags checks --temperature and --supercondition where the
// command line sets them, and --threads.
func checkSamplingFlags(set map[string]bool, temp, supercon float64, threads int) error {
	if set["temperature"] {
		if err := checkTemperature(temp); err != nil {
			return err
		}
	}
	if set["supercondition"] {
		if err := checkSupercondition(supercon); err != nil {
			return err
		}
	}
	return checkThreads(threads)
}

// checkThreads refuses a thread count outside [0, local.MaxThreads].
func checkThreads(n int) error {
	if n < 0 || n > local.MaxThreads {
		return usageError("--threads must be between 0 (all cores) and %d, got %d", local.MaxThreads, n)
	}
	return nil
}

// checkDType refuses an unknown --dtype as a wrong command line (exit 2,
// naming the flag) before any weights are read; "" is the default.
func checkDType(s string) error {
	if s == "" {
		return nil
	}
	if _, err := model.ParseWeightDType(s); err != nil {
		return usageError("--dtype must be f32, f16, bf16 or q8, got %q", s)
	}
	return nil
}

// openEngine opens the local engine after checking opts.DType (--dtype)
// with checkDType.
func openEngine(opts local.Options) (*local.Engine, error) {
	if err := checkDType(opts.DType); err != nil {
		return nil, err
	}
	return local.Open(opts)
}

const usage = `tessella: text-to-image on a CPU, offline.

Usage:
  tessella generate [flags] PROMPT   write a PNG from a text prompt
  tessella decode [flags]            image tokens (JSON) → PNG
  tessella tokenize [flags] TEXT     show subwords and token ids
  tessella inspect [PATH]            list tensors, parameter counts, metadata (none: the built-in model)
  tessella trace [flags] --out DIR PROMPT   an HTML report of one generation's attention and sampling
  tessella serve [flags]             OpenAI-compatible image API and web page
  tessella eval shapes [flags]       score the default model on the shapes64 data set
  tessella eval compare A.json B.json  pair two such reports prompt by prompt
  tessella convert --dtype D IN OUT  convert weights to f32, f16, bf16 or q8 safetensors
  tessella pull mini|mega            download min-dalle's published files into the models folder
  tessella bench attention|gemm|scaling|model   benchmarks
  tessella version                   print the version

Run 'tessella COMMAND -h' for a command's flags.
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run executes one command line and returns the exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	var err error
	switch cmd, rest := args[0], args[1:]; cmd {
	case "generate", "gen":
		err = cmdGenerate(ctx, rest, stdout, stderr)
	case "decode":
		err = cmdDecode(ctx, rest, stdout, stderr)
	case "tokenize":
		err = cmdTokenize(rest, stdout, stderr)
	case "inspect":
		err = cmdInspect(rest, stdout, stderr)
	case "trace":
		err = cmdTrace(ctx, rest, stdout, stderr)
	case "serve":
		err = cmdServe(ctx, rest, stdout, stderr)
	case "eval":
		err = cmdEval(ctx, rest, stdout, stderr)
	case "convert":
		err = cmdConvert(ctx, rest, stdout, stderr)
	case "pull":
		err = cmdPull(ctx, rest, stdout, stderr)
	case "bench":
		err = cmdBench(ctx, rest, stdout, stderr)
	case "version", "-version", "--version":
		if len(rest) != 0 {
			err = usageError("version takes no arguments, got %q", rest)
			break
		}
		fmt.Fprintln(stdout, "tessella", version)
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, usage)
	default:
		fmt.Fprintf(stderr, "tessella: unknown command %q\n\n%s", cmd, usage)
		return 2
	}
	if err == nil {
		return 0
	}
	if errors.Is(err, errHelp) {
		return 0
	}
	fmt.Fprintln(stderr, "tessella:", err)
	var ee *exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	return 1
}

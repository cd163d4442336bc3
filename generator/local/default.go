package local

import (
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/tessella-ml/tessella/model"
	"github.com/tessella-ml/tessella/model/judge"
	"github.com/tessella-ml/tessella/tokenizer"
	"github.com/tessella-ml/tessella/weights"
)

// The embedded default model. The directory pattern compiles whether or
// not the model file is there: without it, the default model is the tiny
// random one, named "default-untrained" (see Engine.Untrained).
//
//go:embed defaultmodel
var defaultModelFS embed.FS

// DefaultModelFile is the embedded default model's path inside the binary
// (generator/local/defaultmodel/default.safetensors in the source tree).
const DefaultModelFile = "defaultmodel/default.safetensors"

// UntrainedName is the model name of the fallback used when no trained
// default model is embedded.
const UntrainedName = "default-untrained"

// Metadata keys of a default-model file. Written by
// training/export_default.py:
//
//	config            model.Config as JSON (the Config JSON tags; the nested
//	                  "vqgan" object uses vqgan.Config's Go field names)
//	tokenizer.vocab   the text of vocab.json
//	tokenizer.merges  the text of merges.txt
//
// and, optionally, the sampling defaults chosen for the model (decimal
// text; each absent key keeps the engine's general default: temperature
// 1, top-k 256 (clamped to the codebook), supercondition 16, and a scale
// that makes the PNG 256 px wide, i.e. 4 for a 64×64 model):
//
//	defaults.temperature     > 0
//	defaults.top_k           ≥ 0 (0 keeps every token)
//	defaults.supercondition  finite
//	defaults.scale           1 … 16
//	defaults.candidates      1 … MaxCandidates (absent: 1)
const (
	MetaConfig         = "config"
	MetaVocab          = "tokenizer.vocab"
	MetaMerges         = "tokenizer.merges"
	MetaTemperature    = "defaults.temperature"
	MetaTopK           = "defaults.top_k"
	MetaSupercondition = "defaults.supercondition"
	MetaScale          = "defaults.scale"
	MetaCandidates     = "defaults.candidates"
	// MetaJudge is judge.Config as JSON; when present, the file holds a
	// judge (tensors "judge.*") that ranks the candidates (see
	// Engine.Generate).
	MetaJudge = "judge.config"
	// MetaJudgeSelfWeight (decimal, finite, ≥ 0; absent: 0) is w in the
	// judge's ranking score, log p(prompt | image) + w·model.CandidateScore.
	MetaJudgeSelfWeight = "judge.self_weight"
	// MetaCritic is judge.CriticConfig as JSON; when present (only beside
	// a judge), the file holds a critic (tensors "critic.*") whose score
	// joins the judge's ranking score.
	MetaCritic = "critic.config"
	// MetaJudgeCriticWeight (decimal, finite, ≥ 0; absent: 0) is c in the
	// ranking score log p(prompt | image) + w·model.CandidateScore +
	// c·critic score; it needs a critic.
	MetaJudgeCriticWeight = "judge.critic_weight"
)

// The parts of a default-model file, by tensor-name prefix; each holds
// min-dalle's state-dict names.
const (
	prefixEncoder = "encoder."
	prefixDecoder = "decoder."
	prefixVQGAN   = "vqgan."
	prefixJudge   = "judge."
	prefixCritic  = "critic."
)

// DefaultModelEmbedded reports whether this binary carries a trained
// default model (DefaultModelFile).
func DefaultModelEmbedded() bool {
	_, err := fs.Stat(defaultModelFS, DefaultModelFile)
	return err == nil
}

// DefaultModelBytes returns a copy of the embedded default model's file (a
// safetensors file with the metadata above), or an error wrapping
// fs.ErrNotExist when this binary carries none.
func DefaultModelBytes() ([]byte, error) {
	data, err := defaultModelFS.ReadFile(DefaultModelFile)
	if err != nil {
		return nil, fmt.Errorf("embedded default model %s: %w", DefaultModelFile, err)
	}
	return data, nil
}

// Untrained reports whether the engine is the untrained fallback of the
// default model (random weights, no trained model embedded): its images
// are noise, and a CLI should say so.
func (e *Engine) Untrained() bool { return e.name == UntrainedName }

// openDefault loads the embedded default model, or, when the binary has
// none, the tiny random model under the name UntrainedName. A model file
// that is present but unreadable is an error, never a silent fallback.
func (e *Engine) openDefault() error {
	data, err := defaultModelFS.ReadFile(DefaultModelFile)
	if errors.Is(err, fs.ErrNotExist) {
		if err := e.openRandom("tiny-random"); err != nil {
			return err
		}
		e.name = UntrainedName
		return nil
	}
	if err != nil {
		return fmt.Errorf("embedded default model %s: %w", DefaultModelFile, err)
	}
	// ReadFile returns a fresh copy: heap-allocated, so aligned for
	// zero-copy float32 views, and private to this engine.
	return e.openDefaultBytes("embedded "+DefaultModelFile, data)
}

// isModelFile reports whether path names a regular file ending in
// .safetensors: a model in the default model's one-file format (what
// training/export_default.py writes), given to --model by its path.
func isModelFile(path string) bool {
	if !strings.HasSuffix(strings.ToLower(path), ".safetensors") {
		return false
	}
	st, err := os.Stat(path)
	return err == nil && st.Mode().IsRegular()
}

// openModelFile loads a default-format model file from disk (the whole
// file is read into memory, as the embedded model is); its name is the
// file's base name.
func (e *Engine) openModelFile(path string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if err := e.openDefaultBytes(path, data); err != nil {
		return err
	}
	e.name = filepath.Base(path)
	return nil
}

// OpenDefaultBytes opens a model in the default-model format (one
// safetensors file with encoder., decoder. and vqgan. tensors and the
// config, tokenizer and sampling defaults in its metadata; see MetaConfig)
// held in memory; name is used in errors and Name is "local:default". The
// engine aliases data, which must not change while it is in use. Of opts,
// Threads and DType are used.
func OpenDefaultBytes(name string, data []byte, opts Options) (*Engine, error) {
	e := &Engine{threads: opts.Threads, noJudge: opts.NoJudge}
	var err error
	if e.modelOpts, err = modelOptions(opts); err != nil {
		return nil, err
	}
	if err := e.openDefaultBytes(name, data); err != nil {
		e.Close()
		return nil, err
	}
	e.setThreads()
	return e, nil
}

// openDefaultBytes loads a default-model file and sets every default.
func (e *Engine) openDefaultBytes(name string, data []byte) error {
	f, err := weights.OpenBytes(name, data)
	if err != nil {
		return err
	}
	e.closers = append(e.closers, f)
	if f.Format() != "safetensors" {
		return fmt.Errorf("%s: a default model is one safetensors file, this is %s", name, f.Format())
	}
	meta := f.Metadata()
	need := func(key string) (string, error) {
		v, ok := meta[key]
		if !ok || v == "" {
			return "", fmt.Errorf("%s: metadata lacks %q", name, key)
		}
		return v, nil
	}
	cfgJSON, err := need(MetaConfig)
	if err != nil {
		return err
	}
	cfg, err := model.MergeJSON(model.Config{}, []byte(cfgJSON))
	if err != nil {
		return fmt.Errorf("%s: metadata %q: %w", name, MetaConfig, err)
	}
	vocab, err := need(MetaVocab)
	if err != nil {
		return err
	}
	merges, err := need(MetaMerges)
	if err != nil {
		return err
	}
	tok, err := tokenizer.New([]byte(vocab), []byte(merges))
	if err != nil {
		return fmt.Errorf("%s: metadata tokenizer: %w", name, err)
	}
	if tok.VocabSize() > cfg.TextVocab {
		return fmt.Errorf("%s: the tokenizer has %d ids but the encoder embeds only %d", name, tok.VocabSize(), cfg.TextVocab)
	}
	for _, p := range []string{prefixEncoder, prefixDecoder, prefixVQGAN} {
		if len(f.Sub(p).Names()) == 0 {
			return fmt.Errorf("%s: no tensors named %s*", name, p)
		}
	}
	m, err := e.newModel(cfg, f.Sub(prefixEncoder), f.Sub(prefixDecoder), f.Sub(prefixVQGAN))
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	side := cfg.GridSide() * cfg.VQGAN.Upscale()
	d := Defaults{Temperature: 1, TopK: 256, Supercondition: 16, Scale: max(1, 256/side), Candidates: 1}
	if err := readDefaults(meta, &d); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	d.TopK = min(d.TopK, cfg.Codebook())
	if err := (model.SampleOptions{Temperature: float32(d.Temperature), TopK: d.TopK,
		Supercondition: float32(d.Supercondition)}).Validate(cfg.Codebook()); err != nil {
		return fmt.Errorf("%s: metadata sampling defaults: %w", name, err)
	}
	var jd *judge.Judge
	if js, ok := meta[MetaJudge]; ok {
		var jc judge.Config
		if err := json.Unmarshal([]byte(js), &jc); err != nil {
			return fmt.Errorf("%s: metadata %q: %w", name, MetaJudge, err)
		}
		if jc.TextVocab < tok.VocabSize() {
			return fmt.Errorf("%s: the tokenizer has %d ids but the judge embeds only %d", name, tok.VocabSize(), jc.TextVocab)
		}
		side := cfg.GridSide() * cfg.VQGAN.Upscale()
		if side != judge.Size {
			return fmt.Errorf("%s: the judge reads %d×%d images, the model draws %d×%d", name, judge.Size, judge.Size, side, side)
		}
		if jd, err = judge.New(jc, f.Sub(prefixJudge)); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
	}
	var cr *judge.Critic
	if cs, ok := meta[MetaCritic]; ok {
		if jd == nil {
			return fmt.Errorf("%s: metadata %q without a judge (%q)", name, MetaCritic, MetaJudge)
		}
		var cc judge.CriticConfig
		if err := json.Unmarshal([]byte(cs), &cc); err != nil {
			return fmt.Errorf("%s: metadata %q: %w", name, MetaCritic, err)
		}
		if cr, err = judge.NewCritic(cc, f.Sub(prefixCritic)); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
	}
	selfWeight, err := readWeight(meta, MetaJudgeSelfWeight, jd != nil, fmt.Sprintf("a judge (%q)", MetaJudge))
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	criticWeight, err := readWeight(meta, MetaJudgeCriticWeight, cr != nil, fmt.Sprintf("a critic (%q)", MetaCritic))
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	e.name, e.model, e.tok, e.defaults = "default", m, tok, d
	e.judge, e.judgeSelf, e.critic, e.judgeCritic = jd, selfWeight, cr, criticWeight
	return nil
}

// readWeight reads the ranking weight in metadata key (0 when absent); it
// is an error when the part it weighs (described by needs) is absent (has
// false).
func readWeight(meta map[string]string, key string, has bool, needs string) (float64, error) {
	s, ok := meta[key]
	if !ok {
		return 0, nil
	}
	if !has {
		return 0, fmt.Errorf("metadata %q without %s", key, needs)
	}
	w, err := strconv.ParseFloat(s, 64)
	if err != nil || w < 0 || math.IsInf(w, 0) || math.IsNaN(w) {
		return 0, fmt.Errorf("metadata %q = %q: want a finite number ≥ 0", key, s)
	}
	return w, nil
}

// readDefaults overrides d with the metadata's defaults.* keys.
func readDefaults(meta map[string]string, d *Defaults) error {
	float := func(key string, dst *float64, ok func(float64) bool, want string) error {
		s, present := meta[key]
		if !present {
			return nil
		}
		v, err := strconv.ParseFloat(s, 64)
		if err != nil || !ok(v) {
			return fmt.Errorf("metadata %q = %q: want %s", key, s, want)
		}
		*dst = v
		return nil
	}
	integer := func(key string, dst *int, lo, hi int) error {
		s, present := meta[key]
		if !present {
			return nil
		}
		v, err := strconv.Atoi(s)
		if err != nil || v < lo || v > hi {
			return fmt.Errorf("metadata %q = %q: want an integer in [%d, %d]", key, s, lo, hi)
		}
		*dst = v
		return nil
	}
	finite := func(v float64) bool { return v-v == 0 }
	return errors.Join(
		float(MetaTemperature, &d.Temperature, func(v float64) bool { return v > 0 && finite(v) }, "a finite number > 0"),
		float(MetaSupercondition, &d.Supercondition, finite, "a finite number"),
		integer(MetaTopK, &d.TopK, 0, 1<<30),
		integer(MetaScale, &d.Scale, 1, 16),
		integer(MetaCandidates, &d.Candidates, 1, MaxCandidates),
	)
}

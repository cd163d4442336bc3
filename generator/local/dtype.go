package local

import (
	"fmt"

	"github.com/tessella-ml/tessella/model"
)

// modelOptions checks Options.DType and Options.Threads and returns the
// model's load options.
func modelOptions(opts Options) (model.Options, error) {
	if opts.Threads < 0 || opts.Threads > MaxThreads {
		return model.Options{}, fmt.Errorf("local: threads %d outside [0, %d] (0: all cores)", opts.Threads, MaxThreads)
	}
	dt, err := model.ParseWeightDType(opts.DType)
	if err != nil {
		return model.Options{}, fmt.Errorf("local: %w", err)
	}
	return model.Options{WeightDType: dt, Threads: opts.Threads}, nil
}

// newModel loads the networks with the engine's load options (the weight
// dtype): each Linear weight is converted as it is read.
func (e *Engine) newModel(cfg model.Config, enc, dec, vq model.Source) (*model.Model, error) {
	return model.NewModelWithOptions(cfg, enc, dec, vq, e.modelOpts)
}

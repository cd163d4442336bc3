package vqgan

import (
	"fmt"
	"slices"
	"sync"

	"github.com/tessella-ml/tessella/internal/load"
)

// DefaultScratchBytes bounds the im2col strip and the attention score block
// when VQGAN.ScratchBytes is 0: 8 MiB. (32 MiB, the earlier default, was
// not faster on min-dalle's decode — 3.61–4.32 s in 4 runs against
// 3.30–3.49 s in 3, 2 threads, a 1-thread training job beside — and kept
// 24 MiB more.)
const DefaultScratchBytes = 8 << 20

// VQGAN is a loaded detokenizer. Decode may be called from several
// goroutines; the calls share one workspace and run one at a time.
type VQGAN struct {
	// Threads bounds the goroutines Decode starts for one operation
	// (0 = GOMAXPROCS), its GEMMs included.
	Threads int
	// ScratchBytes bounds the im2col buffer of a 3×3 convolution and the
	// score block of an attention block, in bytes (0 = DefaultScratchBytes).
	// Convolutions run over strips of whole output rows and attention over
	// blocks of query positions so that each fits; at least one row (one
	// query) is always taken, so a tiny value only makes Decode slower.
	ScratchBytes int

	cfg Config
	ch  []int // ch[i] = Base·ChannelMult[i], channels of up level i

	embedding []float32 // (Codebook, CodeDim)
	postQuant conv      // 1×1 CodeDim → CodeDim
	convIn    conv      // 3×3 CodeDim → ch[L−1]
	mid1      resBlock  // ch[L−1] → ch[L−1]
	midAttn   attnBlock // ch[L−1]
	mid2      resBlock  // ch[L−1] → ch[L−1]
	up        []upLevel // indexed by level, executed L−1 … 0
	normOut   groupNorm // ch[0]
	convOut   conv      // 3×3 ch[0] → 3

	mu sync.Mutex // guards ws
	ws workspace
}

// conv is a Conv2d with bias, stride 1, padding (K−1)/2 (K is 1 or 3).
type conv struct {
	name    string
	in, out int
	k       int       // kernel side: 1 or 3
	w       []float32 // (out, in, k, k) OIHW = (out, in·k·k) row-major
	b       []float32 // (out)
}

// groupNorm is GroupNorm(groups, c) with affine weight and bias.
type groupNorm struct {
	name   string
	c      int
	groups int
	eps    float32
	w, b   []float32 // (c), (c)
}

// resBlock is x ↦ s(x) + conv2(swish(norm2(conv1(swish(norm1(x)))))).
type resBlock struct {
	in, out     int
	norm1       groupNorm // (in)
	conv1       conv      // 3×3 in → out
	norm2       groupNorm // (out)
	conv2       conv      // 3×3 out → out
	ninShortcut conv      // 1×1 in → out, only when in ≠ out
	hasShortcut bool
	name        string
}

// attnBlock is single-head self-attention over the H·W positions,
// x ↦ x + proj_out(attn(norm(x))).
type attnBlock struct {
	c             int
	name          string
	norm          groupNorm // (c)
	q, k, v, proj conv      // 1×1 c → c each
}

// upLevel is decoder.up.{i}: ResBlocks, each optionally followed by an
// attention block, then (for i > 0) a nearest ×2 upsample and a 3×3 conv.
type upLevel struct {
	blocks      []resBlock
	attn        []attnBlock // empty when the level has no attention
	upsample    conv        // 3×3 ch[i] → ch[i], only when i > 0
	hasUpsample bool
}

// Config returns the configuration the network was built with.
func (m *VQGAN) Config() Config {
	c := m.cfg
	c.ChannelMult = slices.Clone(c.ChannelMult)
	c.AttnLevels = slices.Clone(c.AttnLevels)
	return c
}

// ReleaseWorkspace drops the buffers Decode keeps between calls (after a
// min-dalle 16×16 decode: the top level's activation maps, 32 MiB each at
// 128×256×256, and the im2col strip of at most ScratchBytes; the lower
// levels' maps are dropped during the decode); the next Decode allocates
// them again.
func (m *VQGAN) ReleaseWorkspace() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.ws = workspace{}
}

// New builds the detokenizer cfg describes from src, which must hold every
// tensor of min-dalle's state dict for that configuration with exactly the
// expected shape. New keeps references to the slices src returns.
func New(cfg Config, src Source) (*VQGAN, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if src == nil {
		return nil, fmt.Errorf("vqgan: nil source")
	}
	cfg.ChannelMult = slices.Clone(cfg.ChannelMult)
	cfg.AttnLevels = slices.Clone(cfg.AttnLevels)
	L := len(cfg.ChannelMult)
	m := &VQGAN{cfg: cfg, ch: make([]int, L)}
	for i, mult := range cfg.ChannelMult {
		m.ch[i] = cfg.Base * mult
	}
	l := loader{Reader: load.Reader{Src: src, Part: "vqgan"}, cfg: cfg}
	top := m.ch[L-1]

	m.embedding = l.Tensor("embedding.weight", cfg.Codebook, cfg.CodeDim)
	m.postQuant = l.conv("post_quant_conv", cfg.CodeDim, cfg.CodeDim, 1)
	m.convIn = l.conv("decoder.conv_in", cfg.CodeDim, top, 3)
	m.mid1 = l.resBlock("decoder.mid.block_1", top, top)
	m.midAttn = l.attnBlock("decoder.mid.attn_1", top)
	m.mid2 = l.resBlock("decoder.mid.block_2", top, top)
	m.up = make([]upLevel, L)
	for i := L - 1; i >= 0; i-- {
		in := top
		if i < L-1 {
			in = m.ch[i+1]
		}
		lv := &m.up[i]
		attn := slices.Contains(cfg.AttnLevels, i)
		for j := range cfg.ResBlocks {
			p := fmt.Sprintf("decoder.up.%d", i)
			lv.blocks = append(lv.blocks, l.resBlock(fmt.Sprintf("%s.block.%d", p, j), in, m.ch[i]))
			in = m.ch[i]
			if attn {
				lv.attn = append(lv.attn, l.attnBlock(fmt.Sprintf("%s.attn.%d", p, j), m.ch[i]))
			}
		}
		if i > 0 {
			lv.upsample = l.conv(fmt.Sprintf("decoder.up.%d.upsample.conv", i), m.ch[i], m.ch[i], 3)
			lv.hasUpsample = true
		}
	}
	m.normOut = l.groupNorm("decoder.norm_out", m.ch[0])
	m.convOut = l.conv("decoder.conv_out", m.ch[0], 3, 3)
	if l.Err != nil {
		return nil, l.Err
	}
	return m, nil
}

// loader reads tensors from a Source, remembering the first error so the
// construction code above reads as a list of layers.
type loader struct {
	load.Reader // Part "vqgan"
	cfg         Config
}

func (l *loader) conv(name string, in, out, k int) conv {
	return conv{name: name, in: in, out: out, k: k,
		w: l.Tensor(name+".weight", out, in, k, k),
		b: l.Tensor(name+".bias", out)}
}

func (l *loader) groupNorm(name string, c int) groupNorm {
	return groupNorm{name: name, c: c, groups: l.cfg.Groups, eps: l.cfg.Eps,
		w: l.Tensor(name+".weight", c),
		b: l.Tensor(name+".bias", c)}
}

func (l *loader) resBlock(name string, in, out int) resBlock {
	b := resBlock{name: name, in: in, out: out,
		norm1: l.groupNorm(name+".norm1", in),
		conv1: l.conv(name+".conv1", in, out, 3),
		norm2: l.groupNorm(name+".norm2", out),
		conv2: l.conv(name+".conv2", out, out, 3)}
	if in != out {
		b.ninShortcut = l.conv(name+".nin_shortcut", in, out, 1)
		b.hasShortcut = true
	}
	return b
}

func (l *loader) attnBlock(name string, c int) attnBlock {
	return attnBlock{name: name, c: c,
		norm: l.groupNorm(name+".norm", c),
		q:    l.conv(name+".q", c, c, 1),
		k:    l.conv(name+".k", c, c, 1),
		v:    l.conv(name+".v", c, c, 1),
		proj: l.conv(name+".proj_out", c, c, 1)}
}

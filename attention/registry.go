package attention

// Kernels returns one of each kernel, the float64 Reference first. Decode
// is returned as a fresh *Decode (it owns reusable buffers).
func Kernels() []Kernel {
	return []Kernel{Reference{}, Plain{}, Naive{}, Online{}, Flash{}, &Decode{}}
}

// KernelByName returns the kernel of Kernels() with that name, or nil.
func KernelByName(name string) Kernel {
	for _, k := range Kernels() {
		if k.Name() == name {
			return k
		}
	}
	return nil
}

// Best returns the kernel expected to be fastest for a's shape, by the rule
// measured in doc.go: a few query rows per (batch, head) (decoding against a
// KV cache) go to Decode, everything else to Flash.
func Best(a *Args) Kernel {
	if a.QLen <= decodeMaxRows {
		return &Decode{}
	}
	return Flash{}
}

// decodeMaxRows is the largest QLen Best sends to Decode.
const decodeMaxRows = 4

// Auto runs, per call, the kernel Best chooses, keeping the decode
// kernel's scratch between calls (so the model's decode step does not
// allocate). It is the kernel the model uses unless told otherwise.
type Auto struct {
	decode Decode
}

func (*Auto) Name() string { return "auto" }

func (k *Auto) Forward(a *Args) error {
	if a != nil && a.QLen <= decodeMaxRows {
		return k.decode.Forward(a)
	}
	return Flash{}.Forward(a)
}

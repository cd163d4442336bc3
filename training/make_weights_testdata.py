"""Write the golden files for package weights (run by hand with /usr/bin/python3).

testdata/weights/small.pt           torch.save of a small state dict that exercises the .pt
                                    reader: F32/F16/BF16/F64/I64/I32/I8/U8/BOOL storages, a
                                    transposed (non-contiguous) view, slices with storage
                                    offsets, several tensors sharing one storage, a 0-d
                                    scalar, an empty tensor, an nn.Parameter, and the
                                    state dict's _metadata attribute (BUILD).
testdata/weights/small.safetensors  the same tensors written by training/st.py.
testdata/weights/expected.json      for each tensor: dtype, shape and the float32 bit
                                    patterns of tensor.float() (row-major); plus torch's
                                    float32 -> float16 / bfloat16 rounding of chosen values.
"""
import collections
import json
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import st  # noqa: E402

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "testdata", "weights")


def bits(t):
    return [int(x) for x in t.detach().float().contiguous().view(torch.int32).flatten().numpy().view(np.uint32)]


def main():
    os.makedirs(ROOT, exist_ok=True)
    g = torch.Generator().manual_seed(20261128)
    lin = torch.nn.Linear(4, 3)
    with torch.no_grad():
        lin.weight.copy_(torch.randn(3, 4, generator=g))
        lin.bias.copy_(torch.randn(3, generator=g))
    sd = lin.state_dict()  # an OrderedDict with a _metadata attribute
    sd = collections.OrderedDict((("linear." + k, v) for k, v in sd.items()))
    sd._metadata = lin.state_dict()._metadata

    sd["f32.big"] = torch.randn(8, 32, generator=g)
    sd["f16.special"] = torch.tensor(
        [0.0, -0.0, 1.0, -2.5, 65504.0, float("inf"), float("-inf"), float("nan"),
         6e-8, -1e-5, 0.1, 3.14159], dtype=torch.float32).half()
    sd["f16.matrix"] = torch.randn(4, 5, generator=g).half()
    sd["bf16.matrix"] = (torch.randn(3, 5, generator=g) * 100).bfloat16()
    sd["f32.transposed"] = torch.randn(5, 4, generator=g).t()           # (4,5) stride (1,4)
    sd["f16.transposed"] = torch.randn(3, 4, generator=g).half().t()    # (4,3) stride (1,4)
    base = torch.randn(6, 4, generator=g)
    sd["f32.rows"] = base[2:5]                                          # offset 8, contiguous
    sd["f32.cols"] = base[:, 1:3]                                       # offset 1, stride (4,1)
    s = torch.randn(12, generator=g)
    sd["shared.a"] = s[0:6].view(2, 3)                                  # shares s
    sd["shared.b"] = s[4:12:2]                                          # offset 4, stride 2
    sd["scalar"] = torch.tensor(2.5)
    sd["empty"] = torch.zeros(0, 3)
    sd["f64.vec"] = torch.tensor([1.0 / 3.0, -1e40, 1e-50, 123456789.123], dtype=torch.float64)
    sd["i64.idx"] = torch.tensor([-3, 0, 7, 2 ** 40, -(2 ** 53) - 1], dtype=torch.int64)
    sd["i32.vec"] = torch.tensor([-2147483648, 5, 16777217], dtype=torch.int32)
    sd["i8.vec"] = torch.tensor([-128, -1, 0, 127], dtype=torch.int8)
    sd["u8.vec"] = torch.tensor([0, 1, 200, 255], dtype=torch.uint8)
    sd["bool.vec"] = torch.tensor([True, False, True])
    sd["param"] = torch.nn.Parameter(torch.randn(2, 2, generator=g))  # _rebuild_parameter

    torch.save(sd, os.path.join(ROOT, "small.pt"))
    plain = {k: v.detach() for k, v in sd.items()}
    st.save(os.path.join(ROOT, "small.safetensors"), plain,
            metadata=collections.OrderedDict([("format", "pt"), ("source", "make_weights_testdata.py")]))

    # torch's float32 -> float16 / bfloat16 rounding, for the Go writer's conversions.
    vals = [0.0, -0.0, 1.0, 65504.0, 65519.99, 65520.0, 1e6, -1e6, 2.0 ** -24, 2.0 ** -25,
            2.0 ** -25 * 1.0000001, 2.0 ** -26, 3 * 2.0 ** -25, 2.0 ** -14, 2.0 ** -14 - 2.0 ** -25,
            1.0 + 2.0 ** -11, 1.0 + 3 * 2.0 ** -11, 1.0 + 2.0 ** -8, 1.0 + 3 * 2.0 ** -8,
            float("inf"), float("-inf"), float("nan"), 1e-45, 3.4e38]
    r = np.random.RandomState(7)
    rnd = (r.standard_normal(600) * np.exp2(r.uniform(-30, 20, 600))).astype(np.float32)
    src = torch.cat([torch.tensor(vals, dtype=torch.float32), torch.from_numpy(rnd)])
    f16 = [int(x) for x in src.half().view(torch.int16).numpy().view(np.uint16)]
    bf16 = [int(x) for x in src.bfloat16().view(torch.int16).numpy().view(np.uint16)]

    expected = {"tensors": {k: {"dtype": st._DTYPES[v.dtype][0], "shape": list(v.shape), "f32bits": bits(v)}
                            for k, v in plain.items()},
                "order": list(sd.keys()),
                "rounding": {"f32bits": bits(src), "f16bits": f16, "bf16bits": bf16}}
    with open(os.path.join(ROOT, "expected.json"), "w") as f:
        json.dump(expected, f, separators=(",", ":"), sort_keys=True)
        f.write("\n")


if __name__ == "__main__":
    main()

"""Writes a ResNet-50-sized ONNX model with random weights for the memory benchmark.

Usage: resnet50_model.py OUT.onnx

The graph is plain ResNet-50 (v1.5 strides): a 7x7 stem, max pool, bottleneck stages of
3, 4, 6 and 3 blocks (widths 64, 128, 256, 512, expansion 4, projection shortcuts), global
average pool and a 2048x1000 Gemm; batch normalization folded into the convolutions (Conv
with bias), so 25.5M parameters (102 MB of float32), input x 1x3x224x224, output logits
1x1000. Weights are random (seeded, He-scaled; the last convolution of each block scaled
down so the residual stream stays bounded, as trained networks keep it).
"""

import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def main() -> None:
    out = sys.argv[1]
    rng = np.random.default_rng(50)
    nodes = []
    inits = []
    count = [0]

    def conv(x, cin, cout, k, stride, relu, gain=1.0):
        i = count[0]
        count[0] += 1
        std = gain * np.sqrt(2.0 / (cin * k * k))
        w = (rng.standard_normal((cout, cin, k, k), dtype=np.float32) * std).astype(np.float32)
        b = (rng.standard_normal(cout, dtype=np.float32) * 0.01).astype(np.float32)
        inits.append(numpy_helper.from_array(w, f"conv{i}.weight"))
        inits.append(numpy_helper.from_array(b, f"conv{i}.bias"))
        y = f"conv{i}"
        nodes.append(
            helper.make_node(
                "Conv",
                [x, f"conv{i}.weight", f"conv{i}.bias"],
                [y],
                name=f"Conv_{i}",
                kernel_shape=[k, k],
                strides=[stride, stride],
                pads=[k // 2] * 4,
            )
        )
        if relu:
            nodes.append(helper.make_node("Relu", [y], [f"relu{i}"], name=f"Relu_{i}"))
            return f"relu{i}"
        return y

    x = conv("x", 3, 64, 7, 2, True)
    nodes.append(
        helper.make_node(
            "MaxPool", [x], ["pool0"], name="MaxPool_0", kernel_shape=[3, 3], strides=[2, 2],
            pads=[1, 1, 1, 1],
        )
    )
    x, cin = "pool0", 64
    adds = 0
    for stage, (blocks, width) in enumerate(zip([3, 4, 6, 3], [64, 128, 256, 512])):
        for block in range(blocks):
            stride = 2 if block == 0 and stage > 0 else 1
            cout = width * 4
            y = conv(x, cin, width, 1, 1, True)
            y = conv(y, width, width, 3, stride, True)
            y = conv(y, width, cout, 1, 1, False, gain=0.2)
            shortcut = conv(x, cin, cout, 1, stride, False) if block == 0 else x
            nodes.append(helper.make_node("Add", [y, shortcut], [f"add{adds}"], name=f"Add_{adds}"))
            nodes.append(
                helper.make_node("Relu", [f"add{adds}"], [f"block{adds}"], name=f"Relu_block{adds}")
            )
            x, cin = f"block{adds}", cout
            adds += 1
    nodes.append(helper.make_node("GlobalAveragePool", [x], ["gap"], name="GlobalAveragePool_0"))
    nodes.append(helper.make_node("Flatten", ["gap"], ["flat"], name="Flatten_0", axis=1))
    fc_w = (rng.standard_normal((1000, 2048), dtype=np.float32) * np.sqrt(1.0 / 2048)).astype(
        np.float32
    )
    inits.append(numpy_helper.from_array(fc_w, "fc.weight"))
    inits.append(numpy_helper.from_array(np.zeros(1000, np.float32), "fc.bias"))
    nodes.append(
        helper.make_node("Gemm", ["flat", "fc.weight", "fc.bias"], ["logits"], name="Gemm_fc",
                         transB=1)
    )
    graph = helper.make_graph(
        nodes,
        "resnet50_random",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 224, 224])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, 1000])],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, out)
    params = sum(int(np.prod(t.dims)) for t in inits)
    print(f"{out}: {params} parameters, {len(nodes)} nodes")


if __name__ == "__main__":
    main()

"""Helpers shared by the careflow training scripts: ONNX export of generalised
linear models, hashing, model cards, and the evaluation scores the Rust side
reproduces. Every model careflow serves is a GLM so the Rust side can rebuild
its features exactly and the ONNX graph stays a handful of nodes."""
import hashlib
import json
import os
import platform
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
MODELS = os.path.join(ROOT, "forecasters", "models")
FIXTURES = os.path.join(ROOT, "forecasters", "tests", "fixtures")


def glm_onnx(name, coef, intercept, link, doc):
    """features [N, F] float32 -> `output` [N, K] float32 with K linear heads.

    link: per-head list of "exp", "sigmoid" or "identity". The graph is
    MatMul + Add followed by the links, so ONNX Runtime computes exactly
    x . w + b in float32."""
    coef = np.asarray(coef, dtype=np.float32)
    if coef.ndim == 1:
        coef = coef[:, None]
    intercept = np.asarray(intercept, dtype=np.float32).reshape(1, -1)
    n_feat, k = coef.shape
    assert len(link) == k
    nodes = [
        helper.make_node("MatMul", ["features", "W"], ["xw"]),
        helper.make_node("Add", ["xw", "B"], ["eta"]),
    ]
    if all(l == link[0] for l in link):
        op = {"exp": "Exp", "sigmoid": "Sigmoid", "identity": "Identity"}[link[0]]
        nodes.append(helper.make_node(op, ["eta"], ["output"]))
    else:
        outs = []
        for j, l in enumerate(link):
            nodes.append(helper.make_node("Constant", [], [f"s{j}"], value=numpy_helper.from_array(np.array([j], dtype=np.int64))))
            nodes.append(helper.make_node("Constant", [], [f"e{j}"], value=numpy_helper.from_array(np.array([j + 1], dtype=np.int64))))
            nodes.append(helper.make_node("Constant", [], [f"a{j}"], value=numpy_helper.from_array(np.array([1], dtype=np.int64))))
            nodes.append(helper.make_node("Slice", ["eta", f"s{j}", f"e{j}", f"a{j}"], [f"eta{j}"]))
            op = {"exp": "Exp", "sigmoid": "Sigmoid", "identity": "Identity"}[l]
            nodes.append(helper.make_node(op, [f"eta{j}"], [f"h{j}"]))
            outs.append(f"h{j}")
        nodes.append(helper.make_node("Concat", outs, ["output"], axis=1))
    graph = helper.make_graph(
        nodes,
        name,
        [helper.make_tensor_value_info("features", TensorProto.FLOAT, ["N", n_feat])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, ["N", k])],
        initializer=[numpy_helper.from_array(coef, "W"), numpy_helper.from_array(intercept, "B")],
    )
    graph.doc_string = doc
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="careflow-training")
    # ir_version 8 keeps the file loadable by any ONNX Runtime >= 1.17 (the oldest ort accepts).
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


def save_model(model, name, version, card, out_dir=None):
    out_dir = out_dir or os.path.join(MODELS, name, version)
    os.makedirs(out_dir, exist_ok=True)
    path = os.path.join(out_dir, "model.onnx")
    data = model.SerializeToString()
    with open(path, "wb") as f:
        f.write(data)
    card = dict(card)
    card["name"] = name
    card["version"] = version
    card["onnx_file"] = "model.onnx"
    card["sha256"] = hashlib.sha256(data).hexdigest()
    card["trained_with"] = {
        "python": platform.python_version(),
        "numpy": np.__version__,
        "onnx": onnx.__version__,
        "command": " ".join(["python"] + [os.path.relpath(sys.argv[0], ROOT)] + sys.argv[1:]),
    }
    with open(os.path.join(out_dir, "card.json"), "w") as f:
        json.dump(card, f, indent=2, sort_keys=False)
        f.write("\n")
    print(f"wrote {path} sha256={card['sha256']}")
    return path


def run_onnx(path, x):
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    sess = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
    return sess.run(None, {"features": np.asarray(x, dtype=np.float32)})[0]


def write_fixture(name, obj):
    os.makedirs(FIXTURES, exist_ok=True)
    path = os.path.join(FIXTURES, name)
    with open(path, "w") as f:
        json.dump(obj, f)
        f.write("\n")
    print(f"wrote {path}")


def pinball(y, q, a):
    d = y - q
    return np.mean(np.maximum(a * d, (a - 1) * d))


def reliability_table(p, y, bins=10):
    edges = np.linspace(0, 1, bins + 1)
    rows = []
    for i in range(bins):
        m = (p >= edges[i]) & ((p < edges[i + 1]) if i < bins - 1 else (p <= edges[i + 1]))
        if m.sum() == 0:
            continue
        rows.append({
            "bin": f"{edges[i]:.1f}-{edges[i + 1]:.1f}",
            "n": int(m.sum()),
            "mean_predicted": round(float(p[m].mean()), 4),
            "observed_rate": round(float(y[m].mean()), 4),
        })
    return rows

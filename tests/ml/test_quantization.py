"""int8: a tiny untrained model's graph quantized with calibration, and the rule that decides whether it serves."""

from __future__ import annotations

import numpy as np
import onnx
import pytest

from ml import quantization
from ml.architectures import build_model
from ml.onnx_export import export_onnx
from ml.quantization import Int8Check, check_int8, decide, quantize_and_check
from ml.runtimes import OnnxRuntime


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """A basic CNN with random weights (weights=None) exported to ONNX, and prepared images for it."""
    import keras

    keras.utils.set_random_seed(0)
    model = build_model("basic_cnn", 3, 32, weights=None, conv_filters=(8, 16), dense_units=(16,))
    path = export_onnx(model, tmp_path_factory.mktemp("onnx"))
    images = np.random.default_rng(0).random((40, 32, 32, 3), dtype=np.float32)
    return path, images


def test_the_quantized_graph_is_int8_and_serves_the_same_labels(exported, tmp_path):
    path, images = exported
    fp32 = OnnxRuntime(path)
    labels = fp32(images).argmax(axis=1)
    labels[:2] = (labels[:2] + 1) % 3  # two wrong answers, so accuracy is not trivially 1

    check = quantize_and_check(path, tmp_path / "int8.onnx", images, labels)

    graph = onnx.load(tmp_path / "int8.onnx").graph
    operators = {node.op_type for node in graph.node}
    assert {"QuantizeLinear", "DequantizeLinear"} <= operators
    weights = [t for t in graph.initializer if t.data_type == onnx.TensorProto.INT8]
    assert weights, "no int8 weights in the quantized graph"
    int8 = OnnxRuntime(tmp_path / "int8.onnx")
    int8_top, fp32_top = int8(images).argmax(axis=1), fp32(images).argmax(axis=1)
    assert check.images == 40
    assert check.fp32_accuracy == pytest.approx(np.mean(fp32_top == labels), abs=1e-4) == pytest.approx(38 / 40)
    assert check.int8_accuracy == pytest.approx(np.mean(int8_top == labels), abs=1e-4)
    assert check.agreement == pytest.approx(np.mean(int8_top == fp32_top), abs=1e-4)
    assert check.accepted == (check.fp32_accuracy - check.int8_accuracy <= 0.005 and check.agreement >= 0.99)
    assert np.abs(int8(images) - fp32(images)).max() < 0.2  # close, not equal: it is quantized


def test_the_rule_allows_half_a_point_and_one_disagreement_in_a_hundred():
    assert decide(200, 0.900, 0.895, 0.99).accepted
    assert decide(200, 0.900, 0.910, 1.0).accepted  # int8 may be luckier
    dropped = decide(200, 0.900, 0.890, 1.0)
    assert not dropped.accepted and "accuracy drops by 1.00 points" in dropped.reason
    disagreeing = decide(200, 0.900, 0.900, 0.985)
    assert not disagreeing.accepted and "98.5 %" in disagreeing.reason
    assert decide(200, 0.9, 0.9, 0.99).to_dict() == {
        "images": 200, "fp32_accuracy": 0.9, "int8_accuracy": 0.9, "agreement": 0.99, "accepted": True,
        "reason": "within the limits",
    }


def test_an_int8_graph_that_changes_answers_is_refused(exported):
    path, images = exported
    fp32 = OnnxRuntime(path)
    labels = fp32(images).argmax(axis=1)

    def shifted(batch):  # every fifth answer moved to the next class
        scores = fp32(batch)
        return np.where((np.arange(len(batch)) % 5 == 0)[:, None], np.roll(scores, 1, axis=1), scores)

    check = check_int8(fp32, shifted, images, labels)
    assert not check.accepted and check.agreement < 0.99 and check.int8_accuracy < check.fp32_accuracy


def test_failures_refuse_int8_with_a_reason_instead_of_raising(exported, tmp_path):
    path, images = exported
    labels = np.zeros(len(images), dtype=np.int64)
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(b"not a graph")

    failed = quantize_and_check(broken, tmp_path / "int8.onnx", images, labels)
    assert not failed.accepted and failed.reason.startswith("quantization failed: ")
    assert not (tmp_path / "int8.onnx").exists() and not list(tmp_path.glob(".int8.onnx.*"))

    empty = quantize_and_check(path, tmp_path / "int8.onnx", images[:0], labels[:0])
    assert empty == Int8Check(0, reason="no validation images stored with this version")



def test_the_validation_split_kept_with_a_bundle_is_capped_by_a_seeded_sample(tmp_path, monkeypatch):
    from ml import bundle

    monkeypatch.setattr(bundle, "VALIDATION_KEPT", 5)
    pixels = np.arange(8, dtype=np.uint8).repeat(12).reshape(8, 2, 2, 3)
    labels = np.arange(8) % 3
    path = bundle.write_validation(tmp_path, pixels, labels, seed=1)
    kept_pixels, kept_labels = bundle.read_validation(path)
    assert len(kept_labels) == 5 and kept_pixels.dtype == np.uint8
    assert all(labels[row[0, 0, 0]] == label for row, label in zip(kept_pixels, kept_labels))  # still aligned
    assert bundle.write_validation(tmp_path / "again", pixels, labels[:0]) is None

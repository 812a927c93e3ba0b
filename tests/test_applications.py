"""The helpers on real architectures nobody here wrote: keras.applications with weights=None.

Small inputs keep it quick (MobileNetV2 at 96x96, ConvNeXtTiny at 64x64; about 20 s on two
idle cores). Nothing is downloaded: weights=None builds each architecture with random weights.
"""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras
import numpy as np
import pytest

from helpers import activations, pytorch, softmax
from helpers import weights as W

RNG = np.random.default_rng(0)


@pytest.fixture(scope="module")
def mobilenet() -> keras.Model:
    keras.utils.set_random_seed(0)
    return keras.applications.MobileNetV2(weights=None, input_shape=(96, 96, 3), classes=10)


@pytest.fixture(scope="module")
def convnext() -> keras.Model:
    keras.utils.set_random_seed(0)
    return keras.applications.ConvNeXtTiny(weights=None, input_shape=(64, 64, 3), classes=10)


def images(size: int, n: int = 3) -> np.ndarray:
    return RNG.uniform(0, 255, size=(n, size, size, 3)).astype("float32")


def bare_ops(model: keras.Model) -> list:
    return [op for op in model.operations if not isinstance(op, keras.layers.Layer)]


@pytest.mark.parametrize("name", ["mobilenet", "convnext"])
def test_weight_table_totals_are_count_params(name, request):
    model = request.getfixturevalue(name)
    rows = W.weight_table(model)
    assert sum(r.params for r in rows) == model.count_params()
    trainable = sum(r.params for r in rows if r.trainable)
    assert trainable == sum(int(np.prod(v.shape)) for v in model.trainable_weights)


@pytest.mark.parametrize("name", ["mobilenet", "convnext"])
def test_no_layer_or_op_result_is_missing_from_activation_names(name, request):
    model = request.getfixturevalue(name)
    names = activations.activation_names(model)
    layers = [
        layer.name for layer in model.layers if not isinstance(layer, keras.layers.InputLayer)
    ]
    assert set(layers) <= set(names)
    assert {op.name for op in bare_ops(model)} <= set(names)
    nested = [layer for layer in model.layers if isinstance(layer, keras.Model)]
    for sub in nested:  # ConvNeXt's stem and downsampling blocks are nested Sequentials
        assert {f"{sub.name}/{inner.name}" for inner in sub.layers} <= set(names)
    assert len(names) == len(set(names))


def test_mobilenet_extract_equals_plain_sub_models_and_torch_layout_covers_it(mobilenet):
    x = images(96)
    chosen = ["Conv1", "block_1_depthwise", "block_2_add", "out_relu", "predictions"]
    plain = keras.Model(mobilenet.input, [mobilenet.get_layer(n).output for n in chosen])
    got = activations.extract(mobilenet, x, chosen)
    for key, want in zip(chosen, plain(x), strict=True):  # eager: no second compile
        # exact on TensorFlow; on JAX the compiled pass and the eager one round differently (~1e-6)
        np.testing.assert_allclose(got[key], keras.ops.convert_to_numpy(want), rtol=1e-5, atol=1e-5)
    assert softmax.output_layer(mobilenet).name == "predictions"
    state = pytorch.to_torch_layout(mobilenet)  # every layer with weights converts
    params = sum(v.size for k, v in state.items() if not k.endswith("num_batches_tracked"))
    assert params == mobilenet.count_params()
    pytorch.from_torch_layout(mobilenet, state)
    back = pytorch.to_torch_layout(mobilenet)
    assert all(np.array_equal(back[k], state[k]) for k in state)


def test_convnext_residual_sums_are_extracted_and_only_layer_scale_is_refused(convnext):
    x = images(64, n=2)
    adds = [op for op in bare_ops(convnext) if type(op).__name__ == "Add"]
    assert len(adds) == 18  # one residual x + layer(x) per block: 3 + 3 + 9 + 3
    chosen = [adds[0].name, adds[-1].name, "convnext_tiny_head_dense"]
    tensors = [adds[0].output, adds[-1].output, convnext.get_layer(chosen[-1]).output]
    plain = keras.Model(convnext.input, tensors)(x)  # eager: no second compile
    got = activations.extract(convnext, x, chosen)
    for key, want in zip(chosen, plain, strict=True):
        # exact on TensorFlow; on JAX the compiled pass and the eager one round differently (~1e-6)
        np.testing.assert_allclose(got[key], keras.ops.convert_to_numpy(want), rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError) as info:
        pytorch.to_torch_layout(convnext)
    scales = [layer.name for layer in convnext.layers if type(layer).__name__ == "LayerScale"]
    message = str(info.value)
    assert message.startswith(f"to_torch_layout: {len(scales)} layer(s) of model 'convnext_tiny'")
    assert message.count("(LayerScale)") == len(scales) == 18


@pytest.mark.parametrize(
    "build, head",
    [
        (keras.applications.MobileNet, "conv_preds"),  # Conv2D -> Reshape -> softmax
        (keras.applications.MobileNetV3Small, "logits"),  # Conv2D -> Flatten -> softmax
    ],
)
def test_softmax_helpers_on_mobilenet_v1_and_v3s_pointwise_conv_head(build, head):
    keras.utils.set_random_seed(0)
    model = build(weights=None, input_shape=(32, 32, 3), classes=3)
    conv, after = softmax.output_head(model)
    assert conv.name == head and [layer.name for layer in after] == ["predictions"]
    softmax.set_class_weights(model, [0, 1, 2], softmax.class_weights(model)[0], [0.0, 1.0, 2.0])
    x = images(32, n=4)
    probs = model.predict(x, verbose=0)
    z = softmax.logits(model, x)
    assert z.shape == (4, 3)
    np.testing.assert_allclose(softmax._softmax(z.astype(np.float64)), probs, atol=1e-5)
    pw = softmax.prediction_weights(model, x)
    assert np.array_equal(pw.classes, probs.argmax(axis=1))
    np.testing.assert_allclose(pw.probabilities, probs.max(axis=1), atol=1e-5)


@pytest.mark.parametrize(
    "build, boxes",
    [(keras.applications.EfficientNetV2B0, 30), (keras.applications.MobileNetV3Small, 19)],
)
def test_draw_graph_of_a_large_application_shows_its_blocks(build, boxes):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from helpers import diagrams

    model = build(weights=None, input_shape=(32, 32, 3))
    ax = diagrams.draw_graph(model)
    texts = [t.get_text() for t in ax.texts if t.get_text()]
    width, height = ax.figure.get_size_inches()
    plt.close(ax.figure)
    assert len(model.layers) > 160 and len(texts) == boxes  # 273 / 163 layers
    assert texts[-2:] == ["predictions", "output 0"]
    assert (width, height) == (6, pytest.approx(1 + 0.45 * boxes))  # a chain of blocks
    assert "block6h (15 layers)" in texts or "expanded_conv_10 (17 layers)" in texts

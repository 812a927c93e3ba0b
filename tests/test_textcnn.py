"""helpers.textcnn: layer shapes, parameter formulas, GloVe weights, feature extraction."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from helpers import textcnn

SMALL = {"sequence_length": 15, "num_classes": 3, "vocab_size": 40, "embedding_size": 6}


@pytest.fixture(autouse=True)
def fresh_session():
    keras.backend.clear_session()
    keras.utils.set_random_seed(0)


def shapes(model):
    return {layer.name: tuple(layer.output.shape) for layer in model.layers}


def test_window_pooling_keeps_a_halved_sequence_axis():
    model = textcnn.build_textcnn(**SMALL, num_filters=4, feature_dim=100)
    got = shapes(model)
    assert got["embedding"] == (None, 15, 6)
    for k in (3, 4, 5):
        assert got[f"conv_{k}"] == (None, 15, 4)  # padding="same"
        assert got[f"pool_{k}"] == (None, 7, 4)  # floor(15 / 2)
    assert got["concat"] == (None, 7, 12)
    assert got["flatten"] == (None, 84)
    assert got["extractor"] == (None, 100)
    assert got["output"] == (None, 3)


def test_max_over_time_gives_one_number_per_filter():
    model = textcnn.build_textcnn(**SMALL, num_filters=4, pooling="max_over_time")
    got = shapes(model)
    for k in (3, 4, 5):
        assert got[f"conv_{k}"] == (None, 15 - k + 1, 4)  # padding="valid", as in Kim's code
        assert got[f"pool_{k}"] == (None, 4)
    assert got["concat"] == (None, 12)
    assert "flatten" not in got
    assert got["extractor"] == (None, 100)


@pytest.mark.parametrize("pooling", textcnn.POOLINGS)
@pytest.mark.parametrize("sequence_length", [15, 16])
def test_parameter_counts_match_the_formula(pooling, sequence_length):
    config = {**SMALL, "sequence_length": sequence_length, "pooling": pooling}
    model = textcnn.build_textcnn(**config, filter_sizes=(2, 3), num_filters=5, feature_dim=7)
    formula = textcnn.param_formula(**config, filter_sizes=(2, 3), num_filters=5, feature_dim=7)
    counted = {layer.name: layer.count_params() for layer in model.layers if layer.weights}
    assert counted == formula
    assert model.count_params() == sum(formula.values())


def test_paper_defaults_parameter_counts():
    # 3 filter sizes x 50 maps, 100-d extractor: window pooling multiplies the extractor by L // 2.
    window = textcnn.param_formula(50, 2, 1000, 300)
    kim = textcnn.param_formula(50, 2, 1000, 300, pooling="max_over_time")
    assert window["extractor"] == (25 * 150 + 1) * 100 == 375100
    assert kim["extractor"] == (150 + 1) * 100 == 15100
    assert window["conv_4"] == kim["conv_4"] == (4 * 300 + 1) * 50


def test_relu_then_pool_equals_pool_then_relu():
    # The paper pools, then applies ReLU; Keras' Conv1D(activation="relu") does ReLU first.
    x = keras.random.normal((4, 10, 6), seed=1)
    pool = keras.layers.MaxPooling1D(2, name="pool")
    a = keras.ops.convert_to_numpy(pool(keras.ops.relu(x)))
    b = keras.ops.convert_to_numpy(keras.ops.relu(pool(x)))
    np.testing.assert_array_equal(a, b)


def test_embedding_matrix_is_loaded_and_can_be_frozen():
    matrix = np.random.default_rng(0).normal(size=(40, 6)).astype("float32")
    model = textcnn.build_textcnn(**SMALL, embedding_matrix=matrix, trainable_embedding=False)
    embedding = model.get_layer("embedding")
    np.testing.assert_array_equal(embedding.get_weights()[0], matrix)
    assert not [w.path for w in model.trainable_weights if w.path.startswith("embedding")]
    x = np.random.default_rng(1).integers(0, 40, size=(16, 15))
    model.fit(x, np.arange(16) % 3, epochs=1, verbose=0)
    np.testing.assert_array_equal(embedding.get_weights()[0], matrix)
    tuned = textcnn.build_textcnn(**SMALL, embedding_matrix=matrix, trainable_embedding=True)
    np.testing.assert_array_equal(tuned.get_layer("embedding").get_weights()[0], matrix)
    tuned.fit(x, np.arange(16) % 3, epochs=1, verbose=0)
    assert not np.array_equal(tuned.get_layer("embedding").get_weights()[0], matrix)


def test_features_have_feature_dim_per_sequence():
    from helpers import activations

    model = textcnn.build_textcnn(**SMALL, num_filters=4)
    x = np.random.default_rng(0).integers(0, 40, size=(9, 15))
    features = activations.extract(model, x, layers=["extractor"])["extractor"]
    assert features.shape == (9, 100)
    sub = keras.Model(model.input, model.get_layer("extractor").output, name="sub")
    np.testing.assert_allclose(features, sub.predict(x, verbose=0), rtol=1e-5, atol=1e-6)


def test_tf1_conv2d_on_expanded_embeddings_equals_a_conv1d_layer():
    rng = np.random.default_rng(0)
    emb = rng.normal(size=(2, 12, 6)).astype("float32")
    kernel = rng.normal(size=(3, 6, 1, 4)).astype("float32")  # TF1 filter [k, E, 1, F]
    tf1 = keras.ops.convert_to_numpy(keras.ops.conv(emb[..., None], kernel, padding="valid"))
    layer = keras.layers.Conv1D(4, 3, name="conv")
    layer.build((None, 12, 6))
    layer.set_weights([kernel[:, :, 0, :], np.zeros(4, "float32")])
    conv1d = keras.ops.convert_to_numpy(layer(emb))
    assert tf1.shape == (2, 10, 1, 4) and conv1d.shape == (2, 10, 4)
    np.testing.assert_allclose(tf1[:, :, 0, :], conv1d, atol=1e-5)


def test_tf1_loss_terms_equal_the_keras_ones():
    # softmax cross-entropy on one-hot labels = sparse categorical on integer labels;
    # l2_reg_lambda * tf.nn.l2_loss(W) (half the sum of squares) = keras L2(l2_reg_lambda / 2)
    y = np.array([0, 1, 1])
    probs = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4]], dtype="float32")
    sparse = float(keras.losses.SparseCategoricalCrossentropy()(y, probs))
    one_hot = float(keras.losses.CategoricalCrossentropy()(np.eye(2)[y], probs))
    assert sparse == pytest.approx(one_hot, abs=1e-6)
    with pytest.raises(ValueError, match="target"):
        keras.losses.CategoricalCrossentropy()(y, probs)
    w = np.random.default_rng(0).normal(size=(150, 2)).astype("float32")
    assert float(keras.regularizers.L2(0.05)(w)) == pytest.approx(0.1 * (w**2).sum() / 2, rel=1e-5)


@pytest.mark.parametrize("pooling", textcnn.POOLINGS)
def test_pooled_features_are_maxima_of_the_convolution(pooling):
    from helpers import activations

    model = textcnn.build_textcnn(
        **{**SMALL, "sequence_length": 16}, num_filters=4, pooling=pooling
    )
    x = np.random.default_rng(0).integers(0, 40, size=(5, 16))
    acts = activations.extract(model, x, layers=["conv_4", "pool_4"])
    conv = acts["conv_4"]
    # window: max over steps (2t, 2t+1); max-over-time: max over every step
    window = pooling == "window"
    expected = conv.reshape(5, 8, 2, 4).max(axis=2) if window else conv.max(axis=1)
    np.testing.assert_array_equal(acts["pool_4"], expected)


def bag_of_words(ids: np.ndarray, vocab_size: int) -> np.ndarray:
    counts = np.zeros((len(ids), vocab_size), dtype="float32")
    for row, seq in enumerate(ids):
        np.add.at(counts[row], seq[seq > 0], 1)
    return counts


def knn_agreement(
    train_x: np.ndarray, train_y: np.ndarray, test_x: np.ndarray, test_y: np.ndarray, k: int = 5
) -> float:
    """Share of test rows whose k nearest training rows (Euclidean) mostly have their label."""
    distances = (test_x**2).sum(1)[:, None] - 2 * test_x @ train_x.T + (train_x**2).sum(1)
    nearest = np.argsort(distances, axis=1, kind="stable")[:, :k]
    return float(((train_y[nearest].mean(axis=1) > 0.5) == test_y).mean())


def test_on_the_synthetic_corpus_trained_features_put_same_label_sentences_together():
    # The notebook's training claims, on the same data: held-out accuracy > 0.95; 5-nearest-
    # neighbour label agreement > 0.95 on the trained features but < 0.75 on the same network's
    # untrained features and on a bag of words (not a probe on the features, which the head
    # already is); the test fails for a network trained on shuffled labels (the control); a fresh
    # vocabulary breaks the model.
    from helpers import activations, data

    texts, labels = data.synthetic_reviews(2400, seed=0)
    train, vocab = data.vectorize(texts[:2000], 200, 16)
    test, _ = data.vectorize(texts[2000:], 200, 16, vocabulary=vocab)
    y_train, y_test = labels[:2000], labels[2000:]

    def acc(model, x, y):
        return float((model.predict(x, verbose=0).argmax(-1) == y).mean())

    def agreement(model, layer="extractor"):
        features = activations.extract(model, np.concatenate([train, test]), layer)
        f = features[layer].reshape(2400, -1)
        return knn_agreement(f[:2000], y_train, f[2000:], y_test)

    cnn = textcnn.build_textcnn(16, 2, len(vocab), 32)
    untrained = textcnn.build_textcnn(16, 2, len(vocab), 32)
    untrained.set_weights(cnn.get_weights())
    cnn.fit(train, y_train, epochs=6, batch_size=50, verbose=0)
    assert acc(cnn, test, y_test) > 0.95
    assert agreement(cnn) > 0.95
    assert agreement(untrained) < 0.75
    # exercise 2: training already put the label into the (flattened) embeddings
    assert agreement(cnn, "embedding") > 0.95 and agreement(untrained, "embedding") < 0.75
    bags = bag_of_words(train, len(vocab)), bag_of_words(test, len(vocab))
    assert knn_agreement(bags[0], y_train, bags[1], y_test) < 0.75

    keras.backend.clear_session()
    keras.utils.set_random_seed(0)
    shuffled = textcnn.build_textcnn(16, 2, len(vocab), 32)
    shuffled_labels = np.random.default_rng(0).permutation(y_train)
    shuffled.fit(train, shuffled_labels, batch_size=50, epochs=6, verbose=0)
    assert agreement(shuffled) < 0.7

    new_texts, new_labels = data.synthetic_reviews(300, seed=7)
    fresh, _ = data.vectorize(new_texts, 200, 16)  # the mistake: a new vocabulary
    same, _ = data.vectorize(new_texts, 200, 16, vocabulary=vocab)
    assert acc(cnn, fresh, new_labels) < 0.8 < 0.95 < acc(cnn, same, new_labels)


@pytest.mark.parametrize(
    ("change", "error", "match"),
    [
        (
            {"pooling": "global"},
            ValueError,
            r"pooling must be one of \('window', 'max_over_time'\)",
        ),
        ({"num_classes": 1}, ValueError, "num_classes must be an int >= 2; got 1"),
        ({"num_classes": 2.0}, TypeError, "num_classes must be an int >= 2; got float 2.0"),
        ({"filter_sizes": ()}, ValueError, "filter_sizes must be a non-empty list"),
        ({"filter_sizes": 3}, TypeError, "filter_sizes must be a list of ints such as"),
        ({"filter_sizes": "345"}, TypeError, "filter_sizes must be a list of ints such as"),
        ({"filter_sizes": (3, 3)}, ValueError, "must be distinct"),
        ({"filter_sizes": (3, 0)}, ValueError, "each filter size must be a positive int; got 0"),
        ({"num_filters": 0}, ValueError, "num_filters must be a positive int; got 0"),
        ({"num_filters": True}, TypeError, "num_filters must be a positive int; got bool True"),
        ({"pool_size": 20}, ValueError, "pool_size=20 exceeds sequence_length=15"),
        (
            {"pooling": "max_over_time", "filter_sizes": (3, 16)},
            ValueError,
            "shorter than the widest filter",
        ),
        ({"dropout": 1.0}, ValueError, r"dropout is the rate to drop, in \[0, 1\)"),
        ({"dropout": "a"}, TypeError, r"dropout is the rate to drop, a float in \[0, 1\); got str"),
        ({"embedding_matrix": np.zeros((41, 6))}, ValueError, r"shape \(41, 6\), expected"),
    ],
)
def test_build_rejects_bad_configurations(change, error, match):
    with pytest.raises(error, match=match):
        textcnn.build_textcnn(**{**SMALL, **change})


def test_numpy_ints_are_accepted_and_counts_are_python_ints():
    config = {k: np.int64(v) for k, v in SMALL.items()}
    sizes = np.array([2, 3])
    model = textcnn.build_textcnn(**config, filter_sizes=sizes, num_filters=np.int32(4),
                                  dropout=np.float32(0.25))  # fmt: skip
    assert [layer.name for layer in model.layers if layer.name.startswith("conv")] == [
        "conv_2",
        "conv_3",
    ]
    counts = textcnn.param_formula(**config, filter_sizes=sizes, num_filters=np.int32(4))
    assert all(type(n) is int for n in counts.values())
    assert model.count_params() == sum(counts.values())


def test_same_padding_window_sees_tokens_2t_minus_half_to_2t_plus_1_plus_half():
    # conv_k with padding="same" pads (k-1)//2 zeros before and k//2 after, so pooled step t
    # (window 2) is the max over conv positions 2t, 2t+1: tokens 2t-(k-1)//2 .. 2t+1+k//2.
    from helpers import activations

    model = textcnn.build_textcnn(**{**SMALL, "sequence_length": 16}, num_filters=4)
    x = np.random.default_rng(0).integers(2, 40, size=(3, 16))
    acts = activations.extract(model, x, layers=["embedding", "conv_4", "pool_4"])
    kernel, bias = model.get_layer("conv_4").get_weights()  # (4, E, F), (F,)
    k = 4
    padded = np.pad(acts["embedding"], ((0, 0), ((k - 1) // 2, k // 2), (0, 0)))
    by_hand = np.stack(
        [np.einsum("bke,kef->bf", padded[:, p : p + k], kernel) for p in range(16)], axis=1
    )
    by_hand = np.maximum(by_hand + bias, 0)
    np.testing.assert_allclose(acts["conv_4"], by_hand, rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(acts["pool_4"], acts["conv_4"].reshape(3, 8, 2, 4).max(axis=2))
    # Changing token s moves only the pooled steps t with 2t-1 <= s <= 2t+3.
    changed = x.copy()
    changed[:, 9] = 1
    moved = activations.extract(model, changed, layers="pool_4")["pool_4"]
    steps = np.flatnonzero(np.abs(moved - acts["pool_4"]).max(axis=(0, 2)) > 0)
    assert set(steps) <= {t for t in range(8) if 2 * t - 1 <= 9 <= 2 * t + 3} == {3, 4, 5}


def test_several_layers_come_from_one_forward_pass_per_batch(monkeypatch):
    from helpers import activations

    model = textcnn.build_textcnn(**SMALL, num_filters=4)
    wanted = ["conv_3", "pool_3", "concat", "extractor", "output"]
    fx = activations.feature_extractor(model, wanted)
    assert isinstance(fx, keras.Model) and sorted(fx.output) == sorted(wanted)
    calls = []
    real = fx.predict_on_batch
    monkeypatch.setattr(fx, "predict_on_batch", lambda x: calls.append(len(x)) or real(x))
    x = np.random.default_rng(0).integers(0, 40, size=(10, 15))
    acts = activations.extract(model, x, layers=wanted, batch_size=4)
    assert calls == [4, 4, 4]  # one pass per batch for all five layers (last: 2 rows + 2 padded)
    assert list(acts) == wanted and acts["output"].shape == (10, 3)


# --- reliability ---------------------------------------------------------------------------------


def test_build_textcnn_refuses_a_non_finite_embedding_matrix_and_a_non_bool():
    matrix = np.zeros((40, 6), "float32")
    matrix[7] = np.nan
    with pytest.raises(
        ValueError, match=r"embedding_matrix holds 6 non-finite values .*nan at \[7, 0\]"
    ):
        textcnn.build_textcnn(**SMALL, embedding_matrix=matrix)
    with pytest.raises(TypeError, match="trainable_embedding must be True or False; got str"):
        textcnn.build_textcnn(**SMALL, trainable_embedding="False")


@pytest.mark.parametrize("pooling", textcnn.POOLINGS)
def test_without_extractor_it_is_kims_model_and_the_formula_still_holds(pooling):
    model = textcnn.build_textcnn(**SMALL, num_filters=4, feature_dim=None, pooling=pooling)
    names = [layer.name for layer in model.layers]
    assert "extractor" not in names and names[-2:] == ["dropout", "output"]
    formula = textcnn.param_formula(**SMALL, num_filters=4, feature_dim=None, pooling=pooling)
    counted = {layer.name: layer.count_params() for layer in model.layers if layer.weights}
    assert counted == formula
    concat = model.get_layer("concat").output.shape[-1]
    assert formula["output"] == (concat * (7 if pooling == "window" else 1) + 1) * 3


def test_max_norm_is_a_constraint_on_each_class_column():
    model = textcnn.build_textcnn(**SMALL, num_filters=4, max_norm=3.0)
    constraint = model.get_layer("output").kernel.constraint
    assert isinstance(constraint, keras.constraints.MaxNorm)
    assert (constraint.max_value, constraint.axis) == (3.0, 0)
    assert model.get_layer("extractor").kernel.constraint is None
    wide = np.full((100, 3), 1.0, dtype="float32")  # each column has norm 10
    capped = keras.ops.convert_to_numpy(constraint(wide))
    assert np.allclose(np.linalg.norm(capped, axis=0), 3.0, atol=1e-5)
    for bad in (0, -1.0, "3", True):
        with pytest.raises(ValueError, match="max_norm must be a positive number or None"):
            textcnn.build_textcnn(**SMALL, max_norm=bad)


@pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="string tensors: TF only")
def test_extract_reaches_the_extractor_inside_a_model_that_reads_raw_strings():
    import tensorflow as tf

    from helpers import activations, data

    texts, _ = data.synthetic_reviews(40, seed=0)
    ids, vocab = data.vectorize(texts, 200, 16)
    cnn = textcnn.build_textcnn(16, 2, len(vocab), 8)
    text = keras.Input(shape=(1,), dtype="string", name="text")
    to_ids = keras.layers.TextVectorization(
        vocabulary=vocab[2:], output_sequence_length=16, name="vectorize"
    )
    reader = keras.Model(text, cnn(to_ids(text)), name="reader")
    # "" and "[UNK]" may be dropped (the layer adds them) or given at the start
    with_reserved = keras.layers.TextVectorization(vocabulary=vocab, name="with_reserved")
    assert to_ids.get_vocabulary() == with_reserved.get_vocabulary() == vocab
    strings = tf.constant(texts)[:, None]
    name = f"{cnn.name}/extractor"
    from_reader = activations.extract(reader, strings, [name], batch_size=16)[name]
    plain = keras.Model(cnn.input, cnn.get_layer("extractor").output, name="plain")
    np.testing.assert_allclose(from_reader, plain.predict(ids, verbose=0), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("max_norm", [float("inf"), 0, float("nan"), True])
def test_max_norm_must_be_a_positive_finite_number(max_norm):
    with pytest.raises(ValueError, match="max_norm must be a positive number or None .*finite"):
        textcnn.build_textcnn(10, 2, 20, 4, num_filters=2, max_norm=max_norm)  # inf was taken


@pytest.mark.parametrize("constraint", ["bogus", 5])
def test_a_bad_embedding_constraint_is_named(constraint):
    with pytest.raises(ValueError, match=r"embedding_constraint must be a keras.constraints"):
        textcnn.build_textcnn(10, 2, 20, 4, num_filters=2, embedding_constraint=constraint)


def test_kim_code_convolutions_are_wide_and_extra_zero_padding_changes_nothing():
    model = textcnn.build_textcnn(None, 3, 30, 8, num_filters=6, feature_dim=None,
                                  pooling="max_over_time", kim_code=True)  # fmt: skip
    model.get_layer("output").kernel.assign(np.random.default_rng(0).normal(size=(18, 3)))
    for size in textcnn.FILTER_SIZES:
        conv = model.get_layer(f"conv_{size}")
        conv.bias.assign(np.random.default_rng(size).normal(size=6))  # relu(bias) can win
    words = np.array([[7, 3], [5, 0]])  # one word is narrower than every filter
    base = keras.ops.convert_to_numpy(model(words))
    for before, after in [(0, 3), (4, 4), (9, 1)]:
        padded = np.pad(words, ((0, 0), (before, after)))
        np.testing.assert_allclose(keras.ops.convert_to_numpy(model(padded)), base, atol=1e-6)
    # conv_k's outputs: the windows touching a word (k - 1 + len) and one all-zero window.
    acts = keras.Model(model.input, [model.get_layer(f"conv_{k}").output for k in (3, 5)])
    conv3, conv5 = (keras.ops.convert_to_numpy(a) for a in acts(words))
    assert conv3.shape == (2, 2 + 3, 6) and conv5.shape == (2, 2 + 5, 6)
    relu_bias = np.maximum(model.get_layer("conv_5").bias.numpy(), 0)
    np.testing.assert_allclose(conv5[:, -1], np.stack([relu_bias, relu_bias]), atol=1e-7)


def test_kim_code_builds_his_initialisers_padding_and_dropout_units():
    model = textcnn.build_textcnn(None, 3, 30, 8, num_filters=6, feature_dim=None,
                                  pooling="max_over_time", max_norm=3.0, kim_code=True)  # fmt: skip
    for size in textcnn.FILTER_SIZES:
        kernel = model.get_layer(f"conv_{size}").kernel.numpy()
        assert np.abs(kernel).max() <= 0.01 and np.abs(kernel).max() > 0  # U(-0.01, 0.01)
    assert (model.get_layer("output").kernel.numpy() == 0).all()  # softmax weights start at 0
    assert model.get_layer("output").kernel.constraint.max_value == 3.0
    # Padding (id 0) embeds to zeros whatever row 0 holds: the same probabilities.
    ids = np.array([[0, 0, 0, 0, 5, 7, 9, 0, 0, 0, 0, 0], [0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0]])
    model.get_layer("output").kernel.assign(np.random.default_rng(0).normal(size=(18, 3)))
    before = keras.ops.convert_to_numpy(model(ids))
    table = model.get_layer("embedding").embeddings.numpy()
    table[0] = 5.0
    model.get_layer("embedding").embeddings.assign(table)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(model(ids)), before, atol=1e-6)
    # Kim's dropout: kept features are not scaled up in training; at inference x * (1 - rate).
    dropout = keras.Model(model.get_layer("dropout").input, model.get_layer("dropout_scale").output)
    x = np.arange(1, 19, dtype="float32")[None].repeat(64, axis=0)
    trained = keras.ops.convert_to_numpy(dropout(x, training=True))
    assert set(np.unique(trained / x).tolist()) == {0.0, 1.0}  # each kept as it is, or dropped
    np.testing.assert_allclose(keras.ops.convert_to_numpy(dropout(x)), 0.5 * x)
    plain = textcnn.build_textcnn(None, 3, 30, 8, pooling="max_over_time", feature_dim=None)
    assert "dropout_scale" not in [layer.name for layer in plain.layers]  # Keras' default
    with pytest.raises(TypeError, match="kim_code"):
        textcnn.build_textcnn(10, 2, 20, 4, kim_code="yes")

"""helpers.exercises.nb05: notebook 05's exercise checks accept the solutions, say "not yet" to
the placeholder and give a hint for a typical wrong answer."""

import keras
import numpy as np
import pytest

from helpers import activations, textcnn
from helpers.exercises import check_answer, is_right, nb05


def kim_model(seq_len, num_classes, vocab_size, emb_dim, padding="valid", pool=None):
    """The solution of exercise 1, with the mistakes the tests make as options."""
    tokens = keras.Input(shape=(seq_len,), dtype="int32", name="tokens")
    x = keras.layers.Embedding(vocab_size, emb_dim, name="embedding")(tokens)
    pooled = []
    for k in (3, 4, 5):
        conv = keras.layers.Conv1D(50, k, padding=padding, activation="relu", name=f"conv_{k}")(x)
        layer = pool(k) if pool else keras.layers.GlobalMaxPooling1D(name=f"pool_{k}")
        pooled.append(layer(conv))
    x = keras.layers.Concatenate(name="concat")(pooled)
    if pool:
        x = keras.layers.Flatten(name="flatten")(x)
    features = keras.layers.Dense(100, activation="relu", name="extractor")(x)
    x = keras.layers.Dropout(0.5, name="dropout")(features)
    outputs = keras.layers.Dense(num_classes, activation="softmax", name="output")(x)
    return keras.Model(tokens, outputs)


def test_exercise_1_solution_is_right(capsys):
    check_answer("05", 1, text_cnn_kim=kim_model, kim_extractor_params=15100)
    assert capsys.readouterr().out == "Exercise 1: right.\n"


def test_exercise_1_placeholder_is_not_yet(capsys):
    check_answer("05", 1, text_cnn_kim=..., kim_extractor_params=...)
    assert "not yet answered" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("model_fn", "count", "hint"),
    [
        (lambda *a: kim_model(*a, padding="same"), 15100, 'padding="valid"'),
        (
            lambda *a: kim_model(
                *a, "same", lambda k: keras.layers.MaxPooling1D(2, name=f"pool_{k}")
            ),
            15100,
            "nothing to Flatten",
        ),
        (kim_model, 15000, "100 biases"),
        (kim_model, 120100, "3 filter sizes x 50"),
        ("not a function", 15100, "is a function"),
    ],
)
def test_exercise_1_wrong_answers_get_their_hint(model_fn, count, hint):
    assert hint in nb05.exercise_1(model_fn, count)


def test_exercise_1_other_layer_names_get_the_expected_names():
    def renamed(*args):
        model = kim_model(*args)
        model.get_layer("extractor").name = "features"
        return model

    assert "expected ['concat', 'conv_3'," in nb05.exercise_1(renamed, 15100)


def kim_model_convs_first(seq_len, num_classes, vocab_size, emb_dim):
    """A right answer written differently: all convolutions, then all poolings, in a list."""
    tokens = keras.Input(shape=(seq_len,), name="tokens")
    x = keras.layers.Embedding(vocab_size, emb_dim, name="embedding")(tokens)
    convs = [keras.layers.Conv1D(50, k, activation="relu", name=f"conv_{k}")(x) for k in (5, 4, 3)]
    maxima = [
        keras.layers.GlobalMaxPooling1D(name=f"pool_{k}")(c)
        for k, c in zip((5, 4, 3), convs, strict=True)
    ]
    x = keras.layers.Concatenate(name="concat")(maxima[::-1])
    x = keras.layers.Dense(100, activation="relu", name="extractor")(x)
    x = keras.layers.Dropout(0.5, name="dropout")(x)
    return keras.Model(tokens, keras.layers.Dense(num_classes, "softmax", name="output")(x))


def test_exercise_1_a_right_answer_written_differently_is_right():
    count = np.prod((3 * 50 + 1, 100))  # a NumPy integer, not an int
    assert is_right("05", 1, text_cnn_kim=kim_model_convs_first, kim_extractor_params=count)


@pytest.fixture(scope="module")
def model():
    keras.utils.set_random_seed(0)
    return textcnn.build_textcnn(16, 2, 55, 32)


def bags(model, ids):
    return activations.extract(model, ids, ["embedding"])["embedding"].mean(axis=1)


def test_exercise_2_solution_is_right(model, capsys):
    check_answer("05", 2, bag_of_vectors=bags, model=model)
    assert capsys.readouterr().out == "Exercise 2: right.\n"


def test_exercise_2_placeholder_is_not_yet(model, capsys):
    check_answer("05", 2, bag_of_vectors=..., model=model)
    assert "not yet answered" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("answer", "hint"),
    [
        (lambda m, ids: activations.extract(m, ids, ["embedding"])["embedding"], "per position"),
        (
            lambda m, ids: activations.extract(m, ids, ["embedding"])["embedding"].reshape(
                len(ids), -1
            ),
            "flattened",
        ),
        (lambda m, ids: activations.extract(m, ids, ["embedding"])["embedding"].sum(1), "sum"),
        (lambda m, ids: activations.extract(m, ids, ["embedding"])["embedding"].max(1), "mean"),
    ],
)
def test_exercise_2_wrong_answers_get_their_hint(model, answer, hint):
    assert hint in nb05.exercise_2(answer, model)


def test_exercise_2_a_plain_keras_sub_model_is_right(model):
    def plain(model, ids):
        embed = keras.Model(model.input, model.get_layer("embedding").output)
        return np.mean(embed.predict(ids, verbose=0), axis=1)

    assert is_right("05", 2, bag_of_vectors=plain, model=model)


def test_exercise_2_a_mean_over_the_words_only_gets_the_padding_hint(model):
    def words_only(model, ids):
        embedded = activations.extract(model, ids, ["embedding"])["embedding"]
        words = (ids > 0)[..., None]
        return (embedded * words).sum(axis=1) / words.sum(axis=1)

    assert "padding included" in nb05.exercise_2(words_only, model)

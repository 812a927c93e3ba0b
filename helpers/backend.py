"""The Keras backends this collection supports, and how a notebook skips a TensorFlow-only cell.

Every helper runs on TensorFlow and on JAX (`KERAS_BACKEND=jax`). A notebook cell that shows
something TensorFlow-only by nature (a `tf.data` pipeline, `tf.GradientTape`) wraps its body in
``if tensorflow_only("why"):``, so on another backend the cell prints that it was skipped and why.
"""

from __future__ import annotations

import keras

SUPPORTED_BACKENDS = ("tensorflow", "jax")


def tensorflow_only(reason: str) -> bool:
    """True on the TensorFlow backend; elsewhere print that the cell is skipped, and why.

    >>> if tensorflow_only("tf.GradientTape is TensorFlow's autodiff"):
    ...     import tensorflow as tf  # the TensorFlow-only lines of the cell
    """
    if not isinstance(reason, str):
        raise TypeError(f"reason must be a str saying why; got {type(reason).__name__}")
    if not reason.strip():
        raise ValueError(f"reason must say why the cell needs TensorFlow; got {reason!r}")
    backend = keras.backend.backend()
    if backend == "tensorflow":
        return True
    print(f"Skipped on the {backend} backend (TensorFlow only): {reason}")
    return False

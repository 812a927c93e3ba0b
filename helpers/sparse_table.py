"""Training a word-vector table a few rows at a time, on TensorFlow.

A batch of sentences uses a few hundred rows of a table of thousands. ``SparseAdadelta`` steps
only those rows; ``RowEmbedding`` reads only those rows. Both gather from the ``tf.Variable``
itself (``keras.Variable.value``): converting the table to a tensor reads all of it, and once a
variable has been updated row by row TensorFlow copies the whole table on such a read, which
was most of a training step's time for Kim's model (``benchmarks/kim_step.py``). On other
backends both are Keras' own layer and optimizer.

    >>> model.compile(optimizer=SparseAdadelta(learning_rate=1.0, rho=0.95))  # doctest: +SKIP
"""

from __future__ import annotations

import keras


@keras.saving.register_keras_serializable(package="helpers")
class RowEmbedding(keras.layers.Embedding):
    """A ``keras.layers.Embedding`` that reads only the rows it looks up (on TensorFlow).

    The same outputs, weights, gradients and config as ``Embedding``; on TensorFlow the lookup
    is a gather from the variable rather than from a copy of the whole table. LoRA and
    quantized tables take ``Embedding``'s own path.

    >>> tuple(RowEmbedding(10, 4, name="embedding")(keras.ops.array([[0, 9]])).shape)
    (1, 2, 4)
    """

    def call(self, inputs: object) -> object:
        table = self.embeddings
        if keras.backend.backend() != "tensorflow" or not isinstance(table, keras.Variable):
            return super().call(inputs)
        import tensorflow as tf

        ids = inputs if inputs.dtype in ("int32", "int64") else keras.ops.cast(inputs, "int32")
        return keras.ops.cast(tf.gather(table.value, ids), self.compute_dtype)


@keras.saving.register_keras_serializable(package="helpers")
class SparseAdadelta(keras.optimizers.Adadelta):
    """Adadelta that updates only the rows of a word-vector table that a batch uses.

    The same steps as Adadelta on the whole table (Kim's, with the rows' gradients summed
    first, as a dense gradient holds them), for a fraction of the work: a row a batch does not
    use gets a zero step and its two accumulators are only multiplied by ``rho``, so they are
    brought up to date (times ``rho ** k``, k the steps it sat out) when a batch next uses it.
    That applies on TensorFlow, whose Embedding gradients are ``tf.IndexedSlices``; other
    gradients (and other backends, whose gradients are dense) take Keras' Adadelta step. Keras'
    own Adadelta squares each occurrence of a repeated word apart, not their sum.
    Between steps an unused row's accumulators are stale until it is used again.

    >>> model.compile(optimizer=SparseAdadelta(learning_rate=1.0, rho=0.95))  # doctest: +SKIP
    """

    def build(self, var_list: list) -> None:
        if self.built:
            return
        super().build(var_list)
        # the step at which each row was last updated (0: never), for the tables only (only
        # TensorFlow's gradients are sparse)
        sparse = keras.backend.backend() == "tensorflow"
        self._last_used = [
            self.add_variable((v.shape[0],), initializer="zeros", dtype="int64", name="last_used")
            if sparse and len(v.shape) == 2
            else None
            for v in var_list
        ]

    def update_step(self, grad: object, variable: object, learning_rate: object) -> None:
        index = self._get_variable_index(variable)
        if self._last_used[index] is None:
            return super().update_step(grad, variable, learning_rate)
        import tensorflow as tf

        if not isinstance(grad, tf.IndexedSlices):
            return super().update_step(grad, variable, learning_rate)
        rows, position = tf.unique(grad.indices)
        g = tf.math.unsorted_segment_sum(
            tf.cast(grad.values, variable.dtype), position, tf.shape(rows)[0]
        )  # a word used twice in a batch: its gradients summed, as in the dense gradient
        step = tf.cast(self.iterations, "int64") + 1
        last = self._last_used[index]
        missed = tf.cast(step - 1 - tf.gather(last.value, rows), variable.dtype)[:, None]
        decay = tf.pow(tf.cast(self.rho, variable.dtype), missed)
        grads, deltas = self._accumulated_grads[index], self._accumulated_delta_vars[index]
        old_delta = tf.gather(deltas.value, rows) * decay
        new_grad = self.rho * tf.gather(grads.value, rows) * decay + (1 - self.rho) * tf.square(g)
        delta = -tf.sqrt(old_delta + self.epsilon) * g / tf.sqrt(new_grad + self.epsilon)
        new_delta = self.rho * old_delta + (1 - self.rho) * tf.square(delta)
        self.assign(grads, tf.IndexedSlices(new_grad, rows))
        self.assign(deltas, tf.IndexedSlices(new_delta, rows))
        self.assign(last, tf.IndexedSlices(tf.fill(tf.shape(rows), step), rows))
        lr = tf.cast(learning_rate, variable.dtype)
        self.assign_add(variable, tf.IndexedSlices(lr * delta, rows))

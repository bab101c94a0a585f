"""Building blocks shared by the generator and the discriminators."""

import keras
import tensorflow as tf

KERNEL = 4  # the paper's kernel size throughout
LEAKY_SLOPE = 0.2


def set_numbered(owner, prefix, index, layer):
    """Layers go in numbered attributes, not lists: tf.train.Checkpoint does not follow the
    lists Keras 3 tracks, so layers kept only in a list would be missing from checkpoints."""
    setattr(owner, f"{prefix}{index}", layer)


def minibatch_std(x, group_size: int):
    """x [N, ..., C] -> [N, ..., C + 1]: one more channel holding, for each sample, the standard
    deviation of every feature over its group of samples, averaged to one number (StyleGAN's
    minibatch standard deviation, Karras et al. 2018). A discriminator then sees how varied a
    batch is, so a generator that drops a mode (all its videos alike) is told apart.

    Groups are strided, sample i with i + N/G, i + 2N/G, ...: the image discriminator's frames
    come clip by clip, so neighbours are frames of one video. G is the largest divisor of N up
    to group_size (a batch of 1 gives 0).
    """
    n = tf.shape(x)[0]  # the batch may be known only when the step runs
    sizes = tf.range(group_size, 0, -1)
    group = sizes[tf.argmax(tf.cast(n % sizes == 0, tf.int32))]  # the first size that divides n
    values = tf.cast(x, tf.float32)
    grouped = tf.reshape(values, tf.concat([[group, n // group], tf.shape(values)[1:]], 0))
    variance = tf.reduce_mean(tf.square(grouped - tf.reduce_mean(grouped, 0)), 0)
    std = tf.reduce_mean(tf.sqrt(variance + 1e-8), axis=list(range(1, values.shape.rank)))
    std = tf.tile(std, [group])  # sample a * N/G + b gets group b's
    channel = tf.ones_like(values[..., :1]) * tf.reshape(std, [-1] + [1] * (values.shape.rank - 1))
    return tf.concat([x, tf.cast(channel, x.dtype)], axis=-1)


class SpectralNorm(keras.layers.Layer):
    """A convolution whose kernel is divided by its largest singular value (Miyato et al. 2018).

    Written here rather than using `keras.layers.SpectralNormalization`, which overwrites the
    wrapped kernel variable in the forward pass: no gradient flows through sigma, and the write
    to a trainable mirrored variable inside `strategy.run` is not allowed. Here the kernel stays
    the trained variable; only the power-iteration vector `u` is updated (in training).
    """

    def __init__(self, conv, power_iterations=1, **kwargs):
        super().__init__(name=f"{conv.name}_sn", dtype=conv.dtype_policy, **kwargs)
        self.conv = conv
        self.power_iterations = power_iterations

    def build(self, input_shape):
        self.conv.build(input_shape)
        self.u = self.add_weight(
            shape=(1, self.conv.filters),
            initializer=keras.initializers.RandomNormal(stddev=1.0),
            trainable=False,
            aggregation="mean",  # every replica computes the same vector
            name="u",
            dtype="float32",
        )

    def _sigma(self, kernel):
        matrix = tf.reshape(tf.cast(kernel, tf.float32), [-1, self.conv.filters])
        u = tf.convert_to_tensor(self.u)
        for _ in range(self.power_iterations):
            v = tf.math.l2_normalize(tf.matmul(u, matrix, transpose_b=True))
            u = tf.math.l2_normalize(tf.matmul(v, matrix))
        u, v = tf.stop_gradient(u), tf.stop_gradient(v)
        sigma = tf.reshape(tf.matmul(tf.matmul(v, matrix), u, transpose_b=True), [])
        return sigma, u

    def call(self, inputs, training=False):
        kernel = self.conv.kernel
        sigma, u = self._sigma(kernel)
        if training:
            self.u.assign(u)
        kernel = tf.cast(tf.cast(kernel, tf.float32) / sigma, self.compute_dtype)
        outputs = keras.ops.conv(
            tf.cast(inputs, self.compute_dtype), kernel, strides=self.conv.strides,
            padding=self.conv.padding,
        )
        if self.conv.use_bias:
            outputs = outputs + tf.cast(self.conv.bias, self.compute_dtype)
        return outputs


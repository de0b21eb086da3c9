"""The model of lesson 4's source document, in Keras 3, for tests/test_tlb_keras.py.

The classes are the Keras example's own ("Image classification with Temporal Latent Bottleneck
Networks", keras.io, last modified 2024-11-12), copied from the course's seed text
(``shared/seeds/04_temporal_latent_bottleneck_keras_cifar10_zh.txt``, lines 157-489) with
comments and docstrings shortened. The layers and what they compute are the source's; the
constructors repeated with the same arguments are written once (``functools.partial``), and
the cell no longer saves the arguments that its ``call`` does not read. :func:`build` follows
the source's lines 493-513. Import this module only after ``KERAS_BACKEND=torch`` is set: Keras reads the backend
once, at its first import.
"""

from __future__ import annotations

from functools import partial

import keras
from keras import layers, ops


class PatchEmbedding(layers.Layer):
    """Image to patch embedding (seed lines 157-221)."""

    def __init__(
        self,
        image_size,
        patch_size,
        embed_dim,
        chunk_size,
        **kwargs,
    ):
        super().__init__(**kwargs)
        patch_resolution = [
            image_size[0] // patch_size[0],
            image_size[1] // patch_size[1],
        ]
        self.image_size = image_size
        self.patch_size = patch_size
        self.embed_dim = embed_dim
        self.patch_resolution = patch_resolution
        self.num_patches = patch_resolution[0] * patch_resolution[1]
        self.positions = ops.arange(start=0, stop=self.num_patches, step=1)
        self.projection = layers.Conv2D(
            filters=embed_dim,
            kernel_size=patch_size,
            strides=patch_size,
            name="projection",
        )
        self.flatten = layers.Reshape(
            target_shape=(-1, embed_dim),
            name="flatten",
        )
        self.position_embedding = layers.Embedding(
            input_dim=self.num_patches,
            output_dim=embed_dim,
            name="position_embedding",
        )
        self.layernorm = keras.layers.LayerNormalization(
            epsilon=1e-5,
            name="layernorm",
        )
        self.chunking_layer = layers.Reshape(
            target_shape=(self.num_patches // chunk_size, chunk_size, embed_dim),
            name="chunking_layer",
        )

    def call(self, inputs):
        x = self.projection(inputs)
        x = self.flatten(x)
        x = x + self.position_embedding(self.positions)
        x = self.layernorm(x)
        x = self.chunking_layer(x)
        return x


class FeedForwardNetwork(layers.Layer):
    """Feed forward network (seed lines 225-250)."""

    def __init__(self, dims, dropout, **kwargs):
        super().__init__(**kwargs)
        self.ffn = keras.Sequential(
            [
                layers.Dense(units=4 * dims, activation="gelu"),
                layers.Dense(units=dims),
                layers.Dropout(rate=dropout),
            ],
            name="ffn",
        )
        self.layernorm = layers.LayerNormalization(
            epsilon=1e-5,
            name="layernorm",
        )

    def call(self, inputs):
        x = self.layernorm(inputs)
        x = inputs + self.ffn(x)
        return x


class BaseAttention(layers.Layer):
    """Base attention module (seed lines 257-300)."""

    def __init__(self, num_heads, key_dim, dropout, **kwargs):
        super().__init__(**kwargs)
        self.multi_head_attention = layers.MultiHeadAttention(
            num_heads=num_heads,
            key_dim=key_dim,
            dropout=dropout,
            name="mha",
        )
        self.query_layernorm = layers.LayerNormalization(
            epsilon=1e-5,
            name="q_layernorm",
        )
        self.key_layernorm = layers.LayerNormalization(
            epsilon=1e-5,
            name="k_layernorm",
        )
        self.value_layernorm = layers.LayerNormalization(
            epsilon=1e-5,
            name="v_layernorm",
        )
        self.attention_scores = None

    def call(self, input_query, key, value):
        query = self.query_layernorm(input_query)
        key = self.key_layernorm(key)
        value = self.value_layernorm(value)
        (attention_outputs, attention_scores) = self.multi_head_attention(
            query=query,
            key=key,
            value=value,
            return_attention_scores=True,
        )
        self.attention_scores = attention_scores
        x = input_query + attention_outputs
        return x


class AttentionWithFFN(layers.Layer):
    """Attention with feed forward network (seed lines 307-364)."""

    def __init__(
        self,
        ffn_dims,
        ffn_dropout,
        num_heads,
        key_dim,
        attn_dropout,
        **kwargs,
    ):
        super().__init__(**kwargs)
        attention = partial(
            BaseAttention,
            num_heads=num_heads,
            key_dim=key_dim,
            dropout=attn_dropout,
            name="base_attn",
        )
        self.fast_stream_attention = attention()
        self.slow_stream_attention = attention()
        self.ffn = FeedForwardNetwork(
            dims=ffn_dims,
            dropout=ffn_dropout,
            name="ffn",
        )
        self.attention_scores = None

    def build(self, input_shape):
        self.built = True

    def call(self, query, key, value, stream="fast"):
        attention_layer = {
            "fast": self.fast_stream_attention,
            "slow": self.slow_stream_attention,
        }[stream]
        if len(query.shape) == 2:
            query = ops.expand_dims(query, -1)
        if len(key.shape) == 2:
            key = ops.expand_dims(key, -1)
        if len(value.shape) == 2:
            value = ops.expand_dims(value, -1)
        x = attention_layer(query, key, value)
        self.attention_scores = attention_layer.attention_scores
        x = self.ffn(x)
        return x


class CustomRecurrentCell(layers.Layer):
    """Custom recurrent cell (seed lines 373-469)."""

    def __init__(
        self,
        chunk_size,
        r,
        num_layers,
        ffn_dims,
        ffn_dropout,
        num_heads,
        key_dim,
        attn_dropout,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.chunk_size = chunk_size
        self.r = r
        self.ffn_dims = ffn_dims
        self.state_size = chunk_size * ffn_dims
        self.get_attention_scores = False
        self.attention_scores = []
        block = partial(
            AttentionWithFFN,
            ffn_dims=ffn_dims,
            ffn_dropout=ffn_dropout,
            num_heads=num_heads,
            key_dim=key_dim,
            attn_dropout=attn_dropout,
        )
        perceptual_module = list()
        for layer_idx in range(num_layers):
            perceptual_module.append(block(name=f"pm_self_attn_{layer_idx}"))
            if layer_idx % r == 0:
                perceptual_module.append(block(name=f"pm_cross_attn_ffn_{layer_idx}"))
        self.perceptual_module = perceptual_module
        self.tlb_module = block(name="tlb_cross_attn_ffn")

    def build(self, input_shape):
        self.built = True

    def call(self, inputs, states):
        # inputs => (batch, chunk_size, dims)
        # states => [(batch, chunk_size, units)]
        slow_stream = ops.reshape(states[0], (-1, self.chunk_size, self.ffn_dims))
        fast_stream = inputs
        for layer_idx, layer in enumerate(self.perceptual_module):
            fast_stream = layer(
                query=fast_stream, key=fast_stream, value=fast_stream, stream="fast"
            )
            if layer_idx % self.r == 0:
                fast_stream = layer(
                    query=fast_stream, key=slow_stream, value=slow_stream, stream="slow"
                )
        slow_stream = self.tlb_module(
            query=slow_stream, key=fast_stream, value=fast_stream
        )
        if self.get_attention_scores:
            self.attention_scores.append(self.tlb_module.attention_scores)
        return fast_stream, [
            ops.reshape(slow_stream, (-1, self.chunk_size * self.ffn_dims))
        ]


class TemporalLatentBottleneckModel(keras.Model):
    """The complete model (seed lines 472-489)."""

    def __init__(self, patch_layer, custom_cell, unroll_loops=False, **kwargs):
        super().__init__(**kwargs)
        self.patch_layer = patch_layer
        self.rnn = layers.RNN(custom_cell, unroll=unroll_loops, name="rnn")
        self.gap = layers.GlobalAveragePooling1D(name="gap")
        self.head = layers.Dense(10, activation="softmax", dtype="float32", name="head")

    def call(self, inputs):
        x = self.patch_layer(inputs)
        x = self.rnn(x)
        x = self.gap(x)
        outputs = self.head(x)
        return outputs


def build(config: dict) -> TemporalLatentBottleneckModel:
    """The document's model for its ``config`` dict (seed lines 31-51 and 493-513)."""
    patch_layer = PatchEmbedding(
        image_size=(config["image_size"], config["image_size"]),
        patch_size=(config["patch_size"], config["patch_size"]),
        embed_dim=config["embed_dim"],
        chunk_size=config["chunk_size"],
    )
    custom_rnn_cell = CustomRecurrentCell(
        chunk_size=config["chunk_size"],
        r=config["r"],
        num_layers=config["num_layers"],
        ffn_dims=config["embed_dim"],
        ffn_dropout=config["ffn_drop"],
        num_heads=config["num_heads"],
        key_dim=config["embed_dim"],
        attn_dropout=config["attn_drop"],
    )
    return TemporalLatentBottleneckModel(
        patch_layer=patch_layer,
        custom_cell=custom_rnn_cell,
    )


def build_weights(model: TemporalLatentBottleneckModel, images) -> None:
    """Create the weights of ``model`` by calling it once, eagerly, on ``images`` (B, S, S, 3).

    Before its first eager call Keras traces a layer that defines no ``build`` symbolically,
    and for the model that means the whole recurrence (half a minute on the torch backend).
    Marked as built, these layers skip the trace, and each of their sublayers creates its
    weights at its first call, as in the trace: the same weights (a ``slow_stream_attention``
    that is never called gets none either way).
    """
    model.built = True
    for layer in model._flatten_layers(include_self=False):
        if isinstance(layer, (PatchEmbedding, FeedForwardNetwork, BaseAttention)):
            layer.built = True
    model(images)

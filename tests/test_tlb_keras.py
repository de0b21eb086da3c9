"""Lesson 4's ``keras`` mode against the source document's own model, built in Keras 3.

The Keras example's classes (``tests/tlb_keras_source.py``) build its model with its config; its
weights, made random everywhere (biases and LayerNorms too), are copied into our
``TemporalLatentBottleneck`` of the ``keras`` preset, and both must give the same outputs on a
fixed batch and have the same number of parameters. The same with the source changed to use one
attention per block for both roles tests ``mode="keras-tf"`` (the first revision's sharing).

Keras is a test-only dependency (``requirements-test.txt``), run on the torch backend. ``make
test`` installs it and sets ``CTM_COURSE_REQUIRE_KERAS=1``: there a missing Keras fails. A plain
``pytest`` without it skips, with the reason shown by ``pytest -rs``.
"""

from __future__ import annotations

import ast
import os
import re

import numpy as np
import pytest
import torch

from ctm_course.tlb import KERAS, KERAS_LOG, TemporalLatentBottleneck, count_parameters
from ctm_course.tlb.attention import Attention

SEED = "seeds/04_temporal_latent_bottleneck_keras_cifar10_zh.txt"  # in ../shared
# the source's config (seed lines 31-51), model part
SOURCE_CONFIG = {
    "image_size": 48,
    "num_classes": 10,
    "patch_size": 4,
    "embed_dim": 64,
    "chunk_size": 8,
    "r": 2,
    "num_layers": 4,
    "ffn_drop": 0.2,
    "attn_drop": 0.2,
    "num_heads": 1,
}
TOLERANCE = 1e-5


@pytest.fixture(scope="module")
def source():
    """Keras (on the torch backend) and the module with the source's classes."""
    os.environ["KERAS_BACKEND"] = "torch"  # read once, at Keras' first import
    try:
        import keras
    except ImportError:
        keras = None
    if keras is None:
        message = (
            "keras is not installed: this test builds the Keras example's own model. "
            "`make test` installs it (pip install -r requirements-test.txt)"
        )
        if os.environ.get("CTM_COURSE_REQUIRE_KERAS") == "1":
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    if keras.backend.backend() != "torch":
        pytest.fail(
            f"Keras runs on the {keras.backend.backend()!r} backend: it was imported "
            "before this test set KERAS_BACKEND=torch",
            pytrace=False,
        )
    import tlb_keras_source

    return keras, tlb_keras_source


def test_the_keras_preset_is_the_source_config():
    model = KERAS["model"]
    assert {
        "image_size": model["image_size"],
        "num_classes": model["num_classes"],
        "patch_size": model["patch_size"],
        "embed_dim": model["embed_dim"],
        "chunk_size": model["chunk_size"],
        "r": model["r"],
        "num_layers": model["num_layers"],
        "ffn_drop": model["dropout"],
        "attn_drop": model["attn_dropout"],
        "num_heads": model["heads"],
    } == SOURCE_CONFIG
    assert model["mode"] == "keras" and model["mlp_ratio"] == 4  # Dense(4 * dims)


def test_the_source_config_recipe_and_log_are_the_seeds(shared_dir):
    text = (shared_dir / SEED).read_text()
    start = text.index("config = {")
    config = {}
    for key, value in re.findall(
        r'"(\w+)": (.+),', text[start : text.index("}", start)]
    ):
        if key != "buffer_size":  # 2048 * 2, unused
            config[key] = ast.literal_eval(value)
    assert SOURCE_CONFIG.items() <= config.items()
    train = KERAS["train"]
    assert (train["train_images"], train["batch_size"], train["epochs"]) == (
        config["train_slice"],
        config["batch_size"],
        config["epochs"],
    )
    assert (train["lr"], train["weight_decay"]) == (
        config["learning_rate"],
        config["weight_decay"],
    )
    # Resizing(input_shape[0] + 20) before the 48 px random crop
    assert train["resize_to"] == config["input_shape"][0] + 20
    log = re.findall(
        r"Epoch (\d+)/\d+\n(\d+)/\d+ .*? - accuracy: ([\d.]+) - loss: ([\d.]+) - "
        r"val_accuracy: ([\d.]+) - val_loss: ([\d.]+)",
        text,
    )
    epoch, steps, accuracy, loss, val_accuracy, val_loss = map(float, log[-1])
    assert len(log) == epoch == KERAS_LOG["epochs"] == train["epochs"]
    # PyDataset.__len__ floors: 19 batches of 2048 of the 40,000 images
    assert steps == KERAS_LOG["steps_per_epoch"] == 40_000 // train["batch_size"]
    assert (accuracy, loss) == (KERAS_LOG["accuracy"], KERAS_LOG["loss"])
    assert (val_accuracy, val_loss) == (
        KERAS_LOG["val_accuracy"],
        KERAS_LOG["val_loss"],
    )


class Copier:
    """Copies Keras variables into torch parameters, and remembers what it wrote."""

    def __init__(self) -> None:
        self.written: list[torch.nn.Parameter] = []
        self.read: set[int] = set()

    def __call__(self, target: torch.nn.Parameter, variable, transform=None) -> None:
        value = variable.value.detach().float()  # the torch backend's tensor
        value = value if transform is None else transform(value)
        assert value.shape == target.shape, (variable.path, value.shape, target.shape)
        with torch.no_grad():
            target.copy_(value)
        self.written.append(target)
        self.read.add(id(variable))

    def norm(self, ours: torch.nn.LayerNorm, theirs) -> None:
        self(ours.weight, theirs.gamma)
        self(ours.bias, theirs.beta)

    def dense(self, ours: torch.nn.Linear, theirs) -> None:
        # Dense kernel (in, out) -> weight (out, in)
        self(ours.weight, theirs.kernel, lambda k: k.T)
        self(ours.bias, theirs.bias)

    def attention(self, ours: Attention, theirs) -> None:
        """``BaseAttention``: LayerNorms on q, k, v and ``MultiHeadAttention``."""
        self.norm(ours.norm_q, theirs.query_layernorm)
        self.norm(ours.norm_k, theirs.key_layernorm)
        self.norm(ours.norm_v, theirs.value_layernorm)
        mha = theirs.multi_head_attention
        for proj, dense in (
            (ours.q_proj, mha.query_dense),
            (ours.k_proj, mha.key_dense),
            (ours.v_proj, mha.value_dense),
        ):
            # kernel (E, heads, head_dim), bias (heads, head_dim): heads side by side
            self(proj.weight, dense.kernel, lambda k: k.flatten(1).T)
            self(proj.bias, dense.bias, lambda b: b.flatten())
        # kernel (heads, head_dim, E) -> weight (E, heads * head_dim)
        self(ours.out_proj.weight, mha.output_dense.kernel, lambda k: k.flatten(0, 1).T)
        self(ours.out_proj.bias, mha.output_dense.bias)

    def block(self, ours, theirs) -> None:
        """``AttentionWithFFN``: two attentions (the slow one only where it was built), one FFN."""
        self.attention(ours.attention, theirs.fast_stream_attention)
        slow = theirs.slow_stream_attention
        if slow is not theirs.fast_stream_attention and slow.weights:
            self.attention(ours.cross_attention, slow)
        else:
            assert ours.cross_attention is None
        ffn = theirs.ffn
        self.norm(ours.ffn.norm, ffn.layernorm)
        self.dense(ours.ffn.fc1, ffn.ffn.layers[0])
        self.dense(ours.ffn.fc2, ffn.ffn.layers[1])


def port(source_model, ours: TemporalLatentBottleneck) -> Copier:
    """Copy every weight of the source's model into ``ours`` (same architecture)."""
    copy = Copier()
    patch = source_model.patch_layer
    # Conv2D kernel (p, p, C, E) -> weight (E, C, p, p)
    copy(
        ours.embed.proj.weight, patch.projection.kernel, lambda k: k.permute(3, 2, 0, 1)
    )
    copy(ours.embed.proj.bias, patch.projection.bias)
    copy(ours.embed.position, patch.position_embedding.embeddings)
    copy.norm(ours.embed.norm, patch.layernorm)
    cell = source_model.rnn.cell
    assert [layer.name for layer in cell.perceptual_module] == list(ours.perceptual)
    for layer in cell.perceptual_module:
        copy.block(ours.perceptual[layer.name], layer)
    copy.block(ours.tlb, cell.tlb_module)
    copy.dense(ours.head, source_model.head)
    return copy


@pytest.fixture
def one_thread():
    """Keras calls hundreds of tiny ops: one CPU thread runs them several times faster."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.mark.parametrize("mode", ["keras", "keras-tf"])
def test_keras_mode_computes_the_source_model(source, mode, one_thread):
    keras, source = source
    rng = np.random.default_rng(0)
    images = rng.uniform(size=(4, 48, 48, 3)).astype("float32")  # rescaled, NHWC
    theirs = source.build(SOURCE_CONFIG)
    if mode == "keras-tf":  # the first revision: one attention serves both streams
        for layer in [*theirs.rnn.cell.perceptual_module, theirs.rnn.cell.tlb_module]:
            layer.slow_stream_attention = layer.fast_stream_attention
    source.build_weights(theirs, images)
    for variable in theirs.weights:  # no zero biases, no unit LayerNorms
        noise = rng.normal(0, 0.05, tuple(variable.shape)).astype("float32")
        variable.assign(variable.value.detach().numpy() + noise)
    ours = TemporalLatentBottleneck(**{**KERAS["model"], "mode": mode}).eval()
    copied = port(theirs, ours)

    # every parameter of ours written once, from every Keras weight
    assert sorted(map(id, copied.written)) == sorted(map(id, ours.parameters()))
    assert copied.read == {id(v) for v in theirs.weights}
    assert theirs.count_params() == count_parameters(ours)

    # the model's call (seed lines 484-489), keeping the head's input for the logits
    features = theirs.gap(theirs.rnn(theirs.patch_layer(images)))
    probabilities = theirs.head(features).detach()
    head = theirs.head
    logits = (keras.ops.matmul(features, head.kernel) + head.bias).detach()
    with torch.no_grad():
        x = torch.from_numpy(images).permute(0, 3, 1, 2)
        ours_logits = ours(x)
        batched = ours.forward_batched(x)
    gap = (ours_logits.softmax(-1) - probabilities).abs().max().item()
    assert gap < TOLERANCE, f"{mode}: probabilities differ by {gap:.1e}"
    torch.testing.assert_close(ours_logits, logits, rtol=TOLERANCE, atol=TOLERANCE)
    torch.testing.assert_close(batched, ours_logits, rtol=TOLERANCE, atol=TOLERANCE)

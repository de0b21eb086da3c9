# ---
# jupyter:
#   accelerator: GPU
#   colab:
#     gpuType: T4
#     provenance: []
#   jupytext:
#     cell_metadata_filter: tags,cellView,mystnb,-all
#     formats: ipynb,py:percent
#     notebook_metadata_filter: accelerator,colab,kernelspec,jupytext,-jupytext.text_representation.jupytext_version
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Lesson 4: The Temporal Latent Bottleneck reads an image chunk by chunk
#
# A Transformer looks at everything at once: every token attends to every other token, at every
# layer. A recurrent network does the opposite: it reads one piece after another and carries a
# small memory forward. The **Temporal Latent Bottleneck** (TLB; Didolkar et al., 2022) combines
# the two. A {term}`fast stream` (a small Transformer) reads the input one *chunk* at a time, and
# a {term}`slow stream` (a handful of state vectors) is updated once per chunk and is the only
# thing that carries information from one chunk to the next. In this lesson the input is a
# CIFAR-10 image cut into patches, and the model reads it like a page of text: patch row after
# patch row, chunk after chunk.
#
# **Learning goals.** After this lesson you can
# - explain fast and slow processing and why a *narrow* slow stream (a bottleneck) can help;
# - turn an image into patch tokens and chunks, and follow the two streams through one chunk;
# - find out with forward hooks what a model really computes (here: a layer-reuse quirk of the
#   Keras example this lesson ports), and test a port against its source;
# - train the TLB in two modes and a parameter-matched Vision Transformer on the same budget, and
#   compare them honestly;
# - look at what the slow stream attends to, chunk by chunk.
#
# **Prerequisites.** Attention and Transformers (queries, keys, values, LayerNorm, residual
# connections), PyTorch basics. Lessons 1-3 are not needed; they show another way for a network
# to think in time.
#
# **Time.** The lesson runs in three budgets (profiles): `smoke` (for tests), `cpu` (a laptop
# without a GPU) and `gpu` (Colab or a workstation GPU). Training time as measured by the lesson
# itself in each profile (executing the whole notebook takes a little longer; more on the
# [results page](../book/results.md)):
#
# ```{include} ../book/results.md
# :start-after: <!-- lesson-times:04_tlb_cifar10:start -->
# :end-before: <!-- lesson-times:04_tlb_cifar10:end -->
# ```
#
# **Exercises.** The lesson has three; each solution is collapsed under its exercise. To work on them
# without the solutions in sight, download the {download}`student copy <../student/04_tlb_cifar10.ipynb>`
# and open it in Jupyter or upload it to Colab. Terms in the text link to the [glossary](../book/glossary.md).

# %% tags=["hide-input"]
import os
import subprocess
import sys

# the repository, set in _config.yml (repository.url); `make notebooks` syncs it here
REPO_URL = "https://github.com/ctm-course/ctm-course"
if "google.colab" in sys.modules:  # Colab has torch: install only the course package
    target = os.environ.get("CTM_COURSE_INSTALL_URL", f"git+{REPO_URL}")
    pip = [sys.executable, "-m", "pip", "install", "-q", f"ctm-course @ {target}"]
    subprocess.run(pip, check=True)

from ctm_course import start
from ctm_course.notebook import glue

lesson = start("04_tlb_cifar10")

# %%
import inspect

import torch
from IPython.display import Markdown, display

from ctm_course import viz
from ctm_course.checkpoints import checkpoint_path
from ctm_course.data import keras_train_transform, load_cifar10, test_transform
from ctm_course.results import record
from ctm_course.tlb import (
    KERAS,
    KERAS_LOG,
    AttentionBlock,
    TemporalLatentBottleneck,
    block_plan,
    build,
    count_parameters,
    plots,
)
from ctm_course.tlb.ablation import (
    ablation_accuracy,
    describe_study,
    recorded_ablations,
)
from ctm_course.tlb.attention import Attention
from ctm_course.tlb.run import recorded_runs, train_run
from ctm_course.train import seed_everything
from ctm_course.viz.common import new_figure

PROFILE, CONFIG, DEVICE = lesson.profile, lesson.config, lesson.device

# %% [markdown]
# Every size in this lesson comes from the profile table printed above (`TLB` in
# `ctm_course/config.py`). The `gpu` row trains the `keras` model with exactly the Keras example's
# recipe (48 px images, 4 px patches, width 64, chunks of 8, 4 layers, AdamW with learning rate
# and weight decay $10^{-4}$, batch 2048, 30 epochs) and gives the `paper` model and the baseline a
# larger budget: 100 epochs or 400 seconds of training, whichever ends first (`max_seconds`: the
# cosine learning rate then follows the clock). The `cpu` row shrinks everything so that all three models train in a few
# minutes on two CPU cores: 32 px images, width 48, two layers, a warm-up and cosine learning-rate
# schedule, and the same number of steps for every model.
#
# ## 1. Fast and slow
#
# When you read a sentence, you take in a few words at a glance (fast, detailed, short-lived) and
# keep a gist of what came before (slow, compressed, long-lived). The TLB builds this split into a
# network:
#
# - the **fast stream** is a Transformer that works on one chunk of $K$ tokens at a time. Inside a
#   chunk it is as expressive as any Transformer: its *self-attention* blocks let every token of the
#   chunk look at every other. Its *cross-attention* blocks let the chunk read the slow stream: this
#   is top-down information, "what I have seen so far", arriving at the tokens being processed now.
# - the **slow stream** is a small set of $N$ state vectors. After the fast stream has processed a
#   chunk, the state is updated by one cross-attention block in the other direction: the state
#   vectors are the queries and the chunk's tokens the keys and values. Nothing else crosses from one
#   chunk to the next.
#
# Why squeeze everything through $N$ vectors? A bottleneck forces the model to *choose* what to keep,
# which acts as a regulariser and encourages compressed, reusable summaries; and the cost of
# attention no longer grows with the square of the sequence length, because no attention spans more
# than one chunk and the state. The price is sequential computation: chunk $t+1$ must wait for
# chunk $t$.
#
# ## 2. An image as a sequence of chunks
#
# We use CIFAR-10: 32x32 colour images of 10 classes, 50,000 for training and the official 10,000
# for testing. The loader returns the images as bytes (`uint8`); each batch is converted, resized
# and (for training only) augmented on the device that trains, in a few batched operations.

# %%
train_data = load_cifar10(train=True)
test_data = load_cifar10(train=False)
if CONFIG.train_images:
    train_data = train_data.subset(min(CONFIG.train_images, len(train_data)), seed=0)
if CONFIG.test_images:
    test_data = test_data.subset(min(CONFIG.test_images, len(test_data)), seed=0)
print(train_data, test_data, sep="\n")
glue("n_train", f"{len(train_data):,}")
glue("n_test", f"{len(test_data):,}")

# %% [markdown]
# The model cuts the image into square **patches**; a strided convolution maps each patch to a
# token of width $E$, a learned position vector is added and the tokens are normalised. Read in
# rows, left to right and top to bottom, the tokens form a sequence, and that sequence is cut into
# **chunks** of $K$ consecutive tokens. With the Keras example's sizes (48 px, 4 px patches) there
# are $12 \times 12 = 144$ tokens and, with $K = 8$, 18 chunks; since 12 is not a multiple of 8, a
# chunk can end in the middle of a patch row, as the picture shows.

# %% mystnb={"figure": {"caption": "A CIFAR-10 test image at the Keras example's 48 px with its 4 px patch grid (left) and the 18 chunks of 8 tokens the model reads in order (right)."}}
plots.plot_patches_and_chunks(
    test_data.images[7], image_size=48, patch_size=4, chunk_size=8
)

# %% [markdown]
# **Training and test pipelines.** The Keras example enlarges each training image to 52 px, takes a
# random 48 px crop and flips it left-right at random; test images are only resized to 48 px. We
# apply the random part to training batches only, with a seeded generator, so that the test
# accuracy is measured on the same, unaltered test set every time. (The example's test pipeline is
# deterministic too, although it is named `test_augmentation`; what it does differently is the
# resize: objects are about 8% larger in training than at test time, a mismatch we keep in the
# `keras` preset.)

# %% mystnb={"figure": {"caption": "One training image through the Keras example's random training pipeline four times (resize to 52 px, random 48 px crop, flip), and through the deterministic test pipeline (resize to 48 px, right)."}}
size, resize_to = 48, 52  # the Keras example's sizes (the cpu profile uses 32 and 34)
generator = torch.Generator().manual_seed(0)
views = [
    keras_train_transform(train_data.images[:1], size, resize_to, generator=generator)[
        0
    ]
    for _ in range(4)
]
views.append(test_transform(train_data.images[:1], size)[0])
fig = new_figure((10, 2.4))
for i, view in enumerate(views):
    ax = fig.add_subplot(1, 5, i + 1)
    ax.imshow(view.permute(1, 2, 0).clamp(0, 1).numpy())
    ax.set_title("test pipeline" if i == 4 else f"training draw {i + 1}", fontsize=10)
    ax.set_xticks([])
    ax.set_yticks([])
fig.tight_layout()
fig

# %% [markdown]
# ## 3. The model
#
# Everything is built from one block, used for self-attention (context = the tokens themselves)
# and for cross-attention (context = the other stream): an `Attention` (the Keras example's
# `BaseAttention`) followed by a feed-forward network with its own residual. As in the example,
# the query, the keys and the values each get their **own** LayerNorm, and the residual adds the
# un-normalised query:

# %%
print(inspect.getsource(Attention.forward))
print(inspect.getsource(AttentionBlock.forward))

# %% [markdown]
# A block may have a second attention, `cross_attention`, which it uses whenever it reads the
# other stream; the feed-forward net serves both. That is the Keras example's `AttentionWithFFN`,
# which holds a `fast_stream_attention` and a `slow_stream_attention` beside one shared
# feed-forward net. Which blocks have one, and why, is the subject of the first exercise.

# %% [markdown]
# The whole model, chunk by chunk, as the paper describes it: `forward` turns the image into
# chunks, and `read` runs the two streams over them, one chunk after the other. The fast stream's
# blocks are applied in the order of `self.schedule`, a list of `(block name, role)` pairs; after
# them, the `tlb` block updates the slow stream from the chunk's tokens. The model returns
# **logits**: the loss (`F.cross_entropy`) applies the softmax, which is numerically safer than a
# softmax inside the model, especially in bf16.

# %%
print(inspect.getsource(TemporalLatentBottleneck.forward))
print(inspect.getsource(TemporalLatentBottleneck.read))

# %% [markdown]
# The blocks that come before the first cross-attention never read the slow stream, so they need
# not wait for it. `forward_batched` runs them on all chunks at once, as one batch, and only the
# rest chunk by chunk: fewer, larger steps, the same logits (a unit test compares the two). The
# training loop uses it; everything else in this lesson calls `forward`.

# %% [markdown]
# **Three modes.** `mode="keras"` reproduces the Keras example as its current version (Keras 3)
# writes it, `mode="keras-tf"` its first version (for TensorFlow), and `mode="paper"` follows the
# paper and its authors' code. The Keras modes and the paper mode differ in three places: which
# blocks the fast stream applies, the initial state, and where the classifier reads. The
# schedule comes from `block_plan`:

# %%
print(inspect.getsource(block_plan))
for mode in ("keras", "paper"):
    names, schedule = block_plan(mode, num_layers=4, r=2)
    print(
        f"{mode}: blocks {names}\n"
        f"       one chunk applies {[f'{n}:{role}' for n, role in schedule]}"
    )

# %% [markdown]
# With 4 layers and one cross-attention block per $r = 2$ self-attention blocks, the intended
# fast stream is 4 self-attention and 2 cross-attention applications per chunk. The `paper` mode
# does exactly that, each block with its own weights, and keeps $N$ **learned** state vectors
# (`n_state`, a choice of its own) and classifies from the LayerNorm of the **final state**,
# averaged over its vectors: the answer must pass through the bottleneck. The Keras modes start
# from $K$ zero vectors (the state size is tied to the chunk size) and classify from the
# **last chunk's fast stream**, and their schedule has a surprise, which the first exercise lets
# you find.
#
# The `paper` mode is not the authors' code in every detail. Their Flax implementation adds a
# position embedding to the state at every chunk and gives the tokens positions within their
# chunk; here the state has no position embedding, and each patch of the image has its own learned
# position, as in the Keras example. The paper's own CIFAR-10 results could not be checked for
# this course (its full text was not available to us), so this lesson quotes none of them.

# %%
keras_model = TemporalLatentBottleneck(
    mode="keras",
    image_size=48,
    patch_size=4,
    embed_dim=64,
    chunk_size=8,
    r=2,
    num_layers=4,
)
first_version = TemporalLatentBottleneck(keras_model.config, mode="keras-tf")
for mode, model in (("keras", keras_model), ("keras-tf", first_version)):
    print(f"{mode}: {count_parameters(model):,} parameters")
    for name, block in model.perceptual.items():
        parts = ", ".join(part for part, _ in block.named_children())
        print(f"  {name:20s} {count_parameters(block):7,}  {parts}")
glue("keras_preset_params", f"{count_parameters(keras_model):,}")
glue("keras_tf_preset_params", f"{count_parameters(first_version):,}")

# %% [markdown]
# ```{exercise}
# :label: l04-quirk
#
# The parameter list shows six fast-stream blocks, named as in the Keras example: four
# `pm_self_attn_i` and two `pm_cross_attn_ffn_i`. That looks right, but in `keras` mode some of
# the *self*-attention blocks carry cross-attention weights, and a *cross*-attention block has
# none. How often is each block *used*, and in which role? Write `block_calls(model, images)`
# that registers a forward hook on every block of `model.perceptual`, runs `model(images)` once,
# and returns a `collections.Counter` mapping `(block name, role)` to the number of times it
# processes **each chunk**, where the role is `"cross"` when the block was called with a context
# (a second positional argument that is not `None`) and `"self"` otherwise. Count the rows of each
# call's input and divide by `len(images) * model.num_chunks` (so that the count also holds when
# a block runs on all chunks at once, as in `forward_batched`). Remove the hooks before
# returning. Which blocks serve twice, and which "cross" block never cross-attends?
# ```


# %% tags=["exercise"]
def block_calls(model, images):
    """Calls per chunk of each block in one forward pass.

    A Counter of (block name, "self" | "cross") -> calls.
    """
    raise NotImplementedError(
        "Exercise: register_forward_hook on each block of model.perceptual"
    )


# %% [markdown] tags=["solution"]
# ````{solution-start} l04-quirk
# :class: dropdown
# ````


# %% cellView="form" tags=["solution"]
# @title Solution
def block_calls(model, images):
    """Calls per chunk of each block in one forward pass.

    A Counter of (block name, "self" | "cross") -> calls.
    """
    from collections import Counter

    seen = Counter()

    def hook(name):
        # args[0]: (rows, K, E) with rows = B or B * num_chunks
        def record_call(module, args, output):
            seen[
                (name, "cross" if len(args) > 1 and args[1] is not None else "self")
            ] += args[0].shape[0]

        return record_call

    handles = [
        block.register_forward_hook(hook(name))
        for name, block in model.perceptual.items()
    ]
    try:
        with torch.no_grad():
            model(images)
    finally:
        for handle in handles:
            handle.remove()
    return Counter(
        {key: rows // (len(images) * model.num_chunks) for key, rows in seen.items()}
    )


# %% [markdown] tags=["solution"]
# A forward hook sees the arguments of every call, so it tells us what the parameter list cannot:
# how the weights are used. The Keras example builds the list `[sa0, ca0, sa1, sa2, ca2, sa3]` and
# then, walking over it, re-applies a block as cross-attention whenever its **position in the list**
# is a multiple of $r$, instead of using the `ca` blocks. So `pm_self_attn_0`, `pm_self_attn_1` and
# `pm_cross_attn_ffn_2` serve twice, and `pm_cross_attn_ffn_0` only ever does self-attention:
# {glue:text}`keras_self` self and {glue:text}`keras_cross` cross applications per chunk instead
# of {glue:text}`paper_self` and {glue:text}`paper_cross`. In the current version a block that
# serves twice reads the slow stream with its own attention weights (its `slow_stream_attention`)
# but passes both results through the **same** feed-forward net; Keras creates a layer's weights
# at its first call, and the other blocks' `slow_stream_attention` is never called, so it has none:
# that is what the parameter list showed. In the first version (`keras-tf`) one attention served
# both roles, so a block that serves twice used the same weights for both.
#
# ```{solution-end}
# ```

# %%
images48 = test_transform(test_data.images[:2], 48)
keras_calls = block_calls(keras_model, images48)
paper_calls = block_calls(
    TemporalLatentBottleneck(mode="paper", image_size=48, embed_dim=64), images48
)
for name, calls in (("keras", keras_calls), ("paper", paper_calls)):
    roles = {
        role: sum(n for (_, r), n in calls.items() if r == role)
        for role in ("self", "cross")
    }
    print(f"{name}: {dict(sorted(calls.items()))}\n       per chunk: {roles}")
assert (
    keras_calls[("pm_self_attn_0", "cross")] == 1
    and keras_calls[("pm_cross_attn_ffn_0", "self")] == 1
)
assert set(paper_calls.values()) == {1}
for name, calls in (("keras", keras_calls), ("paper", paper_calls)):
    for role in ("self", "cross"):
        glue(f"{name}_{role}", sum(n for (_, r), n in calls.items() if r == role))

# %% [markdown]
# Is this a bug? It is certainly not what the code's names say, nor what the paper describes. The
# model still trains (it is a valid network, just a different one), which is exactly why such
# quirks survive. We keep it in the Keras modes, so that the port computes what the example
# computes, and fix it in `paper` mode. A unit test of the course builds the example's own model
# in Keras, copies its weights into our `keras` model and checks that both give the same outputs
# and have the same number of parameters: {glue:text}`keras_preset_params` (the first version's
# sharing, `keras-tf`, has {glue:text}`keras_tf_preset_params`).
#
# The example has faults outside the model too, which our training does not copy. Its data set
# (a `keras.utils.PyDataset`) counts `len(x) // batch_size` batches, so each epoch trains on
# {glue:text}`epoch_images` of its {glue:text}`train_slice` training images, and validation and
# test score only {glue:text}`val_scored` of their {glue:text}`val_images` images. It shuffles once,
# when it is built, so every epoch sees the same batches in the same order. The attention plot
# picks its image with `random.randint(0, batch_size)`, which includes its upper bound: one draw in
# {glue:text}`randint_draws` asks for image {glue:text}`batch` of a batch that ends at
# {glue:text}`last_index`, and fails. We reshuffle the training data every epoch, test on the
# whole test set, output logits instead of a float32 softmax, take `num_classes` instead of the
# head's hard-coded class count, and return the attention maps from the forward pass.
#
# The example's printed training log ends, after {glue:text}`log_epochs` epochs, at a validation
# accuracy of {glue:text}`log_val:.3f`. It counts {glue:text}`log_steps` steps per epoch, the
# rounding down of the Keras 3 `PyDataset` (a pipeline that keeps the last, partial batch would
# run {glue:text}`tf_steps`), so the log belongs to the current version: the model of our
# `keras` mode. Its number is a validation accuracy, on the last
# {glue:text}`val_images` training images, not a test accuracy.

# %%
recipe = KERAS["train"]
batch, kept = recipe["batch_size"], recipe["train_images"]
validation = 50_000 - kept  # CIFAR-10's training images after the first `kept`
facts = {
    "train_slice": kept,
    "epoch_images": kept // batch * batch,
    "val_images": validation,
    "val_scored": validation // batch * batch,
    "test_scored": 10_000 // batch * batch,
    "batch": batch,
    "last_index": batch - 1,
    "randint_draws": batch + 1,
    "log_steps": KERAS_LOG["steps_per_epoch"],
    "tf_steps": -(-kept // batch),
}
assert facts["log_steps"] == kept // batch  # the log is the Keras 3 PyDataset's
for name, value in facts.items():
    print(f"{name:14s} {value:,}")
    glue(name, f"{value:,}")
glue("log_epochs", KERAS_LOG["epochs"])
glue("log_val", KERAS_LOG["val_accuracy"])

# %% [markdown]
# ## 4. Training three models on the same budget
#
# Three models, each trained for the same number of steps on the same batches:
#
# - **keras**: the TLB in `keras` mode;
# - **paper**: the TLB in `paper` mode;
# - **ViT**: the baseline without recurrence: the same patch embedding and the same blocks, all
#   of them self-attention over *all* tokens at once, as many blocks as the paper TLB has (so
#   the parameter counts match), then LayerNorm, mean over tokens, and the classifier.
#
# Training uses the course's `fit` loop (the one lessons 1-3 use): each batch of bytes goes to the
# training device and is augmented there, the forward pass runs under bf16 autocast on a GPU, the
# numbers come back to the host only every few steps, and on a GPU each whole step is replayed as
# one CUDA graph (the chunk loop is many small kernels, so launching them one by one would cost
# more than computing them). It saves a checkpoint now and then: if your session disconnects, run
# the notebook again and training resumes where it stopped. The curves show the training loss and accuracy and, as test
# points, the accuracy on the first 1,000 test images.
#
# The same training runs without the notebook, for example on a GPU server:
# `python -m ctm_course.tlb.run --mode keras --epochs 30 --out keras.json` trains the Keras preset
# and prints the time, the steps and the test accuracy (`--mode keras-tf` trains the first
# version's model; `--mode paper` or `--mode vit` with `--profile gpu` take the rows of the
# profile table).

# %%
paper_model_args = CONFIG.paper["model"]
curve_images = test_data.subset(min(1000, len(test_data)), seed=1)
runs, results = {}, {}


def train_and_test(name):
    run = getattr(CONFIG, "paper" if name == "vit" else name)
    curves = viz.LiveCurves(
        metrics=("loss", "accuracy"), title=f"{name}: training and test accuracy"
    )

    def on_log(step, row, evaluated):
        curves.update(step, train=row, test=evaluated)

    ckpt = checkpoint_path("04_tlb_cifar10", PROFILE, {"name": name, **run})
    model, result, summary = train_run(
        name,
        run,
        train_data,
        test_data,
        DEVICE,
        paper_model=paper_model_args,
        checkpoint=ckpt,
        on_log=on_log,
        evaluate_during=curve_images,
    )
    curves.close()
    # a resumed run drew no live curves: show the whole run
    if result.resumed_from is not None:
        for row in result.history["train"]:
            curves.update(row["step"], train=row)
        for row in result.history["eval"]:
            curves.update(row["step"], test=row)
        display(curves.figure())
    print(
        f"{name}: {summary['parameters']:,} parameters, "
        f"{summary['steps']:,} steps ({summary['epochs']:.2f} epochs) "
        f"in {summary['train_seconds']:.0f} s; "
        f"test accuracy {summary['test_accuracy']:.3f} "
        f"on {summary['test_images']:,} images"
    )
    runs[name], results[name] = model, summary
    return model


# %%
keras_tlb = train_and_test("keras")

# %%
paper_tlb = train_and_test("paper")

# %%
vit = train_and_test("vit")

# %% [markdown]
# ## 5. Which model wins?

# %%
labels = {
    "keras": "TLB, keras mode",
    "paper": "TLB, paper mode",
    "vit": "ViT baseline (no recurrence)",
}
rows = [
    "| model | parameters | steps | epochs | training time | test accuracy |",
    "|---|---|---|---|---|---|",
]
for name, s in results.items():
    rows.append(
        f"| {labels[name]} | {s['parameters']:,} | {s['steps']:,} | "
        f"{s['epochs']:.2f} | {s['train_seconds']:.0f} s | {s['test_accuracy']:.3f} |"
    )
display(Markdown("\n".join(rows)))
for name, s in results.items():
    glue(f"{name}_acc", s["test_accuracy"])
    glue(f"{name}_params", f"{s['parameters']:,}")
    glue(f"{name}_seconds", s["train_seconds"])
glue("keras_apps", len(runs["keras"].schedule))
glue("paper_apps", len(runs["paper"].schedule))
glue("example_keras_apps", len(keras_model.schedule))
glue("example_paper_apps", len(block_plan("paper", num_layers=4, r=2)[1]))
best = max(results, key=lambda k: results[k]["test_accuracy"])
glue("best_model", Markdown(labels[best]))
glue("test_size", f"{results['paper']['test_images']:,}")

# %% mystnb={"figure": {"caption": "Test accuracy of the three models trained on the same number of steps, with chance level (0.1)."}}
plots.plot_accuracy_bars(
    {labels[k].split(" (")[0]: v["test_accuracy"] for k, v in results.items()},
    title=(
        f"CIFAR-10 test accuracy ({results['paper']['test_images']:,} images, "
        f"{PROFILE})"
    ),
)

# %% [markdown]
# On {glue:text}`test_size` test images, the TLB in keras mode reaches {glue:text}`keras_acc:.3f`,
# in paper mode {glue:text}`paper_acc:.3f`, and the ViT baseline {glue:text}`vit_acc:.3f`; the best
# here is {glue:md}`best_model`. Read these numbers with their budget in mind: the models are small
# and trained briefly, so the ranking says which model *learns faster* at this size more than which
# one is better in the end. In the `gpu` profile the keras model gets the example's own recipe
# and the paper model and the baseline a larger budget; the [results page](../book/results.md)
# lists every measured run. The runs on a GPU so far:

# %%
gpu_runs = recorded_runs()  # results/runs/04_tlb_*.json, written by ctm_course.tlb.run
if gpu_runs:
    by_count = {
        count_parameters(model): mode
        for mode, model in (("keras", keras_model), ("keras-tf", first_version))
    }
    rows = [
        "| run | model | steps | training time | test accuracy | device |",
        "|---|---|---|---|---|---|",
    ]
    for stem in ("04_tlb_keras_preset", "04_tlb_paper"):
        run, out = gpu_runs[stem], gpu_runs[stem]["output"]
        mode = by_count.get(out["parameters"], out["run"]["model"]["mode"])
        rows.append(
            f"| `{run['command']}` | {mode}, {out['parameters']:,} parameters | "
            f"{run['steps']:,} | {run['train_seconds']:.0f} s | "
            f"{run['value']:.3f} on {out['test_images']:,} | {run['device']} |"
        )
        short = "keras" if "keras" in stem else "paper"
        glue(f"gpu_{short}_acc", run["value"])
        glue(f"gpu_{short}_mode", mode)
        glue(f"gpu_{short}_steps", f"{run['steps']:,}")
        glue(f"gpu_{short}_seconds", f"{run['train_seconds']:.0f}")
    keras_run = gpu_runs["04_tlb_keras_preset"]
    glue("gpu_test_images", f"{keras_run['output']['test_images']:,}")
    glue("gpu_device", keras_run["device"])
    glue("gpu_data_source", keras_run["data_source"])
    display(Markdown("\n".join(rows)))
else:  # e.g. on Colab: the runs stay in the repository
    print("results/runs/ is not here: the measured runs are on the results page")

# %% [markdown]
# The Keras preset, trained with the example's recipe for {glue:text}`gpu_keras_steps` steps on
# a GPU ({glue:text}`gpu_device`), reaches {glue:text}`gpu_keras_acc:.3f`, beside the
# {glue:text}`log_val:.3f` of the example's log. Three things differ between the two numbers.
# Ours is a test accuracy on the official {glue:text}`gpu_test_images` test images, the log's a
# validation accuracy on {glue:text}`val_scored` of the example's own split. Ours read the
# course's offline copy of CIFAR-10 (data source {glue:text}`gpu_data_source`), whose images were
# recompressed as JPEG, so they differ a little from the original pixels. And the run trained the model of the first version (mode
# {glue:text}`gpu_keras_mode`, as its parameter count shows): it was measured before this
# lesson followed the current version, when `--mode keras` still built that model; the current
# version's `keras` mode has not been run on a GPU yet. The paper
# mode of the `gpu` row, with its larger budget ({glue:text}`gpu_paper_seconds` s,
# {glue:text}`gpu_paper_steps` steps), reaches {glue:text}`gpu_paper_acc:.3f` on the same test
# set.
#
# Two differences in cost are worth noticing. With this profile's sizes the keras mode applies
# {glue:text}`keras_apps` fast-stream blocks per chunk where the paper mode applies
# {glue:text}`paper_apps` ({glue:text}`example_keras_apps` and {glue:text}`example_paper_apps`
# with the example's sizes), so the same number of steps takes it longer. The ViT
# attends over all tokens at once; it has no sequential loop, so on a GPU it is much faster per
# step, but its attention cost grows with the square of the number of tokens, while the TLB's grows
# linearly with the number of chunks.
#
# ## 6. What does the slow stream look at?
#
# At each chunk, the slow stream's update attends from the state vectors to the chunk's tokens.
# For every token we take the largest weight any state vector gives it (and average over heads);
# since each chunk's weights sum to 1 over its tokens, a bright patch is one the state picked out
# *within its chunk*. Put together, the chunks cover the whole image.

# %% mystnb={"figure": {"caption": "Test images (top) and the paper-mode slow stream's attention over their patches, all chunks together (bottom; brighter means more attention within the chunk)."}}
n_show = CONFIG.viz_images
size = paper_model_args["image_size"]
grid = size // paper_model_args["patch_size"]
pick = [
    int((test_data.labels == k).nonzero()[0, 0]) for k in range(n_show)
]  # one image of each class
show, show_labels = test_data.images[pick], test_data.labels[pick]
paper_tlb.eval()
with torch.no_grad():
    logits, maps = paper_tlb(
        test_transform(show.to(DEVICE), size), return_attention=True
    )
attention = plots.attention_grid(maps.cpu(), grid)
predicted = logits.argmax(-1).cpu()
titles = [
    f"{test_data.classes[t]}\n(model: {test_data.classes[p]})"
    for t, p in zip(show_labels.tolist(), predicted.tolist())
]
plots.plot_attention_overlay(show, attention, size, titles)

# %% mystnb={"figure": {"caption": "The paper-mode slow stream reading one test image: each panel adds the attention of the chunks read so far; the current chunk is outlined."}}
n_chunks = paper_tlb.num_chunks
chosen = sorted(
    {max(1, round(n_chunks * f)) for f in (0.125, 0.25, 0.375, 0.5, 0.75, 1.0)}
)
plots.plot_attention_chunks(
    show[0],
    attention[0],
    size,
    paper_model_args["patch_size"],
    paper_model_args["chunk_size"],
    chosen,
)

# %% [markdown]
# Look for two things. Within a chunk, does the state pick out the patches on the object rather
# than the background? And does the pattern change as the model reads on, for example chunks
# covering the object's body getting sharper weights than the sky above it? With a small model
# and a short training run the maps are noisy; they are a view into one part of the model, not an
# explanation of its decision.
#
# ## 7. Two experiments with the bottleneck
#
# Both exercises below train small models for `CONFIG.ablation_steps` steps each with the
# course's paper-mode recipe (the course's, not the paper's own), and test them on the first
# 2,000 test images (fewer in the `smoke` profile). They share this helper, which calls
# `ctm_course.tlb.ablation.ablation_accuracy` (the training loop of section 4, with the
# batches drawn from a seed):

# %%
ablation_test = test_data.subset(min(2000, len(test_data)), seed=2)


def quick_accuracy(model, steps=CONFIG.ablation_steps):
    """Train ``model`` (on DEVICE) with the paper-mode recipe for ``steps`` steps.

    Returns its test accuracy on ``ablation_test``.
    """
    return ablation_accuracy(
        model, train_data, ablation_test, CONFIG.paper["train"], steps, DEVICE
    )


seed_everything(0)
reference_accuracy = quick_accuracy(build(CONFIG.paper))
print(
    f"paper mode, n_state = {paper_model_args.get('n_state')}, "
    f"{CONFIG.ablation_steps} steps: "
    f"test accuracy {reference_accuracy:.3f}"
)

# %% [markdown]
# ```{exercise}
# :label: l04-state
#
# In the `paper` mode the number of state vectors `n_state` is free, independent of the chunk size.
# Write `state_sweep(values)` that, for each `n` in `values`, builds the paper model with
# `n_state=n` (start from `CONFIG.paper["model"]`), trains it with `quick_accuracy`, and returns a
# dict `{n: test accuracy}`. How many vectors does the bottleneck need? Is a single state vector
# enough to classify CIFAR-10?
# ```


# %% tags=["exercise"]
def state_sweep(values):
    """{n_state: test accuracy} of paper-mode models trained with quick_accuracy."""
    raise NotImplementedError(
        "Exercise: TemporalLatentBottleneck(**{**CONFIG.paper['model'], 'n_state': n})"
    )


# %% [markdown] tags=["solution"]
# ````{solution-start} l04-state
# :class: dropdown
# ````


# %% cellView="form" tags=["solution"]
# @title Solution
def state_sweep(values):
    """{n_state: test accuracy} of paper-mode models trained with quick_accuracy."""
    accuracies = {}
    for n in values:
        seed_everything(0)
        model = TemporalLatentBottleneck(**{**CONFIG.paper["model"], "n_state": n})
        accuracies[n] = quick_accuracy(model)
    return accuracies


# %% [markdown] tags=["solution"]
# Only the initial state grows with `n_state` (`n_state x E` parameters); every block is shared by
# all state vectors, so the parameter count barely changes. What changes is the *capacity* of the
# memory: with one vector the slow stream can keep a single summary, and the classifier reads only
# that. Compare with the reference run above, but do not conclude yet: the seed study at the end
# of this section measures how much such short runs differ from one seed to the next.
#
# ```{solution-end}
# ```

# %%
sweep = state_sweep([1, 16])
for n, accuracy in sweep.items():
    print(
        f"n_state = {n:2d}: test accuracy {accuracy:.3f} (reference n_state = "
        f"{paper_model_args.get('n_state')}: {reference_accuracy:.3f})"
    )
assert set(sweep) == {1, 16} and all(0.0 <= a <= 1.0 for a in sweep.values())

# %% [markdown]
# ```{exercise}
# :label: l04-topdown
#
# Remove the top-down path: write `without_top_down(model)` that returns the model with every
# `"cross"` entry removed from `model.schedule`, so that the fast stream never reads the slow
# stream (the slow stream is still updated from each chunk and still feeds the classifier). Train a
# paper model without top-down attention with `quick_accuracy` and compare it with the reference
# run. What does the fast stream lose, and what does the slow stream still get?
# ```


# %% tags=["exercise"]
def without_top_down(model):
    """The model with no cross-attention from the fast stream to the slow stream."""
    raise NotImplementedError(
        "Exercise: keep only the ('name', 'self') entries of model.schedule"
    )


# %% [markdown] tags=["solution"]
# ````{solution-start} l04-topdown
# :class: dropdown
# ````


# %% cellView="form" tags=["solution"]
# @title Solution
def without_top_down(model):
    """The model with no cross-attention from the fast stream to the slow stream."""
    model.schedule = [(name, role) for name, role in model.schedule if role != "cross"]
    return model


# %% [markdown] tags=["solution"]
# The cross-attention blocks stay in the model (and in the parameter count) but are never called,
# so they get no gradient. Without them, each chunk is processed in isolation: the fast stream can
# no longer use what earlier chunks contained, and the recurrence is reduced to the slow stream
# collecting a summary of independently processed chunks. For a classification read from the
# final state that can be enough; tasks that need context *while* reading suffer more.
#
# ```{solution-end}
# ```

# %%
seed_everything(0)
no_top_down = without_top_down(build(CONFIG.paper))
assert all(role == "self" for _, role in no_top_down.schedule)
no_top_down_accuracy = quick_accuracy(no_top_down)
print(
    f"without top-down attention: {no_top_down_accuracy:.3f}; "
    f"with it: {reference_accuracy:.3f}"
)
glue("no_top_down_acc", no_top_down_accuracy)
glue("reference_acc", reference_accuracy)

# %% [markdown]
# In this run, the paper model without top-down attention reaches {glue:text}`no_top_down_acc:.3f`
# after the short training, and the same model with it {glue:text}`reference_acc:.3f`.
#
# ### Is a difference an effect, or luck?
#
# Each number above comes from one run: one set of initial weights and one order of the
# batches. Another seed gives another number, and a difference between two variants means
# something only if it is larger than that seed-to-seed spread. The spread was measured by
# training every variant from several seeds with `python -m ctm_course.tlb.ablation` (the same
# helper, the same recipe and test images); the figure draws those runs beside this notebook's.


# %% mystnb={"figure": {"caption": "Test accuracy of the paper-mode variants after the short ablation training: the seeds of the recorded seed study (circles, with their mean as a bar) and this notebook's run (star; it is seed 0, so it sits on a circle when the host computes the same numbers). A profile without a recorded study shows only the stars."}}
def matching(study, steps):
    """``study`` if it trained our paper model for ``steps`` steps, else None."""
    same = (
        study is not None
        and study["steps"] == steps
        and study["paper_model"] == CONFIG.paper["model"]
    )
    return study if same else None


# results/ablations/04_tlb_cifar10-<profile>.json
seed_runs = matching(recorded_ablations(PROFILE), CONFIG.ablation_steps)
ours = {
    "reference": reference_accuracy,
    "n_state=1": sweep[1],
    "n_state=16": sweep[16],
    "no top-down": no_top_down_accuracy,
}
if seed_runs is None:  # no study of these runs: the figure shows only this run
    print(
        f"no recorded seed study of the {PROFILE} profile's ablations: run "
        "python -m ctm_course.tlb.ablation to measure the spread"
    )
fig = plots.plot_seed_spread(
    seed_runs["accuracies"] if seed_runs else {name: [] for name in ours}, ours
)
# the same study at the budget of section 4's training, where the profile has one
main_steps = CONFIG.paper["train"].get("steps")
longer = (
    matching(recorded_ablations(PROFILE, steps=main_steps), main_steps)
    if main_steps
    else None
)
# whole sentences, glued as Markdown: the book sets them as prose, not bold text
glue(
    "seed_study_text",
    Markdown(describe_study(seed_runs, CONFIG.ablation_steps, PROFILE)),
)
glue(
    "seed_main_study_text",
    Markdown(
        describe_study(longer, main_steps, PROFILE)
        if main_steps
        else "This profile's section 4 trains for a time budget, not a number of "
        "steps, so no study of that budget is recorded."
    ),
)
fig

# %% [markdown]
# {glue:md}`seed_study_text`
#
# A difference of the means that is smaller than the spread of single runs is not a finding,
# and this notebook's single runs above should be read the same way. The same study at the
# budget of section 4's training (`python -m ctm_course.tlb.ablation --steps ...`):
#
# {glue:md}`seed_main_study_text`
#
# With a handful of seeds and small models trained for a few minutes, a difference that stands
# out here is a hint to test at a larger budget, not a result about the architecture.
#
# ## 8. Recording the results
#
# The lesson writes its numbers to `results/<profile>/04_tlb_cifar10.json`; the book's results page
# is generated from these files. The last cell checks that learning happened.

# %%
metrics = {f"{name}_test_accuracy": s["test_accuracy"] for name, s in results.items()}
metrics.update(
    {f"{name}_train_seconds": s["train_seconds"] for name, s in results.items()}
)
metrics.update({f"{name}_parameters": s["parameters"] for name, s in results.items()})
metrics.update(
    {
        "ablation_reference_accuracy": reference_accuracy,
        "ablation_no_top_down_accuracy": no_top_down_accuracy,
        "ablation_n_state_1_accuracy": sweep[1],
        "ablation_n_state_16_accuracy": sweep[16],
    }
)
path = record(
    "04_tlb_cifar10",
    metrics,
    train_seconds=sum(s["train_seconds"] for s in results.values()),
    steps=sum(s["steps"] for s in results.values()),
    data_source=train_data.source,
    extra={
        "runs": {name: s["run"] for name, s in results.items()},
        "test_images": len(test_data),
        "train_images": len(train_data),
        "ablation_steps": CONFIG.ablation_steps,
        "ablation_test_images": len(ablation_test),
    },
)
print(
    f"recorded {path.name} ({PROFILE}): "
    + ", ".join(
        f"{k} {v:.3f}" for k, v in metrics.items() if k.endswith("test_accuracy")
    )
)

# %%
# learning thresholds; quick mode (`make gpu-check`) trains too few steps for them
minimum = {"smoke": 0.15, "cpu": 0.40, "gpu": 0.70}[PROFILE]
floor = {"smoke": 0.13, "cpu": 0.30, "gpu": 0.45}[PROFILE]
if not lesson.quick:
    assert results["paper"]["test_accuracy"] >= minimum, (
        f"paper-mode test accuracy {results['paper']['test_accuracy']:.3f} "
        f"is below {minimum} for {PROFILE}"
    )
    for name in ("keras", "vit"):
        assert results[name]["test_accuracy"] >= floor, (
            f"{name} test accuracy {results[name]['test_accuracy']:.3f}"
        )
assert count_parameters(keras_model) == 415_882, (
    "the keras preset no longer has the example's parameter count"
)

# %% [markdown]
# ## Summary
#
# - The TLB reads its input in chunks. A fast stream (a Transformer within the chunk) processes
#   the details; a slow stream of a few state vectors, updated once per chunk by cross-attention,
#   is the only memory between chunks, and reaches back into the fast stream through
#   cross-attention (top-down).
# - An image becomes a sequence of patch tokens; cut into chunks, it is read like text. Attention
#   never spans more than one chunk plus the state, at the price of a sequential loop.
# - The Keras example's model is not quite the one its names describe: a flat-index test makes
#   three blocks serve twice (with their own attention for the slow stream but a shared
#   feed-forward net) and one cross-attention block do self-attention. A forward hook shows it;
#   a test against the example's own Keras model checks the port. The `paper` mode fixes it,
#   learns its state and reads the answer from the bottleneck.
# - Compare models on the same budget and with a baseline of the same size. At this budget the
#   best model was {glue:md}`best_model`; larger budgets are on the results page.
#
# **Further reading.** Didolkar et al. (2022), *Temporal Latent Bottleneck: Synthesis of Fast and
# Slow Processing Mechanisms in Sequence Learning* (NeurIPS, [arXiv:2205.14794](https://arxiv.org/abs/2205.14794));
# Gosthipaty and Mukherjee, *When Recurrence meets Transformers*, the
# [Keras example](https://keras.io/examples/vision/temporal_latent_bottleneck/) this lesson ports;
# Dosovitskiy et al. (2021), *An Image is Worth 16x16 Words* ([arXiv:2010.11929](https://arxiv.org/abs/2010.11929)),
# the Vision Transformer; Jaegle et al. (2021), *Perceiver* ([arXiv:2103.03206](https://arxiv.org/abs/2103.03206)),
# another model that reads its input through a small latent array; the
# [references](../book/references.md) of this book.

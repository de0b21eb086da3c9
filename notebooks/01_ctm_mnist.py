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
# # Lesson 1: A Continuous Thought Machine learns MNIST
#
# A feed-forward network answers in one pass: the image goes in, the answer comes out, and the
# network has no notion of *time*. The **Continuous Thought Machine** (CTM; Darlow et al., 2025,
# [arXiv:2505.05522](https://arxiv.org/abs/2505.05522)) gives a network an internal clock. It
# looks at the same input for a number of internal **{term}`ticks <tick>`**, and at every tick it decides where
# to look, updates its neurons, and says what it thinks. In this lesson we build one, train it on
# handwritten digits and watch it think.
#
# **Learning goals.** After this lesson you can
# - explain the CTM's three ideas: internal ticks, {term}`neuron-level models <neuron-level model>`,
#   {term}`synchronisation` as representation;
# - write the synchronisation recurrence and check it against its closed form;
# - explain and implement the {term}`certainty`-based loss;
# - train a CTM, read its accuracy and certainty tick by tick, and measure how many ticks a
#   certainty threshold saves (adaptive compute).
#
# **Prerequisites.** Python, PyTorch basics (modules, autograd, an optimiser loop), softmax and
# cross-entropy, and the idea of attention (a query, keys and values).
#
# **Time.** The lesson runs in three budgets (profiles): `smoke` (for tests), `cpu` (a laptop
# without a GPU) and `gpu` (Colab or a workstation GPU). Training time as measured by the lesson
# itself in each profile (executing the whole notebook takes a little longer; more on the
# [results page](../book/results.md)):
#
# ```{include} ../book/results.md
# :start-after: <!-- lesson-times:01_ctm_mnist:start -->
# :end-before: <!-- lesson-times:01_ctm_mnist:end -->
# ```
#
# **Exercises.** The lesson has four; each solution is collapsed under its exercise. To work on them
# without the solutions in sight, download the {download}`student copy <../student/01_ctm_mnist.ipynb>` and open
# it in Jupyter or upload it to Colab. Terms in the text link to the [glossary](../book/glossary.md).

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

lesson = start("01_ctm_mnist")

# %%
import inspect
import math
from dataclasses import asdict

import matplotlib.pyplot as plt
import torch
import torch.nn.functional as F
from IPython.display import Markdown

import ctm_course
from ctm_course import viz
from ctm_course.baselines import matched_feedforward
from ctm_course.calibration import reliability
from ctm_course.checkpoints import checkpoint_path
from ctm_course.ctm import ContinuousThoughtMachine
from ctm_course.data import InfiniteBatches, load_mnist, normalise, random_shift
from ctm_course.evaluate import batched, predict
from ctm_course.losses import image_classification_loss
from ctm_course.metrics import (
    accuracy_at,
    accuracy_per_tick,
    cheapest_exit,
    correct_at,
    early_exit_curve,
    early_exit_ticks,
    most_certain_tick,
)
from ctm_course.parameters import count_parameters
from ctm_course.results import record
from ctm_course.train import fit, seed_everything

PROFILE, CONFIG, DEVICE = lesson.profile, lesson.config, lesson.device

# %% [markdown]
# Every size in this lesson (ticks, neurons, training steps, data) comes from the profile table
# printed above, kept in one place in `ctm_course/config.py`. Set the environment variable
# `CTM_COURSE_PROFILE` to `smoke`, `cpu` or `gpu` to choose one; by default a machine with a GPU
# runs `gpu` and any other runs `cpu`.
#
# ## 1. Why give a network time?
#
# Think of how you read a badly written digit: your eyes go to the loop, then to the tail, and
# after a moment you are sure it is a 9. The CTM builds that moment into the model. It runs an
# internal loop of $T$ **ticks** $t = 1, \dots, T$ that has nothing to do with any time axis of the
# data: the image does not change, only the model's state does. At every tick the CTM
#
# 1. forms a **query** from its own state and **attends** to the image features,
# 2. lets its neurons exchange information through the **synapses**, producing pre-activations $a^t$,
# 3. lets every neuron update itself from the **history** of its own pre-activations with a tiny
#    private MLP, the **neuron-level model** (NLM), producing post-activations $z^t$,
# 4. reads out a prediction $y^t$ from how **synchronised** pairs of neurons have been so far.
#
# Because it predicts at every tick, it can also say at every tick how **certain** it is, and that
# certainty drives both its training loss and, later, when it may stop thinking.

# %% mystnb={"figure": {"caption": "One internal tick of the CTM: attention over the image's tokens (blue); synapses, the histories A and Z and the neuron-level models (orange); synchronisation (green); the output and its certainty (purple). The dashed arrow starts the next tick."}}
viz.plot_ctm_architecture()

# %% [markdown]
# The figure follows one tick around the loop. The backbone turns the image into tokens once
# per image. At tick $t$ a linear layer makes the query $q^t$ from the action synchronisation
# $S^t_\text{action}$, and cross-attention over the tokens returns $o^t$. The synapses mix
# $o^t$ with the previous post-activations $z^{t-1}$ into pre-activations $a^t$. Every neuron
# appends its $a^t$ to its history $A^t$ (its last $M$ pre-activations; the yellow column is the
# newest), and its own NLM turns that history into $z^t$. The post-activation history
# $Z^t = (z^0, \dots, z^t)$ feeds the synchronisation $S^t$: decayed products of pairs of neurons'
# traces. One set of pairs, $S^t_\text{out}$ (purple), gives the logits $y^t$ and the certainty
# $c^t$; another, $S^t_\text{action}$ (blue), one tick behind, makes the query. Then $z^t$ goes
# back to the synapses and the next tick begins. Section 3 builds each block in turn. The paper
# ([arXiv:2505.05522](https://arxiv.org/abs/2505.05522)) derives the model, and its
# [interactive report](https://pub.sakana.ai/ctm/) shows trained CTMs thinking.
#
# ## 2. The data
#
# MNIST: 28x28 greyscale digits. `load_mnist` finds the data on its own (an explicit folder,
# `$CTM_COURSE_DATA`, the torchvision cache `./data`, a download, or a small sample shipped with
# the package, in that order) and says which copy it used, because that changes what the numbers
# mean.

# %% mystnb={"figure": {"caption": "Sixteen training digits and their labels, as the CTM receives them (before normalisation)."}}
train_data = load_mnist(train=True)
test_data = load_mnist(train=False)
if CONFIG.train_images:
    train_data = train_data.subset(CONFIG.train_images, seed=0)
if CONFIG.test_images:
    test_data = test_data.subset(CONFIG.test_images, seed=0)
print(f"{len(train_data):,} training and {len(test_data):,} test images")
glue("train_images", len(train_data))
glue("test_images", len(test_data))
glue("train_source", train_data.source)
# 16 training images drawn at random (the offline subset is stored sorted by digit)
shown = torch.randperm(len(train_data), generator=torch.Generator().manual_seed(0))[:16]
viz.plot_examples(train_data.images[shown], train_data.labels[shown])

# %% [markdown]
# The original tutorial applied its random rotations and shifts to the **test** images too. That
# measures accuracy on a different, harder and randomly changing test set, so its number cannot be
# compared with anything else and changes from run to run. Here augmentation (random shifts of up
# to a couple of pixels) is part of the training step only; the test set is the official one,
# untouched, apart from the same normalisation as in training.
#
# Every number below stands on the data this run used: {glue:text}`train_images` training
# images (source: `{glue:text}`train_source``; the course's offline copy holds a 5,000-image
# subset, a download gives all 60,000) and {glue:text}`test_images` test images. With the full
# training set the same recipe does better; the recorded results name the source of each run.
#
# ## 3. The building blocks, one at a time
#
# We build a small CTM with the lesson's settings and take it apart. The backbone is the
# original tutorial's: two blocks of convolution, batch norm, max-pooling and ReLU turn a 28x28
# image into a 7x7 grid of feature vectors. Each grid cell is one **token** the CTM can attend to.

# %%
model = ContinuousThoughtMachine(CONFIG.model).to(DEVICE)
x = normalise(test_data.images[:4]).to(DEVICE)
tokens, grid = model.compute_features(x)
print(
    f"images {tuple(x.shape)} -> tokens {tuple(tokens.shape)} "
    f"on a {grid[0]}x{grid[1]} grid"
)
assert tokens.shape == (4, grid[0] * grid[1], CONFIG.model.d_input)

# %% [markdown]
# ### 3.1 Neuron-level models: every neuron has its own MLP
#
# Each of the $D$ neurons keeps the last $M$ pre-activations it received, $A^t_d \in \mathbb{R}^M$,
# and a private two-layer MLP turns that history into its post-activation:
#
# $$ z^t_d = \mathrm{GLU}\Big(\big(W^{(2)}_d \,\mathrm{GLU}\big((W^{(1)}_d A^t_d + b^{(1)}_d)/\tau_1\big) + b^{(2)}_d\big)/\tau_2\Big) $$
#
# with learnable temperatures $\tau$. "Private" means $D$ different weight matrices. A
# `SuperLinear` layer holds all of them in one tensor `w1` of shape `(M, H, D)` and applies them
# at once. Let us check that it really is one linear map per neuron:

# %%
nlm = model.trace_processor[0][0]  # the first SuperLinear of the neuron-level models
history = torch.randn(3, model.d_model, model.memory_length, device=DEVICE)  # (B, D, M)
one_by_one = torch.stack(
    [
        (history[:, d] @ nlm.w1[:, :, d] + nlm.b1[0, d]) / nlm.T
        for d in range(model.d_model)
    ],
    dim=1,
)
assert torch.allclose(nlm(history), one_by_one, atol=1e-5)
print(
    f"{model.d_model} neurons, each with its own "
    f"{nlm.w1.shape[0]} -> {nlm.w1.shape[1]} map: checked"
)

# %% [markdown]
# The history window is a first-in-first-out buffer: at each tick the oldest column drops out and
# the newest pre-activation $a^t$ comes in. Before the first tick the window holds a learned
# `start_trace`, and the neurons start from a learned `start_activated_state` $z^0$.
#
# ### 3.2 Synchronisation: the representation
#
# The CTM does not read its answer off $z^t$ directly. It reads it off how pairs of neurons have
# fired *together* over the ticks. For a selected pair $p = (i, j)$ with a learnable decay
# $d_p \in [0, 15]$ and $r_p = e^{-d_p}$:
#
# $$ S^t_p = \frac{\sum_{\tau \le t} r_p^{\,t-\tau}\, z^\tau_i z^\tau_j}{\sqrt{\sum_{\tau \le t} r_p^{\,t-\tau}}} $$
#
# A decay of 0 weighs all ticks equally; a large decay looks only at the last few. Two sets of
# pairs are used: $S_\text{out}$ feeds the output head, and $S_\text{action}$ (one tick behind)
# forms the attention query. With "first-last" selection, the output pairs are all pairs among the
# first $n_\text{out}$ neurons and the action pairs among the last $n_\text{action}$, so
# $n(n+1)/2$ numbers each. The sum never has to be recomputed: two running sums $\alpha$ and
# $\beta$ are enough.

# %% [markdown]
# ```{exercise}
# :label: l01-synch
#
# Write one step of the synchronisation recurrence. Given post-activations `z` of shape `(B, D)`,
# the running sums `alpha` (B, S) and `beta` (B, S) (both 0 before the first step), the decay
# factors `r` (S,) and the neuron indices `i`, `j` (S,) of every pair, return the new
# synchronisation `S`, `alpha` and `beta`. The cell after the solution checks your function
# against the closed form above, tick by tick.
# ```


# %% tags=["exercise"]
def synchronisation_update(z, alpha, beta, r, i, j):
    """One tick of S_p = alpha_p / sqrt(beta_p); returns (S, alpha, beta)."""
    raise NotImplementedError(
        "Exercise: decay alpha and beta by r, add z_i * z_j to alpha and 1 to beta"
    )


# %% [markdown] tags=["solution"]
# ````{solution-start} l01-synch
# :class: dropdown
# ````


# %% cellView="form" tags=["solution"]
# @title Solution
def synchronisation_update(z, alpha, beta, r, i, j):
    """One tick of S_p = alpha_p / sqrt(beta_p); returns (S, alpha, beta)."""
    alpha = r * alpha + z[:, i] * z[:, j]  # decayed sum of co-activations
    beta = r * beta + 1.0  # decayed count of ticks
    return alpha / torch.sqrt(beta), alpha, beta


# %% [markdown] tags=["solution"]
# Each step multiplies the old sums by $r$ (so a tick $k$ steps ago carries weight $r^k$) and adds
# the newest term with weight 1. Dividing by $\sqrt{\beta}$ rather than $\beta$ is the paper's
# choice: with no decay, $S$ grows like a $\sqrt{t}$-normalised dot product instead of a mean.
#
# ```{solution-end}
# ```

# %%
from ctm_course.ctm import synchronisation_closed_form

i, j = model.synch_pairs("out")
decay = torch.rand(len(i), device=DEVICE) * 3
zs = torch.randn(6, 2, model.d_model, device=DEVICE)  # six ticks of post-activations
alpha = beta = 0.0
for t in range(len(zs)):
    S, alpha, beta = synchronisation_update(zs[t], alpha, beta, torch.exp(-decay), i, j)
    assert torch.allclose(
        S, synchronisation_closed_form(zs[: t + 1], decay, i, j), atol=1e-5
    )
print(f"recurrence == closed form for {len(zs)} ticks and {len(i)} pairs")

# %% [markdown]
# ### 3.3 Certainty
#
# At every tick the output head turns $S^t_\text{out}$ into logits $y^t$ over the 10 classes.
# The CTM's **certainty** is one minus the normalised entropy of its prediction,
# $c^t = 1 - H(\mathrm{softmax}(y^t)) / \ln 10$: 0 for a uniform guess, 1 for a one-hot answer.

# %%
uniform, sure = torch.zeros(1, 10), torch.tensor([[20.0] + [0.0] * 9])
print(
    "certainty of a uniform guess:       "
    f"{model.compute_certainty(uniform)[0, 1].item():.4f}"
)
print(
    "certainty of a confident prediction: "
    f"{model.compute_certainty(sure)[0, 1].item():.4f}"
)

# %% [markdown]
# ### 3.4 The whole forward pass
#
# Here is the package's forward pass, the one we train below. Each line of the loop is one of the
# steps above; the comments use the paper's symbols.

# %%
print(inspect.getsource(ContinuousThoughtMachine.forward))

# %% [markdown]
# Two details worth noticing. The attention keys and values are projected once per image, not once
# per tick (`project_keys_values`), since the tokens never change during the loop. And the
# query at tick $t$ comes from $S_\text{action}$, which has seen only $z^0, \dots, z^{t-1}$: the
# model decides where to look from what it has thought so far.
#
# ### 3.5 The certainty-based loss
#
# The model answers at every tick, so which tick should the loss look at? The last one would force
# every image to use all ticks. The CTM's answer: per image, take the cross-entropy at the tick
# where it was **lowest** ($t_1$) and at the tick where the model was **most certain** ($t_2$),
# and average the two. The first term lets the model be right at some point; the second teaches it
# to be most sure when it is right.

# %%
print(inspect.getsource(image_classification_loss))
print(inspect.getsource(ctm_course.losses.two_tick_selection))
loss, _ = image_classification_loss(
    torch.zeros(8, 10, 5), torch.zeros(8, 2, 5), torch.arange(8)
)
# knowing nothing costs ln(10)
assert math.isclose(loss.item(), math.log(10), rel_tol=1e-6)
print(f"loss of an all-zero prediction: {loss.item():.4f} = ln 10")

# %% [markdown]
# ## 4. Training
#
# One training step: shift the batch by a few random pixels, normalise, run the CTM, and apply
# the certainty-based loss. We also report the training accuracy at the most certain tick.
#
# The recipe departs from the source tutorial's on purpose. Its AdamW at a constant learning
# rate of 1e-4 for 10,000 steps of 256 images is too slow for a few CPU minutes; here AdamW
# runs at {glue:text}`lr` with a {glue:text}`warmup`-step warm-up and a cosine decay, which
# reached the same accuracy in a fraction of the steps (the profiles page has the runs). Its
# augmentation (random affine: ±15° rotation, ±10% shifts and scale, then another ±10°
# rotation) becomes random shifts of up to {glue:text}`max_shift` pixels: cheap on a batch, and
# enough at this budget. The `cpu` row uses batches of {glue:text}`batch_size` and a token width
# `d_input` of {glue:text}`d_input` (the tutorial: 256 and 128) to fit its time budget. Two of
# the tutorial's loop faults are gone too: its Russian version rebuilt the `DataLoader`
# iterator at every step (each step paid for starting an epoch, and the shuffling restarted),
# and its last evaluation ran before the last training step; `fit` draws from one endless,
# resumable stream and evaluates after the final step.


# %%
glue("lr", CONFIG.train.lr)
glue("warmup", CONFIG.train.warmup_steps)
glue("max_shift", CONFIG.max_shift)
glue("batch_size", CONFIG.train.batch_size)
glue("d_input", CONFIG.model.d_input)


def step_fn(model, batch, use_most_certain=True):
    images, labels = (t.to(DEVICE) for t in batch)
    # augmentation: training only
    images = normalise(random_shift(images, CONFIG.max_shift))
    predictions, certainties, _ = model(images)
    loss, t2 = image_classification_loss(
        predictions, certainties, labels, use_most_certain
    )
    return loss, {
        "accuracy": correct_at(predictions.detach(), labels, t2).float().mean()
    }


def evaluate(model):
    """Accuracy at the most certain tick on the whole (un-augmented) test set."""
    predictions, certainties = predict(
        model, normalise(test_data.images), device=DEVICE
    )
    return {
        "accuracy": accuracy_at(
            predictions, test_data.labels, most_certain_tick(certainties)
        )
    }


def train_ctm(model_config, steps, curves=None, checkpoint=None, use_most_certain=True):
    """Train a fresh CTM with this lesson's recipe; returns (model, TrainResult)."""
    seed_everything(0)
    net = ContinuousThoughtMachine(model_config).to(DEVICE)
    config = CONFIG.train.train_config(
        steps, checkpoint_path=checkpoint, progress=curves is not None
    )
    on_log = (
        (lambda step, row, ev: curves.update(step, train=row, test=ev))
        if curves
        else None
    )
    result = fit(
        net,
        InfiniteBatches(train_data, CONFIG.train.batch_size, seed=0),
        lambda m, batch: step_fn(m, batch, use_most_certain),
        config,
        evaluate=evaluate,
        on_log=on_log,
    )
    return net, result


# %% [markdown]
# The run saves a checkpoint every few hundred steps under `checkpoints/`. If your Colab
# session disconnects, run the notebook again: training resumes where it stopped, with the same
# batches, and a finished run is not repeated.

# %%
n_params = count_parameters(model)
print(
    f"the CTM has {n_params:,} parameters and thinks for "
    f"{CONFIG.model.iterations} ticks"
)
curves = viz.LiveCurves(metrics=("loss", "accuracy"), title="CTM on MNIST")
ckpt = checkpoint_path(
    "01_ctm_mnist", PROFILE, {"row": CONFIG, "train_images": len(train_data)}
)
model, run = train_ctm(CONFIG.model, CONFIG.train.steps, curves=curves, checkpoint=ckpt)
curves.close()
glue("train_minutes", run.seconds / 60)
print(f"trained {run.steps:,} steps in {run.seconds:.0f} s")

# %% [markdown]
# ## 5. How well, and at which tick?
#
# We run the trained model on the whole official test set and keep its output at every tick.

# %% mystnb={"figure": {"caption": "Left: test accuracy at each tick, and at each image's most certain tick (line). Middle: certainty at each tick, for images the model gets right and wrong. Right: the tick at which each test image is most certain."}}
predictions, certainties = predict(model, normalise(test_data.images), device=DEVICE)
labels = test_data.labels
t2 = most_certain_tick(certainties)
test_accuracy = accuracy_at(predictions, labels, t2)
per_tick = accuracy_per_tick(predictions, labels)
T = predictions.shape[-1]
glue("test_accuracy", test_accuracy)
peak = int(per_tick.argmax())
glue("peak_tick", peak)
glue("peak_tick_accuracy", per_tick[peak].item())
glue(
    "peak_position",
    "the last tick"
    if peak == T - 1
    else f"before the last tick ({per_tick[-1].item():.4f} there)",
)
glue("last_tick_accuracy", per_tick[-1].item())
glue("first_tick_accuracy", per_tick[0].item())
print(
    f"test accuracy at the most certain tick: {test_accuracy:.4f} "
    f"(first tick {per_tick[0]:.4f}, last tick {per_tick[-1]:.4f})"
)
fig, axes = plt.subplots(1, 3, figsize=(11, 3.6))
viz.plot_accuracy_per_tick(
    per_tick.tolist(), ax=axes[0], most_certain_accuracy=test_accuracy
)
correct = predictions.argmax(1) == labels.unsqueeze(-1)
viz.plot_certainty_per_tick(certainties, correct=correct, ax=axes[1])
axes[2].hist(t2.numpy(), bins=range(T + 1), color="tab:purple", rwidth=0.85)
axes[2].set(title="Most certain tick per test image", xlabel="tick", ylabel="images")
fig.tight_layout()
plt.close(fig)  # shown once, as the cell's value
fig

# %% [markdown]
# After training for {glue:text}`train_minutes:.1f` minutes, the CTM classifies
# {glue:text}`test_accuracy:.4f` of the official test digits correctly at its most certain tick.
# At the first tick it gets {glue:text}`first_tick_accuracy:.3f` right and at the last
# {glue:text}`last_tick_accuracy:.3f`: the answer forms over the ticks. In the middle panel,
# certainty rises for the images it gets right and stays lower for those it gets wrong: the
# model's own certainty tells us when to trust it. The histogram shows that many images reach
# their most certain tick well before the end. Accuracy per tick peaks at tick
# {glue:text}`peak_tick` ({glue:text}`peak_tick_accuracy:.4f`), {glue:text}`peak_position`.
#
# ### 5.1 Can its confidence be trusted?
#
# A model is *calibrated* when, of the answers it gives with confidence about $p$, a fraction
# $p$ is right. We take each test image's answer at its most certain tick, with its softmax
# probability as the confidence, sort the answers into ten confidence bins and compare each
# bin's accuracy with its mean confidence (a *reliability diagram*, as in the CTM report). The
# expected calibration error (ECE) is the gap averaged over the answers.

# %% mystnb={"figure": {"caption": "Reliability diagram of the CTM's answers at their most certain tick: accuracy per confidence bin (bars), the diagonal of a calibrated model, and the share of answers in each bin."}}
batch = torch.arange(len(labels))
probabilities = predictions.softmax(1)[batch, :, t2]  # (N, classes) at each t2
confidence, answer = probabilities.max(1)
calibration = reliability(confidence, answer == labels, bins=10)
glue("ece", calibration.ece)
top = calibration.counts[-1].item() / len(labels)
glue("top_bin_share", top)
glue("top_bin_accuracy", calibration.accuracy[-1].item())
print(f"expected calibration error {calibration.ece:.4f}")
viz.plot_reliability(calibration, title="CTM at its most certain tick")

# %% [markdown]
# The ECE is {glue:text}`ece:.4f`. {glue:text}`top_bin_share:.1%` of the answers are given with
# a confidence of at least 0.9, and {glue:text}`top_bin_accuracy:.4f` of those are right. The
# certainty-based loss did not ask for calibration; it trains on the tick that was most sure.
#
# ### 5.2 What does this accuracy mean? A feed-forward baseline
#
# A network without ticks, of the same size, on the same data and budget: the CTM's own
# backbone, its 7x7 grid of tokens flattened, then one hidden layer, with its width chosen so
# that it has as many parameters as the CTM. It is trained with plain cross-entropy on the same
# shifted batches, for the same number of steps, with the same optimiser and schedule.

# %%
seed_everything(0)
feedforward = matched_feedforward(n_params, CONFIG.model.d_input).to(DEVICE)
n_ff = count_parameters(feedforward)


def feedforward_step(net, batch):
    images, targets = (t.to(DEVICE) for t in batch)
    logits = net(normalise(random_shift(images, CONFIG.max_shift)))
    return F.cross_entropy(logits, targets), {
        "accuracy": (logits.detach().argmax(1) == targets).float().mean()
    }


ff_run = fit(
    feedforward,
    InfiniteBatches(train_data, CONFIG.train.batch_size, seed=0),
    feedforward_step,
    CONFIG.train.train_config(
        run.steps,
        max_seconds=None,
        checkpoint_path=checkpoint_path(
            "01_ctm_mnist", PROFILE, {"row": CONFIG, "model_kind": "feedforward"}
        ),
    ),
)
ff_logits = torch.cat(
    batched(
        feedforward,
        normalise(test_data.images),
        lambda x: feedforward(x.to(DEVICE)).cpu(),
        batch_size=500,
    )
)
ff_right = ff_logits.argmax(1) == labels
feedforward_accuracy = ff_right.float().mean().item()
glue("ff_parameters", n_ff)
glue("ff_accuracy", feedforward_accuracy)
glue("ff_seconds", ff_run.seconds)
glue("ctm_parameters", n_params)
print(
    f"feed-forward: {n_ff:,} parameters (CTM {n_params:,}), test accuracy "
    f"{feedforward_accuracy:.4f} after {ff_run.steps:,} steps in {ff_run.seconds:.0f} s"
)

# %% [markdown]
# With {glue:text}`ff_parameters:,.0f` parameters (the CTM: {glue:text}`ctm_parameters:,.0f`)
# the feed-forward network reaches {glue:text}`ff_accuracy:.4f` on the same test images,
# against the CTM's {glue:text}`test_accuracy:.4f`, in {glue:text}`ff_seconds:.0f` s of
# training. MNIST does not need thinking time: the point of this lesson is *how* the CTM uses
# its ticks, not that it beats a plain network here.
#
# ## 6. Adaptive compute: stop thinking when sure
#
# If certainty tells us when the model is right, we can stop the loop as soon as the certainty
# passes a threshold and save the remaining ticks. An image that never gets that sure runs all
# the ticks and answers at its most certain one, exactly as without early exit. Nothing in the
# training asked for this; it is a free consequence of the certainty-based loss.

# %% [markdown]
# ```{exercise}
# :label: l01-early-exit
#
# Write `exit_ticks(certainties, threshold)`: for certainties of shape `(B, 2, T)` (index 1 is the
# certainty), return a `(B,)` tensor with the **first** tick at which the certainty reaches
# `threshold`, or the last tick `T - 1` if it never does. Then the cell below measures, for a range
# of thresholds, the accuracy and the mean number of ticks used.
# ```


# %% tags=["exercise"]
def exit_ticks(certainties, threshold):
    """(B, 2, T) certainties -> (B,) first tick with certainty >= threshold.

    A row that never reaches the threshold gets the last tick, T - 1.
    """
    raise NotImplementedError(
        "Exercise: find the first tick whose certainty reaches the threshold"
    )


# %% [markdown] tags=["solution"]
# ````{solution-start} l01-early-exit
# :class: dropdown
# ````


# %% cellView="form" tags=["solution"]
# @title Solution
def exit_ticks(certainties, threshold):
    """(B, 2, T) certainties -> (B,) first tick with certainty >= threshold.

    A row that never reaches the threshold gets the last tick, T - 1.
    """
    reached = certainties[:, 1] >= threshold  # (B, T) booleans
    first = reached.int().argmax(dim=-1)  # index of the first True (0 if there is none)
    last = torch.full_like(first, certainties.shape[-1] - 1)
    return torch.where(reached.any(dim=-1), first, last)


# %% [markdown] tags=["solution"]
# `argmax` on a boolean row returns the first maximum, i.e. the first `True`; rows without any
# `True` would also give 0, which is why they are sent to the last tick explicitly.
#
# ```{solution-end}
# ```

# %% mystnb={"figure": {"caption": "Early exit: for each certainty threshold, the accuracy (left axis) and the mean number of ticks used (right axis); the horizontal line is the accuracy of the full run."}}
thresholds = [
    0.3,
    0.5,
    0.6,
    0.7,
    0.8,
    0.85,
    0.9,
    0.93,
    0.95,
    0.97,
    0.98,
    0.99,
    0.995,
    0.999,
    0.9999,
]
for threshold in thresholds:
    assert torch.equal(
        exit_ticks(certainties, threshold), early_exit_ticks(certainties, threshold)
    )
curve = early_exit_curve(predictions, certainties, labels, thresholds)
best = cheapest_exit(curve, target_accuracy=test_accuracy, tolerance=0.002)
glue("exit_threshold", best["threshold"])
glue("exit_ticks", best["mean_ticks"])
glue("exit_accuracy", best["accuracy"])
glue("ticks_saved", 1 - best["mean_ticks"] / T)
glue(
    "exit_verdict",
    Markdown(
        "matches"
        if best["accuracy"] >= test_accuracy - 0.002
        else "does not quite reach"
    ),
)
print(
    f"threshold {best['threshold']}: accuracy {best['accuracy']:.4f} with "
    f"{best['mean_ticks']:.2f} of {T} ticks on average "
    f"({1 - best['mean_ticks'] / T:.0%} saved)"
)
used = early_exit_ticks(certainties, best["threshold"]).float() + 1  # ticks used
glue("ff_wrong", int((~ff_right).sum()))
exit_easy = used[ff_right].mean().item()
exit_hard = used[~ff_right].mean().item() if (~ff_right).any() else None
glue("exit_easy", exit_easy)
glue("exit_hard", float("nan") if exit_hard is None else exit_hard)
viz.plot_early_exit(
    curve["threshold"], curve["accuracy"], curve["mean_ticks"], test_accuracy, T
)

# %% [markdown]
# We look for the cheapest threshold whose accuracy is within 0.2 percentage points of the accuracy
# at the most certain tick. With a threshold of {glue:text}`exit_threshold:.4g` the model stops after
# {glue:text}`exit_ticks:.2f` ticks on average and reaches {glue:text}`exit_accuracy:.4f`, which
# {glue:md}`exit_verdict` the full run's {glue:text}`test_accuracy:.4f`: it saves
# {glue:text}`ticks_saved:.0%` of the ticks. The curve shows the trade-off: lower thresholds
# save more ticks and cost accuracy.
#
# Do easy digits stop early and hard ones keep thinking? As a difficulty proxy that does not
# come from the CTM itself we take the feed-forward baseline of section 5.2: the
# {glue:text}`ff_wrong` test digits it gets wrong are "hard". At this threshold the CTM stops
# after {glue:text}`exit_easy:.2f` ticks on average on the digits the baseline gets right and
# after {glue:text}`exit_hard:.2f` on the hard ones.
#
# ## 7. Watching the CTM think
#
# With `track=True` the model records everything it computes at every tick: pre- and
# post-activations, attention weights and both synchronisations. The animation shows, per tick,
# the input, where the model attends (averaged over heads), its class probabilities (the true
# class in green), its certainty so far, and the traces of the most active neurons
# (post-activations in colour, pre-activations dashed grey).

# %% mystnb={"figure": {"caption": "One correctly classified test digit, tick by tick: the attention over the image, the prediction and its certainty, and the activity of a few neurons."}}
model.eval()
with torch.no_grad():
    _, _, track = model(normalise(test_data.images[:8]).to(DEVICE), track=True)
# a correct one
example = int(
    (track.predictions.argmax(1)[:, -1] == test_data.labels[:8]).float().argmax()
)
view = viz.tick_view(track, test_data.images[:8], test_data.labels[:8], index=example)
frames = viz.tick_frames(view)
viz.show_animation(frames, fps=3)

# %% [markdown]
# The same panels behind a slider: in Colab or Jupyter you can move through the ticks (and
# choose another test image by changing `index`). On this static page the slider shows its first
# frame only, since there is no Python kernel behind it.

# %% mystnb={"figure": {"caption": "The same ticks behind a slider (interactive in Colab or Jupyter; this page shows the first frame)."}}
viz.tick_scrubber(view)

# %% [markdown]
# Notice how the neurons' post-activations are not smooth curves but have their own dynamics,
# produced by each neuron's private model of its history. It is the *relations* between such
# traces, their synchronisation, that the output head reads.
#
# ## 8. Ablation: how much does memory matter?
#
# Each neuron sees the last $M$ pre-activations (`memory_length`). With $M = 1$ a neuron-level model
# sees only the current input, like an ordinary activation function with private weights.

# %% [markdown]
# ```{exercise}
# :label: l01-ablation
#
# Write `ablate(memory_lengths, steps)` that trains one CTM per value of `memory_length` (all other
# settings as in `CONFIG.model`) for `steps` steps with `train_ctm`, and returns a dictionary
# `{memory_length: test accuracy at the most certain tick}`. The cell below runs it with $M = 1$ and
# the lesson's $M$ on a short budget and plots the result. Which would you expect to win, and why
# might the short budget hide the difference?
# ```


# %% tags=["exercise"]
def ablate(memory_lengths, steps):
    """Train one CTM per memory length; return {memory_length: test accuracy}."""
    raise NotImplementedError(
        "Exercise: loop over memory_lengths, train with train_ctm, evaluate"
    )


# %% [markdown] tags=["solution"]
# ````{solution-start} l01-ablation
# :class: dropdown
# ````


# %% cellView="form" tags=["solution"]
# @title Solution
def ablate(memory_lengths, steps):
    """Train one CTM per memory length; return {memory_length: test accuracy}."""
    accuracies = {}
    for m in memory_lengths:
        net, _ = train_ctm(CONFIG.model.replace(memory_length=m), steps)
        accuracies[m] = evaluate(net)["accuracy"]
    return accuracies


# %% [markdown] tags=["solution"]
# Every run starts from the same seed and sees the same batches, so the only difference is $M$.
# With $M = 1$ the neurons cannot use their own recent past, and all temporal structure must come
# from the recurrence through the synapses and from synchronisation. On a short budget both models
# are still far from converged, so the gap measured here is noisy; rerun with more steps (or
# several seeds) before concluding.
#
# ```{solution-end}
# ```

# %% mystnb={"figure": {"caption": "Test accuracy after the same short training with a memory of one tick (M = 1) and with the lesson's memory length."}}
memory_lengths = [1, CONFIG.model.memory_length]
ablation = ablate(memory_lengths, CONFIG.ablation_steps)
glue("ablation_steps", CONFIG.ablation_steps)
glue("ablation_m1", ablation[1])
glue("ablation_mfull", ablation[memory_lengths[-1]])
# two accuracies on the same N test images differ by chance by ~2 sqrt(2 p(1-p) / N)
p_mean = (ablation[1] + ablation[memory_lengths[-1]]) / 2
noise = 2 * (2 * p_mean * (1 - p_mean) / len(labels)) ** 0.5
gap = ablation[memory_lengths[-1]] - ablation[1]
glue(
    "ablation_verdict",
    f"a gap of {gap:+.3f}, within the {noise:.3f} that test-set sampling alone allows: "
    "no effect this run can resolve"
    if abs(gap) <= noise
    else f"a gap of {gap:+.3f}, beyond the {noise:.3f} of test-set sampling",
)
fig, ax = plt.subplots(figsize=(5, 3.5))
ax.bar(
    [f"M = {m}" for m in ablation],
    list(ablation.values()),
    color=["tab:gray", "tab:blue"],
)
ax.set(
    ylabel="test accuracy (most certain tick)",
    title=f"{CONFIG.ablation_steps} training steps each",
    ylim=(0, 1),
)
plt.close(fig)
fig

# %% [markdown]
# On this budget ({glue:text}`ablation_steps` steps) the CTM with $M = 1$ reaches
# {glue:text}`ablation_m1:.3f` and the one with the lesson's memory {glue:text}`ablation_mfull:.3f`:
# {glue:text}`ablation_verdict`.
#
# ## 9. More exercises
#
# ```{exercise}
# :label: l01-synch-size
#
# Change `n_synch_out` from 16 to 4 in a copy of `CONFIG.model` and train it with `train_ctm` for
# `CONFIG.ablation_steps` steps. How many numbers does the output head see now, and what happens
# to the accuracy?
# ```
#
# ```{solution} l01-synch-size
# :class: dropdown
#
# With first-last selection the output synchronisation has $n(n+1)/2$ entries: 136 for $n = 16$,
# only 10 for $n = 4$. `train_ctm(CONFIG.model.replace(n_synch_out=4), CONFIG.ablation_steps)`
# trains it; the head now reads 10 numbers, no more than there are classes. Compare its accuracy
# with the ablation models of section 8, which trained for the same steps: the
# representation is the synchronisation, so its size is the width of the model's "output
# layer".
# ```

# %% [markdown]
# ```{exercise}
# :label: l01-last-tick
#
# Is the certainty-based loss worth it? Train a CTM for `CONFIG.ablation_steps` steps with the
# loss read at the **last** tick instead of the most certain one
# (`train_ctm(CONFIG.model, CONFIG.ablation_steps, use_most_certain=False)`) and compare it with
# the lesson's loss at the same budget (the section 8 model with the lesson's memory).
# ```
#
# ```{solution} l01-last-tick
# :class: dropdown
#
# The cell below runs it. The two models start from the same weights and see the same batches;
# only the second term of the loss differs. Compare both the accuracy at the most certain tick
# and how early the certainty rises: with the last-tick loss nothing asks the earlier ticks to
# be right.
# ```

# %%
last_tick_model, _ = train_ctm(
    CONFIG.model, CONFIG.ablation_steps, use_most_certain=False
)
lt_predictions, lt_certainties = predict(
    last_tick_model, normalise(test_data.images), device=DEVICE
)
last_tick_accuracy = accuracy_at(
    lt_predictions, labels, most_certain_tick(lt_certainties)
)
glue("last_tick_loss_accuracy", last_tick_accuracy)
print(
    f"{CONFIG.ablation_steps} steps: last-tick loss {last_tick_accuracy:.4f}, "
    f"certainty-based loss {ablation[memory_lengths[-1]]:.4f}"
)

# %% [markdown]
# Trained with the last-tick loss, the CTM reaches {glue:text}`last_tick_loss_accuracy:.3f`;
# with the certainty-based loss, after the same {glue:text}`ablation_steps` steps,
# {glue:text}`ablation_mfull:.3f`.
#
#
# ## 10. Recording the results
#
# The lesson writes its measured numbers to `results/<profile>/01_ctm_mnist.json`; the book's
# results page is generated from these files. The last cell checks that learning really happened,
# so a silent regression fails the notebook test.

# %%
metrics = {
    "test_accuracy": test_accuracy,
    "accuracy_per_tick": per_tick.tolist(),
    "mean_ticks_early_exit": best["mean_ticks"],
    "early_exit_accuracy": best["accuracy"],
    "early_exit_threshold": best["threshold"],
    "first_tick_accuracy": per_tick[0].item(),
    "last_tick_accuracy": per_tick[-1].item(),
    "ablation_memory_1_accuracy": ablation[1],
    "ablation_memory_full_accuracy": ablation[memory_lengths[-1]],
    "feedforward_test_accuracy": feedforward_accuracy,
    "expected_calibration_error": calibration.ece,
    "last_tick_loss_accuracy": last_tick_accuracy,
    "exit_ticks_feedforward_right": exit_easy,
    "exit_ticks_feedforward_wrong": exit_hard,
}
path = record(
    "01_ctm_mnist",
    metrics,
    train_seconds=run.seconds,
    steps=run.steps,
    data_source=train_data.source,
    extra={
        "test_data_source": test_data.source,
        "train_images": len(train_data),
        "test_images": len(test_data),
        "ticks": T,
        "parameters": n_params,
        "feedforward_parameters": n_ff,
        "feedforward_train_seconds": ff_run.seconds,
        "model": asdict(CONFIG.model),
    },
)
print(
    f"recorded {path.name} ({PROFILE}): test accuracy {test_accuracy:.4f}, "
    f"early exit {best['mean_ticks']:.2f}/{T} ticks at accuracy {best['accuracy']:.4f}"
)

# %%
# learning thresholds; quick mode (`make gpu-check`) trains too few steps for them
minimum = {"smoke": 0.3, "cpu": 0.94, "gpu": 0.97}[PROFILE]
if not lesson.quick:
    assert test_accuracy >= minimum, (
        f"test accuracy {test_accuracy:.4f} is below {minimum} "
        f"for the {PROFILE} profile"
    )
    assert per_tick.max() > 0.2, "no tick is better than chance"
assert best["mean_ticks"] <= T and 0 < best["accuracy"] <= 1

# %% [markdown]
# ## Summary
#
# - A CTM thinks in **internal ticks**. At each tick it attends to the input with a query made
#   from its own state, updates its neurons through synapses, and lets every neuron's **private
#   model** turn its recent history into its next activation.
# - Its representation is the **synchronisation** of neuron pairs over time. It can be updated
#   recurrently with two running sums and equals a decayed, normalised sum of co-activations.
# - The **certainty-based loss** trains on the best tick and on the most certain tick. The model
#   learns to be sure when it is right, and a certainty threshold then saves ticks: adaptive
#   compute for free.
#
# **Further reading.** The CTM paper (Darlow, Regan, Risi, Seely and Jones, 2025,
# [arXiv:2505.05522](https://arxiv.org/abs/2505.05522)) and its
# [interactive report](https://pub.sakana.ai/ctm/); the
# reference implementation (SakanaAI/continuous-thought-machines), whose MNIST tutorial this
# lesson grew from. The next lesson trains the CTM on a task where thinking time is essential:
# the parity of a sequence seen all at once.

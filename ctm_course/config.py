"""Every lesson's sizes, per profile, in one place (see :func:`ctm_course.profile.profile`).

A lesson reads its row with ``lesson_config("01_ctm_mnist")`` (or :func:`ctm_course.start`) and
shows it to the reader. Each row is a dataclass with the model's arguments, a :class:`Training`
section that yields the run's :class:`~ctm_course.train.TrainConfig` in one call, and the
lesson's own sizes. ``smoke`` proves the code runs end to end (tests, CI: < 90 s per lesson on
2 CPU cores); ``cpu`` is what the book shows when built without a GPU; ``gpu`` is the full
lesson. How each row was chosen, with the measurements, is on the book page
``book/profiles.md``.
"""

from __future__ import annotations

import copy
import dataclasses
from dataclasses import dataclass
from typing import Any

from .ctm.config import CTMConfig
from .profile import PROFILES, profile
from .train import TrainConfig, warmup_for


@dataclass(frozen=True, kw_only=True)
class Training:
    """The training section of a profile row: the recipe, without a run's paths and switches."""

    steps: int
    batch_size: int
    lr: float
    warmup_steps: int = 0
    weight_decay: float = 0.0
    schedule: str = "cosine"
    grad_clip: float | None = None
    eval_every: int | None = 500
    checkpoint_every: int | None = 500
    log_every: int = 1
    # a wall-clock budget: training stops at `steps` or here
    max_seconds: float | None = None
    ema_decay: float | None = None

    def __post_init__(self) -> None:
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {self.batch_size}")
        self.train_config()  # the recipe's checks live in TrainConfig

    def train_config(self, steps: int | None = None, **run: Any) -> TrainConfig:
        """The :class:`TrainConfig` of this recipe for ``steps`` (default: the row's), with the warm-up
        rule applied; ``run`` sets the run's own entries (``checkpoint_path``, ``progress``, ``seed``...)
        or overrides the recipe's."""
        steps = self.steps if steps is None else steps
        recipe = {
            f.name: getattr(self, f.name)
            for f in dataclasses.fields(self)
            if f.name != "batch_size"
        }
        recipe.update(steps=steps, warmup_steps=warmup_for(steps, self.warmup_steps))
        return TrainConfig(**{**recipe, **run})


@dataclass(frozen=True, kw_only=True)
class LessonRow:
    """What every lesson's row has; ``cpu_threads`` caps torch's threads on a CPU (``None``: torch's default)."""

    cpu_threads: int | None = None

    def replace(self, **changes: Any) -> LessonRow:
        return dataclasses.replace(self, **changes)

    def describe(self) -> str:
        """The row as aligned text for the reader: settings first, then each section one entry per line."""
        lines, sections = [], []
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if dataclasses.is_dataclass(value) or isinstance(value, dict):
                sections.append((f.name, value))
            else:
                lines.append(f"  {f.name:18s} {value}")
        for name, value in sections:
            items = (
                dataclasses.asdict(value) if dataclasses.is_dataclass(value) else value
            )
            lines.append(f"  {name} ({type(value).__name__}):")
            lines += [f"    {key:26s} {item}" for key, item in items.items()]
        return "\n".join(lines)


@dataclass(frozen=True, kw_only=True)
class MnistRow(LessonRow):
    """Lesson 1: a CTM on MNIST (``model``: the CTM, ``train``: its recipe)."""

    model: CTMConfig
    train: Training
    max_shift: int = 2  # random shifts of the training digits, in pixels
    train_images: int | None = None  # a random subset (None: all)
    test_images: int | None = None
    ablation_steps: int = 500  # steps of each exercise run


@dataclass(frozen=True, kw_only=True)
class ParityRow(LessonRow):
    """Lesson 2: a CTM on parity. ``model`` holds the CTM arguments the row sets; the lesson adds the
    parity backbone, the 1-D rotational embedding, ``out_dims = 2 * length`` and the prediction
    reshaper (``ctm_course.parity.parity_model_args``)."""

    length: int
    model: dict[str, Any]
    train: Training
    eval_sequences: int
    test_sequences: int


@dataclass(frozen=True, kw_only=True)
class ReconstructionRow(LessonRow):
    """Lesson 3: a CTM reconstructs time series. ``data``: ``ctm_course.timeseries.generate`` arguments
    (the same in every profile); ``ctm``: the CTM arguments the row sets (the wrapper
    ``ReconstructionCTM`` adds the temporal backbone of width ``d_backbone``)."""

    data: dict[str, Any]
    ctm: dict[str, Any]
    train: Training
    d_backbone: int
    window: int = 32
    eval_stride: int = 4
    pca_components: tuple[int, ...] = (2, 4, 8, 16, 32)
    zscore_windows: tuple[int, ...] = (12, 24, 48, 96)
    ae_bottleneck: int = 16


@dataclass(frozen=True, kw_only=True)
class TLBRow(LessonRow):
    """Lesson 4: the TLB on CIFAR-10. ``keras`` and ``paper`` are runs (``ctm_course.tlb.presets``): a
    ``model`` dict of ``TemporalLatentBottleneck`` arguments and a ``train`` recipe dict; the ViT
    baseline takes the ``paper`` run's widths and recipe."""

    keras: dict[str, Any]
    paper: dict[str, Any]
    train_images: int | None = None
    test_images: int | None = None
    ablation_steps: int = 150
    viz_images: int = 6


@dataclass(frozen=True, kw_only=True)
class RCNNRow(LessonRow):
    """Lesson 5: the recurrent-CNN lab (Thorat et al., 2021), the gain network 0111 with ``n_feats``
    conv1 channels (the paper: 8) and ``t_steps`` timesteps, trained with Adam on fresh stimuli (the
    paper: batch 32, lr 1e-4, 300,000 steps, no curriculum)."""

    n_feats: int
    t_steps: int
    train: Training
    curriculum_steps: int  # the clutter fades in over these first steps
    test_images: int
    probe_images: int  # linear probes (80 % train / 20 % test; the paper 800 / 200)
    flow_probe_images: int
    perturb_images: int  # each with 6 variants (the paper 5 x 1,000)
    probe_jobs: int = 1  # probes fit in parallel processes (-1: all cores)
    # side-by-side steps (after phase one) of each run of the recorded seed study
    # (ctm_course.rcnn.seeds); None: no study
    seed_study_steps: int | None = None
    # phase one: B alone for these steps (or seconds), then the gain network starts from it
    # (ctm_course.rcnn.training.feedforward_first); 0: the gain network from scratch, as in the paper
    feedforward_first_steps: int = 0
    feedforward_first_seconds: float | None = None

    def __post_init__(self) -> None:
        if self.feedforward_first_steps < 0:
            raise ValueError(
                f"feedforward_first_steps must be >= 0, got {self.feedforward_first_steps}"
            )

    def first_config(self, **run: Any) -> TrainConfig | None:
        """Phase one's :class:`TrainConfig` (B alone: the recipe for ``feedforward_first_steps``,
        at most ``feedforward_first_seconds``), or ``None`` when the row has no phase one."""
        if not self.feedforward_first_steps:
            return None
        return self.train.train_config(
            self.feedforward_first_steps,
            **{"max_seconds": self.feedforward_first_seconds, **run},
        )

    def second_config(self, seconds_spent: float = 0.0, **run: Any) -> TrainConfig:
        """Phase two's :class:`TrainConfig` (both networks side by side: the row's recipe), with
        what is left of the training budget ``train.max_seconds`` after ``seconds_spent`` in
        phase one; ``run`` as in :meth:`Training.train_config`."""
        budget = self.train.max_seconds
        if budget is not None:
            # a second or more, even on a host so slow that phase one took it all
            budget = max(1.0, budget - seconds_spent)
        return self.train.train_config(**{"max_seconds": budget, **run})


# fmt: off
# The profile tables, one row to a few lines: easier to compare than one argument per line.
# --- Lesson 1: CTM on MNIST ---------------------------------------------------------------------------
_MNIST_MODEL = CTMConfig(iterations=15, d_model=128, d_input=32, heads=2, n_synch_out=16, n_synch_action=16,
                         synapse_depth=1, deep_nlms=True, memory_length=10, memory_hidden_dims=8,
                         backbone_type="tutorial-conv", out_dims=10, neuron_select_type="first-last")
MNIST = {
    "smoke": MnistRow(model=_MNIST_MODEL.replace(iterations=6, d_model=64, d_input=16, n_synch_out=8,
                                                 n_synch_action=8, memory_length=4, memory_hidden_dims=4),
                      train=Training(steps=300, batch_size=64, lr=2e-3, warmup_steps=30, eval_every=150,
                                     checkpoint_every=150),
                      train_images=2000, test_images=1000, ablation_steps=60),
    "cpu": MnistRow(model=_MNIST_MODEL,
                    train=Training(steps=3000, batch_size=64, lr=1e-3, warmup_steps=200, eval_every=1000,
                                   checkpoint_every=500, max_seconds=285),
                    ablation_steps=500),
    "gpu": MnistRow(model=_MNIST_MODEL.replace(d_input=128),
                    train=Training(steps=6000, batch_size=256, lr=1e-3, warmup_steps=300, eval_every=1000,
                                   checkpoint_every=500),
                    ablation_steps=1500),
}

# --- Lesson 2: CTM on parity --------------------------------------------------------------------------
def _ctm_args(ticks: int, d_model: int, d_input: int, heads: int, n_out: int, n_action: int, memory: int,
              selection: str) -> dict[str, Any]:
    """The CTM arguments a lesson 2 or 3 row sets (memory length = NLM width = ``memory``)."""
    args = dict(iterations=ticks, d_model=d_model, d_input=d_input, heads=heads, n_synch_out=n_out,
                n_synch_action=n_action, memory_length=memory, memory_hidden_dims=memory, synapse_depth=1,
                deep_nlms=True, neuron_select_type=selection, dropout=0.0)
    return {**args, "n_random_pairing_self": 0} if selection == "random-pairing" else args


PARITY = {
    "smoke": ParityRow(length=16, cpu_threads=1, model=_ctm_args(6, 32, 16, 2, 16, 16, 4, "random-pairing"),
                       train=Training(steps=600, batch_size=64, lr=2e-3, warmup_steps=30, grad_clip=1.0,
                                      eval_every=300, checkpoint_every=300),
                       eval_sequences=256, test_sequences=1000),
    "cpu": ParityRow(length=16, cpu_threads=1, model=_ctm_args(24, 128, 32, 4, 128, 64, 8, "random-pairing"),
                     train=Training(steps=3500, batch_size=32, lr=2e-3, warmup_steps=100, grad_clip=1.0,
                                    eval_every=500, checkpoint_every=250),
                     eval_sequences=1000, test_sequences=10000),
    # not yet run on a GPU (book/profiles.md)
    "gpu": ParityRow(length=16, model=_ctm_args(32, 256, 64, 4, 256, 128, 16, "random-pairing"),
                     train=Training(steps=10000, batch_size=128, lr=1e-3, warmup_steps=500, grad_clip=1.0,
                                    eval_every=1000, checkpoint_every=500),
                     eval_sequences=2000, test_sequences=10000),
}

# --- Lesson 3: CTM time-series reconstruction ---------------------------------------------------------
_RECON_DATA = dict(train_steps=8 * 336, validation_steps=4 * 336, test_steps=8 * 336, n_channels=6,
                   validation_anomalies=5, test_anomalies=10, seed=0)
RECONSTRUCTION = {
    "smoke": ReconstructionRow(data=_RECON_DATA, d_backbone=16, cpu_threads=1,
                               ctm=_ctm_args(4, 32, 16, 2, 8, 8, 4, "first-last"),
                               train=Training(steps=300, batch_size=16, lr=1e-3, warmup_steps=30, grad_clip=1.0,
                                              eval_every=150, checkpoint_every=150)),
    "cpu": ReconstructionRow(data=_RECON_DATA, d_backbone=32, cpu_threads=1,
                             ctm=_ctm_args(10, 128, 32, 2, 32, 16, 8, "first-last"),
                             train=Training(steps=3000, batch_size=32, lr=1e-3, warmup_steps=100, grad_clip=1.0,
                                            eval_every=500, checkpoint_every=500)),
    # not yet run on a GPU (book/profiles.md)
    "gpu": ReconstructionRow(data=_RECON_DATA, d_backbone=64, ctm=_ctm_args(16, 256, 64, 4, 64, 32, 16, "first-last"),
                             train=Training(steps=8000, batch_size=128, lr=1e-3, warmup_steps=300, grad_clip=1.0,
                                            eval_every=1000, checkpoint_every=500)),
}

# --- Lesson 4: the Temporal Latent Bottleneck on CIFAR-10 ---------------------------------------------
# A run's `train` recipe: batch size, steps or epochs, AdamW lr / weight_decay, schedule, warm-up,
# resize_to (train pipeline), train_images (the first that many), max_seconds (a wall-clock budget).
_TLB_SMALL = dict(image_size=32, patch_size=4, embed_dim=48, chunk_size=8, r=2, num_layers=2, heads=1, mlp_ratio=4,
                  dropout=0.0, attn_dropout=0.0, num_classes=10)
_TLB_SMALL_TRAIN = dict(batch_size=128, lr=2e-3, weight_decay=1e-4, schedule="cosine", resize_to=34, log_every=25)
_TLB_SMOKE_TRAIN = {**_TLB_SMALL_TRAIN, "batch_size": 64, "steps": 120, "warmup_steps": 10, "lr": 3e-3,
                    "log_every": 20}
_TLB_CPU_TRAIN = {**_TLB_SMALL_TRAIN, "steps": 600, "warmup_steps": 60, "eval_every": 100}
TLB = {
    "smoke": TLBRow(train_images=2000, test_images=500, cpu_threads=1, ablation_steps=10, viz_images=4,
                    keras={"model": {**_TLB_SMALL, "mode": "keras", "embed_dim": 24, "num_layers": 1, "r": 1},
                           "train": _TLB_SMOKE_TRAIN},
                    paper={"model": {**_TLB_SMALL, "mode": "paper", "embed_dim": 24, "num_layers": 1, "r": 1,
                                     "n_state": 4},
                           "train": _TLB_SMOKE_TRAIN}),
    "cpu": TLBRow(cpu_threads=1, ablation_steps=150, viz_images=6,
                  keras={"model": {**_TLB_SMALL, "mode": "keras"}, "train": _TLB_CPU_TRAIN},
                  paper={"model": {**_TLB_SMALL, "mode": "paper", "n_state": 8}, "train": _TLB_CPU_TRAIN}),
    # keras: the Keras example's preset (ctm_course.tlb.presets.KERAS), 30 epochs on the first 40,000 images;
    # paper (and vit): 100 epochs or 400 s on all 50,000 images
    "gpu": TLBRow(ablation_steps=300, viz_images=6,
                  keras={"model": {**_TLB_SMALL, "mode": "keras", "image_size": 48, "embed_dim": 64, "r": 2,
                                   "num_layers": 4, "dropout": 0.2, "attn_dropout": 0.2},
                         "train": dict(train_images=40_000, batch_size=2048, epochs=30, lr=1e-4, weight_decay=1e-4,
                                       schedule="constant", warmup_steps=0, resize_to=52, log_every=5)},
                  paper={"model": {**_TLB_SMALL, "mode": "paper", "image_size": 48, "embed_dim": 128, "r": 2,
                                   "num_layers": 4, "heads": 4, "n_state": 8, "dropout": 0.1, "attn_dropout": 0.1},
                         "train": dict(batch_size=512, epochs=100, max_seconds=400, lr=1e-3, weight_decay=0.05,
                                       schedule="cosine", warmup_steps=300, resize_to=52, log_every=50,
                                       eval_every=500)}),
}

# --- Lesson 5: the recurrent-CNN lab ------------------------------------------------------------------
RCNN = {
    "smoke": RCNNRow(n_feats=4, t_steps=4, curriculum_steps=75, cpu_threads=2,
                     train=Training(steps=150, batch_size=32, lr=2e-3, schedule="constant", warmup_steps=10,
                                    eval_every=75, checkpoint_every=75, log_every=5,
                                    ema_decay=0.95),
                     test_images=300, probe_images=100, flow_probe_images=60, perturb_images=8, probe_jobs=1,
                     feedforward_first_steps=300),
    "cpu": RCNNRow(n_feats=4, t_steps=4, curriculum_steps=500, cpu_threads=2,
                   train=Training(steps=3000, batch_size=32, lr=2e-3, schedule="constant", warmup_steps=30,
                                  eval_every=1000, checkpoint_every=500, log_every=10, max_seconds=420,
                                  ema_decay=0.995),
                   test_images=1000, probe_images=500, flow_probe_images=200, perturb_images=100, probe_jobs=2,
                   seed_study_steps=1000, feedforward_first_steps=4000, feedforward_first_seconds=150),
    # the paper's width: 20,000 steps or 450 s
    "gpu": RCNNRow(n_feats=8, t_steps=4, curriculum_steps=1000,
                   train=Training(steps=20000, batch_size=256, lr=1e-3, schedule="cosine", warmup_steps=300,
                                  eval_every=1000, checkpoint_every=1000, log_every=50, max_seconds=450,
                                  ema_decay=0.995),
                   test_images=5000, probe_images=1000, flow_probe_images=1000, perturb_images=500, probe_jobs=-1),
}

# fmt: on
LESSONS: dict[str, dict[str, LessonRow]] = {
    "01_ctm_mnist": MNIST,
    "02_ctm_parity": PARITY,
    "03_ctm_reconstruction": RECONSTRUCTION,
    "04_tlb_cifar10": TLB,
    "05_recurrent_cnn_lab": RCNN,
}


def lesson_config(lesson: str, profile_name: str | None = None) -> Any:
    """``lesson``'s row for ``profile_name`` (default: the active profile); rows are frozen dataclasses.

    The dicts inside a row (model arguments, TLB runs) are copies: changing them changes nothing here.
    """
    if lesson not in LESSONS:
        raise ValueError(f"unknown lesson {lesson!r}; known: {sorted(LESSONS)}")
    prof = profile_name or profile()
    if prof not in PROFILES:
        raise ValueError(f"profile must be one of {PROFILES}, got {prof!r}")
    row = LESSONS[lesson][prof]
    copies = {
        f.name: copy.deepcopy(getattr(row, f.name))
        for f in dataclasses.fields(row)
        if isinstance(getattr(row, f.name), dict)
    }
    return dataclasses.replace(row, **copies) if copies else row


__all__ = [
    "LESSONS",
    "LessonRow",
    "MnistRow",
    "ParityRow",
    "RCNNRow",
    "ReconstructionRow",
    "TLBRow",
    "Training",
    "lesson_config",
    "warmup_for",
]

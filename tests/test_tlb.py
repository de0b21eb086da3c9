"""Tests of ctm_course.tlb: shapes, the Keras layer-sharing quirk, paper mode, errors, training, resume."""

from __future__ import annotations

import json
from collections import Counter

import numpy as np
import pytest
import torch

from ctm_course.config import lesson_config
from ctm_course.tlb import (
    KERAS,
    AttentionBlock,
    PatchEmbedding,
    TemporalLatentBottleneck,
    TLBConfig,
    ViTBaseline,
    ViTConfig,
    build,
    count_parameters,
    evaluate_accuracy,
    matched_vit,
    train_classifier,
)
from ctm_course.train import TrainConfig

TINY = dict(
    image_size=16,
    patch_size=4,
    embed_dim=16,
    chunk_size=4,
    r=2,
    num_layers=4,
    heads=2,
    dropout=0.0,
    attn_dropout=0.0,
)


def calls_per_chunk(model: TemporalLatentBottleneck, images: torch.Tensor) -> Counter:
    """(block name, role) -> how many times one forward pass applies it, divided by the chunks."""
    seen: Counter = Counter()

    # a call on all chunks at once has B * chunks rows
    def hook(module, args, out, name):
        seen[(name, "cross" if len(args) > 1 and args[1] is not None else "self")] += (
            args[0].shape[0]
        )

    hooks = [
        block.register_forward_hook(lambda m, a, o, name=name: hook(m, a, o, name))
        for name, block in model.perceptual.items()
    ]
    model(images)
    for h in hooks:
        h.remove()
    return Counter({k: v // (model.num_chunks * len(images)) for k, v in seen.items()})


# ----------------------------------------------------------------------------- shapes
@pytest.mark.parametrize("mode", ["keras", "keras-tf", "paper"])
def test_shapes_and_attention_maps(mode):
    model = TemporalLatentBottleneck(mode=mode, **TINY)
    x = torch.rand(3, 3, 16, 16)
    logits, maps = model(x, return_attention=True)
    assert logits.shape == (3, 10)
    # (B, chunks, heads, state vectors, tokens per chunk)
    assert maps.shape == (
        3,
        4,
        2,
        4,
        4,
    )
    assert torch.allclose(maps.sum(-1), torch.ones(3, 4, 2, 4), atol=1e-5)
    model.eval()
    # SDPA path == explicit path
    assert torch.allclose(model(x), model(x, return_attention=True)[0], atol=1e-5)


def test_vit_shapes_and_parameter_match():
    run = lesson_config("04_tlb_cifar10", "cpu").paper
    tlb = build(run)
    vit = build(run, "vit", run["model"])
    assert isinstance(vit, ViTBaseline) and vit(torch.rand(2, 3, 32, 32)).shape == (
        2,
        10,
    )
    assert (
        abs(count_parameters(vit) - count_parameters(tlb)) / count_parameters(tlb)
        < 0.02
    )


@pytest.mark.parametrize("mode", ["keras", "keras-tf", "paper"])
def test_forward_batched_equals_the_chunk_loop(mode):
    model = TemporalLatentBottleneck(mode=mode, **TINY).eval()
    x = torch.rand(3, 3, 16, 16)
    with torch.no_grad():
        logits, maps = model(x, return_attention=True)
        batched, batched_maps = model.forward_batched(x, return_attention=True)
        assert torch.allclose(batched, logits, atol=1e-5)
        assert torch.allclose(batched_maps, maps, atol=1e-5)
        model.schedule = [
            entry for entry in model.schedule if entry[1] == "self"
        ]  # all blocks run batched
        assert torch.allclose(model.forward_batched(x), model(x), atol=1e-5)


# ----------------------------------------------------------------------------- the Keras quirk
KERAS_BLOCKS = [
    "pm_self_attn_0",
    "pm_cross_attn_ffn_0",
    "pm_self_attn_1",
    "pm_self_attn_2",
    "pm_cross_attn_ffn_2",
    "pm_self_attn_3",
]


def test_keras_modes_have_the_example_parameter_list_and_count():
    model = TemporalLatentBottleneck(**KERAS["model"])
    first = TemporalLatentBottleneck(**{**KERAS["model"], "mode": "keras-tf"})
    assert list(model.perceptual) == list(first.perceptual) == KERAS_BLOCKS
    per_block = count_parameters(model.tlb)
    assert per_block == 50_240  # LN q/k/v, attention, LN + Dense(256) + Dense(64)
    assert count_parameters(model.tlb.attention) == 17_024
    # reference notes: 7 blocks + 3,136 + 9,216 + 128 + 650
    assert count_parameters(first) == 364_810
    assert (
        count_parameters(model.embed.proj) == 3_136
        and model.embed.position.numel() == 9_216
    )
    # keras: the blocks that also cross-attend have weights for it, the others none
    crossing = [n for n, b in model.perceptual.items() if b.cross_attention is not None]
    assert crossing == ["pm_self_attn_0", "pm_self_attn_1", "pm_cross_attn_ffn_2"]
    assert count_parameters(model) == 364_810 + 3 * 17_024 == 415_882
    assert model.tlb.cross_attention is None
    assert all(b.cross_attention is None for b in first.perceptual.values())


@pytest.mark.parametrize("mode", ["keras", "keras-tf"])
def test_keras_modes_reuse_blocks_as_the_example_does(mode):
    model = TemporalLatentBottleneck(mode=mode, **{**TINY, "heads": 1})
    calls = calls_per_chunk(model, torch.rand(2, 3, 16, 16))
    assert calls == Counter(
        {
            ("pm_self_attn_0", "self"): 1,
            ("pm_self_attn_0", "cross"): 1,
            ("pm_cross_attn_ffn_0", "self"): 1,
            ("pm_self_attn_1", "self"): 1,
            ("pm_self_attn_1", "cross"): 1,
            ("pm_self_attn_2", "self"): 1,
            ("pm_cross_attn_ffn_2", "self"): 1,
            ("pm_cross_attn_ffn_2", "cross"): 1,
            ("pm_self_attn_3", "self"): 1,
        }
    )
    roles = Counter(role for (_, role), n in calls.items() for _ in range(n))
    assert roles == {"self": 6, "cross": 3}  # instead of the intended 4 and 2


def test_keras_mode_reads_the_slow_stream_with_its_own_attention_and_shared_ffn():
    model = TemporalLatentBottleneck(mode="keras", **TINY).eval()
    block = model.perceptual["pm_self_attn_0"]
    seen = Counter()
    hooks = [
        module.register_forward_hook(
            lambda m, a, o, name=name: seen.update([(name, a[1] is a[0])])
        )
        for name, module in (
            ("attention", block.attention),
            ("cross_attention", block.cross_attention),
        )
    ]
    hooks.append(block.ffn.register_forward_hook(lambda m, a, o: seen.update(["ffn"])))
    model(torch.rand(2, 3, 16, 16))
    for hook in hooks:
        hook.remove()
    chunks = model.num_chunks
    # attention on the chunk itself, cross_attention on the slow stream, one FFN for both
    assert seen == {
        ("attention", True): chunks,
        ("cross_attention", False): chunks,
        "ffn": 2 * chunks,
    }


@pytest.mark.parametrize("mode", ["keras", "keras-tf"])
def test_keras_mode_state_is_zero_and_tied_to_chunk_size(mode):
    model = TemporalLatentBottleneck(mode=mode, **TINY)
    assert model.n_state == TINY["chunk_size"] and not hasattr(model, "initial_state")
    assert torch.count_nonzero(model.initial(2, torch.zeros(1))) == 0


# ----------------------------------------------------------------------------- paper mode
def test_paper_mode_uses_every_block_once_with_separate_weights():
    model = TemporalLatentBottleneck(mode="paper", **TINY)
    calls = calls_per_chunk(model, torch.rand(2, 3, 16, 16))
    assert all(n == 1 for n in calls.values()) and len(calls) == len(model.perceptual)
    roles = Counter(role for _, role in calls)
    assert roles == {"self": 4, "cross": 2}
    assert [name for name, _ in model.schedule] == [
        "self_attn_0",
        "self_attn_1",
        "cross_attn_1",
        "self_attn_2",
        "self_attn_3",
        "cross_attn_3",
    ]
    pointers = {
        p.data_ptr() for block in model.perceptual.values() for p in block.parameters()
    }
    assert len(pointers) == sum(
        1 for block in model.perceptual.values() for _ in block.parameters()
    )


@pytest.mark.parametrize("chunk_size", [2, 4, 8])
def test_paper_state_count_does_not_depend_on_chunk_size(chunk_size):
    model = TemporalLatentBottleneck(
        mode="paper", n_state=5, **{**TINY, "chunk_size": chunk_size}
    )
    assert model.initial_state.shape == (5, 16)
    _, maps = model(torch.rand(1, 3, 16, 16), return_attention=True)
    assert maps.shape == (1, 16 // chunk_size, 2, 5, chunk_size)


def test_paper_readout_depends_on_the_state():
    model = TemporalLatentBottleneck(mode="paper", **TINY).eval()
    x = torch.rand(2, 3, 16, 16)
    before = model(x)
    with torch.no_grad():
        # not a constant shift: LN removes it
        model.initial_state.copy_(torch.randn_like(model.initial_state))
    assert not torch.allclose(before, model(x))


# ----------------------------------------------------------------------------- errors
@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(image_size=30, patch_size=4), "multiple of patch_size"),
        (dict(chunk_size=5), "chunk_size"),
        (dict(heads=3), "heads"),
        (dict(mode="flax"), "mode must be one of"),
        (dict(mode="paper", num_layers=3, r=2), "r .2. must divide num_layers"),
        (dict(mode="keras", n_state=3), "n_state"),
        (dict(mode="keras-tf", n_state=3), "n_state"),
        (dict(mode="paper", n_state=0), "n_state"),
    ],
)
def test_bad_arguments_raise_clear_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        TemporalLatentBottleneck(**{**TINY, **kwargs})


def test_keras_initialisation_uses_the_fans_keras_computes():
    """Glorot-uniform bounds sqrt(6 / (fan_in + fan_out)) with Keras' fans; zero biases."""
    model = TemporalLatentBottleneck(mode="keras", init="keras")
    block = model.perceptual["pm_self_attn_0"]
    bound = lambda fan_in, fan_out: (6 / (fan_in + fan_out)) ** 0.5  # noqa: E731
    # q/k/v: EinsumDense kernel (64, 1 head, 64) -> fan_in 64, fan_out 4096; Dense(64 -> 256): 64, 256
    for weight, expected in (
        (block.attention.q_proj.weight, bound(64, 4096)),
        (block.cross_attention.k_proj.weight, bound(64, 4096)),
        (block.attention.out_proj.weight, bound(64, 64)),
        (block.ffn.fc1.weight, bound(64, 256)),
        (model.head.weight, bound(64, 10)),
        (model.embed.proj.weight, bound(48, 1024)),
    ):
        assert weight.abs().max() <= expected and weight.abs().max() > 0.9 * expected
    assert all(
        not m.bias.detach().any()
        for m in model.modules()
        if isinstance(m, torch.nn.Linear)
    )
    # PyTorch's initialisation: biases are not zero
    default = TemporalLatentBottleneck(mode="keras")
    assert default.head.bias.detach().any()
    with pytest.raises(ValueError, match="init"):
        TemporalLatentBottleneck(init="jax")


def test_wrong_image_size_raises():
    with pytest.raises(ValueError, match="expected images"):
        TemporalLatentBottleneck(**TINY)(torch.rand(1, 3, 32, 32))
    with pytest.raises(ValueError, match="heads"):
        AttentionBlock(embed_dim=10, heads=4)
    with pytest.raises(ValueError, match="patch_size"):
        PatchEmbedding(10, 0, 8)


# ----------------------------------------------------------------------------- training
def _tiny_data(n=64):
    from ctm_course.data.mnist import ImageData

    g = torch.Generator().manual_seed(0)
    labels = torch.arange(n) % 4
    images = torch.randint(0, 60, (n, 3, 16, 16), generator=g, dtype=torch.uint8)
    images[:, 0] += (labels * 60).to(torch.uint8)[
        :, None, None
    ]  # the class sets the red level
    return ImageData(
        images, labels.long(), ["a", "b", "c", "d"], "sample", None, "tiny", "train"
    )


@pytest.mark.parametrize("amp", [None, torch.bfloat16])
def test_training_reduces_the_loss(amp):
    torch.manual_seed(0)
    data = _tiny_data()
    model = TemporalLatentBottleneck(
        mode="paper", num_classes=4, **{**TINY, "num_layers": 2}
    )
    before = evaluate_accuracy(model, data, 16, amp_dtype=amp)["loss"]
    config = TrainConfig(
        steps=60, lr=3e-3, eval_every=60, checkpoint_every=60, progress=False
    )
    result = train_classifier(
        model,
        data,
        config,
        batch_size=32,
        image_size=16,
        resize_to=17,
        amp_dtype=amp,
        log_every=10,
    )
    after = evaluate_accuracy(model, data, 16, amp_dtype=amp)
    assert after["loss"] < 0.7 * before and after["accuracy"] > 0.5
    assert len(result.history["train"]) == 6 and result.steps == 60


def test_evaluation_is_deterministic_and_unaugmented():
    data = _tiny_data(32)
    model = TemporalLatentBottleneck(
        mode="keras", num_classes=4, **{**TINY, "dropout": 0.2}
    ).train()
    first, second = (
        evaluate_accuracy(model, data, 16),
        evaluate_accuracy(model, data, 16),
    )
    # eval mode inside, no random pipeline, mode restored
    assert first == second and model.training


def test_checkpoint_resume_gives_the_same_model(tmp_path):
    data = _tiny_data()

    def make():
        torch.manual_seed(1)
        return TemporalLatentBottleneck(
            mode="keras", num_classes=4, **{**TINY, "dropout": 0.2, "num_layers": 2}
        )

    def config(path):
        return TrainConfig(
            steps=20,
            lr=1e-3,
            eval_every=10,
            checkpoint_every=10,
            checkpoint_path=path,
            progress=False,
        )

    straight = make()
    train_classifier(
        straight, data, config(None), batch_size=16, image_size=16, log_every=5
    )

    def crash(step, row, ev):
        if step == 15:
            raise KeyboardInterrupt

    path = tmp_path / "run.pt"
    with pytest.raises(KeyboardInterrupt):
        train_classifier(
            make(),
            data,
            config(path),
            batch_size=16,
            image_size=16,
            log_every=5,
            on_log=crash,
        )
    resumed = make()
    result = train_classifier(
        resumed, data, config(path), batch_size=16, image_size=16, log_every=5
    )
    assert result.resumed_from == 10 and result.steps == 20
    for a, b in zip(straight.state_dict().values(), resumed.state_dict().values()):
        assert torch.allclose(a, b, atol=1e-6)


def test_train_classifier_checks_its_arguments():
    data = _tiny_data(8)
    model = TemporalLatentBottleneck(num_classes=4, **TINY)
    with pytest.raises(ValueError, match="batch_size"):
        train_classifier(
            model,
            data,
            TrainConfig(steps=1, progress=False),
            batch_size=9,
            image_size=16,
        )
    with pytest.raises(ValueError, match="multiple of log_every"):
        train_classifier(
            model,
            data,
            TrainConfig(steps=1, eval_every=7, progress=False),
            batch_size=4,
            image_size=16,
            log_every=5,
        )


# ----------------------------------------------------------------------------- presets and the entry point
def test_recorded_runs_reads_the_lessons_runs(tmp_path):
    from ctm_course.tlb.run import recorded_runs

    (tmp_path / "04_tlb_paper.json").write_text(json.dumps({"value": 0.5}))
    (tmp_path / "05_other.json").write_text("{}")
    assert recorded_runs(tmp_path) == {"04_tlb_paper": {"value": 0.5}}
    runs = recorded_runs()  # the repository's results/runs
    assert runs["04_tlb_paper"]["output"]["run"]["model"]["mode"] == "paper"


def test_gpu_keras_row_is_the_keras_preset():
    row = lesson_config("04_tlb_cifar10", "gpu").keras
    assert row["model"] == KERAS["model"]
    assert {k: v for k, v in row["train"].items() if k != "log_every"} == KERAS["train"]


@pytest.mark.parametrize("profile", ["smoke", "cpu", "gpu"])
def test_profile_rows_build(profile):
    config = lesson_config("04_tlb_cifar10", profile)
    for name in ("keras", "paper", "vit"):
        run = config.paper if name == "vit" else getattr(config, name)
        model = build(run, name, config.paper["model"])
        size = (
            config.paper["model"]["image_size"]
            if name == "vit"
            else run["model"]["image_size"]
        )
        assert model(torch.rand(1, 3, size, size)).shape == (1, 10)


def test_matched_vit_depth():
    vit = matched_vit(TLBConfig(**TINY), 7)
    assert len(vit.blocks) == 7
    assert vit.config.shared() == TLBConfig(**TINY).shared()


# ----------------------------------------------------------------------------- configuration
def test_a_config_or_its_keywords_build_the_same_model():
    config = TLBConfig(mode="paper", **TINY)
    torch.manual_seed(0)
    from_config = TemporalLatentBottleneck(config)
    torch.manual_seed(0)
    from_keywords = TemporalLatentBottleneck(mode="paper", **TINY)
    assert from_config.config == from_keywords.config == config
    for a, b in zip(from_config.parameters(), from_keywords.parameters()):
        assert torch.equal(a, b)
    # keywords given with a config replace its fields; the config itself is frozen
    assert TemporalLatentBottleneck(config, n_state=3).n_state == 3
    with pytest.raises(AttributeError):
        config.mode = "keras"  # type: ignore[misc]
    with pytest.raises(ValueError, match="n_state"):
        config.replace(mode="keras", n_state=3)
    with pytest.raises(TypeError, match="TLBConfig"):
        TemporalLatentBottleneck(ViTConfig())


def test_a_tlb_and_its_vit_share_the_transformer_widths():
    tlb = TLBConfig(mode="paper", **TINY)
    assert set(tlb.shared()) == {
        "image_size",
        "patch_size",
        "num_classes",
        "embed_dim",
        "heads",
        "mlp_ratio",
        "dropout",
        "attn_dropout",
    }
    assert tlb.num_patches == 16 and tlb.num_chunks == 4 and tlb.state_size == 4
    # an attention block reads only the block widths of whatever config it gets
    block = AttentionBlock(tlb)
    assert block.attention.heads == 2 and block.ffn.fc1.out_features == 4 * 16
    with pytest.raises(ValueError, match="depth"):
        ViTConfig(depth=0)


def test_run_entry_point_on_the_sample(tmp_path, monkeypatch):
    import ctm_course.data.cifar10 as cifar_mod
    from ctm_course.tlb import run

    monkeypatch.delenv("CTM_COURSE_DATA", raising=False)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(
        cifar_mod,
        "_download",
        lambda root: (_ for _ in ()).throw(RuntimeError("offline")),
    )
    out = tmp_path / "r.json"
    summary = run.main(
        [
            "--mode",
            "paper",
            "--profile",
            "smoke",
            "--steps",
            "3",
            "--batch-size",
            "16",
            "--device",
            "cpu",
            "--out",
            str(out),
        ]
    )
    saved = json.loads(out.read_text())
    assert saved["steps"] == 3 and saved["data_source"] == "sample"
    assert saved == json.loads(
        json.dumps(summary, default=str)
    )  # the file is the summary
    # an accuracy on 100 images is a whole number of them, the loss a finite mean
    correct = saved["test_accuracy"] * saved["test_images"]
    assert correct == pytest.approx(round(correct)) and saved["test_loss"] > 0
    row = lesson_config("04_tlb_cifar10", "smoke").paper
    assert saved["parameters"] == count_parameters(build(row))
    assert summary["test_images"] == 100
    keras = run.main(
        [
            "--mode",
            "keras",
            "--profile",
            "smoke",
            "--steps",
            "2",
            "--batch-size",
            "16",
            "--device",
            "cpu",
            "--init",
            "keras",
            "--max-seconds",
            "60",
        ]
    )
    assert (
        keras["run"]["model"]["init"] == "keras"
        and keras["run"]["train"]["max_seconds"] == 60
    )


def test_one_autocast_helper():
    from ctm_course import precision, tlb

    assert tlb.autocast_dtype is precision.autocast_dtype
    assert (
        precision.autocast_dtype(torch.device("cpu")) is None
        and precision.autocast_dtype("cuda") is torch.bfloat16
    )
    with precision.autocast(torch.device("cpu"), None):
        assert not torch.is_autocast_enabled("cpu")
    with precision.autocast("cpu", torch.bfloat16):
        assert (torch.ones(2, 2) @ torch.ones(2, 2)).dtype is torch.bfloat16


# ----------------------------------------------------------------------------- ablations over seeds
def test_ablation_variants_change_only_what_they_name():
    from ctm_course.tlb.ablation import VARIANTS

    paper = dict(mode="paper", num_classes=4, n_state=4, **{**TINY, "num_layers": 2})
    models = {name: make(paper) for name, make in VARIANTS.items()}
    assert models["reference"].n_state == 4
    assert models["n_state=1"].n_state == 1 and models["n_state=16"].n_state == 16
    reference, no_top_down = models["reference"], models["no top-down"]
    assert any(role == "cross" for _, role in reference.schedule)
    assert no_top_down.schedule == [
        entry for entry in reference.schedule if entry[1] != "cross"
    ]
    # the blocks stay: the same parameters, only unused
    assert sum(p.numel() for p in no_top_down.parameters()) == sum(
        p.numel() for p in reference.parameters()
    )


def test_seed_study_learns_repeats_a_seed_and_reports_the_spread():
    from ctm_course.tlb.ablation import seed_study, spread

    data = _tiny_data()
    paper = {
        "model": dict(
            mode="paper", num_classes=4, n_state=4, **{**TINY, "num_layers": 2}
        ),
        "train": dict(
            batch_size=32, lr=3e-3, weight_decay=0.0, resize_to=17, log_every=10
        ),
    }
    variants = ("reference", "no top-down")
    first = seed_study(paper, data, data, [0, 1], 40, variants=variants, progress=None)
    again = seed_study(paper, data, data, [1], 40, variants=variants, progress=None)
    assert set(first) == set(variants) and all(len(v) == 2 for v in first.values())
    assert all(a > 0.5 for values in first.values() for a in values)  # chance: 0.25
    # a seed is a run: the same seed gives the same accuracy
    assert [first[v][1] for v in variants] == [again[v][0] for v in variants]
    summary = spread({"reference": [0.4, 0.5, 0.6], "n_state=1": [0.3, 0.3, 0.3]})
    assert summary["reference"]["mean"] == pytest.approx(0.5)
    assert summary["reference"]["std"] == pytest.approx(0.1)
    assert summary["n_state=1"]["minus_reference"] == pytest.approx(-0.2)
    assert (summary["n_state=1"]["min"], summary["reference"]["max"]) == (0.3, 0.6)
    # every seed of n_state=1 lies below the reference's lowest; overlapping seeds do not
    assert summary["n_state=1"]["separated"] == 1.0
    assert summary["reference"]["separated"] == 0.0
    overlapping = spread({"reference": [0.4, 0.5], "no top-down": [0.45, 0.3]})
    assert overlapping["no top-down"]["separated"] == 0.0
    with pytest.raises(ValueError, match="reference"):
        spread({"n_state=1": [0.3]})
    with pytest.raises(ValueError, match="unknown variants"):
        seed_study(paper, data, data, [0], 1, variants=("bigger",))
    with pytest.raises(ValueError, match="seed"):
        seed_study(paper, data, data, [], 1)


def test_seed_spread_plot_draws_every_seed_and_our_run(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ctm_course.tlb import plots
    from ctm_course.tlb.ablation import record_name, recorded_ablations

    runs = {"reference": [0.40, 0.42, 0.38], "no top-down": [0.35, 0.37, 0.36]}
    ours = {"reference": 0.41, "no top-down": 0.33}
    fig = plots.plot_seed_spread(runs, ours)
    ax = fig.axes[0]
    circles, stars = ax.collections[0::3], ax.collections[2::3]
    assert [t.get_text() for t in ax.get_xticklabels()] == list(runs)
    for i, name in enumerate(runs):
        np.testing.assert_allclose(circles[i].get_offsets()[:, 1], runs[name])
        assert tuple(stars[i].get_offsets()[0]) == (i, ours[name])
    plt.close(fig)
    empty = plots.plot_seed_spread({"reference": []}, {"reference": 0.4})
    assert len(empty.axes[0].collections) == 1  # only our run
    plt.close(empty)
    # the recorded study is read back from results/<profile>/
    assert recorded_ablations("cpu", folder=tmp_path) is None
    assert record_name("cpu", 600) == "04_tlb_cifar10-cpu-600-steps.json"
    (tmp_path / record_name("cpu")).write_text(
        json.dumps({"steps": 150, "accuracies": runs})
    )
    assert recorded_ablations("cpu", folder=tmp_path)["accuracies"] == runs
    assert recorded_ablations("cpu", folder=tmp_path, steps=600) is None


def test_describe_study_names_what_stands_out_and_says_when_there_is_no_study():
    from ctm_course.tlb.ablation import describe_study

    study = {
        "seeds": [0, 1, 2],
        "steps": 600,
        "accuracies": {
            "reference": [0.47, 0.48, 0.49],
            "n_state=1": [0.46, 0.48, 0.50],  # overlapping
            "n_state=16": [0.44, 0.45, 0.46],  # every seed below 0.47
            "no top-down": [0.50, 0.51, 0.52],  # every seed above 0.49
        },
    }
    text = describe_study(study, 600, "cpu")
    assert text.startswith("Over 3 seeds of 600 steps, the reference reaches 0.480")
    assert "(from 0.470 to 0.490)" in text and "span up to 0.040" in text
    assert (
        "one state vector changes the mean by +0.000 (seeds overlapping the reference's)"
        in text
    )
    assert "sixteen state vectors by -0.030 (every seed outside" in text
    assert "2 of the 3 differences stand out of the noise" in text
    assert "sixteen state vectors lowered the mean by 0.030" in text
    assert "removing the top-down attention raised the mean by 0.030" in text
    assert "nan" not in text
    study["accuracies"]["n_state=16"] = [0.47, 0.48, 0.49]
    study["accuracies"]["no top-down"] = [0.48, 0.48, 0.48]
    assert "cannot tell the variants apart" in describe_study(study, 600, "cpu")
    missing = describe_study(None, 150, "smoke")
    assert "No seed study of 150-step runs is recorded for the smoke profile" in missing
    assert "nan" not in missing

"""Lesson 5's package: stimuli (faithful and torch), variants, the recurrent CNN, probes, perturbations,
weights, the paper's numbers and the command-line run. Synthetic object images keep these fast."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from ctm_course.data import thorat2021
from ctm_course.rcnn import (
    GROUPS,
    LAYERS,
    VARIANTS,
    ObjectSources,
    RecurrentCNN,
    SceneBatch,
    StimulusBatches,
    TorchStimuli,
    accuracy,
    aux_summary,
    bootstrap_importance,
    collect,
    connection_counts,
    count_parameters,
    decode_grid,
    functional_importance,
    generate_faithful,
    generate_variant_sets,
    generate_variants,
    importance_record,
    perturbation_correct,
    predict,
    probe,
    random_feedback,
    render,
    sample_scene,
    weights,
)
from ctm_course.rcnn.perturb import accuracies_from
from ctm_course.rcnn.shuffle_conv import ShuffleConv2d, conv2d_by_blocks
from ctm_course.rcnn.shuffle_transpose import (
    ShuffleConvTranspose2d,
    conv_transpose_by_shuffle,
)
from ctm_course.rcnn.stimuli import load_sources, scramble
from ctm_course.rcnn.variants import target_patches

FEEDFORWARD, BRANCH = 179_700, 12_483_194  # reference notes, section 1.2


def synthetic_sources(n: int = 60, seed: int = 0) -> ObjectSources:
    """Objects with a class-specific bar pattern (domain 0) or ring (domain 1): 28x28 in [0, 1]."""
    rng = np.random.default_rng(seed)
    images, labels = [], []
    yy, xx = np.mgrid[:28, :28]
    for d in (0, 1):
        y = np.arange(n) % 10
        x = np.zeros((n, 28, 28), np.float32)
        for k in range(n):
            if d == 0:
                x[k, 4 + 2 * y[k] : 6 + 2 * y[k], 4:24] = 1
            else:
                r = np.hypot(yy - 14, xx - 14)
                x[k] = (np.abs(r - 3 - y[k]) < 1.2).astype(np.float32)
            x[k] = np.clip(x[k] + 0.05 * rng.random((28, 28)), 0, 1)
        images.append(x)
        labels.append(y.astype(np.int64))
    return ObjectSources(
        (images[0], images[1]), (labels[0], labels[1]), split="test", source="sample"
    )


@pytest.fixture(scope="module")
def sources() -> ObjectSources:
    return synthetic_sources()


# ------------------------------------------------------------------------------------------ stimuli
def test_faithful_generator_shapes_labels_and_determinism(sources):
    a = generate_faithful(6, sources, seed=3)
    b = generate_faithful(6, sources, seed=3)
    c = generate_faithful(6, sources, seed=4)
    assert a.images.shape == a.clean.shape == (6, 1, 100, 100)
    assert float(a.images.min()) == 0.0 and float(a.images.max()) == 1.0
    assert torch.equal(a.images, b.images) and not torch.equal(a.images, c.images)
    assert set(a.labels) == {
        "category",
        "pos_x",
        "pos_y",
        "scale",
        "orientation",
        "domain",
    }
    assert all(0 <= int(v) < 20 for v in a.labels["category"])
    assert torch.equal(a.labels["category"] >= 10, a.labels["domain"] == 1)
    for name in ("pos_x", "pos_y", "scale", "orientation"):
        assert set(a.labels[name].tolist()) <= {0, 1}


def test_clean_twin_holds_the_target_where_its_labels_say(sources):
    s = generate_faithful(8, sources, seed=1)
    for k in range(8):
        rows, cols = np.nonzero(s.clean[k, 0].numpy() > 0.2)
        assert (rows.mean() > 50) == bool(s.labels["pos_y"][k]) and (
            cols.mean() > 50
        ) == bool(s.labels["pos_x"][k])


def test_scramble_moves_cells_and_zeroes_the_border():
    patch = np.arange(31 * 31, dtype=float).reshape(31, 31)
    perm = np.array([1, 0, 2, 3, 4, 5, 6, 7, 8])
    out = scramble(patch, perm)
    assert np.array_equal(out[0:10, 0:10], patch[10:20, 0:10])
    assert np.array_equal(out[20:30, 10:20], patch[20:30, 10:20])
    assert not out[30].any() and not out[:, 30].any()


def test_torch_generator_shapes_devices_and_determinism(sources):
    gen = TorchStimuli(sources)
    a, b, c = gen(16, seed=5), gen(16, seed=5), gen(16, seed=6)
    assert (
        a.images.shape == a.clean.shape == (16, 1, 100, 100)
        and a.images.dtype == torch.float32
    )
    assert torch.equal(a.images, b.images) and not torch.equal(a.images, c.images)
    assert 0 <= float(a.images.min()) and float(a.images.max()) <= 1 + 1e-6
    batches = StimulusBatches(gen, 4, seed=1)
    first, second = next(batches), next(batches)
    state = batches.state_dict()
    third = next(batches)
    batches.load_state_dict(state)
    assert torch.equal(next(batches).images, third.images) and not torch.equal(
        first.images, second.images
    )


def test_torch_generator_matches_the_faithful_one_on_fixed_scenes(sources):
    rng = np.random.default_rng(0)
    for fixed in (False, True):
        scenes = [sample_scene(rng, sources, fixed=fixed) for _ in range(4)]
        images, clean = TorchStimuli(sources).render(SceneBatch.from_scenes(scenes))
        for k, scene in enumerate(scenes):
            want, want_clean = render(scene, sources)
            assert np.corrcoef(want.ravel(), images[k, 0].numpy().ravel())[0, 1] > 0.9
            assert (
                np.corrcoef(want_clean.ravel(), clean[k, 0].numpy().ravel())[0, 1] > 0.9
            )


def test_torch_generator_matches_the_faithful_label_statistics(sources):
    faithful = generate_faithful(150, sources, seed=0).labels
    vectorised = TorchStimuli(sources)(2000, seed=0).labels
    for name in ("pos_x", "pos_y", "scale", "orientation", "domain"):
        p, q = (
            faithful[name].float().mean().item(),
            vectorised[name].float().mean().item(),
        )
        assert abs(p - 0.5) < 0.15 and abs(q - 0.5) < 0.04 and abs(p - q) < 0.15, name
    counts = torch.bincount(vectorised["category"], minlength=20).float() / 2000
    assert counts.min() > 0.02 and counts.max() < 0.08  # about 1/20 each


def test_torch_generator_runs_under_its_device(sources):
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    for device in devices:
        s = TorchStimuli(sources, device)(4, seed=0, fixed=True)
        assert (
            s.images.device.type == device
            and s.labels["category"].device.type == device
        )


# ------------------------------------------------------------------------------------------ variants
def test_variants_change_only_the_target(sources):
    v = generate_variants(3, sources, seed=2)
    assert set(v) == {"original", *VARIANTS}
    for name in VARIANTS:
        assert v[name].images.shape == (3, 1, 100, 100)
        assert torch.equal(v[name].labels["category"], v["original"].labels["category"])
        assert not torch.equal(v[name].images, v["original"].images), name
    with_bugs = generate_variants(3, sources, seed=2, authors_bugs=True)
    for name in ("original", "x_swap", "y_swap", "category_within", "category_between"):
        assert torch.equal(with_bugs[name].images, v[name].images), name
    for name in ("rotation", "scale"):
        assert not torch.equal(with_bugs[name].images, v[name].images), name


@pytest.mark.parametrize("zoom", [0.8, 1.6])
def test_the_swap_bug_switch(sources, zoom):
    src, other = sources.images[0][3], sources.images[1][4]
    fixed = target_patches(src, other, other, zoom, 35.0)
    buggy = target_patches(src, other, other, zoom, 35.0, authors_bugs=True)
    opposite = 45 if zoom < 1 else 22
    assert fixed["scale"].shape == (opposite, opposite)  # the other size level
    # 0.8 * 1.6 = 1.28 either way (the authors' bug)
    assert buggy["scale"].shape[0] in (
        35,
        36,
    )
    flipped = target_patches(src, other, other, zoom, -35.0)["original"]
    assert np.allclose(fixed["rotation"], flipped)  # the opposite angle
    upright = target_patches(src, other, other, zoom, 0.0)["original"]
    corr = lambda a, b: np.corrcoef(a.ravel(), b.ravel())[0, 1]  # noqa: E731
    # the bug ends upright
    assert corr(buggy["rotation"], upright) > corr(fixed["rotation"], upright)


# ------------------------------------------------------------------------------------------ model
@pytest.mark.parametrize(
    "flags, expected",
    [
        ((1, 1, 1, 1), FEEDFORWARD + 2 * BRANCH),
        ((0, 1, 1, 1), FEEDFORWARD + BRANCH),
        ((1, 0, 1, 1), FEEDFORWARD + BRANCH),
        ((0, 0, 1, 1), FEEDFORWARD),
        ((0, 1, 0, 0), FEEDFORWARD),
    ],
)
def test_count_parameterss_match_the_reference_notes(flags, expected):
    assert count_parameters(RecurrentCNN(8, 4, *flags)) == expected
    # both branches, as the authors store them: about 100.6 MB of float32
    if expected == 25_146_088:
        assert expected * 4 / 1e6 == pytest.approx(100.6, abs=0.1)


def test_the_b_network_is_one_feedforward_sweep_read_out_t_times():
    """Without flows every step repeats the first: the readout is fc2 of t_steps copies of fc1."""
    torch.manual_seed(0)
    model = RecurrentCNN(2, 4, lateral=False, topdown=False)
    assert model.connections == () and model.name == "0100"
    x = torch.rand(3, 1, 100, 100)
    out, trace = model(x, trace=True)
    z = model.pool(F.relu(model.conv1(x)))
    z = model.pool(F.relu(model.conv2(z)))
    fc = F.relu(model.fc1(z.flatten(1)))
    expected = torch.log_softmax(model.fc2(torch.cat([fc] * 4, dim=1)), dim=1)
    torch.testing.assert_close(out, expected.clamp_min(math.log(1e-10)))
    assert (
        all(torch.equal(a, fc) for a in trace.acts["fc"]) and len(trace.acts["fc"]) == 4
    )
    assert all(flows == [] for flows in trace.flows["g"].values())
    # the gradient reaches the feedforward weights through all four copies
    out[:, 0].sum().backward()
    assert model.conv1.weight.grad.abs().sum() > 0
    seen = []
    model(x, observer=lambda t, state, readout: seen.append((t, len(readout))))
    assert seen == [(0, 1), (1, 2), (2, 3), (3, 4)]


def test_model_shapes_and_connections():
    model = RecurrentCNN(2, 4)
    x = torch.rand(3, 1, 100, 100)
    out, trace = model(x, trace=True)
    assert out.shape == (3, 20) and torch.allclose(
        out.exp().sum(1), torch.ones(3), atol=1e-4
    )
    shapes = {
        "input": (3, 1, 100, 100),
        "conv1": (3, 2, 32, 32),
        "conv2": (3, 4, 9, 9),
        "fc": (3, 32),
    }
    for layer in LAYERS:
        assert [tuple(a.shape) for a in trace.acts[layer]] == [shapes[layer]] * 4
    flow_shapes = {
        "input": (3, 1, 100, 100),
        "conv1": (3, 2, 96, 96),
        "conv2": (3, 4, 28, 28),
        "fc": (3, 32),
    }
    for layer in LAYERS:
        assert [tuple(f.shape) for f in trace.flows["g"][layer]] == [
            flow_shapes[layer]
        ] * 3
    assert (
        float(trace.acts["input"][2].detach().min()) >= 0
        and float(trace.acts["input"][2].detach().max()) <= 1
    )
    counts = connection_counts(model)
    assert len(counts["lateral"]) == 3 and len(counts["topdown"]) == 6
    assert connection_counts(RecurrentCNN(2, 4, lateral=False))["lateral"] == []


def test_only_the_enabled_branch_is_built_and_it_equals_the_authors_masked_sum():
    gain_only = RecurrentCNN(2, 4, bias=False, gain=True)
    names = {n for n, _ in gain_only.named_modules()}
    assert "c1c1g" in names and not any(
        n.endswith("b") and n[:-1] in {"c1c1", "fc1x", "c2x"} for n in names
    )
    both = RecurrentCNN(2, 4, bias=True, gain=True)
    both.load_state_dict(gain_only.state_dict(), strict=False)
    # a zero bias branch: what the authors' b_flag = 0 computes
    for (
        name,
        _,
        _,
        _,
    ) in both.connections:
        for p in getattr(both, name + "b").parameters():
            torch.nn.init.zeros_(p)
    calls = []
    hooks = [
        getattr(gain_only, name + "g").register_forward_hook(lambda *a: calls.append(1))
        for name, *_ in gain_only.connections
    ]
    x = torch.rand(2, 1, 100, 100)
    assert torch.allclose(gain_only(x), both(x), atol=1e-5)
    assert len(calls) == 9 * 3  # 9 connections x 3 recurrent steps, one branch only
    for hook in hooks:
        hook.remove()


def assert_same_as_library(
    plain: torch.nn.Module, fast: torch.nn.Module, x: torch.Tensor
) -> None:
    """``fast`` loads ``plain``'s state_dict and matches it on ``x``: output, and gradients of input and parameters."""
    fast.load_state_dict(plain.state_dict())  # the same parameters and state_dict keys
    expected, got = plain(x), fast(x)
    assert got.shape == expected.shape
    assert torch.allclose(got, expected, atol=1e-5)
    weights_out = torch.randn_like(expected)
    grads_expected = torch.autograd.grad(
        (expected * weights_out).sum(), (x, plain.weight, plain.bias)
    )
    grads_got = torch.autograd.grad(
        (got * weights_out).sum(), (x, fast.weight, fast.bias)
    )
    for g_exp, g_got in zip(grads_expected, grads_got):
        assert torch.allclose(g_got, g_exp, atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize(
    "c_in, c_out, kernel, stride, size",
    [(4, 1, 7, 3, 32), (8, 1, 20, 10, 9), (8, 4, 16, 10, 9), (3, 2, (5, 4), 2, 6)],
)
def test_shuffle_transposed_convolution_equals_the_library_one(
    c_in, c_out, kernel, stride, size
):
    torch.manual_seed(0)
    plain = torch.nn.ConvTranspose2d(c_in, c_out, kernel, stride)
    x = torch.randn(2, c_in, size, size + 1, requires_grad=True)
    assert_same_as_library(
        plain, ShuffleConvTranspose2d(c_in, c_out, kernel, stride), x
    )
    no_bias = conv_transpose_by_shuffle(x, plain.weight, None, stride)
    assert torch.allclose(
        no_bias, F.conv_transpose2d(x, plain.weight, None, stride), atol=1e-5
    )
    with pytest.raises(ValueError, match="do not fit"):
        conv_transpose_by_shuffle(x[:, :1], plain.weight, None, stride)
    with pytest.raises(ValueError, match="stride"):
        conv_transpose_by_shuffle(x, plain.weight, None, 0)
    # falls back to the library kernel
    padded = ShuffleConvTranspose2d(c_in, c_out, kernel, stride, padding=1)
    padded.load_state_dict(plain.state_dict())
    assert torch.allclose(
        padded(x), F.conv_transpose2d(x, plain.weight, plain.bias, stride, padding=1)
    )


@pytest.mark.parametrize(
    "c_in, c_out, kernel, padding, size",
    [(4, 4, 5, 2, 96), (8, 8, 5, 2, 28), (1, 3, 3, 0, 10), (2, 3, 7, 4, 12)],
)
def test_block_convolution_equals_the_library_one(c_in, c_out, kernel, padding, size):
    torch.manual_seed(0)
    plain = torch.nn.Conv2d(c_in, c_out, kernel, padding=padding)
    blocked = ShuffleConv2d(c_in, c_out, kernel, padding=padding)
    x = torch.randn(2, c_in, size, size + 2, requires_grad=True).contiguous(
        memory_format=torch.channels_last
    )
    assert_same_as_library(plain, blocked, x)
    assert torch.allclose(
        conv2d_by_blocks(x, plain.weight, None, padding),
        F.conv2d(x, plain.weight, None, padding=padding),
        atol=1e-5,
    )
    with pytest.raises(ValueError, match="do not fit"):
        conv2d_by_blocks(x[:, :, :-1], plain.weight, None, padding)  # an odd height
    odd = x[
        :, :, :-1
    ]  # the module falls back to the library kernel where the blocks do not fit
    assert torch.allclose(blocked(odd), plain(odd), atol=1e-5)


def test_replacing_a_flow_by_itself_and_resuming_change_nothing():
    torch.manual_seed(0)
    model = RecurrentCNN(2, 4).eval()
    x = torch.rand(2, 1, 100, 100)
    out, trace = model(x, trace=True)
    replace = {("g", "conv1", 1): trace.flows["g"]["conv1"][1]}
    assert torch.allclose(model(x, replace=replace), out, atol=1e-6)
    kept = {}
    model(x, observer=lambda t, s, r: kept.setdefault(t, (dict(s), list(r))))
    assert torch.allclose(model(x, resume=(1, *kept[1])), out, atol=1e-6)
    changed = {("g", "conv1", 1): torch.randn_like(trace.flows["g"]["conv1"][1])}
    assert not torch.allclose(model(x, replace=changed), out)


def test_training_reduces_the_loss_on_a_tiny_batch(sources):
    torch.manual_seed(0)
    model = RecurrentCNN(2, 4)
    batch = TorchStimuli(sources)(8, seed=0)
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(20):
        loss = F.nll_loss(model(batch.images), batch.labels["category"])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    # memorises the batch (Adam may oscillate near 0)
    assert min(losses[-10:]) < 0.5 * losses[0], losses


def test_bad_arguments_raise_clear_errors(sources):
    with pytest.raises(ValueError, match="n_feats"):
        RecurrentCNN(0)
    with pytest.raises(ValueError, match="t_steps"):
        RecurrentCNN(2, 0)
    with pytest.raises(ValueError, match=r"\(B, 1, 100, 100\)"):
        RecurrentCNN(2)(torch.rand(2, 1, 28, 28))
    with pytest.raises(ValueError, match="split"):
        load_sources("dev")
    with pytest.raises(ValueError, match="n must be"):
        generate_faithful(0, sources)
    with pytest.raises(ValueError, match="batch_size"):
        StimulusBatches(TorchStimuli(sources), 0)
    with pytest.raises(ValueError, match="n_train"):
        probe(np.zeros((10, 3)), np.arange(10) % 2, n_train=10)
    with pytest.raises(ValueError, match="variants must hold"):
        perturbation_correct(RecurrentCNN(2), {"original": None})
    with pytest.raises(ValueError, match="model must be one of"):
        weights.fetch("0000")
    with pytest.raises(ValueError, match="flows must be one of"):
        collect(RecurrentCNN(2), torch.rand(2, 1, 100, 100), flows="b")
    with pytest.raises(ValueError, match="same length"):
        probe(np.zeros((10, 3)), np.arange(9))


# ------------------------------------------------------------------------------------------ probes
def test_probe_on_separable_and_on_random_labels():
    rng = np.random.default_rng(0)
    labels = np.arange(200) % 4
    features = np.eye(4)[labels] * 3 + 0.1 * rng.standard_normal((200, 4))
    features = np.concatenate([features, rng.standard_normal((200, 20))], axis=1)
    assert probe(features, labels) == 1.0
    assert probe(rng.standard_normal((400, 5)), rng.integers(0, 2, 400)) < 0.7


def test_collect_decode_and_random_feedback(sources):
    torch.manual_seed(0)
    model = RecurrentCNN(2, 3)
    s = TorchStimuli(sources)(40, seed=0)
    acts = collect(model, s.images, batch_size=16)
    assert sorted(acts) == sorted((layer, t) for layer in LAYERS for t in range(3))
    assert acts[("conv1", 0)].shape == (40, 2 * 32 * 32)
    flows = collect(model, s.images, flows="g")
    # pooled by 3
    assert flows[("conv1", 1)].shape == (40, 2 * 32 * 32) and ("input", 0) not in flows
    assert flows[("input", 1)].shape == (40, 33 * 33) and flows[("conv2", 2)].shape == (
        40,
        4 * 9 * 9,
    )
    assert flows[("fc", 1)].shape == (40, 32)
    control = random_feedback(model, seed=1)
    assert torch.equal(control.conv1.weight, model.conv1.weight) and not torch.equal(
        control.fc1c1g.weight, model.fc1c1g.weight
    )
    random_flows = collect(model, s.images, flows="g", flow_model=control)
    assert not np.allclose(random_flows[("fc", 1)], flows[("fc", 1)])
    grid = decode_grid(acts, s.labels)
    assert set(grid) == {"Category", "Location", "Scale", "Orientation"} and grid[
        "Location"
    ].shape == (4, 3)
    through_time, through_depth = aux_summary(grid)
    assert (
        len(through_time) == 3
        and len(through_depth) == 4
        and all(0 <= v <= 1 for v in through_time)
    )


# ------------------------------------------------------------------------------------------ perturbation
def test_perturbation_analysis_on_a_tiny_model(sources):
    torch.manual_seed(1)  # an untrained network that gets one of the four images right
    model = RecurrentCNN(2, 4)
    variants = generate_variants(4, sources, seed=0)
    result = accuracies_from(perturbation_correct(model, variants, batch_size=3))
    acc = result["accuracy"]
    assert acc.shape == (6, 2, 4, 3) and 0 <= result["original"] <= 1
    assert np.all((acc >= 0) & (acc <= 1))
    # the unperturbed accuracy is the model's own on the variants' original images
    original = variants["original"]
    with torch.no_grad():
        own = model(original.images).argmax(1) == original.labels["category"]
    assert result["original"] == pytest.approx(own.float().mean().item()) == 0.25
    importance = functional_importance(result)
    assert set(importance) == {"Location", "Orientation", "Scale", "Category"}
    assert importance["Location"].shape == (4, 3)
    assert np.isfinite(importance["Location"]).all()
    no_topdown = RecurrentCNN(2, 4, topdown=False)
    acc = accuracies_from(perturbation_correct(no_topdown, variants))["accuracy"]
    # no flow into the input
    assert np.isnan(acc[:, :, 0]).all() and not np.isnan(acc[:, :, 1]).any()


def test_functional_importance_formula():
    acc = np.zeros((6, 2, 4, 3))
    acc[:, 1] = 0.8  # control
    acc[:, 0] = 0.4  # perturbed
    importance = functional_importance({"original": 0.8, "accuracy": acc})
    assert np.allclose(importance["Category"], 0.5)


def test_variant_sets_share_all_but_the_two_swaps(sources):
    sets = generate_variant_sets(3, sources, seed=2)
    assert set(sets) == {"authors", "fixed"}
    for swaps, bugs in (("authors", True), ("fixed", False)):
        alone = generate_variants(3, sources, seed=2, authors_bugs=bugs)
        for name in ("original", *VARIANTS):
            assert torch.equal(sets[swaps][name].images, alone[name].images), name
    for name in ("original", "x_swap", "y_swap", "category_within", "category_between"):
        assert sets["authors"][name] is sets["fixed"][name]  # rendered once
    for name in ("rotation", "scale"):
        assert not torch.equal(sets["authors"][name].images, sets["fixed"][name].images)
    with pytest.raises(ValueError, match="swaps must be"):
        generate_variant_sets(2, sources, swaps=("buggy",))


def test_per_image_outcomes_give_the_accuracies_and_reuse_shared_variants(sources):
    torch.manual_seed(1)
    model = RecurrentCNN(2, 4).eval()
    sets = generate_variant_sets(4, sources, seed=0)
    authors = perturbation_correct(model, sets["authors"], batch_size=3)
    assert authors["correct"].shape == (6, 2, 4, 3, 4)
    assert authors["original"].dtype == bool and authors["has_flow"].all()
    # the same numbers from a second run (same seed, same permutations)
    plain = accuracies_from(perturbation_correct(model, sets["authors"], batch_size=3))
    assert accuracies_from(authors)["original"] == plain["original"]
    assert np.array_equal(accuracies_from(authors)["accuracy"], plain["accuracy"])
    calls = []
    hook = model.register_forward_pre_hook(lambda *a: calls.append(1))
    fresh = perturbation_correct(model, sets["fixed"], batch_size=4)
    n_fresh = len(calls)
    calls.clear()
    reused = perturbation_correct(model, sets["fixed"], batch_size=4, reuse=authors)
    hook.remove()
    # one batch: the original, then per variant its own pass and 4 layers x 3 steps x 2
    assert n_fresh == 1 + 6 * (1 + 4 * 3 * 2) and len(calls) == 1 + 2 * (1 + 4 * 3 * 2)
    for v, name in enumerate(VARIANTS):
        if name in (
            "rotation",
            "scale",
        ):  # run: the perturbed condition is deterministic
            assert np.array_equal(reused["correct"][v, 0], fresh["correct"][v, 0])
        else:  # copied
            assert np.array_equal(reused["correct"][v], authors["correct"][v])
    other = generate_variant_sets(4, sources, seed=1)["fixed"]
    calls_other = perturbation_correct(model, other, batch_size=4, reuse=authors)
    assert calls_other["correct"].shape == (
        6,
        2,
        4,
        3,
        4,
    )  # other images: nothing copied


def test_a_replaced_flow_is_not_computed_and_the_output_stays_exact():
    torch.manual_seed(0)
    model = RecurrentCNN(2, 3).eval()
    x = torch.rand(2, 1, 100, 100)
    with torch.no_grad():
        out, trace = model(x, trace=True)
        own = {
            ("g", layer, k): flow
            for layer, flows in trace.flows["g"].items()
            for k, flow in enumerate(flows)
        }
        calls = []
        hook = model.fc1c1g.register_forward_pre_hook(lambda *a: calls.append(1))
        model(x)
        assert len(calls) == 2  # fc -> conv1, entering steps 2 and 3
        calls.clear()
        # the model's own flows, given: the same output, and no flow computed
        assert torch.equal(model(x, replace=own), out) and not calls
        only_conv2 = {key: f for key, f in own.items() if key[1] == "conv2"}
        model(x, replace=only_conv2)
        assert len(calls) == 2  # the flows into conv1 are still computed
        hook.remove()
    state = {layer: trace.acts[layer][0] for layer in ("conv1", "conv2", "fc")} | {
        "conv1_map": torch.zeros(2, 2, 96, 96),
        "conv2_map": torch.zeros(2, 4, 28, 28),
    }
    assert set(model.flows(state, "g", skip={"conv1", "input"})) == {"conv2", "fc"}


def test_perturbation_outcomes_equal_plain_passes_with_one_flow_replaced(sources):
    """The shortcuts (resuming at step k + 1, the other flows given) change no outcome: each
    perturbed-condition outcome equals a pass from the first step with only that flow replaced."""
    torch.manual_seed(1)
    model = RecurrentCNN(2, 3).eval()
    with torch.no_grad():  # strong flows: a wrong flow anywhere changes predictions
        for name, *_ in model.connections:
            getattr(model, name + "g").weight.mul_(30)
    variants = generate_variants(6, sources, seed=0)
    result = perturbation_correct(model, variants, batch_size=4)
    original = variants["original"]
    labels = original.labels["category"]
    with torch.no_grad():
        for v, name in enumerate(VARIANTS):
            _, seen = model(variants[name].images, trace=True)
            for i, layer in enumerate(LAYERS):
                for k, flow in enumerate(seen.flows["g"][layer]):
                    replace = {("g", layer, k): flow}
                    pred = model(original.images, replace=replace).argmax(1)
                    assert np.array_equal(
                        result["correct"][v, 0, i, k], (pred == labels).numpy()
                    ), (name, layer, k)


def fake_result(n: int, perturbed_right: float, seed: int = 0) -> dict:
    """Every image right originally and under the control; ``perturbed_right`` of them under the
    perturbation (a random subset): importance 1 - perturbed_right in every cell."""
    rng = np.random.default_rng(seed)
    correct = np.ones((6, 2, 4, 3, n), bool)
    correct[:, 0] = rng.permutation(n) < round(perturbed_right * n)
    return {
        "original": np.ones(n, bool),
        "correct": correct,
        "has_flow": np.ones((4, 3), bool),
    }


def test_bootstrap_interval_of_the_importance():
    result = fake_result(400, 0.5)
    intervals = bootstrap_importance(result, samples=2000)
    point = functional_importance(accuracies_from(result))
    assert set(intervals) == set(GROUPS)
    for group, parts in intervals.items():
        assert np.allclose(parts["importance"], point[group]) and np.allclose(
            parts["importance"], 0.5
        )
        assert np.all(parts["low"] <= parts["importance"])
        assert np.all(parts["importance"] <= parts["high"])
    # a proportion of 0.5 over 400 images: half-width 1.96 * sqrt(0.25 / 400) = 0.049
    half = (intervals["Scale"]["high"] - intervals["Scale"]["low"]) / 2
    assert np.all((half > 0.04) & (half < 0.06)), half
    # four times the images: half the width
    wide = bootstrap_importance(fake_result(100, 0.5), samples=2000)["Scale"]
    assert np.median(wide["high"] - wide["low"]) == pytest.approx(
        2 * np.median(2 * half), rel=0.25
    )
    # the same outcome on every image: no spread
    fixed = bootstrap_importance(fake_result(50, 1.0), samples=200)["Location"]
    assert np.all(fixed["low"] == 0) and np.all(fixed["high"] == 0)
    # undefined without a correctly named image, and where a layer receives no flow
    none_right = fake_result(20, 0.5)
    none_right["original"][:] = False
    assert np.isnan(bootstrap_importance(none_right)["Category"]["low"]).all()
    no_input_flow = fake_result(20, 0.5)
    no_input_flow["has_flow"][0] = False
    parts = bootstrap_importance(no_input_flow, samples=100)["Category"]
    assert np.isnan(parts["high"][0]).all() and np.isfinite(parts["high"][1:]).all()
    with pytest.raises(ValueError, match="samples"):
        bootstrap_importance(result, samples=0)
    with pytest.raises(ValueError, match="level"):
        bootstrap_importance(result, level=1.5)


def test_importance_record_is_strict_json():
    result = fake_result(20, 0.5)
    result["has_flow"][0] = False
    entry = importance_record(
        result, bootstrap_importance(result, samples=50), swaps="fixed"
    )
    text = json.dumps(entry, allow_nan=False)  # NaN is written as null
    back = json.loads(text)
    assert back["swaps"] == "fixed" and back["images"] == 20
    assert back["original_accuracy"] == 1.0
    cell = back["importance"]["Location"]["conv1"]
    assert set(cell) == {"importance", "low", "high"} and len(cell["low"]) == 3
    assert back["importance"]["Location"]["input"]["importance"] == [None] * 3


# ------------------------------------------------------------------------------------------ weights
def test_weight_checks_raise_on_a_mismatch(tmp_path):
    path = tmp_path / "rnn_bglt_0111_t_4_num_1.pth"
    path.write_bytes(b"not the published weights")
    digest = weights.verify(path)
    assert len(digest) == 64
    with pytest.raises(ValueError, match="SHA-256"):
        weights.verify(path, sha256="0" * 64)
    with pytest.raises(ValueError, match="size"):
        weights.verify(path, size=100_598_907)
    # a cached file that is not the published one
    with pytest.raises(ValueError, match="size"):
        weights.fetch("0111", folder=tmp_path)


def test_authors_state_dict_loads_into_the_course_model(tmp_path):
    # both branches, as the authors store
    authors = RecurrentCNN(2, 4, bias=True, gain=True).state_dict()
    gain_only = weights.load_authors_state_dict(RecurrentCNN(2, 4), authors)
    assert torch.equal(gain_only.fc1c1g.weight, authors["fc1c1g.weight"])
    with pytest.raises(ValueError, match="does not fit"):
        weights.load_authors_state_dict(RecurrentCNN(3, 4), authors)


@pytest.fixture(scope="module")
def published_files(tmp_path_factory):
    """Both published files as the authors store them: an ``RNNet_all`` state_dict with both
    branches at n_feats = 8 (100.6 MB), under the authors' file names; the 1011 file is a link
    to the same bytes. Returns (folder, state_dict)."""
    folder = tmp_path_factory.mktemp("published")
    torch.manual_seed(0)
    state = RecurrentCNN(8, 4, bias=True, gain=True).state_dict()
    path = weights.published_path("0111", folder)
    torch.save(state, path)
    weights.published_path("1011", folder).symlink_to(path)
    return folder, state


def pin(monkeypatch, folder, sha256=None, size=None):
    """Record the test file's size and SHA-256 (or the given ones) as the published files'."""
    path = weights.published_path("0111", folder)
    for model in weights.PUBLISHED:
        spec = weights.PublishedWeights(
            weights.PUBLISHED[model].url,
            size or path.stat().st_size,
            sha256 or weights.sha256_of(path),
        )
        monkeypatch.setitem(weights.PUBLISHED, model, spec)


def test_published_networks_load_from_files_in_the_published_format(
    published_files, monkeypatch
):
    folder, state = published_files
    pin(monkeypatch, folder)
    gain = weights.load_published("0111", folder, download=False)
    assert gain.name == "0111" and not gain.training and gain.n_feats == 8
    assert torch.equal(gain.fc1c1g.weight, state["fc1c1g.weight"])
    assert not hasattr(gain, "fc1c1b")  # the untrained branch is dropped
    additive = weights.published_or_none("1011", folder, download=False)
    assert additive.name == "1011" and torch.equal(
        additive.c2c1b.weight, state["c2c1b.weight"]
    )
    # the loaded gain network computes what the course model with those weights computes
    expected = RecurrentCNN(8, 4).eval()
    expected.load_state_dict({k: state[k] for k in expected.state_dict()})
    x = torch.rand(2, 1, 100, 100)
    with torch.no_grad():
        assert torch.allclose(gain(x), expected(x), atol=1e-6)


def test_published_files_are_checked_before_loading(published_files, monkeypatch):
    folder, _ = published_files
    name = weights.published_path("0111", folder).name
    pin(monkeypatch, folder, sha256="0" * 64)
    with pytest.raises(ValueError, match=f"{name}: SHA-256 .* does not match"):
        weights.load_published("0111", folder, download=False)
    with pytest.raises(ValueError, match="SHA-256"):  # a corrupt file is an error
        weights.published_or_none("0111", folder, download=False)
    pin(monkeypatch, folder)
    with pytest.raises(ValueError, match="SHA-256"):  # a hash passed by the caller
        weights.load_published("0111", folder, sha256="f" * 64, download=False)
    pin(monkeypatch, folder, size=100_598_907)
    with pytest.raises(ValueError, match=f"{name}: size"):
        weights.load_published("0111", folder, download=False)


def test_without_the_file_a_message_says_how_to_get_it(tmp_path, monkeypatch, capsys):
    assert weights.published_or_none("0111", tmp_path, download=False) is None
    said = capsys.readouterr().out
    path = weights.published_path("0111", tmp_path).resolve()
    assert weights.PUBLISHED["0111"].url in said and str(path) in said
    assert "download" in said and "internet" in said

    def offline(*args, **kwargs):
        raise OSError("no route to host")

    monkeypatch.setattr(weights.urllib.request, "urlopen", offline)
    with pytest.raises(ConnectionError, match="no route to host.*download"):
        weights.fetch("1011", tmp_path)
    assert not list(tmp_path.iterdir())  # no partial file left behind
    assert weights.published_or_none("1011", tmp_path) is None


# ------------------------------------------------------------------------------------------ paper numbers
def test_paper_numbers_from_the_shipped_summary(monkeypatch):
    monkeypatch.delenv("CTM_COURSE_DATA", raising=False)
    paper = thorat2021.paper_numbers("0111")
    assert paper["aux_decoding_through_time"] == pytest.approx(
        [0.652, 0.730, 0.825, 0.849], abs=1e-3
    )
    assert paper["cluttered_accuracy"] == pytest.approx(0.812, abs=1e-3)
    conv1 = paper["functional_importance"]["Location"]["mean"][1]
    assert conv1 == pytest.approx([0.525, 0.672, 0.366], abs=1e-3)
    assert np.array(paper["decoding"]["Category"]["mean"]).shape == (4, 4)
    with pytest.raises(ValueError, match="model must be one of"):
        thorat2021.paper_numbers("0000")


def test_shipped_summary_equals_the_authors_arrays(shared_dir):
    folder = shared_dir / "data" / "thorat2021-analyses"
    if not folder.is_dir():
        pytest.skip("the authors' arrays are not present")
    shipped = json.loads(thorat2021.SHIPPED.read_text())
    for model in thorat2021.MODELS:
        assert thorat2021.summarise(folder, model) == shipped[model]


# ------------------------------------------------------------------------------------------ command line
def test_command_line_run_on_cpu_with_the_gpu_code_path(tmp_path, monkeypatch):
    """The run's code path on CPU with the GPU's settings (bf16 autocast, channels_last), a few steps."""
    from ctm_course.rcnn import run, stimuli

    monkeypatch.setattr(
        stimuli,
        "load_sources",
        lambda split, root=None, verbose=False: synthetic_sources(),
    )
    monkeypatch.setattr(
        run, "load_sources", lambda split, root=None: synthetic_sources()
    )
    out, weights_path = tmp_path / "results.json", tmp_path / "weights.pt"
    result = run.main(
        [
            "--profile",
            "gpu",
            "--device",
            "cpu",
            "--train-seconds",
            "60",
            "--max-steps",
            "2",
            "--n-feats",
            "2",
            "--batch-size",
            "4",
            "--test-images",
            "20",
            "--probe-images",
            "40",
            "--bf16",
            "on",
            "--probe-jobs",
            "2",
            "--perturb-images",
            "3",
            "--feedforward-first-steps",
            "3",
            "--save",
            str(weights_path),
            "--out",
            str(out),
        ]
    )
    saved = json.loads(out.read_text())
    assert saved["train_steps"] == 2 and 0 <= saved["cluttered_accuracy"] <= 1
    # phase one, B alone, counts in the images seen
    assert saved["feedforward_first_steps"] == 3 and saved["images_seen"] == (3 + 2) * 4
    assert (
        saved["data_source"] == synthetic_sources().source
        and saved["torch"] == torch.__version__
    )
    assert (
        len(saved["aux_decoding_through_time"]) == 4
        and len(saved["aux_decoding_through_depth"]) == 4
    )
    assert (
        saved["paper"]["aux_decoding_through_time"]
        == result["paper"]["aux_decoding_through_time"]
    )
    # the perturbation analysis: (4 layers, T - 1 = 3 steps) per group, the paper's means beside them
    assert (
        set(saved["functional_importance"])
        == set(saved["paper"]["functional_importance"])
        == set(GROUPS)
    )
    assert all(np.shape(v) == (4, 3) for v in saved["functional_importance"].values())
    assert 0 <= saved["perturbation_original_accuracy"] <= 1
    # the paper is compared with the authors' swaps; the fixed ones are recorded apart, both with
    # 95 % intervals
    authors, fixed = (saved[f"perturbation_{s}_swaps"] for s in ("authors", "fixed"))
    assert authors["swaps"] == "authors" and fixed["swaps"] == "fixed"
    assert authors["original_accuracy"] == fixed["original_accuracy"]
    for group, values in saved["functional_importance"].items():
        for i, layer in enumerate(("input", "conv1", "conv2", "fc")):
            cell = authors["importance"][group][layer]
            assert cell["importance"] == pytest.approx(
                [None if np.isnan(v) else v for v in values[i]], abs=1e-4
            )
            for v, low, high in zip(cell["importance"], cell["low"], cell["high"]):
                assert v is None or low <= high
    # the saved weights are the network the run scored: the same accuracies on its test set
    model = RecurrentCNN(2, 4).to(memory_format=torch.channels_last)
    model.load_state_dict(torch.load(weights_path, weights_only=True))
    test = TorchStimuli(synthetic_sources())(20, seed=10_000)
    cluttered, clean = accuracy(model, test)
    assert saved["cluttered_accuracy"] == pytest.approx(cluttered)
    assert saved["clean_accuracy"] == pytest.approx(clean)


def test_clutter_curriculum(sources):
    gen = TorchStimuli(sources)
    bare = gen(4, seed=0, clutter=0.0)
    # no clutter: the target alone
    assert torch.allclose(bare.images, bare.clean, atol=1e-5)
    assert not torch.allclose(gen(4, seed=0).images, bare.images)
    batches = StimulusBatches(gen, 4, seed=0, curriculum_steps=10)
    first = next(batches)
    assert torch.allclose(first.images, first.clean, atol=1e-5)
    with pytest.raises(ValueError, match="clutter"):
        gen(2, clutter=1.5)
    with pytest.raises(ValueError, match="curriculum_steps"):
        StimulusBatches(gen, 4, curriculum_steps=-1)


def test_predict_and_accuracy_agree_with_the_model(sources):
    torch.manual_seed(0)
    model = RecurrentCNN(2, 2).eval()
    s = TorchStimuli(sources)(10, seed=5)
    with torch.no_grad():
        expected = model(s.images).argmax(1)
    assert torch.equal(predict(model, s.images, batch_size=3), expected)
    cluttered, clean = accuracy(model, s, batch_size=4)
    assert cluttered == pytest.approx(
        (expected == s.labels["category"]).float().mean().item()
    )
    assert 0 <= clean <= 1
    assert accuracy(model, s, clean=False) == (cluttered, None)


def test_side_by_side_trains_each_network_as_if_alone(sources):
    """Summing the losses couples nothing: with AdamW each network ends where it would alone."""
    from ctm_course.rcnn import SideBySide, step_fn

    def make(**flags):
        torch.manual_seed(0)
        return RecurrentCNN(2, 4, **flags)

    pair = SideBySide(gain=make(), feedforward=make(lateral=False, topdown=False))
    alone = {"gain": make(), "feedforward": make(lateral=False, topdown=False)}
    batches = [TorchStimuli(sources)(6, seed=s) for s in range(3)]

    def train(model):
        optimiser = torch.optim.AdamW(model.parameters(), lr=1e-2)
        for batch in batches:
            loss, metrics = step_fn(model, batch)
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
        return loss, metrics

    loss, metrics = train(pair)
    assert set(metrics) == {"accuracy", "feedforward_loss", "feedforward_accuracy"}
    separate = {name: train(net) for name, net in alone.items()}
    for name, net in alone.items():
        for (key, mine), theirs in zip(
            pair.networks[name].state_dict().items(), net.state_dict().values()
        ):
            torch.testing.assert_close(mine, theirs, msg=f"{name}.{key}")
    torch.testing.assert_close(
        loss.detach(),
        separate["gain"][0].detach() + separate["feedforward"][0].detach(),
    )
    torch.testing.assert_close(
        metrics["feedforward_accuracy"], separate["feedforward"][1]["accuracy"]
    )
    outputs = pair(batches[0].images)
    assert set(outputs) == {"gain", "feedforward"} and outputs["gain"].shape == (6, 20)
    with pytest.raises(ValueError, match="at least one network"):
        SideBySide()


def test_gain_and_control_starts_from_the_lessons_weights():
    """After seed_everything(s), the pair holds the weights of the two networks built alone in the
    same order (the lesson and the seed study both build their pair with it)."""
    from ctm_course.rcnn import gain_and_control
    from ctm_course.train import seed_everything

    seed_everything(3)
    pair = gain_and_control(2, 4)
    seed_everything(3)
    lesson = {  # the gain network first, then B
        "gain": RecurrentCNN(2, 4),
        "feedforward": RecurrentCNN(2, 4, lateral=False, topdown=False),
    }
    for name, net in lesson.items():
        mine = pair.networks[name]
        assert (
            mine.name == net.name
            and mine.name == {"gain": "0111", "feedforward": "0100"}[name]
        )
        for (key, a), b in zip(mine.state_dict().items(), net.state_dict().values()):
            torch.testing.assert_close(a, b, msg=f"{name}.{key}")
    assert pair.networks["gain"].conv1.weight.is_contiguous(
        memory_format=torch.channels_last
    )


def _tiny_row(steps: int = 3):
    import dataclasses

    from ctm_course.config import lesson_config

    row = lesson_config("05_recurrent_cnn_lab", "smoke")
    train = dataclasses.replace(
        row.train, steps=steps, batch_size=4, warmup_steps=1, log_every=1
    )
    return dataclasses.replace(
        row,
        n_feats=2,
        train=train,
        curriculum_steps=2,
        test_images=12,
        feedforward_first_steps=2,
    )


def test_a_gain_network_started_from_b_computes_what_b_computes():
    """With every flow at zero each gain is 1: the same log-probabilities as B, and the flows
    still receive gradients, so training can move them."""
    from ctm_course.rcnn import start_from_feedforward

    torch.manual_seed(0)
    b = RecurrentCNN(2, 4, lateral=False, topdown=False)
    gain = RecurrentCNN(2, 4)
    x = torch.rand(5, 1, 100, 100)
    assert not torch.allclose(gain(x), b(x))
    assert start_from_feedforward(gain, b) is gain
    torch.testing.assert_close(gain(x), b(x), rtol=0, atol=1e-6)
    for name, _, _, _ in gain.connections:
        assert all(not p.any() for p in getattr(gain, name + "g").parameters())
    gain.zero_grad()
    F.nll_loss(gain(x), torch.arange(5)).backward()
    # the flows into conv1 (lateral, top-down from conv2 and fc1) and fc1's lateral flow
    for name in ("c1c1g", "c2c1g", "fc1c1g", "fc1fc1g"):
        assert getattr(gain, name).weight.grad.abs().sum() > 0, name
    # B itself is left as it was: its weights were copied, not shared
    assert gain.conv1.weight.data_ptr() != b.conv1.weight.data_ptr()
    with pytest.raises(ValueError, match="without recurrent flows"):
        start_from_feedforward(gain, RecurrentCNN(2, 4))
    with pytest.raises(ValueError, match="n_feats, t_steps"):
        start_from_feedforward(gain, RecurrentCNN(3, 4, lateral=False, topdown=False))
    with pytest.raises(ValueError, match="n_feats, t_steps"):
        start_from_feedforward(gain, RecurrentCNN(2, 3, lateral=False, topdown=False))


def test_phase_one_trains_b_alone_then_hands_its_sweep_to_the_gain_network(sources):
    from ctm_course.rcnn import (
        feedforward_first,
        gain_and_control,
        joined_history,
        step_fn,
    )
    from ctm_course.train import fit

    row = _tiny_row(steps=2).replace(feedforward_first_steps=3)
    pair = gain_and_control(row.n_feats, row.t_steps)
    gain, b = pair.networks["gain"], pair.networks["feedforward"]
    before = b.conv1.weight.detach().clone()
    batches = StimulusBatches(TorchStimuli(sources), 4, seed=0, curriculum_steps=2)
    logged = []
    first = feedforward_first(
        gain,
        b,
        batches,
        row.first_config(progress=False, eval_every=None, checkpoint_every=None),
        evaluate=lambda net: {"feedforward_accuracy": 0.5},
        on_log=lambda step, row_, ev: logged.append(row_),
    )
    assert first.steps == 3 and batches.step == 3
    assert not torch.equal(b.conv1.weight, before)  # B trained
    torch.testing.assert_close(gain.fc2.weight, b.fc2.weight)  # and handed over
    x = TorchStimuli(sources)(3, seed=1).images
    torch.testing.assert_close(gain(x), b(x), rtol=0, atol=1e-6)
    # its rows are named as in phase two, in the history and in on_log
    for row_ in [*first.history["train"], *logged]:
        assert {"feedforward_loss", "feedforward_accuracy"} <= set(row_)
        assert "accuracy" not in row_ and "loss" not in row_
    # phase two goes on with the batches that follow
    second = fit(
        pair,
        batches,
        step_fn,
        row.second_config(first.seconds, progress=False, checkpoint_every=None),
        evaluate=lambda both: {"accuracy": 0.25},
    )
    assert batches.step == 5
    joined = joined_history(first, second)
    assert [r["step"] for r in joined["train"]] == [1, 2, 3, 4, 5]
    assert [r["step"] for r in joined["eval"]] == [3, 5]
    assert joined_history(None, second) is second.history


def test_the_rows_two_phases_share_one_training_budget():
    import dataclasses

    row = _tiny_row().replace(
        train=dataclasses.replace(_tiny_row().train, max_seconds=100.0),
        feedforward_first_steps=40,
        feedforward_first_seconds=30.0,
    )
    first = row.first_config()
    assert first.steps == 40 and first.max_seconds == 30.0
    assert row.second_config(25.0).max_seconds == 75.0
    assert row.second_config(25.0).steps == row.train.steps
    # a host so slow that phase one took the whole budget still runs phase two's first steps
    assert row.second_config(500.0).max_seconds == 1.0
    assert row.second_config(0.0, max_seconds=None).max_seconds is None
    assert row.replace(feedforward_first_steps=0).first_config() is None
    with pytest.raises(ValueError, match="feedforward_first_steps"):
        row.replace(feedforward_first_steps=-1)


def test_seed_study_repeats_a_seed_and_summarises_the_pairs(sources):
    from ctm_course.rcnn.seeds import seed_study, summary, train_pair

    row = _tiny_row()
    test = TorchStimuli(sources)(12, seed=10_000)
    seen = []
    first = seed_study(
        row,
        sources,
        test,
        [0, 1],
        3,
        progress=None,
        on_seed=lambda a: seen.append(len(a["gain"])),
    )
    again = seed_study(row, sources, test, [1], 3, progress=None)
    assert set(first) == {"gain", "feedforward"} and seen == [1, 2]
    assert all(len(v) == 2 and all(0 <= a <= 1 for a in v) for v in first.values())
    # a seed is a run: the same seed gives the same accuracies
    assert [first[n][1] for n in first] == [again[n][0] for n in first]
    # train_pair trains: the weights moved, and both networks keep their names
    pair = train_pair(row, sources, 0, 3)
    from ctm_course.rcnn import gain_and_control
    from ctm_course.train import seed_everything

    seed_everything(0)
    start = gain_and_control(row.n_feats, row.t_steps)
    assert not torch.equal(
        pair.networks["gain"].fc2.weight, start.networks["gain"].fc2.weight
    )
    result = summary({"gain": [0.35, 0.30, 0.33], "feedforward": [0.28, 0.31, 0.27]})
    diff = result["gain_minus_feedforward"]
    np.testing.assert_allclose(diff["differences"], [0.07, -0.01, 0.06], atol=1e-12)
    assert diff["positive"] == 2
    assert diff["min"] == pytest.approx(-0.01) and diff["max"] == pytest.approx(0.07)
    assert result["spread"]["feedforward"]["minus_reference"] == pytest.approx(-0.04)
    with pytest.raises(ValueError, match="same seeds"):
        summary({"gain": [0.3, 0.2], "feedforward": [0.1]})
    with pytest.raises(ValueError, match="at least one seed"):
        seed_study(row, sources, test, [], 3)
    with pytest.raises(ValueError, match="steps"):
        seed_study(row, sources, test, [0], 0)


def test_seed_study_command_line_records_every_seed(tmp_path, monkeypatch):
    from ctm_course.rcnn import seeds

    monkeypatch.setattr(
        seeds, "load_sources", lambda split, root=None: synthetic_sources()
    )
    import ctm_course.config as config

    row = _tiny_row()
    monkeypatch.setattr(config, "lesson_config", lambda lesson, profile: row)
    out = tmp_path / seeds.studies.record_name(seeds.LESSON, "smoke")
    assert seeds.recorded_seed_study("smoke", folder=tmp_path) is None
    with pytest.raises(SystemExit):  # the smoke row names no study budget
        seeds.main(["--profile", "smoke", "--device", "cpu", "--seeds", "0"])
    seeds.main(
        ["--profile", "smoke", "--device", "cpu", "--seeds", "0", "1", "--steps", "2"]
        + ["--out", str(out)]
    )
    saved = seeds.recorded_seed_study("smoke", folder=tmp_path)
    assert out.name == "05_recurrent_cnn_lab-smoke.json"
    assert saved["seeds"] == [0, 1] and saved["steps"] == 2
    assert saved["test_images"] == 12 and len(saved["accuracies"]["gain"]) == 2
    assert saved["gain_minus_feedforward"]["positive"] in (0, 1, 2)
    assert set(saved["spread"]) == {"gain", "feedforward"}


def test_seed_study_records_run_apart_merge_into_one(tmp_path):
    from ctm_course.rcnn import seeds

    def part(seeds_, gains, bs, seconds):
        return {
            "lesson": seeds.LESSON,
            "profile": "cpu",
            "steps": 2000,
            "test_images": 1000,
            "data_source": "offline-subset",
            "seeds": seeds_,
            "accuracies": {"gain": gains, "feedforward": bs},
            "seconds": seconds,
        }

    a = part([0, 2], [0.30, 0.32], [0.26, 0.27], 100.0)
    b = part([1, 3], [0.34, 0.28], [0.29, 0.29], 50.0)
    paths = [tmp_path / "a.json", tmp_path / "b.json"]
    for path, record in zip(paths, (a, b)):
        path.write_text(json.dumps(record))
    out = tmp_path / "merged.json"
    merged = seeds.main(["--merge", *map(str, paths), "--out", str(out)])
    assert json.loads(out.read_text()) == json.loads(json.dumps(merged))
    assert merged["seeds"] == [0, 1, 2, 3] and merged["seconds"] == 150.0
    assert merged["accuracies"] == {
        "gain": [0.30, 0.34, 0.32, 0.28],
        "feedforward": [0.26, 0.29, 0.27, 0.29],
    }
    diff = merged["gain_minus_feedforward"]
    np.testing.assert_allclose(
        diff["differences"], [0.04, 0.05, 0.05, -0.01], atol=1e-12
    )
    assert diff["positive"] == 3 and merged["spread"]["gain"]["max"] == 0.34
    sentence = seeds.describe_seed_study(merged)
    assert "from 4 seeds for 2,000 steps" in sentence
    assert "between 28.0% and 34.0%" in sentence  # the gain network's range
    assert "between 26.0% and 29.0%" in sentence  # B's
    assert "in 3 of them, by -1.0 to +5.0 points" in sentence
    with pytest.raises(ValueError, match="share a seed"):
        seeds.merge([a, a])
    with pytest.raises(ValueError, match="steps"):
        seeds.merge([a, {**b, "steps": 600}])

"""The course CTM: same function as the reference and the tutorial, closed forms, shapes, clear errors."""

from __future__ import annotations

import dataclasses
import json
import math

import numpy as np
import pytest
import torch

from ctm_course.ctm import (
    ContinuousThoughtMachine,
    CTMConfig,
    SuperLinear,
    SynapseUNet,
    attend,
    load_reference,
    load_tutorial,
    pair_indices,
    project_keys_values,
    select_neurons,
    synch_size,
    synchronisation_closed_form,
    synchronisation_step,
)
from ctm_course.ctm.backbones import make_backbone
from ctm_course.losses import image_classification_loss
from ctm_course.parameters import count_parameters

FIXTURES = [
    "features_first_last_classify",
    "parity_first_last",
    "parity_random_pairing_unet",
    "parity_random_shallow_layernorm",
]
TRACKED = {
    "synch_out": "synch_out",
    "synch_action": "synch_action",
    "pre_activations": "pre_activations",
    "post_activations": "post_activations",
    "attention": "attention",
}


def small_ctm(**overrides) -> ContinuousThoughtMachine:
    args = dict(
        iterations=5,
        d_model=24,
        d_input=8,
        heads=2,
        n_synch_out=4,
        n_synch_action=4,
        memory_length=3,
        memory_hidden_dims=2,
        backbone_type="none",
        out_dims=10,
        d_backbone=6,
    )
    args.update(overrides)
    return ContinuousThoughtMachine(**args).eval()


# ------------------------------------------------------------------ equivalence with the originals
@pytest.mark.parametrize("name", FIXTURES)
def test_reference_fixture_reproduced(fixture, name):
    fx = torch.load(fixture("ctm_reference", f"{name}.pt"), weights_only=True)
    model = load_reference(fx["config"], fx["state_dict"])
    index = json.loads(fixture("ctm_reference", "index.json").read_text())
    assert count_parameters(model) == index[name]["n_params"]
    assert not model.training
    with torch.no_grad():
        predictions, certainties, track = model(fx["input"], track=True)
    torch.testing.assert_close(predictions, fx["predictions"], atol=1e-5, rtol=0)
    torch.testing.assert_close(certainties, fx["certainties"], atol=1e-5, rtol=0)
    for ours, theirs in TRACKED.items():
        tol = 1e-4 if ours == "attention" else 1e-5
        torch.testing.assert_close(
            getattr(track, ours), fx[theirs].float(), atol=tol, rtol=0, msg=ours
        )
    # the untracked path (fused attention, no record) computes the same function
    with torch.no_grad():
        fast, fast_cert, _ = model(fx["input"])
    torch.testing.assert_close(fast, predictions, atol=1e-6, rtol=1e-5)
    torch.testing.assert_close(fast_cert, certainties, atol=1e-6, rtol=1e-5)


@pytest.mark.parametrize("name", ["predictions_000", "predictions_001"])
def test_tutorial_weights_give_same_predictions(fixture, name):
    """The tutorial's trained weights, loaded into the course CTM, give its predictions."""
    fx = torch.load(fixture("tutorial_ctm", f"{name}.pt"), weights_only=True)
    ours = load_tutorial(fx["config"], fx["state_dict"])
    with torch.no_grad():
        predictions, certainties, _ = ours(fx["input"])
    torch.testing.assert_close(predictions, fx["predictions"], atol=1e-5, rtol=0)
    torch.testing.assert_close(certainties, fx["certainties"], atol=1e-5, rtol=0)


def test_gradients_match_the_tutorial_reference(fixture):
    """The course CTM's faster formulation (indexed pair products, keys/values projected once,
    bmm neuron-level models, channels-last convolutions) leaves loss and gradients unchanged."""
    fx = torch.load(fixture("tutorial_ctm", "gradients.pt"), weights_only=True)
    ours = load_tutorial(fx["config"], fx["state_dict"]).train()
    predictions, certainties, _ = ours(fx["input"])
    loss, _ = image_classification_loss(predictions, certainties, fx["labels"])
    loss.backward()
    torch.testing.assert_close(loss.detach(), fx["loss"], atol=1e-6, rtol=1e-5)
    theirs = fx["gradients"]
    largest = max(g.abs().max().item() for g in theirs.values())
    compared = 0
    for name, param in ours.named_parameters():
        if name.endswith(".T"):  # the tutorial's NLMs have no temperature
            continue
        other = theirs[name.replace("trace_processor.0.", "trace_processor.")]
        # relative to the largest gradient: a conv bias before BatchNorm has a true gradient of ~0
        torch.testing.assert_close(
            param.grad, other, rtol=1e-4, atol=1e-5 * largest, msg=name
        )
        compared += 1
    assert compared == len(theirs)


# ------------------------------------------------------------------ synchronisation
@pytest.mark.parametrize("kind", ["first-last", "random", "random-pairing"])
def test_synchronisation_recurrence_equals_closed_form(kind):
    torch.manual_seed(0)
    D, n = 20, 5
    left, right = select_neurons(
        "out", kind, D, n, n_self=2, generator=np.random.default_rng(1)
    )
    i, j = pair_indices(left, right, kind)
    assert len(i) == synch_size(n, kind)
    decay = torch.rand(len(i)) * 3
    zs = torch.randn(7, 3, D, dtype=torch.float64)
    alpha, beta = 0.0, 0.0
    r = torch.exp(-decay).double()
    for k in range(len(zs)):
        s, alpha, beta = synchronisation_step(zs[k], alpha, beta, r, i, j)
        torch.testing.assert_close(
            s, synchronisation_closed_form(zs[: k + 1], decay.double(), i, j)
        )


def test_model_synchronisation_matches_closed_form():
    torch.manual_seed(0)
    model = small_ctm(iterations=6)
    with torch.no_grad():
        model.decay_params_out.uniform_(0, 2)
        model.decay_params_action.uniform_(0, 2)
        _, _, track = model(torch.randn(2, 6, 3, 3), track=True)
    z0 = model.start_activated_state.detach().expand(2, -1)
    history = torch.cat([z0.unsqueeze(0), track.post_activations])  # z^0 .. z^T
    out_i, out_j = model.synch_pairs("out")
    act_i, act_j = model.synch_pairs("action")
    for t in range(6):
        torch.testing.assert_close(
            track.synch_out[t],
            synchronisation_closed_form(
                history[: t + 2], model.decay_params_out, out_i, out_j
            ),
            atol=1e-5,
            rtol=1e-5,
        )
        # the action stream lags one tick: it sees z^0 .. z^(t-1)
        torch.testing.assert_close(
            track.synch_action[t],
            synchronisation_closed_form(
                history[: t + 1], model.decay_params_action, act_i, act_j
            ),
            atol=1e-5,
            rtol=1e-5,
        )


def test_first_tick_action_synch_is_start_state_products():
    model = small_ctm()
    with torch.no_grad():
        _, _, track = model(torch.randn(1, 6, 2, 2), track=True)
    z0 = model.start_activated_state.detach()
    i, j = model.synch_pairs("action")
    torch.testing.assert_close(track.synch_action[0, 0], z0[i] * z0[j])


def test_decay_is_clamped_in_place_and_receives_gradients():
    model = small_ctm().train()
    with torch.no_grad():
        model.decay_params_out.fill_(40.0)
        model.decay_params_action.fill_(-3.0)
    predictions, certainties, _ = model(torch.randn(3, 6, 2, 2))
    assert (
        model.decay_params_out.max().item() == 15.0
        and model.decay_params_action.min().item() == 0.0
    )
    predictions.sum().backward()
    assert model.decay_params_action.grad.abs().sum() > 0


def test_selection_types_sizes_and_buffers():
    for kind, n_out, size in [
        ("first-last", 16, 136),
        ("random", 32, 528),
        ("random-pairing", 24, 24),
    ]:
        model = small_ctm(
            d_model=64,
            neuron_select_type=kind,
            n_synch_out=n_out,
            n_synch_action=8,
            n_random_pairing_self=4 if kind == "random-pairing" else 0,
        )
        assert model.synch_representation_size_out == size
        assert (
            model.decay_params_out.shape == (size,)
            and (model.decay_params_out == 0).all()
        )
        assert "out_neuron_indices_left" in model.state_dict()
    fl = small_ctm(d_model=64, n_synch_out=16, n_synch_action=8)
    assert fl.out_neuron_indices_left.tolist() == list(range(16))
    assert fl.action_neuron_indices_left.tolist() == list(range(56, 64))
    rp = small_ctm(
        d_model=64,
        neuron_select_type="random-pairing",
        n_synch_out=10,
        n_random_pairing_self=3,
    )
    assert torch.equal(rp.out_neuron_indices_left[:3], rp.out_neuron_indices_right[:3])
    same_seed = small_ctm(
        d_model=64,
        neuron_select_type="random-pairing",
        n_synch_out=10,
        n_random_pairing_self=3,
    )
    assert torch.equal(rp.out_neuron_indices_right, same_seed.out_neuron_indices_right)


# ------------------------------------------------------------------ building blocks
def test_superlinear_is_one_linear_map_per_neuron():
    torch.manual_seed(0)
    layer = SuperLinear(in_dims=5, out_dims=3, N=4)
    with torch.no_grad():
        layer.b1.normal_()
        layer.T.fill_(2.0)
    x = torch.randn(2, 4, 5)
    expected = torch.stack(
        [(x[:, d] @ layer.w1[:, :, d] + layer.b1[0, d]) / 2.0 for d in range(4)], dim=1
    )
    torch.testing.assert_close(layer(x), expected)
    torch.testing.assert_close(
        layer(x), (torch.einsum("BDM,MHD->BDH", x, layer.w1) + layer.b1) / 2.0
    )


def test_unet_widths_follow_linspace():
    assert SynapseUNet(300, 256, depth=8).widths == [
        256,
        221,
        187,
        153,
        118,
        84,
        50,
        16,
    ]
    unet = SynapseUNet(40, 32, depth=3)
    assert unet(torch.randn(5, 40)).shape == (5, 32)


def test_trace_is_a_fifo_of_pre_activations():
    model = small_ctm(memory_length=4, iterations=2)
    seen = {}
    model.trace_processor.register_forward_hook(
        lambda m, inp, out: seen.setdefault("traces", []).append(inp[0])
    )
    with torch.no_grad():
        _, _, track = model(torch.randn(1, 6, 2, 2), track=True)
    trace = seen["traces"][1]  # A^2
    torch.testing.assert_close(trace[0, :, :2], model.start_trace[:, 2:].detach())
    torch.testing.assert_close(trace[0, :, -1], track.pre_activations[1, 0])
    torch.testing.assert_close(trace[0, :, -2], track.pre_activations[0, 0])


def test_shapes_and_track_record():
    model = ContinuousThoughtMachine(
        iterations=7,
        d_model=32,
        d_input=8,
        heads=2,
        n_synch_out=4,
        n_synch_action=6,
        memory_length=3,
        memory_hidden_dims=2,
        backbone_type="tutorial-conv",
    ).eval()
    x = torch.randn(3, 1, 28, 28)
    predictions, certainties, synch = model(x)
    assert (
        predictions.shape == (3, 10, 7)
        and certainties.shape == (3, 2, 7)
        and synch.shape == (3, 10)
    )
    torch.testing.assert_close(certainties.sum(1), torch.ones(3, 7))
    _, _, track = model(x, track=True)
    assert track.token_grid == (7, 7)
    assert track.attention.shape == (7, 3, 2, 1, 49)
    assert track.pre_activations.shape == track.post_activations.shape == (7, 3, 32)
    assert track.synch_out.shape == (7, 3, 10) and track.synch_action.shape == (
        7,
        3,
        21,
    )
    torch.testing.assert_close(track.attention.sum(-1), torch.ones(7, 3, 2, 1))
    assert track.select(1).predictions.shape == (1, 10, 7)


def test_parameter_count_does_not_depend_on_ticks():
    count = [
        sum(p.numel() for p in small_ctm(iterations=t).parameters()) for t in (1, 5, 50)
    ]
    assert count[0] == count[1] == count[2]


def test_gradients_reach_every_parameter():
    model = small_ctm().train()
    predictions, certainties, _ = model(torch.randn(4, 6, 2, 2))
    (predictions.sum() + certainties.sum()).backward()
    missing = [
        n
        for n, p in model.named_parameters()
        if p.grad is None or not torch.isfinite(p.grad).all()
    ]
    assert missing == []


# ------------------------------------------------------------------ clear errors
@pytest.mark.parametrize(
    "overrides, words",
    [
        (dict(heads=3), "heads"),
        (dict(n_synch_out=20, n_synch_action=10), "n_synch_out + n_synch_action"),
        (dict(memory_length=0), "memory_length"),
        (dict(iterations=0), "iterations"),
        (dict(backbone_type="resnet18-1"), "backbone_type"),
        (dict(neuron_select_type="dense"), "neuron_select_type"),
        (
            dict(positional_embedding_type="learnable-fourier"),
            "positional_embedding_type",
        ),
        (
            dict(
                backbone_type="none", positional_embedding_type="custom-rotational-1d"
            ),
            "positional_embedding_type",
        ),
        (
            dict(neuron_select_type="random-pairing", n_random_pairing_self=4),
            "n_random_pairing_self",
        ),
        (dict(dropout=1.5), "dropout"),
        (dict(prediction_reshaper=[3, 2]), "prediction_reshaper"),
        (dict(synapse_depth=0), "synapse_depth"),
    ],
)
def test_bad_arguments_raise_clear_errors(overrides, words):
    with pytest.raises(ValueError, match=words.replace("+", r"\+")):
        small_ctm(**overrides)


def test_loaders_reject_unknown_arguments_and_misfit_weights():
    with pytest.raises(ValueError, match="unknown reference CTM argument"):
        load_reference(
            dict(
                iterations=2,
                d_model=8,
                d_input=4,
                heads=1,
                n_synch_out=2,
                n_synch_action=2,
                synapse_depth=1,
                memory_length=2,
                deep_nlms=True,
                memory_hidden_dims=2,
                do_layernorm_nlm=False,
                backbone_type="none",
                positional_embedding_type="none",
                out_dims=3,
                colour="red",
            )
        )
    config = dict(
        iterations=2,
        d_model=32,
        d_input=8,
        memory_length=3,
        heads=2,
        n_synch_out=4,
        n_synch_action=4,
        out_dims=10,
        memory_hidden_dims=2,
    )
    with pytest.raises(ValueError, match="does not fit"):
        load_tutorial(config, {"start_trace": torch.zeros(32, 3)})
    assert math.isclose(load_tutorial(config).trace_processor[0][0].T.item(), 1.0)


# ------------------------------------------------------------------ the configuration and the speed paths
def test_config_builds_the_same_model_as_keywords():
    config = CTMConfig(
        iterations=4,
        d_model=24,
        d_input=8,
        heads=2,
        n_synch_out=4,
        n_synch_action=4,
        memory_length=3,
        memory_hidden_dims=2,
        backbone_type="tutorial-conv",
        prediction_reshaper=[-1],
    )
    # lists become tuples: hashable, comparable
    assert config.prediction_reshaper == (-1,) and hash(config)
    torch.manual_seed(0)
    from_config = ContinuousThoughtMachine(config)
    torch.manual_seed(0)
    from_keywords = ContinuousThoughtMachine(**dataclasses.asdict(config))
    assert from_config.config == from_keywords.config == config
    for (name, a), (_, b) in zip(
        from_config.state_dict().items(), from_keywords.state_dict().items()
    ):
        torch.testing.assert_close(a, b, msg=name)
    # keywords replace fields
    assert ContinuousThoughtMachine(config, iterations=7).iterations == 7
    assert config.replace(heads=4).heads == 4 and config.heads == 2
    with pytest.raises(ValueError, match="heads"):
        config.replace(heads=3)


@pytest.mark.parametrize("training", [False, True])
def test_attention_speed_path_equals_multihead_attention(training):
    """Keys and values projected once + one query per tick == nn.MultiheadAttention(q, tokens, tokens)."""
    torch.manual_seed(0)
    attention = torch.nn.MultiheadAttention(12, 3, batch_first=True).train(training)
    tokens, query = torch.randn(5, 7, 12), torch.randn(5, 12)
    expected, expected_weights = attention(
        query.unsqueeze(1),
        tokens,
        tokens,
        need_weights=True,
        average_attn_weights=False,
    )
    k, v = project_keys_values(attention, tokens)
    out, weights = attend(attention, query, k, v, need_weights=True)
    torch.testing.assert_close(out, expected.squeeze(1), atol=1e-6, rtol=1e-5)
    torch.testing.assert_close(weights, expected_weights, atol=1e-6, rtol=1e-5)
    out_only, none = attend(attention, query, k, v)
    assert none is None
    torch.testing.assert_close(out_only, out)


def test_channels_last_backbone_equals_the_plain_convolutions():
    torch.manual_seed(0)
    backbone = make_backbone("tutorial-conv", 8, 1).eval()
    x = torch.randn(3, 1, 28, 28)
    fast = backbone(x)
    # same modules
    plain = torch.nn.Sequential(*backbone).to(memory_format=torch.contiguous_format)(x)
    assert fast.shape == (3, 8, 7, 7)
    torch.testing.assert_close(fast, plain, atol=1e-5, rtol=1e-5)


def test_forward_checks_its_input():
    """A batch of the wrong shape or type is refused with the shape the model expects."""
    images = small_ctm(backbone_type="tutorial-conv", d_backbone=None)
    with pytest.raises(ValueError, match=r"\(B, 1, H, W\).*\(4, 28, 28\)"):
        images(torch.rand(4, 28, 28))  # the channel axis forgotten
    with pytest.raises(ValueError, match=r"1 channel"):
        images(torch.rand(4, 3, 28, 28))
    with pytest.raises(ValueError, match="floating"):
        images(torch.zeros(4, 1, 28, 28, dtype=torch.uint8))
    features = small_ctm()  # backbone "none": features (B, d_backbone, ...)
    with pytest.raises(ValueError, match=r"\(B, 6, \.\.\.\)"):
        features(torch.rand(2, 5, 4))
    parity = small_ctm(backbone_type="parity_backbone", d_backbone=None)
    with pytest.raises(ValueError, match=r"\(B, L\)"):
        parity(torch.rand(2, 1, 16))
    assert images(torch.rand(2, 1, 28, 28))[0].shape == (2, 10, 5)  # right input: works

"""Lesson 2's task pieces: parity data, accuracies, attention order, the matched LSTM, and parity CTMs."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from ctm_course.config import lesson_config
from ctm_course.ctm import (
    ContinuousThoughtMachine,
    SynapseUNet,
    synchronisation_closed_form,
)
from ctm_course.losses import parity_loss
from ctm_course.parity import (
    ParityBatches,
    ParityLSTM,
    accuracy_per_position,
    attention_mass,
    count_parameters,
    evaluate_parity,
    lstm_parameter_count,
    matched_lstm,
    parity_accuracy,
    parity_accuracy_per_tick,
    parity_model_args,
    parity_predictions,
    parity_targets,
    parity_test_set,
    random_sequences,
    reading_order,
)
from ctm_course.train import TrainConfig, fit


def parity_ctm(L: int = 16, **overrides) -> ContinuousThoughtMachine:
    args = dict(
        iterations=6,
        d_model=32,
        d_input=16,
        heads=2,
        n_synch_out=8,
        n_synch_action=8,
        memory_length=4,
        memory_hidden_dims=4,
        neuron_select_type="random-pairing",
        n_random_pairing_self=2,
    )
    args.update(overrides)
    return ContinuousThoughtMachine(**parity_model_args(L, **args))


def logits_for(parities: torch.Tensor, strength: float = 5.0) -> torch.Tensor:
    """(B, L, T) wanted parities -> (B, 2L, T) logits that predict them."""
    B, L, T = parities.shape
    # (B, L, 2, T)
    onehot = torch.nn.functional.one_hot(parities, 2).permute(0, 1, 3, 2).float()
    return (strength * onehot).reshape(B, 2 * L, T)


# ------------------------------------------------------------------------------------ targets
def test_targets_of_the_reference_example():
    x = torch.tensor([1, 1, -1, -1, 1, 1, 1, 1])
    assert parity_targets(x).tolist() == [0, 0, 1, 0, 0, 0, 0, 0]
    assert parity_targets(torch.tensor([[-1.0, -1, -1], [1, -1, 1]])).tolist() == [
        [1, 0, 1],
        [0, 1, 1],
    ]


def test_targets_are_the_sign_of_the_prefix_product():
    x = random_sequences(50, 12, torch.Generator().manual_seed(0))
    y = parity_targets(x)
    assert torch.equal(y, (torch.cumprod(x, dim=1) < 0).long())
    flipped = x.clone()
    flipped[:, 0] *= -1  # flipping the first value flips every parity
    assert torch.equal(parity_targets(flipped), 1 - y)


@pytest.mark.parametrize(
    "bad", [torch.tensor([1, 0, -1]), torch.ones(2, 3, 4), torch.tensor([2.0, 1.0])]
)
def test_targets_reject_bad_input(bad):
    with pytest.raises(ValueError, match="x must"):
        parity_targets(bad)


# --------------------------------------------------------------------------------------- data
def test_batches_are_fresh_seeded_and_resumable():
    stream = ParityBatches(16, 8, seed=3)
    first = [next(stream) for _ in range(5)]
    x, y = first[0]
    assert (
        x.shape == (8, 16)
        and y.shape == (8, 16)
        and x.dtype == torch.float32
        and y.dtype == torch.int64
    )
    assert set(x.unique().tolist()) <= {-1.0, 1.0} and torch.equal(y, parity_targets(x))
    assert not torch.equal(first[0][0], first[1][0])  # a new batch every step
    again = ParityBatches(16, 8, seed=3)
    # the seed fixes the stream
    assert all(torch.equal(a[0], next(again)[0]) for a in first)
    # resume: a fresh stream loaded with the state continues where the first one stopped
    state = stream.state_dict()
    expected = next(stream)[0]
    resumed = ParityBatches(16, 8, seed=3)
    resumed.load_state_dict(state)
    assert torch.equal(next(resumed)[0], expected)
    assert not torch.equal(next(ParityBatches(16, 8, seed=4))[0], first[0][0])


def test_batches_reject_bad_arguments_and_foreign_states():
    with pytest.raises(ValueError, match="length"):
        ParityBatches(0, 8)
    with pytest.raises(ValueError, match="batch_size"):
        ParityBatches(16, 0)
    with pytest.raises(ValueError, match="seed"):
        ParityBatches(16, 8, seed=1).load_state_dict(
            ParityBatches(16, 8, seed=2).state_dict()
        )
    with pytest.raises(ValueError, match="length"):
        ParityBatches(16, 8).load_state_dict(ParityBatches(9, 8).state_dict())


def test_test_set_is_fixed_and_balanced():
    x, y = parity_test_set(4000, 16, seed=7)
    x2, _ = parity_test_set(4000, 16, seed=7)
    assert torch.equal(x, x2) and torch.equal(y, parity_targets(x))
    assert abs(y.float().mean().item() - 0.5) < 0.02
    assert abs((x == 1).float().mean().item() - 0.5) < 0.02


# ------------------------------------------------------------------------------- loss, metrics
def test_parity_loss_on_zero_logits_is_log_two():
    loss, _ = parity_loss(
        torch.zeros(5, 32, 4), torch.zeros(5, 2, 4), parity_test_set(5, 16)[1]
    )
    assert loss.item() == pytest.approx(math.log(2), abs=1e-6)


def test_accuracies_on_constructed_logits():
    torch.manual_seed(0)
    B, L, T = 4, 16, 3
    y = torch.randint(0, 2, (B, L))
    wanted = y.unsqueeze(-1).repeat(1, 1, T)
    wanted[0, 3, 1] = 1 - wanted[0, 3, 1]  # sequence 0: one position wrong at tick 1
    wanted[1, :8, 2] = 1 - wanted[1, :8, 2]  # sequence 1: half wrong at tick 2
    logits = logits_for(wanted)
    assert torch.equal(parity_predictions(logits), wanted)
    per_position, sequence = parity_accuracy_per_tick(logits, y)
    assert per_position.tolist() == pytest.approx([1.0, 1 - 1 / 64, 1 - 8 / 64])
    assert sequence.tolist() == pytest.approx([1.0, 0.75, 0.75])
    assert parity_accuracy(
        logits, y, ticks=torch.tensor([1, 2, 0, 0])
    ) == pytest.approx({"per_position": 1 - 9 / 64, "sequence": 0.5})
    certainties = torch.zeros(B, 2, T)
    certainties[:, 1, 1] = 1.0  # every sequence most certain at tick 1
    assert parity_accuracy(logits, y, certainties) == pytest.approx(
        {"per_position": 1 - 1 / 64, "sequence": 0.75}
    )
    by_position = accuracy_per_position(logits, y, certainties)
    assert by_position[3].item() == pytest.approx(
        0.75
    ) and by_position.sum().item() == pytest.approx(L - 0.25)


def test_metrics_reject_mismatched_shapes():
    with pytest.raises(ValueError, match="do not fit"):
        parity_accuracy(
            torch.zeros(2, 10, 3),
            torch.zeros(2, 4, dtype=torch.long),
            ticks=torch.zeros(2).long(),
        )
    with pytest.raises(ValueError, match="give certainties"):
        parity_accuracy(torch.zeros(2, 8, 3), torch.zeros(2, 4, dtype=torch.long))
    with pytest.raises(ValueError, match="ticks"):
        parity_accuracy(
            torch.zeros(2, 8, 3),
            torch.zeros(2, 4, dtype=torch.long),
            ticks=torch.tensor([0, 3]),
        )
    with pytest.raises(ValueError, match="2L"):
        parity_predictions(torch.zeros(2, 7, 3))


def test_attention_mass_averages_over_sequences_per_head():
    T, B, heads, L = 3, 4, 2, 5
    attention = torch.zeros(T, B, heads, 1, L)
    attention[:, :2, 0, 0, 1] = 1.0  # head 1: half the sequences on position 1
    attention[:, 2:, 0, 0, 3] = 1.0  # ... the other half on position 3
    attention[:, :, 1, 0, 4] = 1.0  # head 2: always position 4
    mass = attention_mass(attention)
    assert mass.shape == (heads, T, L)
    assert mass[0, :, 1].tolist() == [0.5] * T and mass[0, :, 3].tolist() == [0.5] * T
    assert mass[1, :, 4].tolist() == [1.0] * T
    assert torch.allclose(mass.sum(-1), torch.ones(heads, T))
    with pytest.raises(ValueError, match="attention"):
        attention_mass(torch.zeros(T, B, L))


def _sweep(T: int, L: int, forward: bool) -> torch.Tensor:
    mass = torch.zeros(T, L)
    for n in range(L):
        mass[(n if forward else L - 1 - n) % T, n] = 1.0
    return mass


def test_reading_order_can_come_out_either_way():
    T, L = 16, 16
    forward = reading_order(_sweep(T, L, True))
    assert forward["verdict"] == "forward" and forward["rho"] == pytest.approx(1.0)
    assert forward["p_value"] == pytest.approx(1 / 10_001)
    assert forward["peak_tick"].tolist() == list(range(L))
    backward = reading_order(_sweep(T, L, False))
    assert backward["verdict"] == "backward" and backward["rho"] == pytest.approx(-1.0)
    # every position peaks at the same tick: rho 0, p = 1, no order
    flat = torch.zeros(T, L)
    flat[5] = 1.0
    still = reading_order(flat)
    assert (
        still["rho"] == 0 and still["p_value"] == 1.0 and still["verdict"] == "no order"
    )
    # random peaks: no order at the 1 % level, and a p-value that is a real probability
    g = torch.Generator().manual_seed(0)
    noise = reading_order(torch.rand(T, L, generator=g), permutations=2000)
    assert noise["verdict"] == "no order" and 0.01 < noise["p_value"] <= 1


def test_reading_order_averages_heads_and_checks_shapes():
    heads = torch.stack([_sweep(8, 8, True), _sweep(8, 8, True)])
    assert reading_order(heads)["verdict"] == "forward"
    with pytest.raises(ValueError, match="mass"):
        reading_order(torch.zeros(8, 2))


# --------------------------------------------------------------------------------------- LSTM
def test_lstm_parameter_formula_and_matching():
    for h in (1, 7, 64):
        assert lstm_parameter_count(16, h, 32, 4) == count_parameters(
            ParityLSTM(16, h, 5, 32, 4)
        )
    for profile in ("smoke", "cpu", "gpu"):
        config = lesson_config("02_ctm_parity", profile)
        n = count_parameters(
            ContinuousThoughtMachine(**parity_model_args(config.length, **config.model))
        )
        lstm = matched_lstm(
            n,
            config.length,
            config.model["iterations"],
            config.model["d_input"],
            config.model["heads"],
        )
        assert abs(count_parameters(lstm) - n) <= 0.05 * n, profile
    with pytest.raises(ValueError, match="within"):
        matched_lstm(100, 16, 4, 32, 4)  # the input pipeline alone is larger


def test_lstm_outputs_fit_the_parity_loss_and_metrics():
    torch.manual_seed(0)
    lstm = ParityLSTM(16, 20, 5, 16, 2)
    x, y = parity_test_set(3, 16)
    predictions, certainties, h = lstm(x)
    assert (
        predictions.shape == (3, 32, 5)
        and certainties.shape == (3, 2, 5)
        and h.shape == (3, 20)
    )
    torch.testing.assert_close(certainties.sum(1), torch.ones(3, 5))
    _, _, attention = lstm(x, track=True)
    assert attention.shape == (5, 3, 2, 1, 16)
    torch.testing.assert_close(attention.sum(-1), torch.ones(5, 3, 2, 1))
    loss, _ = parity_loss(predictions, certainties, y)
    loss.backward()
    assert all(p.grad is not None for p in lstm.parameters())
    with pytest.raises(ValueError, match="x must be"):
        lstm(torch.ones(3, 9))


@pytest.mark.parametrize(
    "kwargs, words",
    [
        (dict(hidden_size=0), "hidden_size"),
        (dict(heads=3), "heads"),
        (dict(iterations=0), "iterations"),
    ],
)
def test_lstm_rejects_bad_arguments(kwargs, words):
    args = dict(length=16, hidden_size=8, iterations=4, d_input=16, heads=2)
    with pytest.raises(ValueError, match=words):
        ParityLSTM(**{**args, **kwargs})


# ---------------------------------------------------------------------------- the parity CTM
def test_parity_ctm_shapes_and_tokens():
    model = parity_ctm().eval()
    x, _ = parity_test_set(2, 16)
    predictions, certainties, track = model(x, track=True)
    assert predictions.shape == (2, 32, 6) and certainties.shape == (2, 2, 6)
    assert track.attention.shape == (6, 2, 2, 1, 16)
    # the backbone only sees whether a value is +1: the tokens of two equal values differ by position alone
    features = model.backbone(x)
    assert features.shape == (2, 16, 16)
    same = x[0] == x[0, 0]
    assert torch.allclose(
        features[0][:, same], features[0][:, :1].expand(-1, int(same.sum()))
    )
    with pytest.raises(ValueError, match="length"):
        parity_model_args(1)


def test_rotational_embedding_walks_a_half_circle():
    model = parity_ctm()
    projection = model.positional_embedding.projection
    with torch.no_grad():
        # d_input=16: copy the 2-D vector 8 times
        projection.weight.copy_(torch.eye(2).repeat(8, 1))
        projection.bias.zero_()
    embedding = model.positional_embedding(torch.zeros(1, 16, 16))[0, :2].T  # (L, 2)
    theta = torch.linspace(0, math.pi, 16)
    torch.testing.assert_close(
        embedding,
        torch.stack([-torch.sin(theta), torch.cos(theta)], 1),
        atol=1e-6,
        rtol=0,
    )


def test_random_pairing_synchronisation_in_a_parity_model_matches_closed_form():
    torch.manual_seed(0)
    model = parity_ctm(iterations=5, n_random_pairing_self=3).eval()
    i, j = model.synch_pairs("out")
    # random pairing: n pairs, the first n_self are (i, i)
    assert len(i) == 8 and torch.equal(i[:3], j[:3])
    with torch.no_grad():
        model.decay_params_out.uniform_(0, 2)
        model.decay_params_action.uniform_(0, 2)
        _, _, track = model(parity_test_set(3, 16)[0], track=True)
    history = torch.cat(
        [
            model.start_activated_state.detach().expand(3, -1).unsqueeze(0),
            track.post_activations,
        ]
    )
    a_i, a_j = model.synch_pairs("action")
    for t in range(5):
        torch.testing.assert_close(
            track.synch_out[t],
            synchronisation_closed_form(
                history[: t + 2], model.decay_params_out.detach(), i, j
            ),
            atol=1e-5,
            rtol=1e-5,
        )
        torch.testing.assert_close(
            track.synch_action[t],
            synchronisation_closed_form(
                history[: t + 1], model.decay_params_action.detach(), a_i, a_j
            ),
            atol=1e-5,
            rtol=1e-5,
        )
    # a self-pair (i, i) is a decayed, normalised sum of squares: never negative
    assert bool((track.synch_out[:, :, :3] >= 0).all())


def test_pairs_depend_on_the_selection_seed_only():
    a, b, c = (
        parity_ctm(selection_seed=1),
        parity_ctm(selection_seed=1),
        parity_ctm(selection_seed=2),
    )
    assert torch.equal(a.out_neuron_indices_right, b.out_neuron_indices_right)
    assert not torch.equal(a.out_neuron_indices_left, c.out_neuron_indices_left)
    # buffers: saved and restored with the weights
    assert "out_neuron_indices_left" in a.state_dict()


def test_unet_synapses_in_a_parity_model():
    model = parity_ctm(d_model=64, synapse_depth=4)
    assert isinstance(model.synapses, SynapseUNet)
    assert (
        model.synapses.widths
        == [int(w) for w in np.linspace(64, 16, 4)]
        == [64, 48, 32, 16]
    )
    predictions, _, _ = model(parity_test_set(2, 16)[0])
    assert predictions.shape == (2, 32, 6)


# ---------------------------------------------------------------------------------- learning
@pytest.mark.parametrize("kind", ["ctm", "lstm"])
def test_short_training_reduces_the_loss(kind):
    torch.manual_seed(0)
    L = 4
    model = (
        parity_ctm(L, iterations=4) if kind == "ctm" else ParityLSTM(L, 24, 4, 16, 2)
    )

    def step_fn(m, batch):
        x, y = batch
        predictions, certainties, _ = m(x)
        return parity_loss(predictions, certainties, y)[0], {}

    result = fit(
        model,
        ParityBatches(L, 64, seed=0),
        step_fn,
        TrainConfig(steps=150, lr=3e-3, grad_clip=1.0, progress=False),
    )
    losses = [row["loss"] for row in result.history["train"]]
    assert np.mean(losses[-20:]) < np.mean(losses[:20]) - 0.1
    x, y = parity_test_set(500, L)
    assert evaluate_parity(model, x, y)["per_position"] > 0.6


def test_training_resumes_from_a_checkpoint(tmp_path):
    calls = {"n": 0, "stop_at": None}

    def step_fn(m, batch):
        calls["n"] += 1
        if calls["n"] == calls["stop_at"]:
            raise KeyboardInterrupt  # a disconnect in the middle of the run
        x, y = batch
        predictions, certainties, _ = m(x)
        return parity_loss(predictions, certainties, y)[0], {}

    def run(path, stop_at=None):
        calls.update(n=0, stop_at=stop_at)
        torch.manual_seed(0)
        model = parity_ctm(4, iterations=3)
        config = TrainConfig(
            steps=20,
            warmup_steps=3,
            checkpoint_every=5,
            checkpoint_path=path,
            progress=False,
        )
        return model, fit(model, ParityBatches(4, 16, seed=0), step_fn, config)

    with pytest.raises(KeyboardInterrupt):
        # checkpoint at step 10, interrupted during step 13
        run(tmp_path / "a.pt", stop_at=13)
    resumed, result = run(tmp_path / "a.pt")
    assert result.resumed_from == 10 and result.steps == 20
    straight, _ = run(tmp_path / "b.pt")
    for (name, p), q in zip(
        resumed.state_dict().items(), straight.state_dict().values()
    ):
        torch.testing.assert_close(p, q, msg=name)


def test_evaluate_parity_collects_everything():
    model = parity_ctm().eval()
    x, y = parity_test_set(30, 16)
    result = evaluate_parity(model, x, y, batch_size=7)
    assert result["predictions"].shape == (30, 32, 6) and result[
        "certainties"
    ].shape == (30, 2, 6)
    assert result["per_position_per_tick"].shape == (6,) and result[
        "by_position"
    ].shape == (16,)
    assert 0 <= result["sequence"] <= result["per_position"] <= 1
    with pytest.raises(ValueError, match="batch_size"):
        evaluate_parity(model, x, y, batch_size=0)


# --------------------------------------------------------------------------------------- plots
def test_parity_plots_and_frames():
    from matplotlib.figure import Figure

    from ctm_course.viz import parity as parity_viz

    model = parity_ctm(iterations=3).eval()
    x, y = parity_test_set(4, 16)
    with torch.no_grad():
        predictions, certainties, track = model(x, track=True)
    frames = parity_viz.parity_frames(
        x, y, predictions, certainties, track.attention, index=1
    )
    assert (
        len(frames) == 3
        and frames[0].shape == (520, 1000, 3)
        and frames[0].dtype == np.uint8
    )
    with pytest.raises(ValueError, match="index"):
        parity_viz.parity_frames(
            x, y, predictions, certainties, track.attention, index=4
        )
    with pytest.raises(ValueError, match="attention"):
        parity_viz.parity_frames(
            x, y, predictions, certainties, track.attention[:, :2], index=0
        )
    mass = attention_mass(track.attention)
    fig = parity_viz.plot_attention_mass(mass, reading_order(mass)["peak_tick"])
    assert isinstance(fig, Figure) and len(fig.axes) == mass.shape[0] + 1  # + colorbar
    assert all(ax.get_xlabel() == "internal tick" for ax in fig.axes[:-1])
    results = {
        name: {"per_position_per_tick": torch.rand(3), "by_position": torch.rand(16)}
        for name in ("a", "b")
    }
    both = parity_viz.plot_comparison(results)
    left, right = both.axes
    assert left.get_xlabel() == "internal tick" and len(left.get_lines()) >= 2
    assert right.get_xlabel() == "position in the sequence"
    assert {"a", "b"} <= {t.get_text() for t in right.get_legend().get_texts()}
    assert isinstance(parity_viz.plot_parity_examples(x, y, n=2), Figure)
    assert isinstance(
        parity_viz.plot_per_tick({"a": [0.5, 0.6], "b": [0.5, 0.7, 0.8]}), Figure
    )
    assert isinstance(
        parity_viz.plot_by_position({"a": torch.rand(16), "b": torch.rand(16)}), Figure
    )
    with pytest.raises(ValueError, match="same number"):
        parity_viz.plot_by_position({"a": torch.rand(16), "b": torch.rand(9)})
    assert parity_viz.grid_shape(16) == (4, 4) and parity_viz.grid_shape(10) == (1, 10)

"""Lesson 3's package: the time-series generator, CSV loader, reconstruction CTM, loss, metrics and baselines."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ctm_course.timeseries import (
    ANOMALY_KINDS,
    ReconstructionCTM,
    WindowBatches,
    detect,
    generate,
    load_csv,
    reconstruction_loss,
    regression_certainty,
    window_starts,
    windows,
)
from ctm_course.timeseries.generate import DAY
from ctm_course.timeseries.model import (
    errors_at,
    per_tick_mse,
    reconstruct,
)
from ctm_course.train import TrainConfig, fit

SMALL = dict(
    train_steps=8 * DAY,
    validation_steps=6 * DAY,
    test_steps=20 * DAY,
    n_channels=4,
    validation_anomalies=2,
    test_anomalies=5,
    seed=3,
)
TINY_CTM = dict(
    iterations=3,
    d_model=16,
    d_input=8,
    heads=2,
    n_synch_out=4,
    n_synch_action=4,
    memory_length=3,
    memory_hidden_dims=2,
    neuron_select_type="first-last",
)


@pytest.fixture(scope="module")
def data():
    return generate(**SMALL)


# ----------------------------------------------------------------------------------------- generator
def test_generator_is_deterministic(data):
    again = generate(**SMALL)
    for a, b in (
        (data.train, again.train),
        (data.validation, again.validation),
        (data.test, again.test),
    ):
        assert np.array_equal(a.values, b.values) and np.array_equal(a.labels, b.labels)
        assert np.array_equal(a.kinds, b.kinds) and a.anomalies == b.anomalies
    other = generate(**{**SMALL, "seed": 4})
    assert not np.array_equal(other.train.values, data.train.values)


def test_label_statistics(data):
    assert (
        len(data.train) == SMALL["train_steps"]
        and len(data.test) == SMALL["test_steps"]
    )
    assert data.train.labels.sum() == 0, "the training split is clean by default"
    assert len(data.validation.anomalies) == 2 and len(data.test.anomalies) == 5
    assert {a["kind"] for a in data.test.anomalies} == set(ANOMALY_KINDS), (
        "every kind appears"
    )
    assert 0.02 < data.test.labels.mean() < 0.35
    assert ((data.test.kinds > 0) == (data.test.labels == 1)).all()
    for a in data.test.anomalies:  # segments are labelled exactly, with their kind
        assert data.test.labels[a["start"] : a["end"]].all()
        assert (
            data.test.kinds[a["start"] : a["end"]] == 1 + ANOMALY_KINDS.index(a["kind"])
        ).all()
    assert np.isfinite(data.test.values).all() and data.test.values.dtype == np.float32


def test_channels_are_correlated(data):
    corr = np.corrcoef(data.train.values.T)
    off_diagonal = np.abs(corr[~np.eye(len(corr), dtype=bool)])
    assert off_diagonal.mean() > 0.5, "the channels share one latent load"


@pytest.mark.parametrize("kind", ANOMALY_KINDS)
def test_each_kind_is_injected_where_labelled(kind):
    settings = {**SMALL, "kinds": (kind,), "test_anomalies": 3}
    with_anomalies = generate(**settings)
    clean = generate(**{**settings, "validation_anomalies": 0, "test_anomalies": 0})
    # the same random draws are not guaranteed between the two calls, so compare against the clean
    # series' own statistics: inside the labelled segments the series differs from its clean version
    # by far more than outside them
    anomalous = with_anomalies.test
    assert {a["kind"] for a in anomalous.anomalies} == {kind}
    assert anomalous.labels.sum() > 0
    inside = anomalous.labels == 1
    names = anomalous.channels
    for a in anomalous.anomalies:
        rows = slice(a["start"], a["end"])
        cols = [names.index(c) for c in a["channels"]]
        assert cols, "every event names its channels"
        diff_in = np.abs(
            anomalous.values[rows][:, cols] - clean.test.values[rows][:, cols]
        ).mean()
        assert diff_in > 0.05 * clean.test.values[:, cols].std(), (
            f"{kind} left {a} unchanged"
        )
    outside = ~inside
    # away from every segment (one day margin, for the lags) the series is not affected by anomalies
    margin = np.convolve(inside, np.ones(2 * DAY + 1), mode="same") == 0
    assert np.allclose(
        anomalous.values[outside & margin],
        clean.test.values[outside & margin],
        atol=1e-5,
    )


def test_generator_rejects_bad_arguments():
    with pytest.raises(ValueError, match="n_channels"):
        generate(n_channels=1)
    with pytest.raises(ValueError, match="kinds"):
        generate(kinds=("meteor",))
    with pytest.raises(ValueError, match="do not fit"):
        generate(**{**SMALL, "test_anomalies": 100})


def test_normalisation_uses_the_training_split(data):
    normalised, norm = data.normalised()
    assert np.allclose(normalised.train.values.mean(0), 0, atol=1e-4)
    assert np.allclose(normalised.train.values.std(0), 1, atol=1e-3)
    assert np.allclose(
        normalised.test.values, (data.test.values - norm.mean) / norm.std, atol=1e-5
    )


# ----------------------------------------------------------------------------------------- windows
def test_window_shapes_and_content():
    values = np.arange(50, dtype=np.float32).reshape(25, 2)
    starts = window_starts(25, 8, 5)
    assert starts.tolist() == [
        0,
        5,
        10,
        15,
        17,
    ]  # the last window ends at the last step
    x = windows(values, 8, 5)
    assert x.shape == (5, 2, 8)
    assert torch.equal(x[1, :, 0], torch.tensor(values[5]))
    assert torch.equal(x[-1, 1], torch.tensor(values[17:25, 1]))
    with pytest.raises(ValueError, match="shorter"):
        windows(values, 30)


def test_window_batches_resume_exactly():
    values = np.random.default_rng(0).normal(size=(200, 3)).astype(np.float32)
    a = WindowBatches(values, 16, 4, seed=1)
    first = [next(a) for _ in range(3)]
    assert first[0].shape == (4, 3, 16)
    state = a.state_dict()
    expected = next(a)
    b = WindowBatches(values, 16, 4, seed=1)
    b.load_state_dict(state)
    assert torch.equal(next(b), expected)
    with pytest.raises(ValueError, match="seed"):
        WindowBatches(values, 16, 4, seed=2).load_state_dict(state)


# ----------------------------------------------------------------------------------------- CSV loader
def _write(tmp_path, text):
    path = tmp_path / "metrics.csv"
    path.write_text(text)
    return path


def test_csv_loads_channels_labels_and_normalises(tmp_path):
    rows = ["timestamp,cpu,memory,label"] + [
        f"t{i},{np.sin(i / 5):.4f},{i % 7},{int(i == 90)}" for i in range(100)
    ]
    train, test, norm = load_csv(
        _write(tmp_path, "\n".join(rows)), label_column="label", train_fraction=0.6
    )
    assert train.channels == ("cpu", "memory") and len(train) == 60 and len(test) == 40
    assert test.labels.sum() == 1 and train.labels.sum() == 0
    assert np.allclose(train.values.mean(0), 0, atol=1e-5)


@pytest.mark.parametrize(
    "body, message",
    [
        ("", "empty"),
        ("a,b\n" + "1,2\n" * 10, "too short"),
        ("a,b\n" + "1,2\n" * 70 + "1,\n", "missing value"),
        ("a,b\n" + "1,2\n" * 70 + "1,NaN\n", "missing value"),
        ("a,b\n" + "1,2\n" * 70 + "1,high\n", "not a number"),
        ("a,b\n" + "1,2\n" * 70 + "1,2,3\n", "header has 2"),
        ("a,label\n" + "1,0\n" * 70 + "1,2\n", "0 or 1"),
    ],
)
def test_csv_errors_are_clear(tmp_path, body, message):
    label = "label" if "label" in body else None
    with pytest.raises(ValueError, match=message):
        load_csv(_write(tmp_path, body), label_column=label)


def test_csv_rejects_unknown_label_column(tmp_path):
    with pytest.raises(ValueError, match="label_column"):
        load_csv(_write(tmp_path, "a,b\n" + "1,2\n" * 70), label_column="y")


# ----------------------------------------------------------------------------------------- metrics
def test_metrics_on_known_inputs():
    labels = np.array([0, 0, 1, 1, 0, 0, 1, 0])
    perfect = labels + 0.1 * np.arange(8) / 8
    assert detect.roc_auc(perfect, labels) == 1.0
    assert detect.pr_auc(perfect, labels) == pytest.approx(1.0)
    assert detect.best_f1(perfect, labels)[0] == pytest.approx(1.0)
    assert detect.roc_auc(-perfect, labels) == 0.0
    assert detect.roc_auc(np.zeros(8), labels) == 0.5  # ties count one half
    # ROC-AUC = P(score of an anomaly > score of a normal step): 2 anomalies vs 2 normals, 3 of 4 pairs right
    assert (
        detect.roc_auc(np.array([0.1, 0.4, 0.35, 0.8]), np.array([0, 0, 1, 1])) == 0.75
    )
    # average precision by hand: ranked labels 1, 0, 1 -> (1/1 + 2/3) / 2
    assert detect.pr_auc(
        np.array([0.9, 0.8, 0.7]), np.array([1, 0, 1])
    ) == pytest.approx((1 + 2 / 3) / 2)
    with pytest.raises(ValueError, match="both"):
        detect.roc_auc(np.ones(4), np.zeros(4))


def test_per_kind_roc_auc_ranks_each_kind_against_normal_steps_only():
    kinds = np.array([0, 0, 0, 0, 1, 1, 2, 2, 0, 0])
    # spikes (kind 1) score above every normal step; drifts (kind 2) below half of them
    scores = np.array([0.1, 0.2, 0.3, 0.4, 0.9, 0.8, 0.25, 0.15, 0.35, 0.05])
    got = detect.per_kind_roc_auc(scores, kinds, ("spike", "drift", "frequency"))
    assert list(got) == ["spike", "drift"]  # a kind without steps is left out
    assert got["spike"] == 1.0
    # drift 0.25 beats 3 of 6 normal steps, 0.15 beats 2: (3 + 2) / 12
    assert got["drift"] == pytest.approx(5 / 12)
    # the same as roc_auc on the normal steps and the kind's steps alone
    mask = (kinds == 0) | (kinds == 2)
    assert got["drift"] == detect.roc_auc(scores[mask], kinds[mask] == 2)
    with pytest.raises(ValueError, match="kinds"):
        detect.per_kind_roc_auc(scores, kinds[:-1], ("spike",))


def test_per_kind_roc_auc_of_the_generated_kinds(data):
    test = data.test
    oracle = (test.kinds == 1) + 0.01 * np.arange(len(test)) / len(test)
    got = detect.per_kind_roc_auc(oracle, test.kinds, ANOMALY_KINDS)
    present = [k for i, k in enumerate(ANOMALY_KINDS, 1) if (test.kinds == i).any()]
    assert list(got) == present and "spike" in got
    assert got["spike"] == 1.0  # this oracle flags spikes only
    assert all(0.0 <= v <= 1.0 for v in got.values())


def test_point_adjust_on_a_constructed_example():
    labels = np.array([0, 1, 1, 1, 1, 0, 0, 1, 1, 0])
    flags = np.array([0, 0, 1, 0, 0, 0, 1, 0, 0, 0])
    assert detect.point_adjust(flags, labels).astype(int).tolist() == [
        0,
        1,
        1,
        1,
        1,
        0,
        1,
        0,
        0,
        0,
    ]
    # one high score inside each segment: the best plain F1 is flagging everything (precision 6/10, recall 1),
    # while point adjustment turns the two lucky steps into a perfect detector
    scores = np.zeros(10)
    scores[2] = scores[8] = 1.0
    assert detect.best_f1(scores, labels)[0] == pytest.approx(0.75)
    assert detect.point_adjusted_f1(scores, labels) == pytest.approx(1.0)


def test_point_adjust_flatters_random_scores():
    labels = np.zeros(2000, dtype=int)
    for start in range(100, 2000, 300):
        labels[start : start + 60] = 1
    scores = np.random.default_rng(0).random(2000)
    assert detect.best_f1(scores, labels)[0] < 0.4
    assert detect.point_adjusted_f1(scores, labels) > 0.6


def test_window_errors_are_averaged_per_step():
    errors = np.array([[1.0, 1.0, 1.0], [3.0, 3.0, 3.0]])
    assert detect.scores_from_window_errors(errors, np.array([0, 2]), 5).tolist() == [
        1,
        1,
        2,
        3,
        3,
    ]


def test_baselines():
    rng = np.random.default_rng(0)
    basis = rng.normal(size=(2, 24))
    train = (rng.normal(size=(300, 2)) @ basis).reshape(300, 3, 8)
    test = (rng.normal(size=(10, 2)) @ basis).reshape(10, 3, 8)
    test[3] += 5 * rng.normal(size=(3, 8))
    errors = detect.pca_scores(train, test, components=2)
    assert (
        errors.shape == (10, 8)
        and errors[3].mean() > 100 * np.delete(errors, 3, axis=0).mean()
    )

    values = rng.normal(size=(300, 2))
    values[200, 1] += 12
    z = detect.moving_zscore_scores(values, 48)
    assert z.shape == (300,) and int(np.argmax(z)) == 200

    ae = detect.matched_autoencoder(6, 32, 16, 20_000)
    assert ae(torch.randn(5, 6, 32)).shape == (5, 6, 32)
    assert abs(detect.count_parameters(ae) - 20_000) < 3_000


# ----------------------------------------------------------------------------------------- model, loss, training
def test_model_shapes():
    model = ReconstructionCTM(4, 16, 8, TINY_CTM)
    reconstructions, certainties, log_var = model(torch.randn(5, 4, 16))
    assert (
        reconstructions.shape == (5, 4, 16, 3)
        and certainties.shape == (5, 2, 3)
        and log_var.shape == (5, 3)
    )
    assert torch.allclose(certainties.sum(1), torch.ones(5, 3))
    assert model.ctm.out_dims == 4 * 16 + 1
    assert model.features(torch.randn(2, 4, 16)).shape == (2, 8, 16)
    with pytest.raises(ValueError, match="windows"):
        model(torch.randn(5, 3, 16))
    with pytest.raises(ValueError, match="must not set"):
        ReconstructionCTM(4, 16, 8, {**TINY_CTM, "out_dims": 3})
    recon, cert = reconstruct(model, torch.randn(7, 4, 16), batch_size=3)
    assert recon.shape == (7, 4, 16, 3) and cert.shape == (7, 2, 3)
    assert errors_at(recon, torch.zeros(7, 4, 16), 2).shape == (7, 16)


def test_tracked_reconstruction_gives_attention_and_neurons_per_tick():
    torch.manual_seed(0)
    model = ReconstructionCTM(4, 16, 8, TINY_CTM)
    x = torch.randn(7, 4, 16)
    recon, cert, attention, post = reconstruct(model, x, batch_size=3, track=True)
    untracked = reconstruct(model, x, batch_size=3)
    assert torch.equal(recon, untracked[0]) and torch.equal(cert, untracked[1])
    assert attention.shape == (7, 3, 16) and post.shape == (7, 3, 16)
    # one query per tick, its weights over the window's steps sum to 1 (heads averaged)
    assert torch.allclose(attention.sum(-1), torch.ones(7, 3), atol=1e-5)
    assert (attention >= 0).all()
    # the same numbers as the CTM's own track of one window
    with torch.no_grad():
        track = model.eval()(x[2:3], track=True)[3]
    torch.testing.assert_close(
        attention[2], track.attention[:, 0].mean(1).squeeze(1), atol=1e-6, rtol=1e-5
    )
    torch.testing.assert_close(post[2], track.post_activations[:, 0])


def test_loss_on_known_inputs():
    target = torch.randn(3, 2, 5)
    perfect = target.unsqueeze(-1).repeat(1, 1, 1, 4)
    loss, _ = reconstruction_loss(perfect, torch.zeros(3, 4), target)
    assert loss.item() == pytest.approx(0.0, abs=1e-7)
    # 0.5 * (1 / 1 + 0)
    loss, _ = reconstruction_loss(perfect + 1.0, torch.zeros(3, 4), target)
    assert loss.item() == pytest.approx(0.5)
    # the most certain tick is the one with the smallest predicted variance
    log_var = torch.tensor([[1.0, -1.0, 0.0, 2.0]]).repeat(3, 1)
    _, t2 = reconstruction_loss(perfect, log_var, target)
    assert t2.tolist() == [1, 1, 1]
    # t1 (lowest NLL) and t2 are averaged: errors 4, 0, 4, 4 with log s^2 = 0 everywhere, t2 = first tick (tie)
    noisy = perfect.clone()
    noisy[..., [0, 2, 3]] += 2.0
    loss, _ = reconstruction_loss(noisy, torch.zeros(3, 4), target)
    assert loss.item() == pytest.approx((0.0 + 0.5 * 4) / 2)
    assert per_tick_mse(noisy, target)[0].tolist() == pytest.approx([4, 0, 4, 4])
    c = regression_certainty(torch.tensor([[0.0, 100.0, -100.0]]))
    assert c[0, 1].tolist() == pytest.approx([0.5, 0.0, 1.0], abs=1e-6)


def test_short_training_reduces_the_loss():
    torch.manual_seed(0)
    t = np.arange(600)
    values = np.stack(
        [
            np.sin(2 * np.pi * t / 24),
            np.cos(2 * np.pi * t / 24),
            np.sin(2 * np.pi * t / 12),
        ],
        1,
    )
    model = ReconstructionCTM(3, 16, 8, {**TINY_CTM, "n_synch_out": 8})
    batches = WindowBatches(values.astype(np.float32), 16, 16, seed=0)

    def step(m, x):
        r, _, lv = m(x)
        loss, _ = reconstruction_loss(r, lv, x)
        return loss, {}

    fixed = windows(values[:200], 16, 8)
    before = errors_at(*reconstruct(model, fixed)[:1], fixed, -1).mean()
    threads = torch.get_num_threads()
    # tiny per-tick operations: one thread is several times faster on a busy CPU
    torch.set_num_threads(1)
    try:
        result = fit(
            model,
            batches,
            step,
            TrainConfig(
                steps=100,
                lr=1e-2,
                progress=False,
                eval_every=1000,
                checkpoint_path=None,
            ),
        )
    finally:
        torch.set_num_threads(threads)
    losses = [row["loss"] for row in result.history["train"]]
    assert np.mean(losses[-10:]) < np.mean(losses[:10])
    after = errors_at(*reconstruct(model, fixed)[:1], fixed, -1).mean()
    assert after < 0.7 * before, f"reconstruction error {before:.3f} -> {after:.3f}"

"""Certainty, the certainty-based losses and the per-tick / early-exit metrics, on inputs with known answers."""

from __future__ import annotations

import math

import pytest
import torch

from ctm_course.ctm import certainty, normalized_entropy
from ctm_course.losses import (
    image_classification_loss,
    parity_loss,
    per_tick_cross_entropy,
)
from ctm_course.metrics import (
    accuracy_at,
    accuracy_per_tick,
    early_exit_curve,
    early_exit_ticks,
    most_certain_tick,
)


def test_normalized_entropy_limits():
    assert normalized_entropy(torch.zeros(3, 10)).tolist() == pytest.approx([1.0] * 3)
    peaked = torch.tensor([[100.0, 0, 0, 0]])
    assert normalized_entropy(peaked).item() == pytest.approx(0.0, abs=1e-6)
    # (B, L, C): mean over the L positions
    mixed = torch.stack([torch.zeros(2), torch.tensor([100.0, 0.0])]).unsqueeze(0)
    assert normalized_entropy(mixed).item() == pytest.approx(0.5, abs=1e-6)
    c = certainty(torch.zeros(4, 8), reshaper=(4, 2))
    assert c.shape == (4, 2) and torch.allclose(c[:, 1], torch.zeros(4))


def test_classification_loss_on_zero_logits_is_log_classes():
    loss, t2 = image_classification_loss(
        torch.zeros(5, 10, 4), torch.zeros(5, 2, 4), torch.arange(5)
    )
    assert loss.item() == pytest.approx(math.log(10), abs=1e-6)
    assert t2.tolist() == [0] * 5  # ties: the first tick


def test_parity_loss_on_zero_logits_is_log_two():
    loss, _ = parity_loss(
        torch.zeros(3, 8, 6), torch.zeros(3, 2, 6), torch.randint(0, 2, (3, 4))
    )
    assert loss.item() == pytest.approx(math.log(2), abs=1e-6)


def test_l_decisions_average_the_per_position_cross_entropy():
    torch.manual_seed(1)
    B, L, C, T = 3, 4, 2, 5
    logits = torch.randn(B, L * C, T)
    targets = torch.randint(0, C, (B, L))
    per_position = torch.stack(
        [
            per_tick_cross_entropy(logits.view(B, L, C, T)[:, i], targets[:, i])
            for i in range(L)
        ]
    )  # (L, B, T): each position as its own C-class decision
    expected = per_position.mean(0)
    assert torch.allclose(per_tick_cross_entropy(logits, targets), expected, atol=1e-6)
    assert (
        parity_loss is image_classification_loss
    )  # one loss, the reference's two names
    with pytest.raises(ValueError, match="3 decisions need the 8 outputs"):
        per_tick_cross_entropy(logits, torch.zeros(B, 3, dtype=torch.long))
    with pytest.raises(ValueError, match=r"targets \(B,\) or \(B, L\)"):
        parity_loss(
            logits, torch.zeros(B, 2, T), torch.zeros(B + 1, L, dtype=torch.long)
        )


def test_identical_ticks_give_single_tick_loss():
    torch.manual_seed(0)
    logits = torch.randn(6, 10, 1)
    targets = torch.randint(0, 10, (6,))
    repeated = logits.expand(-1, -1, 5)
    loss, _ = image_classification_loss(repeated, torch.rand(6, 2, 5), targets)
    assert loss.item() == pytest.approx(
        torch.nn.functional.cross_entropy(logits[..., 0], targets).item(), abs=1e-6
    )


def test_two_tick_selection_uses_best_and_most_certain_ticks():
    targets = torch.tensor([0])
    logits = torch.zeros(1, 2, 3)
    logits[0, 0, 1] = 4.0  # tick 1 is right and sure
    logits[0, 1, 2] = 9.0  # tick 2 is wrong and surer
    cert = certainty(logits[..., 2]), certainty(logits[..., 1])
    certainties = torch.stack([certainty(logits[..., t]) for t in range(3)], -1)
    loss, t2 = image_classification_loss(logits, certainties, targets)
    ce = per_tick_cross_entropy(logits, targets)[0]
    assert t2.item() == 2
    assert loss.item() == pytest.approx(((ce[1] + ce[2]) / 2).item(), abs=1e-6)
    loss_last, _ = image_classification_loss(
        logits, certainties, targets, use_most_certain=False
    )
    # the last tick is also the most certain here
    assert loss_last.item() == pytest.approx(loss.item())
    assert cert[0].shape == (1, 2)


def test_loss_rejects_bad_shapes():
    with pytest.raises(ValueError, match="certainties"):
        image_classification_loss(
            torch.zeros(2, 10, 3), torch.zeros(2, 3), torch.zeros(2, dtype=torch.long)
        )


def test_accuracies_and_early_exit():
    predictions = torch.zeros(2, 3, 4)
    predictions[0, 1, :] = 1.0  # sample 0 says class 1 at every tick
    # sample 1 says class 0 (ties) at ticks 0-1, class 2 from tick 2
    predictions[1, 2, 2:] = 1.0
    targets = torch.tensor([1, 2])
    assert accuracy_per_tick(predictions, targets).tolist() == [0.5, 0.5, 1.0, 1.0]
    certainties = torch.zeros(2, 2, 4)
    certainties[0, 1] = torch.tensor([0.2, 0.95, 0.5, 0.99])
    certainties[1, 1] = torch.tensor([0.1, 0.2, 0.3, 0.4])
    assert most_certain_tick(certainties).tolist() == [3, 3]
    assert early_exit_ticks(certainties, 0.9).tolist() == [
        1,
        3,
    ]  # never certain enough: the last tick
    assert accuracy_at(predictions, targets, torch.tensor([0, 0])) == 0.5
    curve = early_exit_curve(predictions, certainties, targets, [0.0, 0.9, 0.999])
    assert curve["mean_ticks"] == [1.0, 3.0, 4.0]
    assert curve["accuracy"] == [
        0.5,
        1.0,
        1.0,
    ]  # never sure enough: answer at the most certain tick
    # sample 1 is now most certain at tick 0, where it is wrong
    certainties[1, 1, 0] = 0.5
    assert early_exit_curve(predictions, certainties, targets, [0.999])["accuracy"] == [
        0.5
    ]
    with pytest.raises(ValueError, match="threshold"):
        early_exit_ticks(certainties, 1.5)


def test_cheapest_exit_matches_accuracy_with_fewest_ticks():
    from ctm_course.metrics import cheapest_exit

    curve = {
        "threshold": [0.5, 0.8, 0.9, 0.99],
        "accuracy": [0.90, 0.948, 0.951, 0.952],
        "mean_ticks": [2.0, 3.5, 5.0, 9.0],
    }
    assert cheapest_exit(curve, 0.95)["threshold"] == 0.8
    assert cheapest_exit(curve, 0.95, tolerance=0.0)["threshold"] == 0.9
    # unreachable: the most accurate setting
    assert cheapest_exit(curve, 0.99)["threshold"] == 0.99
    with pytest.raises(ValueError, match="empty"):
        cheapest_exit({"threshold": [], "accuracy": [], "mean_ticks": []}, 0.9)


def test_most_certain_tick_is_one_rule_for_tensors_arrays_and_single_examples():
    import numpy as np

    # ties: the first tick wins
    certainties = torch.tensor(
        [
            [[0.5, 0.1, 0.1, 0.5], [0.5, 0.9, 0.9, 0.5]],
            [[0.8, 0.7, 0.6, 0.6], [0.2, 0.3, 0.4, 0.4]],
        ]
    )
    assert most_certain_tick(certainties).tolist() == [1, 2]
    assert most_certain_tick(certainties.numpy()).tolist() == [1, 2]
    assert (
        int(most_certain_tick(certainties[1])) == 2
        and int(most_certain_tick(certainties[1].numpy())) == 2
    )
    assert isinstance(most_certain_tick(certainties.numpy()), np.ndarray)
    with pytest.raises(ValueError, match=r"\(B, 2, T\)"):
        most_certain_tick(torch.zeros(2, 3, 4))


# ------------------------------------------------------------------------- calibration
def test_calibration_of_known_answers():
    from ctm_course.calibration import expected_calibration_error, reliability

    # 10 answers at confidence 0.95 of which 9 right, 10 at 0.55 of which 5 right
    confidence = torch.tensor([0.95] * 10 + [0.55] * 10)
    correct = torch.tensor([True] * 9 + [False] + [True] * 5 + [False] * 5)
    r = reliability(confidence, correct, bins=10)
    assert r.counts.tolist() == [0, 0, 0, 0, 0, 10, 0, 0, 0, 10]
    assert r.accuracy[9].item() == pytest.approx(0.9)
    assert r.confidence[5].item() == pytest.approx(0.55)
    assert torch.isnan(r.accuracy[0])
    # (10 * |0.9 - 0.95| + 10 * |0.5 - 0.55|) / 20
    assert r.ece == pytest.approx(0.05)
    assert expected_calibration_error(confidence, correct) == pytest.approx(0.05)
    # perfectly calibrated: answers at 1.0 all right (the last bin includes 1.0)
    assert (
        expected_calibration_error(torch.ones(4), torch.ones(4, dtype=torch.bool)) == 0
    )


def test_calibration_rejects_bad_input():
    from ctm_course.calibration import reliability

    with pytest.raises(ValueError, match="confidences"):
        reliability(torch.tensor([1.2]), torch.tensor([True]))
    with pytest.raises(ValueError, match="need"):
        reliability(torch.ones(3), torch.ones(2, dtype=torch.bool))
    with pytest.raises(ValueError, match="no answers"):
        reliability(torch.ones(0), torch.ones(0, dtype=torch.bool))


# ------------------------------------------------------------------------- baselines
def test_feedforward_baseline_matches_the_ctm_size_and_shapes():
    from ctm_course.baselines import FeedForwardClassifier, matched_feedforward
    from ctm_course.parameters import count_parameters

    for n_params in (18_988, 88_780):
        net = matched_feedforward(n_params, d_input=32)
        assert abs(count_parameters(net) - n_params) <= 32 * 49 + 11  # within one unit
        assert net(torch.rand(3, 1, 28, 28)).shape == (3, 10)
    with pytest.raises(ValueError, match="images"):
        FeedForwardClassifier(8, 4)(torch.rand(3, 28, 28))
    with pytest.raises(ValueError, match=">= 1"):
        FeedForwardClassifier(8, 0)

"""ctm_course.profile: which budget a lesson runs with."""

from __future__ import annotations

import pytest
import torch

from ctm_course.profile import ENV_VAR, PROFILES, device, device_name, profile


@pytest.mark.parametrize(
    "value, expected",
    [("smoke", "smoke"), ("cpu", "cpu"), ("gpu", "gpu"), (" GPU ", "gpu")],
)
def test_environment_variable_is_respected(monkeypatch, value, expected):
    monkeypatch.setenv(ENV_VAR, value)
    assert profile() == expected


def test_environment_variable_wins_over_cuda(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setenv(ENV_VAR, "smoke")
    assert profile() == "smoke"


def test_bad_value_raises_and_names_the_allowed_values(monkeypatch):
    monkeypatch.setenv(ENV_VAR, "fast")
    with pytest.raises(ValueError) as info:
        profile()
    message = str(info.value)
    assert "fast" in message and ENV_VAR in message
    for name in PROFILES:
        assert name in message


def test_default_is_cpu_without_cuda(monkeypatch):
    monkeypatch.delenv(ENV_VAR, raising=False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert profile() == "cpu"
    assert device().type == "cpu"


def test_default_is_gpu_with_cuda(monkeypatch):
    monkeypatch.delenv(ENV_VAR, raising=False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert profile() == "gpu"


def test_empty_variable_means_unset(monkeypatch):
    monkeypatch.setenv(ENV_VAR, "")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert profile() == "cpu"


def test_cpu_device_name_says_cpu_and_cores():
    name = device_name(torch.device("cpu"))
    assert name.startswith("CPU (") and "cores" in name


def test_profiles_are_the_three_documented_ones():
    assert PROFILES == ("smoke", "cpu", "gpu")

"""Lesson 5: a recurrent CNN with lateral and top-down connections (Thorat, Aldegheri & Kietzmann, 2021).

* :mod:`.stimuli`: the cluttered stimuli, faithful NumPy/SciPy version (:func:`generate_faithful`);
* :mod:`.torch_stimuli`: the same, vectorised in torch for a GPU (:class:`TorchStimuli`, :class:`StimulusBatches`);
* :mod:`.variants`: perturbation test images and their six variants (the authors' two bugs fixed or kept);
* :mod:`.model`: :class:`RecurrentCNN` with the bias/gain and lateral/top-down switches;
* :mod:`.shuffle_transpose`, :mod:`.shuffle_conv`: the flows' transposed and 4-channel convolutions, computed
  faster on a CPU (same parameters as the library modules);
* :mod:`.weights`: the authors' published weights (download with checks, loading);
* :mod:`.training`: training step, accuracy, networks trained side by side on the same batches; :mod:`.run`: the command-line run;
* :mod:`.probes`: linear probes of activations and flows, with the random-feedback control;
* :mod:`.perturb`: the perturbation analysis and functional importance;
* :mod:`.plots`: figures in the style of the paper's Figures 3 and 4, next to the paper's numbers.
"""

from __future__ import annotations

from ..parameters import count_parameters
from .model import (
    BRANCHES,
    CONNECTIONS,
    LAYERS,
    RecurrentCNN,
    Trace,
    connection_counts,
    flags_name,
)
from .perturb import (
    accuracies_from,
    bootstrap_importance,
    functional_importance,
    importance_record,
    perturbation_correct,
)
from .probes import (
    PROBE_GROUPS,
    aux_summary,
    collect,
    decode_grid,
    probe,
    random_feedback,
)
from .stimuli import (
    AUX_VARIABLES,
    CLASS_NAMES,
    VARIABLES,
    ObjectSources,
    Scene,
    Stimuli,
    generate_faithful,
    load_sources,
    render,
    sample_scene,
)
from .torch_stimuli import SceneBatch, StimulusBatches, TorchStimuli
from .training import (
    SideBySide,
    accuracy,
    as_feedforward,
    feedforward_first,
    gain_and_control,
    joined_history,
    paper_budget_share,
    predict,
    start_from_feedforward,
    step_fn,
)
from .variants import GROUPS, SWAPS, VARIANTS, generate_variant_sets, generate_variants

__all__ = [
    "AUX_VARIABLES",
    "BRANCHES",
    "CLASS_NAMES",
    "CONNECTIONS",
    "GROUPS",
    "LAYERS",
    "PROBE_GROUPS",
    "SWAPS",
    "VARIABLES",
    "VARIANTS",
    "ObjectSources",
    "RecurrentCNN",
    "Scene",
    "SceneBatch",
    "Stimuli",
    "StimulusBatches",
    "TorchStimuli",
    "Trace",
    "accuracies_from",
    "accuracy",
    "aux_summary",
    "bootstrap_importance",
    "collect",
    "connection_counts",
    "decode_grid",
    "flags_name",
    "functional_importance",
    "generate_faithful",
    "generate_variant_sets",
    "generate_variants",
    "importance_record",
    "load_sources",
    "count_parameters",
    "perturbation_correct",
    "predict",
    "probe",
    "random_feedback",
    "render",
    "sample_scene",
    "step_fn",
    "SideBySide",
    "gain_and_control",
    "paper_budget_share",
    "start_from_feedforward",
    "feedforward_first",
    "as_feedforward",
    "joined_history",
]

"""The parity check every export passes before it appears: the written artifact, run by its
own runtime, against Keras on the same inputs."""

import numpy as np

from kerasarch.export.serving import ExportError

__all__ = ["max_scaled_diff", "parity_report"]


def max_scaled_diff(outputs, reference):
    """Max |a - b| / max(1, max |b|) over the outputs both have: absolute for probabilities."""
    worst = 0.0
    for name, ref in reference.items():
        ref = np.asarray(ref, np.float64)
        got = np.asarray(outputs[name], np.float64)
        if got.shape != ref.shape:
            raise ExportError(f"output {name!r} has shape {got.shape}, Keras gives {ref.shape}.")
        if not np.all(np.isfinite(got)):
            raise ExportError(f"output {name!r} holds non-finite values.")
        worst = max(worst, float(np.max(np.abs(got - ref))) / max(1.0, float(np.max(np.abs(ref)))))
    return worst


def parity_report(serving, run_artifact, check_data=None, tolerance=1e-4):
    """Run the written artifact and Keras on the same images; raise ExportError past ``tolerance``.

    The checked output is the model's own: ``probabilities`` for a softmax classifier (an
    absolute difference), else every output, scaled by ``max(1, max |Keras|)``. Returns
    ``{"max_diff", "checked_output", "checked_inputs", "max_diff_logits"?, "max_diff_vs_trained"?}``:
    ``max_diff`` against the exported (float32) model, which must be within ``tolerance``;
    ``max_diff_logits`` the scaled logits difference (reported: a deep randomly initialised
    net's logits carry float32 reordering noise near 1e-4); ``max_diff_vs_trained``, for a
    mixed-precision model, against the model as trained (bfloat16 rounding, reported).
    """
    images = serving.sample_inputs() if check_data is None else serving.as_input(check_data)
    expected = serving.reference(images)
    got = run_artifact(images)
    checked = serving.output_names[0]
    if checked == "probabilities":
        diff = max_scaled_diff(got, {checked: expected[checked]})
        report = {"max_diff": diff, "checked_output": checked, "checked_inputs": int(len(images)),
                  "max_diff_logits": max_scaled_diff(got, {"logits": expected["logits"]})}
    else:
        checked = "all outputs"
        diff = max_scaled_diff(got, expected)
        report = {"max_diff": diff, "checked_output": checked, "checked_inputs": int(len(images))}
    if diff > tolerance:
        raise ExportError(
            f"the exported {serving.source.name} differs from Keras by {diff:.3g} (> {tolerance:g}) in "
            f"{checked} on {len(images)} images; nothing was written. Please report this with the model's name.")
    if serving.model is not serving.source:
        trained = serving.reference(images, model=serving.source)
        name = serving.output_names[0]
        report["max_diff_vs_trained"] = max_scaled_diff({name: got[name]}, trained)
    return report



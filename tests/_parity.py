"""Parity assertions shared by the compiled-model tests (the contract: labels and values)."""

import numpy as np

LABEL_AGREEMENT = 0.9999
RTOL = 1e-4


def assert_labels_match(ours, reference, min_fraction=LABEL_AGREEMENT):
    """At least ``min_fraction`` of the labels are equal (and the shapes and dtypes kinds agree)."""
    ours, reference = np.asarray(ours), np.asarray(reference)
    assert ours.shape == reference.shape, (ours.shape, reference.shape)
    agree = float(np.mean(ours == reference))
    assert agree >= min_fraction, f"labels agree on {agree:.6f} of rows, need {min_fraction}"


def assert_values_close(ours, reference, rtol=RTOL):
    """Values within ``rtol`` relative, with an absolute floor of ``rtol`` times the values' scale.

    The floor keeps near-zero entries (a probability of 1e-9, a centred feature) from demanding
    more digits than the float32 sum that produced them has.
    """
    ours, reference = np.asarray(ours, dtype=np.float64), np.asarray(reference, dtype=np.float64)
    assert ours.shape == reference.shape, (ours.shape, reference.shape)
    scale = max(1.0, float(np.nanmax(np.abs(reference)))) if reference.size else 1.0
    np.testing.assert_allclose(ours, reference, rtol=rtol, atol=rtol * scale)

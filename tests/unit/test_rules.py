"""Device rules as objects: the registry, and a rule added from outside the package (one class
and one registry entry, no other edit) running through the population draws, the pulse engine
(both paths), the seeded wrappers, a device card and the analog storage."""

from dataclasses import dataclass
from typing import ClassVar

import pytest
import torch

from analog_ep.analog import devices as D
from analog_ep.analog import engine as E
from analog_ep.analog import population as PO
from analog_ep.analog import rules as RU
from analog_ep.analog.cards import card_from_dict
from analog_ep.analog.periphery import PeripheryParams
from analog_ep.analog.storage import AnalogStorage
from analog_ep.errors import ConfigError

F64 = torch.float64


@dataclass(frozen=True)
class GeometricStep(RU.PulsedParams):
    """Toy rule: a pulse moves the device the fraction ``scale`` of its distance to the bound it
    heads for, ``dw+ = scale_up (w_max - w)``, ``dw- = scale_down (w - w_min)``. Noise-free, from
    ``w0``: ``w_n = w_max - (w_max - w0) (1 - scale_up)^n`` up, ``w_min + (w0 - w_min) (1 -
    scale_down)^n`` down."""

    rule: ClassVar[str] = "geometric_step"

    def magnitude(self, w, d):
        up = d["sgn"] > 0
        return d["scale"] * torch.where(up, d["w_max"] - w, w - d["w_min"])


@pytest.fixture
def geometric():
    RU.register_rule("geometric_step", GeometricStep)
    try:
        yield GeometricStep
    finally:
        RU.RULES.pop("geometric_step")


def test_unknown_rule_is_a_config_error_listing_the_valid_names():
    with pytest.raises(ConfigError) as e:
        RU.get_rule("quantum_step")
    assert str(e.value) == ("rule: unknown update rule 'quantum_step'; valid: constant_step, "
                            "linear_step, soft_bounds, exp_step, pow_step, piecewise_step, neurosim")
    assert RU.get_rule("soft_bounds") is RU.SoftBounds
    for name, cls in RU.RULES.items():
        assert cls.rule == name


def test_registered_rule_is_listed_and_bad_registrations_are_refused(geometric):
    with pytest.raises(ConfigError, match=r"valid: constant_step, .*neurosim, geometric_step$"):
        RU.get_rule("nope")
    assert RU.get_rule("geometric_step") is GeometricStep
    with pytest.raises(ValueError, match="GeometricStep.rule is 'geometric_step', not 'other'"):
        RU.register_rule("other", GeometricStep)
    with pytest.raises(ValueError, match="already SoftBounds"):
        RU.register_rule("soft_bounds", type("SoftBounds2", (RU.SoftBounds,), {}))
    with pytest.raises(TypeError):
        RU.register_rule("geometric_step", dict)


def test_a_rule_registered_from_outside_runs_through_the_engine(geometric):
    p = GeometricStep(dw_min=0.1, up_down=0.5)  # scale_up 0.1, scale_down 0.05
    st = PO.sample_device_state(p, (4, 5), 0, dtype=F64)
    w0 = torch.linspace(-0.9, 0.9, 20, dtype=F64).view(4, 5)
    n = torch.arange(-10, 10).view(4, 5)
    k = n.abs().double()
    ref = torch.where(n > 0, 1.0 - (1.0 - w0) * 0.9 ** k, -1.0 + (w0 + 1.0) * 0.95 ** k)
    assert not p.has_closed_form  # so the engine runs the per-pulse rounds
    for path in ("compact", "masked"):
        torch.testing.assert_close(E.apply_counts(w0, n, st, p, 3, path=path), ref, atol=1e-12, rtol=0)
    torch.testing.assert_close(D.apply_pulses(w0, n, st, p, 7), ref, atol=1e-12, rtol=0)
    # with cycle-to-cycle noise, device-to-device spread and stuck devices the two paths agree
    noisy = GeometricStep(dw_min=0.1, dw_min_std=0.5, dw_min_dtod=0.2, w_max_dtod=0.1,
                          stuck_at_min_fraction=0.2, n_states=33)
    st = PO.sample_device_state(noisy, (30, 20), 1, dtype=torch.float32)
    w = PO.settle(torch.zeros(30, 20), st, noisy)
    n = torch.randint(-6, 7, (30, 20), generator=torch.Generator().manual_seed(2))
    a = E.apply_counts(w, n, st, noisy, 11, path="compact")
    assert torch.equal(a, E.apply_counts(w, n, st, noisy, 11, path="masked"))
    stuck = st.stuck != 0
    assert stuck.any() and torch.equal(a[stuck], w[stuck])
    assert (a[~stuck & (n != 0)] != w[~stuck & (n != 0)]).double().mean() > 0.5
    r = D.response(p, 30, n_devices=3, seed=0)  # noise-free: the closed form from 0
    assert r["w_mean"][30] == pytest.approx(1.0 - 0.9 ** 30, abs=1e-12)


def test_a_registered_rule_loads_from_a_card_and_trains_on_a_storage(geometric):
    card = card_from_dict({"source": "test", "rule": "geometric_step", "dw_min": 0.05}, "toy", "toy.yaml")
    assert isinstance(card.params, GeometricStep) and card.params.dw_min == 0.05
    with pytest.raises(ConfigError, match="gamma_up"):  # its own keys only
        card_from_dict({"source": "test", "rule": "geometric_step", "gamma_up": 0.1}, "toy", "toy.yaml")
    w = torch.randn(3, 4, generator=torch.Generator().manual_seed(0)) * 0.1
    s = AnalogStorage(w, card.params, PeripheryParams(), rounding="deterministic", seed=1)
    before = s.w_dev.clone()
    s.apply_update(torch.full((3, 4), 2.0) * s.w_scale * 0.05)  # about +2 pulses each
    assert torch.allclose(s.w_dev, 1.0 - (1.0 - before) * 0.95 ** 2, atol=1e-6)
    assert int(s.pulses) == 24

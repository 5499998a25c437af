"""Periphery: DAC / ADC quantization and clipping, parameter validation. (Read noise, output noise,
IR drop and the noise policy as the reads apply them: tests/unit/test_reads.py, test_storage.py.)"""

import pytest
import torch

from analog_ep.analog import periphery as P
from analog_ep.errors import ConfigError


@pytest.mark.parametrize("bits", [1, 2, 3, 4, 8])
def test_adc_has_at_most_2_to_the_bits_levels_and_clips(bits):
    p = P.PeripheryParams(out_bits=bits, out_bound=3.0)
    y = torch.linspace(-10, 10, 20001, dtype=torch.float64)
    q = P.adc(y, p)
    values = torch.unique(q)
    assert values.numel() <= 2 ** bits
    assert values.numel() == (2 if bits == 1 else 2 ** bits - 1)  # every level is reached
    assert torch.allclose(values, P.levels(bits, 3.0))
    assert q.max().item() == pytest.approx(3.0) and q.min().item() == pytest.approx(-3.0)
    assert torch.equal(q[y >= 3.0], torch.full_like(q[y >= 3.0], q.max().item()))
    if bits >= 2:  # mid-tread: zero maps to zero, error within half a step inside the range
        assert P.adc(torch.zeros(1, dtype=torch.float64), p).item() == 0.0
        inside = y.abs() <= 3.0
        step = 3.0 / (2 ** (bits - 1) - 1)
        assert (q[inside] - y[inside]).abs().max().item() <= step / 2 + 1e-12
        d = values.diff()                                         # the grid's spacing is converter_step
        assert torch.allclose(d, torch.full_like(d, P.converter_step(bits, 3.0)), rtol=1e-12, atol=0)


def test_dac_quantizes_and_clips_inputs_like_the_adc():
    p = P.PeripheryParams(inp_bits=3, inp_bound=1.0)
    x = torch.tensor([-5.0, -1.0, -0.5, -0.1, 0.0, 0.2, 0.5, 0.9, 1.0, 7.0])
    q = P.dac(x, p)
    step = 1.0 / 3
    expected = torch.round(x.clamp(-1, 1) / step) * step
    assert torch.allclose(q, expected)
    assert torch.unique(P.dac(torch.linspace(-3, 3, 1001), p)).numel() <= 2 ** 3
    clip_only = P.PeripheryParams(inp_bound=0.5)
    assert torch.equal(P.dac(x, clip_only), x.clamp(-0.5, 0.5))


def test_ideal_periphery_changes_nothing():
    p = P.PeripheryParams()
    assert p.ideal
    x = torch.randn(4, 7, generator=torch.Generator().manual_seed(0))
    w = torch.randn(3, 7, generator=torch.Generator().manual_seed(1))
    y = x @ w.T
    assert torch.equal(P.dac(x, p), x) and torch.equal(P.adc(y, p), y)
    assert not P.PeripheryParams(out_bits=8, out_bound=1.0).ideal


@pytest.mark.parametrize("kwargs,msg", [
    (dict(out_bits=0, out_bound=1.0), "out_bits: must be an integer >= 1 or null, got 0"),
    (dict(inp_bits=-2, inp_bound=1.0), "inp_bits: must be an integer >= 1 or null, got -2"),
    (dict(inp_bits=8), "inp_bits: needs inp_bound (the converter's full scale), got 8"),
    (dict(out_bound=0.0), "out_bound: must be > 0 or null, got 0.0"),
    (dict(inp_bound=-1.0), "inp_bound: must be > 0 or null, got -1.0"),
    (dict(w_noise_std=-0.1), "w_noise_std: must be >= 0, got -0.1"),
    (dict(out_noise_std=-1e-3), "out_noise_std: must be >= 0, got -0.001"),
    (dict(ir_drop=1.5), "ir_drop: must be in [0, 1], got 1.5"),
    (dict(noise_policy="sometimes"), "noise_policy: must be one of per_read, per_phase, per_batch"),
])
def test_impossible_periphery_is_a_config_error_naming_the_key(kwargs, msg):
    with pytest.raises(ConfigError) as e:
        P.PeripheryParams(**kwargs)
    assert str(e.value).startswith(msg), str(e.value)


def test_card_periphery_errors_name_the_file(tmp_path):
    from analog_ep.analog.cards import load_device

    f = tmp_path / "dev.yaml"
    f.write_text("source: x\nrule: constant_step\nperiphery:\n  out_bits: 0\n  out_bound: 2.0\n")
    with pytest.raises(ConfigError, match=r"dev.yaml: periphery.out_bits: must be an integer >= 1"):
        load_device(f)
    f.write_text("source: x\nrule: constant_step\nperiphery:\n  out_bits: 6\n  out_bound: 2.0\n")
    card = load_device(f)
    assert card.periphery == P.PeripheryParams(out_bits=6, out_bound=2.0)

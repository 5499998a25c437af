"""The numba kernels' stream keys equal the host's :func:`analog_ep.analog.streams.stream_key`
(the pulse rounds' per-pulse keys ``stream_key(key, k)``, session 7: computed in numba)."""

import random

import pytest

from analog_ep.analog.streams import stream_key


@pytest.mark.parametrize("seed", range(4))
def test_pulse_round_keys_equal_stream_key(seed):
    pytest.importorskip("numba")
    from analog_ep.analog.kernels import numba_engine as NE
    rnd = random.Random(seed)
    key = rnd.choice([0, 1, 2 ** 63 + 5, 2 ** 64 - 1, rnd.getrandbits(64)])
    cap = rnd.choice([0, 1, 31, 64])
    NE._KEYS.clear()
    got = [int(v) for v in NE._keys(key, cap)]
    assert got == [stream_key(key, k) for k in range(cap)]

import pytest
import torch


@pytest.fixture(autouse=True)
def _seed_and_threads():
    torch.manual_seed(0)
    yield


def tiny_mlp(in_dim=8, hidden=(6, 5), out=3, seed=0, bias_range=(-0.3, 0.7), gain=1.0):
    """A float64 Hopfield MLP with non-trivial biases (so some units sit inside the box)."""
    from analog_ep.models import HopfieldMLP

    g = torch.Generator().manual_seed(seed)
    m = HopfieldMLP((in_dim,), list(hidden), out, gains=[gain] * (len(hidden) + 1), generator=g).double()
    with torch.no_grad():
        for b in m.biases:
            b.uniform_(*bias_range, generator=g)
    x = torch.randn(5, in_dim, generator=g, dtype=torch.float64)
    y = torch.nn.functional.one_hot(torch.randint(0, out, (5,), generator=g), out).double()
    return m, x, y

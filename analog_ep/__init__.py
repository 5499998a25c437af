"""analog-ep: Equilibrium Propagation on simulated memristor crossbars, with digital references."""

__version__ = "0.1.0"

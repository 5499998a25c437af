"""Learning algorithms: Equilibrium Propagation, backprop on the feed-forward twin, and the exact
(implicit-differentiation) gradient used as EP's correctness reference."""

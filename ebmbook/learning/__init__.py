"""How U is learned: the generic checkpointed loop (:mod:`.fit`), Algorithm 1 (ML learning with
Langevin negatives, :mod:`.trainer`), Co-Op learning of a descriptor with a generator (Appendix A,
:mod:`.coop`) and the optimiser schedules (Adam, SGD with exponential decay to a floor, hybrid
Adam -> SGD, :mod:`.optim`)."""

"""Fig 3.1's experiment trains its four models as one stacked program; the oracle is each kind
trained alone, as the page did before (one stack per kind): every number must be the same."""

import numpy as np
import pytest
import torch

from ebmbook.data.toy2d import toy_density
from ebmbook.diagnostics.density import grid_log_density
from ebmbook.energies.potentials import MLPPotential
from ebmbook.experiments import toy_densities as td
from ebmbook.learning.stacked import train_stacked


def _tiny(**kw):
    sizes = dict(conv_steps=6, conv_langevin=5, conv_bank=200, nonconv_steps=3,
                 nonconv_langevin=5, batch_size=20, grid_n=24, kde_samples=200)
    return td.Config(**{**sizes, **kw})


@pytest.mark.parametrize("nonconv_langevin", [5, 3])   # one program, or one per chain length
def test_one_program_gives_each_kind_the_numbers_it_gets_alone(nonconv_langevin):
    cfg = _tiny(nonconv_langevin=nonconv_langevin)
    result = td.run(cfg, progress=False)
    for m in td.MODELS:
        tcfg = cfg.train_config(m)
        nets = []
        for _ in cfg.densities:
            torch.manual_seed(cfg.seed)
            nets.append(MLPPotential())
        alone = train_stacked(nets, [toy_density(d) for d in cfg.densities],
                              [tcfg] * len(cfg.densities), progress=False)
        for d, ref in zip(cfg.densities, alone):
            got = result.models[(d, m)]
            assert len(got.train_log.d_st) == tcfg.n_steps
            for s in ("d_st", "r_st", "u_pos", "u_neg", "lr"):
                np.testing.assert_array_equal(got.train_log.arrays[s], ref.log.arrays[s])
            np.testing.assert_array_equal(got.log_learned,
                                          grid_log_density(ref.energy, result.grids[d]))
    assert list(result.models) == [(d, m) for m in td.MODELS for d in cfg.densities]

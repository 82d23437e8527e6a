"""Test-wide settings: one math thread (tests are tiny; extra threads only contend on 2 cores)."""

import torch

torch.set_num_threads(1)

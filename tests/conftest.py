"""Shared test set-up."""

import torch

# The tests run small problems: one thread avoids oversubscribing the 2-core machines
# (several torch threads per process make small ops many times slower under load).
torch.set_num_threads(1)

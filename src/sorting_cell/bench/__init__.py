"""Benchmarks on the tool dataset (Protocols A, B, C of shared/docs/BENCHMARK.md)."""
from .tools import (PUBLISHED_A, Described, describe, protocol_a_draws, run_protocol_a,
                    run_protocol_b, run_protocol_c)

__all__ = ['PUBLISHED_A', 'Described', 'describe', 'protocol_a_draws', 'run_protocol_a',
           'run_protocol_b', 'run_protocol_c']

"""Shared plumbing of the trained clusterers (deep multi-view, bootstrapping): seeded torch
sessions and epoch progress bars."""
from __future__ import annotations

from contextlib import contextmanager

__all__ = ['torch_session', 'progress_bar']


@contextmanager
def torch_session(seed: int, n_threads: int = 2):
    """Seeded, thread-limited torch; the thread count is restored on exit.

    Every op used here (linear layers, ReLU, cdist, MSE, KL, Adam) runs a deterministic CPU
    kernel for a fixed thread count, so a fixed seed gives bit-identical runs (tested).
    ``torch.use_deterministic_algorithms`` is not called: it adds nothing for these CPU ops
    and its first call imports torch's compiler stack (seconds on a loaded 2-core box).
    """
    import torch

    old_threads = torch.get_num_threads()
    torch.set_num_threads(max(1, min(n_threads, old_threads)))
    torch.manual_seed(seed)
    try:
        yield torch.Generator().manual_seed(seed)
    finally:
        torch.set_num_threads(old_threads)


def progress_bar(total: int, desc: str, unit: str, progress):
    """A tqdm bar; ``progress=None`` shows it on a terminal only."""
    from tqdm.auto import tqdm

    # progress=None: show the bar on a terminal only (tqdm's own rule for disable=None).
    return tqdm(total=total, desc=desc, unit=unit, leave=False,
                disable=None if progress is None else not progress)

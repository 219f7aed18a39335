"""A sweep's fits in order, under a progress bar where stderr is a terminal."""

from __future__ import annotations

from collections.abc import Iterator

from tqdm import tqdm


def fits_shown(fits: list[tuple[str, float]], progress: bool) -> Iterator[tuple[str, float]]:
    """The (method, budget) fits in order; with `progress`, under a tqdm bar on stderr where
    stderr is a terminal (none in a log: DVC's, a redirect), naming the fit under way."""
    bar = tqdm(fits, desc="fitting", unit="fit", leave=False,
               disable=None if progress else True)  # None: a bar only on a terminal
    for method, budget in bar:
        bar.set_postfix_str(f"{method} at {budget:.4g}")
        yield method, budget

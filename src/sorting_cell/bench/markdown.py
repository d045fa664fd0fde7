"""Benchmark results as markdown tables, next to the published figures."""
from __future__ import annotations

from .tools import PUBLISHED_A

COLS = ['c1', 'c2', 'c3', 'c4', 'c5', 'mixed']


def table_a(result: dict, label: str) -> str:
    cols = [c for c in COLS if c in result]
    lines = ['| | ' + ' | '.join(cols) + ' |', '| --- |' + ' --- |' * len(cols)]
    for metric in ('nmi', 'purity'):
        lines.append(f'| published Xception+AC, {metric} | '
                     + ' | '.join(f'{PUBLISHED_A[metric][c]:.2f}' for c in cols) + ' |')
        lines.append(f'| {label}, {metric} | '
                     + ' | '.join(f'{result[c][metric]["mean"]:.3f} ± {result[c][metric]["std"]:.3f}'
                                  for c in cols) + ' |')
    return '\n'.join(lines)


def table_b(result: dict, label: str) -> str:
    conds = sorted({c for row in result.values() for c in row})
    lines = [f'Purity, {label}', '', '| class | ' + ' | '.join(conds) + ' | mean |',
             '| --- |' + ' --- |' * (len(conds) + 1)]
    allv = []
    for cls, row in sorted(result.items()):
        vals = [row[c] for c in conds]
        allv += vals
        lines.append(f'| {cls} | ' + ' | '.join(f'{v:.2f}' for v in vals)
                     + f' | {sum(vals) / len(vals):.2f} |')
    lines.append(f'| all | ' + ' | ' * (len(conds) - 1) + f' | {sum(allv) / len(allv):.3f} |')
    return '\n'.join(lines)


def table_c(result: dict, label: str) -> str:
    conds = sorted(result)
    keys = ['nmi', 'purity', 'ari', 'acc', 'seconds']
    lines = [f'{label}', '', '| metric | ' + ' | '.join(conds) + ' |',
             '| --- |' + ' --- |' * len(conds)]
    for k in keys:
        lines.append(f'| {k} | ' + ' | '.join(f'{result[c][k]:.3f}' for c in conds) + ' |')
    return '\n'.join(lines)

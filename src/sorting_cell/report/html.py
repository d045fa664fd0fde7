"""A self-contained HTML report of one clustering run (thumbnails embedded as base64).

The page needs no other file: parameters, counts, timings, scores, every cluster with
its thumbnails (capped, with a ``+N more`` note), and a table of the inputs that could
not be used and why.
"""
from __future__ import annotations

import base64
import html
import math
from dataclasses import dataclass, field
from typing import Mapping, Sequence

import numpy as np

from .contact_sheet import encode_image, thumbnail

__all__ = ['ClusterView', 'Member', 'render_html']


@dataclass
class Member:
    """One image shown in a cluster: its source, caption, and the crop to show."""

    source: str
    image: np.ndarray
    caption: str = ''
    odd: bool = False  # class differs from the cluster's majority


@dataclass
class ClusterView:
    """One cluster as the report shows it."""

    cluster: int
    size: int
    members: Sequence[Member]  # best first; may be fewer than size
    notes: list[str] = field(default_factory=list)


_CSS = '''
body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;margin:1.5em auto;max-width:1200px;
 color:#222;padding:0 1em}
h1{font-size:1.5em}h2{font-size:1.2em;border-bottom:1px solid #ddd;padding-bottom:.2em;
 margin-top:1.6em}
table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ddd;padding:.25em .6em;
 text-align:left;vertical-align:top}th{background:#f3f5f8}td.num{text-align:right;
 font-variant-numeric:tabular-nums}
.cluster{margin:1em 0}.tiles{display:flex;flex-wrap:wrap;gap:6px}
figure{margin:0;width:96px}figure img{width:96px;height:96px;display:block;background:#d6d6d6}
figcaption{font-size:11px;white-space:nowrap;overflow:hidden;text-overflow:ellipsis}
figcaption.odd{color:#c0392b;font-weight:bold}.more{font-size:.9em;color:#555}
.muted{color:#666}code{font-size:.95em}
'''


def _e(value) -> str:
    return html.escape(str(value), quote=True)


def _fmt(value) -> str:
    if isinstance(value, float):
        return 'n/a' if math.isnan(value) else f'{value:.4g}'
    return str(value)


def _table(rows: Mapping, headers: tuple[str, str] | None = None) -> str:
    out = ['<table>']
    if headers:
        out.append(f'<tr><th>{_e(headers[0])}</th><th>{_e(headers[1])}</th></tr>')
    for k, v in rows.items():
        cls = ' class="num"' if isinstance(v, (int, float)) else ''
        out.append(f'<tr><th>{_e(k)}</th><td{cls}>{_e(_fmt(v))}</td></tr>')
    out.append('</table>')
    return '\n'.join(out)


def _contingency(composition: Mapping[int, Mapping[str, int]]) -> str:
    """Clusters x classes counts; each cluster's majority class in bold."""
    classes = sorted({c for row in composition.values() for c in row})
    out = ['<table><tr><th>cluster</th>' + ''.join(f'<th>{_e(c)}</th>' for c in classes)
           + '<th>size</th></tr>']
    for cluster, row in composition.items():
        top = max(row.values(), default=0)
        counts = [row.get(c, 0) for c in classes]
        shown = ['' if not n else f'<b>{n}</b>' if n == top else str(n) for n in counts]
        cells = ''.join(f'<td class="num">{v}</td>' for v in shown)
        out.append(f'<tr><th><a href="#cluster-{_e(cluster)}">{_e(cluster)}</a></th>{cells}'
                   f'<td class="num">{sum(row.values())}</td></tr>')
    out.append('</table>')
    return '\n'.join(out)


def _img_tag(member: Member, thumb_size: int) -> str:
    data = base64.b64encode(encode_image(thumbnail(member.image, thumb_size), '.jpg', 82))
    cap_cls = ' class="odd"' if member.odd else ''
    return (f'<figure title="{_e(member.source)}"><img alt="{_e(member.caption)}" '
            f'src="data:image/jpeg;base64,{data.decode("ascii")}">'
            f'<figcaption{cap_cls}>{_e(member.caption)}</figcaption></figure>')


def render_html(*, title: str, parameters: Mapping, counts: Mapping, timings: Mapping,
                clusters: Sequence[ClusterView], failures: Sequence[tuple[str, str]],
                metrics: Mapping | None = None, metric_notes: str = '',
                composition: Mapping[int, Mapping[str, int]] | None = None,
                max_thumbs: int = 100, thumb_size: int = 96,
                sheet_name: str | None = 'clusters.png',
                decisions: Mapping[str, Mapping] | None = None) -> str:
    """The report page as one HTML string.

    Parameters
    ----------
    title : str
        Page heading.
    parameters, counts : mapping
        Shown as two-column tables (run settings; inputs / clustered / failed ...).
    timings : mapping
        Stage name -> seconds.
    clusters : sequence of ClusterView
        In display order.
    failures : sequence of (source, reason)
        Inputs that were not clustered.
    metrics : mapping, optional
        Score name -> value (see :mod:`sorting_cell.clustering.metrics`).
    metric_notes : str
        One sentence on how the scores were computed.
    composition : mapping, optional
        Cluster -> {class: count} when classes are known: shown as a contingency table.
    max_thumbs : int
        Thumbnails embedded per cluster; the rest are counted as ``+N more``.
    sheet_name : str or None
        File name of the contact sheet next to the page, linked (not needed to read it).
    decisions : mapping, optional
        Name -> ``{'value', 'forced', 'reason', 'evidence'}``: what was decided about the
        input and from which evidence (:class:`~sorting_cell.perception.Decision`).
    """
    parts = [f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
             f'<title>{_e(title)}</title><style>{_CSS}</style></head><body>',
             f'<h1>{_e(title)}</h1>']
    parts += ['<h2>Parameters</h2>', _table(parameters)]
    parts += ['<h2>Inputs</h2>', _table(counts)]
    if decisions:
        parts += ['<h2>Decisions (from the images)</h2>',
                  '<table><tr><th>question</th><th>answer</th><th>why</th><th>evidence</th>'
                  '</tr>']
        for name, d in decisions.items():
            answer = ('yes' if d['value'] else 'no') + (' (forced)' if d['forced'] else '')
            ev = ', '.join(f'{k} {v}' for k, v in d['evidence'].items())
            parts.append(f'<tr><td>{_e(name.replace("_", " "))}</td><td>{_e(answer)}</td>'
                         f'<td>{_e(d["reason"])}</td><td>{_e(ev)}</td></tr>')
        parts.append('</table>')
    # Shares are of the whole run ('wall') when known, else of the pipeline ('total').
    whole = timings.get('wall') or timings.get('total')
    n_ok = counts.get('clustered') or 0
    parts += ['<h2>Timings</h2>', '<table><tr><th>stage</th><th>seconds</th><th>share</th>'
              '</tr>']
    for k, v in timings.items():
        share = f'{100 * v / whole:.0f}%' if whole and k not in ('total', 'wall') else ''
        parts.append(f'<tr><th>{_e(k)}</th><td class="num">{float(v):.3f}</td>'
                     f'<td class="num">{share}</td></tr>')
    parts.append('</table>')
    if whole and n_ok:
        parts.append(f'<p class="muted">{1000 * whole / n_ok:.1f} ms per clustered image '
                     'end to end; total = load + proposals + features + clustering; wall '
                     'adds start-up and writing this report.</p>')
    if metrics:
        parts += ['<h2>Scores</h2>', _table(metrics, ('score', 'value'))]
        if metric_notes:
            parts.append(f'<p class="muted">{_e(metric_notes)}</p>')
    if composition:
        parts += ['<h2>Clusters vs classes</h2>', _contingency(composition)]
    parts.append(f'<h2>Clusters ({len(clusters)})</h2>')
    if sheet_name:
        parts.append(f'<p class="muted">Contact sheet: <a href="{_e(sheet_name)}">'
                     f'{_e(sheet_name)}</a>. Members are shown most typical first '
                     '(nearest the cluster mean in feature space); hover for the path.</p>')
    for view in clusters:
        notes = ''.join(f' &middot; {_e(n)}' for n in view.notes)
        parts.append(f'<div class="cluster" id="cluster-{view.cluster}"><h3>cluster '
                     f'{view.cluster} <span class="muted">({view.size} image'
                     f'{"" if view.size == 1 else "s"}{notes})</span></h3><div class="tiles">')
        shown = list(view.members[:max_thumbs])
        parts += [_img_tag(m, thumb_size) for m in shown]
        parts.append('</div>')
        if view.size > len(shown):
            parts.append(f'<p class="more">+{view.size - len(shown)} more (see '
                         'assignments.csv)</p>')
        parts.append('</div>')
    parts.append(f'<h2>Not clustered ({len(failures)})</h2>')
    if failures:
        parts.append('<table><tr><th>path</th><th>reason</th></tr>')
        parts += [f'<tr><td><code>{_e(s)}</code></td><td>{_e(r)}</td></tr>'
                  for s, r in failures]
        parts.append('</table>')
    else:
        parts.append('<p>Every input was clustered.</p>')
    parts.append('</body></html>\n')
    return '\n'.join(parts)

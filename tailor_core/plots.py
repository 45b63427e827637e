"""Plotly figures for TAILOR predictions.

Every chart uses one fixed colour per label (:data:`LABEL_COLORS`) and one per modality
(:data:`MODALITY_COLORS`), so a reader can follow a label from the score bars to the timeline and to
the attention views. The functions take a :class:`~tailor_core.scoring.Prediction` and never compute
anything the model did not output.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from .config import DISPLAY_NAMES, LABELS, PC_PARTS
from .scoring import Prediction
from .summary import headline  # noqa: F401 - still importable from its former home

#: One colour per label, used by every chart (colour-blind-friendly, after Okabe & Ito).
LABEL_COLORS: dict[str, str] = {
    "happy": "#E69F00",
    "sad": "#0072B2",
    "anger": "#D55E00",
    "surprise": "#CC79A7",
    "disgust": "#009E73",
    "fear": "#6A3D9A",
}

#: One colour per part of TAILOR's fused sequence (greys and a teal, distinct from the label colours).
MODALITY_COLORS: dict[str, str] = {
    "text": "#264653",
    "audio": "#5E8C99",
    "visual": "#A8C5CC",
    "common": "#D9D9D9",
}

_LAYOUT: dict[str, Any] = {
    "template": "plotly_white",
    "margin": {"l": 56, "r": 16, "t": 44, "b": 40},
    "font": {"size": 13},
    "title": {"x": 0.01, "xanchor": "left", "font": {"size": 15}},
}

#: What the y axis of every score chart says: the model's scores are not calibrated probabilities.
SCORE_AXIS: str = "score (0–1)"
#: One colour scale for every attention heatmap (0 to this share of a label's attention), so two inputs compare.
ATTENTION_ZMAX: float = 0.5


def _layout(title: str, height: int, **extra: Any) -> dict[str, Any]:
    return {**_LAYOUT, **extra, "height": height, "title": {**_LAYOUT["title"], "text": title}}


def _colored(label: str) -> str:
    return f"<span style='color:{LABEL_COLORS.get(label, '#333')}'><b>{label}</b></span>"


def empty_figure(message: str = "No result yet", height: int = 300) -> go.Figure:
    """A blank figure carrying a centred message."""
    fig = go.Figure()
    fig.add_annotation(text=message, showarrow=False, x=0.5, y=0.5, xref="paper", yref="paper",
                       font={"size": 15, "color": "#888"})
    fig.update_layout(**_layout("", height), xaxis={"visible": False}, yaxis={"visible": False})
    return fig


def scores_figure(pred: Prediction, title: str = "Scores · dashes = each label's threshold",
                  height: int = 300) -> go.Figure:
    """Horizontal bars of the six label scores, each label's decision threshold as a dashed line across its bar.

    Label names sit on the left and each value with its threshold in a column on the right, outside the plot area,
    so nothing is clipped at 1.0, nothing sits on the dashes, and it reads the same at phone width. Labels over
    their threshold are drawn solid and outlined.
    """
    scores = pred.shown_scores
    if not scores:
        return empty_figure("No scores yet", height)
    labels = list(scores)
    thresholds = pred.thresholds
    predicted = set(pred.labels)
    values = [float(scores[k]) for k in labels]
    rows = list(range(len(labels)))
    fig = go.Figure(go.Bar(
        y=rows,
        x=values,
        orientation="h",
        marker={"color": [LABEL_COLORS.get(k, "#888") for k in labels],
                "opacity": [1.0 if k in predicted else 0.45 for k in labels],
                "line": {"color": "#222", "width": [2 if k in predicted else 0 for k in labels]}},
        customdata=[[k, float(thresholds.get(k, float("nan")))] for k in labels],
        hovertemplate="%{customdata[0]}: %{x:.3f} (threshold %{customdata[1]:.2f})<extra></extra>",
        showlegend=False,
    ))
    for i, label in enumerate(labels):
        if label in thresholds:
            t = float(thresholds[label])
            fig.add_shape(type="line", x0=t, x1=t, y0=i - 0.45, y1=i + 0.45,
                          line={"color": "#222", "width": 2, "dash": "dot"})
        over = label in predicted
        fig.add_annotation(
            x=1.0, xref="paper", xanchor="left", xshift=6, y=i, yref="y", showarrow=False, align="left",
            text=(f"<b>{scores[label]:.2f}</b>" if over else f"{scores[label]:.2f}")
            + (f" <span style='color:#888;font-size:11px'>≥{float(thresholds[label]):.2f}</span>"
               if label in thresholds else ""))
    fig.update_layout(**_layout(title, height, margin={"l": 70, "r": 78, "t": 44, "b": 36}), showlegend=False,
                      bargap=0.3,
                      xaxis={"range": [0, 1], "title": SCORE_AXIS, "tickvals": [0, 0.25, 0.5, 0.75, 1],
                             "fixedrange": True},
                      yaxis={"tickmode": "array", "tickvals": rows, "ticktext": [_colored(k) for k in labels],
                             "autorange": "reversed", "fixedrange": True})
    return fig


def timeline_figure(pred: Prediction, title: str = "Scores over time", height: int = 300) -> go.Figure:
    """One line per label over the centres of the sliding windows of ``pred.timeline``; the x axis covers the
    whole input (0 to its duration), like the attention heatmap."""
    timeline = pred.timeline
    if not timeline:
        return empty_figure("No timeline yet", height)
    return timeline_from_points(
        [p.centre for p in timeline],
        [p.scores for p in timeline],
        title=title, height=height, markers=len(timeline) < 40, x_range=(0.0, _duration(pred)),
    )


def _duration(pred: Prediction) -> float:
    ends = [p.end for p in pred.timeline] + ([pred.step_times[-1] + 0.5] if pred.step_times else [])
    return max([float(pred.duration), *ends]) if (pred.duration or ends) else 1.0


def timeline_from_points(times: Sequence[float], scores: Sequence[Mapping[str, float]],
                         title: str = "Scores over time", height: int = 300, markers: bool = True,
                         x_range: tuple[float, float] | None = None) -> go.Figure:
    """A timeline from explicit points (used for the live view's rolling history)."""
    if not times:
        return empty_figure("No timeline yet", height)
    labels = list(scores[0]) if scores else list(LABELS)
    fig = go.Figure()
    for label in labels:
        fig.add_trace(go.Scatter(
            x=list(times), y=[float(s[label]) for s in scores], name=label,
            mode="lines+markers" if markers else "lines",
            line={"color": LABEL_COLORS.get(label, "#888"), "width": 2.5},
            hovertemplate=f"{label}: %{{y:.2f}} at %{{x:.1f}} s<extra></extra>",
        ))
    xaxis: dict[str, Any] = {"title": "time (s)", "fixedrange": True}
    if x_range is not None:
        xaxis["range"] = list(x_range)
    fig.update_layout(**_layout(title, height, margin={**_LAYOUT["margin"], "b": 80}), xaxis=xaxis,
                      yaxis={"range": [0, 1.02], "title": SCORE_AXIS, "fixedrange": True},
                      legend={"orientation": "h", "y": -0.3, "x": 0}, hovermode="x")
    return fig


def modality_figure(pred: Prediction, title: str = "Where each label looks", height: int = 320) -> go.Figure:
    """Stacked horizontal bars: for each label, the share of its decoder attention on each modality."""
    shares = pred.modality_attention
    if not shares:
        return empty_figure("No attention yet", height)
    labels = list(shares)
    fig = go.Figure()
    for modality in PC_PARTS:
        vals = [float(shares[k].get(modality, 0.0)) for k in labels]
        fig.add_trace(go.Bar(
            y=[_colored(k) for k in labels], x=vals, orientation="h", name=DISPLAY_NAMES[modality],
            marker={"color": MODALITY_COLORS[modality], "line": {"color": "white", "width": 1}},
            text=[f"{v:.0%}" if v >= 0.08 else "" for v in vals], textposition="inside",
            insidetextanchor="middle",
            textfont={"color": "white" if modality in ("text", "audio") else "#222"},
            hovertemplate=f"%{{y}} → {DISPLAY_NAMES[modality]}: %{{x:.1%}}<extra></extra>",
        ))
    fig.update_layout(**_layout(title, height, margin={**_LAYOUT["margin"], "b": 80}), barmode="stack",
                      xaxis={"range": [0, 1], "tickformat": ".0%", "title": "share of the label's attention",
                             "fixedrange": True},
                      yaxis={"autorange": "reversed", "fixedrange": True},
                      legend={"orientation": "h", "y": -0.3, "x": 0, "traceorder": "normal"})
    return fig


def _word_ticks(pred: Prediction, times: Sequence[float]) -> tuple[list[float], list[str]]:
    """Tick positions/labels for the words on the text heatmap (one tick per step that has words)."""
    per_step: dict[int, list[str]] = {}
    for w in pred.words:
        step, text = w.step, w.text
        if 0 <= step < len(times) and text.strip():
            per_step.setdefault(step, []).append(text.strip())
    steps = sorted(per_step)
    return [times[s] for s in steps], [" ".join(per_step[s])[:16] for s in steps]


def attention_heatmap(pred: Prediction, title: str = "Where each label looks, over time",
                      height: int | None = None) -> go.Figure:
    """Heatmaps of decoder attention, label × time, one per modality that is present (face, voice, then words).

    Every heatmap uses the same fixed colour scale (0 to :data:`ATTENTION_ZMAX`), on every input, so two results
    compare. The time axes cover the whole input (like the timeline); the words row carries the transcript's words
    at the steps where they were spoken, on the bottom axis where nothing else is drawn below them.
    """
    maps = pred.attention_maps
    times = pred.step_times
    if not maps or not times:
        return empty_figure("No attention maps yet", height or 300)
    labels = list(pred.scores) or list(LABELS)
    present = pred.present
    order = [m for m in ("visual", "audio", "text") if m in maps]
    mods = [m for m in order if present.get(m, True)] or order
    absent = [DISPLAY_NAMES[m] for m in order if m not in mods]
    if absent:
        title += f" ({', '.join(absent)}: absent)"
    height = height or 90 + 190 * len(mods)
    fig = make_subplots(rows=len(mods), cols=1, shared_xaxes=False, vertical_spacing=0.32 / len(mods),
                        subplot_titles=[DISPLAY_NAMES[m] for m in mods])
    x_end = _duration(pred)
    step = pred.step_times[1] - pred.step_times[0] if len(pred.step_times) > 1 else 0.5
    for row, modality in enumerate(mods, start=1):
        z = [[float(v) for v in r] for r in maps[modality]]
        n = min(len(times), min((len(r) for r in z), default=0))
        fig.add_trace(go.Heatmap(
            z=[r[:n] for r in z], x=[t + step / 2 for t in times[:n]], y=[_colored(k) for k in labels],
            zmin=0.0, zmax=ATTENTION_ZMAX, colorscale="Blues", showscale=row == 1,
            colorbar={"title": {"text": "share", "side": "top"}, "len": 0.6, "y": 1, "yanchor": "top",
                      "thickness": 12, "tickformat": ".0%"},
            hovertemplate="%{y} at %{x:.1f} s: %{z:.1%}<extra>" + DISPLAY_NAMES[modality] + "</extra>",
        ), row=row, col=1)
        axis: dict[str, Any] = {"range": [0, x_end], "fixedrange": True}
        if modality == "text":
            tickvals, ticktext = _word_ticks(pred, times)
            if tickvals:
                axis.update(tickmode="array", tickvals=[t + step / 2 for t in tickvals], ticktext=ticktext,
                            tickangle=-35, tickfont={"size": 11})
        if row == len(mods) and "tickvals" not in axis:
            axis["title"] = "time (s)"
        fig.update_xaxes(**axis, row=row, col=1)
        fig.update_yaxes(autorange="reversed", tickmode="array", tickvals=[_colored(k) for k in labels],
                         fixedrange=True, row=row, col=1)
    fig.update_layout(**_layout(title, height, margin={**_LAYOUT["margin"], "b": 70, "r": 60}))
    return fig


__all__ = [
    "LABEL_COLORS",
    "MODALITY_COLORS",
    "ATTENTION_ZMAX",
    "SCORE_AXIS",
    "attention_heatmap",
    "empty_figure",
    "headline",
    "modality_figure",
    "scores_figure",
    "timeline_figure",
    "timeline_from_points",
]

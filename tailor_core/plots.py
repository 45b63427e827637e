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

from .config import DISPLAY_NAMES, LABELS, MODALITIES, PC_PARTS
from .scoring import Prediction

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
    "margin": {"l": 60, "r": 20, "t": 50, "b": 40},
    "font": {"size": 13},
}


def _colored(label: str) -> str:
    return f"<span style='color:{LABEL_COLORS.get(label, '#333')}'><b>{label}</b></span>"


def empty_figure(message: str = "No result yet", height: int = 300) -> go.Figure:
    """A blank figure carrying a centred message."""
    fig = go.Figure()
    fig.add_annotation(text=message, showarrow=False, x=0.5, y=0.5, xref="paper", yref="paper",
                       font={"size": 15, "color": "#888"})
    fig.update_layout(**_LAYOUT, height=height, xaxis={"visible": False}, yaxis={"visible": False})
    return fig


def scores_figure(pred: Prediction, title: str = "Scores", height: int = 340) -> go.Figure:
    """Bar chart of the six label scores with each label's decision threshold as a dashed tick.

    Labels over their threshold are drawn solid, the others faded.
    """
    scores = pred.scores
    if not scores:
        return empty_figure("No scores yet", height)
    labels = list(scores)
    thresholds = pred.thresholds
    predicted = set(pred.labels)
    values = [float(scores[k]) for k in labels]
    fig = go.Figure(go.Bar(
        x=labels,
        y=values,
        marker={"color": [LABEL_COLORS.get(k, "#888") for k in labels],
                "opacity": [1.0 if k in predicted else 0.45 for k in labels],
                "line": {"color": "#222", "width": [2 if k in predicted else 0 for k in labels]}},
        text=[f"{v:.2f}" for v in values],
        textposition="outside",
        hovertemplate="%{x}: %{y:.3f}<extra></extra>",
        showlegend=False,
    ))
    for i, label in enumerate(labels):
        if label in thresholds:
            t = float(thresholds[label])
            fig.add_shape(type="line", x0=i - 0.45, x1=i + 0.45, y0=t, y1=t,
                          line={"color": "#222", "width": 2, "dash": "dash"})
    # A legend entry for the threshold ticks.
    fig.add_trace(go.Scatter(x=[None], y=[None], mode="lines", name="threshold",
                             line={"color": "#222", "width": 2, "dash": "dash"}))
    fig.update_layout(**_LAYOUT, title=title, height=height, yaxis={"range": [0, 1.1], "title": "probability"},
                      xaxis={"tickmode": "array", "tickvals": labels, "ticktext": [_colored(k) for k in labels]},
                      legend={"orientation": "h", "x": 1, "xanchor": "right", "y": 1.12})
    return fig


def timeline_figure(pred: Prediction, title: str = "Scores over time", height: int = 320) -> go.Figure:
    """One line per label over the centres of the sliding windows of ``pred.timeline``."""
    timeline = pred.timeline
    if not timeline:
        return empty_figure("No timeline yet", height)
    return timeline_from_points(
        [0.5 * (float(p["start"]) + float(p["end"])) for p in timeline],
        [p["scores"] for p in timeline],
        title=title, height=height, markers=len(timeline) < 40,
    )


def timeline_from_points(times: Sequence[float], scores: Sequence[Mapping[str, float]],
                         title: str = "Scores over time", height: int = 320, markers: bool = True) -> go.Figure:
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
    fig.update_layout(**_LAYOUT, title=title, height=height,
                      xaxis={"title": "time (s)"}, yaxis={"range": [0, 1.02], "title": "probability"},
                      legend={"orientation": "h", "y": -0.25})
    return fig


def modality_figure(pred: Prediction, title: str = "Where each label looks (decoder attention)",
                    height: int = 320) -> go.Figure:
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
    fig.update_layout(**_LAYOUT, title=title, height=height, barmode="stack",
                      xaxis={"range": [0, 1], "tickformat": ".0%", "title": "share of attention"},
                      yaxis={"autorange": "reversed"}, legend={"orientation": "h", "y": -0.25, "traceorder": "normal"})
    return fig


def _word_ticks(pred: Prediction, times: Sequence[float]) -> tuple[list[float], list[str]]:
    """Tick positions/labels for the words on the text heatmap (one tick per step that has words)."""
    per_step: dict[int, list[str]] = {}
    for w in pred.words:
        step, text = int(w["step"]), str(w["text"])
        if 0 <= step < len(times) and text.strip():
            per_step.setdefault(step, []).append(text.strip())
    steps = sorted(per_step)
    return [times[s] for s in steps], [" ".join(per_step[s])[:24] for s in steps]


def attention_heatmap(pred: Prediction, title: str = "Attention over time (label × time, per modality)",
                      height: int = 640) -> go.Figure:
    """Three heatmaps (words, voice, face) of decoder attention, label × time step.

    The text panel's x axis carries the transcript's words at the steps where they were spoken.
    """
    maps = pred.attention_maps
    times = pred.step_times
    if not maps or not times:
        return empty_figure("No attention maps yet", height)
    labels = list(pred.scores) or list(LABELS)
    present = pred.present
    mods = [m for m in MODALITIES if m in maps]
    zmax = max((max((max(row) for row in maps[m] if row), default=0.0) for m in mods), default=0.0) or 1.0
    fig = make_subplots(rows=len(mods), cols=1, shared_xaxes=False, vertical_spacing=0.14,
                        subplot_titles=[
                            DISPLAY_NAMES[m] + ("" if present.get(m, True) else " (absent)") for m in mods])
    for row, modality in enumerate(mods, start=1):
        z = [[float(v) for v in r] for r in maps[modality]]
        n = min(len(times), min((len(r) for r in z), default=0))
        fig.add_trace(go.Heatmap(
            z=[r[:n] for r in z], x=times[:n], y=[_colored(k) for k in labels], zmin=0.0, zmax=zmax,
            colorscale="Blues", showscale=row == 1, colorbar={"title": "attention", "len": 0.9},
            hovertemplate="%{y} at %{x:.1f} s: %{z:.4f}<extra>" + DISPLAY_NAMES[modality] + "</extra>",
        ), row=row, col=1)
        axis = {"title": "time (s)"} if row == len(mods) else {}
        if modality == "text":
            tickvals, ticktext = _word_ticks(pred, times)
            if tickvals:
                axis = {"tickmode": "array", "tickvals": tickvals, "ticktext": ticktext, "tickangle": -30}
        fig.update_xaxes(**axis, row=row, col=1)
        fig.update_yaxes(autorange="reversed", tickmode="array", tickvals=[_colored(k) for k in labels],
                         row=row, col=1)
    fig.update_layout(**_LAYOUT, title=title, height=height)
    return fig


__all__ = [
    "LABEL_COLORS",
    "MODALITY_COLORS",
    "attention_heatmap",
    "empty_figure",
    "modality_figure",
    "scores_figure",
    "timeline_figure",
    "timeline_from_points",
]

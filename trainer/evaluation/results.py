"""What an evaluation writes and prints: metrics.json (strict JSON, written atomically) and the
console table of metrics, generated and real side by side."""

import json
import math

import numpy as np

from pipeline import files
from trainer.evaluation import metric_plan, protocol as protocol_lib

# (key, what it measures, which way is better): the console table's rows, in order.
TABLE = (
    ("fvd", "Fréchet distance, I3D clip logits", "lower"),
    ("fid", "Fréchet distance, Inception frames", "lower"),
    ("fd_shapes", "Fréchet distance, Shape Motion net", "lower"),
    ("acd", "average content distance (0-255)", "lower"),
    ("acd_excluded_fraction", "videos with no shape to measure ACD on", "lower"),
    ("single_blob_fraction", "frames showing exactly one shape", "higher"),
    ("area_distance", "blob-area W1 distance (pixels)", "lower"),
    # Real clips measure about 0.3-0.4 (whole-pixel centroids, bounces), and a generator whose
    # tracks are straight by construction measures less: lower than real is not better.
    ("motion_deviation", "centroid 2nd difference (pixels)", "= real"),
    ("mean_speed", "blob speed (pixels/frame)", "= real"),
)


def describe(plan: metric_plan.Plan, network_info: dict, shape_motion: bool) -> dict:
    """What metrics.json says beside the values: the networks used and what was left out, why."""
    return {"feature_networks": network_info, "left_out": dict(plan.left_out),
            "shape_motion_data": shape_motion, "requested_metrics": list(plan.requested)}


def _json_ready(value):
    """numpy scalars to Python, NaN and infinities to None (strict JSON has neither)."""
    if isinstance(value, dict):
        return {key: _json_ready(v) for key, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_ready(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def write_json_atomically(path: str, data: dict) -> None:
    """Writes under a temporary name and renames, so a reader never sees half a file."""
    text = json.dumps(_json_ready(data), indent=1, sort_keys=True, allow_nan=False)
    files.atomic_write(path, text)


def cell(value) -> str:
    return "-" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.3f}"


def table_rows(metrics: dict) -> list[tuple[str, str, str]]:
    """The TABLE rows of the metrics present in `metrics`, in order."""
    return [row for row in TABLE if row[0] in metrics]


DIAGNOSTICS_HEADING = "Shape Motion diagnostics (of the demo's data only; not a quality target):"


def rows_with_headings(metrics: dict) -> list:
    """table_rows, with DIAGNOSTICS_HEADING (a str) before the first shape score."""
    rows, headed = [], False
    for row in table_rows(metrics):
        if row[0] in metric_plan.SHAPE_SCORES and not headed:
            rows.append(DIAGNOSTICS_HEADING)
            headed = True
        rows.append(row)
    return rows


def protocol_line(result: dict) -> str:
    """How the clips were chosen and which I3D weights, when the result has a protocol."""
    record = result.get("protocol")
    return protocol_lib.describe(record, record.get("weights")) if record else ""


def describe_lines(result: dict) -> list[str]:
    """The protocol, which network gave each Fréchet distance, and which metrics were left out
    and why (one line per reason, so the shape scores' one reason is said once)."""
    lines = [line for line in (protocol_line(result),) if line]
    lines += [f"{metric}: {info['network']}" for metric, info in result.get("feature_networks", {}).items()]
    if result.get("real_stats"):
        stats = result["real_stats"]
        lines.append(f"fvd real statistics: {'reused from' if stats['reused'] else 'computed and kept in'} "
                     f"{stats['path']}")
    by_reason = {}
    for metric, reason in result.get("left_out", {}).items():
        by_reason.setdefault(reason, []).append(metric)
    lines += [f"{', '.join(metrics)}: {reason}" for reason, metrics in by_reason.items()]
    return lines


def format_table(result: dict) -> str:
    """The metrics that apply as a small table, generated and real side by side with the N of
    each (FVD depends on N), then the protocol, the networks behind the Fréchet distances and
    what was left out."""
    n = f"N={result['num_generated']}/{result['num_real']}"
    lines = [f"{'metric':<22} {'meaning':<38} {'better':>6} {'N gen/real':>10} {'generated':>10} {'real':>10}"]
    for row in rows_with_headings(result["generated"]):
        if isinstance(row, str):
            lines.append(row)
            continue
        key, meaning, better = row
        lines.append(f"{key:<22} {meaning:<38} {better:>6} {n:>10} {cell(result['generated'].get(key)):>10} "
                     f"{cell(result['real'].get(key)):>10}")
    lines.append(f"({result['num_generated']} generated vs {result['num_real']} real clips; real vs "
                 f"{result['num_reference']} clips of other real videos)")
    return "\n".join(lines + describe_lines(result))

"""The report's "Phases" section: every phase of ``results.json`` in the order it ran,
the run's fixed costs marked as such, and how the phases add up to the run's wall time."""

from __future__ import annotations

from typing import Any

from fedforget.report.fmt import mb

# Phases that are the run's fixed cost, not its work (docs/performance.md, "Fixed costs").
FIXED = {
    "ray_start": "Ray start: import ray, ray.init or joining a cluster",
    "engine_start": "Flower's engine start: imports, client actors, the ServerApp",
    "connect": "SuperNodes connected: the partition query",
    "setup": "setup: the server's data and model, the setup exchange",
    "ray_stop": "Ray stop: the engine's threads, the actors, ray.shutdown",
}


def phases_section(res: dict[str, Any]) -> list[str]:
    phases: dict[str, Any] = res.get("phases", {})
    lines = ["", "## Phases", "", "| phase | what | rounds | wall time s | bytes down | bytes up |",
             "|---|---|---|---|---|---|"]
    for ph, v in phases.items():
        lines.append(f"| {ph} | {FIXED.get(ph, '')} | "
                     f"{v.get('rounds', '')} | {v['time_s']:.2f} | "
                     f"{mb(v['bytes_down']) if 'bytes_down' in v else ''} | {mb(v['bytes_up']) if 'bytes_up' in v else ''} |")
    lines.append("")
    fixed = sum(v["time_s"] for k, v in phases.items() if k in FIXED)
    summed = sum(v["time_s"] for v in phases.values())
    wall = res.get("wall_time_s")
    if wall is not None:  # Flower + Ray: the whole run, Ray start to Ray stop
        lines.append(f"Whole run, Ray start to Ray stop: {wall:.1f} s. Fixed costs (the phases described above) "
                     f"{fixed:.1f} s, the work {summed - fixed:.1f} s; {wall - summed:.1f} s fall in no phase "
                     "(deletion messages, checkpoints, results files).")
    elif fixed:
        lines.append(f"Fixed costs (the phases described above): {fixed:.1f} s.")
    lines += ["", f"Experiment wall time (setup exchange to results written): {res['total_time_s']:.1f} s.", ""]
    return lines

"""The report's acceptance section: which deletion requests were served on evidence and
which are ``unverified`` (fedforget.deletion.acceptance), read from ``results.json`` only."""

from __future__ import annotations

from typing import Any


def acceptance_section(results: dict[str, Any]) -> list[str]:
    """Markdown lines: one row per request with a verdict (empty when no request has one)."""
    reqs = [r for r in results.get("requests") or [] if r.get("acceptance")]
    if not reqs:
        return []
    lines = ["", "## Deletion acceptance (served only on evidence)", "",
             "| request | verdict | figures at the serve point | reason |", "|---|---|---|---|"]
    for r in reqs:
        a = r["acceptance"]
        figs = ", ".join(f"{k} {c['value']:.3f} (max {c['max']:g})" for k, c in (a.get("checks") or {}).items()) or "-"
        verdict = "served" if a.get("verified") else "**UNVERIFIED** (no receipt)"
        lines.append(f"| {r['id']} | {verdict} | {figs} | {a.get('reason') or '-'} |")
    if any(not r["acceptance"].get("verified") for r in reqs):
        lines += ["", "An unverified request was unlearned but the server's acceptance rule (deletion.acceptance) "
                  "did not hold on its figures: the ledger marks it `unverified` with them and no receipt was signed."]
    return lines

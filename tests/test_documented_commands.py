"""Every ``fedforget ...`` command in README.md and docs/*.md runs as written (report writing
included), at tiny sizes through ``--set`` where the command takes overrides.

Commands are read from fenced code blocks (a ``$ `` prompt marks commands; the lines after
one are its output, and an ``ERROR`` there means the command must fail with that text),
indented code blocks and inline code spans. They run in order, in one scratch folder that
links ``configs/``, so that ``fedforget verify runs/quickstart/...`` reads what the documented
``fedforget run`` wrote. Skipped, with the reason: synopses with placeholders, and commands
that need a network or real devices (a Ray cluster, SuperLink/SuperNodes)."""

from __future__ import annotations

import importlib.util
import os
import re
import shlex
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
TAKES_SET = {"run", "validate", "compare", "sweep", "policies", "meta-eval"}
TINY = ["runtime.backend=inprocess", "training.rounds=2", "training.local_epochs=1", "unlearning.rounds=1",
        "unlearning.recovery_rounds=1", "evaluation.every_round=false"]
PLACEHOLDER = re.compile(r"\b(CONFIG|DIR|DEVICE_STATE_DIR|HEAD_IP|D|K)\b|\.\.\.|\[--|<")


@dataclass(frozen=True)
class Command:
    where: str
    text: str
    fails_with: str = ""

    @property
    def doc(self) -> str:
        return self.where.split(" ")[0]


def _clean(line: str) -> str:
    line = line.strip().removeprefix("$ ")
    line = re.sub(r"\s+#.*$", "", line)
    return line.strip()


def documented() -> list[Command]:
    """Every ``fedforget`` command of the docs, in order (README first), without repeats."""
    out: list[Command] = []
    for doc in DOCS:
        text = doc.read_text()
        rel = doc.relative_to(ROOT)
        fenced = re.findall(r"^```[^\n]*\n(.*?)^```", text, re.S | re.M)
        for block in fenced:
            lines = re.sub(r"\\\n\s*", " ", block).splitlines()
            prompted = any(ln.startswith("$ ") for ln in lines)
            for i, ln in enumerate(lines):
                if prompted and not ln.startswith("$ "):
                    continue
                cmd = _clean(ln)
                if "fedforget " not in cmd:
                    continue
                cmd = cmd[cmd.index("fedforget ") if " && " in cmd else 0:]
                shown = "\n".join(lines[i + 1:i + 3]) if prompted else ""
                err = re.search(r"ERROR fedforget: (.*)", shown)
                out.append(Command(f"{rel} (code block)", cmd, err.group(1) if err else ""))
        rest = re.sub(r"^```.*?^```", "", text, flags=re.S | re.M)
        for m in re.finditer(r"^(?: {4}|\t)(fedforget .*)$", rest, re.M):  # indented code blocks
            out.append(Command(f"{rel} (indented block)", _clean(m.group(1))))
        for m in re.finditer(r"`(fedforget [^`]+)`", rest):  # inline code naming a config or a folder
            if re.search(r"\S+(/|\.yaml)", m.group(1)):
                out.append(Command(f"{rel} (inline)", _clean(m.group(1))))
    seen: set[str] = set()
    return [c for c in out if not (c.text in seen or seen.add(c.text))]  # type: ignore[func-returns-value]


def skip_reason(cmd: str) -> str:
    words = shlex.split(cmd)
    if PLACEHOLDER.search(cmd.replace("--set", "")) or len(words) < 2:
        return "a synopsis with placeholders, not a runnable command"
    if "--ray-address" in words or "ray_address" in cmd:
        return "needs a running Ray cluster (network)"
    if words[1] == "deploy" and words[2:3] and words[2] in ("local", "connection"):
        return "needs real devices or a network: a SuperLink and SuperNodes"
    if words[1] == "deploy" and words[2:3] == ["forget"]:
        return "needs a real device's data folder (/data/fedforget)"
    if words[1] == "prove" and importlib.util.find_spec("ezkl") is None:
        return "needs the zk extra (pip install 'fedforget[zk]'), not installed here"
    if "mymodels:" in cmd or "mydata.npz" in cmd or "my_compare.yaml" in cmd:
        return "needs the user's own files from the README's walk-through (mymodels.py, mydata.npz)"
    return ""


# Per config, beyond TINY: requests that arrive within 2 rounds; 100 clients, not 1,000; one
# method row per compare.
EXTRA = {
    "stream.yaml": ["training.rounds=4", "deletion.stream.start_round=1", "deletion.stream.end_round=3",
                    "deletion.stream.rate=1.0", "deletion.stream.max_requests=2"],
    "lira.yaml": ["evaluation.shadow_models=2"],
    "scale_1000.yaml": ["partition.num_clients=100", "data.synthetic_samples=6000"],
    "compare": ["compare.methods=[{method: oeu}]"],
}


def tiny(cmd: str, folder: Path | None = None) -> list[str]:
    """The command at tiny sizes: ``--set`` overrides; a sweep file (whose grid ``--set``
    cannot reach) is copied into ``folder`` with each list cut to its first entry."""
    words = shlex.split(re.sub(r"^PYTHONPATH=\S+\s+", "", cmd))
    config = next((w for w in words if w.endswith(".yaml")), "")
    if words[1] == "sweep" and folder is not None:
        spec = yaml.safe_load((ROOT / config).read_text())
        spec.update({k: spec[k][:1] for k in ("bits", "sparsity", "methods") if k in spec})
        spec["base"] = str(ROOT / "configs" / spec["base"])
        (folder / "tiny_sweep.yaml").write_text(yaml.safe_dump(spec))
        words[words.index(config)] = "tiny_sweep.yaml"
    if words[1] in TAKES_SET and config:
        extra = [*EXTRA.get(Path(config).name, []), *(EXTRA["compare"] if words[1] in ("compare", "sweep") else [])]
        words += [a for o in (*TINY, *extra) for a in ("--set", o)]
    return words


def test_the_docs_name_commands_to_run() -> None:
    cmds = {c.text for c in documented() if not skip_reason(c.text)}
    assert "fedforget run configs/lira.yaml" in cmds and "fedforget verify runs/quickstart/receipts/r0.json" in cmds
    assert skip_reason("fedforget run configs/quickstart.yaml --ray-address auto").startswith("needs a running Ray")


@pytest.mark.slow
def test_every_documented_command_runs_as_written(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "FEDFORGET_RECEIPT_KEYS": ""}
    exe = Path(sys.executable).parent / "fedforget"
    failures, ran, skipped = [], [], []
    for c in documented():
        if why := skip_reason(c.text):
            skipped.append(f"{c.text}: {why}")
            continue
        folder = tmp_path / c.doc.replace("/", "_")  # each document is its own walk-through
        if not folder.exists():
            folder.mkdir()
            (folder / "configs").symlink_to(ROOT / "configs")
        argv = [str(exe), *tiny(c.text, folder)[1:]]
        t0 = time.perf_counter()
        p = subprocess.run(argv, cwd=folder, env=env, capture_output=True, text=True, timeout=600)
        ran.append(f"{c.text} ({time.perf_counter() - t0:.1f} s)")
        if c.fails_with:
            if p.returncode == 0 or c.fails_with not in p.stderr + p.stdout:
                failures.append(f"{c.where}: {c.text!r} should fail with {c.fails_with!r}; rc={p.returncode}\n{p.stderr[-800:]}")
        elif p.returncode != 0:
            failures.append(f"{c.where}: {c.text!r} exited {p.returncode}\n{(p.stderr or p.stdout)[-1500:]}")
        elif tiny(c.text)[1] == "run" and not list(folder.glob("runs/*/report.md")):
            failures.append(f"{c.where}: {c.text!r} wrote no report.md")
    print("ran:", *ran, "skipped:", *skipped, sep="\n  ")
    assert not failures, "\n\n".join(failures)
    assert len(ran) >= 10


def test_lira_report_reads_ulira_beside_the_attack_rows(tmp_path: Path) -> None:
    """``fedforget run configs/lira.yaml`` crashed writing its report (KeyError 'auc_gap'):
    ``vs_retrained`` holds ``ulira`` (a dict without attack figures) beside the attacks."""
    from fedforget.report.mia import mia_sections

    row = {"auc_gap": 0.1, "tpr_at_1pct_fpr_gap": 0.0, "auc_vs_retrained_scores": 0.6, "ks_statistic": 0.2,
           "ks_pvalue": 0.5, "spearman": 0.9, "n": 10}
    vs = {"unlearned": {"loss": row, "mia_efficacy_gap": 0.01, "indistinguishability": 0.8,
                        "ulira": {"unlearned": {"flagged": 0.3, "n": 10}, "retrained": {"flagged": 0.1, "n": 10}}}}
    lines = mia_sections({"models": {"unlearned": {}}, "mia": {"vs_retrained": vs}}, tmp_path)
    assert any(ln.startswith("| unlearned | loss | 0.100 |") for ln in lines) and not any("ulira" in ln for ln in lines)

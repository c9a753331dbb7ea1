"""Reports drawn only from the files an experiment wrote (results.json, metrics.jsonl,
roc.json): ``report.md``, ``accuracy.png`` and ``roc.png``."""

from fedforget.report.markdown import write_report

__all__ = ["write_report"]

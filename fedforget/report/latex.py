"""Paper tables: a booktabs LaTeX table (``\\usepackage{booktabs}``) from a header and
rows of already formatted cells."""

from __future__ import annotations

_ESCAPES = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
            "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}"}


def escape(text: str) -> str:
    return "".join(_ESCAPES.get(c, c) for c in str(text))


def booktabs_table(head: list[str], rows: list[list[str]], caption: str = "", label: str = "tab:fedforget",
                   raw_cells: bool = False) -> str:
    """A ``table`` environment with a booktabs ``tabular``: first column left-aligned,
    the others right-aligned. Cells are escaped unless ``raw_cells`` (e.g. ``$\\pm$``)."""
    spec = "l" + "r" * (len(head) - 1)
    cell = (lambda c: c) if raw_cells else escape
    lines = [r"\begin{table}[t]", r"\centering", r"\small", rf"\begin{{tabular}}{{{spec}}}", r"\toprule",
             " & ".join(escape(h) for h in head) + r" \\", r"\midrule"]
    for r in rows:
        lines.append(" & ".join([escape(r[0]), *[cell(c) for c in r[1:]]]) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}"]
    if caption:
        lines.append(rf"\caption{{{caption if raw_cells else escape(caption)}}}")
    lines += [rf"\label{{{label}}}", r"\end{table}", ""]
    return "\n".join(lines)

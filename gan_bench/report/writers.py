"""Tables to files: `<stem>.csv` (every column), `<stem>.md` and `<stem>.tex` (the shown columns, with notes).

The LaTeX is written here rather than by pandas' `to_latex` so that every cell, header, caption and note goes
through one escaping function: the ten LaTeX specials are escaped and the few non-ASCII signs the tables use
(±, ∞, —, δ, ...) become LaTeX commands, so the file compiles with plain pdflatex and `booktabs`.
Every file is written atomically.
"""
import math
import os
import re
from typing import Dict, Optional, Sequence

import pandas as pd

from gan_bench.atomic import atomic_write_text

_SPECIALS = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
             "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}"}
_UNICODE = {"±": r"$\pm$", "∞": r"$\infty$", "—": "---", "–": "--", "δ": r"$\delta$", "×": r"$\times$",
            "≤": r"$\leq$", "≥": r"$\geq$", "≈": r"$\approx$", "†": r"\textdagger{}", "σ": r"$\sigma$",
            "‖": r"$\Vert$", "²": r"\textsuperscript{2}", "’": "'", "“": "``", "”": "''", "…": r"\ldots{}",
            "→": r"$\rightarrow$", "·": r"$\cdot$", "−": "-", "∈": r"$\in$", "μ": r"$\mu$"}


def latex_escape(text) -> str:
    """`text` as LaTeX source that prints it: specials escaped, known non-ASCII signs as commands.

    Any other non-ASCII character is kept as UTF-8 (pdflatex reads UTF-8 since 2018).
    """
    return "".join(_SPECIALS.get(ch) or _UNICODE.get(ch) or ch for ch in str(text))


def _text(value) -> str:
    """A cell as text: blank for missing, 4 significant digits for floats."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _latex_align(column: pd.Series) -> str:
    """Numbers right-aligned; text that can run long (notes, captions in cells) wrapped in a paragraph column."""
    if pd.api.types.is_numeric_dtype(column):
        return "r"
    longest = column.map(lambda v: len(_text(v))).max() if len(column) else 0
    return "p{0.3\\linewidth}" if longest > 40 else "l"


def latex_table(shown: pd.DataFrame, caption: str, label: str, notes: Sequence[str] = ()) -> str:
    """A booktabs `table` of the frame `shown`, caption and notes escaped, notes under the tabular."""
    align = "".join(_latex_align(shown[c]) for c in shown.columns)
    lines = ["% needs \\usepackage{booktabs}", "\\begin{table}[ht]", "\\centering",
             f"\\caption{{{latex_escape(caption)}}}", f"\\label{{{re.sub('[^A-Za-z0-9:.-]', '-', label)}}}",
             f"\\begin{{tabular}}{{{align}}}", "\\toprule",
             " & ".join(latex_escape(c) for c in shown.columns) + " \\\\", "\\midrule"]
    for _, row in shown.iterrows():
        lines.append(" & ".join(latex_escape(_text(v)) for v in row) + " \\\\")
    lines += ["\\bottomrule", "\\end{tabular}"]
    for note in notes:
        lines.append(f"\\par\\smallskip{{\\footnotesize {latex_escape(note)}}}")
    lines.append("\\end{table}")
    return "\n".join(lines) + "\n"


def markdown_table(shown: pd.DataFrame, caption: str, notes: Sequence[str] = ()) -> str:
    """Caption in bold, a pipe table, then the notes as a list."""
    body = "(no rows)"
    if len(shown):
        align = ["right" if pd.api.types.is_numeric_dtype(shown[c]) else "left" for c in shown.columns]
        cells = shown.map(lambda v: _text(v).replace("|", "\\|"))  # a bare | would split the cell
        body = cells.to_markdown(index=False, disable_numparse=True, colalign=align)
    text = f"**{caption}**\n\n{body}\n"
    if notes:
        text += "\n" + "\n".join(f"- {n}" for n in notes) + "\n"
    return text


def write_table(frame: pd.DataFrame, out_dir: str, stem: str, caption: str, shown: Sequence[str] = None,
                notes: Sequence[str] = (), headers: Optional[Dict[str, str]] = None) -> Dict[str, str]:
    """Write `frame` as `<stem>.csv` (all columns), `<stem>.md` and `<stem>.tex` (the `shown` columns).

    headers: {column: header} for the markdown and LaTeX headers; the CSV keeps the column names.
    Returns {'csv': path, 'md': path, 'tex': path}.
    """
    visible = frame[list(shown)] if shown is not None else frame
    visible = visible.rename(columns=headers or {})
    paths = {ext: os.path.join(out_dir, f"{stem}.{ext}") for ext in ("csv", "md", "tex")}
    atomic_write_text(paths["csv"], frame.to_csv(index=False))
    atomic_write_text(paths["md"], markdown_table(visible, caption, notes))
    atomic_write_text(paths["tex"], latex_table(visible, caption, f"tab:{stem}", notes))
    return paths

"""Study reports: results folders → a trial DataFrame → tables (md/csv/tex), figures (png) and index.md.

  load_results(dirs) -> DataFrame                       gan_bench/report/load.py
  model_name, model_labels                              gan_bench/report/naming.py
  GROUPS, direction (which metrics go together)         gan_bench/report/metric_groups.py
  metric_table, failure_table, kurach_table             gan_bench/report/tables.py
  table notes, the index's finding sentence             gan_bench/report/notes.py, finding.py
  one protocol per column, its caption and notes        gan_bench/report/protocols.py
  write_table, latex_escape                             gan_bench/report/writers.py
  expected_best_of_k, plot_*                            gan_bench/report/figures.py
  plot_samples_2d (one trial's samples per model)       gan_bench/report/samples.py
  report_main(dirs, out, metric=None)                   gan_bench/report/main.py
"""
from gan_bench.report.figures import expected_best_of_k, plot_budget_curves, plot_scores, plot_tradeoff
from gan_bench.report.finding import finding_sentence
from gan_bench.report.load import load_results
from gan_bench.report.main import report_main
from gan_bench.report.metric_groups import GROUPS, direction
from gan_bench.report.naming import model_labels, model_name
from gan_bench.report.samples import plot_samples_2d
from gan_bench.report.tables import failure_table, kurach_table, metric_table
from gan_bench.report.writers import latex_escape, write_table

__all__ = ["GROUPS", "direction", "expected_best_of_k", "failure_table", "finding_sentence", "kurach_table",
           "latex_escape", "load_results", "metric_table", "model_labels", "model_name", "plot_budget_curves",
           "plot_samples_2d", "plot_scores", "plot_tradeoff", "report_main", "write_table"]

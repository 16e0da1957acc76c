"""Study reports: results folders → a trial DataFrame → tables (md/csv/tex) and figures (png).

  load_results(dirs) -> DataFrame          gan_bench/report/load.py
  best_configs, pr_table, failure_table,
  kurach_table, write_table                gan_bench/report/tables.py
  expected_best_of_k, plot_*               gan_bench/report/figures.py
  report_main(dirs, out, metric='fid')     gan_bench/report/main.py
"""
from gan_bench.report.figures import (expected_best_of_k, plot_budget_curves, plot_precision_recall,
                                      plot_score_distribution)
from gan_bench.report.load import DIRECTIONS, MODEL_NAMES, direction, load_results, model_name
from gan_bench.report.main import report_main
from gan_bench.report.tables import best_configs, failure_table, kurach_table, pr_table, write_table

__all__ = ["DIRECTIONS", "MODEL_NAMES", "best_configs", "direction", "expected_best_of_k", "failure_table",
           "kurach_table", "load_results", "model_name", "plot_budget_curves", "plot_precision_recall",
           "plot_score_distribution", "pr_table", "report_main", "write_table"]

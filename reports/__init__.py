"""Self-contained HTML reports rendered from saved artifacts.

- :func:`render_dataset_report`: a manifest's composition (a saved dataset analysis);
- :func:`render_audit_report`: one model's audit (a saved audit result), as a model card;
- :func:`render_comparison_report`: paired changes of retrained models (a saved comparison).

Each writes one HTML file with figures, CSS and script inline; nothing is recomputed.
"""

from reports.audit import render_audit_report
from reports.comparison import render_comparison_report
from reports.dataset import render_dataset_report

__all__ = ["render_audit_report", "render_comparison_report", "render_dataset_report"]

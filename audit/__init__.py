"""Group-sliced metrics, honest statistics, dataset imbalance and model comparison."""

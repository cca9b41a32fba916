"""A fitted scikit-survival random survival forest as plain arrays, and back (no pickle).

Every tree is stored as the fields of scikit-learn's node array and its leaf values
(cumulative hazard and survival at the training times), concatenated over trees;
loading rebuilds the trees through scikit-learn's documented ``Tree`` state, so a
saved forest predicts exactly what the fitted one did.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["forest_from_state", "forest_to_state"]

_NODE_FIELDS = (
    "left_child",
    "right_child",
    "feature",
    "threshold",
    "impurity",
    "n_node_samples",
    "weighted_n_node_samples",
    "missing_go_to_left",
)


def forest_to_state(forest: Any) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Arrays and JSON configuration of a fitted ``sksurv`` ``RandomSurvivalForest``."""
    trees = [est.tree_.__getstate__() for est in forest.estimators_]
    arrays: dict[str, np.ndarray] = {
        f"nodes.{name}": np.concatenate([t["nodes"][name] for t in trees]) for name in _NODE_FIELDS
    }
    arrays["values"] = np.concatenate([np.asarray(t["values"], dtype=np.float64) for t in trees])
    arrays["node_count"] = np.asarray([t["node_count"] for t in trees], dtype=np.int64)
    arrays["max_depth"] = np.asarray([t["max_depth"] for t in trees], dtype=np.int64)
    arrays["unique_times"] = np.asarray(forest.unique_times_, dtype=np.float64)
    arrays["is_event_time"] = np.asarray(forest.is_event_time_, dtype=np.uint8)
    config = {
        "n_features_in": int(forest.n_features_in_),
        "max_features": [int(est.max_features_) for est in forest.estimators_],
    }
    return arrays, config


def forest_from_state(
    arrays: dict[str, np.ndarray], config: dict[str, Any], forest_params: dict[str, Any]
) -> Any:
    """Rebuild the forest saved by :func:`forest_to_state` (needs scikit-survival)."""
    from sklearn.tree._tree import NODE_DTYPE, Tree
    from sksurv.ensemble import RandomSurvivalForest
    from sksurv.tree import SurvivalTree

    n_features = int(config["n_features_in"])
    unique_times = np.asarray(arrays["unique_times"], dtype=np.float64)
    is_event_time = np.asarray(arrays["is_event_time"]).astype(bool)
    values = np.asarray(arrays["values"], dtype=np.float64)
    n_outputs = unique_times.shape[0]
    n_classes = np.full(n_outputs, values.shape[2], dtype=np.intp)
    counts = np.asarray(arrays["node_count"], dtype=np.int64)
    if counts.sum() != values.shape[0] or len(config["max_features"]) != counts.size:
        raise ValueError("the saved forest is inconsistent (node counts); re-save the model")
    ends = np.cumsum(counts)
    trees = []
    for k, (end, count) in enumerate(zip(ends, counts, strict=True)):
        rows = slice(int(end - count), int(end))
        nodes = np.empty(int(count), dtype=NODE_DTYPE)
        for name in _NODE_FIELDS:
            nodes[name] = arrays[f"nodes.{name}"][rows]
        tree = Tree(n_features, n_classes, n_outputs)
        tree.__setstate__(
            {
                "max_depth": int(arrays["max_depth"][k]),
                "node_count": int(count),
                "nodes": nodes,
                "values": np.ascontiguousarray(values[rows]),
            }
        )
        est = SurvivalTree(low_memory=False)
        est.tree_ = tree
        est.unique_times_, est.is_event_time_ = unique_times, is_event_time
        est.n_features_in_, est.n_outputs_ = n_features, n_outputs
        est.n_classes_ = n_classes
        est.max_features_ = int(config["max_features"][k])
        trees.append(est)
    forest = RandomSurvivalForest(**forest_params, low_memory=False)
    forest.estimators_ = trees
    forest.estimator_ = SurvivalTree(low_memory=False)
    forest.unique_times_, forest.is_event_time_ = unique_times, is_event_time
    forest.n_features_in_, forest.n_outputs_ = n_features, n_outputs
    return forest
